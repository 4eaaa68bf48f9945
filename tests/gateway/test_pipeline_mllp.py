"""End to end over a real loopback socket: samples sent over MLLP to the listener as the composition root wires it
(gateway/mllp.py), stored, acknowledged, drained by ``ingest.process`` into the registry — in both ACK modes."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from gateway.container import Container, build_container
from gateway.mllp import build_listener
from gateway.settings import PROJECT_ROOT, Settings
from hl7_listeners.client import MllpClient, ack_summary
from orientation_core.clock import FrozenClock
from orientation_core.inbox.model import InboxStatus
from orientation_core.patients.model import StatutSejour, TypeIdentifiantPatient
from orientation_core.persistence import tables

SAMPLES = PROJECT_ROOT / "samples" / "hl7v2"
T0 = dt.datetime(2026, 3, 20, 9, 0, tzinfo=dt.UTC)


def sample(name: str) -> bytes:
    return (SAMPLES / f"{name}.hl7").read_bytes()


@contextmanager
def listening(container: Container) -> Iterator[int]:
    """The listener on a free port in its own event loop thread; yields the port."""
    loop = asyncio.new_event_loop()
    server = build_listener(container)
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="mllp-test", daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield server.port
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def make(demo_db: Any, **settings: Any) -> Container:
    return build_container(Settings(database_url=demo_db.url, mllp_host="127.0.0.1", mllp_port=0, **settings),
                           clock=FrozenClock(T0), queue="inprocess")


def statuses(container: Container) -> list[str]:
    with container.engine.connect() as conn:
        return [r.status.value if isinstance(r.status, InboxStatus) else r.status for r in conn.execute(
            sa.select(tables.inbox_message.c.status).order_by(tables.inbox_message.c.id))]


def test_a_feed_sent_over_mllp_ends_in_the_registry(demo_db: Any) -> None:
    container = make(demo_db)
    container.tasks.start()
    try:
        with listening(container) as port, MllpClient("127.0.0.1", port) as client:
            acks = [ack_summary(client.send(sample(name))) for name in (
                "adt_a28__creation", "adt_a01__nominal", "adt_a02__transfer", "adt_a03__discharge")]
            assert [a[0] for a in acks] == ["AA"] * 4
            assert [a[1] for a in acks] == ["HSE-A28-0001", "HSE-A01-0003", "HSE-A02-0008", "HSE-A03-0010"]
            duplicate = ack_summary(client.send(sample("adt_a01__nominal")))  # a resend: stored ACK, no effect
            assert duplicate[:2] == ("AA", "HSE-A01-0003")
        # the listener enqueues after the ACK has gone: wait for the work, not only for an idle queue
        deadline = time.monotonic() + 30
        while statuses(container) != ["processed"] * 4 and time.monotonic() < deadline:
            assert container.tasks.join_idle(30)  # type: ignore[attr-defined]
            time.sleep(0.05)
        assert statuses(container) == ["processed"] * 4
        with container.uow() as uow:
            patient = uow.patients.by_identifier(TypeIdentifiantPatient.IPP, "900001", "690001011")
            assert patient is not None and patient.id is not None
            (sejour,) = uow.patients.sejours(patient.id)
            assert (sejour.statut, sejour.code_uf) == (StatutSejour.SORTI, "1102") and sejour.id is not None
            assert len(uow.patients.mouvements(sejour.id)) == 3
    finally:
        container.tasks.stop()
        container.engine.dispose()


def test_ack_after_processing_carries_the_pipeline_verdict(demo_db: Any) -> None:
    container = make(demo_db, mllp_ack_mode="processed")
    try:
        with listening(container) as port, MllpClient("127.0.0.1", port) as client:
            ok = ack_summary(client.send(sample("adt_a28__creation")))
            refused = ack_summary(client.send(sample("neg__wrong_zbe")))  # stored, then refused by PAM FR checks
        assert ok[0] == "AA"
        assert refused[0] == "AR" and refused[1] == "HSE-NEG-0002"
        assert statuses(container) == ["processed", "rejected"]
    finally:
        container.engine.dispose()
