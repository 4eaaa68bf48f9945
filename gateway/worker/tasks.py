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
    _kick_ins_lookups(container)
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
    from gateway.mail import send_pending

    send_pending(container)  # e-mails (kind "mail": one-time codes, invitations) share the outbox and its trigger
    return delivered


def ins_lookup(container: Container) -> dict[str, int]:
    """Run the due INSi look-ups (queued by intake, or retries after an outage), one transaction each."""
    from gateway.api.identite import verifier_for
    from orientation_core.identite import service as identite

    with container.uow() as uow:
        due = identite.recherches_dues(uow, container.env)
    verifier = verifier_for(container)
    counts: dict[str, int] = {}
    for recherche_id in due:
        with container.uow() as uow:
            issue = identite.executer_recherche(uow, container.env, recherche_id, verifier)
        key = issue.issue if issue is not None else "ignoree"
        counts[key] = counts.get(key, 0) + 1
    if counts:
        log.info("ins.lookup", **counts)
    return counts


def _kick_ins_lookups(container: Container) -> None:
    """The periodic sweep also wakes the INSi queue, so retries after an outage need no scheduler of their own."""
    from orientation_core.identite import service as identite

    with container.uow() as uow:
        due = identite.recherches_dues(uow, container.env, limit=1)
    if due:
        container.tasks.enqueue("ins.lookup")


def ingest_process(container: Container) -> dict[str, int]:
    """Drain the inbox through the HL7 v2 pipeline (gateway/intake): due rows in per-patient order."""
    from gateway.intake import Pipeline, PipelinePolicy

    excluded = frozenset(container.settings.insi_excluded_senders)
    pipeline = Pipeline(container.uow, container.env, PipelinePolicy(insi_excluded_senders=excluded))
    pipeline.on_ins_lookup.append(lambda _ids: container.tasks.enqueue("ins.lookup"))  # after commit
    return pipeline.drain().as_dict()


TASKS = {
    "ingest.process": ingest_process,
    "timers.sweep": timers_sweep,
    "notifications.dispatch": notifications_dispatch,
    "ins.lookup": ins_lookup,
}
