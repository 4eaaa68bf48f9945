"""Demande statuses and the explicit transition table (DOMAIN.md §4).

The table is the documentation: an (action, status) pair that is not listed is refused with
``TransitionNotAllowed``. Guards that need more than the status (dates, timers, the dossier being complete)
live in ``model.py`` / ``service.py`` and are named in ``Transition.guard``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from orientation_core.errors import TransitionNotAllowed


class Status(StrEnum):
    EN_REDACTION = "en_cours_de_redaction"
    EN_ATTENTE = "en_attente_de_reponse"
    DEMANDE_PRECISION = "demande_de_precision"
    ACCORD_DE_PRINCIPE = "accord_de_principe"
    ACCEPTEE = "acceptee"
    REFUSEE = "refusee"
    CONFIRMEE = "confirmee"
    ADMISSION_FINALISEE = "admission_finalisee"
    ANNULEE = "annulee"
    ARCHIVEE = "archivee"


STATUS_LABELS: dict[Status, str] = {
    Status.EN_REDACTION: "En cours de rédaction",
    Status.EN_ATTENTE: "En attente de réponse",
    Status.DEMANDE_PRECISION: "Demande de précision",
    Status.ACCORD_DE_PRINCIPE: "Accord de principe",
    Status.ACCEPTEE: "Acceptée",
    Status.REFUSEE: "Refusée",
    Status.CONFIRMEE: "Confirmée",
    Status.ADMISSION_FINALISEE: "Admission finalisée",
    Status.ANNULEE: "Annulée",
    Status.ARCHIVEE: "Archivée",
}


class Actor(StrEnum):
    PRESCRIPTEUR = "prescripteur"
    RECEVEUR = "receveur"
    SYSTEM = "system"


class Motif(StrEnum):
    """Cancellation motives set by the system; a user's own motive is free text."""

    CONFIRMEE_AILLEURS = "Confirmée dans une autre structure"
    ANNULATION_AUTOMATIQUE = "Annulation automatique"
    DOSSIER_ANNULE = "Dossier annulé"


# Sent and still alive: the receiver may still answer or the prescripteur still has to act.
ACTIVE_STATUSES: frozenset[Status] = frozenset(
    {Status.EN_ATTENTE, Status.DEMANDE_PRECISION, Status.ACCORD_DE_PRINCIPE, Status.ACCEPTEE, Status.CONFIRMEE}
)
# Until the prescripteur confirms, receivers may change their answer (seed 003, "Confirmation de la proposition").
ANSWERABLE: frozenset[Status] = frozenset(
    {Status.EN_ATTENTE, Status.DEMANDE_PRECISION, Status.ACCORD_DE_PRINCIPE, Status.ACCEPTEE, Status.REFUSEE}
)
# A proposition the prescripteur has not confirmed yet (automatic relance rule).
PROPOSITIONS: frozenset[Status] = frozenset({Status.ACCORD_DE_PRINCIPE, Status.ACCEPTEE})
CANCELLABLE: frozenset[Status] = frozenset({Status.EN_REDACTION, Status.REFUSEE} | ACTIVE_STATUSES)


@dataclass(frozen=True)
class Transition:
    action: str
    source: frozenset[Status]
    target: Status | None  # None: the status does not change (relances)
    actor: Actor
    guard: str = ""  # names the rule checked beyond the status


TRANSITIONS: tuple[Transition, ...] = (
    Transition("envoyer", frozenset({Status.EN_REDACTION}), Status.EN_ATTENTE, Actor.PRESCRIPTEUR,
               "dossier complet, ou demande anticipée"),
    Transition("renvoyer", ACTIVE_STATUSES - {Status.CONFIRMEE} | {Status.REFUSEE}, Status.EN_ATTENTE,
               Actor.PRESCRIPTEUR, "après un changement d'orientation"),
    Transition("demander_precision", ANSWERABLE, Status.DEMANDE_PRECISION, Actor.RECEVEUR, "question obligatoire"),
    Transition("repondre_precision", frozenset({Status.DEMANDE_PRECISION}), Status.EN_ATTENTE, Actor.PRESCRIPTEUR,
               "réponse obligatoire"),
    Transition("accorder", ANSWERABLE, Status.ACCORD_DE_PRINCIPE, Actor.RECEVEUR,
               "fourchette de dates ou date approximative obligatoire"),
    Transition("accepter", ANSWERABLE, Status.ACCEPTEE, Actor.RECEVEUR, "date d'admission proposée obligatoire"),
    Transition("refuser", ANSWERABLE, Status.REFUSEE, Actor.RECEVEUR, "motif obligatoire"),
    Transition("confirmer", frozenset({Status.ACCEPTEE}), Status.CONFIRMEE, Actor.PRESCRIPTEUR,
               "annule les autres demandes actives du dossier"),
    Transition("finaliser_admission", frozenset({Status.CONFIRMEE}), Status.ADMISSION_FINALISEE, Actor.RECEVEUR),
    Transition("annuler", CANCELLABLE, Status.ANNULEE, Actor.PRESCRIPTEUR, "motif obligatoire"),
    Transition("annuler_systeme", CANCELLABLE, Status.ANNULEE, Actor.SYSTEM,
               "confirmation ailleurs, annulation du dossier ou annulation automatique"),
    Transition("reactiver", frozenset({Status.ANNULEE}), Status.EN_ATTENTE, Actor.PRESCRIPTEUR,
               "avant l'archivage"),
    Transition("archiver", frozenset({Status.ANNULEE, Status.REFUSEE}), Status.ARCHIVEE, Actor.SYSTEM,
               "15 jours après l'annulation"),
    Transition("relancer_receveur", frozenset({Status.ACCORD_DE_PRINCIPE}), None, Actor.PRESCRIPTEUR,
               "accord de principe non transformé depuis 72 h"),
    Transition("relancer_prescripteur", frozenset({Status.ACCEPTEE}), None, Actor.RECEVEUR,
               "date proposée non confirmée depuis 72 h"),
)

_BY_ACTION: dict[str, Transition] = {t.action: t for t in TRANSITIONS}
ACTIONS: frozenset[str] = frozenset(_BY_ACTION)


def transition_for(action: str, current: Status, actor: Actor) -> Transition:
    """The transition for ``action`` from ``current`` by ``actor``, or ``TransitionNotAllowed``."""
    transition = _BY_ACTION.get(action)
    if transition is None:
        raise TransitionNotAllowed(f"Action inconnue : « {action} ».", code="demande.action_inconnue")
    if transition.actor is not actor:
        raise TransitionNotAllowed(
            f"L'action « {action} » est réservée au {transition.actor.value}.",
            details={"action": action, "actor": actor.value},
        )
    if current not in transition.source:
        raise TransitionNotAllowed(
            f"Action « {action} » impossible : la demande est « {STATUS_LABELS[current]} ».",
            details={"action": action, "statut": current.value},
        )
    return transition


def allowed_actions(current: Status, actor: Actor) -> list[str]:
    return [t.action for t in TRANSITIONS if t.actor is actor and current in t.source]
