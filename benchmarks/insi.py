"""INSi client throughput and fail-fast latency against the loopback simulator.

Claims (issue): lookups per second through the client with 16 concurrent requests; and when INSi is down, the
circuit breaker makes a call fail fast (≤ 50 ms) instead of costing the caller a connect timeout.

Peers in the same run (the machine is shared and noisy, so figures are reported beside their peer):
  * throughput: the same lookups with 1 worker (sequential) → the concurrency speed-up;
  * fail fast: the latency of a call to a dead endpoint with the breaker still closed (a real connection attempt,
    refused at once on loopback; against a real remote INSi a dropped packet costs the whole connect timeout) vs
    the latency once the breaker is open; limit p95 ≤ 50 ms.

What is measured is the real path: ``ins.client.InsiClient.rechercher`` (lxml envelope, httpx, SOAP parsing and
XSD validation of the answer) against ``ins.simulator.InsiSimulator`` (real HTTP server on 127.0.0.1 that checks
every request against the XSDs), run in its own process so client and server do not share one interpreter lock.
Personae rotate over the CR 00 cases of ``samples/insi/personae.json``. The simulator answers in about a
millisecond of CPU: on a 2-core machine the figure is bounded by the two processes' CPU, not by the network.

    python -m benchmarks.insi [--requests 2000] [--concurrency 16] [--json-out benchmarks/results/insi.json]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from ins.client import InsiClient, InsiConfig
from ins.errors import CircuitOpen
from ins.simulator import InsiSimulator, load_personae
from orientation_core.identite.errors import InsiIndisponible
from orientation_core.identite.model import CodeCR, TraitsIdentite

FAIL_FAST_LIMIT_MS = 50.0


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _queries() -> list[TraitsIdentite]:
    keep = {"adrun-zoe", "tchitchi-catarina", "ecetinsi-pierre-alain", "niakate-fatoumata", "santoni-jean-baptiste"}
    return [p.traits for p in load_personae() if p.id in keep]


def throughput(url: str, requests: int, concurrency: int) -> dict[str, float]:
    queries = _queries()
    latencies: list[float] = []
    with InsiClient(InsiConfig(url)) as client:
        client.rechercher(queries[0])  # warm the pool and the schema cache

        def one(i: int) -> float:
            started = time.perf_counter()
            result = client.rechercher(queries[i % len(queries)])
            assert result.cr is CodeCR.TROUVE
            return time.perf_counter() - started

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            latencies = list(pool.map(one, range(requests)))
        elapsed = time.perf_counter() - started
    return {"concurrency": concurrency, "requests": requests, "seconds": round(elapsed, 3),
            "lookups_per_s": round(requests / elapsed, 1),
            "p50_ms": round(statistics.median(latencies) * 1000, 2),
            "p95_ms": round(_pct(latencies, 0.95) * 1000, 2)}


def _fail_fast_case(url: str, read_timeout: float, calls: int) -> dict[str, float]:
    traits = _queries()[0]
    closed: list[float] = []
    opened: list[float] = []
    with InsiClient(InsiConfig(url, connect_timeout=2.0, read_timeout=read_timeout, max_retries=0,
                               breaker_threshold=5, breaker_reset=3600)) as client:
        for _ in range(5):  # breaker closed: each call really goes to the network
            started = time.perf_counter()
            with contextlib.suppress(InsiIndisponible):
                client.rechercher_traits(traits)
            closed.append(time.perf_counter() - started)
        assert client.breaker.state == "open"
        for _ in range(calls):
            started = time.perf_counter()
            with contextlib.suppress(CircuitOpen):
                client.rechercher(traits)
            opened.append(time.perf_counter() - started)
    p95 = _pct(opened, 0.95) * 1000
    return {"closed_p50_ms": round(statistics.median(closed) * 1000, 3),
            "open_p50_ms": round(statistics.median(opened) * 1000, 4), "open_p95_ms": round(p95, 4),
            "open_max_ms": round(max(opened) * 1000, 4), "limit_ms": FAIL_FAST_LIMIT_MS,
            "p95_over_limit": round(p95 / FAIL_FAST_LIMIT_MS, 5),
            "verdict": "PASS" if p95 <= FAIL_FAST_LIMIT_MS else "FAIL"}


def fail_fast(calls: int = 200) -> dict[str, dict[str, float]]:
    """Two ways INSi is down: the port refuses connections (process gone), or INSi accepts and never answers
    (hung; the caller would wait the read timeout, 1 s here). Both on loopback."""
    with InsiSimulator() as dead:
        refused_url = dead.url  # the port is closed once the simulator stopped
    refused = _fail_fast_case(refused_url, 1.0, calls)
    with socket.socket() as hung:  # listens (the kernel completes handshakes) but never accepts nor answers
        hung.bind(("127.0.0.1", 0))
        hung.listen(64)
        hanging = _fail_fast_case(f"http://127.0.0.1:{hung.getsockname()[1]}/insi", 1.0, calls)
    return {"refused": refused, "hung": hanging}


@contextlib.contextmanager
def simulator_process() -> Iterator[str]:
    """``aiguillage insi-sim`` in a child process on a free loopback port; yields its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    child = subprocess.Popen([sys.executable, "-c", "from gateway.cli import main; main()", "insi-sim", "--port",
                              str(port)], stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/insi"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or child.poll() is not None:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        child.terminate()
        child.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--json-out", type=Path, default=Path("benchmarks/results/insi.json"))
    args = parser.parse_args()
    with simulator_process() as url:
        sequential = throughput(url, max(args.requests // 4, 100), 1)
        concurrent = throughput(url, args.requests, args.concurrency)
    ff = fail_fast()
    result = {
        "benchmark": "insi", "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "throughput": {"sequential": sequential, "concurrent": concurrent,
                       "speedup": round(concurrent["lookups_per_s"] / sequential["lookups_per_s"], 2)},
        "fail_fast": ff,
    }
    print(f"lookups/s: {concurrent['lookups_per_s']} with {args.concurrency} concurrent "
          f"(p50 {concurrent['p50_ms']} ms, p95 {concurrent['p95_ms']} ms); sequential "
          f"{sequential['lookups_per_s']}/s → ×{result['throughput']['speedup']}")
    for case, r in ff.items():
        print(f"INSi down ({case}): breaker closed p50 {r['closed_p50_ms']} ms per call; breaker open p95 "
              f"{r['open_p95_ms']} ms (limit {FAIL_FAST_LIMIT_MS} ms) {r['verdict']}")
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
