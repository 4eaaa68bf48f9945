"""The integration services answer a real round-trip (and the fixtures skip / fail as configured)."""

from __future__ import annotations

import uuid

import pytest


@pytest.mark.postgres
def test_postgres_round_trip(postgres_url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()


@pytest.mark.redis
def test_redis_round_trip(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2)
    key = f"aiguillage:test:{uuid.uuid4().hex}"
    try:
        assert client.set(key, b"ok", ex=30)
        assert client.get(key) == b"ok"
        assert client.ttl(key) > 0
        assert client.delete(key) == 1
        assert client.exists(key) == 0
    finally:
        client.delete(key)
        client.close()
