"""Password + e-mailed code sign-in: what a whole sign-in costs, next to the argon2 work it must do anyway.

Claim: argon2 is the deliberate cost of a password sign-in; the rest (HTTP, forms, CSRF, rate-limit queries, the
outbox row, the session) adds little to it. Peers in the same run, reported as ratios:
  * the floor: the one argon2 verification a sign-in performs (the password; ``argon2-cffi`` defaults), alone,
    timed in the same process (the one-time code is keyed-HMAC hashed, microseconds);
  * the whole sign-in through the real application (``TestClient`` over ``gateway.app``): GET the password form,
    POST it, read the code from the outbox, GET the code form, POST it (session opened) — per store (SQLite file,
    PostgreSQL when reachable).

    python benchmarks/signin.py [--iterations 40] [--database-url postgresql+psycopg://…] [--json-out PATH]

The PostgreSQL data lives in its own database (``aiguillage_bench_signin``), dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from gateway.app import create_app
from gateway.auth.otp import HASHER
from gateway.container import build_container
from gateway.demo import load
from gateway.settings import PROJECT_ROOT, Settings
from orientation_core.persistence.migrate import upgrade

LOGIN, PASSWORD = "810100000017", "Aiguillage2026"  # demo: Dr Claire Martin
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
CODE = re.compile(r"connexion à Aiguillage : (\d{6})")


def floor(iterations: int) -> list[float]:
    stored = HASHER.hash(PASSWORD)
    times = []
    for _ in range(iterations):
        started = time.perf_counter()
        HASHER.verify(stored, PASSWORD)
        times.append(time.perf_counter() - started)
    return times


def whole(url: str, iterations: int) -> list[float]:
    upgrade(url)
    # a wide per-address limit: every iteration comes from the same test client address
    settings = Settings(database_url=url, auth_ip_failures=10_000, auth_codes_per_hour=10_000)
    container = build_container(settings, queue="sync")
    load(container, PROJECT_ROOT / "samples" / "demo" / "demo.json")
    times = []
    with TestClient(create_app(container=container)) as client:
        for _ in range(iterations):
            client.cookies.clear()
            started = time.perf_counter()
            token = CSRF.search(client.get("/connexion/mot-de-passe").text).group(1)  # type: ignore[union-attr]
            r = client.post("/connexion/mot-de-passe", data={"csrf_token": token, "identifiant": LOGIN,
                                                             "mot_de_passe": PASSWORD}, follow_redirects=False)
            assert r.status_code == 303, r.text
            with container.uow() as uow:  # no SMTP here: the e-mail waits in the outbox
                body = uow.outbox.pending(1000, mail=True)[-1].payload["body"]
            code = CODE.search(body).group(1)  # type: ignore[union-attr]
            token = CSRF.search(client.get("/connexion/code").text).group(1)  # type: ignore[union-attr]
            r = client.post("/connexion/code", data={"csrf_token": token, "code": code}, follow_redirects=False)
            assert r.status_code == 303 and "aiguillage_session" in client.cookies, r.text
            times.append(time.perf_counter() - started)
    container.engine.dispose()
    return times


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {"p50_ms": round(statistics.median(ordered) * 1000, 1),
            "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 1), "n": len(ordered)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--json-out", default=str(PROJECT_ROOT / "benchmarks" / "results" / "signin.json"))
    args = parser.parse_args()
    results: dict[str, Any] = {"machine": platform.platform(), "python": platform.python_version(),
                               "iterations": args.iterations}
    base = summary(floor(args.iterations))
    results["argon2_floor"] = base
    print(f"argon2 floor (one password verification): p50 {base['p50_ms']} ms, p95 {base['p95_ms']} ms")
    with tempfile.TemporaryDirectory() as tmp:
        stores = {"sqlite": f"sqlite:///{Path(tmp) / 'signin.db'}"}
        admin = sa.create_engine(args.database_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        name = "aiguillage_bench_signin"
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
            stores["postgresql"] = make_url(args.database_url).set(database=name).render_as_string(
                hide_password=False)
        except sa.exc.SQLAlchemyError:
            print("PostgreSQL unreachable: SQLite only")
        try:
            for store, url in stores.items():
                got = summary(whole(url, args.iterations))
                got["ratio_p50_to_floor"] = round(got["p50_ms"] / base["p50_ms"], 2)
                results[store] = got
                print(f"{store}: whole sign-in p50 {got['p50_ms']} ms, p95 {got['p95_ms']} ms, "
                      f"{got['ratio_p50_to_floor']}× the argon2 floor")
        finally:
            if "postgresql" in stores:
                with admin.connect() as conn:
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    Path(args.json_out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"→ {args.json_out}")


if __name__ == "__main__":
    main()
