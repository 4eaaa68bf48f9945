"""Fault test: ``aiguillage mllp`` is killed with SIGKILL during a flood from several connections, then restarted.

Every message that received a positive ACK before the kill is in the store exactly once; the senders' resends
(everything not acknowledged, plus some acknowledged ones) are deduplicated and answered with the stored ACK."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hl7_listeners.client import MllpClient, ack_summary
from orientation_core.persistence import tables
from orientation_core.persistence.migrate import upgrade

CONNECTIONS = 6
PER_CONNECTION = 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIGUILLAGE_")}
    env.update(AIGUILLAGE_DATABASE_URL=url, AIGUILLAGE_LOG_JSON="false", AIGUILLAGE_LOG_LEVEL="WARNING")
    command = [str(Path(sys.executable).parent / "aiguillage"), "mllp", "--port", str(port)]
    with log.open("ab") as out:  # the child keeps its own descriptor
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError("listener did not start: " + log.read_text())


@pytest.mark.slow
def test_sigkill_during_flood_loses_no_acknowledged_message(tmp_path: Path, adt: Any) -> None:
    url = f"sqlite:///{tmp_path / 'fault.db'}"
    upgrade(url)
    port = _free_port()
    log = tmp_path / "listener.log"
    messages = {f"K{c}-{i}": adt(f"K{c}-{i}", ipp=f"9{c}{i:04d}").encode("latin-1")
                for c in range(CONNECTIONS) for i in range(PER_CONNECTION)}
    acked: dict[str, bytes] = {}  # control id → the positive ACK received before the kill
    lock = threading.Lock()
    total = len(messages)

    def flood(c: int) -> None:
        try:
            with MllpClient("127.0.0.1", port, timeout=10).connect() as client:
                for i in range(PER_CONNECTION):
                    ack = client.send(messages[f"K{c}-{i}"])
                    if ack_summary(ack)[0] == "AA":
                        with lock:
                            acked[f"K{c}-{i}"] = ack
        except OSError:
            return  # the listener died under us: what was not acknowledged is resent below
        except Exception:  # MllpError: closed before the ACK
            return

    process = _start(url, port, log)
    threads = [threading.Thread(target=flood, args=(c,)) for c in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while len(acked) < total // 3 and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)  # mid-flood
    process.wait(10)
    for thread in threads:
        thread.join(30)
    before_kill = dict(acked)
    assert 0 < len(before_kill) < total, "the kill must land during the flood"

    process = _start(url, port, log)
    try:
        resend = [cid for cid in messages if cid not in before_kill]
        again = list(before_kill)[::25]  # some already acknowledged ones: the sender did not see their ACK
        with MllpClient("127.0.0.1", port, timeout=10).connect() as client:
            for cid in again:
                assert client.send(messages[cid]) == before_kill[cid]  # the stored ACK, byte for byte
            for cid in resend:
                code, control, _ = ack_summary(client.send(messages[cid]))
                assert (code, control) == ("AA", cid)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            m = tables.inbox_message.c
            counts = dict(conn.execute(sa.select(m.control_id, sa.func.count()).group_by(m.control_id)).all())
            raws = dict(conn.execute(sa.select(m.control_id, m.raw)).all())
    finally:
        engine.dispose()
    assert all(counts.get(cid) == 1 for cid in before_kill), "an acknowledged message is missing or doubled"
    assert counts == dict.fromkeys(messages, 1)  # after the resends: every message exactly once
    assert all(bytes(raws[cid]) == messages[cid] for cid in before_kill)
