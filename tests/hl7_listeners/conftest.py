"""Fixtures of the MLLP listener tests: stores migrated by the real migrations (SQLite file, PostgreSQL database
of its own), a listener on a loopback port, and a few ADT messages written for these tests.

``store_url`` is parametrised over SQLite and PostgreSQL; the ``inbox_rows`` fixture is a function reading what
the listener stored (pytest's importlib mode: helpers travel as fixtures, not imports).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from orientation_core.persistence import tables
from orientation_core.persistence.migrate import upgrade
from orientation_core.persistence.uow import make_engine


@pytest.fixture(scope="session")
def _sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("mllp_sqlite") / "aiguillage.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def _postgres_url(postgres_url: str) -> Iterator[str]:
    name = f"aiguillage_test_mllp_{os.getpid()}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


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
