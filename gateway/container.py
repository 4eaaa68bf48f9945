"""Composition root: settings → engine, unit of work factory, clock and timers, task queue."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import structlog
from sqlalchemy.engine import Engine

from gateway.settings import Settings
from gateway.worker.queue import InProcessQueue, SyncQueue, TaskQueue
from orientation_core.clock import Clock, SystemClock
from orientation_core.persistence.uow import SqlUnitOfWork, UnitOfWorkFactory, make_engine
from orientation_core.ports import Env

log = structlog.get_logger("aiguillage.tasks")
QueueKind = Literal["auto", "inprocess", "sync", "celery"]
NOTIFY_SAFETY_NET_SECONDS = 30.0  # catches an enqueue lost between commit and queue
INGEST_RETRY_SECONDS = 15.0  # the pipeline's backoff retries (next_attempt_at) and any lost wake-up


@dataclass
class Container:
    settings: Settings
    engine: Engine
    uow: UnitOfWorkFactory
    env: Env
    tasks: TaskQueue = field(init=False)

    def run_task(self, name: str) -> object:
        from gateway.worker.tasks import TASKS

        return TASKS[name](self)

    def _after_commit(self, uow: SqlUnitOfWork) -> None:
        if uow.outbox.added:
            try:
                self.tasks.enqueue("notifications.dispatch")
            except Exception:  # committed already: the periodic safety net delivers the outbox later
                log.warning("task.enqueue_failed", task="notifications.dispatch", exc_info=True)


def build_container(settings: Settings, *, clock: Clock | None = None, queue: QueueKind = "auto") -> Container:
    path = settings.sqlite_path()
    if path is not None and path.parent != path:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    env = Env(clock or SystemClock(), settings.timers)
    container = Container(settings, engine, UnitOfWorkFactory(engine, env.timers), env)
    container.uow.after_commit.append(container._after_commit)
    kind = queue if queue != "auto" else ("celery" if settings.broker_url else "inprocess")
    if kind == "celery":
        from gateway.worker.celery_app import CeleryQueue

        container.tasks = CeleryQueue(settings)
    elif kind == "sync":
        container.tasks = SyncQueue(container.run_task)
    else:
        container.tasks = InProcessQueue(
            container.run_task,
            {"timers.sweep": settings.sweep_interval_seconds,
             "notifications.dispatch": NOTIFY_SAFETY_NET_SECONDS,
             "ingest.process": INGEST_RETRY_SECONDS},
        )
    return container
