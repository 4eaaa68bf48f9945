"""Delivery of the outbox after commit: each message becomes in-app notifications for the right users.

Runs as the ``notifications.dispatch`` task (Celery, or in-process without a broker). Idempotent: a
message is marked dispatched in the same transaction that writes its notifications.
"""

from __future__ import annotations

from orientation_core.demande.workflow import STATUS_LABELS, Status
from orientation_core.history import Notification, OutboxMessage
from orientation_core.people import accounts
from orientation_core.people.model import Role
from orientation_core.ports import Env, UnitOfWork

PRESCRIPTEUR_ROLES = (Role.PRESCRIPTEUR, Role.PRESCRIPTEUR_MEDICAL)
RECEVEUR_ROLES = (Role.RECEVEUR, Role.RECEVEUR_MEDICAL, Role.MEDECIN_COORDONNATEUR)
ALERT_FOOTER = "Vous recevez ce message car les alertes e-mail sont activées dans « Mon compte »."


def dispatch(uow: UnitOfWork, env: Env, limit: int = 200) -> int:
    """Deliver pending outbox messages; returns how many were delivered."""
    delivered = 0
    for message in uow.outbox.pending(limit):
        _deliver(uow, env, message)
        message.dispatched_at = env.clock.now()
        message.attempts += 1
        delivered += 1
    uow.flush()
    return delivered


def _recipients(uow: UnitOfWork, env: Env, message: OutboxMessage) -> set[int]:
    payload = message.payload
    side = payload.get("destinataire")
    users: set[int] = set()
    dossier = uow.dossiers.get(int(payload["dossier_id"])) if payload.get("dossier_id") else None
    if side in ("prescripteur", "both") and dossier is not None:
        if dossier.unite_id is not None:
            users |= {u.id for u in uow.users.holders(dossier.unite_id, PRESCRIPTEUR_ROLES) if u.id is not None}
        if dossier.owner_user_id is not None:
            users.add(dossier.owner_user_id)
            users |= {u.id for u in uow.users.delegates_of(dossier.owner_user_id, env.clock.now())
                      if u.id is not None}
    if side in ("receveur", "both") and payload.get("demande_id"):
        demande = uow.demandes.get(int(payload["demande_id"]))
        users |= {u.id for u in uow.users.holders(demande.unite_id, RECEVEUR_ROLES) if u.id is not None}
    return users


def _deliver(uow: UnitOfWork, env: Env, message: OutboxMessage) -> None:
    payload = message.payload
    titre, texte = _text(message)
    numero = uow.dossiers.get(int(payload["dossier_id"])).numero if payload.get("dossier_id") else ""
    for user_id in sorted(_recipients(uow, env, message)):
        uow.notifications.add(Notification(
            user_id=user_id, titre=titre, message=texte, created_at=message.created_at,
            dossier_id=payload.get("dossier_id"), demande_id=payload.get("demande_id"),
        ))
        user = uow.users.get(user_id)
        if payload.get("alerte_email", True) and user.alertes_email and user.actif and user.email:
            # Alerts are on by default (the incumbent's are off and users miss status changes). An e-mail leaves
            # the hospital's systems: it names the dossier number only, never the patient.
            accounts.mail(uow, env, user.email, f"Aiguillage : {titre}" + (f" (dossier {numero})" if numero else ""),
                          f"{texte}\n\nDossier {numero or '—'} : connectez-vous à Aiguillage pour le consulter.\n"
                          f"{ALERT_FOOTER}")


def _text(message: OutboxMessage) -> tuple[str, str]:
    payload = message.payload
    if message.kind == "dossier.relance_auto":
        return ("Relance automatique",
                "Ce dossier a une proposition non confirmée et aucune action depuis deux mois : confirmez, "
                "annulez la relance ou annulez le dossier.")
    if message.kind == "dossier.annule":
        return "Dossier annulé", f"Motif : {payload.get('motif', '')}"
    statut = Status(payload.get("statut", Status.EN_ATTENTE.value))
    action = payload.get("action", "")
    if action == "relancer_receveur":
        return "Relance du prescripteur", "Le prescripteur attend la transformation de votre accord de principe."
    if action == "relancer_prescripteur":
        return "Relance du receveur", "L'unité receveuse attend la confirmation de la date d'admission."
    motif = f" — {payload['motif']}" if payload.get("motif") else ""
    return f"Demande : {STATUS_LABELS[statut]}", f"La demande est désormais « {STATUS_LABELS[statut]} »{motif}."
