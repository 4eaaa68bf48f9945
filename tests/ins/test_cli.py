"""``aiguillage ins search|verify`` and ``aiguillage insi-sim`` as integration teams run them (subprocesses)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from ins.simulator import InsiSimulator

AIGUILLAGE = Path(sys.executable).with_name("aiguillage")
ENV = {**os.environ, "AIGUILLAGE_LOG_JSON": "false"}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(AIGUILLAGE), *args], capture_output=True, text=True, env=ENV, timeout=60)


def test_search_prints_cr_ins_history_traits(sim: InsiSimulator) -> None:
    out = run("ins", "search", "--birth-name", "Ecetinsi", "--first-name", "Pierre-Alain", "--sex", "M",
              "--birth-date", "2009-07-14", "--url", sim.url)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["code_cr"] == "00"
    assert data["ins"] == {"matricule": "1090763220834", "cle": "89", "valeur": "109076322083489",
                           "oid": "1.2.250.1.213.1.4.8", "type": "ins_nir", "cle_valide": True}
    assert len(data["historique"]) == 2 and data["traits"]["prenoms"] == ["PIERRE-ALAIN", "LOUIS"]


def test_search_with_first_names_and_birthplace(sim: InsiSimulator) -> None:
    out = run("ins", "search", "--birth-name", "MARTIN", "--first-name", "JEAN", "--sex", "M", "--birth-date",
              "1948-05-01", "--birthplace", "75056", "--url", sim.url)
    data = json.loads(out.stdout)
    assert data["code_cr"] == "00" and data["ins"]["matricule"] == "1480575056205" and data["appels_insi"] == 2
    out = run("ins", "search", "--birth-name", "HOUILLES", "--first-name", "PIERRE", "--sex", "M", "--birth-date",
              "1993-01-27", "--url", sim.url)
    assert json.loads(out.stdout)["code_cr"] == "01"


def test_verify(sim: InsiSimulator) -> None:
    common = ["--birth-name", "ADRUN", "--first-name", "ZOE", "--sex", "F", "--birth-date", "1975-12-31",
              "--url", sim.url]
    ok = json.loads(run("ins", "verify", *common, "--ins", "2 75 12 63 220 749 74").stdout)
    assert ok["conforme"] is True
    wrong_key = run("ins", "verify", *common, "--ins", "275126322074975")
    assert wrong_key.returncode == 2 and "clé" in wrong_key.stderr  # typed locally: rejected


def test_unreachable_endpoint_is_a_json_error() -> None:
    with InsiSimulator() as gone:
        url = gone.url
    out = run("ins", "search", "--birth-name", "ADRUN", "--first-name", "ZOE", "--sex", "F", "--birth-date",
              "1975-12-31", "--url", url)
    assert out.returncode == 1
    assert json.loads(out.stdout)["erreur"] == "insi.transport"


def test_insi_sim_command_serves_on_loopback() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([str(AIGUILLAGE), "insi-sim", "--port", str(port)], stdout=subprocess.DEVNULL, env=ENV,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).json()
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.1)
        assert health["simulateur"] == "INSi" and health["personae"] >= 15
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
