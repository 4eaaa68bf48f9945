"""One patient registry: what a DPI posts in FHIR reaches the registry through the inbox row, the canonical
mapping and the same ingest pipeline as HL7 v2, and the demandes of that patient are then read back as Tasks by the
identifiers the DPI knows — the INS, since this identity is qualified."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from orientation_core.patients.model import StatutIdentite, TypeIdentifiantPatient

FHIR = "/fhir/r4"


def test_posted_patient_reaches_the_registry_and_its_demandes_come_back_as_tasks(
        api: Any, gw: dict[str, Any], sample: Any, client_headers: dict[str, str]) -> None:
    assert api.client.post(FHIR, content=json.dumps(sample("bundle-transaction-sanitaire")),
                           headers=client_headers).status_code == 200
    api.container.run_task("ingest.process")  # the intake pipeline (also enqueued after the commit)
    with api.container.engine.connect() as conn:
        status, outcome = conn.execute(sa.text(
            "SELECT status, outcome FROM inbox_message WHERE source = 'fhir'")).one()
    assert status == "processed", outcome
    with api.container.uow() as uow:
        registered = uow.patients.by_identifier(TypeIdentifiantPatient.IPP, "200451", "690001011")
        assert registered is not None and registered.id is not None
        patient_id = registered.id
    with api.container.uow() as uow:
        patient = uow.patients.get(patient_id)
        assert patient.statut_identite is StatutIdentite.QUALIFIEE
        assert {i.type for i in uow.patients.identifiers(patient_id)} >= {TypeIdentifiantPatient.IPP,
                                                                          TypeIdentifiantPatient.INS_NIR}
    dossier = api.ok(api.post(gw["MARTIN"], "/api/v1/dossiers", json={
        "module": "sanitaire", "patient_id": patient_id, "unite_id": api.unite_id("1101")}), 201)
    api.ok(api.post(gw["MARTIN"], f"/api/v1/dossiers/{dossier['id']}/demandes",
                    json={"unite_ids": [api.unite_id("2101")], "envoyer": False}), 201)
    by_ins = api.client.get(f"{FHIR}/Task", params={"patient:identifier": "urn:oid:1.2.250.1.213.1.4.8|275126322074974"},
                            headers={"X-Aiguillage-Utilisateur": gw["MARTIN"]}).json()
    assert by_ins["total"] == 1
    task = by_ins["entry"][0]["resource"]
    assert task["status"] == "draft"
    assert task["for"]["identifier"] == {"use": "official", "system": "urn:oid:1.2.250.1.213.1.4.8",
                                         "value": "275126322074974"}
    # the DPI's own IPP system finds the same patient through the Patient it posted
    by_ipp = api.client.get(f"{FHIR}/Task", params={"patient:identifier": "urn:oid:1.2.250.1.213.1.1.9.690001011|200451"},
                            headers={"X-Aiguillage-Utilisateur": gw["MARTIN"]}).json()
    assert by_ipp["total"] == 1
    sr = api.ok(api.client.get(f"{FHIR}/ServiceRequest/dossier-{dossier['id']}",
                               headers={"X-Aiguillage-Utilisateur": gw["MARTIN"]}))
    assert sr["status"] == "draft" and sr["subject"]["identifier"]["value"] == "275126322074974"
    # and by the Patient resource itself (patient=Patient/<id>)
    posted_id = api.client.get(f"{FHIR}/Patient", params={"identifier": "urn:oid:1.2.250.1.213.1.4.8|275126322074974"},
                               headers=client_headers).json()["entry"][0]["resource"]["id"]
    by_ref = api.client.get(f"{FHIR}/Task", params={"patient": f"Patient/{posted_id}"},
                            headers={"X-Aiguillage-Utilisateur": gw["MARTIN"]}).json()
    assert by_ref["total"] == 1
    unknown = api.client.get(f"{FHIR}/Task", params={"patient": "Patient/inconnu"},
                             headers={"X-Aiguillage-Utilisateur": gw["MARTIN"]})
    assert unknown.status_code == 200 and unknown.json()["total"] == 0
