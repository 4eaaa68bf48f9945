"""The MLLP listener over a real loopback socket, on SQLite and PostgreSQL: what a sending interface engine sees
(ACKs, in order, for every real-sender framing case) and what lands in the inbox."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from hl7_listeners.client import MllpError, ack_summary
from orientation_core.inbox.model import Verdict

SB, EB = b"\x0b", b"\x1c\r"
Rows = Callable[[str], list[dict[str, Any]]]


def msh(ack: bytes) -> list[str]:
    return ack.decode("latin-1").split("\r")[0].split("|")


def test_a_message_is_stored_then_acknowledged_aa(store_url: str, listener: Any, adt: Any, inbox_rows: Rows) -> None:
    running = listener(store_url)
    message = adt("MSG0001").encode("iso8859-15")
    with running.client() as client:
        ack = client.send(message)
    assert ack_summary(ack) == ("AA", "MSG0001", "")
    fields = msh(ack)
    # MSH of the ACK: sender and receiver swapped, ACK^<event>^ACK, same MSH-11, MSH-12 and MSH-18
    assert fields[2:6] == ["AIGUILLAGE", "AIGUILLAGE", "DPI_SIH", "CHU_SAINT_EXUPERY"]
    assert fields[8] == "ACK^A01^ACK" and fields[10] == "P" and fields[11] == "2.5^FRA^2.11" and fields[17] == "8859/15"
    assert fields[9] and fields[9] != "MSG0001"
    (row,) = inbox_rows(store_url)
    assert bytes(row["raw"]) == message  # exactly as received inside the frame
    assert (row["sender_app"], row["sender_facility"], row["control_id"]) == ("DPI_SIH", "CHU_SAINT_EXUPERY", "MSG0001")
    assert (row["message_type"], row["trigger_event"], row["message_structure"]) == ("ADT", "A01", "ADT_A01")
    assert row["patient_key"] == "100234^CHU_SAINT_EXUPERY" and row["charset"] == "8859/15"
    assert row["status"] == "received" and bytes(row["ack"]) == ack and row["flags"] == []


@pytest.mark.parametrize("writers", [1, 3])
def test_many_messages_per_connection_and_several_connections(store_url: str, listener: Any, adt: Any,
                                                              inbox_rows: Rows, writers: int) -> None:
    running = listener(store_url, writers=writers)  # several writer connections may share the queue
    errors: list[BaseException] = []

    def sender(n: int) -> None:
        try:
            with running.client() as client:
                for i in range(25):
                    assert ack_summary(client.send(adt(f"C{n}-{i}").encode("latin-1")))[:2] == ("AA", f"C{n}-{i}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(inbox_rows(store_url)) == 100


def test_frame_split_over_reads_and_frames_merged_in_one_read(sqlite_url: str, listener: Any, adt: Any,
                                                              inbox_rows: Rows) -> None:
    running = listener(sqlite_url)
    one = SB + adt("SPLIT").encode("latin-1") + EB
    with running.client() as client:
        for i in range(0, len(one), 7):  # a frame in 7-byte pieces, start block and end block split too
            client.send_raw(one[i:i + 7])
            time.sleep(0.001)
        assert ack_summary(client.read_ack())[:2] == ("AA", "SPLIT")
        merged = b"".join(SB + adt(f"M{i}").encode("latin-1") + EB for i in range(5))
        client.send_raw(merged)  # five frames in one write
        assert [ack_summary(client.read_ack())[1] for _ in range(5)] == [f"M{i}" for i in range(5)]
        client.send_raw(merged[:-1])  # the last frame's CR after 0x1C comes with the next frame
        client.send_raw(b"\r" + SB + adt("AFTER").encode("latin-1") + EB)
        assert [ack_summary(client.read_ack())[:2] for _ in range(6)][-1] == ("AA", "AFTER")
    assert len(inbox_rows(sqlite_url)) == 7


def test_stray_bytes_and_nuls_between_frames_are_skipped(sqlite_url: str, listener: Any, adt: Any,
                                                         inbox_rows: Rows) -> None:
    running = listener(sqlite_url)
    with running.client() as client:
        client.send_raw(b"\x00\x00\r\n" + SB + adt("S1").encode("latin-1") + EB + b"garbage\x00\x00 \n"
                        + SB + adt("S2").encode("latin-1") + EB + b"\x00")
        assert [ack_summary(client.read_ack())[:2] for _ in range(2)] == [("AA", "S1"), ("AA", "S2")]
        # a start block with no end, then a new start block: the abandoned piece is dropped, the next frame ACKed
        client.send_raw(SB + b"MSH|^~\\&|half a mess" + SB + adt("S3").encode("latin-1") + EB)
        assert ack_summary(client.read_ack())[:2] == ("AA", "S3")
    assert [r["control_id"] for r in inbox_rows(sqlite_url)] == ["S1", "S2", "S3"]


@pytest.mark.parametrize("separator", ["\n", "\r\n"])
def test_lf_and_crlf_segment_separators_are_accepted_and_flagged(store_url: str, listener: Any, adt: Any,
                                                                 inbox_rows: Rows, separator: str) -> None:
    running = listener(store_url)
    message = adt("LF1", sep=separator).encode("latin-1")
    with running.client() as client:
        assert ack_summary(client.send(message))[:2] == ("AA", "LF1")
    (row,) = inbox_rows(store_url)
    assert bytes(row["raw"]) == message and row["flags"] == ["lf-segments"]
    assert row["patient_key"] == "100234^CHU_SAINT_EXUPERY" and row["charset"] == "8859/15"


def test_half_closed_connection_still_gets_every_ack(store_url: str, listener: Any, adt: Any,
                                                     inbox_rows: Rows) -> None:
    running = listener(store_url)
    with running.client() as client:
        client.send_raw(b"".join(SB + adt(f"H{i}").encode("latin-1") + EB for i in range(3)))
        client.send_raw(SB + b"MSH|^~\\&|unfinished")  # a partial frame, then the sender half-closes
        client.shutdown_write()
        assert [ack_summary(client.read_ack())[:2] for _ in range(3)] == [("AA", "H0"), ("AA", "H1"), ("AA", "H2")]
        with pytest.raises(MllpError):  # then the listener closes its side
            client.read_ack()
    assert len(inbox_rows(store_url)) == 3


def test_oversize_frame_gets_a_nak_and_the_connection_survives(store_url: str, listener: Any, adt: Any,
                                                               inbox_rows: Rows) -> None:
    running = listener(store_url, max_frame_bytes=4096)
    big = adt("BIG1").encode("latin-1") + b"OBX|1|ED|PDF^Compte rendu||" + b"A" * 20_000 + b"\r"
    with running.client() as client:
        for i in range(0, len(big), 1500):  # arrives over many reads: refused as soon as it passes the limit
            client.send_raw((SB if i == 0 else b"") + big[i:i + 1500])
        client.send_raw(EB)
        code, control, reason = ack_summary(client.read_ack())
        assert (code, control) == ("AR", "BIG1") and "trop volumineux" in reason
        client.send_raw(SB + big + EB)  # in a single read this time
        assert ack_summary(client.read_ack())[:2] == ("AR", "BIG1")
        assert ack_summary(client.send(adt("SMALL").encode("latin-1")))[:2] == ("AA", "SMALL")
    assert [r["control_id"] for r in inbox_rows(store_url)] == ["SMALL"]


def test_charsets_per_msh18(store_url: str, listener: Any, adt: Any, inbox_rows: Rows) -> None:
    running = listener(store_url, default_charset="8859/1")
    with running.client() as client:
        latin1 = adt("CS1", charset="8859/1", given="Hélène").encode("latin-1")
        assert ack_summary(client.send(latin1))[:2] == ("AA", "CS1")
        utf8 = adt("CS2", charset="UNICODE UTF-8", given="Zoé").encode("utf-8")
        ack = client.send(utf8)
        assert ack_summary(ack)[:2] == ("AA", "CS2") and msh(ack)[17] == "UNICODE UTF-8"
        bad_utf8 = adt("CS3", charset="UNICODE UTF-8", given="Zoé").encode("latin-1")  # é as 0xE9: not UTF-8
        code, control, reason = ack_summary(client.send(bad_utf8))
        assert (code, control) == ("AR", "CS3") and "MSH-18" in reason
        assert "102^Data type error^HL70357" in client.send(bad_utf8.replace(b"CS3", b"CS3b")).decode("utf-8")
        code, control, reason = ack_summary(client.send(adt("CS4", charset="KOI8-R").encode("latin-1")))
        assert (code, control) == ("AR", "CS4") and "Jeu de caractères" in reason
        default = adt("CS5", charset="", given="Noël").encode("latin-1")
        assert ack_summary(client.send(default))[:2] == ("AA", "CS5")
    rows = {r["control_id"]: r for r in inbox_rows(store_url)}
    assert sorted(rows) == ["CS1", "CS2", "CS5"]
    assert rows["CS5"]["charset"] == "8859/1" and rows["CS5"]["flags"] == ["default-charset"]
    assert bytes(rows["CS2"]["raw"]).decode("utf-8").count("Zoé") == 2


def test_duplicate_gets_the_stored_ack_and_no_second_row(store_url: str, listener: Any, adt: Any,
                                                         inbox_rows: Rows) -> None:
    notified: list[list[int]] = []
    running = listener(store_url, on_stored=notified.append)
    message = adt("DUP1").encode("latin-1")
    with running.client() as first:
        ack = first.send(message)
    with running.client() as second:
        assert second.send(message) == ack  # byte for byte, its own MSH-10 and MSH-7 included
        assert second.send(message) == ack
        other_sender = adt("DUP1", sender="AUTRE_DPI").encode("latin-1")
        assert ack_summary(second.send(other_sender))[:2] == ("AA", "DUP1")
    rows = inbox_rows(store_url)
    assert [(r["sender_app"], r["control_id"]) for r in rows] == [("DPI_SIH", "DUP1"), ("AUTRE_DPI", "DUP1")]
    deadline = time.monotonic() + 5
    while sum(len(ids) for ids in notified) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(i for ids in notified for i in ids) == [r["id"] for r in rows]  # the pipeline woken once per row


def test_enhanced_mode_commit_acks_per_msh15(store_url: str, listener: Any, adt: Any, inbox_rows: Rows) -> None:
    running = listener(store_url)
    with running.client(timeout=3) as client:
        ack = client.send(adt("E1", accept_ack="AL", app_ack="NE").encode("latin-1"))
        assert ack_summary(ack)[:2] == ("CA", "E1")
        assert msh(ack)[14:16] == ["NE", "NE"]  # an ACK is not itself acknowledged
        # NE: no commit ACK at all; ER: none on success; the next ACK read is E4's (SU, success)
        client.send_raw(SB + adt("E2", accept_ack="NE", app_ack="AL").encode("latin-1") + EB)
        client.send_raw(SB + adt("E3", accept_ack="ER", app_ack="AL").encode("latin-1") + EB)
        assert ack_summary(client.send(adt("E4", accept_ack="SU").encode("latin-1")))[:2] == ("CA", "E4")
        # ER on an error: CR; SU on an error: nothing (E6), so the next ACK is E7's
        bad = adt("", accept_ack="ER").encode("latin-1")
        assert ack_summary(client.send(bad))[0] == "CR"
        client.send_raw(SB + adt("", accept_ack="SU").encode("latin-1") + EB)
        assert ack_summary(client.send(adt("E7", app_ack="AL").encode("latin-1")))[:2] == ("CA", "E7")
    rows = {r["control_id"]: r for r in inbox_rows(store_url)}
    assert sorted(rows) == ["E1", "E2", "E3", "E4", "E7"]
    assert (rows["E2"]["accept_ack_type"], rows["E2"]["app_ack_type"]) == ("NE", "AL")
    assert bytes(rows["E2"]["ack"]) == b""  # a resend of E2 gets nothing either


def test_rejected_frames_get_ar_with_err_location(sqlite_url: str, listener: Any, adt: Any, inbox_rows: Rows) -> None:
    running = listener(sqlite_url)
    with running.client() as client:
        ack = client.send(adt("").encode("latin-1")).decode("latin-1")
        assert "MSA|AR|\r" in ack
        assert "ERR||MSH^1^10|101^Required field missing^HL70357|E||||Identifiant du message (MSH-10) absent / " \
               "Message control ID (MSH-10) missing\r" in ack
        no_type = adt("NT1").replace("ADT^A01^ADT_A01", "").encode("latin-1")
        assert "ERR||MSH^1^9|101^" in client.send(no_type).decode("latin-1")
        code, control, reason = ack_summary(client.send(b"EVN||20261123\rPID|||1^^^X^PI\r"))
        assert (code, control) == ("AR", "") and "MSH" in reason
        # in order, when good and bad frames come together
        client.send_raw(b"".join(SB + m + EB for m in (adt("G1").encode(), b"garbage", adt("G2").encode())))
        assert [ack_summary(client.read_ack())[:2] for _ in range(3)] == [("AA", "G1"), ("AR", ""), ("AA", "G2")]
    assert [r["control_id"] for r in inbox_rows(sqlite_url)] == ["G1", "G2"]


def test_store_down_answers_ae_and_writes_nothing_sqlite(sqlite_url: str, listener: Any, adt: Any, engine_for: Any,
                                                         inbox_rows: Rows) -> None:
    """Another process holds SQLite's write lock longer than the listener waits: the store is down for it."""
    import sqlite3

    running = listener(sqlite_url, busy_timeout_ms=200)
    path = sqlite_url.removeprefix("sqlite:///")
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        with running.client() as client:
            assert ack_summary(client.send(adt("D0").encode("latin-1")))[0] == "AA"
            blocker.execute("BEGIN IMMEDIATE")
            code, control, reason = ack_summary(client.send(adt("D1").encode("latin-1")))
            assert (code, control) == ("AE", "D1") and "indisponible" in reason
            enhanced = client.send(adt("D2", accept_ack="AL").encode("latin-1"))
            assert ack_summary(enhanced)[:2] == ("CE", "D2") and "207^Application internal error" in enhanced.decode("latin-1")
            blocker.execute("ROLLBACK")
            assert ack_summary(client.send(adt("D1").encode("latin-1")))[:2] == ("AA", "D1")  # the resend is stored
    finally:
        blocker.close()
    assert [r["control_id"] for r in inbox_rows(sqlite_url)] == ["D0", "D1"]


@pytest.mark.postgres
def test_store_down_answers_ae_and_writes_nothing_postgres(_postgres_url: str, listener: Any, adt: Any,
                                                           inbox_rows: Rows, engine_for: Any) -> None:
    """The database refuses connections and the listener's session is killed: AE; back up: the resend is AA."""
    import sqlalchemy as sa

    url = _postgres_url
    with engine_for(url).begin() as conn:
        conn.execute(sa.text("DELETE FROM inbox_attempt"))
        conn.execute(sa.text("DELETE FROM inbox_message"))
    running = listener(url)
    name = sa.engine.make_url(url).database
    admin = sa.create_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT",
                             poolclass=sa.pool.NullPool)
    try:
        with running.client() as client:
            assert ack_summary(client.send(adt("P0").encode("latin-1")))[0] == "AA"
            kill = sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = :n AND pid <> pg_backend_pid()")
            with admin.connect() as conn:  # a server restart cuts the listener's connection: reconnect, no NAK
                conn.execute(kill, {"n": name})
            assert ack_summary(client.send(adt("P00").encode("latin-1")))[:2] == ("AA", "P00")
            with admin.connect() as conn:
                conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
                conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                     "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
            code, control, _ = ack_summary(client.send(adt("P1").encode("latin-1")))
            assert (code, control) == ("AE", "P1")
            with admin.connect() as conn:
                conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            assert ack_summary(client.send(adt("P1").encode("latin-1")))[:2] == ("AA", "P1")
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()
    engine_for(url).dispose()  # its pooled connections were killed too
    assert [r["control_id"] for r in inbox_rows(url)] == ["P0", "P00", "P1"]


def test_ack_after_processing_returns_the_pipeline_verdict(sqlite_url: str, listener: Any, adt: Any,
                                                           inbox_rows: Rows) -> None:
    verdicts = {
        "V1": Verdict(ok=True),
        "V2": Verdict(ok=False, rejected=True, code="103", location="ZBE^1^4",
                      reason_fr="Action ZBE-4 inconnue", reason_en="Unknown ZBE-4 action"),
        "V3": Verdict(ok=False, code="207", reason_fr="Patient verrouillé", reason_en="Patient locked"),
    }
    seen: list[int] = []

    def process(inbox_id: int) -> Verdict:
        seen.append(inbox_id)
        row = next(r for r in inbox_rows(sqlite_url) if r["id"] == inbox_id)
        return verdicts[str(row["control_id"])]

    running = listener(sqlite_url, ack_mode="processed", process=process)
    with running.client() as client:
        assert ack_summary(client.send(adt("V1").encode("latin-1")))[:2] == ("AA", "V1")
        ack = client.send(adt("V2").encode("latin-1")).decode("latin-1")
        assert "MSA|AR|V2" in ack and "ERR||ZBE^1^4|103^Table value not found^HL70357|E||||Action ZBE-4 inconnue" in ack
        assert ack_summary(client.send(adt("V3", accept_ack="AL").encode("latin-1")))[:2] == ("CE", "V3")
        assert ack_summary(client.send(adt("V1").encode("latin-1")))[:2] == ("AA", "V1")  # duplicate: asked again
    assert len(inbox_rows(sqlite_url)) == 3 and len(seen) == 4


def test_max_connections_and_idle_timeout(sqlite_url: str, listener: Any, adt: Any) -> None:
    running = listener(sqlite_url, max_connections=2, idle_timeout=0.5)
    first, second = running.client(timeout=3), running.client(timeout=3)
    try:
        assert ack_summary(first.send(adt("X1").encode("latin-1")))[0] == "AA"
        third = socket.create_connection(("127.0.0.1", running.port), timeout=3)
        assert third.recv(10) == b""  # refused: closed at once
        third.close()
        assert ack_summary(second.send(adt("X2").encode("latin-1")))[0] == "AA"
        time.sleep(1.2)  # both idle longer than the timeout: closed by the listener
        with pytest.raises((MllpError, OSError)):
            first.send(adt("X3").encode("latin-1"))
        with running.client(timeout=3) as fourth:  # the slots are free again
            assert ack_summary(fourth.send(adt("X4").encode("latin-1")))[0] == "AA"
    finally:
        first.close()
        second.close()


def test_metrics_count_every_message_and_ack(sqlite_url: str, listener: Any, adt: Any) -> None:
    # the loop thread tallies per message and pushes to Prometheus once per batch or read: what /metrics shows
    from prometheus_client import REGISTRY

    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    names = [("aiguillage_mllp_messages_total", {"result": "stored"}),
             ("aiguillage_mllp_messages_total", {"result": "duplicate"}),
             ("aiguillage_mllp_messages_total", {"result": "rejected"}),
             ("aiguillage_mllp_acks_total", {"code": "AA"}), ("aiguillage_mllp_acks_total", {"code": "AR"}),
             ("aiguillage_mllp_ack_seconds_count", {}), ("aiguillage_mllp_ack_seconds_bucket", {"le": "+Inf"})]
    before = [value(name, **labels) for name, labels in names]
    running = listener(sqlite_url)
    with running.client() as client:
        for i in range(5):
            assert ack_summary(client.send(adt(f"MET{i}").encode("latin-1")))[0] == "AA"
        assert ack_summary(client.send(adt("MET0").encode("latin-1")))[0] == "AA"  # duplicate
        assert ack_summary(client.send(b"PID|no MSH here\r"))[0] == "AR"
    expected = [5, 1, 1, 6, 1, 7, 7]
    deadline = time.monotonic() + 5
    while True:  # the ACK may reach the client a moment before its batch's counts are pushed
        delta = [value(name, **labels) - b for (name, labels), b in zip(names, before, strict=True)]
        if delta == expected or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert delta == expected
