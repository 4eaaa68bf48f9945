"""Use cases on dossiers (prescripteur side): create, fill volets, notes, attachments, link, transfer,
"retour à domicile avant SSR", cancel, reactivate, history, dashboard."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from orientation_core.dashboard import DossierRow, Page, PrescripteurQuery
from orientation_core.demande.workflow import ACTIVE_STATUSES, Actor, Motif, Status
from orientation_core.dossier.model import (
    ALLOWED_MIME,
    MAX_ATTACHMENT_BYTES,
    Dossier,
    PieceJointe,
    Section,
    numero_for,
)
from orientation_core.dossier.provenance import copy_entries
from orientation_core.dossier.volets import GRAND_AGE_VOLETS, SANITAIRE_VOLETS, Module
from orientation_core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from orientation_core.history import HistoryEvent, notify, record
from orientation_core.patients.model import Patient
from orientation_core.people.policy import (
    ROLE_ACTIONS,
    Action,
    DemandeRecueScope,
    DossierScope,
    Subject,
    allowed,
    delegated_actions,
    require,
)
from orientation_core.people.service import subject_for
from orientation_core.ports import Env, UnitOfWork

PRESCRIPTEUR = Actor.PRESCRIPTEUR.value
PARIS = ZoneInfo("Europe/Paris")

# Administrative data shared by the two modules (copied to a linked dossier, prefilled from the registry).
IDENTITY_FIELDS = ("nom_naissance", "prenoms", "date_naissance", "sexe", "nom_utilise")
# Every field the Sanitaire administratif et social volet shares with the Grand Âge volet administratif.
SHARED_ADMIN_FIELDS = tuple(f for f in next(v for v in SANITAIRE_VOLETS if v.name == "administratif_social").fields
                            if f in next(v for v in GRAND_AGE_VOLETS if v.name == "administratif").fields)


def scope_of(dossier: Dossier) -> DossierScope:
    return DossierScope(dossier.etablissement_id, dossier.unite_id, dossier.owner_user_id)


def identity_values(patient: Patient) -> dict[str, Any]:
    values: dict[str, Any] = {
        "nom_naissance": patient.nom_naissance,
        "prenoms": " ".join(patient.prenoms),
        "date_naissance": patient.date_naissance.isoformat(),
        "sexe": patient.sexe.value,
    }
    if patient.nom_utilise:
        values["nom_utilise"] = patient.nom_utilise
    if patient.adresse:
        values["adresse"] = ", ".join(p for p in (patient.adresse, patient.code_postal, patient.ville) if p)
    if patient.telephone:
        values["telephone"] = patient.telephone
    return values


def _admin_volet(module: Module) -> str:
    return "administratif_social" if module is Module.SANITAIRE else "administratif"


def creer(uow: UnitOfWork, env: Env, user_id: int, module: Module, patient_id: int, *,
          unite_id: int | None = None, owner_user_id: int | None = None, anticipee: bool = False,
          sejour_id: int | None = None) -> Dossier:
    """Create a dossier for a patient, in a requesting unit or (médecin libéral) in the owner's own space."""
    now = env.clock.now()
    subject = subject_for(uow, user_id)
    etablissement_id: int | None = None
    if unite_id is not None:
        etablissement_id = uow.directory.get_unite(unite_id).etablissement_id
        owner_user_id = None
    elif owner_user_id is None:
        owner_user_id = user_id
    scope = DossierScope(etablissement_id, unite_id, owner_user_id)
    require(subject, Action.DOSSIER_CREER, scope, now)
    patient = uow.patients.get(patient_id)
    if patient.merged_into_id is not None:
        raise Conflict("Cette identité a été fusionnée : utilisez l'identité conservée.", code="patient.fusionne")
    dossier = Dossier(
        module=module, patient_id=patient_id, created_by_id=user_id, etablissement_id=etablissement_id,
        unite_id=unite_id, owner_user_id=owner_user_id, sejour_id=sejour_id, anticipee=anticipee,
        patient_nom_affiche=patient.nom_affiche, patient_nom_recherche=patient.nom_recherche,
        patient_nom_naissance_recherche=patient.nom_naissance_recherche,
        created_at=now,
    )
    dossier.volets = {_admin_volet(module): {k: v for k, v in identity_values(patient).items()
                                              if k in dossier.volet_spec(_admin_volet(module)).fields}}
    dossier.touch(now, by_prescripteur=True)
    uow.dossiers.add(dossier)
    uow.flush()
    assert dossier.id is not None
    dossier.numero = numero_for(module, dossier.id)
    record(uow, dossier.id, now, "dossier.creer", PRESCRIPTEUR, user_id,
           apres={"module": module.value, "anticipee": anticipee, "unite_id": unite_id})
    return dossier


def load(uow: UnitOfWork, env: Env, user_id: int, dossier_id: int, action: Action = Action.DOSSIER_LIRE
         ) -> tuple[Dossier, Subject]:
    dossier = uow.dossiers.get(dossier_id)
    subject = subject_for(uow, user_id)
    if not (action is Action.DOSSIER_LIRE and subject.est_medecin and _medecin_traitant_accepte(uow, user_id,
                                                                                                   dossier)):
        require(subject, action, scope_of(dossier), env.clock.now())
    return dossier, subject


def _medecin_traitant_accepte(uow: UnitOfWork, user_id: int, dossier: Dossier) -> bool:
    """The médecin traitant named in the dossier reads it once he accepted it (DOSSIER_LIRE only)."""
    from orientation_core.people import liberal

    return liberal.a_accepte(uow, user_id, dossier)


def modifier_volet(uow: UnitOfWork, env: Env, user_id: int, dossier_id: int, volet: str,
                   values: dict[str, Any]) -> Dossier:
    dossier = uow.dossiers.get(dossier_id)
    spec = dossier.volet_spec(volet)
    action = Action.VOLET_MEDICAL_MODIFIER if spec.medical else Action.DOSSIER_MODIFIER
    require(subject_for(uow, user_id), action, scope_of(dossier), env.clock.now())
    now = env.clock.now()
    before, orientation_changed = dossier.update_volet(volet, values)
    if not before:
        return dossier
    assert dossier.id is not None
    dossier.touch(now, by_prescripteur=True)
    record(uow, dossier.id, now, f"volet.{volet}.modifier", PRESCRIPTEUR, user_id,
           avant=before, apres={k: dossier.volets[volet].get(k) for k in before})
    if orientation_changed:
        flag_resend(uow, dossier, now, PRESCRIPTEUR, user_id)
    return dossier


def flag_resend(uow: UnitOfWork, dossier: Dossier, now: dt.datetime, actor_kind: str, user_id: int | None) -> None:
    """The orientation type changed: sent demandes have to be re-sent by hand (the UI says so)."""
    assert dossier.id is not None
    flagged = []
    for demande in uow.demandes.for_dossier(dossier.id):
        if demande.statut in ACTIVE_STATUSES - {Status.CONFIRMEE}:
            demande.a_renvoyer = True
            flagged.append(demande.id)
    if flagged:
        record(uow, dossier.id, now, "orientation.modifiee", actor_kind, user_id,
               apres={"demandes_a_renvoyer": flagged, "type_orientation": dossier.type_orientation})


def modifier_bloc_note(uow: UnitOfWork, env: Env, user_id: int, dossier_id: int, texte: str) -> Dossier:
    dossier, _ = load(uow, env, user_id, dossier_id, Action.DOSSIER_MODIFIER)
    dossier.require_writable()
    now = env.clock.now()
    assert dossier.id is not None
    record(uow, dossier.id, now, "bloc_note.modifier", PRESCRIPTEUR, user_id,
           avant={"bloc_note": dossier.bloc_note}, apres={"bloc_note": texte})
    dossier.bloc_note = texte
    dossier.touch(now, by_prescripteur=True)
    return dossier


def ajouter_piece_jointe(uow: UnitOfWork, env: Env, user_id: int, dossier_id: int, nom: str, type_mime: str,
                         taille: int, categorie: str = "", storage_key: str = "",
                         contenu: bytes | None = None) -> PieceJointe:
    """Attach a file (its metadata; with ``contenu`` the bytes too, stored apart and sized from them)."""
    if contenu is not None:
        taille = len(contenu)
    dossier, _ = load(uow, env, user_id, dossier_id, Action.DOSSIER_MODIFIER)
    dossier.require_writable()
    if type_mime not in ALLOWED_MIME:
        raise ValidationFailed(f"Type de fichier non accepté : {type_mime} (PDF, JPEG, PNG ou texte).",
                               code="piece_jointe.type")
    if taille <= 0 or taille > MAX_ATTACHMENT_BYTES:
        raise ValidationFailed(f"Taille de fichier refusée : {taille} octets (10 Mo au plus).",
                               code="piece_jointe.taille")
    now = env.clock.now()
    assert dossier.id is not None
    piece = PieceJointe(dossier_id=dossier.id, nom=nom, type_mime=type_mime, taille=taille, added_by_id=user_id,
                        added_at=now, categorie=categorie, storage_key=storage_key)
    uow.dossiers.add_piece_jointe(piece)
    if contenu is not None:
        uow.flush()
        assert piece.id is not None
        uow.dossiers.save_contenu(piece.id, contenu)
    dossier.nb_pieces_jointes += 1
    dossier.touch(now, by_prescripteur=True)
    record(uow, dossier.id, now, "piece_jointe.ajouter", PRESCRIPTEUR, user_id,
           apres={"nom": nom, "type_mime": type_mime, "taille": taille})
    return piece


def lire_piece_jointe(uow: UnitOfWork, env: Env, user_id: int, dossier_id: int, piece_id: int
                      ) -> tuple[PieceJointe, bytes | None]:
    """An attachment of the dossier and its bytes (None when only its metadata was recorded), for whoever may
    read the dossier, or read a demande of it received by his unit."""
    dossier = uow.dossiers.get(dossier_id)
    subject = subject_for(uow, user_id)
    now = env.clock.now()
    if not allowed(subject, Action.DOSSIER_LIRE, scope_of(dossier), now) and not any(
            allowed(subject, Action.DEMANDE_RECUE_LIRE, DemandeRecueScope(
                d.unite_id, uow.directory.get_unite(d.unite_id).etablissement_id), now)
            for d in uow.demandes.for_dossier(dossier_id) if d.statut is not Status.EN_REDACTION):
        require(subject, Action.DOSSIER_LIRE, scope_of(dossier), now)  # raises the usual refusal
    piece = uow.dossiers.get_piece_jointe(piece_id)
    if piece is None or piece.dossier_id != dossier_id:
        raise NotFound("Pièce jointe introuvable.", code="piece_jointe.introuvable")
    return piece, uow.dossiers.contenu(piece_id)


def creer_grand_age_lie(uow: UnitOfWork, env: Env, user_id: int, dossier_id: int) -> Dossier:
    """"Créer un dossier Grand Âge en parallèle": shared administrative data copied, link visible both ways."""
    source, _ = load(uow, env, user_id, dossier_id, Action.DOSSIER_CREER)
    source.require_writable()
    if source.module is not Module.SANITAIRE:
        raise ValidationFailed("Le dossier lié se crée depuis un dossier Sanitaire.", code="dossier.lien_module")
    if source.dossier_lie_id is not None:
        raise Conflict("Ce dossier a déjà un dossier Grand Âge lié.", code="dossier.deja_lie")
    linked = creer(uow, env, user_id, Module.GRAND_AGE, source.patient_id, unite_id=source.unite_id,
                   owner_user_id=source.owner_user_id, sejour_id=source.sejour_id)
    shared = {k: v for k, v in source.volets.get("administratif_social", {}).items() if k in SHARED_ADMIN_FIELDS}
    if shared:  # a copy, not a user edit: the linked dossier's DPI refresh keeps working on these fields
        linked.update_volet("administratif", shared, edited=False)
        linked.provenance = copy_entries(source.provenance, "administratif_social", list(shared),
                                         linked.provenance, "administratif")
    assert source.id is not None and linked.id is not None
    source.dossier_lie_id, linked.dossier_lie_id = linked.id, source.id
    now = env.clock.now()
    source.touch(now, by_prescripteur=True)
    record(uow, source.id, now, "dossier.lier", PRESCRIPTEUR, user_id, apres={"dossier_lie": linked.numero})
    record(uow, linked.id, now, "dossier.lier", PRESCRIPTEUR, user_id, apres={"dossier_lie": source.numero})
    return linked


def transferer(uow: UnitOfWork, env: Env, user_id: int, dossier_id: int, unite_id: int) -> Dossier:
    """Move the dossier to another requesting unit of the same établissement (the patient changed unit)."""
    dossier, _ = load(uow, env, user_id, dossier_id, Action.DOSSIER_MODIFIER)
    dossier.require_writable()
    target = uow.directory.get_unite(unite_id)
    if dossier.etablissement_id is None or target.etablissement_id != dossier.etablissement_id:
        raise ValidationFailed("Le transfert se fait vers une unité du même établissement.",
                               code="dossier.transfert_etablissement")
    if target.id == dossier.unite_id:
        raise ValidationFailed("Le dossier est déjà dans cette unité.", code="dossier.transfert_meme_unite")
    now = env.clock.now()
    assert dossier.id is not None
    record(uow, dossier.id, now, "dossier.transferer", PRESCRIPTEUR, user_id,
           avant={"unite_id": dossier.unite_id}, apres={"unite_id": unite_id})
    dossier.unite_id = unite_id
    dossier.touch(now, by_prescripteur=True)
    return dossier


def retour_domicile(uow: UnitOfWork, env: Env, user_id: int, dossier_id: int, date: dt.date | None) -> Dossier:
    """"Retour à domicile avant SSR": after that date the dossier shows in its own dashboard section."""
    dossier, _ = load(uow, env, user_id, dossier_id, Action.DOSSIER_MODIFIER)
    dossier.require_writable()
    if dossier.module is not Module.SANITAIRE:
        raise ValidationFailed("Le retour à domicile avant SSR concerne les dossiers Sanitaire.",
                               code="dossier.retour_domicile_module")
    now = env.clock.now()
    assert dossier.id is not None
    record(uow, dossier.id, now, "dossier.retour_domicile", PRESCRIPTEUR, user_id,
           avant={"date": dossier.retour_domicile_date.isoformat() if dossier.retour_domicile_date else None},
           apres={"date": date.isoformat() if date else None})
    dossier.retour_domicile_date = date
    dossier.touch(now, by_prescripteur=True)
    return dossier


def annuler_dossier(uow: UnitOfWork, env: Env, user_id: int, dossier_id: int, motif: str) -> Dossier:
    """Cancel the dossier and each of its live demandes; reactivable until archived."""
    dossier, _ = load(uow, env, user_id, dossier_id, Action.DEMANDE_ANNULER)
    if not motif.strip():
        raise ValidationFailed("Le motif d'annulation est obligatoire.", code="dossier.motif_obligatoire")
    now = env.clock.now()
    assert dossier.id is not None
    cancel_demandes(uow, env, dossier, Motif.DOSSIER_ANNULE.value, user_id)
    dossier.annuler(now, motif.strip())
    dossier.touch(now, by_prescripteur=True)
    record(uow, dossier.id, now, "dossier.annuler", PRESCRIPTEUR, user_id, apres={"motif": motif.strip()})
    return dossier


def cancel_demandes(uow: UnitOfWork, env: Env, dossier: Dossier, motif: str, user_id: int | None,
                    *, exclude: int | None = None) -> list[int]:
    """System cancellation of the dossier's live demandes (confirmation elsewhere, dossier cancelled, timers)."""
    now = env.clock.now()
    assert dossier.id is not None
    cancelled: list[int] = []
    for demande in uow.demandes.for_dossier(dossier.id):
        if demande.id == exclude or not (demande.active or demande.statut is Status.EN_REDACTION):
            continue
        change = demande.apply("annuler_systeme", actor=Actor.SYSTEM, at=now, timers=env.timers, motif=motif)
        record(uow, dossier.id, now, "demande.annuler_systeme", Actor.SYSTEM.value, user_id,
               demande_id=demande.id, avant=change.before, apres=change.after)
        if change.before["statut"] != Status.EN_REDACTION.value:
            notify(uow, now, "demande.statut", demande_id=demande.id, dossier_id=dossier.id,
                   destinataire="receveur", statut=Status.ANNULEE.value, motif=motif)
        assert demande.id is not None
        cancelled.append(demande.id)
    return cancelled


def reactiver_dossier(uow: UnitOfWork, env: Env, user_id: int, dossier_id: int) -> Dossier:
    dossier, _ = load(uow, env, user_id, dossier_id, Action.DEMANDE_ENVOYER)
    now = env.clock.now()
    assert dossier.id is not None
    has_sent = any(d.envoyee_at is not None for d in uow.demandes.for_dossier(dossier.id))
    dossier.reactiver(now, env.timers.archivage, has_sent)
    dossier.touch(now, by_prescripteur=True)
    record(uow, dossier.id, now, "dossier.reactiver", PRESCRIPTEUR, user_id, apres={"etat": dossier.etat.value})
    return dossier


def annuler_relance_auto(uow: UnitOfWork, env: Env, user_id: int, dossier_id: int) -> Dossier:
    """The prescripteur keeps the dossier: the automatic relance is withdrawn, the two-month delay restarts."""
    dossier, _ = load(uow, env, user_id, dossier_id, Action.DOSSIER_MODIFIER)
    if dossier.relance_auto_at is None:
        raise Conflict("Ce dossier n'a pas de relance en cours.", code="dossier.pas_de_relance")
    now = env.clock.now()
    assert dossier.id is not None
    record(uow, dossier.id, now, "relance_auto.annuler", PRESCRIPTEUR, user_id,
           avant={"relance_auto_at": dossier.relance_auto_at.isoformat()})
    dossier.touch(now, by_prescripteur=True)
    return dossier


def historique(uow: UnitOfWork, env: Env, user_id: int, dossier_id: int) -> list[HistoryEvent]:
    load(uow, env, user_id, dossier_id)
    return uow.history.for_dossier(dossier_id)


def dashboard(uow: UnitOfWork, env: Env, user_id: int, *, section: Section = Section.EN_COURS,
              statuts: frozenset[Status] = frozenset(), recherche: str = "", unite_id: int | None = None,
              module: Module | None = None, page: int = 1, page_size: int = 50) -> Page[DossierRow]:
    """The prescripteur dashboard, restricted to the units and libéral dossiers the user may read."""
    subject = subject_for(uow, user_id)
    now = env.clock.now()
    unites = frozenset(u for u in subject.unites() if Action.DOSSIER_LIRE in _unit_actions(subject, u))
    owners = frozenset({user_id} | {  # délégants whose délégation lets this user read their dossiers
        d.delegant_id for d in subject.delegations
        if d.active_at(now) and Action.DOSSIER_LIRE in delegated_actions(d, subject.est_medecin)})
    if unite_id is not None:
        if unite_id not in unites:
            raise Forbidden("Vous n'avez pas accès au tableau de bord de cette unité.")
        unites, owners = frozenset({unite_id}), frozenset()
    query = PrescripteurQuery(unite_ids=unites, owner_ids=owners, now=now, today=paris_today(now), section=section,
                              statuts=statuts, module=module, recherche=recherche.strip(), page=max(page, 1),
                              page_size=min(max(page_size, 1), 200))
    return uow.dossiers.prescripteur_dashboard(query)


def _unit_actions(subject: Subject, unite_id: int) -> set[Action]:
    return {a for r in subject.roles_on_unit(unite_id) for a in ROLE_ACTIONS[r]}


def paris_today(now: dt.datetime) -> dt.date:
    """Dates a user types (retour à domicile) are French calendar dates."""
    return now.astimezone(PARIS).date()
