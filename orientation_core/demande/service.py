"""Use cases on demandes: select units, send, answer, confirm, cancel, relance, finalise (DOMAIN.md §4)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from orientation_core.dashboard import DemandeRow, Page, ReceveurQuery
from orientation_core.demande.model import Demande
from orientation_core.demande.workflow import ACTIONS, Actor, Motif, Status, transition_for
from orientation_core.directory.model import MODULE_OF_TYPE, TypeUnite
from orientation_core.dossier.model import Dossier, EtatDossier
from orientation_core.dossier.service import cancel_demandes, scope_of
from orientation_core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from orientation_core.history import notify, record
from orientation_core.people.model import Role
from orientation_core.people.policy import Action, DemandeRecueScope, allowed, require
from orientation_core.people.service import subject_for
from orientation_core.ports import Env, UnitOfWork

# Which right each workflow action needs, and on which side.
ACTION_RIGHTS: dict[str, Action] = {
    "envoyer": Action.DEMANDE_ENVOYER,
    "renvoyer": Action.DEMANDE_ENVOYER,
    "reactiver": Action.DEMANDE_ENVOYER,
    "repondre_precision": Action.DEMANDE_ENVOYER,
    "confirmer": Action.DEMANDE_CONFIRMER,
    "annuler": Action.DEMANDE_ANNULER,
    "relancer_receveur": Action.DEMANDE_RELANCER,
    "demander_precision": Action.DEMANDE_REPONDRE,
    "accorder": Action.DEMANDE_REPONDRE,
    "accepter": Action.DEMANDE_REPONDRE,
    "refuser": Action.DEMANDE_REPONDRE,
    "finaliser_admission": Action.ADMISSION_FINALISER,
    "relancer_prescripteur": Action.RECEVEUR_RELANCER,
}


@dataclass(frozen=True)
class Answer:
    """What a user sends with an action (only the fields that action needs are read)."""

    motif: str = ""
    question: str = ""
    reponse: str = ""
    date_debut: dt.date | None = None
    date_fin: dt.date | None = None
    date_admission: dt.date | None = None


def selectionner(uow: UnitOfWork, env: Env, user_id: int, dossier_id: int, unite_ids: Sequence[int], *,
                 envoyer: bool = False) -> list[Demande]:
    """Pick receiving units for a dossier (one demande each, "en cours de rédaction"), and send them at once
    when asked."""
    dossier = uow.dossiers.get(dossier_id)
    require(subject_for(uow, user_id), Action.DEMANDE_ENVOYER, scope_of(dossier), env.clock.now())
    dossier.require_writable()
    if not unite_ids:
        raise ValidationFailed("Choisissez au moins une unité.", code="demande.aucune_unite")
    assert dossier.id is not None
    existing = {d.unite_id: d for d in uow.demandes.for_dossier(dossier.id)}
    unites = uow.directory.unites(list(unite_ids))
    now = env.clock.now()
    created: list[Demande] = []
    for unite_id in dict.fromkeys(unite_ids):
        unite = unites.get(unite_id)
        if unite is None:
            raise NotFound(f"Unité {unite_id} introuvable.")
        if unite.type is TypeUnite.MCO or MODULE_OF_TYPE[unite.type].value != dossier.module.value or not unite.actif:
            raise ValidationFailed(f"L'unité « {unite.nom} » ne reçoit pas de demandes de ce module.",
                                   code="demande.unite_incompatible")
        previous = existing.get(unite_id)
        if previous is not None and previous.statut not in (Status.ANNULEE, Status.ARCHIVEE):
            raise Conflict(f"Une demande existe déjà pour l'unité « {unite.nom} ».", code="demande.existe")
        demande = Demande(dossier_id=dossier.id, unite_id=unite_id, statut_at=now, created_at=now, updated_at=now)
        uow.demandes.add(demande)
        created.append(demande)
    uow.flush()
    for demande in created:
        record(uow, dossier.id, now, "demande.selectionner", Actor.PRESCRIPTEUR.value, user_id,
               demande_id=demande.id, apres={"unite_id": demande.unite_id})
    if envoyer:
        for demande in created:
            assert demande.id is not None
            agir(uow, env, user_id, demande.id, "envoyer")
    dossier.touch(now, by_prescripteur=True)
    return created


def agir(uow: UnitOfWork, env: Env, user_id: int, demande_id: int, action: str,
         answer: Answer | None = None) -> Demande:
    """Run one workflow action as a user, with rights, guards, history and notifications."""
    answer = answer or Answer()
    demande = uow.demandes.get(demande_id)
    dossier = uow.dossiers.get(demande.dossier_id)
    if action not in ACTIONS:
        raise NotFound(f"Action inconnue : « {action} ».", code="demande.action_inconnue")
    right = ACTION_RIGHTS.get(action)
    if right is None:
        raise Forbidden(f"L'action « {action} » n'est pas accessible aux utilisateurs.", code="demande.action_systeme")
    subject = subject_for(uow, user_id)
    now = env.clock.now()
    receveur_side = right in (Action.DEMANDE_REPONDRE, Action.ADMISSION_FINALISER, Action.RECEVEUR_RELANCER)
    if receveur_side:
        unite = uow.directory.get_unite(demande.unite_id)
        require(subject, right, DemandeRecueScope(demande.unite_id, unite.etablissement_id), now)
        actor = Actor.RECEVEUR
    else:
        require(subject, right, scope_of(dossier), now)
        actor = Actor.PRESCRIPTEUR
    transition_for(action, demande.statut, actor)  # refuse on status before looking at the dossier
    _check_dossier(dossier, action, env, demande)
    change = demande.apply(action, actor=actor, at=now, timers=env.timers, motif=answer.motif,
                           question=answer.question, reponse=answer.reponse, date_debut=answer.date_debut,
                           date_fin=answer.date_fin, date_admission=answer.date_admission)
    assert dossier.id is not None
    record(uow, dossier.id, now, f"demande.{action}", actor.value, user_id, demande_id=demande.id,
           avant=change.before, apres=change.after)
    notify(uow, now, "demande.statut", demande_id=demande.id, dossier_id=dossier.id, action=action,
           destinataire="prescripteur" if receveur_side else "receveur", statut=demande.statut.value,
           motif=demande.motif)
    if action in ("envoyer", "renvoyer", "reactiver") and dossier.etat is EtatDossier.BROUILLON:
        dossier.etat = EtatDossier.ENVOYE
    if action == "confirmer":
        cancel_demandes(uow, env, dossier, Motif.CONFIRMEE_AILLEURS.value, user_id, exclude=demande.id)
    if action == "finaliser_admission":
        dossier.etat = EtatDossier.ADMIS
    dossier.touch(now, by_prescripteur=not receveur_side)
    return demande


def _check_dossier(dossier: Dossier, action: str, env: Env, demande: Demande) -> None:
    if action in ("envoyer", "renvoyer", "reactiver", "repondre_precision", "confirmer", "relancer_receveur"):
        dossier.require_writable()
    if action in ("envoyer", "renvoyer", "reactiver") and not (dossier.complet or dossier.anticipee):
        missing = [s.label for s in dossier.volet_states() if s.missing]
        raise ValidationFailed(
            "Le dossier n'est pas complet : " + ", ".join(missing) + ". Complétez ces volets ou faites une "
            "demande anticipée.",
            code="dossier.incomplet",
            details={"volets": missing},
        )
    if action == "confirmer" and dossier.etat is not EtatDossier.ENVOYE:
        raise Conflict("Ce dossier n'attend plus de confirmation.", code="dossier.etat")


def consulter_recue(uow: UnitOfWork, env: Env, user_id: int, demande_id: int) -> tuple[Demande, Dossier, bool]:
    """A receiving unit reads a demande. Returns whether the médical volet may be shown; each opening of a
    médical volet is traced in the history."""
    demande = uow.demandes.get(demande_id)
    if demande.statut is Status.EN_REDACTION:
        raise NotFound("Demande introuvable.")
    unite = uow.directory.get_unite(demande.unite_id)
    subject = subject_for(uow, user_id)
    now = env.clock.now()
    scope = DemandeRecueScope(demande.unite_id, unite.etablissement_id)
    require(subject, Action.DEMANDE_RECUE_LIRE, scope, now)
    dossier = uow.dossiers.get(demande.dossier_id)
    medical = allowed(subject, Action.VOLET_MEDICAL_RECU_LIRE, scope, now)
    if medical:
        assert dossier.id is not None
        record(uow, dossier.id, now, "volet_medical.consulter", Actor.RECEVEUR.value, user_id,
               demande_id=demande.id)
    return demande, dossier, medical


def receveur_dashboard(uow: UnitOfWork, env: Env, user_id: int, *, unite_id: int | None = None,
                       statuts: frozenset[Status] = frozenset(), recherche: str = "", page: int = 1,
                       page_size: int = 50) -> Page[DemandeRow]:
    subject = subject_for(uow, user_id)
    unites = frozenset(subject.unites(Role.RECEVEUR, Role.RECEVEUR_MEDICAL, Role.MEDECIN_COORDONNATEUR))
    if unite_id is not None:
        if unite_id not in unites:
            raise Forbidden("Vous ne recevez pas les demandes de cette unité.")
        unites = frozenset({unite_id})
    return uow.demandes.receveur_list(ReceveurQuery(
        unite_ids=unites, statuts=statuts, recherche=recherche.strip(), page=max(page, 1),
        page_size=min(max(page_size, 1), 200)))
