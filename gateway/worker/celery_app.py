"""Celery on Redis: the distributed engine for the same tasks, plus beat for the periodic sweep.

Tasks take no arguments (the sweep and the outbox find their own work), acknowledge late, and retry a
retryable domain error (store unavailable) with exponential backoff.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from celery import Celery

from gateway.settings import Settings
from orientation_core.errors import StoreUnavailable


@lru_cache(maxsize=1)
def _container() -> Any:
    # Built lazily in each worker process (after fork): engines and pools are per process.
    from gateway.container import build_container

    return build_container(Settings(), queue="celery")


def create_celery(settings: Settings) -> Celery:
    app = Celery("aiguillage", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        timezone="UTC",
        enable_utc=True,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        beat_schedule={
            "timers-sweep": {"task": "timers.sweep", "schedule": settings.sweep_interval_seconds},
            "notifications-safety-net": {"task": "notifications.dispatch", "schedule": 30.0},
            "ingest-retries": {"task": "ingest.process", "schedule": 15.0},  # backoff retries, lost wake-ups
        },
    )
    retry: dict[str, Any] = {
        "acks_late": True,
        "autoretry_for": (StoreUnavailable,),
        "retry_backoff": True,
        "retry_backoff_max": 300,
        "max_retries": 8,
    }

    @app.task(name="timers.sweep", **retry)
    def timers_sweep() -> dict[str, int]:
        from gateway.worker.tasks import timers_sweep as run

        return run(_container())

    @app.task(name="notifications.dispatch", **retry)
    def notifications_dispatch() -> int:
        from gateway.worker.tasks import notifications_dispatch as run

        return run(_container())

    @app.task(name="ins.lookup", **retry)
    def ins_lookup() -> dict[str, int]:
        from gateway.worker.tasks import ins_lookup as run

        return run(_container())

    @app.task(name="ingest.process", **retry)
    def ingest_process() -> dict[str, int]:
        from gateway.worker.tasks import ingest_process as run

        return run(_container())

    return app


class CeleryQueue:
    def __init__(self, settings: Settings) -> None:
        self.app = create_celery(settings)

    def enqueue(self, name: str) -> None:
        self.app.send_task(name)

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None
