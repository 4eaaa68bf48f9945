"""Where tasks go: Celery through Redis when a broker is set, else threads inside the server process."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Protocol

import structlog

from orientation_core.errors import AiguillageError

log = structlog.get_logger("aiguillage.tasks")


class TaskQueue(Protocol):
    def enqueue(self, name: str) -> None: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


class SyncQueue:
    """Runs the task at once, in the caller's thread (CLI commands, after their commit)."""

    def __init__(self, run: Callable[[str], object]) -> None:
        self._run = run

    def enqueue(self, name: str) -> None:
        self._run(name)

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None


class InProcessQueue:
    """One worker thread and one scheduler thread: what ``make run`` uses with no broker installed.

    Same task functions as Celery. A pending task name is queued once (the tasks drain everything due),
    periodic tasks are re-enqueued by the scheduler, a retryable failure is retried at the next tick.
    """

    def __init__(self, run: Callable[[str], object], periodic: dict[str, float]) -> None:
        self._run = run
        self._periodic = periodic
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def enqueue(self, name: str) -> None:
        with self._lock:
            if name in self._pending:
                return
            self._pending.add(name)
        self._queue.put(name)

    def start(self) -> None:
        if self._threads:
            return
        self._stopping.clear()
        self._threads = [
            threading.Thread(target=self._work, name="aiguillage-worker", daemon=True),
            threading.Thread(target=self._schedule, name="aiguillage-beat", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        if not self._threads:
            return
        self._stopping.set()
        self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads = []

    def join_idle(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is pending (tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._pending:
                    return True
            time.sleep(0.01)
        return False

    def _work(self) -> None:
        while True:
            name = self._queue.get()
            if name is None:
                return
            with self._lock:
                self._pending.discard(name)
            try:
                self._run(name)
            except AiguillageError as exc:
                log.warning("task.failed", task=name, code=exc.code, retryable=exc.retryable)
            except Exception:  # a task must never kill the worker thread
                log.exception("task.crashed", task=name)

    def _schedule(self) -> None:
        next_run = {name: time.monotonic() + min(interval, 5.0) for name, interval in self._periodic.items()}
        while not self._stopping.wait(0.5):
            now = time.monotonic()
            for name, interval in self._periodic.items():
                if now >= next_run[name]:
                    self.enqueue(name)
                    next_run[name] = now + interval
