"""Sending a dossier: receiving-unit search and suggestions, send to several, the demandes and the
prescripteur's actions on them and on the dossier.

``GET /dossiers/{id}/envoi`` shows (1) the dossier's demandes with each receiver's answer and the actions the
prescripteur may take now, (2) the search of receiving units (type, distance from a postcode, accepted needs, SMR
mention) with the ranked suggestions and their reasons, (3) the dossier-level actions. Every POST redirects back
(post/redirect/get) with ``?fait=…``; a refused action re-renders the page with the French message next to the
action and what was typed kept.

Postcode → coordinates: the directory holds no postcode table, only the coordinates of its units (and the
postcodes of units and établissements). A postcode is placed at the mean position of the units that carry it (or
belong to an établissement that does); failing that, at the mean position of the known units of its département,
which the page says is an approximation. An unknown département cannot be placed: the search then ignores the
distance and says so next to the field.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, cast
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from gateway.api.deps import UserId
from gateway.errors import status_for
from gateway.ui.pages import container, see_other, show
from orientation_core.demande import service as demandes
from orientation_core.demande.model import Demande
from orientation_core.demande.workflow import (
    STATUS_LABELS,
    Actor,
    Status,
    allowed_actions,
)
from orientation_core.directory.model import (
    MENTIONS_SMR,
    MODULE_OF_TYPE,
    TYPE_UNITE_LABELS,
    Etablissement,
    TypeUnite,
    Unite,
)
from orientation_core.directory.service import Suggestion, suggest_unites
from orientation_core.dossier import service as dossiers
from orientation_core.dossier.model import Dossier, EtatDossier
from orientation_core.dossier.volets import Completion, Module
from orientation_core.errors import AiguillageError, NotFound, ValidationFailed
from orientation_core.people.policy import Action, Subject, allowed
from orientation_core.people.service import subject_for
from orientation_core.ports import DirectoryRepository, Env, UnitOfWork

router = APIRouter(include_in_schema=False)

# The actions a prescripteur takes on one demande from this page (POST /dossiers/{id}/demandes/{d}/{action}).
PRESCRIPTEUR_ACTIONS = ("envoyer", "confirmer", "repondre_precision", "relancer_receveur", "renvoyer", "reactiver",
                        "annuler")
ACTION_LABELS = {
    "envoyer": "Envoyer", "confirmer": "Confirmer cette unité", "repondre_precision": "Envoyer la réponse",
    "relancer_receveur": "Relancer l'unité", "renvoyer": "Renvoyer le dossier", "reactiver": "Réactiver",
    "annuler": "Annuler cette demande",
}
STATUS_BADGES: dict[Status, str] = {
    Status.EN_REDACTION: "gris", Status.EN_ATTENTE: "bleu", Status.DEMANDE_PRECISION: "orange",
    Status.ACCORD_DE_PRINCIPE: "orange", Status.ACCEPTEE: "vert", Status.REFUSEE: "rouge",
    Status.CONFIRMEE: "vert", Status.ADMISSION_FINALISEE: "vert", Status.ANNULEE: "gris", Status.ARCHIVEE: "gris",
}
ETAT_LABELS = {EtatDossier.BROUILLON: "En cours de rédaction", EtatDossier.ENVOYE: "Envoyé",
               EtatDossier.ADMIS: "Admission finalisée", EtatDossier.ANNULE: "Annulé", EtatDossier.ARCHIVE: "Archivé"}
MENTION_LABELS = {
    "polyvalent": "Polyvalent", "geriatrie": "Gériatrie", "locomoteur": "Locomoteur",
    "systeme_nerveux": "Système nerveux", "cardio_vasculaire": "Cardio-vasculaire", "pneumologie": "Pneumologie",
    "digestif_endocrinologie": "Digestif, endocrinologie", "brules": "Brûlés",
    "conduites_addictives": "Conduites addictives", "pediatrie": "Pédiatrie", "cancers": "Cancers",
}
# Needs as the directory stores them (besoins_acceptes) → words; an unknown need shows as its code in words.
BESOIN_LABELS = {
    "pansements": "Pansements", "oxygene": "Oxygène", "reeducation": "Rééducation", "appareillage": "Appareillage",
    "perfusion": "Perfusion", "soins_palliatifs": "Soins palliatifs", "troubles_cognitifs": "Troubles cognitifs",
    "unite_protegee": "Unité protégée",
}
RAYONS = ("10", "20", "30", "50", "100")
_POSTCODE = re.compile(r"^\d{5}$")


def _url(dossier_id: int, **query: Any) -> str:
    kept = {k: v for k, v in query.items() if v not in (None, "")}
    return f"/dossiers/{dossier_id}/envoi" + (f"?{urlencode(kept)}" if kept else "")


# --- search of receiving units ---------------------------------------------------------------------------------------


class Annuaire:
    """The directory read once per page: every active unit and every établissement, in one query each. The
    search, the suggestions (``suggest_unites`` reads the directory through its unit of work), the transfer list and
    the demandes' units are all answered from it (the page read the units four times otherwise)."""

    def __init__(self, directory: DirectoryRepository) -> None:
        self._directory = directory
        self._unites: list[Unite] | None = None
        self._etablissements: list[Etablissement] | None = None

    def all_unites(self) -> list[Unite]:
        if self._unites is None:
            self._unites = self._directory.search_unites(limit=100_000)
        return self._unites

    def search_unites(self, *, types: Sequence[TypeUnite] = (), etablissement_id: int | None = None,
                      besoins: Sequence[str] = (), actif: bool = True, limit: int = 500) -> list[Unite]:
        if not actif:
            return self._directory.search_unites(types=types, etablissement_id=etablissement_id, besoins=besoins,
                                                 actif=actif, limit=limit)
        wanted = set(types)
        found = [u for u in self.all_unites() if (not wanted or u.type in wanted)
                 and (etablissement_id is None or u.etablissement_id == etablissement_id)
                 and set(besoins) <= set(u.besoins_acceptes)]
        return found[:limit]

    def list_etablissements(self) -> list[Etablissement]:
        if self._etablissements is None:
            self._etablissements = self._directory.list_etablissements()
        return self._etablissements

    def unites(self, ids: Sequence[int]) -> dict[int, Unite]:
        known = {u.id: u for u in self.all_unites() if u.id is not None}
        found = {i: known[i] for i in ids if i in known}
        missing = [i for i in ids if i not in found]  # inactive units still carry old demandes
        return found | (self._directory.unites(missing) if missing else {})

    def __getattr__(self, name: str) -> Any:
        return getattr(self._directory, name)


class _PageUow:
    """The request's unit of work with the directory answered from an ``Annuaire`` (reads only)."""

    def __init__(self, uow: UnitOfWork, annuaire: Annuaire) -> None:
        self._uow = uow
        self.directory = annuaire

    def __getattr__(self, name: str) -> Any:
        return getattr(self._uow, name)


@dataclass
class Recherche:
    """The search form as typed (kept as text so a wrong value is shown back as it was typed)."""

    type: str = ""
    code_postal: str = ""
    rayon: str = ""
    besoins: list[str] = field(default_factory=list)
    mention: str = ""

    def query(self) -> dict[str, Any]:
        return {"type": self.type, "code_postal": self.code_postal, "rayon": self.rayon, "mention": self.mention,
                "besoins": self.besoins, "recherche": "1"}


@dataclass(frozen=True)
class Position:
    latitude: float
    longitude: float
    comment: str  # how the postcode was placed, for the help text


def locate_postcode(code: str, unites: Sequence[Unite], etablissements: dict[int, Etablissement]
                    ) -> Position | None:
    """Coordinates for a postcode from the directory alone (no postcode table exists): the units with this
    postcode or in an établissement with it, else the units of the département (approximation)."""
    placed = [u for u in unites if u.latitude is not None and u.longitude is not None]

    def mean(found: list[Unite], comment: str) -> Position:
        return Position(sum(u.latitude or 0.0 for u in found) / len(found),
                        sum(u.longitude or 0.0 for u in found) / len(found), comment)

    exact = [u for u in placed if u.code_postal == code or (
        u.code_postal is None and etablissements.get(u.etablissement_id) is not None
        and etablissements[u.etablissement_id].code_postal == code)]
    if exact:
        return mean(exact, f"Le code postal {code} est placé à la position des structures de l'annuaire qui le "
                           "portent.")
    departement = code[:3] if code.startswith("97") else code[:2]
    in_departement = [u for u in placed if (u.code_postal or "").startswith(departement)]
    if in_departement:
        return mean(in_departement, f"Aucune structure de l'annuaire ne porte le code postal {code} : les distances "
                                    f"partent du centre des structures connues du département {departement} "
                                    "(approximation).")
    return None


@dataclass
class Proposition:
    suggestion: Suggestion
    raisons: list[str]
    deja: Demande | None  # an active demande already goes to this unit


@dataclass
class ResultatRecherche:
    recherche: Recherche
    types: list[tuple[str, str]]
    besoins: list[tuple[str, str]]
    mentions: list[tuple[str, str]]
    propositions: list[Proposition]
    position: Position | None
    erreurs: dict[str, str]


def _types_for(module: Module) -> list[TypeUnite]:
    return [t for t in TypeUnite if t is not TypeUnite.MCO and MODULE_OF_TYPE[t].value == module.value]


def default_search(dossier: Dossier, patient_postcode: str) -> Recherche:
    """First visit: the dossier's orientation type and SMR mention, the patient's home postcode."""
    types = {t.value for t in _types_for(dossier.module)}
    orientation = dossier.volets.get("orientation", {})
    mention = str(orientation.get("mention_smr") or "")
    return Recherche(type=dossier.type_orientation if dossier.type_orientation in types else "",
                     code_postal=patient_postcode if _POSTCODE.match(patient_postcode or "") else "",
                     mention=mention if mention in MENTIONS_SMR else "")


def search(uow: UnitOfWork, dossier: Dossier, recherche: Recherche, demandes_by_unit: dict[int, Demande]
           ) -> ResultatRecherche:
    module_types = _types_for(dossier.module)
    erreurs: dict[str, str] = {}
    types: list[TypeUnite] = module_types
    if recherche.type:
        chosen = next((t for t in module_types if t.value == recherche.type), None)
        if chosen is None:
            erreurs["type"] = "Type d'orientation inconnu pour ce module."
        else:
            types = [chosen]
    candidates = uow.directory.search_unites(types=module_types)
    etablissements = {e.id: e for e in uow.directory.list_etablissements() if e.id is not None}
    position: Position | None = None
    code = recherche.code_postal.strip()
    if code:
        if not _POSTCODE.match(code):
            erreurs["code_postal"] = "Code postal invalide : cinq chiffres attendus (par exemple 69003)."
        else:
            everywhere = uow.directory.search_unites()
            position = locate_postcode(code, everywhere, etablissements)
            if position is None:
                erreurs["code_postal"] = (f"Le département du code postal {code} n'a aucune structure dans "
                                          "l'annuaire : la distance n'est pas prise en compte.")
    rayon: float | None = None
    if recherche.rayon:
        try:
            rayon = float(recherche.rayon.replace(",", "."))
            if rayon <= 0:
                raise ValueError
        except ValueError:
            erreurs["rayon"] = "Rayon invalide : un nombre de kilomètres supérieur à zéro."
            rayon = None
        if rayon is not None and position is None and not erreurs.get("code_postal"):
            erreurs["rayon"] = "Indiquez un code postal pour chercher dans un rayon."
    known_besoins = sorted({b for u in candidates for b in u.besoins_acceptes})
    besoins = [b for b in recherche.besoins if b in known_besoins]
    mention = recherche.mention if recherche.mention in MENTIONS_SMR else None
    if recherche.mention and mention is None:
        erreurs["mention"] = "Mention SMR inconnue."
    suggestions = suggest_unites(
        uow, dossier.module, types=types, besoins=besoins,
        latitude=position.latitude if position else None, longitude=position.longitude if position else None,
        rayon_km=rayon if position else None, mention=mention)
    propositions = []
    for s in suggestions:
        raisons = [f"mention SMR demandée ({MENTION_LABELS.get(mention, mention)})"
                   if mention and r == f"mention {mention}" else r for r in s.raisons]
        if dossier.type_orientation and s.unite.type.value == dossier.type_orientation:
            raisons.insert(0, f"correspond à l'orientation du dossier ({TYPE_UNITE_LABELS[s.unite.type]})")
        if besoins:
            manquants = [b for b in besoins if b not in s.unite.besoins_acceptes]
            if manquants:
                raisons.append("ne prend pas en charge : " + ", ".join(besoin_label(b) for b in manquants))
        assert s.unite.id is not None
        propositions.append(Proposition(s, raisons, demandes_by_unit.get(s.unite.id)))
    return ResultatRecherche(
        recherche=recherche, types=[(t.value, TYPE_UNITE_LABELS[t]) for t in module_types],
        besoins=[(b, besoin_label(b)) for b in known_besoins],
        mentions=sorted(((m, MENTION_LABELS.get(m, _words(m))) for m in MENTIONS_SMR), key=lambda p: p[1]),
        propositions=propositions, position=position, erreurs=erreurs)


def besoin_label(value: str) -> str:
    return BESOIN_LABELS.get(value) or _words(value)


def _words(value: str) -> str:
    text = value.replace("_", " ")
    return text[:1].upper() + text[1:]


# --- the page --------------------------------------------------------------------------------------------------------


@dataclass
class DemandeVue:
    demande: Demande
    unite: Unite | None
    etablissement: Etablissement | None
    statut: str
    badge: str
    actions: list[str]
    relance_possible_at: dt.datetime | None  # the relance will be allowed then (accord de principe < 72 h)
    reactivable_jusqu_au: dt.datetime | None

    @property
    def nom(self) -> str:
        return self.unite.nom if self.unite else f"Unité {self.demande.unite_id}"


def _relance_at(d: Demande, env: Env) -> dt.datetime | None:
    since = d.statut_at
    if d.relance_receveur_at is not None and (since is None or d.relance_receveur_at > since):
        since = d.relance_receveur_at
    return since + env.timers.relance_manuelle if since is not None else None


def _demande_vue(d: Demande, dossier: Dossier, subject: Subject, env: Env, unites: dict[int, Unite],
                 etablissements: dict[int, Etablissement]) -> DemandeVue:
    now = env.clock.now()
    scope = dossiers.scope_of(dossier)
    actions: list[str] = []
    relance_at: dt.datetime | None = None
    reactivable: dt.datetime | None = None
    if d.annulee_at is not None and d.statut is Status.ANNULEE:
        reactivable = d.annulee_at + env.timers.archivage
    if dossier.ouvert:
        for action in allowed_actions(d.statut, Actor.PRESCRIPTEUR):
            if action not in PRESCRIPTEUR_ACTIONS or not allowed(subject, demandes.ACTION_RIGHTS[action], scope, now):
                continue
            if action == "confirmer" and dossier.etat is not EtatDossier.ENVOYE:
                continue
            if action == "renvoyer" and not d.a_renvoyer:
                continue
            if action == "reactiver" and (reactivable is None or reactivable <= now):
                continue
            if action == "relancer_receveur" and not d.relance_possible(Actor.PRESCRIPTEUR, now, env.timers):
                relance_at = _relance_at(d, env)
                continue
            actions.append(action)
    unite = unites.get(d.unite_id)
    return DemandeVue(d, unite, etablissements.get(unite.etablissement_id) if unite else None,
                      STATUS_LABELS[d.statut], STATUS_BADGES[d.statut],
                      sorted(actions, key=PRESCRIPTEUR_ACTIONS.index), relance_at, reactivable)


@dataclass
class Formulaire:
    """What a re-rendered page keeps: the messages by place, the values typed, the units ticked."""

    erreurs: dict[str, str] = field(default_factory=dict)
    valeurs: dict[str, str] = field(default_factory=dict)
    selection: list[int] = field(default_factory=list)
    volets_manquants: list[tuple[str, str]] = field(default_factory=list)  # (volet name, label) for the links


def _page(request: Request, user_id: int, dossier_id: int, *, recherche: Recherche | None = None,
          formulaire: Formulaire | None = None, status: int = 200, fait: str = "", demande_id: int | None = None,
          nombre: int | None = None) -> Response:
    c = container(request)
    env = c.env
    formulaire = formulaire or Formulaire()
    with c.uow() as request_uow:
        dossier, subject = dossiers.load(request_uow, env, user_id, dossier_id)
        annuaire = Annuaire(request_uow.directory)
        uow = cast(UnitOfWork, _PageUow(request_uow, annuaire))
        now = env.clock.now()
        scope = dossiers.scope_of(dossier)
        patient = uow.patients.get(dossier.patient_id)
        liste = sorted(uow.demandes.for_dossier(dossier_id),
                       key=lambda d: (d.statut in (Status.ANNULEE, Status.ARCHIVEE), d.id or 0))
        etablissements = {e.id: e for e in annuaire.list_etablissements() if e.id is not None}
        wanted = {d.unite_id for d in liste} | ({dossier.unite_id} if dossier.unite_id is not None else set())
        unites = annuaire.unites(sorted(wanted))
        vues = [_demande_vue(d, dossier, subject, env, unites, etablissements) for d in liste]
        # a unit keeps its demande until cancelled or archived (a refusal is re-sent, not re-selected)
        sollicitees = {d.unite_id: d for d in liste if d.statut not in (Status.ANNULEE, Status.ARCHIVEE)}
        recherche = recherche or default_search(dossier, patient.code_postal)
        may_send = dossier.ouvert and allowed(subject, Action.DEMANDE_ENVOYER, scope, now)
        resultat = search(uow, dossier, recherche, sollicitees) if may_send else None
        may_modify = dossier.ouvert and allowed(subject, Action.DOSSIER_MODIFIER, scope, now)
        may_cancel = dossier.ouvert and allowed(subject, Action.DEMANDE_ANNULER, scope, now)
        unites_transfert: list[Unite] = []
        if may_modify and dossier.etablissement_id is not None:
            unites_transfert = [u for u in annuaire.search_unites(
                types=[TypeUnite.MCO], etablissement_id=dossier.etablissement_id) if u.id != dossier.unite_id]
        unite_dossier = unites.get(dossier.unite_id) if dossier.unite_id is not None else None
        reactivable_until = (dossier.annule_at + env.timers.archivage
                             if dossier.etat is EtatDossier.ANNULE and dossier.annule_at is not None else None)
        volets = dossier.volet_states()
        context = {
            "dossier": dossier, "patient": patient, "etat": ETAT_LABELS[dossier.etat], "demandes": vues,
            "action_labels": ACTION_LABELS, "resultat": resultat, "formulaire": formulaire,
            "may_send": may_send, "may_modify": may_modify, "may_cancel": may_cancel,
            "unites_transfert": unites_transfert, "unite_dossier": unite_dossier,
            "etablissement_dossier": etablissements.get(dossier.etablissement_id or 0),
            "volets": volets, "complet": all(v.completion is Completion.COMPLET for v in volets),
            "actives": [v for v in vues if v.demande.active or v.demande.statut is Status.EN_REDACTION],
            "reactivable_until": reactivable_until if reactivable_until and reactivable_until > now else None,
            "reactivation_expiree": reactivable_until is not None and reactivable_until <= now,
            "type_labels": {t.value: label for t, label in TYPE_UNITE_LABELS.items()},
            "mention_labels": MENTION_LABELS, "rayons": RAYONS, "besoin_label": besoin_label,
            "message": _message(fait, demande_id, nombre, vues, unites_transfert, unite_dossier),
            "now": now, "module_sanitaire": dossier.module is Module.SANITAIRE,
        }
        return show(request, user_id, "envoi/page.html", context, status=status, uow=request_uow)


def _message(fait: str, demande_id: int | None, nombre: int | None, vues: list[DemandeVue],
             unites_transfert: list[Unite], unite_dossier: Unite | None) -> str:
    vue = next((v for v in vues if v.demande.id == demande_id), None)
    nom = f"« {vue.nom} »" if vue else "l'unité"
    n = nombre or 0
    autres = f" {n} autre{'s' if n > 1 else ''} demande{'s' if n > 1 else ''} annulée{'s' if n > 1 else ''}." \
        if n else ""
    return {
        "envoyer": f"Dossier envoyé à {n} unité{'s' if n > 1 else ''}." if nombre is not None
        else f"Dossier envoyé à {nom}.",
        "confirmer": f"Demande confirmée auprès de {nom}.{autres}",
        "annuler": f"Demande auprès de {nom} annulée.",
        "relancer_receveur": f"Relance envoyée à {nom}.",
        "renvoyer": f"Dossier renvoyé à {nom}.",
        "reactiver": f"Demande auprès de {nom} réactivée.",
        "repondre_precision": f"Réponse envoyée à {nom}.",
        "annuler_toutes": f"{n} demande{'s' if n > 1 else ''} annulée{'s' if n > 1 else ''}.",
        "transfert": f"Dossier transféré vers l'unité « {unite_dossier.nom} »." if unite_dossier
        else "Dossier transféré.",
        "retour_domicile": "Date de retour à domicile avant SSR enregistrée.",
        "retour_domicile_retire": "Date de retour à domicile avant SSR retirée.",
        "annulation": "Dossier annulé, avec toutes ses demandes en cours.",
        "reactivation": "Dossier réactivé.",
        "relance_auto": "Relance automatique retirée : le dossier est conservé.",
    }.get(fait, "")


@router.get("/dossiers/{dossier_id}/envoi", response_class=HTMLResponse,
            summary="Envoi du dossier : demandes, recherche d'unités, actions")
def envoi_page(dossier_id: int, request: Request, user_id: UserId, type: str = "", code_postal: str = "",
               rayon: str = "", besoins: Annotated[list[str] | None, Query()] = None, mention: str = "",
               recherche: str = "", fait: str = "", demande: int | None = None, n: int | None = None) -> Response:
    typed = Recherche(type=type, code_postal=code_postal, rayon=rayon, besoins=besoins or [], mention=mention) \
        if recherche or type or code_postal or rayon or besoins or mention else None
    return _page(request, user_id, dossier_id, recherche=typed, fait=fait, demande_id=demande, nombre=n)


# --- POST helpers ----------------------------------------------------------------------------------------------------


def _readable(request: Request, user_id: int, dossier_id: int) -> None:
    """Rights first: a user who may not read the dossier gets the error page, never the page re-rendered."""
    c = container(request)
    with c.uow() as uow:
        dossiers.load(uow, c.env, user_id, dossier_id)


def _attempt(request: Request, user_id: int, dossier_id: int, work: Callable[[UnitOfWork, Env], str],
             formulaire: Formulaire, place: str, recherche: Recherche | None = None) -> Response:
    """Run ``work`` in its own unit of work (rolled back on refusal); success → redirect to the URL it returns,
    refusal → the page again with the message at ``place`` and what was typed."""
    _readable(request, user_id, dossier_id)
    c = container(request)
    try:
        with c.uow() as uow:
            target = work(uow, c.env)
    except AiguillageError as exc:
        formulaire.erreurs[place] = exc.message
        if exc.code == "dossier.incomplet":
            with c.uow() as uow:
                dossier = uow.dossiers.get(dossier_id)
                formulaire.volets_manquants = [(s.name, s.label) for s in dossier.volet_states() if s.missing]
        return _page(request, user_id, dossier_id, recherche=recherche, formulaire=formulaire,
                     status=status_for(exc))
    return see_other(target)


def _own_demande(uow: UnitOfWork, dossier_id: int, demande_id: int) -> Demande:
    demande = uow.demandes.get(demande_id)
    if demande.dossier_id != dossier_id:
        raise NotFound("Cette demande n'appartient pas à ce dossier.", code="demande.autre_dossier")
    return demande


def _ids(values: Sequence[str]) -> list[int]:
    return [int(v) for v in values if v.strip().isdigit()]


# --- sending ---------------------------------------------------------------------------------------------------------


@router.post("/dossiers/{dossier_id}/envoi", summary="Envoyer le dossier aux unités sélectionnées")
def envoyer(dossier_id: int, request: Request, user_id: UserId,
            unite_ids: Annotated[list[str] | None, Form()] = None, type: Annotated[str, Form()] = "",
            code_postal: Annotated[str, Form()] = "", rayon: Annotated[str, Form()] = "",
            besoins: Annotated[list[str] | None, Form()] = None, mention: Annotated[str, Form()] = "") -> Response:
    recherche = Recherche(type=type, code_postal=code_postal, rayon=rayon, besoins=besoins or [], mention=mention)
    selection = _ids(unite_ids or [])

    def work(uow: UnitOfWork, env: Env) -> str:
        created = demandes.selectionner(uow, env, user_id, dossier_id, selection, envoyer=True)
        return _url(dossier_id, fait="envoyer", n=len(created))

    return _attempt(request, user_id, dossier_id, work, Formulaire(selection=selection), "envoi", recherche)


# --- one demande -----------------------------------------------------------------------------------------------------


@router.post("/dossiers/{dossier_id}/demandes/annulation", summary="Annuler toutes les demandes du dossier")
def annuler_toutes(dossier_id: int, request: Request, user_id: UserId,
                   motif: Annotated[str, Form()] = "") -> Response:
    def work(uow: UnitOfWork, env: Env) -> str:
        if not motif.strip():
            raise ValidationFailed("Le motif est obligatoire.", code="demande.motif_obligatoire")
        cancelled = 0
        for d in uow.demandes.for_dossier(dossier_id):
            if d.active or d.statut is Status.EN_REDACTION:
                assert d.id is not None
                demandes.agir(uow, env, user_id, d.id, "annuler", demandes.Answer(motif=motif))
                cancelled += 1
        if not cancelled:
            raise ValidationFailed("Aucune demande en cours à annuler.", code="demande.aucune_active")
        return _url(dossier_id, fait="annuler_toutes", n=cancelled)

    return _attempt(request, user_id, dossier_id, work, Formulaire(valeurs={"motif_toutes": motif}), "toutes")


@router.post("/dossiers/{dossier_id}/demandes/{demande_id}/{action}", summary="Action du prescripteur sur une demande")
def agir(dossier_id: int, demande_id: int, action: str, request: Request, user_id: UserId,
         motif: Annotated[str, Form()] = "", reponse: Annotated[str, Form()] = "") -> Response:
    typed = {f"motif-{demande_id}": motif, f"reponse-{demande_id}": reponse}

    def work(uow: UnitOfWork, env: Env) -> str:
        others = [d for d in uow.demandes.for_dossier(dossier_id)
                  if d.id != demande_id and (d.active or d.statut is Status.EN_REDACTION)]
        demandes.agir(uow, env, user_id, demande_id, action, demandes.Answer(motif=motif, reponse=reponse))
        cancelled = len(others) if action == "confirmer" else None
        return _url(dossier_id, fait=action, demande=demande_id, n=cancelled)

    _readable(request, user_id, dossier_id)
    c = container(request)
    with c.uow() as uow:  # an id of another dossier, or an unknown action: the error page, not the form
        _own_demande(uow, dossier_id, demande_id)
    if action not in PRESCRIPTEUR_ACTIONS:
        raise NotFound(f"Action inconnue : « {action} ».", code="demande.action_inconnue")
    return _attempt(request, user_id, dossier_id, work, Formulaire(valeurs=typed), f"demande-{demande_id}")


# --- the dossier -----------------------------------------------------------------------------------------------------


@router.post("/dossiers/{dossier_id}/transfert", summary="Transférer le dossier vers une autre unité")
def transferer(dossier_id: int, request: Request, user_id: UserId, unite_id: Annotated[str, Form()] = "") -> Response:
    def work(uow: UnitOfWork, env: Env) -> str:
        if not unite_id.strip().isdigit():
            raise ValidationFailed("Choisissez l'unité qui reçoit le dossier.", code="dossier.transfert_unite")
        dossier = dossiers.transferer(uow, env, user_id, dossier_id, int(unite_id))
        if not allowed(subject_for(uow, user_id), Action.DOSSIER_LIRE, dossiers.scope_of(dossier), env.clock.now()):
            return "/tableau-de-bord"  # the user does not work in the new unit
        return _url(dossier_id, fait="transfert")

    return _attempt(request, user_id, dossier_id, work, Formulaire(valeurs={"unite_id": unite_id}), "transfert")


@router.post("/dossiers/{dossier_id}/retour-domicile", summary="Retour à domicile avant SSR")
def retour_domicile(dossier_id: int, request: Request, user_id: UserId, date: Annotated[str, Form()] = "",
                    retirer: Annotated[str, Form()] = "") -> Response:
    def work(uow: UnitOfWork, env: Env) -> str:
        day: dt.date | None = None
        if not retirer:
            try:
                day = dt.date.fromisoformat(date.strip())
            except ValueError:
                raise ValidationFailed("Date invalide : choisissez la date du retour à domicile (jj/mm/aaaa).",
                                       code="dossier.retour_domicile_date") from None
        dossiers.retour_domicile(uow, env, user_id, dossier_id, day)
        return _url(dossier_id, fait="retour_domicile" if day else "retour_domicile_retire")

    return _attempt(request, user_id, dossier_id, work, Formulaire(valeurs={"date_retour": date}),
                    "retour_domicile")


@router.post("/dossiers/{dossier_id}/annulation", summary="Annuler le dossier")
def annuler_dossier(dossier_id: int, request: Request, user_id: UserId,
                    motif: Annotated[str, Form()] = "") -> Response:
    def work(uow: UnitOfWork, env: Env) -> str:
        dossiers.annuler_dossier(uow, env, user_id, dossier_id, motif)
        return _url(dossier_id, fait="annulation")

    return _attempt(request, user_id, dossier_id, work, Formulaire(valeurs={"motif_dossier": motif}), "annulation")


@router.post("/dossiers/{dossier_id}/reactivation", summary="Réactiver le dossier")
def reactiver_dossier(dossier_id: int, request: Request, user_id: UserId) -> Response:
    def work(uow: UnitOfWork, env: Env) -> str:
        dossiers.reactiver_dossier(uow, env, user_id, dossier_id)
        return _url(dossier_id, fait="reactivation")

    return _attempt(request, user_id, dossier_id, work, Formulaire(), "reactivation")


@router.post("/dossiers/{dossier_id}/relance-auto", summary="Retirer la relance automatique (garder le dossier)")
def retirer_relance_auto(dossier_id: int, request: Request, user_id: UserId) -> Response:
    def work(uow: UnitOfWork, env: Env) -> str:
        dossiers.annuler_relance_auto(uow, env, user_id, dossier_id)
        return _url(dossier_id, fait="relance_auto")

    return _attempt(request, user_id, dossier_id, work, Formulaire(), "relance_auto")
