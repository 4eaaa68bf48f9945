"""Background work without a broker: the in-process queue started by the application's lifespan delivers
notifications right after a commit and runs the timer sweep on its own schedule; the queue itself deduplicates
pending work, outlives failing tasks and stops cleanly."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gateway.worker.queue import InProcessQueue
from orientation_core.errors import StoreUnavailable


def _eventually(check: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def _queue_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name in ("aiguillage-worker", "aiguillage-beat")]


# ====================================================================================================================
# Through the application
# ====================================================================================================================


def test_notification_is_delivered_shortly_after_the_commit(make_api: Any, gw: dict[str, Any]) -> None:
    api = make_api(queue="inprocess")
    assert isinstance(api.container.tasks, InProcessQueue)
    with api.client:  # the lifespan starts the worker and the scheduler
        assert len(_queue_threads()) == 2
        board = api.ok(api.get(gw["PETIT"], "/api/v1/tableau-de-bord/receveur", params={"recherche": "S00000002"}))
        (demande_id,) = [row["demande_id"] for row in board["items"]]

        def delivered() -> list[dict[str, Any]]:
            notes = api.ok(api.get(gw["LAMBERT"], "/api/v1/notifications"))
            return [n for n in notes if n["demande_id"] == demande_id and n["titre"] == "Demande : Demande de précision"]

        assert delivered() == []
        started = time.monotonic()
        api.ok(api.post(gw["PETIT"], f"/api/v1/demandes/{demande_id}/demander_precision",
                        json={"question": "Le patient est-il porteur d'une BMR ?"}))
        # well before the first tick of the 30 s safety net (5 s after start): it is the after-commit enqueue
        found = _eventually(delivered, timeout=3)
        assert found, "the notification did not arrive within 3 s of the commit"
        assert time.monotonic() - started < 3
        assert len(found) == 1
    assert _queue_threads() == []  # the lifespan stopped the threads


def test_the_sweep_runs_by_itself_on_its_schedule(make_api: Any, gw: dict[str, Any]) -> None:
    api = make_api(queue="inprocess", sweep_interval_seconds=0.2)
    martin = gw["MARTIN"]
    page = api.ok(api.get(martin, "/api/v1/tableau-de-bord/prescripteur", params={"recherche": "S00000001"}))
    (dossier_id,) = [row["dossier_id"] for row in page["items"]]
    cancelled = api.ok(api.post(martin, f"/api/v1/dossiers/{dossier_id}/annulation",
                                json={"motif": "Patient décédé"}))
    assert cancelled["etat"] == "annule"
    # the live demande is cancelled with the dossier; the refusal stays what it was
    assert sorted(d["statut"] for d in cancelled["demandes"]) == ["annulee", "refusee"]

    def etat() -> str:
        return str(api.ok(api.get(martin, f"/api/v1/dossiers/{dossier_id}"))["etat"])

    with api.client:
        time.sleep(1.0)  # several sweeps ran: still reactivable, nothing archived
        assert etat() == "annule"
        api.clock.advance(days=15, minutes=1)  # past the archival delay; nobody calls the sweep
        assert _eventually(lambda: etat() == "archive", timeout=5), "the scheduled sweep did not archive"
    dossier = api.ok(api.get(martin, f"/api/v1/dossiers/{dossier_id}"))
    assert [d["statut"] for d in dossier["demandes"]] == ["archivee", "archivee"]
    history = api.ok(api.get(martin, f"/api/v1/dossiers/{dossier_id}/historique"))
    archived = [e for e in history if e["action"] == "dossier.archiver"]
    assert len(archived) == 1 and archived[0]["actor_kind"] == "system"  # once, though the sweep kept running
    board = api.ok(api.get(martin, "/api/v1/tableau-de-bord/prescripteur", params={"section": "archivees"}))
    assert dossier_id in {row["dossier_id"] for row in board["items"]}


# ====================================================================================================================
# The queue itself
# ====================================================================================================================


class Recorder:
    """A task runner that records calls, can block on a name and can fail on a name."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.failures: dict[str, BaseException] = {}
        self.gates: dict[str, threading.Event] = {}
        self.entered: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def __call__(self, name: str) -> object:
        with self._lock:
            self.calls.append(name)
        if name in self.entered:
            self.entered[name].set()
        if name in self.gates:
            assert self.gates[name].wait(5)
        if name in self.failures:
            raise self.failures[name]
        return None

    def count(self, name: str) -> int:
        with self._lock:
            return self.calls.count(name)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def make_queue(recorder: Recorder) -> Iterator[Callable[..., InProcessQueue]]:
    made: list[InProcessQueue] = []

    def make(periodic: dict[str, float] | None = None) -> InProcessQueue:
        q = InProcessQueue(recorder, periodic or {})
        made.append(q)
        return q

    yield make
    for q in made:
        q.stop()


def test_pending_names_are_queued_once(make_queue: Callable[..., InProcessQueue], recorder: Recorder) -> None:
    q = make_queue()
    for name in ("notifications.dispatch", "timers.sweep", "notifications.dispatch", "notifications.dispatch"):
        q.enqueue(name)
    q.start()
    q.stop()  # drains what was queued before it stops
    assert recorder.calls == ["notifications.dispatch", "timers.sweep"]


def test_work_arriving_while_a_task_runs_is_not_lost(make_queue: Callable[..., InProcessQueue],
                                                     recorder: Recorder) -> None:
    """A commit during a dispatch must trigger another dispatch: the running one may have read the outbox
    before that commit."""
    recorder.gates["notifications.dispatch"] = gate = threading.Event()
    recorder.entered["notifications.dispatch"] = entered = threading.Event()
    q = make_queue()
    q.start()
    q.enqueue("notifications.dispatch")
    assert entered.wait(5)
    q.enqueue("notifications.dispatch")  # while the first one runs
    q.enqueue("notifications.dispatch")  # deduplicated with the previous one
    gate.set()
    assert _eventually(lambda: recorder.count("notifications.dispatch") == 2, timeout=5)
    assert q.join_idle(5)
    q.stop()
    assert recorder.count("notifications.dispatch") == 2


@pytest.mark.parametrize("failure", [RuntimeError("bug in a task"), StoreUnavailable("base indisponible")],
                         ids=["crash", "retryable"])
def test_the_worker_survives_a_failing_task(make_queue: Callable[..., InProcessQueue], recorder: Recorder,
                                            failure: Exception) -> None:
    recorder.failures["boom"] = failure
    q = make_queue()
    q.start()
    q.enqueue("boom")
    q.enqueue("after")
    assert _eventually(lambda: recorder.count("after") == 1, timeout=5)
    q.enqueue("boom")  # the same failing name can be queued again: its pending mark was cleared
    q.enqueue("later")
    assert _eventually(lambda: recorder.count("later") == 1, timeout=5)
    assert recorder.count("boom") == 2


def test_periodic_tasks_run_until_stopped(make_queue: Callable[..., InProcessQueue], recorder: Recorder) -> None:
    q = make_queue({"timers.sweep": 0.1})
    q.start()
    assert _eventually(lambda: recorder.count("timers.sweep") >= 2, timeout=5)
    q.stop()
    assert _queue_threads() == []
    stopped_at = recorder.count("timers.sweep")
    time.sleep(0.7)
    assert recorder.count("timers.sweep") == stopped_at


def test_a_restarted_queue_runs_tasks_again(make_queue: Callable[..., InProcessQueue], recorder: Recorder) -> None:
    """Lifespan shutdown then startup again (a server reloading, a test client entered twice)."""
    q = make_queue()
    q.start()
    q.stop()
    q.start()
    q.enqueue("notifications.dispatch")
    assert _eventually(lambda: recorder.count("notifications.dispatch") == 1, timeout=3)


def test_a_queue_stopped_twice_or_before_starting_still_works_once_started(
        make_queue: Callable[..., InProcessQueue], recorder: Recorder) -> None:
    q = make_queue()
    q.start()
    q.stop()
    q.stop()  # e.g. the lifespan stopped it, then the owner's own cleanup did too
    q.start()
    q.enqueue("notifications.dispatch")
    assert _eventually(lambda: recorder.count("notifications.dispatch") == 1, timeout=1.5)
