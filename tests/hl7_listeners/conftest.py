"""Fixtures of the MLLP listener tests: stores migrated by the real migrations (SQLite file, PostgreSQL database
of its own), a listener on a loopback port, and a few ADT messages written for these tests.

``store_url`` is parametrised over SQLite and PostgreSQL; the ``inbox_rows`` fixture is a function reading what
the listener stored (pytest's importlib mode: helpers travel as fixtures, not imports).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
import uvloop
from sqlalchemy.engine import Engine

from hl7_listeners.client import MllpClient
from hl7_listeners.server import ListenerConfig, MllpServer
from orientation_core.inbox.model import Verdict
from orientation_core.persistence import tables
from orientation_core.persistence.inbox import SqlInboxWriter
from orientation_core.persistence.migrate import upgrade
from orientation_core.persistence.uow import make_engine


@pytest.fixture(scope="session")
def _sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("mllp_sqlite") / "aiguillage.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def _postgres_url(migrated_postgres: Callable[[str], str]) -> str:
    return migrated_postgres("test_mllp")


_ENGINES: dict[str, Engine] = {}


def engine_for(url: str) -> Engine:
    if url not in _ENGINES:
        _ENGINES[url] = make_engine(url, pool_size=2)
    return _ENGINES[url]


def _empty(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(tables.inbox_attempt.delete())
        conn.execute(tables.inbox_message.delete())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"_{request.param}_url")
    _empty(engine_for(url))
    return url


@pytest.fixture
def sqlite_url(_sqlite_url: str) -> str:
    _empty(engine_for(_sqlite_url))
    return _sqlite_url


def inbox_rows(url: str) -> list[dict[str, object]]:
    with engine_for(url).connect() as conn:
        rows = conn.execute(sa.select(tables.inbox_message).order_by(tables.inbox_message.c.id))
        return [dict(r._mapping) for r in rows]


@pytest.fixture(name="inbox_rows")
def _inbox_rows_fixture() -> object:
    return inbox_rows


@pytest.fixture(name="engine_for")
def _engine_for_fixture() -> object:
    return engine_for


@pytest.fixture(scope="session", autouse=True)
def _dispose_engines() -> Iterator[None]:
    yield
    for engine in _ENGINES.values():
        engine.dispose()
    _ENGINES.clear()


# ====================================================================================================================
# Messages (written for these tests from IHE PAM France 2.11; names are fictitious)
# ====================================================================================================================


def adt(control_id: str, *, event: str = "A01", sender: str = "DPI_SIH", facility: str = "CHU_SAINT_EXUPERY",
        ipp: str = "100234", charset: str = "8859/15", family: str = "DUPONT", given: str = "Hélène",
        accept_ack: str = "", app_ack: str = "", sep: str = "\r") -> str:
    """An ADT message (PAM FR): MSH, EVN, PID, PV1, ZBE. ``sep`` is the segment separator."""
    segments = [
        f"MSH|^~\\&|{sender}|{facility}|AIGUILLAGE|AIGUILLAGE|20261123081500||ADT^{event}^ADT_A01|{control_id}|P|"
        f"2.5^FRA^2.11|||{accept_ack}|{app_ack}|FRA|{charset}|FRA",
        "EVN||20261123081500|||MEDECIN1^MARTIN^CLAIRE",
        f"PID|||{ipp}^^^CHU_SAINT_EXUPERY&1.2.250.1.71.4.2.2&ISO^PI~1751263220749^^^ASIP-SANTE-INS-NIR&"
        f"1.2.250.1.213.1.4.8&ISO^INS||{family}^{given}^{given} Marie^^^^L||19751231|F|||"
        f"12 rue des Lilas^^Lyon^^69003^FRA^H~^^^^^^BDL^^63220||0612345678|||||NDA2611230001^^^CHU&1.2.250&ISO^AN"
        f"||||||||||||||VALI",
        "PV1||I|1101^101^1^CHU_SAINT_EXUPERY||||||||||||||||NDA2611230001^^^CHU&1.2.250&ISO^AN",
        f"ZBE|MVT{control_id}^CHU|20261123081500||INSERT|N||^^^^^^UF^^^1101||HMS",
    ]
    return sep.join(segments) + sep


def encoded(message: str, charset: str = "8859/15") -> bytes:
    return message.encode({"8859/1": "latin-1", "8859/15": "iso8859-15", "UNICODE UTF-8": "utf-8"}.get(charset, "latin-1"))


@pytest.fixture(name="adt")
def _adt_fixture() -> object:
    return adt


# ====================================================================================================================
# A listener on a loopback port, in a thread of its own with its own event loop (the tests use blocking sockets)
# ====================================================================================================================


class RunningListener:
    def __init__(self, server: MllpServer, loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
        self.server, self.loop, self.thread = server, loop, thread
        self.port = server.port

    def client(self, **kw: Any) -> MllpClient:
        return MllpClient("127.0.0.1", self.port, timeout=kw.pop("timeout", 10.0), **kw).connect()

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def start_listener(url: str, *, on_stored: Callable[[list[int]], None] | None = None,
                   process: Callable[[int], Verdict] | None = None, busy_timeout_ms: int = 5000,
                   writers: int = 1, **config: Any) -> RunningListener:
    stores = [SqlInboxWriter(engine_for(url), busy_timeout_ms=busy_timeout_ms) for _ in range(writers)]
    server = MllpServer(ListenerConfig(port=0, **config), stores, on_stored=on_stored, process=process)
    loop = uvloop.new_event_loop()  # what `aiguillage mllp` and `serve` (uvicorn) run the listener on
    ready = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.start())
        except BaseException as exc:
            failure.append(exc)
            ready.set()
            return
        ready.set()
        loop.run_forever()
        loop.close()

    thread = threading.Thread(target=run, name="test-mllp-listener", daemon=True)
    thread.start()
    ready.wait(30)
    if failure:
        raise failure[0]
    return RunningListener(server, loop, thread)


@pytest.fixture
def listener() -> Iterator[Callable[..., RunningListener]]:
    """``listener(url, **ListenerConfig fields)`` → a running listener, stopped at the end of the test."""
    started: list[RunningListener] = []

    def factory(url: str, **kw: Any) -> RunningListener:
        running = start_listener(url, **kw)
        started.append(running)
        return running

    yield factory
    for running in started:
        running.stop()
