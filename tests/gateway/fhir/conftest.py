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


# A patient with demandes, for the read-back and subscription tests

IPP = "FHIR-0001"
IPP_SYSTEM = "urn:aiguillage:ipp:690001011"
SMR_FINESS = "690002027"  # Centre SMR Les Tilleuls (demo)

ORIENTATION = {"objectif_prise_en_charge": "Rééducation après fracture du col", "type_orientation": "SMR",
               "accord_patient": True, "criteres": ["reeducation"]}
MEDICAL = {"pathologie_actuelle": "Fracture du col du fémur opérée", "antecedents": "HTA",
           "poids_kg": 61, "taille_cm": 164, "traitements": "Énoxaparine", "allergies": "Amoxicilline"}
SOINS = {"soins_infirmiers": "Pansement", "dependance": "Aide à la marche", "projet": "Retour à domicile"}
ADMIN_SOCIAL = {"service_demandeur": "Médecine interne", "date_hospitalisation": "2026-02-24",
                "type_logement": "Appartement avec ascenseur"}


@pytest.fixture
def sent(api: Any, gw: dict[str, Any]) -> dict[str, Any]:
    """A patient known by an IPP, a complete Sanitaire dossier by Dr Martin, sent to SMR units 2101 and 2102."""
    patient = api.ok(api.post(gw["MARTIN"], "/api/v1/patients", json={
        "nom_naissance": "Adrun", "prenoms": ["Zoé"], "date_naissance": "1975-12-31", "sexe": "F",
        "adresse": "14 rue des Tanneurs", "code_postal": "69007", "ville": "Lyon",
        "identifiants": [{"type": "ipp", "valeur": IPP, "autorite": "690001011"}]}), 201)
    dossier = api.ok(api.post(gw["MARTIN"], "/api/v1/dossiers", json={
        "module": "sanitaire", "patient_id": patient["id"], "unite_id": api.unite_id("1101")}), 201)
    base = f"/api/v1/dossiers/{dossier['id']}/volets"
    api.ok(api.patch(gw["MARTIN"], f"{base}/orientation", json=ORIENTATION))
    api.ok(api.patch(gw["MARTIN"], f"{base}/medical", json=MEDICAL))
    api.ok(api.patch(gw["BERNARD"], f"{base}/soins_projet", json=SOINS))
    api.ok(api.patch(gw["BERNARD"], f"{base}/administratif_social", json=ADMIN_SOCIAL))
    api.ok(api.patch(gw["MARTIN"], f"{base}/pieces_jointes", json={"verifiees": True}))
    demandes = api.ok(api.post(gw["MARTIN"], f"/api/v1/dossiers/{dossier['id']}/demandes", json={
        "unite_ids": [api.unite_id("2101"), api.unite_id("2102")], "envoyer": True}), 201)
    return {"patient": patient, "dossier": dossier, "demandes": {d["unite_id"]: d["id"] for d in demandes}}
