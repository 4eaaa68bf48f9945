"""Fixtures of the gateway tests: the HTTP API over a database holding the demo data.

* ``demo_db``: a fresh database, migrated by the real Alembic migrations and loaded with
  ``samples/demo/demo.json`` through ``gateway.demo.load``, parametrised over SQLite and PostgreSQL. The demo is
  loaded once per session and store into a template; each test gets its own copy (a file copy for SQLite,
  ``CREATE DATABASE … TEMPLATE …`` for PostgreSQL), so tests never see each other's writes.
* ``make_api``: builds the container and the ``TestClient`` over that copy (queue kind and settings adjustable);
  ``api`` is the common case (sync queue: notifications are dispatched right after each commit).
* ``Api``: the client plus helpers to call as a user (``X-Aiguillage-Utilisateur`` header) and to find the ids
  of demo units and users by their codes and logins.

The demo's dates are relative to the load instant: every container uses a ``FrozenClock`` at ``T0``, the
instant the template was loaded, so the timers see the demo exactly as it was written.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import os
import queue
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from gateway.app import create_app
from gateway.container import Container, QueueKind, build_container
from gateway.demo import load
from gateway.settings import PROJECT_ROOT, Settings
from orientation_core.clock import FrozenClock
from orientation_core.persistence.migrate import upgrade

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)  # a Monday, 10:00 in Paris: the demo's "today"
DEMO_JSON = PROJECT_ROOT / "samples" / "demo" / "demo.json"
USER_HEADER = "X-Aiguillage-Utilisateur"
PROBLEM = "application/problem+json"

# Demo logins (samples/demo/demo.json)
MARTIN = "810100000017"  # Dr Claire Martin, prescripteur médical on UF 1101 and 1103
BERNARD = "sbernard"  # prescripteur (not medical) on UF 1101 and 1102
LAMBERT = "810100000025"  # prescripteur médical on UF 1102
DURAND = "810100000033"  # receveur médical on SMR 2101–2103
PETIT = "jpetit"  # receveur on SMR 2101–2103
HAD_RECEVEUR = "had.receveur"  # receveur on HAD 3101
REFERENT_CHU = "referent.chu"
ADMIN = "admin"
MOREAU = "810100000058"  # médecin libéral, délégations to LEROY (confrère) and GARNIER (assistant)
LEROY = "810100000066"
GARNIER = "0691000074"


def demo_constants() -> dict[str, Any]:
    return {k: v for k, v in globals().items() if k.isupper() and not k.startswith("_")}


@pytest.fixture(scope="session")
def gw() -> dict[str, Any]:
    """The constants above, for test modules (pytest's importlib mode: no imports between test files)."""
    return demo_constants()


# ====================================================================================================================
# Templates: migrated and loaded once per session and store
# ====================================================================================================================


def _load_demo(url: str) -> None:
    upgrade(url)
    container = build_container(Settings(database_url=url), clock=FrozenClock(T0), queue="sync")
    try:
        summary = load(container, DEMO_JSON)
        assert summary.startswith("Démo chargée"), summary
        if url.startswith("sqlite"):
            with container.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        container.engine.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gateway_template") / "demo.db"
    _load_demo(f"sqlite:///{path}")
    return path


@dataclass
class _PostgresServer:
    admin: sa.Engine
    base_url: str
    prefix: str
    template: str
    created: list[str] = field(default_factory=list)
    counter: Iterator[int] = field(default_factory=itertools.count)
    _to_drop: queue.Queue[str | None] = field(default_factory=queue.Queue)
    _dropper: threading.Thread | None = None

    def url(self, name: str) -> str:
        return make_url(self.base_url).set(database=name).render_as_string(hide_password=False)

    def create(self, template: str | None = None) -> str:
        name = f"{self.prefix}_{next(self.counter)}"
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
        self.created.append(name)
        return name

    def drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if name in self.created:
            self.created.remove(name)

    def drop_later(self, name: str) -> None:
        """A DROP DATABASE waits for a checkpoint (~1 s): done by a background thread while tests go on."""
        if self._dropper is None:
            self._dropper = threading.Thread(target=self._drop_loop, name="gw-test-dropdb", daemon=True)
            self._dropper.start()
        self._to_drop.put(name)

    def _drop_loop(self) -> None:
        while (name := self._to_drop.get()) is not None:
            with contextlib.suppress(sa.exc.SQLAlchemyError):  # retried by the final cleanup
                self.drop(name)

    def close(self) -> None:
        if self._dropper is not None:
            self._to_drop.put(None)
            self._dropper.join(timeout=120)
        for name in list(reversed(self.created)):
            self.drop(name)
        self.admin.dispose()


@pytest.fixture(scope="session")
def _postgres_server(postgres_url: str) -> Iterator[_PostgresServer]:
    """Databases of our own on the test server (never the public schema of ``test``), dropped at the end."""
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    prefix = f"aiguillage_gw_{os.getpid()}"
    server = _PostgresServer(admin, postgres_url, prefix, template=f"{prefix}_tpl")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{server.template}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{server.template}"'))
        server.created.append(server.template)
        _load_demo(server.url(server.template))
        yield server
    finally:
        server.close()


# ====================================================================================================================
# A fresh demo database per test
# ====================================================================================================================


@dataclass
class DemoDatabase:
    store: str  # "sqlite" or "postgres"
    url: str


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def demo_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DemoDatabase]:
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("_sqlite_template")
        target = tmp_path / "aiguillage.db"
        shutil.copyfile(template, target)
        yield DemoDatabase("sqlite", f"sqlite:///{target}")
        return
    server: _PostgresServer = request.getfixturevalue("_postgres_server")
    name = server.create(template=server.template)
    try:
        yield DemoDatabase("postgres", server.url(name))
    finally:
        server.drop_later(name)


@pytest.fixture
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[str], DemoDatabase]]:
    """An empty database (no schema) on the asked store: for the CLI and migration paths."""
    made: list[str] = []

    def make(store: str) -> DemoDatabase:
        if store == "sqlite":
            return DemoDatabase("sqlite", f"sqlite:///{tmp_path / f'empty_{len(made)}.db'}")
        server: _PostgresServer = request.getfixturevalue("_postgres_server")
        name = server.create()
        made.append(name)
        return DemoDatabase("postgres", server.url(name))

    yield make
    if made:
        server = request.getfixturevalue("_postgres_server")
        for name in made:
            server.drop_later(name)


# ====================================================================================================================
# The API
# ====================================================================================================================


@dataclass
class Api:
    client: TestClient
    container: Container
    clock: FrozenClock
    store: str
    url: str

    # --- calling as a user -----------------------------------------------------------------------------------

    @staticmethod
    def as_(login: str) -> dict[str, str]:
        return {USER_HEADER: login}

    def get(self, login: str | None, path: str, **kw: Any) -> httpx.Response:
        return self.client.get(path, headers=self.as_(login) if login else {}, **kw)

    def post(self, login: str | None, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return self.client.post(path, headers=self.as_(login) if login else {}, json=json, **kw)

    def put(self, login: str | None, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return self.client.put(path, headers=self.as_(login) if login else {}, json=json, **kw)

    def patch(self, login: str | None, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return self.client.patch(path, headers=self.as_(login) if login else {}, json=json, **kw)

    def delete(self, login: str | None, path: str, **kw: Any) -> httpx.Response:
        return self.client.delete(path, headers=self.as_(login) if login else {}, **kw)

    @staticmethod
    def ok(response: httpx.Response, status: int = 200) -> Any:
        """The JSON body of a response that must have ``status`` (the body shows in the failure message)."""
        assert response.status_code == status, (response.status_code, response.text)
        return response.json() if response.content else None

    @staticmethod
    def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
        """The problem JSON (RFC 9457) of a refused call, checked for shape, status and stable code."""
        assert response.status_code == status, (response.status_code, response.text)
        assert response.headers["content-type"].startswith(PROBLEM), response.headers["content-type"]
        body: dict[str, Any] = response.json()
        assert body["status"] == status and body["code"] == code, body
        assert body["type"] == f"urn:aiguillage:probleme:{code}"
        assert isinstance(body["detail"], str) and body["detail"].strip()
        return body

    # --- demo ids (read from the store, not through HTTP: the API has no "unit by code" lookup) --------------

    def unite_id(self, code_uf: str) -> int:
        from orientation_core.directory.model import Unite
        from orientation_core.persistence import tables

        with self.container.uow() as uow:
            unite = uow.session.scalars(sa.select(Unite).where(tables.unite.c.code_uf == code_uf)).one()
            assert unite.id is not None
            return unite.id

    def user_id(self, login: str) -> int:
        with self.container.uow() as uow:
            user = uow.users.by_login(login)
            assert user is not None and user.id is not None, login
            return user.id

    def count_rows(self) -> dict[str, int]:
        from orientation_core.persistence import tables

        with self.container.engine.connect() as conn:
            return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                    for t in tables.metadata.sorted_tables}


MakeApi = Callable[..., Api]


@pytest.fixture
def make_api(demo_db: DemoDatabase) -> Iterator[MakeApi]:
    """``make_api(queue="sync", **settings)`` → an ``Api`` on this test's demo database (several allowed)."""
    made: list[Api] = []

    def make(*, queue: QueueKind = "sync", clock: FrozenClock | None = None, **settings: Any) -> Api:
        clock = clock or FrozenClock(T0)
        container = build_container(Settings(database_url=demo_db.url, **settings), clock=clock, queue=queue)
        client = TestClient(create_app(container=container), raise_server_exceptions=True)
        api = Api(client, container, clock, demo_db.store, demo_db.url)
        made.append(api)
        return api

    yield make
    for api in made:
        api.client.close()
        api.container.tasks.stop()
        api.container.engine.dispose()


@pytest.fixture
def api(make_api: MakeApi) -> Api:
    return make_api()


# ====================================================================================================================
# Inbound messages
# ====================================================================================================================


@pytest.fixture
def store_hl7() -> Callable[..., int]:
    """``store_hl7(site, name, replace=(old, new), received_at=…)`` → the inbox id of the sample HL7 message
    ``samples/hl7v2/<name>.hl7`` written to the inbox as the MLLP listener writes it (header fields, patient key),
    on ``site``'s store (an ``Api``, or the browser tests' ``Live``: anything with ``container`` and ``clock``)."""
    from mappings.hl7v2 import parse
    from orientation_core.inbox.model import InboxSource, NewInboxMessage

    def store(site: Any, name: str, *, replace: tuple[bytes, bytes] | None = None,
              received_at: dt.datetime | None = None) -> int:
        raw = (PROJECT_ROOT / "samples" / "hl7v2" / f"{name}.hl7").read_bytes()
        if replace is not None:
            raw = raw.replace(*replace)
        msg = parse(raw.decode("latin-1"))
        pid = msg.segment("PID")
        key = None
        if pid is not None:
            ipp = next(r for r in pid.field(3).reps if r.component(5) == "PI")
            key = f"{ipp.component(1)}^{ipp.sub(4, 1)}"
        row = NewInboxMessage(source=InboxSource.HL7V2, sender_app=msg.msh.field(3).raw,
                              sender_facility=msg.msh.field(4).raw, control_id=msg.control_id or name,
                              message_type=msg.message_type, trigger_event=msg.event, raw=raw,
                              received_at=received_at or site.clock.now(), version=msg.version,
                              charset=msg.msh.value(18), patient_key=key)
        with site.container.uow() as uow:
            inbox_id: int = uow.inbox.add(row).inbox_id
            return inbox_id

    return store
