"""History of every action on a dossier (who, when, what, before/after), and the outbox of side effects."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(eq=False)
class HistoryEvent:
    dossier_id: int
    at: dt.datetime
    action: str
    actor_kind: str  # prescripteur / receveur / system / referent…
    actor_user_id: int | None = None
    demande_id: int | None = None
    avant: dict[str, Any] = field(default_factory=dict)
    apres: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


@dataclass(eq=False)
class OutboxMessage:
    """A side effect decided in a transaction and delivered after its commit (dropped on rollback)."""

    kind: str
    payload: dict[str, Any]
    created_at: dt.datetime
    dispatched_at: dt.datetime | None = None
    attempts: int = 0
    id: int | None = None


@dataclass(eq=False)
class Notification:
    """An in-app alert for one user (and, when the user keeps alerts on, an e-mail in a later issue)."""

    user_id: int
    titre: str
    message: str
    created_at: dt.datetime
    dossier_id: int | None = None
    demande_id: int | None = None
    lu_at: dt.datetime | None = None
    id: int | None = None


def record(uow: HistoryWriter, dossier_id: int, at: dt.datetime, action: str, actor_kind: str,
           actor_user_id: int | None, *, demande_id: int | None = None, avant: dict[str, Any] | None = None,
           apres: dict[str, Any] | None = None) -> HistoryEvent:
    event = HistoryEvent(dossier_id=dossier_id, at=at, action=action, actor_kind=actor_kind,
                         actor_user_id=actor_user_id, demande_id=demande_id, avant=avant or {}, apres=apres or {})
    uow.history.add(event)
    return event


def notify(uow: HistoryWriter, at: dt.datetime, kind: str, **payload: Any) -> None:
    uow.outbox.add(OutboxMessage(kind=kind, payload=payload, created_at=at))


class _HistoryRepo(Protocol):
    def add(self, event: HistoryEvent) -> None: ...


class _OutboxRepo(Protocol):
    def add(self, message: OutboxMessage) -> None: ...


class HistoryWriter(Protocol):
    @property
    def history(self) -> _HistoryRepo: ...

    @property
    def outbox(self) -> _OutboxRepo: ...
