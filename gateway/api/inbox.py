"""Operator console of inbound messages (HL7 v2 / FHIR inbox): search, one message with its raw text, its mapping
and its attempts, replay one or many, dead letters. Platform administrators only (raw messages carry every
patient's identity)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from gateway.api.deps import ContainerDep, UserId
from gateway.container import Container
from mappings.fhir.intake import to_canonical as fhir_to_canonical
from mappings.hl7v2 import Hl7ParseError, decode, map_message
from orientation_core.errors import Forbidden, NotFound, ValidationFailed
from orientation_core.inbox.model import InboxMessage, InboxSource, InboxStatus
from orientation_core.people import service as people
from orientation_core.people.policy import may_supervise_inbox
from orientation_core.persistence.intake import InboxQuery

router = APIRouter(prefix="/api/v1/messages", tags=["messages entrants"])
MAX_REPLAY = 500


def _require_admin(c: Container, user_id: int) -> str:
    with c.uow() as uow:
        subject = people.subject_for(uow, user_id)
        user = uow.users.get(user_id)
    if not may_supervise_inbox(subject):
        raise Forbidden("Seul un administrateur de la plateforme consulte et rejoue les messages entrants.",
                        details={"action": "messages.superviser"})
    return user.identifiant_local or user.identifiant_national or f"utilisateur {user_id}"


def _summary(row: dict[str, Any]) -> dict[str, Any]:
    status = row["status"]
    outcome = row.get("outcome") or {}
    return {
        "id": row["id"],
        "source": row["source"].value if isinstance(row["source"], InboxSource) else row["source"],
        "emetteur": {"application": row["sender_app"], "etablissement": row["sender_facility"]},
        "message_id": row["control_id"],
        "type": row["message_type"],
        "evenement": row["trigger_event"],
        "patient": row["patient_key"],
        "recu_le": row["received_at"].isoformat() if row["received_at"] else None,
        "statut": status.value if isinstance(status, InboxStatus) else status,
        "tentatives": row["attempts"],
        "prochaine_tentative": row["next_attempt_at"].isoformat() if row["next_attempt_at"] else None,
        "derniere_erreur": row["last_error"],
        "traite_le": row["processed_at"].isoformat() if row["processed_at"] else None,
        "problemes": [i.get("code") for i in outcome.get("issues", [])],
    }


def _detail(c: Container, message: InboxMessage) -> dict[str, Any]:
    base = _summary({
        "id": message.id, "source": message.source, "sender_app": message.sender_app,
        "sender_facility": message.sender_facility, "control_id": message.control_id,
        "message_type": message.message_type, "trigger_event": message.trigger_event,
        "patient_key": message.patient_key, "received_at": message.received_at, "status": message.status,
        "attempts": message.attempts, "next_attempt_at": message.next_attempt_at, "last_error": message.last_error,
        "processed_at": message.processed_at, "outcome": message.outcome,
    })
    try:
        text = decode(message.raw, message.charset or "8859/1")
    except Hl7ParseError:
        text = message.raw.decode("latin-1")
    canonical: dict[str, Any] | None = None
    if message.source is InboxSource.HL7V2:
        canonical = map_message(message.raw, received_at=message.received_at,
                                default_charset=message.charset or "8859/1").canonical.model_dump(
            mode="json", exclude_defaults=True)
    else:
        try:
            canonical = fhir_to_canonical(json.loads(message.raw), received_at=message.received_at,
                                          sender=message.sender_app).model_dump(mode="json", exclude_defaults=True)
        except ValueError:
            canonical = None
    with c.uow() as uow:
        attempts = uow.intake.attempts(message.id)
    base.update({
        "brut": text.replace("\r\n", "\r").replace("\r", "\n"),  # one segment per line for reading
        "jeu_de_caracteres": message.charset,
        "drapeaux": list(message.flags),
        "canonique": canonical,
        "resultat": message.outcome,
        "historique": [{"le": a.at.isoformat(), "resultat": a.outcome, "erreur": a.error} for a in attempts],
    })
    return base


@router.get("", summary="Rechercher les messages entrants")
def search(
    c: ContainerDep, user_id: UserId,
    emetteur: str = "", type_message: Annotated[str, Query(alias="type", description="MSH-9.1")] = "",
    evenement: str = Query("", description="MSH-9.2, ex. A01"),
    statut: Annotated[list[InboxStatus] | None, Query()] = None,
    depuis: dt.datetime | None = None, jusqua: dt.datetime | None = None,
    patient: str = Query("", description="IPP (ou clé patient complète « IPP^autorité »)"),
    message_id: str = Query("", description="MSH-10"),
    limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    _require_admin(c, user_id)
    for bound in (depuis, jusqua):
        if bound is not None and bound.tzinfo is None:
            raise ValidationFailed("Les dates de recherche doivent porter un fuseau (ex. 2026-03-15T00:00:00Z).",
                                   code="messages.date_sans_fuseau")
    query = InboxQuery(sender=emetteur.strip(), message_type=type_message.strip(), event=evenement.strip(),
                       statuses=tuple(statut or ()), since=depuis, until=jusqua, patient_key=patient.strip(),
                       control_id=message_id.strip(), limit=limit, offset=offset)
    with c.uow() as uow:
        rows = uow.intake.search(query)
        counts = uow.intake.counts()
    return {"elements": [_summary(r) for r in rows], "compteurs": counts, "limit": limit, "offset": offset}


@router.get("/lettres-mortes", summary="Messages abandonnés après toutes leurs tentatives")
def dead_letters(c: ContainerDep, user_id: UserId, limit: int = Query(100, ge=1, le=500),
                 offset: int = Query(0, ge=0)) -> dict[str, Any]:
    _require_admin(c, user_id)
    with c.uow() as uow:
        rows = uow.intake.search(InboxQuery(statuses=(InboxStatus.DEAD,), limit=limit, offset=offset))
    return {"elements": [_summary(r) for r in rows], "limit": limit, "offset": offset}


@router.get("/{inbox_id}", summary="Un message : texte brut, correspondance canonique, résultat, tentatives")
def detail(inbox_id: int, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    _require_admin(c, user_id)
    with c.uow() as uow:
        message = uow.inbox.get(inbox_id)
    if message is None:
        raise NotFound(f"Message entrant {inbox_id} introuvable.")
    return _detail(c, message)


class ReplayIn(BaseModel):
    ids: list[int] = Field(default_factory=list, max_length=MAX_REPLAY)
    statut: InboxStatus | None = Field(default=None, description="rejouer tous les messages de ce statut (ex. dead)")


def _replay(c: Container, user_id: int, ids: list[int]) -> dict[str, Any]:
    actor = _require_admin(c, user_id)
    with c.uow() as uow:
        replayed = uow.intake.replay(ids, c.env.clock.now(), actor)
    if replayed:
        c.tasks.enqueue("ingest.process")  # after commit: the pipeline takes them in their patients' order
    return {"rejoues": replayed, "introuvables": sorted(set(ids) - set(replayed))}


@router.post("/{inbox_id}/rejouer", summary="Rejouer un message (l'historique des tentatives est conservé)")
def replay_one(inbox_id: int, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    result = _replay(c, user_id, [inbox_id])
    if not result["rejoues"]:
        raise NotFound(f"Message entrant {inbox_id} introuvable.")
    return result


@router.post("/rejouer", summary="Rejouer plusieurs messages (par identifiants ou par statut)")
def replay_many(body: ReplayIn, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    ids = list(body.ids)
    if body.statut is not None:
        _require_admin(c, user_id)
        with c.uow() as uow:
            ids += [r["id"] for r in uow.intake.search(InboxQuery(statuses=(body.statut,), limit=MAX_REPLAY))]
    if not ids:
        raise ValidationFailed("Indiquez les messages à rejouer (identifiants ou statut).", code="messages.rejeu_vide")
    return _replay(c, user_id, sorted(set(ids)))
