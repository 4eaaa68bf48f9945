"""REST-hook Subscriptions on Task changes (FHIR R4 Subscription, channel ``rest-hook``).

A subscriber (a user: his rights filter the Tasks, exactly as a search would) names a Task search in
``criteria`` (``Task?patient:identifier=system|value``) and an endpoint. Delivery happens after commit, in the
dispatcher's own thread: a commit that wrote outbox messages (every demande transition does) wakes it; it marks
the active subscriptions due, runs each one's search for the Tasks changed since its cursor, and sends them —
``PUT <endpoint>/Task/<id>`` with the Task when the channel asks for a payload, else one empty ``POST
<endpoint>`` as the R4 "ping". A failed delivery is retried with exponential backoff (the cursor only moves on
success, so nothing is lost); after ``MAX_ATTEMPTS`` the subscription goes to status ``error``.
"""

from __future__ import annotations

import datetime as dt
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from gateway.container import Container
from gateway.fhir.indexing import parse_query
from gateway.fhir.intake import check_structure, expect_type, new_id, parse_json
from gateway.fhir.outcome import FhirError
from gateway.fhir.readback import search_tasks
from orientation_core.persistence.uow import SqlUnitOfWork

log = structlog.get_logger("aiguillage.fhir.subscriptions")

MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 5.0
BACKOFF_MAX_SECONDS = 600.0
PAYLOAD_TYPES = ("application/fhir+json", "application/json")


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS))


# ====================================================================================================================
# Creation
# ====================================================================================================================


def _criteria_query(criteria: str) -> list[tuple[str, str]]:
    path, _, query = criteria.partition("?")
    if path.strip("/") != "Task":
        raise FhirError(422, "Seuls les abonnements aux Task sont proposés (criteria = « Task?… »).",
                        "not-supported", "Subscription.criteria")
    items = urllib.parse.parse_qsl(query, keep_blank_values=True)
    parsed = parse_query("Task", items)
    if not parsed.patient_identifiers:
        raise FhirError(422, "L'abonnement précise le patient : Task?patient:identifier=système|valeur.",
                        "required", "Subscription.criteria")
    return items


def create(container: Container, user_id: int, body: bytes) -> dict[str, Any]:
    resource = expect_type(parse_json(body), "Subscription")
    check_structure(resource)
    criteria = str(resource.get("criteria", ""))
    _criteria_query(criteria)
    channel = resource.get("channel") or {}
    if channel.get("type") != "rest-hook":
        raise FhirError(422, "Seul le canal rest-hook est proposé.", "not-supported", "Subscription.channel.type")
    endpoint = str(channel.get("endpoint", ""))
    if urllib.parse.urlsplit(endpoint).scheme not in ("http", "https"):
        raise FhirError(422, "Adresse de notification (channel.endpoint) http ou https attendue.", "required",
                        "Subscription.channel.endpoint")
    payload = channel.get("payload")
    if payload is not None and payload not in PAYLOAD_TYPES:
        raise FhirError(422, "Contenu de notification : application/fhir+json, ou rien.", "not-supported",
                        "Subscription.channel.payload")
    headers = [str(h) for h in channel.get("header") or []]
    if any(":" not in h for h in headers):
        raise FhirError(422, "Chaque en-tête de notification s'écrit « Nom: valeur ».", "value",
                        "Subscription.channel.header")
    now = container.env.clock.now()
    with container.uow() as uow:
        stored = uow.fhir.save({**resource, "id": new_id(), "status": "active"}, now)
        uow.fhir.add_subscription(stored["id"], user_id, criteria, endpoint.rstrip("/"), headers, payload is not None,
                                  now)
    return stored


def current_state(uow: SqlUnitOfWork, resource: dict[str, Any]) -> dict[str, Any]:
    """A stored Subscription with its live delivery status (active, or error and why)."""
    state = uow.fhir.subscription(str(resource.get("id")))
    if state is None:
        return resource
    shown = {**resource, "status": state["status"]}
    if state["last_error"]:
        shown["error"] = state["last_error"]
    return shown


# ====================================================================================================================
# Delivery
# ====================================================================================================================


@dataclass
class DeliveryReport:
    subscriptions: int = 0
    delivered: int = 0
    failed: int = 0


def _instant(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def deliver_due(container: Container, http: httpx.Client, *, signal: bool = False) -> DeliveryReport:
    """One round: (optionally mark every active subscription due,) then deliver each due one."""
    report = DeliveryReport()
    now = container.env.clock.now()
    with container.uow() as uow:
        if signal:
            uow.fhir.signal_subscriptions(now)
        due = uow.fhir.subscriptions_due(now)
    for subscription in due:
        report.subscriptions += 1
        sent, ok = _deliver(container, http, subscription, now)
        report.delivered += sent
        report.failed += 0 if ok else 1
    return report


def _deliver(container: Container, http: httpx.Client, sub: dict[str, Any], now: dt.datetime) -> tuple[int, bool]:
    query = parse_query("Task", _criteria_query(sub["criteria"]))
    query.last_updated = [("gt", sub["cursor"])]
    query.count = 10_000  # one patient's demandes: all of them, oldest first below, so the cursor never skips
    with container.uow() as uow:
        _, tasks = search_tasks(uow, sub["user_id"], query, now)
    tasks.sort(key=lambda task: task["meta"]["lastUpdated"])
    if not tasks:
        with container.uow() as uow:
            uow.fhir.update_subscription(sub["id"], next_attempt_at=None, attempts=0, last_error=None)
        return 0, True
    headers = dict(h.split(":", 1) for h in sub["headers"])
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    sent = 0
    try:
        if sub["payload"]:
            for task in tasks:
                response = http.put(f"{sub['endpoint']}/Task/{task['id']}", json=task,
                                    headers={**headers, "Content-Type": "application/fhir+json"})
                response.raise_for_status()
                sent += 1
        else:
            http.post(sub["endpoint"], content=b"", headers=headers).raise_for_status()
            sent = len(tasks)
    except httpx.HTTPError as exc:
        attempts = int(sub["attempts"]) + 1
        given_up = attempts >= MAX_ATTEMPTS
        # the Tasks sent before the failure move the cursor: they are not sent twice
        cursor = _instant(tasks[sent - 1]["meta"]["lastUpdated"]) if sent else sub["cursor"]
        with container.uow() as uow:
            uow.fhir.update_subscription(sub["id"], attempts=attempts, cursor=cursor,
                                         status="error" if given_up else "active",
                                         next_attempt_at=None if given_up else now + backoff(attempts),
                                         last_error=f"{type(exc).__name__}: {exc}"[:1000])
        log.warning("fhir.subscription.failed", subscription=sub["resource_id"], attempts=attempts,
                    given_up=given_up)
        return sent, False
    with container.uow() as uow:
        uow.fhir.update_subscription(sub["id"], cursor=_instant(tasks[-1]["meta"]["lastUpdated"]), attempts=0,
                                     last_error=None, next_attempt_at=None)
    return sent, True


class SubscriptionDispatcher:
    """Delivers after commit, in its own thread: woken by commits that wrote outbox messages (demande
    transitions do), and every ``tick_seconds`` for the retries that come due."""

    def __init__(self, container: Container, *, tick_seconds: float = 5.0, timeout_seconds: float = 10.0) -> None:
        self.container = container
        self.tick_seconds = tick_seconds
        self._wake = threading.Event()
        self._signal = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._http = httpx.Client(timeout=timeout_seconds)
        self.rounds = 0

    def _after_commit(self, uow: SqlUnitOfWork) -> None:
        if uow.outbox.added:
            self.wake()

    def wake(self) -> None:
        self._signal = True
        self._wake.set()

    def start(self) -> None:
        if self._thread is not None:
            return
        self.container.uow.after_commit.append(self._after_commit)
        self._thread = threading.Thread(target=self._run, name="fhir-subscriptions", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        if self._after_commit in self.container.uow.after_commit:
            self.container.uow.after_commit.remove(self._after_commit)
        self._http.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.tick_seconds)
            self._wake.clear()
            if self._stop.is_set():
                break
            signal, self._signal = self._signal, False
            try:
                deliver_due(self.container, self._http, signal=signal)
            except Exception:  # the next round retries; a delivery problem must not kill the thread
                log.warning("fhir.subscription.round_failed", exc_info=True)
            self.rounds += 1


def start(container: Container) -> SubscriptionDispatcher:
    """Started by the application's lifespan; ``stop()`` at shutdown."""
    dispatcher = SubscriptionDispatcher(container)
    dispatcher.start()
    return dispatcher
