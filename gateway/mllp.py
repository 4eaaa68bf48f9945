"""Wiring of the MLLP listener (composition root): settings → ``ListenerConfig``, the inbox writer, and the two
callables the listener is handed so that it never knows the pipeline:

* ``on_stored(ids)`` → ``container.tasks.enqueue("ingest.process")`` (the pipeline task drains every pending
  inbox row in order; one enqueue per committed batch, the in-process queue collapses repeats);
* in ``AIGUILLAGE_MLLP_ACK_MODE=processed``, ``process(inbox_id)`` runs ``ingest.process`` now and turns the
  row's resulting status into the verdict the ACK carries (processed → AA; rejected → AR; failed, dead, or still
  waiting behind an earlier message of the same patient → AE, the sender resends later).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Coroutine
from typing import Any

import structlog

from gateway.container import Container
from gateway.settings import Settings
from hl7_listeners.server import ListenerConfig, MllpServer
from hl7_listeners.tls import server_context
from orientation_core.inbox.model import InboxStatus, Verdict
from orientation_core.persistence.inbox import SqlInboxWriter

log = structlog.get_logger("aiguillage.mllp")
INGEST_TASK = "ingest.process"


def listener_config(settings: Settings) -> ListenerConfig:
    ssl_context = None
    if settings.mllp_tls_cert is not None:
        if settings.mllp_tls_key is None:
            raise ValueError("AIGUILLAGE_MLLP_TLS_KEY est requis avec AIGUILLAGE_MLLP_TLS_CERT")
        ssl_context = server_context(settings.mllp_tls_cert, settings.mllp_tls_key, ca=settings.mllp_tls_ca,
                                     require_client_cert=settings.mllp_require_client_cert)
    elif settings.mllp_require_client_cert:
        raise ValueError("AIGUILLAGE_MLLP_REQUIRE_CLIENT_CERT demande TLS (AIGUILLAGE_MLLP_TLS_CERT et _KEY)")
    return ListenerConfig(
        host=settings.mllp_host, port=settings.mllp_port, ssl_context=ssl_context,
        max_connections=settings.mllp_max_connections, idle_timeout=settings.mllp_idle_timeout_seconds,
        max_frame_bytes=settings.mllp_max_frame_bytes, default_charset=settings.mllp_default_charset,
        ack_mode=settings.mllp_ack_mode,
    )


def _verdict_from_row(container: Container, inbox_id: int) -> Verdict:
    with container.uow() as uow:
        row = uow.inbox.get(inbox_id)
    if row is None:  # pragma: no cover - the row was committed before process() is called
        return Verdict(ok=False, reason_fr="Message introuvable", reason_en="Message not found")
    if row.status is InboxStatus.PROCESSED:
        return Verdict(ok=True)
    reason = (row.last_error or "").strip()[:200]
    if row.status is InboxStatus.REJECTED:
        return Verdict(ok=False, rejected=True, code="207", reason_fr=reason or "Message refusé par le traitement",
                       reason_en="Message refused by processing")
    if row.status in (InboxStatus.RECEIVED, InboxStatus.PROCESSING):
        return Verdict(ok=False, reason_fr="Message en attente d'un message antérieur du même patient",
                       reason_en="Waiting for an earlier message of the same patient")
    return Verdict(ok=False, reason_fr=reason or "Échec du traitement, nouvel essai prévu",
                   reason_en="Processing failed, will be retried")


def build_listener(container: Container) -> MllpServer:
    settings = container.settings

    def on_stored(ids: list[int]) -> None:
        container.tasks.enqueue(INGEST_TASK)

    def process(inbox_id: int) -> Verdict:
        container.run_task(INGEST_TASK)
        return _verdict_from_row(container, inbox_id)

    writer = SqlInboxWriter(container.engine)
    return MllpServer(listener_config(settings), writer, on_stored=on_stored,
                      process=process if settings.mllp_ack_mode == "processed" else None)


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """uvloop when installed (it comes with uvicorn[standard]; ``serve`` runs the listener on uvicorn's uvloop
    too), else asyncio's loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - platforms without uvloop
        asyncio.run(main)
        return
    uvloop.run(main)


def run_standalone(container: Container) -> None:
    """``aiguillage mllp``: the listener alone, with the task queue for the pipeline, until SIGTERM / SIGINT."""

    async def main() -> None:
        server = build_listener(container)
        await server.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        print(f"MLLP prêt sur {container.settings.mllp_host}:{server.port}", flush=True)
        await stop.wait()
        log.info("mllp.stopping")
        await server.stop()

    container.tasks.start()
    try:
        run_loop(main())
    finally:
        container.tasks.stop()
        container.engine.dispose()
