"""Fixtures of the INS tests: a real INSi simulator on loopback and clients pointed at it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ins.client import InsiClient, InsiConfig
from ins.simulator import CONTROL, REQUESTS, InsiSimulator
from orientation_core.identite.model import TraitsIdentite


@pytest.fixture(scope="session")
def sim() -> Iterator[InsiSimulator]:
    with InsiSimulator() as simulator:
        yield simulator


@pytest.fixture
def insi(sim: InsiSimulator) -> Iterator[InsiSimulator]:
    """The simulator with no injected fault and an empty request log."""
    httpx.delete(sim.url.rsplit("/", 1)[0] + CONTROL)
    httpx.delete(sim.url.rsplit("/", 1)[0] + REQUESTS)
    yield sim
    httpx.delete(sim.url.rsplit("/", 1)[0] + CONTROL)


def control(sim: InsiSimulator, **injection: Any) -> None:
    httpx.post(sim.url.rsplit("/", 1)[0] + CONTROL, json=injection).raise_for_status()


def received(sim: InsiSimulator) -> list[dict[str, Any]]:
    return list(httpx.get(sim.url.rsplit("/", 1)[0] + REQUESTS).json())


@pytest.fixture
def client(insi: InsiSimulator) -> Iterator[InsiClient]:
    with InsiClient(InsiConfig(insi.url, read_timeout=1.0, connect_timeout=0.5, retry_backoff=0.01,
                               breaker_threshold=3, breaker_reset=0.3)) as c:
        yield c


def traits(nom: str, prenoms: tuple[str, ...], sexe: str, date: str, lieu: str = "") -> TraitsIdentite:
    return TraitsIdentite(nom, prenoms, sexe, dt.date.fromisoformat(date), lieu)


@pytest.fixture(scope="session")
def helpers() -> dict[str, Any]:
    """Helpers for the test modules (importlib mode: no imports between test files)."""
    return {"control": control, "received": received, "traits": traits}
