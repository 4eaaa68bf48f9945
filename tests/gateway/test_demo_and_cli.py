"""The demo data set as a user discovers it, and the ``aiguillage`` command line run for real (subprocesses):
``db upgrade`` → ``demo load`` → ``serve``, and ``sweep``."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.container import build_container
from gateway.demo import load
from gateway.settings import Settings
from orientation_core.clock import FrozenClock
from orientation_core.persistence.migrate import upgrade

SECTIONS = ["en_cours", "anticipees", "retour_domicile", "patients_sortis", "archivees", "annulees"]
CLI = Path(sys.executable).with_name("aiguillage")


# ====================================================================================================================
# The demo, through the API
# ====================================================================================================================


def test_demo_load_is_idempotent(api: Any, gw: dict[str, Any]) -> None:
    before = api.count_rows()
    assert (before["etablissement"], before["utilisateur"], before["patient"], before["dossier"]) == (6, 16, 11, 12)
    again = load(api.container, gw["DEMO_JSON"])
    assert again == "Données de démonstration déjà chargées."
    assert api.count_rows() == before


def _section(api: Any, login: str, section: str) -> list[dict[str, Any]]:
    page = api.ok(api.get(login, "/api/v1/tableau-de-bord/prescripteur", params={"section": section}))
    return list(page["items"])


@pytest.mark.parametrize("section", SECTIONS)
def test_demo_fills_every_dashboard_section_of_dr_martin(api: Any, gw: dict[str, Any], section: str) -> None:
    assert _section(api, gw["MARTIN"], section), f"section {section} is empty for Dr Martin"


def test_demo_fills_every_dashboard_section_for_the_prescripteurs_of_the_hospital(api: Any,
                                                                                   gw: dict[str, Any]) -> None:
    for section in SECTIONS:
        assert any(_section(api, gw[who], section) for who in ("MARTIN", "LAMBERT", "BERNARD")), section


def test_demo_shows_every_demande_status(api: Any, gw: dict[str, Any]) -> None:
    seen: set[str] = set()
    for who in ("MARTIN", "LAMBERT", "MOREAU"):
        for section in SECTIONS:
            seen |= {d["statut"] for row in _section(api, gw[who], section) for d in row["demandes"]}
    for receveur in ("PETIT", "HAD_RECEVEUR"):
        seen |= {r["statut"] for r in api.ok(api.get(gw[receveur], "/api/v1/tableau-de-bord/receveur"))["items"]}
    expected = {"en_attente_de_reponse", "demande_de_precision", "accord_de_principe", "acceptee", "refusee",
                "annulee", "archivee"}
    assert expected <= seen, expected - seen
    assert seen & {"confirmee", "admission_finalisee"}


def test_demo_timers_show_at_once(api: Any, gw: dict[str, Any]) -> None:
    """Dates are relative to the load: the automatic relance is raised and the manual relance is possible."""
    en_cours = {row["numero"]: row for row in _section(api, gw["MARTIN"], "en_cours")}
    assert en_cours["S00000009"]["relance_auto"] is True  # accord de principe 70 days ago, nothing since
    lefevre = en_cours["S00000001"]  # accord de principe 5 days ago: 72 h passed
    assert [d["relance_possible"] for d in lefevre["demandes"] if d["statut"] == "accord_de_principe"] == [True]
    assert [row["numero"] for row in _section(api, gw["MARTIN"], "archivees")] == ["S00000008"]
    relance = [n for n in api.ok(api.get(gw["MARTIN"], "/api/v1/notifications"))
               if n["titre"] == "Relance automatique"]
    assert [n["dossier_id"] for n in relance] == [en_cours["S00000009"]["dossier_id"]]


def test_demo_cancelled_dossier_is_reactivable_until_archived(api: Any, gw: dict[str, Any]) -> None:
    (perrin,) = _section(api, gw["MARTIN"], "annulees")  # cancelled 5 days ago
    dossier = api.ok(api.post(gw["MARTIN"], f"/api/v1/dossiers/{perrin['dossier_id']}/reactivation"))
    assert dossier["etat"] == "envoye"
    assert perrin["dossier_id"] in {row["dossier_id"] for row in _section(api, gw["MARTIN"], "en_cours")}
    (morel,) = _section(api, gw["MARTIN"], "archivees")
    api.problem(api.post(gw["MARTIN"], f"/api/v1/dossiers/{morel['dossier_id']}/reactivation"), 409,
                "dossier.etat")


def test_demo_delegations_of_the_medecin_liberal(api: Any, gw: dict[str, Any]) -> None:
    (vidal,) = _section(api, gw["MOREAU"], "en_cours")
    assert vidal["module"] == "grand_age"
    # the confrère and the assistant both see the délégant's dossier…
    for delegate in ("LEROY", "GARNIER"):
        assert [row["dossier_id"] for row in _section(api, gw[delegate], "en_cours")] == [vidal["dossier_id"]]
    # …but only the confrère, a doctor, writes its médical volet
    path = f"/api/v1/dossiers/{vidal['dossier_id']}/volets/medical"
    api.ok(api.patch(gw["LEROY"], path, json={"commentaire": "Vu en consultation"}))
    api.problem(api.patch(gw["GARNIER"], path, json={"commentaire": "x"}), 403, "droits.refuse")
    me = api.ok(api.get(gw["MOREAU"], "/api/v1/moi"))
    assert {d["type"] for d in me["delegations_donnees"]} == {"confrere", "assistant"}


# ====================================================================================================================
# The command line, as real processes
# ====================================================================================================================


def _env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIGUILLAGE_")}
    env |= {"AIGUILLAGE_DATABASE_URL": url, "AIGUILLAGE_LOG_JSON": "true", "AIGUILLAGE_PROFILE": "demo",
            "AIGUILLAGE_MLLP_PORT": "0"}  # serve also starts the MLLP listener: any free port, not 2575
    return env


def _cli(url: str, *args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(CLI), *args], env=_env(url), cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """An unrelated working directory: the commands must not depend on being run from the project."""
    path = tmp_path / "ailleurs"
    path.mkdir()
    return path


@pytest.fixture
def server(workdir: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, Path, str]]:
    url = f"sqlite:///{workdir / 'data' / 'aiguillage.db'}"
    assert "Base à jour (heads)." in _cli(url, "db", "upgrade", cwd=workdir).stdout
    first = _cli(url, "demo", "load", cwd=workdir).stdout
    assert first.startswith("Démo chargée : 6 établissements, 13 unités, 16 utilisateurs, 11 patients, 11 dossiers")
    assert "déjà chargées" in _cli(url, "demo", "load", cwd=workdir).stdout
    port = _free_port()
    log = workdir / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(CLI), "serve", "--http-port", str(port)], env=_env(url), cwd=workdir,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc, port, log, url
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_cli_upgrade_load_and_serve(server: tuple[subprocess.Popen[bytes], int, Path, str],
                                    gw: dict[str, Any]) -> None:
    proc, port, log, url = server
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    health: httpx.Response | None = None
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text(errors="replace")
        try:
            health = httpx.get(f"{base}/healthz", timeout=2)
            if health.status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    assert health is not None and health.status_code == 200, log.read_text(errors="replace")
    assert health.json() == {"status": "ok", "profil": "demo", "taches": "en-processus"}

    board = httpx.get(f"{base}/api/v1/tableau-de-bord/prescripteur", headers={gw["USER_HEADER"]: gw["MARTIN"]},
                      timeout=10)
    assert board.status_code == 200, board.text
    assert {row["numero"] for row in board.json()["items"]} >= {"S00000001", "S00000009"}
    assert httpx.get(f"{base}/api/v1/tableau-de-bord/prescripteur", timeout=10).status_code == 401
    assert "aiguillage_http_requests_total" in httpx.get(f"{base}/metrics", timeout=10).text

    # a write: the served process dispatches its notification itself (in-process queue, no broker)
    petit, lambert = {gw["USER_HEADER"]: gw["PETIT"]}, {gw["USER_HEADER"]: gw["LAMBERT"]}
    rows = httpx.get(f"{base}/api/v1/tableau-de-bord/receveur", headers=petit, params={"recherche": "S00000002"},
                     timeout=10).json()["items"]
    (demande_id,) = [r["demande_id"] for r in rows]
    asked = httpx.post(f"{base}/api/v1/demandes/{demande_id}/demander_precision", headers=petit,
                       json={"question": "Porteur d'une BMR ?"}, timeout=10)
    assert asked.status_code == 200, asked.text
    deadline = time.monotonic() + 4  # well before the 5 s first tick of the notification safety net
    titles: list[str] = []
    while time.monotonic() < deadline and "Demande : Demande de précision" not in titles:
        notes = httpx.get(f"{base}/api/v1/notifications", headers=lambert, timeout=10).json()
        titles = [n["titre"] for n in notes if n["demande_id"] == demande_id]
        time.sleep(0.1)
    assert "Demande : Demande de précision" in titles

    proc.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then re-raises the signal it caught: exit status 0 or "killed by SIGTERM"
    assert proc.wait(timeout=20) in (0, -signal.SIGTERM), log.read_text(errors="replace")
    # the lifespan closed the store: SQLite checkpointed and removed its write-ahead log
    assert not Path(url.removeprefix("sqlite:///") + "-wal").exists()
    output = log.read_text(errors="replace")
    assert f"prêt sur {base}" in output and "X-Aiguillage-Utilisateur: 810100000017" in output
    assert "Traceback" not in output, output


def test_cli_sweep_reports_what_it_did_then_nothing(workdir: Path) -> None:
    url = f"sqlite:///{workdir / 'aiguillage.db'}"
    upgrade(url)  # `db upgrade` as a command is run by the serve test
    # the demo as loaded 30 days ago (its own sweep ran then): timers fell due since
    month_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    container = build_container(Settings(database_url=url), clock=FrozenClock(month_ago), queue="sync")
    try:
        assert load(container, Path(Settings().samples_dir) / "demo" / "demo.json").startswith("Démo chargée")
    finally:
        container.engine.dispose()

    keys = {"relances_auto", "dossiers_annules", "demandes_annulees", "demandes_archivees", "dossiers_archives"}
    first = json.loads(_cli(url, "sweep", cwd=workdir).stdout)
    assert set(first) == keys
    # faure-dupont: relanced at the load, 30 days without answer → cancelled; perrin: cancelled 35 days ago →
    # archived with its demande
    assert first["dossiers_annules"] == 1 and first["dossiers_archives"] == 1
    assert first["demandes_archivees"] >= 1
    second = json.loads(_cli(url, "sweep", cwd=workdir).stdout)
    assert second == dict.fromkeys(keys, 0)


@pytest.mark.postgres
def test_cli_db_upgrade_on_postgresql(empty_db: Any, workdir: Path) -> None:
    db = empty_db("postgres")
    _cli(db.url, "db", "upgrade", cwd=workdir)
    assert _cli(db.url, "demo", "load", cwd=workdir).stdout.startswith("Démo chargée")
    assert json.loads(_cli(db.url, "sweep", cwd=workdir).stdout) == dict.fromkeys(
        ["relances_auto", "dossiers_annules", "demandes_annulees", "demandes_archivees", "dossiers_archives"], 0)
