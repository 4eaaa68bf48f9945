"""Sessions, DPI clients, launch tickets (tables ``session``, ``dpi_client``, ``launch_jti``, ``launch_ticket``;
migration 0008) and the repository port ``uow.auth``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from orientation_core.dossier.volets import Module
from orientation_core.errors import ValidationFailed


@dataclass(frozen=True)
class SessionRecord:
    """A signed-in browser. The cookie holds a random token; the store keeps only its SHA-256 (``token_hash``),
    so a read of the table does not hand out live sessions."""

    id: int
    user_id: int
    method: str  # "psc", "password_otp", "dpi_launch", "dpi_ticket", …
    csrf_token: str
    account_complete: bool  # charter accepted and mandatory account data filled
    created_at: dt.datetime
    last_seen_at: dt.datetime
    closed_at: dt.datetime | None = None
    ip: str = ""


class TrustLevel(StrEnum):
    TRUSTED = "trusted"  # the DPI's asserted user is signed in directly
    SESSION_REQUIRED = "session_required"  # the user must already be signed in here as that user


@dataclass
class DpiClient:
    """A DPI registered by an administrator: whose keys sign its launches, for which établissements it speaks."""

    client_id: str
    nom: str
    etablissement_ids: list[int]
    modules: list[Module]
    trust: TrustLevel = TrustLevel.SESSION_REQUIRED
    jwks: dict[str, Any] | None = None  # inline JWKS {"keys": [...]}
    jwks_url: str = ""
    actif: bool = True
    created_at: dt.datetime | None = None
    id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.client_id.strip() or len(self.client_id) > 64:
            raise ValidationFailed("Identifiant de client DPI invalide (1 à 64 caractères).", code="client_dpi.id")
        if not self.nom.strip():
            raise ValidationFailed("Le nom du client DPI est obligatoire.", code="client_dpi.nom")
        if bool(self.jwks) == bool(self.jwks_url):
            raise ValidationFailed("Donnez soit une adresse JWKS, soit un JWKS en ligne (pas les deux).",
                                   code="client_dpi.cles")
        if not self.etablissement_ids:
            raise ValidationFailed("Au moins un établissement est requis.", code="client_dpi.etablissements")
        if not self.modules:
            raise ValidationFailed("Au moins un module est requis.", code="client_dpi.modules")

    @property
    def trusted(self) -> bool:
        return self.trust is TrustLevel.TRUSTED


@dataclass(frozen=True)
class LaunchTicket:
    """A one-time launch URL answered to a server-to-server launch: its claims, opened once before expiry."""

    id: int
    client_id: str
    claims: dict[str, Any]
    created_at: dt.datetime
    expires_at: dt.datetime


class AuthRepository(Protocol):
    # sessions
    def add_session(self, *, token_hash: str, user_id: int, method: str, csrf_token: str, account_complete: bool,
                    at: dt.datetime, ip: str, user_agent: str) -> int: ...

    def session_by_token_hash(self, token_hash: str) -> SessionRecord | None: ...

    def touch_session(self, session_id: int, at: dt.datetime) -> None: ...

    def close_session(self, session_id: int, at: dt.datetime) -> None: ...

    def close_user_sessions(self, user_id: int, at: dt.datetime) -> int: ...

    def set_account_complete(self, session_id: int, complete: bool = True) -> None: ...

    def serialize_user(self, user_id: int) -> None: ...

    # DPI clients
    def add_client(self, client: DpiClient) -> DpiClient: ...

    def save_client(self, client: DpiClient) -> None: ...

    def client(self, client_id: str) -> DpiClient | None: ...

    def clients(self) -> list[DpiClient]: ...

    # single-use token ids and launch tickets
    def consume_jti(self, client_id: str, purpose: str, jti: str, expires_at: dt.datetime,
                    at: dt.datetime) -> bool: ...

    def add_ticket(self, token_hash: str, client_id: str, claims: dict[str, Any], at: dt.datetime,
                   expires_at: dt.datetime) -> int: ...

    def consume_ticket(self, token_hash: str, at: dt.datetime) -> LaunchTicket | None: ...
