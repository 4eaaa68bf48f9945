"""A real Celery worker and beat on Redis, against PostgreSQL: the periodic sweep acts by itself, and the
notifications it queues are delivered by the worker after the sweep's commit."""

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
from gateway.demo import load
from gateway.settings import Settings

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
AIGUILLAGE = Path(sys.executable).with_name("aiguillage")


@pytest.fixture
def worker_db(migrated_postgres: Callable[[str], str]) -> str:
    return migrated_postgres("celery")


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:  # the child keeps its own descriptor
        return subprocess.Popen([str(AIGUILLAGE), *args], env=env, cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def test_beat_and_worker_run_the_sweep_and_deliver_notifications(worker_db: str, redis_url: str,
                                                                  tmp_path: Path) -> None:
    settings = Settings(database_url=worker_db)
    container = build_container(settings, queue="sync")
    load(container, ROOT / "samples" / "demo" / "demo.json")
    engine = container.engine
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        # Time travel in the data, not in the worker: the Perrin dossier was cancelled 20 days ago (archival
        # is due), and the Lefèvre dossier, with an accord de principe, has seen no action for three months
        # (the automatic relance is due).
        perrin = conn.execute(sa.text(
            "UPDATE dossier SET annule_at = :at WHERE etat = 'annule' AND patient_nom_affiche LIKE 'PERRIN%' "
            "RETURNING id"), {"at": now - dt.timedelta(days=20)}).scalar_one()
        lefevre = conn.execute(sa.text(
            "UPDATE dossier SET derniere_action_at = :at, derniere_action_prescripteur_at = :at "
            "WHERE patient_nom_affiche LIKE 'LEF%' RETURNING id"), {"at": now - dt.timedelta(days=95)}).scalar_one()
        notifications_before = conn.execute(sa.text("SELECT count(*) FROM notification")).scalar_one()
    container.engine.dispose()

    env = {**os.environ, "AIGUILLAGE_DATABASE_URL": worker_db, "AIGUILLAGE_BROKER_URL": redis_url,
           "AIGUILLAGE_SWEEP_INTERVAL_SECONDS": "1", "AIGUILLAGE_LOG_JSON": "false"}
    worker = _start(["worker", "--pool=solo", "--concurrency=1"], env, tmp_path / "worker.log")
    beat = _start(["beat", "--schedule", str(tmp_path / "beat-schedule")], env, tmp_path / "beat.log")
    observer = sa.create_engine(worker_db, poolclass=sa.pool.NullPool)
    try:
        deadline = time.monotonic() + 90
        state: tuple[str, object, int] = ("", None, 0)
        with observer.connect() as conn:
            while time.monotonic() < deadline:
                etat = conn.execute(sa.text("SELECT etat FROM dossier WHERE id = :i"), {"i": perrin}).scalar_one()
                relance = conn.execute(sa.text("SELECT relance_auto_at FROM dossier WHERE id = :i"),
                                       {"i": lefevre}).scalar_one()
                notified = conn.execute(sa.text(
                    "SELECT count(*) FROM notification WHERE dossier_id = :i AND titre = 'Relance automatique'"),
                    {"i": lefevre}).scalar_one()
                conn.rollback()
                state = (etat, relance, notified)
                if etat == "archive" and relance is not None and notified > 0:
                    break
                assert worker.poll() is None, (tmp_path / "worker.log").read_text()
                assert beat.poll() is None, (tmp_path / "beat.log").read_text()
                time.sleep(0.5)
        etat, relance, notified = state
        logs = (tmp_path / "worker.log").read_text()[-3000:] + (tmp_path / "beat.log").read_text()[-2000:]
        assert etat == "archive", logs
        assert relance is not None, logs
        assert notified > 0, logs
        with observer.connect() as conn:
            total = conn.execute(sa.text("SELECT count(*) FROM notification")).scalar_one()
            history = conn.execute(sa.text(
                "SELECT action, actor_kind FROM history_event WHERE dossier_id = :i ORDER BY id"),
                {"i": perrin}).all()
        assert total > notifications_before
        assert ("dossier.archiver", "system") in [tuple(r) for r in history]
        # The beat keeps firing every second; the sweep must not act twice on the same dossier.
        time.sleep(3)
        with observer.connect() as conn:
            archived_twice = conn.execute(sa.text(
                "SELECT count(*) FROM history_event WHERE dossier_id = :i AND action = 'dossier.archiver'"),
                {"i": perrin}).scalar_one()
            relances = conn.execute(sa.text(
                "SELECT count(*) FROM history_event WHERE dossier_id = :i AND action = 'relance_auto'"),
                {"i": lefevre}).scalar_one()
        assert archived_twice == 1
        assert relances == 1
    finally:
        _stop(beat)
        _stop(worker)
        observer.dispose()
