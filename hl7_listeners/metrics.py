"""Prometheus metrics of the MLLP listener (exposed on the gateway's /metrics).

The hot path does not touch Prometheus per message: each ``inc``/``observe`` takes a lock and walks the buckets
(~2–4 µs, three of them per message). Each listener's event-loop thread tallies in plain Python objects (its own
``Tally``, one thread, no lock) and ``flush(tally)`` pushes them once per committed batch / per read; a scrape sees
them at most one batch late.
"""

from __future__ import annotations

import bisect
from collections import Counter as _Tally

from prometheus_client import Counter, Gauge, Histogram

MESSAGES = Counter("aiguillage_mllp_messages_total", "Frames received, by result",
                   ["result"])  # stored, duplicate, rejected, store_down, oversize
ACKS = Counter("aiguillage_mllp_acks_total", "Acknowledgements sent, by MSA-1 code", ["code"])
_ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
ACK_LATENCY = Histogram("aiguillage_mllp_ack_seconds", "Frame end received → ACK written", buckets=_ACK_BUCKETS)
BATCH_SIZE = Histogram("aiguillage_mllp_commit_batch_rows", "Rows per group commit",
                       buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512))
COMMIT_SECONDS = Histogram("aiguillage_mllp_commit_seconds", "Duration of one group commit",
                           buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1))
CONNECTIONS = Gauge("aiguillage_mllp_connections", "Open MLLP connections")
STRAY_BYTES = Counter("aiguillage_mllp_stray_bytes_total", "Bytes skipped outside frames")

# label children resolved once: .labels() is a dict lookup under a lock, on every frame otherwise
STORED = MESSAGES.labels("stored")
DUPLICATE = MESSAGES.labels("duplicate")
REJECTED = MESSAGES.labels("rejected")
STORE_DOWN = MESSAGES.labels("store_down")
OVERSIZE = MESSAGES.labels("oversize")
_ACK_CODES = {code: ACKS.labels(code) for code in ("AA", "AE", "AR", "CA", "CE", "CR")}
_RESULTS = {"stored": STORED, "duplicate": DUPLICATE, "rejected": REJECTED, "store_down": STORE_DOWN,
            "oversize": OVERSIZE}


class Tally:
    """What the event-loop thread counted since the last ``flush`` (only that thread touches it)."""

    __slots__ = ("acks", "latencies", "results")

    def __init__(self) -> None:
        self.results: _Tally[str] = _Tally()  # MESSAGES by result
        self.acks: _Tally[str] = _Tally()  # ACKS by MSA-1 code
        self.latencies: list[float] = []  # ACK_LATENCY observations

    def ack_sent(self, code: str, seconds: float) -> None:
        self.acks[code] += 1
        self.latencies.append(seconds)


def flush(t: Tally) -> None:
    """Push a loop thread's tallies to Prometheus (called from that thread, once per batch or read)."""
    if t.results:
        for result, n in t.results.items():
            _RESULTS[result].inc(n)
        t.results.clear()
    if t.acks:
        for code, n in t.acks.items():
            counter = _ACK_CODES.get(code)
            (counter if counter is not None else ACKS.labels(code)).inc(n)
        t.acks.clear()
    if t.latencies:
        _observe_many(ACK_LATENCY, _ACK_BUCKETS, t.latencies)
        t.latencies = []


def _observe_many(histogram: Histogram, bounds: tuple[float, ...], values: list[float]) -> None:
    """``histogram.observe`` for many values with one increment per touched bucket (what ``observe`` does for one
    value: ``_sum`` and the first bucket whose bound is ≥ the value; the exposition accumulates the buckets)."""
    buckets = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    if buckets is None or total is None or len(buckets) != len(bounds) + 1:  # another client version: the slow way
        for value in values:
            histogram.observe(value)
        return
    counts = _Tally(bisect.bisect_left(bounds, value) for value in values)  # +Inf is the index len(bounds)
    for index, n in counts.items():
        buckets[index].inc(n)
    total.inc(sum(values))


def ack_sent(code: str) -> None:
    counter = _ACK_CODES.get(code)
    (counter if counter is not None else ACKS.labels(code)).inc()
