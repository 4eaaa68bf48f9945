"""Group commit: one writer thread stores the rows of every connection that arrived while the previous commit
ran, in one transaction, and releases each row's ACK when its batch is durable.

Connections ``submit`` from the event loop and get an asyncio future; the thread resolves all futures of a batch
with one ``call_soon_threadsafe`` (one wake-up of the loop per batch, not per message). A failed batch (store down)
resolves its futures with the exception: the connections answer AE/CE and nothing of the batch was written.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable

import structlog

from hl7_listeners import metrics
from orientation_core.inbox.model import InboxWriter, NewInboxMessage, Stored, StoreResult

log = structlog.get_logger("aiguillage.mllp")
Item = tuple[NewInboxMessage, "asyncio.Future[Stored]"]


class GroupCommitWriter:
    def __init__(self, store: InboxWriter, loop: asyncio.AbstractEventLoop, *,
                 on_stored: Callable[[list[int]], None] | None = None, max_batch: int = 512) -> None:
        self._store = store
        self._loop = loop
        self._on_stored = on_stored
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[Item | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="aiguillage-mllp-writer", daemon=True)
        self._started = False

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    def submit(self, row: NewInboxMessage) -> asyncio.Future[Stored]:
        future: asyncio.Future[Stored] = self._loop.create_future()
        self._queue.put((row, future))
        return future

    def stop(self, timeout: float = 10.0) -> None:
        """Commit what is queued, then end the thread."""
        if self._started:
            self._queue.put(None)
            self._thread.join(timeout)
            self._started = False
        self._store.close()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            batch: list[Item] = [first]
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            self._commit(batch)

    def _commit(self, batch: list[Item]) -> None:
        rows = [row for row, _ in batch]
        futures = [future for _, future in batch]
        started = time.perf_counter()
        try:
            results = self._store.store_batch(rows)
        except Exception as exc:
            log.error("mllp.store_failed", rows=len(rows), error=type(exc.__cause__ or exc).__name__)
            self._loop.call_soon_threadsafe(_fail_all, futures, exc)
            return
        metrics.COMMIT_SECONDS.observe(time.perf_counter() - started)
        metrics.BATCH_SIZE.observe(len(rows))
        self._loop.call_soon_threadsafe(_resolve_all, futures, results)
        if self._on_stored is not None:
            stored = [r.inbox_id for r in results if r.result is StoreResult.STORED]
            if stored:
                try:
                    self._on_stored(stored)
                except Exception:  # committed and acknowledged: the pipeline's periodic drain picks them up
                    log.warning("mllp.on_stored_failed", rows=len(stored), exc_info=True)


def _resolve_all(futures: list[asyncio.Future[Stored]], results: list[Stored]) -> None:
    for future, result in zip(futures, results, strict=True):
        if not future.done():
            future.set_result(result)


def _fail_all(futures: list[asyncio.Future[Stored]], exc: BaseException) -> None:
    for future in futures:
        if not future.done():
            future.set_exception(exc)
