"""``uow.auth``: sessions, DPI clients, consumed jti, launch tickets (tables of migration 0008), in SQL Core."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from orientation_core.auth.model import DpiClient, LaunchTicket, SessionRecord, TrustLevel
from orientation_core.dossier.volets import Module
from orientation_core.persistence import tables as t

_S = t.session.c
_C = t.dpi_client.c
_J = t.launch_jti.c
_T = t.launch_ticket.c


def _client(row: Any) -> DpiClient:
    return DpiClient(client_id=row.client_id, nom=row.nom, etablissement_ids=list(row.etablissement_ids),
                     modules=[Module(m) for m in row.modules], trust=TrustLevel(row.trust), jwks=row.jwks,
                     jwks_url=row.jwks_url, actif=row.actif, created_at=row.created_at, id=row.id)


class SqlAuth:
    def __init__(self, session: Session) -> None:
        self._s = session

    # --- sessions ---------------------------------------------------------------------------------------------------

    def add_session(self, *, token_hash: str, user_id: int, method: str, csrf_token: str, account_complete: bool,
                    at: dt.datetime, ip: str, user_agent: str) -> int:
        stmt = sa.insert(t.session).values(
            token_hash=token_hash, user_id=user_id, method=method[:32], csrf_token=csrf_token,
            account_complete=account_complete, created_at=at, last_seen_at=at, ip=ip[:64],
            user_agent=user_agent[:255]).returning(_S.id)
        new_id: int = self._s.execute(stmt).scalar_one()
        return new_id

    def session_by_token_hash(self, token_hash: str) -> SessionRecord | None:
        row = self._s.execute(sa.select(t.session).where(_S.token_hash == token_hash)).first()
        if row is None:
            return None
        return SessionRecord(id=row.id, user_id=row.user_id, method=row.method, csrf_token=row.csrf_token,
                             account_complete=row.account_complete, created_at=row.created_at,
                             last_seen_at=row.last_seen_at, closed_at=row.closed_at, ip=row.ip)

    def touch_session(self, session_id: int, at: dt.datetime) -> None:
        self._s.execute(sa.update(t.session).where(_S.id == session_id).values(last_seen_at=at))

    def close_session(self, session_id: int, at: dt.datetime) -> None:
        self._s.execute(sa.update(t.session).where(_S.id == session_id, _S.closed_at.is_(None)).values(closed_at=at))

    def close_user_sessions(self, user_id: int, at: dt.datetime) -> int:
        result = self._s.execute(sa.update(t.session).where(_S.user_id == user_id, _S.closed_at.is_(None))
                                 .values(closed_at=at))
        count: int = result.rowcount  # type: ignore[attr-defined]
        return count

    def set_account_complete(self, session_id: int, complete: bool = True) -> None:
        self._s.execute(sa.update(t.session).where(_S.id == session_id).values(account_complete=complete))

    def serialize_user(self, user_id: int) -> None:
        """Take the user's row lock first thing in the transaction: two launches of one user (a double click on the
        DPI button) run one after the other, so the second finds the draft the first created. A no-op UPDATE:
        a row lock on PostgreSQL, the database write lock on SQLite (taken before any read, so no stale snapshot)."""
        self._s.execute(sa.update(t.utilisateur).where(t.utilisateur.c.id == user_id)
                        .values(id=t.utilisateur.c.id))

    # --- DPI clients ------------------------------------------------------------------------------------------------

    def _values(self, client: DpiClient) -> dict[str, Any]:
        return {"nom": client.nom, "etablissement_ids": list(client.etablissement_ids),
                "modules": [m.value for m in client.modules], "trust": client.trust.value, "jwks": client.jwks,
                "jwks_url": client.jwks_url, "actif": client.actif}

    def add_client(self, client: DpiClient) -> DpiClient:
        assert client.created_at is not None
        stmt = sa.insert(t.dpi_client).values(client_id=client.client_id, created_at=client.created_at,
                                              **self._values(client)).returning(_C.id)
        client.id = self._s.execute(stmt).scalar_one()
        return client

    def save_client(self, client: DpiClient) -> None:
        self._s.execute(sa.update(t.dpi_client).where(_C.client_id == client.client_id)
                        .values(**self._values(client)))

    def client(self, client_id: str) -> DpiClient | None:
        row = self._s.execute(sa.select(t.dpi_client).where(_C.client_id == client_id)).first()
        return None if row is None else _client(row)

    def clients(self) -> list[DpiClient]:
        return [_client(r) for r in self._s.execute(sa.select(t.dpi_client).order_by(_C.client_id))]

    # --- single use ---------------------------------------------------------------------------------------------------

    def consume_jti(self, client_id: str, purpose: str, jti: str, expires_at: dt.datetime,
                    at: dt.datetime) -> bool:
        """True the first time (client, purpose, jti) is seen. The unique constraint decides between concurrent
        requests: the INSERT runs in a savepoint so the loser's failure leaves the caller's transaction usable."""
        self._s.execute(sa.delete(t.launch_jti).where(_J.expires_at < at - dt.timedelta(days=1)))
        try:
            with self._s.begin_nested():
                self._s.execute(sa.insert(t.launch_jti).values(client_id=client_id, purpose=purpose, jti=jti,
                                                               used_at=at, expires_at=expires_at))
        except IntegrityError:
            return False
        return True

    def add_ticket(self, token_hash: str, client_id: str, claims: dict[str, Any], at: dt.datetime,
                   expires_at: dt.datetime) -> int:
        stmt = sa.insert(t.launch_ticket).values(token_hash=token_hash, client_id=client_id, claims=claims,
                                                 created_at=at, expires_at=expires_at).returning(_T.id)
        new_id: int = self._s.execute(stmt).scalar_one()
        return new_id

    def consume_ticket(self, token_hash: str, at: dt.datetime) -> LaunchTicket | None:
        """The ticket, once: the conditional UPDATE marks it used; a second or late opening finds nothing."""
        result = self._s.execute(sa.update(t.launch_ticket).where(
            _T.token_hash == token_hash, _T.used_at.is_(None), _T.expires_at > at).values(used_at=at))
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None
        row = self._s.execute(sa.select(t.launch_ticket).where(_T.token_hash == token_hash)).one()
        return LaunchTicket(id=row.id, client_id=row.client_id, claims=dict(row.claims), created_at=row.created_at,
                            expires_at=row.expires_at)
