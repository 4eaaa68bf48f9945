"""Inbox rows and their statuses.

Lifecycle of a row (the listener writes the first status, the pipeline the others)::

    received ──▶ processing ──▶ processed
        ▲            │
        └── failed ◀─┘ (retry with backoff, ``next_attempt_at``) ──▶ dead (after N attempts)

``rejected`` is for a message the pipeline refuses for good (validation), not for frames the listener refuses:
a frame without a readable MSH, an undecodable charset or an oversize frame gets an AR/CR and is not stored
(it has no trustworthy dedup key; the sender must fix it and resend).

Dedup key: (source, sender_app, sender_facility, control_id) — HL7: MSH-3, MSH-4, MSH-10 as received
(components included); FHIR: the client and the request/bundle id chosen by the FHIR intake.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


class InboxSource(enum.StrEnum):
    HL7V2 = "hl7v2"
    FHIR = "fhir"


class InboxStatus(enum.StrEnum):
    RECEIVED = "received"  # stored and acknowledged, waiting for the pipeline
    PROCESSING = "processing"
    PROCESSED = "processed"
    FAILED = "failed"  # an attempt failed; retried at next_attempt_at
    DEAD = "dead"  # retries exhausted: dead letter, replayable by an operator
    REJECTED = "rejected"  # refused for good by the pipeline (invalid message)


class InboxFlag(enum.StrEnum):
    """What the listener had to tolerate in a frame (kept on the row, the raw bytes are left as received)."""

    LF_SEGMENTS = "lf-segments"  # segments ended by \n or \r\n instead of \r: readers must normalise
    DEFAULT_CHARSET = "default-charset"  # MSH-18 empty: decoded with the configured default charset


@dataclass
class NewInboxMessage:
    """What an intake edge stores. ``ack`` is the acknowledgement the sender receives once the row is durable;
    a duplicate gets the stored one back."""

    source: InboxSource
    sender_app: str
    sender_facility: str
    control_id: str
    message_type: str
    trigger_event: str
    raw: bytes
    received_at: dt.datetime
    message_structure: str = ""
    version: str = ""
    charset: str = ""
    patient_key: str | None = None
    flags: list[str] = field(default_factory=list)
    ack: bytes = b""
    accept_ack_type: str = ""  # MSH-15 (enhanced mode) — empty in original mode
    app_ack_type: str = ""  # MSH-16: whether the sender wants an application ACK later

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.source.value, self.sender_app, self.sender_facility, self.control_id)


@dataclass
class InboxMessage(NewInboxMessage):
    """A stored row, as the pipeline and the operator API see it."""

    id: int = 0
    status: InboxStatus = InboxStatus.RECEIVED
    attempts: int = 0
    next_attempt_at: dt.datetime | None = None
    last_error: str | None = None
    outcome: dict[str, Any] | None = None
    processed_at: dt.datetime | None = None


class StoreResult(enum.StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class Stored:
    """Per-row outcome of a bulk store: the row id, and for a duplicate the ACK stored with the first copy."""

    result: StoreResult
    inbox_id: int
    ack: bytes


@dataclass(frozen=True)
class Verdict:
    """The pipeline's answer for one message, for the listener's "ACK after processing" mode.

    ``ok`` → AA/CA; else ``rejected`` chooses AR/CR (the message will never be accepted) over AE/CE (retry
    later). ``code`` is an HL7 table 0357 code, ``location`` an ERR-2 location (``PID^1^3``)."""

    ok: bool
    rejected: bool = False
    code: str = "207"
    location: str = ""
    reason_fr: str = ""
    reason_en: str = ""


class InboxRepository(Protocol):
    """``uow.inbox``. Process-side queries (claim, mark, attempts) are added by the pipeline's own module."""

    def add(self, message: NewInboxMessage) -> Stored: ...

    def store_batch(self, rows: list[NewInboxMessage]) -> list[Stored]: ...

    def get(self, inbox_id: int) -> InboxMessage | None: ...

    def by_key(self, source: InboxSource, sender_app: str, sender_facility: str,
               control_id: str) -> InboxMessage | None: ...


@runtime_checkable
class InboxWriter(Protocol):
    """The store path of an intake edge: one transaction for a batch, committed before it returns."""

    def store_batch(self, rows: list[NewInboxMessage]) -> list[Stored]: ...

    def close(self) -> None: ...
