"""Cost of the prefill refresh in the intake pipeline: what ``gateway.prefill.refresh_patient`` adds to one ADT
message applied to the registry, on SQLite and PostgreSQL.

Claim (issue 6, our sizing): refreshing a patient's open dossiers after each DPI message must stay small beside
the registry work the message already does, so the pipeline can call it for every message.

Peers in the same run:
  * per message, ``gateway.intake.pipeline.apply_canonical`` alone (the registry use cases and the DPI context)
    vs the same followed by ``refresh_patient`` with 0, 1 and 3 open dossiers of the patient → the ratio;
  * the pure mapping stage: ``mappings.prefill.prefill`` + ``as_plain`` for both modules on one canonical.

Each message is the golden A01 of ``samples/hl7v2`` with a new phone number (so every refresh really updates a
field and writes a history event), applied in its own transaction as the pipeline does per batch.

    python benchmarks/prefill.py [--messages 300] [--postgres-url URL] [--sqlite-only] [--json-out PATH]

The PostgreSQL database (``aiguillage_bench_prefill``) is created and dropped by the run; SQLite uses a file in a
temporary directory.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from gateway import prefill
from gateway.container import build_container
from gateway.demo import load
from gateway.intake.pipeline import apply_canonical
from gateway.settings import PROJECT_ROOT, Settings
from mappings.canonical import Canonical
from mappings.prefill import as_plain
from mappings.prefill import prefill as map_prefill
from orientation_core.dossier import service as dossiers
from orientation_core.dossier.volets import Module
from orientation_core.persistence.migrate import upgrade

NAME = "prefill"
RESULTS = Path(__file__).resolve().parent / "results" / f"{NAME}.json"
A01 = json.loads((PROJECT_ROOT / "samples" / "hl7v2" / "adt_a01__nominal.expected.json").read_text())["canonical"]
FHIR = PROJECT_ROOT / "samples" / "fhir" / "bundle-transaction-sanitaire.canonical.json"
MARTIN = "810100000017"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _message(n: int) -> Canonical:
    data = json.loads(json.dumps(A01))
    data["message_id"] = f"BENCH-{n}"
    data["patient"]["telecoms"][0]["value"] = f"04780{n:05d}"
    return Canonical.model_validate(data)


def mapping_stage(rounds: int = 2000) -> dict[str, float]:
    canonical = Canonical.model_validate_json(FHIR.read_text(encoding="utf-8"))
    start = time.perf_counter()
    for _ in range(rounds):
        for module in Module:
            as_plain(map_prefill([canonical], module))
    return {"us_per_canonical_both_modules": round((time.perf_counter() - start) / rounds * 1e6, 1)}


def run_store(url: str, messages: int) -> dict[str, Any]:
    upgrade(url)
    container = build_container(Settings(database_url=url), queue="sync")
    try:
        load(container, PROJECT_ROOT / "samples" / "demo" / "demo.json")
        env = container.env
        with container.uow() as uow:
            patient_id = apply_canonical(uow, env, _message(0)).patient_id
            user_id = uow.users.by_login(MARTIN).id  # type: ignore[union-attr]
            etab = uow.directory.etablissement_by_finess("690001011")
            assert etab is not None and etab.id is not None
            unite = uow.directory.unite_by_code(etab.id, "1101")
        assert patient_id is not None and user_id is not None and unite is not None
        out: dict[str, Any] = {}
        seq = 1
        for open_dossiers in (0, 1, 3):
            with container.uow() as uow:
                have = [d for d in uow.dossiers.for_patient(patient_id) if d.ouvert]
                for _ in range(open_dossiers - len(have)):
                    dossiers.creer(uow, env, user_id, Module.SANITAIRE, patient_id, unite_id=unite.id)
            peer: list[float] = []
            measured: list[float] = []
            for _ in range(messages):
                for refresh, into in ((False, peer), (True, measured)):
                    canonical = _message(seq)
                    seq += 1
                    start = time.perf_counter()
                    with container.uow() as uow:
                        apply_canonical(uow, env, canonical)
                        if refresh:
                            prefill.refresh_patient(uow, env, patient_id)
                    into.append((time.perf_counter() - start) * 1000)
            out[f"{open_dossiers}_dossiers"] = {
                "registry_only_ms_p50": round(statistics.median(peer), 2),
                "with_refresh_ms_p50": round(statistics.median(measured), 2),
                "with_refresh_ms_p95": round(_pct(measured, 0.95), 2),
                "ratio_p50": round(statistics.median(measured) / statistics.median(peer), 2),
            }
        return out
    finally:
        container.engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--postgres-url", default=os.environ.get(
        "AIGUILLAGE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--json-out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"mapping": mapping_stage()}
    print(f"mapping (both modules, one canonical): {results['mapping']['us_per_canonical_both_modules']} µs")
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = run_store(f"sqlite:///{tmp}/bench.db", args.messages)
    if not args.sqlite_only:
        admin = sa.create_engine(args.postgres_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        name = "aiguillage_bench_prefill"
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
            url = make_url(args.postgres_url).set(database=name).render_as_string(hide_password=False)
            results["postgresql"] = run_store(url, args.messages)
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    for store in ("sqlite", "postgresql"):
        for case, r in results.get(store, {}).items():
            print(f"{store:<10} {case:<10} registry only p50 {r['registry_only_ms_p50']:>6} ms | with refresh p50 "
                  f"{r['with_refresh_ms_p50']:>6} ms, p95 {r['with_refresh_ms_p95']:>6} ms | ×{r['ratio_p50']}")
    out = {"name": NAME, "at": dt.datetime.now(dt.UTC).isoformat(), "machine": platform.platform(),
           "python": platform.python_version(), "messages": args.messages, "results": results}
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
