"""FHIR API fixtures: the samples, the client header, and a real uvicorn server on loopback for concurrency."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from gateway.app import create_app

SAMPLES = Path(__file__).resolve().parents[3] / "samples" / "fhir"
CLIENT = {"X-Aiguillage-Client-FHIR": "dpi-st-exupery", "Content-Type": "application/fhir+json"}


@pytest.fixture
def sample() -> Any:
    def load(name: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8"))
        return data
    return load


@pytest.fixture
def client_headers() -> dict[str, str]:
    return dict(CLIENT)


@pytest.fixture
def live_url(api: Any) -> Iterator[str]:
    """The same app and container as ``api``, served by uvicorn on a free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(create_app(container=api.container), host="127.0.0.1", port=port, log_level="warning",
                            lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
