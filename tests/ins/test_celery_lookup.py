"""The ``ins.lookup`` task in a real Celery worker on Redis, against PostgreSQL and the INSi simulator: the
pipeline queues a look-up and enqueues the task after its commit; the worker asks INSi and updates the
registry."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from gateway.container import build_container
from gateway.settings import Settings
from gateway.worker.celery_app import CeleryQueue
from ins.simulator import InsiSimulator
from orientation_core.identite import service as identite
from orientation_core.patients import service as patients
from orientation_core.patients.model import Patient, Sexe

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
AIGUILLAGE = Path(sys.executable).with_name("aiguillage")


@pytest.fixture
def ins_db(migrated_postgres: Callable[[str], str]) -> str:
    return migrated_postgres("ins_celery")


def test_worker_runs_the_queued_lookup(ins_db: str, redis_url: str, tmp_path: Path) -> None:
    container = build_container(Settings(database_url=ins_db), queue="sync")
    with container.uow() as uow:
        p = patients.register(uow, container.env, Patient("NIAKATE", ["FATOUMATA", "AWA"], dt.date(1988, 4, 12),
                                                          Sexe.F))
        pid = p.id
        assert identite.demander_recherche(uow, container.env, pid, "HL7 A28") is not None  # type: ignore[arg-type]
    container.engine.dispose()
    with InsiSimulator() as sim:
        env = {**os.environ, "AIGUILLAGE_DATABASE_URL": ins_db, "AIGUILLAGE_BROKER_URL": redis_url,
               "AIGUILLAGE_INSI_URL": sim.url, "AIGUILLAGE_LOG_JSON": "false"}
        log = tmp_path / "worker.log"
        with log.open("wb") as out:
            worker = subprocess.Popen([str(AIGUILLAGE), "worker", "--pool=solo", "--concurrency=1"], env=env, cwd=ROOT,
                                      stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        observer = sa.create_engine(ins_db, poolclass=sa.pool.NullPool)
        try:
            CeleryQueue(Settings(database_url=ins_db, broker_url=redis_url)).enqueue("ins.lookup")
            deadline = time.monotonic() + 60
            statut = ""
            with observer.connect() as conn:
                while time.monotonic() < deadline:
                    statut = conn.execute(sa.text("SELECT statut_identite FROM patient WHERE id = :i"),
                                          {"i": pid}).scalar_one()
                    conn.rollback()
                    if statut == "recuperee":
                        break
                    assert worker.poll() is None, log.read_text()
                    time.sleep(0.3)
                assert statut == "recuperee", log.read_text()[-3000:]
                etat = conn.execute(sa.text("SELECT ins_matricule, ins_oid FROM identite_etat WHERE patient_id = :i"),
                                    {"i": pid}).one()
                assert tuple(etat) == ("8880499330012", "1.2.250.1.213.1.4.9")  # NIA
                recherche = conn.execute(sa.text("SELECT statut, code_cr FROM insi_recherche WHERE patient_id = :i"),
                                         {"i": pid}).one()
                assert tuple(recherche) == ("terminee", "00")
        finally:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
                try:
                    worker.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(worker.pid, signal.SIGKILL)
                    worker.wait(timeout=5)
            observer.dispose()
