"""Shared pytest fixtures.

Sections:
  1. Service availability (PostgreSQL, Redis) — session-scoped URLs, checked once.
  2. (below) Database fixtures.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from typing import NoReturn

import pytest

# ====================================================================================================================
# 1. Service availability
#
# Integration tests ask for `postgres_url` / `redis_url`. When the service cannot be reached, the test is skipped
# on a developer's machine and fails in CI (.ci/run sets AIGUILLAGE_TEST_REQUIRE_SERVICES=1), so CI cannot go green
# by skipping.
# ====================================================================================================================

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
SERVICE_TIMEOUT_S = 2


def _services_required() -> bool:
    return os.environ.get("AIGUILLAGE_TEST_REQUIRE_SERVICES", "").strip().lower() in {"1", "true"}


def _unavailable(service: str, url: str, error: BaseException) -> NoReturn:
    reason = f"{service} not reachable at {url}: {type(error).__name__}: {error}".strip()
    if _services_required():
        pytest.fail(f"{reason} (AIGUILLAGE_TEST_REQUIRE_SERVICES is set)", pytrace=False)
    pytest.skip(f"{reason} (set AIGUILLAGE_TEST_REQUIRE_SERVICES=1 to fail instead)")


def libpq_url(sqlalchemy_url: str) -> str:
    """`postgresql+psycopg://…` (SQLAlchemy) → `postgresql://…` (libpq, psycopg.connect)."""
    return re.sub(r"^postgresql\+[a-z0-9_]+://", "postgresql://", sqlalchemy_url)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """SQLAlchemy URL of a reachable PostgreSQL test database (env AIGUILLAGE_TEST_POSTGRES_URL)."""
    url = os.environ.get("AIGUILLAGE_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL
    import psycopg

    error: Exception | None = None
    try:
        with psycopg.connect(libpq_url(url), connect_timeout=SERVICE_TIMEOUT_S) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        error = exc
    if error is not None:  # outside `except`, so the report is one line, not a chained traceback
        _unavailable("PostgreSQL", url, error)
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of a reachable Redis database for tests (env AIGUILLAGE_TEST_REDIS_URL)."""
    url = os.environ.get("AIGUILLAGE_TEST_REDIS_URL") or DEFAULT_REDIS_URL
    import redis

    error: Exception | None = None
    client = redis.Redis.from_url(url, socket_connect_timeout=SERVICE_TIMEOUT_S, socket_timeout=SERVICE_TIMEOUT_S)
    try:
        client.ping()
    except Exception as exc:
        error = exc
    finally:
        client.close()
    if error is not None:
        _unavailable("Redis", url, error)
    return url


# ====================================================================================================================
# 2. Database fixtures
# ====================================================================================================================


@pytest.fixture(scope="session")
def migrated_postgres(postgres_url: str) -> Iterator[Callable[[str], str]]:
    """Factory: ``migrated_postgres("label")`` → the URL of a fresh PostgreSQL database of its own (named after the
    label and this process), built by the real migrations. Asking again for a label rebuilds it empty; every
    database made is dropped at the end of the session."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    from orientation_core.persistence.migrate import upgrade

    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    made: set[str] = set()

    def drop(name: str) -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def make(label: str) -> str:
        name = f"aiguillage_{label}_{os.getpid()}"
        drop(name)
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        made.add(name)
        url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        return url

    try:
        yield make
    finally:
        for name in made:
            drop(name)
        admin.dispose()
