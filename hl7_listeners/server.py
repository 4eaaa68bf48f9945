"""The asyncio MLLP listener: frame → MSH-only header → inbox row → group commit → ACK.

No acknowledged message is lost: the positive ACK of a frame is written only after the batch holding its row is
committed (``GroupCommitWriter``). A duplicate (same MSH-3, MSH-4, MSH-10) gets the ACK stored with the first copy
and no second row. A store failure answers AE/CE for the whole batch, which was rolled back.

ACKs leave a connection in the order of its frames, whatever order their batches (or, in "processed" mode, the
pipeline) finish in. The listener knows nothing of the pipeline: the composition root hands it ``on_stored(ids)``
(wake the pipeline) and, for ``ack_mode="processed"``, ``process(inbox_id) -> Verdict``; in that mode a
duplicate is answered with ``process`` of the stored row again (the pipeline answers from the row's outcome).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import datetime as dt
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Literal

import structlog

from hl7_listeners import metrics
from hl7_listeners.ack import PROBLEM_REASONS, RULES, Reason, ack_code, build_ack
from hl7_listeners.framing import Frame, FrameReader, Oversize, Stray
from hl7_listeners.header import Header, read_header
from hl7_listeners.writer import GroupCommitWriter
from orientation_core.inbox.model import InboxSource, InboxWriter, NewInboxMessage, Stored, StoreResult, Verdict

log = structlog.get_logger("aiguillage.mllp")
_SB = b"\x0b"
_EB = b"\x1c\r"

AckMode = Literal["stored", "processed"]


@dataclass
class ListenerConfig:
    host: str = "127.0.0.1"
    port: int = 2575  # 0: any free port (tests); the bound one is ``MllpServer.port``
    ssl_context: ssl.SSLContext | None = None
    max_connections: int = 256
    idle_timeout: float = 600.0  # seconds without a byte before an idle connection is closed
    keepalive: bool = True  # TCP keep-alive, so that firewalls do not silently drop idle feeds
    max_frame_bytes: int = 16 * 1024 * 1024
    default_charset: str = "8859/1"  # when MSH-18 is empty
    ack_mode: AckMode = "stored"
    application: str = "AIGUILLAGE"  # the ACK's MSH-3 when the message's MSH-5 is empty
    facility: str = ""
    process_timeout: float = 30.0
    max_pending_per_connection: int = 512  # frames awaiting their ACK before reading pauses


class _Pending:
    __slots__ = ("ack", "code", "started")

    def __init__(self, started: float, ack: bytes | None = None, code: str = "") -> None:
        self.started = started
        self.ack = ack
        self.code = code


class MllpServer:
    def __init__(self, config: ListenerConfig, store: InboxWriter | Sequence[InboxWriter], *,
                 on_stored: Callable[[list[int]], None] | None = None,
                 process: Callable[[int], Verdict] | None = None) -> None:
        if config.ack_mode == "processed" and process is None:
            raise ValueError("ack_mode 'processed' needs a process callable")
        self.config = config
        self._stores = [store] if isinstance(store, InboxWriter) else list(store)
        self._on_stored = on_stored
        self._process = process
        self._server: asyncio.Server | None = None
        self._writer: GroupCommitWriter | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self.connections: set[_Connection] = set()
        self.tally = metrics.Tally()  # this listener's per-message counts, pushed to Prometheus once per batch

    @property
    def port(self) -> int:
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def writer(self) -> GroupCommitWriter:
        assert self._writer is not None, "server not started"
        return self._writer

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._writer = GroupCommitWriter(self._stores, loop, on_stored=self._on_stored,
                                         after_batch=partial(metrics.flush, self.tally))
        self._writer.start()
        if self.config.ack_mode == "processed":
            self._executor = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="aiguillage-mllp-process")
        self._server = await loop.create_server(
            lambda: _Connection(self), self.config.host, self.config.port, ssl=self.config.ssl_context,
            backlog=max(128, self.config.max_connections), reuse_address=True)
        log.info("mllp.listening", host=self.config.host, port=self.port, tls=self.config.ssl_context is not None,
                 ack_mode=self.config.ack_mode)

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        await self._server.serve_forever()

    async def stop(self) -> None:
        """Stop accepting, close the connections, commit what the writer holds."""
        if self._server is not None:
            self._server.close()
            for conn in list(self.connections):
                conn.close()
            try:
                await asyncio.wait_for(self._server.wait_closed(), 5)
            except TimeoutError:
                log.warning("mllp.stop_timeout")
            self._server = None
        if self._writer is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._writer.stop)
            self._writer = None
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def process_verdict(self, inbox_id: int) -> Verdict:
        assert self._process is not None and self._executor is not None
        loop = asyncio.get_running_loop()
        return await asyncio.wait_for(loop.run_in_executor(self._executor, self._process, inbox_id),
                                      self.config.process_timeout)


class _Connection(asyncio.Protocol):
    def __init__(self, server: MllpServer) -> None:
        self._server = server
        self._config = server.config
        self._tally = server.tally
        self._reader = FrameReader(server.config.max_frame_bytes)
        self._pending: collections.deque[_Pending] = collections.deque()
        self._transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()
        self._last = self._loop.time()
        self._idle: asyncio.TimerHandle | None = None
        self._eof = False
        self._closed = False
        self._paused = False
        self._peer = ""

    # -- connection lifecycle --------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's transports do not subclass asyncio's
        peer = transport.get_extra_info("peername")
        self._peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        if len(self._server.connections) >= self._config.max_connections:
            log.warning("mllp.connection_refused", peer=self._peer, reason="max_connections",
                        max_connections=self._config.max_connections)
            self._closed = True
            transport.close()
            return
        self._server.connections.add(self)
        metrics.CONNECTIONS.inc()
        sock = transport.get_extra_info("socket")
        if sock is not None and self._config.keepalive:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        self._idle = self._loop.call_later(self._config.idle_timeout, self._check_idle)
        log.debug("mllp.connected", peer=self._peer)

    def connection_lost(self, exc: Exception | None) -> None:
        if self in self._server.connections:
            self._server.connections.discard(self)
            metrics.CONNECTIONS.dec()
        self._closed = True
        if self._idle is not None:
            self._idle.cancel()
        if self._pending:
            log.info("mllp.closed_with_pending", peer=self._peer, pending=len(self._pending))
        if self._reader.partial:
            log.info("mllp.partial_frame_dropped", peer=self._peer, bytes=self._reader.partial)

    def eof_received(self) -> bool:
        """Half-close: the sender has sent everything; answer what is pending, then close."""
        self._eof = True
        if self._reader.partial:
            log.info("mllp.partial_frame_dropped", peer=self._peer, bytes=self._reader.partial)
        return bool(self._pending)  # False: the transport closes itself now

    def close(self) -> None:
        if self._transport is not None and not self._closed:
            self._transport.close()

    def _check_idle(self) -> None:
        if self._closed:
            return
        elapsed = self._loop.time() - self._last
        if elapsed >= self._config.idle_timeout and not self._pending:
            log.info("mllp.idle_timeout", peer=self._peer, seconds=self._config.idle_timeout)
            self.close()
            return
        self._idle = self._loop.call_later(max(self._config.idle_timeout - elapsed, 0.05), self._check_idle)

    # -- frames ----------------------------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self._last = self._loop.time()
        for event in self._reader.feed(data):
            if isinstance(event, Frame):
                try:
                    self._on_frame(event.payload)
                except Exception:  # a bug must cost one NAK, never the connection (and its pending ACKs)
                    log.exception("mllp.frame_failed", peer=self._peer)
                    self._ready(time.perf_counter(), Header(), Reason.INTERNAL_ERROR)
            elif isinstance(event, Oversize):
                self._on_oversize(event)
            elif isinstance(event, Stray):
                metrics.STRAY_BYTES.inc(event.size)
                if event.only_filler:
                    log.debug("mllp.stray_bytes", peer=self._peer, bytes=event.size)
                else:
                    log.info("mllp.stray_bytes", peer=self._peer, bytes=event.size)
        metrics.flush(self._tally)  # rejects and stray bytes of this read (stored rows are counted per batch)
        if len(self._pending) >= self._config.max_pending_per_connection and not self._paused:
            assert self._transport is not None
            self._transport.pause_reading()
            self._paused = True

    def _on_frame(self, payload: bytes) -> None:
        started = time.perf_counter()
        header = read_header(payload, self._config.default_charset)
        if header.problem is not None:
            reason = PROBLEM_REASONS[header.problem]
            self._tally.results["rejected"] += 1
            log.info("mllp.rejected", peer=self._peer, reason=reason.value, control_id=header.control_id)
            self._ready(started, header, reason, detail=header.problem_detail)
            return
        cfg = self._config
        ok = build_ack(header, Reason.STORED, own_app=cfg.application, own_facility=cfg.facility)
        row = NewInboxMessage(
            source=InboxSource.HL7V2, sender_app=header.sending_app, sender_facility=header.sending_facility,
            control_id=header.control_id, message_type=header.message_type, trigger_event=header.trigger_event,
            message_structure=header.message_structure, version=header.version, charset=header.charset_used,
            patient_key=header.patient_key, raw=payload, received_at=dt.datetime.now(dt.UTC), flags=header.flags,
            ack=ok, accept_ack_type=header.accept_ack_type, app_ack_type=header.app_ack_type)
        pending = _Pending(started)
        self._pending.append(pending)
        if cfg.ack_mode == "processed":
            future = self._server.writer.submit_future(row)
            task = self._loop.create_task(self._processed(future, header, pending))
            task.add_done_callback(self._processed_done)
        else:
            self._server.writer.submit(row, partial(self._stored, header, pending))

    def _processed_done(self, _task: asyncio.Task[None]) -> None:
        self._flush()
        metrics.flush(self._tally)

    def _stored(self, header: Header, pending: _Pending, outcome: Stored | BaseException) -> None:
        if isinstance(outcome, BaseException):
            self._tally.results["store_down"] += 1
            self._answer(pending, header, Reason.STORE_DOWN)
        else:
            self._tally.results["stored" if outcome.result is StoreResult.STORED else "duplicate"] += 1
            pending.ack = outcome.ack
            pending.code = ack_code(header, "A")
        self._flush()

    async def _processed(self, future: asyncio.Future[Stored], header: Header, pending: _Pending) -> None:
        try:
            stored = await future
        except Exception:
            self._tally.results["store_down"] += 1
            self._answer(pending, header, Reason.STORE_DOWN)
            return
        self._tally.results["stored" if stored.result is StoreResult.STORED else "duplicate"] += 1
        try:
            verdict = await self._server.process_verdict(stored.inbox_id)
        except TimeoutError:
            self._answer(pending, header, Reason.PROCESSING_TIMEOUT)
            return
        except Exception as exc:  # the pipeline failed unexpectedly: the row is stored, the sender may resend
            log.warning("mllp.process_failed", inbox_id=stored.inbox_id, error=type(exc).__name__)
            self._answer(pending, header, Reason.PROCESSED,
                         verdict=Verdict(ok=False, reason_fr="Erreur de traitement", reason_en="Processing error"))
            return
        self._answer(pending, header, Reason.PROCESSED, verdict=verdict)

    def _on_oversize(self, event: Oversize) -> None:
        header = read_header(event.head, self._config.default_charset)
        self._tally.results["oversize"] += 1
        log.warning("mllp.oversize_frame", peer=self._peer, limit=event.limit, control_id=header.control_id)
        self._ready(time.perf_counter(), header, Reason.TOO_LARGE, detail=f"> {event.limit} octets/bytes")

    # -- answers ---------------------------------------------------------------------------------------------------

    def _answer(self, pending: _Pending, header: Header, reason: Reason, *, verdict: Verdict | None = None,
                detail: str = "") -> None:
        cfg = self._config
        pending.ack = build_ack(header, reason, verdict=verdict, own_app=cfg.application, own_facility=cfg.facility,
                                detail=detail)
        if verdict is not None and not verdict.ok:
            outcome = "R" if verdict.rejected else "E"
        else:
            outcome = RULES[reason].outcome
        pending.code = ack_code(header, outcome)

    def _ready(self, started: float, header: Header, reason: Reason, *, detail: str = "") -> None:
        pending = _Pending(started)
        self._answer(pending, header, reason, detail=detail)
        self._pending.append(pending)
        self._flush()

    def _flush(self) -> None:
        queue = self._pending
        while queue and queue[0].ack is not None:
            pending = queue.popleft()
            if self._closed or self._transport is None:
                continue
            if pending.ack:  # empty: MSH-15 asked for no commit ACK
                self._transport.write(b"".join((_SB, pending.ack, _EB)))
                self._tally.ack_sent(pending.code, time.perf_counter() - pending.started)
        if self._paused and len(queue) < self._config.max_pending_per_connection // 2:
            assert self._transport is not None
            self._paused = False
            if not self._closed:
                self._transport.resume_reading()
        if self._eof and not queue and not self._closed and self._transport is not None:
            self._transport.close()


__all__ = ["AckMode", "ListenerConfig", "MllpServer"]
