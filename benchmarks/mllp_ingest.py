"""MLLP ingest: Aiguillage's listener (store before ACK) against python-hl7's asyncio MLLP server (parse and ACK).

Claim (issue 3): on 8 connections Aiguillage's listener, which writes every message durably to the inbox before
acknowledging it, acknowledges at least 1.5× as many messages per second as python-hl7's asyncio MLLP server that
stores nothing when the inbox is on SQLite, at least 1.0× on PostgreSQL and at least 0.7× the store's own durable
ceiling; p99 ACK latency ≤ 25 ms; peak RSS ≤ 250 MB. On 64 connections: ≥ 0.7× the ceiling on both stores.

One invocation runs, with the same messages (a realistic IHE PAM France ADT^A01, ~1.3 KB, a new patient and
control id each), over 1, 8 and 64 connections of synchronous senders (send, wait for the ACK, send the next):

  * ``aiguillage-sqlite`` / ``aiguillage-postgresql``: ``hl7_listeners.server.MllpServer`` with the inbox's
    ``SqlInboxWriter`` (group commit; SQLite in WAL mode with synchronous=FULL, PostgreSQL with its default
    synchronous_commit=on), the same objects ``aiguillage mllp`` builds, without the pipeline worker (not part of
    the ACK path);
  * ``python-hl7``: ``hl7.mllp.start_hl7_server`` with a handler that parses (``readmessage``) and writes
    ``message.create_ack()`` — no storage at all.

Each server runs in its own subprocess (its peak RSS is its own, read from /proc VmHWM), a fresh one per
connection count. The senders are one asyncio process (uvloop) shared by all runs. Reported: msg/s over the
measured window (after a warm-up), p50/p99 ACK latency seen by the senders, peak RSS of the server.

The store's durable ceiling on this machine: the same rows (``orientation_core.persistence.inbox`` column values)
inserted with the bare driver (sqlite3 / psycopg ``executemany``) in batches of N rows, N = connection count, one
commit per batch, same durability settings. A synchronous sender waits for its ACK, so with N connections at most
N rows can be waiting for one commit: rows/s of that loop bounds store-before-ACK.

PostgreSQL: a database of its own (``aiguillage_bench_mllp``), created, migrated and dropped by the run.

    python benchmarks/mllp_ingest.py [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
                                     [--duration 5] [--warmup 1] [--connections 1,8,64] [--json-out PATH]

Exit code 0 whether the targets are met or not; the verdicts are printed (PASS/FAIL) and written to the JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import functools
import itertools
import json
import os
import platform
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

NAME = "mllp_ingest"
RESULTS = Path(__file__).resolve().parent / "results" / f"{NAME}.json"
DEFAULT_PG = os.environ.get("AIGUILLAGE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BENCH_DB = "aiguillage_bench_mllp"
SB, EB = b"\x0b", b"\x1c\r"

# ====================================================================================================================
# Messages: an ADT^A01 (admission) as a PAM France 2.11 feed sends it. Written for this benchmark; names fictitious.
# ====================================================================================================================

_FAMILIES = ["MARTIN", "BERNARD", "THOMAS", "PETIT", "ROBERT", "RICHARD", "DURAND", "DUBOIS", "MOREAU", "LAURENT"]
_GIVEN = ["Hélène", "Zoé", "Jérôme", "François", "Anaïs", "Noël", "Cécile", "Loïc", "Mathéo", "Inès"]


def adt_a01(run: str, n: int) -> bytes:
    """One admission: MSH (8859/15), EVN, PID (IPP, INS with VALI, birth and used names, BDL birthplace, phone, NDA),
    PD1, ROL (médecin traitant), NK1 (personne de confiance), PV1, PV2, ZBE, ZFD, IN1."""
    return _adt_a01(run, n, str(n), str(7000000 + n)).encode("iso8859-15")


class Frames:
    """``frame(n)`` = the MLLP block of ``adt_a01(run, n)``, byte for byte, from a template per ``n % 300`` (names and
    times repeat with that period) with two ``bytes.replace``: the senders share the 2 cores with the servers, so
    building a message must cost them ~1 µs, not the ~7 µs of formatting it."""

    def __init__(self, run: str) -> None:
        self.run = run
        self._templates: dict[int, bytes] = {}

    def frame(self, n: int) -> bytes:
        template = self._templates.get(n % 300)
        if template is None:
            template = SB + _adt_a01(self.run, n, "\x01", "\x02").encode("iso8859-15") + EB
            self._templates[n % 300] = template
        return template.replace(b"\x01", str(n).encode()).replace(b"\x02", str(7000000 + n).encode())


def _adt_a01(run: str, n: int, number: str, ipp: str) -> str:
    family, given = _FAMILIES[n % 10], _GIVEN[(n // 10) % 10]
    stamp = "20261123" + f"{8 + n % 10:02d}{n % 60:02d}00"
    segments = [
        f"MSH|^~\\&|DPI_SIH|CHU_SAINT_EXUPERY|AIGUILLAGE|AIGUILLAGE|{stamp}||ADT^A01^ADT_A01|{run}{number}|P|"
        "2.5^FRA^2.11|||||FRA|8859/15|FRA",
        f"EVN||{stamp}|||CMARTIN^MARTIN^CLAIRE^^^^^^CHU_SAINT_EXUPERY&1.2.250.1.71.4.2.2&ISO",
        f"PID|||{ipp}^^^CHU_SAINT_EXUPERY&1.2.250.1.71.4.2.2&ISO^PI~2751263220749^^^ASIP-SANTE-INS-NIR&"
        f"1.2.250.1.213.1.4.8&ISO^INS||{family}^{given}^{given} Marie^^^^L~EPOUSE{family}^{given}^^^^^D||"
        f"19751231|F|||12 rue des Lilas^^Lyon^^69003^FRA^H~^^^^^^BDL^^63220||0612345678^PRN^CP~^NET^Internet^"
        f"patient{number}@example.org|||||NDA{run}{number}^^^CHU_SAINT_EXUPERY&1.2.250.1.71.4.2.2&ISO^AN||||||||||||||VALI",
        "PD1||||||||||||N",
        "ROL||AD|ODRP|810100000058^MOREAU^LUC^^^DR^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^L^^^RPPS",
        "NK1|1|MARTIN^PIERRE|SPO^Conjoint|12 rue des Lilas^^Lyon^^69003^FRA|0698765432||K^Personne de confiance",
        f"PV1||I|1101^101^1^CHU_SAINT_EXUPERY^^^^^MEDECINE INTERNE||||810100000017^MARTIN^CLAIRE^^^DR^^^"
        f"ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^L^^^RPPS|||||||90||||NDA{run}{number}^^^CHU_SAINT_EXUPERY&"
        f"1.2.250.1.71.4.2.2&ISO^AN|||||||||||||||||||||||||{stamp}",
        "PV2|||^Décompensation cardiaque",
        f"ZBE|MVT{run}{number}^CHU_SAINT_EXUPERY^1.2.250.1.71.4.2.2^ISO|{stamp}||INSERT|N||"
        "MEDECINE INTERNE^^^^^CHU_SAINT_EXUPERY^UF^^^1101||HMS",
        "ZFD|||||INSI|20261120|CN",
        "IN1|1|AMO^Assurance maladie obligatoire|691234567|CPAM DU RHONE||||||||||||||||||||||||||||||||||"
        "275126322074974",
    ]
    return "\r".join(segments) + "\r"


# ====================================================================================================================
# Servers (subprocess mode of this script)
# ====================================================================================================================


def serve_aiguillage(url: str, port: int) -> None:
    from gateway.logging import configure
    from gateway.mllp import run_loop
    from hl7_listeners.server import ListenerConfig, MllpServer
    from orientation_core.persistence.inbox import SqlInboxWriter
    from orientation_core.persistence.uow import make_engine

    configure("WARNING", json=False)  # logs on stderr; stdout carries "ready"

    async def main() -> None:
        server = MllpServer(ListenerConfig(host="127.0.0.1", port=port), SqlInboxWriter(make_engine(url)))
        await server.start()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        print("ready", flush=True)
        await stop.wait()
        await server.stop()
        print(json.dumps(_commit_stats()), flush=True)  # read by the parent after SIGTERM

    run_loop(main())  # what `aiguillage mllp` runs


def _commit_stats() -> dict[str, float]:
    """Rows per group commit and commit duration, from the listener's own Prometheus histograms."""
    from hl7_listeners import metrics

    def sums(histogram: Any) -> tuple[float, float]:
        count = total = 0.0
        for sample in histogram.collect()[0].samples:
            if sample.name.endswith("_count"):
                count = sample.value
            elif sample.name.endswith("_sum"):
                total = sample.value
        return count, total

    commits, rows = sums(metrics.BATCH_SIZE)
    _, seconds = sums(metrics.COMMIT_SECONDS)
    return {"commits": commits, "rows_per_commit": round(rows / commits, 1) if commits else 0.0,
            "commit_ms": round(seconds / commits * 1000, 2) if commits else 0.0}


def serve_python_hl7(port: int) -> None:
    import hl7.mllp

    async def handle(reader: Any, writer: Any) -> None:
        try:
            while not writer.is_closing():
                message = await reader.readmessage()  # python-hl7 parses the whole message here
                writer.writemessage(message.create_ack())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await hl7.mllp.start_hl7_server(handle, "127.0.0.1", port, encoding="iso8859-15")
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        print("ready", flush=True)
        async with server:
            await stop.wait()

    import uvloop

    uvloop.run(main())  # the same event loop as Aiguillage's listener: the comparison is of the servers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(kind: str, url: str | None) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    command = [sys.executable, __file__, "--serve", kind, "--port", str(port)] + (["--url", url] if url else [])
    env = dict(os.environ, AIGUILLAGE_LOG_LEVEL="WARNING")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, env=env)
    assert process.stdout is not None
    for line in process.stdout:  # anything before "ready" is the server's own start-up output
        if line.strip() == b"ready":
            return process, port
    process.kill()
    raise RuntimeError(f"{kind} server did not start")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """User + system CPU time of a process (all its threads), or of one of its threads (the main thread's id is
    the process id), from /proc."""
    stat = Path(f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat")
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop_server(process: subprocess.Popen[bytes]) -> dict[str, float]:
    """SIGTERM, then what the server printed on its way out (Aiguillage: its commit statistics)."""
    process.send_signal(signal.SIGTERM)
    try:
        out, _ = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
        return {}
    for line in reversed(out.splitlines()):
        if line.startswith(b"{"):
            return dict(json.loads(line))
    return {}


# ====================================================================================================================
# Senders: N synchronous senders on one event loop (uvloop), each sends, waits for the ACK, sends the next
# ====================================================================================================================


class _Sender(asyncio.Protocol):
    def __init__(self, run: _Run, connection: int) -> None:
        self.run = run
        self.numbers = itertools.count(connection, run.connections)  # disjoint message numbers per connection
        self.buffer = b""
        self.sent_at = 0.0
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports do not subclass asyncio's
        self.send_next()

    def send_next(self) -> None:
        assert self.transport is not None
        if time.perf_counter() >= self.run.end:
            self.transport.close()
            return
        n = next(self.numbers)
        self.sent_at = time.perf_counter()
        self.transport.write(self.run.frames.frame(n))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\x1c")
            if end < 0:
                return
            ack, self.buffer = self.buffer[:end], self.buffer[end + 2:]
            now = time.perf_counter()
            self.run.acked += 1
            if now >= self.run.start:
                self.run.latencies.append(now - self.sent_at)
                if b"MSA|AA|" not in ack:
                    self.run.errors += 1
            self.send_next()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


class _Run:
    def __init__(self, tag: str, connections: int, warmup: float, duration: float) -> None:
        self.tag, self.connections = tag, connections
        self.frames = Frames(tag)
        self.latencies: list[float] = []
        self.errors = 0
        self.acked = 0
        self.start = time.perf_counter() + warmup
        self.end = self.start + duration


async def drive(port: int, tag: str, connections: int, warmup: float, duration: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    run = _Run(tag, connections, warmup, duration)
    senders = []
    for c in range(connections):
        _, sender = await loop.create_connection(functools.partial(_Sender, run, c), "127.0.0.1", port)
        senders.append(sender)
    await asyncio.wait_for(asyncio.gather(*(s.closed for s in senders)), warmup + duration + 30)
    lat = sorted(run.latencies)
    count = len(lat)
    return {
        "messages": count,
        "msg_per_s": round(count / duration, 1),
        "p50_ms": round(lat[count // 2] * 1000, 2) if lat else None,
        "p99_ms": round(lat[min(count - 1, int(count * 0.99))] * 1000, 2) if lat else None,
        "mean_ms": round(statistics.fmean(lat) * 1000, 2) if lat else None,
        "non_aa": run.errors,
        "all_messages": run.acked,
    }


# ====================================================================================================================
# The store's durable ceiling: same rows, bare driver, batches of N, one commit per batch
# ====================================================================================================================


def _rows(tag: str, count: int, dialect: str) -> list[tuple[Any, ...]]:
    from orientation_core.inbox.model import InboxSource, NewInboxMessage
    from orientation_core.persistence.inbox import _driver_values

    now = dt.datetime.now(dt.UTC)
    return [_driver_values(dialect, NewInboxMessage(
        source=InboxSource.HL7V2, sender_app="DPI_SIH", sender_facility="CHU_SAINT_EXUPERY", control_id=f"{tag}{n}",
        message_type="ADT", trigger_event="A01", message_structure="ADT_A01", version="2.5^FRA^2.11",
        charset="8859/15", patient_key=f"{7000000 + n}^CHU_SAINT_EXUPERY", raw=adt_a01(tag, n), received_at=now,
        ack=b"MSH|^~\\&|AIGUILLAGE|AIGUILLAGE|DPI_SIH|CHU_SAINT_EXUPERY|20261123080000+0100||ACK^A01^ACK|"
            b"1795415175348000|P|2.5^FRA^2.11||||||8859/15\rMSA|AA|" + f"{tag}{n}".encode() + b"\r"))
        for n in range(count)]


_COLS = ("source, sender_app, sender_facility, control_id, message_type, trigger_event, message_structure, version, "
         "charset, patient_key, received_at, raw, flags, ack, accept_ack_type, app_ack_type, status, attempts")


def ceiling_sqlite(path: str, batch: int, seconds: float) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")  # as SqlInboxWriter
    sql = f"INSERT INTO inbox_message ({_COLS}) VALUES ({', '.join('?' * 18)})"
    rows = _rows(f"CS{batch}-{time.monotonic_ns()}-", 20_000, "sqlite")
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds and done + batch <= len(rows):
        conn.execute("BEGIN")
        conn.executemany(sql, rows[done:done + batch])
        conn.execute("COMMIT")
        done += batch
    elapsed = time.perf_counter() - started
    conn.close()
    return done / elapsed


def ceiling_postgresql(libpq: str, batch: int, seconds: float) -> float:
    import psycopg

    sql = (f"INSERT INTO inbox_message ({_COLS}) VALUES "
           f"({', '.join('%s::jsonb' if i == 12 else '%s' for i in range(18))})")
    rows = _rows(f"CP{batch}-{time.monotonic_ns()}-", 20_000, "postgresql")
    done, started = 0, time.perf_counter()
    with psycopg.connect(libpq) as conn:
        while time.perf_counter() - started < seconds and done + batch <= len(rows):
            with conn.cursor() as cur:
                cur.executemany(sql, rows[done:done + batch])
            conn.commit()
            done += batch
    return done / (time.perf_counter() - started)


# ====================================================================================================================
# The run
# ====================================================================================================================


def prepare_postgres(admin_url: str) -> str | None:
    import sqlalchemy as sa

    from orientation_core.persistence.migrate import upgrade

    try:
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{BENCH_DB}"'))
        admin.dispose()
    except Exception as exc:
        print(f"PostgreSQL unavailable ({type(exc).__name__}): PostgreSQL runs skipped", file=sys.stderr)
        return None
    url = sa.engine.make_url(admin_url).set(database=BENCH_DB).render_as_string(hide_password=False)
    upgrade(url)
    return url


def drop_postgres(admin_url: str) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)'))
    admin.dispose()


def libpq_url(url: str) -> str:
    import re

    return re.sub(r"^postgresql\+[a-z0-9_]+://", "postgresql://", url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_PG, help="PostgreSQL server (a database of its own is used)")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--ceiling-seconds", type=float, default=3.0)
    parser.add_argument("--connections", default="1,8,64")
    parser.add_argument("--json-out", type=Path, default=RESULTS)
    parser.add_argument("--serve", choices=["aiguillage", "python-hl7"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == "aiguillage":
        serve_aiguillage(args.url, args.port)
        return
    if args.serve == "python-hl7":
        serve_python_hl7(args.port)
        return

    import uvloop

    from orientation_core.persistence.migrate import upgrade

    counts = [int(c) for c in args.connections.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="aiguillage_bench_mllp_"))
    sqlite_path = workdir / "inbox.db"
    sqlite_url = f"sqlite:///{sqlite_path}"
    upgrade(sqlite_url)
    pg_url = prepare_postgres(args.database_url)
    stores = {"aiguillage-sqlite": sqlite_url, **({"aiguillage-postgresql": pg_url} if pg_url else {})}
    started = time.time()
    runs: list[dict[str, Any]] = []
    ceilings: dict[str, dict[str, float]] = {"sqlite": {}, "postgresql": {}}
    try:
        for n in counts:
            for server, url in [("python-hl7", None), *stores.items()]:
                process, port = start_server("aiguillage" if url else "python-hl7", url)
                figures: dict[str, Any] = {}
                try:
                    tag = f"{server[:3]}{n}x{int(time.time() * 1000) % 100000}-"
                    cpu_before, loop_before = cpu_seconds(process.pid), cpu_seconds(process.pid, process.pid)
                    sender_before, wall_before = time.process_time(), time.perf_counter()
                    figures = uvloop.run(drive(port, tag, n, args.warmup, args.duration))
                    # warm-up included: per message of the whole drive
                    wall = time.perf_counter() - wall_before
                    cpu = cpu_seconds(process.pid) - cpu_before
                    loop_cpu = cpu_seconds(process.pid, process.pid) - loop_before  # the event loop's thread
                    every = max(figures.pop("all_messages"), 1)
                    figures["server_cpu_us_per_msg"] = round(cpu / every * 1e6, 1)
                    figures["server_loop_thread_cpu_us_per_msg"] = round(loop_cpu / every * 1e6, 1)
                    figures["server_cores_used"] = round(cpu / wall, 2)
                    figures["sender_cpu_us_per_msg"] = round((time.process_time() - sender_before) / every * 1e6, 1)
                    figures["peak_rss_mb"] = round(peak_rss_mb(process.pid), 1)
                    figures["load_average_1min"] = round(os.getloadavg()[0], 1)
                finally:
                    figures.update(stop_server(process))  # Aiguillage: rows per commit, commit duration
                runs.append({"server": server, "connections": n, **figures})
                print(f"{server:22s} {n:3d} conn  {figures['msg_per_s']:8.0f} msg/s  p50 {figures['p50_ms']} ms  "
                      f"p99 {figures['p99_ms']} ms  RSS {figures['peak_rss_mb']} MB  server CPU "
                      f"{figures['server_cpu_us_per_msg']} µs/msg (loop thread "
                      f"{figures['server_loop_thread_cpu_us_per_msg']}), {figures['server_cores_used']} cores  "
                      f"senders {figures['sender_cpu_us_per_msg']} µs/msg  non-AA {figures['non_aa']}"
                      + (f"  {figures['rows_per_commit']} rows/commit of {figures['commit_ms']} ms"
                         if "rows_per_commit" in figures else "") + f"  load {figures['load_average_1min']}",
                      flush=True)
            # the median of three windows: one window can land on another process's burst of disk writes
            window = args.ceiling_seconds / 3
            ceilings["sqlite"][str(n)] = round(statistics.median(
                ceiling_sqlite(str(sqlite_path), n, window) for _ in range(3)), 1)
            if pg_url:
                ceilings["postgresql"][str(n)] = round(statistics.median(
                    ceiling_postgresql(libpq_url(pg_url), n, window) for _ in range(3)), 1)
            print(f"durable ceiling, batches of {n}: SQLite {ceilings['sqlite'][str(n)]:.0f} rows/s"
                  + (f", PostgreSQL {ceilings['postgresql'][str(n)]:.0f} rows/s" if pg_url else ""), flush=True)
    finally:
        if pg_url:
            drop_postgres(args.database_url)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{sqlite_path}{suffix}").unlink(missing_ok=True)
        workdir.rmdir()

    by = {(r["server"], r["connections"]): r for r in runs}
    for r in runs:
        peer = by.get(("python-hl7", r["connections"]))
        r["vs_python_hl7"] = round(r["msg_per_s"] / peer["msg_per_s"], 2) if peer and peer["msg_per_s"] else None
        store = {"aiguillage-sqlite": "sqlite", "aiguillage-postgresql": "postgresql"}.get(r["server"])
        ceiling = ceilings.get(store or "", {}).get(str(r["connections"]))
        r["ceiling_rows_per_s"] = ceiling
        r["vs_ceiling"] = round(r["msg_per_s"] / ceiling, 2) if ceiling else None

    targets: list[dict[str, Any]] = []

    def target(name: str, value: float | None, limit: float, higher: bool = True) -> None:
        ok = value is not None and (value >= limit if higher else value <= limit)
        targets.append({"target": name, "value": value, "limit": limit, "pass": ok})

    for store, label in (("aiguillage-sqlite", "SQLite"), ("aiguillage-postgresql", "PostgreSQL")):
        r8, r64 = by.get((store, 8)), by.get((store, 64))
        if r8:
            target(f"{label}, 8 conn: × python-hl7", r8["vs_python_hl7"], 1.5 if label == "SQLite" else 1.0)
            if label == "PostgreSQL":
                target(f"{label}, 8 conn: × durable ceiling", r8["vs_ceiling"], 0.7)
            target(f"{label}, 8 conn: p99 ACK ms", r8["p99_ms"], 25.0, higher=False)
            target(f"{label}, 8 conn: peak RSS MB", r8["peak_rss_mb"], 250.0, higher=False)
        if r64:
            target(f"{label}, 64 conn: × durable ceiling", r64["vs_ceiling"], 0.7)

    print("\n| server | conn | msg/s | p50 ms | p99 ms | peak RSS MB | × python-hl7 | ceiling rows/s | × ceiling |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        print(f"| {r['server']} | {r['connections']} | {r['msg_per_s']:.0f} | {r['p50_ms']} | {r['p99_ms']} | "
              f"{r['peak_rss_mb']} | {r['vs_python_hl7']} | {r['ceiling_rows_per_s'] or '—'} | "
              f"{r['vs_ceiling'] or '—'} |")
    print()
    for t in targets:
        print(f"{'PASS' if t['pass'] else 'FAIL'}  {t['target']}: {t['value']} (limit {t['limit']})")

    result = {
        "benchmark": NAME,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()},
        "settings": {"duration_s": args.duration, "warmup_s": args.warmup, "connections": counts,
                     "message_bytes": len(adt_a01("X", 1)), "ceiling_seconds": args.ceiling_seconds},
        "runs": runs,
        "durable_ceiling_rows_per_s": ceilings,
        "targets": targets,
        "wall_seconds": round(time.time() - started, 1),
    }
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"\n→ {args.json_out}")


if __name__ == "__main__":
    main()
