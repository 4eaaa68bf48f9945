"""FHIR intake throughput: a 12-entry transaction Bundle posted repeatedly to a real uvicorn on loopback.

Claim (issue): the end-to-end intake (HTTP, structure and profile validation, versioned storage of the 12
resources with their identifier and search index rows, the inbox row, one commit) runs at ≥ 0.5× the rate of
fhir.resources' validation alone of the same Bundle, with p95 ≤ 50 ms at 8 concurrent clients on PostgreSQL.

Peers in the same run (the machine is shared and noisy, so the claim is a ratio):
  * fhir.resources alone: ``Bundle.model_validate`` of the same Bundle (R4B models), in this process, one thread,
    measured right before and right after the intake run (the better of the two is the peer: the stricter
    comparison);
  * the limit: p95 / 50 ms.

Also reported, because on a shared machine the server and the peer do not get the same share of the cores: CPU per
Bundle of the server process (from /proc) and of the peer (process time), and their ratio — the rate ratio a
server with a core to itself would reach — and the clients' own CPU per Bundle. The clients are one uvloop event
loop in this process, each on a kept-alive connection, sending the same pre-encoded request (post, wait for the
answer, post again): they cost tens of microseconds per request, not the ~1 ms of an httpx client per thread.
Last, with the server stopped, the same intake without HTTP (``gateway.fhir.intake.bundle`` in this process) and
the validation alone, interleaved: their CPU per Bundle and ratio.

The Bundle is ``samples/fhir/bundle-transaction-sanitaire.json`` (Patient and Practitioner by conditional create,
PractitionerRole, Encounter, Condition, two Observations, MedicationStatement, AllergyIntolerance, RelatedPerson,
Coverage, ServiceRequest, all linked by urn:uuid). Reposting it is what a DPI does: the Patient and the
Practitioner match their identifier (200), the ten others are created (201).

The server is a separate process (``uvicorn``, ``--workers`` processes, default 1) on a database of its own
(``aiguillage_bench_fhir``, real migrations, dropped at the end). It does not run the pipeline: in production a
Celery worker drains the inbox; here the task queue only records the enqueue, so what is timed is the intake.

    python benchmarks/fhir_intake.py [--database-url URL] [--clients 8] [--seconds 20] [--workers 1]
                                     [--json-out PATH]

Exit code 0 whether the targets are met or not; the verdicts are printed (PASS/FAIL) and written to the JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import make_url

NAME = "fhir_intake"
ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / f"{NAME}.json"
BUNDLE = ROOT / "samples" / "fhir" / "bundle-transaction-sanitaire.json"
DEFAULT_URL = os.environ.get("AIGUILLAGE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
DATABASE = "aiguillage_bench_fhir"
HEADERS = {"X-Aiguillage-Client-FHIR": "bench-dpi", "Content-Type": "application/fhir+json"}


# ====================================================================================================================
# The server process
# ====================================================================================================================


def serve(database_url: str, port: int, workers: int) -> None:
    """``--serve``: uvicorn on loopback over the benchmark database; the task queue only records enqueues."""
    import uvicorn

    os.environ["AIGUILLAGE_DATABASE_URL"] = database_url
    os.environ["AIGUILLAGE_LOG_JSON"] = "true"
    os.environ["AIGUILLAGE_LOG_LEVEL"] = "WARNING"
    uvicorn.run("benchmarks.fhir_intake:make_app", factory=True, host="127.0.0.1", port=port, workers=workers,
                loop="uvloop", http="httptools", log_level="warning", access_log=False)


class HeldQueue:
    """The pipeline is not under test: enqueues are counted, never run."""

    def __init__(self) -> None:
        self.enqueued = 0

    def enqueue(self, name: str) -> None:
        self.enqueued += 1

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None


def make_app() -> Any:
    from gateway.app import create_app
    from gateway.container import build_container
    from gateway.settings import Settings

    container = build_container(Settings(), queue="sync")
    container.tasks = HeldQueue()
    return create_app(container=container)


# ====================================================================================================================
# Measurements
# ====================================================================================================================


def quantiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"n": len(ordered), "p50_ms": round(pick(0.50), 2), "p95_ms": round(pick(0.95), 2),
            "p99_ms": round(pick(0.99), 2), "mean_ms": round(statistics.fmean(ordered), 2),
            "max_ms": round(ordered[-1], 2)}


def validation_only(bundle: dict[str, Any], seconds: float) -> dict[str, Any]:
    from fhir.resources.R4B.bundle import Bundle

    for _ in range(50):
        Bundle.model_validate(bundle)
    times: list[float] = []
    started, cpu_started = time.perf_counter(), time.process_time()
    while time.perf_counter() - started < seconds:
        t0 = time.perf_counter()
        Bundle.model_validate(bundle)
        times.append((time.perf_counter() - t0) * 1000)
    elapsed = time.perf_counter() - started
    cpu_ms = (time.process_time() - cpu_started) * 1000 / len(times)
    return {"rate_per_s": round(len(times) / elapsed, 1), "cpu_ms_per_bundle": round(cpu_ms, 2), **quantiles(times)}


def _request(port: int, body: bytes) -> bytes:
    """The POST, encoded once: every client sends these same bytes on its kept-alive connection."""
    head = (f"POST /fhir/r4 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            + "".join(f"{name}: {value}\r\n" for name, value in HEADERS.items())
            + f"Accept: application/fhir+json\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode("ascii") + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status and body of one HTTP/1.1 response (uvicorn always sends Content-Length for these answers)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = next(int(line.split(b":", 1)[1]) for line in lines[1:] if line.lower().startswith(b"content-length:"))
    return status, await reader.readexactly(length)


def intake(port: int, body: bytes, clients: int, seconds: float) -> dict[str, Any]:
    """``clients`` synchronous clients (post, wait for the answer, post again), each on one kept-alive connection,
    all on one uvloop event loop: a client costs tens of microseconds of CPU per request (the request is encoded
    once, only the status line and Content-Length are parsed), so the clients take little of the CPU the server
    needs on a small machine. An httpx client per thread costs ~1 ms of CPU per request."""
    import uvloop

    request = _request(port, body)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    entry_statuses: Counter[str] = Counter()

    async def client(start: asyncio.Event, stop_at: list[float]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(request)  # warm the connection and the server
            await _read_response(reader)
            await start.wait()
            n = 0
            while time.perf_counter() < stop_at[0]:
                t0 = time.perf_counter()
                writer.write(request)
                status, answer = await _read_response(reader)
                latencies.append((time.perf_counter() - t0) * 1000)
                statuses[status] += 1
                n += 1
                if status == 200 and n % 10 == 1:  # a sample of the entries' statuses
                    entry_statuses.update(e["response"]["status"] for e in json.loads(answer)["entry"])
        finally:
            writer.close()

    elapsed = [0.0]

    async def main() -> None:
        start, stop_at = asyncio.Event(), [0.0]
        tasks = [asyncio.create_task(client(start, stop_at)) for _ in range(clients)]
        await asyncio.sleep(0.5)  # every connection open and warmed
        started = time.perf_counter()
        stop_at[0] = started + seconds
        start.set()
        await asyncio.gather(*tasks)
        elapsed[0] = time.perf_counter() - started

    uvloop.run(main())
    return {"rate_per_s": round(len(latencies) / elapsed[0], 1), "clients": clients,
            "http_status": dict(statuses), "entry_status": dict(entry_statuses), **quantiles(latencies)}


def in_process(database_url: str, body: bytes, bundle: dict[str, Any], rounds: int = 10, per_round: int = 30
               ) -> dict[str, Any]:
    """The intake without HTTP: ``gateway.fhir.intake.bundle`` called in this process (same database), and
    ``Bundle.model_validate`` alone, interleaved in rounds so that both see the same machine; CPU time of this
    thread per Bundle. What the server's request path costs on top of validation, whatever share of the cores
    the run got."""
    from fhir.resources.R4B.bundle import Bundle

    from gateway.container import build_container
    from gateway.fhir import intake as fhir_intake
    from gateway.settings import Settings

    container = build_container(Settings(database_url=database_url), queue="sync")
    container.tasks = HeldQueue()
    try:
        for _ in range(per_round):
            fhir_intake.bundle(container, "bench-dpi", body)
            Bundle.model_validate(bundle)
        intake_cpu = validation_cpu = 0.0
        for _ in range(rounds):
            t0 = time.thread_time()
            for _ in range(per_round):
                fhir_intake.bundle(container, "bench-dpi", body)
            t1 = time.thread_time()
            for _ in range(per_round):
                Bundle.model_validate(bundle)
            intake_cpu += t1 - t0
            validation_cpu += time.thread_time() - t1
    finally:
        container.engine.dispose()
    n = rounds * per_round
    return {"bundles": n, "intake_cpu_ms_per_bundle": round(intake_cpu * 1000 / n, 2),
            "validation_cpu_ms_per_bundle": round(validation_cpu * 1000 / n, 2),
            "ratio": round(validation_cpu / intake_cpu, 3)}


# ====================================================================================================================
# Database and server life cycle
# ====================================================================================================================


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its children (uvicorn workers), from /proc (Linux); 0.0 elsewhere."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
        for p in pids:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    except (OSError, ValueError, IndexError):
        return 0.0
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def recreate_database(admin_url: str, name: str, *, drop_only: bool = False) -> str:
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            if not drop_only:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def wait_ready(base_url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}")
        try:
            if httpx.get(f"{base_url}/fhir/r4/metadata", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("the server did not answer within 60 s")


def stored_counts(url: str) -> dict[str, int]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT resource_type, count(*) FROM fhir_resource GROUP BY resource_type"))
            counts = {str(t): int(n) for t, n in rows}
            counts["inbox_message"] = int(conn.execute(sa.text("SELECT count(*) FROM inbox_message")).scalar_one())
            return counts
    finally:
        engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL, help="PostgreSQL server (its admin database)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--peer-seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--target-ratio", type=float, default=0.5)
    parser.add_argument("--target-ms", type=float, default=50.0)
    parser.add_argument("--json-out", type=Path, default=RESULTS)
    parser.add_argument("--serve", nargs=2, metavar=("URL", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve[0], int(args.serve[1]), args.workers)
        return 0

    from orientation_core.persistence.migrate import upgrade

    bundle = json.loads(BUNDLE.read_text(encoding="utf-8"))
    body = json.dumps(bundle).encode("utf-8")
    url = recreate_database(args.database_url, DATABASE)
    upgrade(url)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen([sys.executable, "-m", "benchmarks.fhir_intake", "--serve", url, str(port),
                               "--workers", str(args.workers)], cwd=ROOT, env=env)
    try:
        wait_ready(base_url, server)
        print(f"server up on {base_url} ({args.workers} worker(s)); peer: fhir.resources validation alone")
        before = validation_only(bundle, args.peer_seconds)
        print(f"  validation only (before): {before['rate_per_s']} Bundles/s, p50 {before['p50_ms']} ms")
        cpu_before, client_cpu_before = process_cpu_seconds(server.pid), time.process_time()
        load_before = os.getloadavg()[0]
        run = intake(port, body, args.clients, args.seconds)
        cpu = process_cpu_seconds(server.pid) - cpu_before
        run["server_cpu_ms_per_bundle"] = round(cpu * 1000 / max(run["n"], 1), 2)
        run["client_cpu_ms_per_bundle"] = round((time.process_time() - client_cpu_before) * 1000 / max(run["n"], 1),
                                                2)
        run["load_average_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        print(f"  intake, {args.clients} clients: {run['rate_per_s']} Bundles/s, p50 {run['p50_ms']} ms, "
              f"p95 {run['p95_ms']} ms, HTTP {run['http_status']}, server CPU "
              f"{run['server_cpu_ms_per_bundle']} ms per Bundle")
        after = validation_only(bundle, args.peer_seconds)
        print(f"  validation only (after):  {after['rate_per_s']} Bundles/s, p50 {after['p50_ms']} ms")
        server.terminate()  # the in-process phase has the machine's cores to share with nobody of ours
        server.wait(timeout=20)
        inproc = in_process(url, body, bundle)
        print(f"  in process, no HTTP: intake {inproc['intake_cpu_ms_per_bundle']} ms CPU per Bundle, validation "
              f"alone {inproc['validation_cpu_ms_per_bundle']} ms → {inproc['ratio']}")
        counts = stored_counts(url)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        recreate_database(args.database_url, DATABASE, drop_only=True)

    peer = max(before["rate_per_s"], after["rate_per_s"])
    ratio = round(run["rate_per_s"] / peer, 3)
    # Less sensitive to what share of the shared cores each side got: the peer's CPU per Bundle over the server's
    # (a server that had a whole core to itself would run at this ratio of the peer's rate).
    peer_cpu = min(before["cpu_ms_per_bundle"], after["cpu_ms_per_bundle"])
    cpu_ratio = round(peer_cpu / run["server_cpu_ms_per_bundle"], 3) if run["server_cpu_ms_per_bundle"] else None
    ratio_pass = ratio >= args.target_ratio
    latency_pass = run["p95_ms"] <= args.target_ms
    errors = sum(n for s, n in run["http_status"].items() if int(s) != 200)
    result = {
        "benchmark": NAME,
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
        "parameters": {"clients": args.clients, "seconds": args.seconds, "workers": args.workers,
                       "bundle": str(BUNDLE.relative_to(ROOT)), "bundle_entries": len(bundle["entry"]),
                       "store": "postgresql"},
        "peer_validation_only": {"before": before, "after": after, "rate_per_s": peer},
        "intake": run,
        "stored": counts,
        "ratio_intake_to_validation": ratio,
        "ratio_p95_to_limit": round(run["p95_ms"] / args.target_ms, 3),
        "cpu_ratio_validation_to_server": cpu_ratio,
        "in_process_no_http": inproc,
        "verdicts": {"throughput_ratio": "PASS" if ratio_pass else "FAIL",
                     "p95_latency": "PASS" if latency_pass else "FAIL",
                     "no_errors": "PASS" if errors == 0 else "FAIL"},
    }
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"ratio intake / validation-only: {ratio} (target ≥ {args.target_ratio}) "
          f"{result['verdicts']['throughput_ratio']}")
    print(f"CPU per Bundle: server {run['server_cpu_ms_per_bundle']} ms, validation alone {peer_cpu} ms → "
          f"{cpu_ratio}; clients {run['client_cpu_ms_per_bundle']} ms; load average {run['load_average_1min']}")
    print(f"p95 {run['p95_ms']} ms (limit {args.target_ms} ms) {result['verdicts']['p95_latency']}; "
          f"errors: {errors} {result['verdicts']['no_errors']}")
    print(f"stored: {counts}; JSON: {args.json_out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
