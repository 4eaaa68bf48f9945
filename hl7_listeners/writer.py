"""Group commit: a writer thread stores the rows of every connection that arrived while the previous commit ran,
in one transaction, and releases each row's ACK when its batch is durable.

Several writer threads (one store connection each) may share the queue: while one waits for its commit to be
flushed, the next takes the rows that arrived meanwhile. PostgreSQL flushes concurrent commits together (its own
group commit at the WAL), so one commit's fsync no longer bounds how many rows can wait for one. SQLite has one
writer at a time: one thread there.

Connections ``submit`` from the event loop with a callback (or ``submit_future`` for an awaitable); the thread
calls back every row of a batch from one ``call_soon_threadsafe`` (one wake-up of the loop per batch, not per
message). A failed batch (store down) calls back with the exception: the connections answer AE/CE and nothing of
the batch was written.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable, Sequence

import structlog

from hl7_listeners import metrics
from orientation_core.errors import StoreUnavailable
from orientation_core.inbox.model import InboxWriter, NewInboxMessage, Stored, StoreResult

log = structlog.get_logger("aiguillage.mllp")
Callback = Callable[[Stored | BaseException], None]
Item = tuple[NewInboxMessage, Callback]


class GroupCommitWriter:
    def __init__(self, stores: Sequence[InboxWriter], loop: asyncio.AbstractEventLoop, *,
                 on_stored: Callable[[list[int]], None] | None = None, max_batch: int = 512,
                 gather_seconds: float = 0.004, after_batch: Callable[[], None] | None = None) -> None:
        if not stores:
            raise ValueError("at least one store")
        self._stores = list(stores)
        self._loop = loop
        self._on_stored = on_stored
        self._after_batch = after_batch  # runs in the loop after a batch's callbacks (metrics flush)
        self._max_batch = max_batch
        self._gather = gather_seconds  # cap of the wait for the previous batch's senders (see ``_run``)
        self._queue: queue.SimpleQueue[Item | None] = queue.SimpleQueue()
        # The gathering writer sleeps on ``_enough`` (set by ``submit`` once ``_wanted`` rows are queued), not on
        # the queue: a blocked ``get`` would wake the thread, and take the GIL from the event loop, for every row.
        self._enough = threading.Event()
        self._wanted = 0
        self._threads = [threading.Thread(target=self._run, args=(store,), name=f"aiguillage-mllp-writer-{i}",
                                          daemon=True) for i, store in enumerate(self._stores)]
        self._started = False

    def start(self) -> None:
        if not self._started:
            self._started = True
            for thread in self._threads:
                thread.start()

    def submit(self, row: NewInboxMessage, callback: Callback) -> None:
        """Queue ``row``; ``callback`` runs in the event loop with its ``Stored`` or the store's exception."""
        self._queue.put((row, callback))
        wanted = self._wanted
        if wanted and self._queue.qsize() >= wanted:
            self._wanted = 0
            self._enough.set()

    def submit_future(self, row: NewInboxMessage) -> asyncio.Future[Stored]:
        future: asyncio.Future[Stored] = self._loop.create_future()

        def resolve(outcome: Stored | BaseException) -> None:
            if future.done():
                return
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

        self.submit(row, resolve)
        return future

    def stop(self, timeout: float = 10.0) -> None:
        """Commit what is queued, then end the thread."""
        if self._started:
            for _ in self._threads:
                self._queue.put(None)
            self._enough.set()
            for thread in self._threads:
                thread.join(timeout)
            self._started = False
        for store in self._stores:
            store.close()

    def _run(self, store: InboxWriter) -> None:
        stopping = False
        expected = 1  # rows of the previous batch: their senders are sending their next message now
        last_commit = 0.0  # seconds the previous commit took
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            batch: list[Item] = [first]
            stopping = self._drain(batch, self._max_batch)
            if not stopping and len(batch) < expected and self._gather > 0:
                # A commit costs one fsync whatever its size. Synchronous senders answered by the previous commit
                # come back within a round trip: waiting for them fills the batch instead of alternating
                # half-batches. The wait is bounded by the previous commit's duration (break-even: a sender that
                # misses this batch waits a whole commit more, and pays one more fsync) and by
                # ``gather_seconds`` (4 ms: after an fsync stalled by another process's writes, a longer wait
                # would add to the ACK latency tail); a full batch (as many rows as the previous one) commits at
                # once, and a sender gone quiet lowers ``expected`` at the next batch. Measured at 64 connections on
                # SQLite (benchmarks/mllp_ingest.py): 50–61 rows per commit against 44–53 with a fixed 2 ms window.
                wait = min(self._gather, last_commit)
                if wait > 0:
                    self._enough.clear()
                    self._wanted = expected - len(batch)
                    if self._queue.qsize() < self._wanted:
                        self._enough.wait(wait)
                    self._wanted = 0
                    stopping = self._drain(batch, self._max_batch)
            expected = len(batch)
            last_commit = self._commit(store, batch)

    def _drain(self, batch: list[Item], limit: int) -> bool:
        """Move what is queued into ``batch`` (up to ``limit``); True when the stop marker was met."""
        while len(batch) < limit:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return False
            if item is None:
                return True
            batch.append(item)
        return False

    def _commit(self, store: InboxWriter, batch: list[Item]) -> float:
        """Store and commit ``batch``, release its callbacks; returns how long the store took."""
        rows = [row for row, _ in batch]
        callbacks = [callback for _, callback in batch]
        started = time.perf_counter()
        try:
            results = store.store_batch(rows)
        except Exception as exc:
            log.error("mllp.store_failed", rows=len(rows), error=type(exc.__cause__ or exc).__name__,
                      exc_info=exc.__cause__ is None or not isinstance(exc, StoreUnavailable))
            self._loop.call_soon_threadsafe(_call_all, callbacks, [exc] * len(callbacks), self._after_batch)
            return time.perf_counter() - started
        elapsed = time.perf_counter() - started
        metrics.COMMIT_SECONDS.observe(elapsed)
        metrics.BATCH_SIZE.observe(len(rows))
        self._loop.call_soon_threadsafe(_call_all, callbacks, results, self._after_batch)
        if self._on_stored is not None:
            stored = [r.inbox_id for r in results if r.result is StoreResult.STORED]
            if stored:
                try:
                    self._on_stored(stored)
                except Exception:  # committed and acknowledged: the pipeline's periodic drain picks them up
                    log.warning("mllp.on_stored_failed", rows=len(stored), exc_info=True)
        return elapsed


def _call_all(callbacks: list[Callback], outcomes: Sequence[Stored | BaseException],
              after: Callable[[], None] | None = None) -> None:
    for callback, outcome in zip(callbacks, outcomes, strict=True):
        try:
            callback(outcome)
        except Exception:  # one connection's failure must not keep the others' ACKs
            log.exception("mllp.ack_callback_failed")
    if after is not None:
        try:
            after()
        except Exception:  # metrics must never cost an ACK
            log.exception("mllp.after_batch_failed")
