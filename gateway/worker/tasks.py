"""Thin tasks: each opens its own unit of work, calls one use case, commits. Idempotent, named
``<area>.<verb>``. Retries: a ``retryable`` domain error is retried with backoff (Celery) or at the next
tick (in-process); anything else is logged and left for the operator."""

from __future__ import annotations

import structlog

from gateway.container import Container
from orientation_core.notifications.service import dispatch
from orientation_core.sweep import sweep

log = structlog.get_logger("aiguillage.tasks")


def timers_sweep(container: Container) -> dict[str, int]:
    with container.uow() as uow:
        report = sweep(uow, container.env)
    log.info("timers.sweep", relances_auto=report.relances_auto, dossiers_annules=report.dossiers_annules,
             demandes_annulees=report.demandes_annulees, demandes_archivees=report.demandes_archivees,
             dossiers_archives=report.dossiers_archives)
    return {
        "relances_auto": report.relances_auto,
        "dossiers_annules": report.dossiers_annules,
        "demandes_annulees": report.demandes_annulees,
        "demandes_archivees": report.demandes_archivees,
        "dossiers_archives": report.dossiers_archives,
    }


def notifications_dispatch(container: Container) -> int:
    delivered = 0
    while True:  # drain in batches, one transaction each
        with container.uow() as uow:
            batch = dispatch(uow, container.env)
        delivered += batch
        if batch == 0:
            break
    if delivered:
        log.info("notifications.dispatch", delivered=delivered)
    return delivered


TASKS = {
    "timers.sweep": timers_sweep,
    "notifications.dispatch": notifications_dispatch,
}
