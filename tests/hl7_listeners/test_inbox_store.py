"""The inbox store path on both stores: bulk insert with dedup, stored ACK for duplicates, rollback on error."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from orientation_core.errors import StoreUnavailable
from orientation_core.inbox.model import InboxSource, InboxStatus, NewInboxMessage, StoreResult
from orientation_core.persistence.inbox import SqlInboxWriter
from orientation_core.persistence.uow import UnitOfWorkFactory

NOW = dt.datetime(2026, 11, 23, 6, 0, tzinfo=dt.UTC)


def row(control_id: str, *, app: str = "DPI", ack: bytes = b"ACK", patient: str | None = "123^HOP") -> NewInboxMessage:
    return NewInboxMessage(
        source=InboxSource.HL7V2, sender_app=app, sender_facility="CHU", control_id=control_id,
        message_type="ADT", trigger_event="A01", message_structure="ADT_A01", version="2.5^FRA^2.11",
        charset="8859/1", patient_key=patient, raw=f"MSH|^~\\&|{app}|CHU|||||ADT^A01|{control_id}".encode(),
        received_at=NOW, flags=["lf-segments"], ack=ack + control_id.encode())


def test_batch_stores_new_rows_and_answers_duplicates_with_the_first_ack(store_url: str, engine_for: Any,
                                                                        inbox_rows: Callable[[str], list[dict[str, Any]]]) -> None:
    writer = SqlInboxWriter(engine_for(store_url))
    try:
        first = writer.store_batch([row("1"), row("2"), row("1", ack=b"OTHER")])
        assert [s.result for s in first] == [StoreResult.STORED, StoreResult.STORED, StoreResult.DUPLICATE]
        assert first[2].inbox_id == first[0].inbox_id and first[2].ack == b"ACK1"
        again = writer.store_batch([row("2", ack=b"NEW"), row("3"), row("2", app="AUTRE")])
        assert [s.result for s in again] == [StoreResult.DUPLICATE, StoreResult.STORED, StoreResult.STORED]
        assert again[0].ack == b"ACK2" and again[0].inbox_id == first[1].inbox_id
    finally:
        writer.close()
    rows = inbox_rows(store_url)
    assert [(r["sender_app"], r["control_id"]) for r in rows] == [("DPI", "1"), ("DPI", "2"), ("DPI", "3"), ("AUTRE", "2")]
    assert rows[0]["status"] == InboxStatus.RECEIVED and rows[0]["flags"] == ["lf-segments"]
    assert rows[0]["received_at"] == NOW and bytes(rows[0]["raw"]).startswith(b"MSH|")  # type: ignore[arg-type]


def test_uow_inbox_reads_by_id_and_key(store_url: str, engine_for: Any) -> None:
    factory = UnitOfWorkFactory(engine_for(store_url))
    with factory() as uow:
        stored = uow.inbox.add(row("42"))
    with factory() as uow:
        message = uow.inbox.get(stored.inbox_id)
        assert message is not None and message.control_id == "42" and message.patient_key == "123^HOP"
        assert message.ack == b"ACK42" and message.status is InboxStatus.RECEIVED
        same = uow.inbox.by_key(InboxSource.HL7V2, "DPI", "CHU", "42")
        assert same is not None and same.id == stored.inbox_id
        assert uow.inbox.by_key(InboxSource.FHIR, "DPI", "CHU", "42") is None


def test_a_failing_batch_writes_nothing(store_url: str, engine_for: Any, inbox_rows: Any) -> None:
    writer = SqlInboxWriter(engine_for(store_url))
    batch = [row(str(i)) for i in range(300)]  # two INSERT statements: the first one succeeds
    batch[290].received_at = dt.datetime(2026, 1, 1)  # naive: refused by the store path  # noqa: DTZ001
    try:
        with pytest.raises(StoreUnavailable):
            writer.store_batch(batch)
        assert inbox_rows(store_url) == []
        assert writer.store_batch([row("1")])[0].result is StoreResult.STORED  # the writer recovers
    finally:
        writer.close()
