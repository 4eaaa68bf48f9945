"""Engines and the SQL unit of work. The edge (request, task, MLLP batch) owns the transaction."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from orientation_core.errors import Conflict, StoreUnavailable
from orientation_core.persistence.accounts import SqlAccounts
from orientation_core.persistence.auth import SqlAuth
from orientation_core.persistence.fhir import SqlFhirResources
from orientation_core.persistence.identite import SqlIdentite
from orientation_core.persistence.inbox import SqlInbox
from orientation_core.persistence.intake import SqlIntake
from orientation_core.persistence.mapping import start_mappers
from orientation_core.persistence.repositories import (
    SqlDemandes,
    SqlDirectory,
    SqlDossiers,
    SqlHistory,
    SqlNotifications,
    SqlOutbox,
    SqlPatients,
    SqlUsers,
)
from orientation_core.timers import TimerPolicy


def make_engine(url: str, *, echo: bool = False, pool_size: int = 10) -> Engine:
    """SQLite in WAL mode with foreign keys and a busy timeout, or PostgreSQL through psycopg 3."""
    start_mappers()
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoint; WAL fsyncs on commit boundary
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return sa.create_engine(url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


class SqlUnitOfWork:
    """Repositories over one session. ``commit`` runs the after-commit hooks (enqueue, notifications)."""

    def __init__(self, session: Session, timers: TimerPolicy,
                 after_commit: list[Callable[[SqlUnitOfWork], None]] | None = None) -> None:
        self.session = session
        self.directory = SqlDirectory(session)
        self.users = SqlUsers(session)
        self.patients = SqlPatients(session)
        self.dossiers = SqlDossiers(session, timers)
        self.demandes = SqlDemandes(session)
        self.history = SqlHistory(session)
        self.outbox = SqlOutbox(session)
        self.notifications = SqlNotifications(session)
        self.identite = SqlIdentite(session)
        self.inbox = SqlInbox(session)
        self.intake = SqlIntake(session)  # pipeline claims, verdicts, operator searches and replays
        self.fhir = SqlFhirResources(session)
        self.auth = SqlAuth(session)  # sessions, DPI clients, launch jti and tickets (gateway.auth)
        self.accounts = SqlAccounts(session)  # accounts, one-time codes, attempts, médecin libéral lists
        self._after_commit = after_commit or []

    def flush(self) -> None:
        self.session.flush()

    def commit(self) -> None:
        self.session.commit()
        for hook in self._after_commit:
            hook(self)
        self.outbox.added = 0

    def rollback(self) -> None:
        self.session.rollback()
        self.outbox.added = 0


class UnitOfWorkFactory:
    """``with factory() as uow:`` commits on success, rolls back on error, and maps a lost store to
    ``StoreUnavailable`` (retryable)."""

    def __init__(self, engine: Engine, timers: TimerPolicy | None = None,
                 after_commit: list[Callable[[SqlUnitOfWork], None]] | None = None) -> None:
        self.engine = engine
        self.timers = timers or TimerPolicy()
        self.after_commit = after_commit if after_commit is not None else []
        self._sessions = sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)

    @contextlib.contextmanager
    def __call__(self) -> Iterator[SqlUnitOfWork]:
        session = self._sessions()
        uow = SqlUnitOfWork(session, self.timers, self.after_commit)
        try:
            yield uow
            uow.commit()
        except StaleDataError as exc:
            uow.rollback()
            raise Conflict("Ce dossier vient d'être modifié par quelqu'un d'autre : rechargez-le.",
                           code="concurrence") from exc
        except (OperationalError, DBAPIError) as exc:
            uow.rollback()
            if isinstance(exc, OperationalError) or exc.connection_invalidated:
                raise StoreUnavailable("Le stockage est momentanément indisponible.") from exc
            raise
        except BaseException:
            uow.rollback()
            raise
        finally:
            session.close()
