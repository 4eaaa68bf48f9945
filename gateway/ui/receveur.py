"""Receveur pages: incoming demandes per unit, reading the dossier (traced médical opening), the answers.

``GET /receveur`` lists the demandes received by the user's receiving units (one unit or all, a status tab, a
search, pages). ``GET /receveur/demandes/{id}`` shows the received dossier through ``demandes.consulter_recue``
(which traces every opening of the médical volets), the demande's history, and one form per answer the
transition table allows now. ``POST /receveur/demandes/{id}/{action}`` runs ``demandes.agir``; a refused answer
re-renders the page with the message next to its field and what was typed, a done one redirects with a French
confirmation (post/redirect/get)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from gateway.api.deps import UserId
from gateway.ui import render
from gateway.ui.dossier_view import volets_view
from gateway.ui.pages import RECEVEUR_ROLES, container, field_errors, see_other, show
from orientation_core.dashboard import DemandeRow
from orientation_core.demande import service as demandes
from orientation_core.demande.model import Demande
from orientation_core.demande.workflow import STATUS_LABELS, Actor, Status, allowed_actions
from orientation_core.dossier.volets import Module
from orientation_core.errors import AiguillageError, Conflict, Forbidden, NotFound, TransitionNotAllowed
from orientation_core.history import HistoryEvent
from orientation_core.patients.model import Patient
from orientation_core.people.policy import Action, DemandeRecueScope, allowed, require
from orientation_core.people.service import subject_for
from orientation_core.ports import Env, UnitOfWork

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25

# Status tabs of the dashboard: key → (label, statuses; empty = every status a receiving unit sees).
ONGLETS: dict[str, tuple[str, frozenset[Status]]] = {
    "toutes": ("Toutes", frozenset()),
    "a_traiter": ("À traiter", frozenset({Status.EN_ATTENTE, Status.DEMANDE_PRECISION})),
    "accords": ("Accords de principe", frozenset({Status.ACCORD_DE_PRINCIPE})),
    "acceptees": ("Acceptées", frozenset({Status.ACCEPTEE})),
    "confirmees": ("Confirmées", frozenset({Status.CONFIRMEE})),
    "finalisees": ("Admissions finalisées", frozenset({Status.ADMISSION_FINALISEE})),
    "refusees": ("Refusées ou annulées", frozenset({Status.REFUSEE, Status.ANNULEE})),
}

STATUT_COULEUR: dict[Status, str] = {
    Status.EN_ATTENTE: "bleu", Status.DEMANDE_PRECISION: "orange", Status.ACCORD_DE_PRINCIPE: "orange",
    Status.ACCEPTEE: "vert", Status.CONFIRMEE: "vert", Status.ADMISSION_FINALISEE: "gris",
    Status.REFUSEE: "rouge", Status.ANNULEE: "rouge", Status.ARCHIVEE: "gris", Status.EN_REDACTION: "gris",
}

IDENTITE: dict[str, tuple[str, str]] = {
    "provisoire": ("Identité provisoire", "gris"),
    "recuperee": ("Identité récupérée", "bleu"),
    "validee": ("Identité validée", "bleu"),
    "qualifiee": ("Identité qualifiée", "vert"),
}

# The receiving unit's answers, in the order the page offers them.
REPONSES: tuple[str, ...] = ("demander_precision", "accorder", "accepter", "refuser", "relancer_prescripteur",
                             "finaliser_admission")

FAIT: dict[str, str] = {
    "demander_precision": "Votre question a été envoyée au prescripteur.",
    "accorder": "Votre accord de principe a été enregistré et transmis au prescripteur.",
    "accepter": "Votre acceptation a été enregistrée avec la date d'admission proposée.",
    "refuser": "Votre refus a été enregistré et transmis au prescripteur.",
    "relancer_prescripteur": "Le prescripteur a été relancé.",
    "finaliser_admission": "L'admission du patient est finalisée.",
}

MOTIFS_REFUS: tuple[str, ...] = (
    "Pas de place disponible dans le délai demandé",
    "Prise en charge inadaptée à l'état du patient",
    "Patient hors de notre zone d'intervention",
    "Plateau technique ou équipement insuffisant",
    "Dossier insuffisamment renseigné",
    "Autre motif",
)
AUTRE_MOTIF = "Autre motif"

# A refused answer's error code → the form field it concerns (the message is shown next to it).
CHAMP_DE_CODE: dict[str, str] = {
    "demande.accord_sans_date": "date_debut",
    "demande.fourchette": "date_fin",
    "demande.acceptation_sans_date": "date_admission",
    "demande.motif_obligatoire": "motif_choix",
    "demande.question_obligatoire": "question",
}

HISTORIQUE: dict[str, str] = {
    "demande.selectionner": "Unité sélectionnée par le prescripteur",
    "demande.envoyer": "Demande envoyée",
    "demande.renvoyer": "Demande renvoyée",
    "demande.reactiver": "Demande réactivée",
    "demande.demander_precision": "Question posée au prescripteur",
    "demande.repondre_precision": "Réponse du prescripteur à la question",
    "demande.accorder": "Accord de principe",
    "demande.accepter": "Acceptation",
    "demande.refuser": "Refus",
    "demande.confirmer": "Confirmée par le prescripteur",
    "demande.annuler": "Annulée par le prescripteur",
    "demande.annuler_systeme": "Annulée",
    "demande.annulation_automatique": "Annulation automatique",
    "demande.archiver": "Archivée",
    "demande.relancer_receveur": "Relance reçue du prescripteur",
    "demande.relancer_prescripteur": "Relance envoyée au prescripteur",
    "demande.finaliser_admission": "Admission finalisée",
    "volet_medical.consulter": "Consultation du volet médical",
}

ACTEUR: dict[str, str] = {"prescripteur": "prescripteur", "receveur": "unité receveuse", "system": "automatique"}


# --- the dashboard -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ligne:
    row: DemandeRow
    statut_libelle: str
    statut_couleur: str
    identite: tuple[str, str]
    relance_recue: bool
    relance_possible: bool


def _relance_depuis(statut_at: dt.datetime | None, relance_at: dt.datetime | None) -> dt.datetime | None:
    """When the 72 h before the next manual relance started: the last answer, or the last relance after it."""
    if relance_at is not None and (statut_at is None or relance_at > statut_at):
        return relance_at
    return statut_at


def _ligne(row: DemandeRow, env: Env, now: dt.datetime) -> Ligne:
    since = _relance_depuis(row.statut_at, row.relance_prescripteur_at)
    relance_possible = (row.statut is Status.ACCEPTEE and since is not None
                        and env.timers.relance_manuelle_due(since, now))
    relance_recue = (row.relance_receveur_at is not None and row.statut is Status.ACCORD_DE_PRINCIPE
                     and (row.statut_at is None or row.relance_receveur_at >= row.statut_at))
    return Ligne(row, STATUS_LABELS[row.statut], STATUT_COULEUR[row.statut],
                 IDENTITE.get(row.patient_statut_identite, IDENTITE["provisoire"]), relance_recue, relance_possible)


def _int_or_none(value: str) -> int | None:
    value = value.strip()
    return int(value) if value.isdigit() else None


def _filtre(statut: str) -> tuple[str, str, frozenset[Status]]:
    """The status filter asked: a tab key, or one status (its value or its name, ``en_attente``); else every
    status. Returns (the tab or status asked, its label, the statuses)."""
    if statut in ONGLETS:
        return statut, ONGLETS[statut][0], ONGLETS[statut][1]
    found = next((s for s in Status if statut in (s.value, s.name.lower()) and s is not Status.EN_REDACTION), None)
    if found is not None:
        return found.value, STATUS_LABELS[found], frozenset({found})
    return "toutes", ONGLETS["toutes"][0], frozenset()


def _liste(request: Request, user_id: int, unite_id: str, statut: str, recherche: str, page: int, *,
           fragment: bool) -> Response:
    c = container(request)
    onglet, libelle, statuts = _filtre(statut)
    unite = _int_or_none(unite_id)
    page = max(page, 1)
    now = c.env.clock.now()
    with c.uow() as uow:
        result = demandes.receveur_dashboard(uow, c.env, user_id, unite_id=unite, statuts=statuts,
                                             recherche=recherche, page=page, page_size=PAGE_SIZE)
        lignes = [_ligne(r, c.env, now) for r in result.items]
        if fragment:
            return render(request, "receveur/_lignes.html", {"lignes": lignes, "recherche": recherche})
        unite_ids = sorted(subject_for(uow, user_id).unites(*RECEVEUR_ROLES))
        unites = uow.directory.unites(unite_ids) if unite_ids else {}
        criteres = {"unite_id": "" if unite is None else str(unite), "statut": onglet, "recherche": recherche}

        def lien(base: str = "/receveur", **changes: Any) -> str:
            query = {k: v for k, v in (criteres | {"page": page} | changes).items() if v not in ("", None)}
            if query.get("page") == 1:
                query.pop("page")
            return f"{base}?{urlencode(query)}" if query else base

        onglets = [{"cle": k, "libelle": label, "href": lien(statut=k, page=1), "actif": k == onglet}
                   for k, (label, _) in ONGLETS.items()]
        return show(request, user_id, "receveur/tableau.html", {
            "lignes": lignes, "unites": sorted(unites.values(), key=lambda u: u.nom), "unite_id": unite,
            "onglets": onglets, "onglet": onglet, "onglet_libelle": libelle, "recherche": recherche,
            "page": result.page, "precedente": lien(page=page - 1) if page > 1 else "",
            "suivante": lien(page=page + 1) if result.has_next else "", "sans_unite": not unite_ids,
            "fragment": lien("/receveur/lignes"),
        }, uow=uow)


@router.get("/receveur", summary="Demandes reçues par les unités du receveur", response_class=HTMLResponse)
def receveur_dashboard(request: Request, user_id: UserId, unite_id: str = "", statut: str = "toutes",
                       recherche: str = "", page: int = 1) -> Response:
    return _liste(request, user_id, unite_id, statut, recherche, page, fragment=False)


@router.get("/receveur/lignes", summary="Demandes reçues : les lignes seules (rafraîchissement des statuts)",
            response_class=HTMLResponse)
def receveur_dashboard_rows(request: Request, user_id: UserId, unite_id: str = "", statut: str = "toutes",
                            recherche: str = "", page: int = 1) -> Response:
    return _liste(request, user_id, unite_id, statut, recherche, page, fragment=True)


# --- the received demande ------------------------------------------------------------------------------------------


def _jour(value: Any) -> str:
    """An ISO date from the history (``aaaa-mm-jj``) as dd/mm/yyyy."""
    try:
        return dt.date.fromisoformat(str(value)[:10]).strftime("%d/%m/%Y")
    except ValueError:
        return str(value)


def _historique(uow: UnitOfWork, events: list[HistoryEvent], demande_id: int) -> list[dict[str, Any]]:
    noms: dict[int, str] = {}
    out: list[dict[str, Any]] = []
    for e in events:
        if e.demande_id != demande_id:
            continue
        qui = ACTEUR.get(e.actor_kind, e.actor_kind)
        if e.actor_user_id is not None:
            if e.actor_user_id not in noms:
                user = uow.users.get(e.actor_user_id)
                noms[e.actor_user_id] = f"{user.prenom} {user.nom}"
            qui = f"{noms[e.actor_user_id]} ({qui})"
        details = []
        apres = e.apres or {}
        if e.action == "demande.demander_precision" and apres.get("question"):
            details.append(f"Question : {apres['question']}")
        if e.action in ("demande.accorder",) and apres.get("date_debut"):
            fin = f" au {_jour(apres['date_fin'])}" if apres.get("date_fin") else " (date approximative)"
            details.append(f"Admission envisagée du {_jour(apres['date_debut'])}{fin}")
        if e.action == "demande.accepter" and apres.get("date_admission"):
            details.append(f"Date d'admission proposée : {_jour(apres['date_admission'])}")
        if e.action in ("demande.refuser", "demande.annuler", "demande.annuler_systeme",
                        "demande.annulation_automatique") and apres.get("motif"):
            details.append(f"Motif : {apres['motif']}")
        out.append({"at": e.at, "libelle": HISTORIQUE.get(e.action, e.action), "qui": qui,
                    "details": " — ".join(details)})
    return list(reversed(out))


def _relance_a_partir(demande: Demande, env: Env) -> dt.datetime | None:
    since = _relance_depuis(demande.statut_at, demande.relance_prescripteur_at)
    return since + env.timers.relance_manuelle if since is not None else None


def _defauts(demande: Demande) -> dict[str, dict[str, str]]:
    """What the answer forms start from: the unit's current answer, so that changing it is an edit."""
    def iso(value: dt.date | None) -> str:
        return value.isoformat() if value else ""

    return {"accorder": {"date_debut": iso(demande.date_debut), "date_fin": iso(demande.date_fin)},
            "accepter": {"date_admission": iso(demande.date_admission or demande.date_debut)}}


def _identite(patient: Patient) -> tuple[str, str]:
    return IDENTITE.get(patient.statut_identite.value, IDENTITE["provisoire"])


def _detail(request: Request, user_id: int, demande_id: int, *, erreurs: dict[str, str] | None = None,
            action_en_erreur: str = "", saisie: dict[str, str] | None = None, status: int = 200) -> Response:
    c = container(request)
    now = c.env.clock.now()
    with c.uow() as uow:
        demande, dossier, medical = demandes.consulter_recue(uow, c.env, user_id, demande_id)
        assert dossier.id is not None and demande.id is not None
        patient = uow.patients.get(dossier.patient_id)
        unite = uow.directory.get_unite(demande.unite_id)
        etablissement = (uow.directory.get_etablissement(dossier.etablissement_id)
                         if dossier.etablissement_id is not None else None)
        subject = subject_for(uow, user_id)
        scope = DemandeRecueScope(demande.unite_id, unite.etablissement_id)
        permises = set(allowed_actions(demande.statut, Actor.RECEVEUR))
        formulaires = [a for a in REPONSES if a in permises and a != "relancer_prescripteur"
                       and allowed(subject, demandes.ACTION_RIGHTS[a], scope, now)]
        relance = ("relancer_prescripteur" in permises
                   and allowed(subject, Action.RECEVEUR_RELANCER, scope, now))
        relance_possible = relance and demande.relance_possible(Actor.RECEVEUR, now, c.env.timers)
        fait = request.query_params.get("fait", "")
        return show(request, user_id, "receveur/demande.html", {
            "demande": demande, "dossier": dossier, "patient": patient, "unite": unite,
            "etablissement": etablissement, "medical": medical,
            "volets": volets_view(dossier, medical_visible=medical, modifiable=False),
            "statut_libelle": STATUS_LABELS[demande.statut], "statut_couleur": STATUT_COULEUR[demande.statut],
            "identite": _identite(patient), "module": "Sanitaire" if dossier.module is Module.SANITAIRE
            else "Grand Âge", "pieces": uow.dossiers.pieces_jointes(dossier.id),
            "historique": _historique(uow, uow.history.for_dossier(dossier.id), demande.id),
            "formulaires": formulaires, "relance": relance, "relance_possible": relance_possible,
            "relance_a_partir": _relance_a_partir(demande, c.env) if relance and not relance_possible else None,
            "motifs": MOTIFS_REFUS, "autre_motif": AUTRE_MOTIF, "erreurs": erreurs or {},
            "action_en_erreur": action_en_erreur, "saisie": saisie or {}, "confirmation": FAIT.get(fait, ""),
            "defauts": _defauts(demande),
        }, status=status, uow=uow)


@router.get("/receveur/demandes/{demande_id}", summary="Demande reçue : le dossier et les réponses",
            response_class=HTMLResponse)
def receveur_demande(demande_id: int, request: Request, user_id: UserId) -> Response:
    return _detail(request, user_id, demande_id)


def _date(value: str, champ: str, erreurs: dict[str, str]) -> dt.date | None:
    """A date typed in a form (``aaaa-mm-jj`` from a date field, or ``jj/mm/aaaa``); an error when unreadable."""
    value = value.strip()
    if not value:
        return None
    try:
        if "/" in value:
            jour, mois, annee = value.split("/")
            return dt.date(int(annee), int(mois), int(jour))
        return dt.date.fromisoformat(value)
    except ValueError:
        erreurs[champ] = "Date invalide : saisissez-la au format jj/mm/aaaa."
        return None


@router.post("/receveur/demandes/{demande_id}/{action}", summary="Réponse d'une unité receveuse à une demande",
             response_class=HTMLResponse)
def receveur_repondre(demande_id: int, action: str, request: Request, user_id: UserId,
                      question: Annotated[str, Form()] = "", date_debut: Annotated[str, Form()] = "",
                      date_fin: Annotated[str, Form()] = "", date_admission: Annotated[str, Form()] = "",
                      motif_choix: Annotated[str, Form()] = "", motif_precision: Annotated[str, Form()] = "",
                      ) -> Response:
    c = container(request)
    with c.uow() as uow:  # the rights on the demande first: an intruder learns nothing from the form's checks
        demande = uow.demandes.get(demande_id)
        unite = uow.directory.get_unite(demande.unite_id)
        require(subject_for(uow, user_id), Action.DEMANDE_RECUE_LIRE,
                DemandeRecueScope(demande.unite_id, unite.etablissement_id), c.env.clock.now())
    if action not in REPONSES:
        raise NotFound(f"Action inconnue : « {action} ».", code="demande.action_inconnue")
    saisie = {"question": question, "date_debut": date_debut, "date_fin": date_fin,
              "date_admission": date_admission, "motif_choix": motif_choix, "motif_precision": motif_precision}
    erreurs: dict[str, str] = {}
    debut = _date(date_debut, "date_debut", erreurs) if action == "accorder" else None
    fin = _date(date_fin, "date_fin", erreurs) if action == "accorder" else None
    admission = _date(date_admission, "date_admission", erreurs) if action == "accepter" else None
    motif = ""
    if action == "refuser":
        choix, precision = motif_choix.strip(), motif_precision.strip()
        if choix and choix not in MOTIFS_REFUS:
            erreurs["motif_choix"] = "Choisissez un motif dans la liste."
        elif choix == AUTRE_MOTIF and not precision:
            erreurs["motif_precision"] = "Précisez le motif du refus."
        elif choix == AUTRE_MOTIF:
            motif = precision
        elif choix:
            motif = f"{choix} — {precision}" if precision else choix
        else:
            erreurs["motif_choix"] = "Le motif du refus est obligatoire."
    if not erreurs:
        try:
            with c.uow() as uow:
                demandes.agir(uow, c.env, user_id, demande_id, action, demandes.Answer(
                    motif=motif, question=question, date_debut=debut, date_fin=fin, date_admission=admission))
        except AiguillageError as exc:
            if isinstance(exc, Forbidden | NotFound):
                raise
            erreurs = field_errors(exc, CHAMP_DE_CODE.get(exc.code, "_"))
            status = 409 if isinstance(exc, TransitionNotAllowed | Conflict) else 422
            return _detail(request, user_id, demande_id, erreurs=erreurs, action_en_erreur=action, saisie=saisie,
                           status=status)
        return see_other(f"/receveur/demandes/{demande_id}?fait={action}#reponse")
    return _detail(request, user_id, demande_id, erreurs=erreurs, action_en_erreur=action, saisie=saisie,
                   status=422)
