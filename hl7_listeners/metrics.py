"""Prometheus metrics of the MLLP listener (exposed on the gateway's /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES = Counter("aiguillage_mllp_messages_total", "Frames received, by result",
                   ["result"])  # stored, duplicate, rejected, store_down, oversize
ACKS = Counter("aiguillage_mllp_acks_total", "Acknowledgements sent, by MSA-1 code", ["code"])
ACK_LATENCY = Histogram("aiguillage_mllp_ack_seconds", "Frame end received → ACK written",
                        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
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


def ack_sent(code: str) -> None:
    counter = _ACK_CODES.get(code)
    (counter if counter is not None else ACKS.labels(code)).inc()
