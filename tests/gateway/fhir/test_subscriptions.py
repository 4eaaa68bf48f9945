"""REST-hook Subscription on Task changes: delivered after commit to a real HTTP endpoint on loopback, with the
subscriber's rights, retried with backoff after a failure, given up (status error) after the last attempt."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from gateway.fhir import subscriptions
from gateway.fhir.subscriptions import SubscriptionDispatcher, deliver_due

FHIR = "/fhir/r4"
CRITERIA = "Task?patient:identifier=urn:aiguillage:ipp:690001011|FHIR-0001"


@dataclass
class Receiver:
    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    fail_next: int = 0  # answer 503 to that many requests
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, count: int, timeout: float = 15) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.05)
        raise AssertionError(f"{len(self.received)} notifications received, {count} expected")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver("")

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with state.lock:
                if state.fail_next:
                    state.fail_next -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                state.received.append({"method": self.command, "path": self.path,
                                       "authorization": self.headers.get("Authorization"),
                                       "body": json.loads(body) if body else None})
            self.send_response(200)
            self.end_headers()

        do_PUT = do_POST = _handle

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def _subscribe(api: Any, login: str, endpoint: str, **channel: Any) -> httpx.Response:
    resource = {"resourceType": "Subscription", "status": "requested", "reason": "Suivi des demandes",
                "criteria": CRITERIA,
                "channel": {"type": "rest-hook", "endpoint": endpoint, "payload": "application/fhir+json",
                            "header": ["Authorization: Bearer jeton-dpi"], **channel}}
    return api.client.post(f"{FHIR}/Subscription", content=json.dumps(resource),
                           headers={"X-Aiguillage-Utilisateur": login, "Content-Type": "application/fhir+json"})


def test_task_changes_are_pushed_after_commit_and_retried(api: Any, gw: dict[str, Any], sent: dict[str, Any],
                                                          receiver: Receiver) -> None:
    created = _subscribe(api, gw["MARTIN"], receiver.url)
    assert created.status_code == 201, created.text
    subscription_id = created.json()["id"]
    first, second = sent["demandes"][api.unite_id("2101")], sent["demandes"][api.unite_id("2102")]
    dispatcher = SubscriptionDispatcher(api.container, tick_seconds=0.1)
    dispatcher.start()
    try:
        api.clock.advance(minutes=5)
        api.ok(api.post(gw["DURAND"], f"/api/v1/demandes/{first}/accepter", json={"date_admission": "2026-03-17"}))
        [notification] = receiver.wait_for(1)
        assert notification["method"] == "PUT" and notification["path"] == f"/hook/Task/demande-{first}"
        assert notification["authorization"] == "Bearer jeton-dpi"
        assert notification["body"]["status"] == "accepted"

        # the endpoint fails: nothing is lost, the delivery comes back once the backoff has passed
        receiver.fail_next = 1
        api.clock.advance(minutes=5)
        api.ok(api.post(gw["DURAND"], f"/api/v1/demandes/{second}/refuser", json={"motif": "Complet"}))
        time.sleep(0.5)
        assert len(receiver.received) == 1
        state = api.ok(api.client.get(f"{FHIR}/Subscription/{subscription_id}",
                                      headers={"X-Aiguillage-Utilisateur": gw["MARTIN"]}))
        assert state["status"] == "active" and "503" in state["error"]
        api.clock.advance(seconds=subscriptions.BACKOFF_BASE_SECONDS + 1)
        received = receiver.wait_for(2)
        assert received[1]["path"] == f"/hook/Task/demande-{second}"
        assert received[1]["body"]["statusReason"] == {"text": "Complet"}
        time.sleep(0.3)
        assert len(receiver.received) == 2  # the first Task is not sent again
    finally:
        dispatcher.stop()


def test_a_receiver_only_gets_what_he_may_read(api: Any, gw: dict[str, Any], sent: dict[str, Any],
                                               receiver: Receiver) -> None:
    assert _subscribe(api, gw["HAD_RECEVEUR"], receiver.url).status_code == 201
    first = sent["demandes"][api.unite_id("2101")]
    api.clock.advance(minutes=5)
    api.ok(api.post(gw["DURAND"], f"/api/v1/demandes/{first}/accepter", json={"date_admission": "2026-03-17"}))
    with httpx.Client() as http:
        report = deliver_due(api.container, http, signal=True)
    assert report.subscriptions == 1 and report.delivered == 0 and receiver.received == []


def test_delivery_gives_up_after_the_last_attempt(api: Any, gw: dict[str, Any], sent: dict[str, Any]) -> None:
    created = _subscribe(api, gw["MARTIN"], "http://127.0.0.1:9/refuse").json()  # port 9: nothing listens
    first = sent["demandes"][api.unite_id("2101")]
    api.clock.advance(minutes=5)
    api.ok(api.post(gw["DURAND"], f"/api/v1/demandes/{first}/accepter", json={"date_admission": "2026-03-17"}))
    with httpx.Client(timeout=2) as http:
        deliver_due(api.container, http, signal=True)
        for _ in range(subscriptions.MAX_ATTEMPTS - 1):
            api.clock.advance(seconds=subscriptions.BACKOFF_MAX_SECONDS + 1)
            deliver_due(api.container, http)
    state = api.ok(api.client.get(f"{FHIR}/Subscription/{created['id']}",
                                  headers={"X-Aiguillage-Utilisateur": gw["MARTIN"]}))
    assert state["status"] == "error" and state["error"]


@pytest.mark.parametrize(("change", "expression"), [
    ({"criteria": "Patient?family=ADRUN"}, "Subscription.criteria"),
    ({"criteria": "Task?_lastUpdated=gt2026-03-01"}, "Subscription.criteria"),
    ({"channel": {"type": "email", "endpoint": "mailto:x@example.org"}}, "Subscription.channel.type"),
    ({"channel": {"type": "rest-hook", "endpoint": "ftp://127.0.0.1/x"}}, "Subscription.channel.endpoint"),
    ({"channel": {"type": "rest-hook", "endpoint": "http://127.0.0.1/x", "payload": "text/xml"}},
     "Subscription.channel.payload"),
])
def test_subscription_refusals(api: Any, gw: dict[str, Any], change: dict[str, Any], expression: str) -> None:
    resource = {"resourceType": "Subscription", "status": "requested", "reason": "x", "criteria": CRITERIA,
                "channel": {"type": "rest-hook", "endpoint": "http://127.0.0.1/x"}, **change}
    response = api.client.post(f"{FHIR}/Subscription", content=json.dumps(resource),
                               headers={"X-Aiguillage-Utilisateur": gw["MARTIN"],
                                        "Content-Type": "application/fhir+json"})
    assert response.status_code == 422, response.text
    assert response.json()["issue"][0]["expression"] == [expression]
