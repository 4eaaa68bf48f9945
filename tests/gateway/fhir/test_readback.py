"""Read-back: a dossier as ServiceRequest, its demandes as Task, through a whole demande lifecycle driven by the
HTTP API (send, answers, refusal with motive, confirmation, admission), polled by patient identifier and
_lastUpdated, with the users' rights applied."""

from __future__ import annotations

from typing import Any

FHIR = "/fhir/r4"
IPP = "FHIR-0001"
IPP_SYSTEM = "urn:aiguillage:ipp:690001011"
SMR_FINESS = "690002027"  # Centre SMR Les Tilleuls (demo)


def _tasks(api: Any, login: str, **params: str) -> dict[str, Any]:
    response = api.client.get(f"{FHIR}/Task", params={"patient:identifier": f"{IPP_SYSTEM}|{IPP}", **params},
                              headers={"X-Aiguillage-Utilisateur": login})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body: dict[str, Any] = response.json()
    assert body["resourceType"] == "Bundle" and body["type"] == "searchset"
    return body


def _by_id(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["resource"]["id"]: e["resource"] for e in bundle["entry"]}


def test_task_read_back_through_a_demande_lifecycle(api: Any, gw: dict[str, Any], sent: dict[str, Any]) -> None:
    first, second = sent["demandes"][api.unite_id("2101")], sent["demandes"][api.unite_id("2102")]
    t1, t2 = f"demande-{first}", f"demande-{second}"

    tasks = _by_id(_tasks(api, gw["MARTIN"]))
    assert set(tasks) == {t1, t2}
    task = tasks[t1]
    assert task["status"] == "requested" and task["intent"] == "order"
    assert task["businessStatus"]["coding"][0]["code"] == "en_attente_de_reponse"
    assert task["owner"]["identifier"] == {"system": "urn:oid:1.2.250.1.71.4.2.2", "value": "1" + SMR_FINESS}
    assert task["basedOn"][0]["reference"] == f"ServiceRequest/dossier-{sent['dossier']['id']}"
    assert task["for"]["identifier"]["value"] == IPP and task["for"]["identifier"]["system"] == IPP_SYSTEM
    assert "input" not in task and "statusReason" not in task

    # the receiving unit answers: accord de principe (range), then acceptance (date); the other refuses
    before_answers = api.clock.now().isoformat()
    api.clock.advance(hours=2)
    api.ok(api.post(gw["DURAND"], f"/api/v1/demandes/{first}/accorder",
                    json={"date_debut": "2026-03-16", "date_fin": "2026-03-20"}))
    task = _by_id(_tasks(api, gw["MARTIN"]))[t1]
    assert task["status"] == "received" and task["businessStatus"]["coding"][0]["code"] == "accord_de_principe"
    assert [(i["type"]["coding"][0]["code"], i["valueDate"]) for i in task["input"]] == [
        ("date_debut", "2026-03-16"), ("date_fin", "2026-03-20")]
    api.ok(api.post(gw["DURAND"], f"/api/v1/demandes/{first}/accepter", json={"date_admission": "2026-03-17"}))
    api.ok(api.post(gw["DURAND"], f"/api/v1/demandes/{second}/refuser", json={"motif": "Pas de place avant avril"}))

    # polling: only what changed since the last poll
    changed = _by_id(_tasks(api, gw["MARTIN"], _lastUpdated=f"gt{before_answers}"))
    assert set(changed) == {t1, t2}
    assert changed[t1]["status"] == "accepted"
    assert ("date_admission", "2026-03-17") in [(i["type"]["coding"][0]["code"], i["valueDate"])
                                                for i in changed[t1]["input"]]
    assert changed[t2]["status"] == "rejected"
    assert changed[t2]["statusReason"] == {"text": "Pas de place avant avril"}
    after_answers = api.clock.now().isoformat()
    assert _tasks(api, gw["MARTIN"], _lastUpdated=f"gt{after_answers}")["total"] == 0

    # confirmation, then admission
    api.clock.advance(hours=1)
    api.ok(api.post(gw["MARTIN"], f"/api/v1/demandes/{first}/confirmer", json={}))
    task = api.ok(api.client.get(f"{FHIR}/Task/{t1}", headers={"X-Aiguillage-Utilisateur": gw["MARTIN"]}))
    assert task["status"] == "in-progress" and task["businessStatus"]["coding"][0]["code"] == "confirmee"
    api.clock.advance(days=14)
    api.ok(api.post(gw["DURAND"], f"/api/v1/demandes/{first}/finaliser_admission", json={}))
    polled = _by_id(_tasks(api, gw["MARTIN"], _lastUpdated=f"gt{after_answers}"))
    assert polled[t1]["status"] == "completed"
    assert polled[t1]["businessStatus"]["coding"][0]["code"] == "admission_finalisee"
    assert polled[t1]["meta"]["lastUpdated"] > after_answers

    # the dossier itself, as a ServiceRequest
    sr = api.ok(api.client.get(f"{FHIR}/ServiceRequest/dossier-{sent['dossier']['id']}",
                               headers={"X-Aiguillage-Utilisateur": gw["MARTIN"]}))
    assert sr["category"][0]["coding"][0]["code"] == "sanitaire"
    assert sr["identifier"][0]["value"] == sent["dossier"]["numero"]
    assert sr["status"] == "completed"  # admitted


def test_task_rights(api: Any, gw: dict[str, Any], sent: dict[str, Any]) -> None:
    first = sent["demandes"][api.unite_id("2101")]
    # the SMR receiver sees the demandes sent to his units; the HAD receiver sees none
    assert _tasks(api, gw["DURAND"])["total"] == 2
    assert _tasks(api, gw["HAD_RECEVEUR"])["total"] == 0
    hidden = api.client.get(f"{FHIR}/Task/demande-{first}", headers={"X-Aiguillage-Utilisateur": gw["HAD_RECEVEUR"]})
    assert hidden.status_code == 404 and hidden.json()["resourceType"] == "OperationOutcome"
    # a DPI client without a user may post, not read demandes back
    client_only = api.client.get(f"{FHIR}/Task/demande-{first}", headers={"X-Aiguillage-Client-FHIR": "dpi"})
    assert client_only.status_code == 403 and client_only.json()["issue"][0]["code"] == "forbidden"
    # search without a patient criterion is refused, with the parameter named
    bare = api.client.get(f"{FHIR}/Task", headers={"X-Aiguillage-Utilisateur": gw["MARTIN"]})
    assert bare.status_code == 400 and bare.json()["issue"][0]["expression"] == ["patient:identifier"]
    # by _id / identifier too
    by_id = api.client.get(f"{FHIR}/Task", params={"_id": f"demande-{first}"},
                           headers={"X-Aiguillage-Utilisateur": gw["MARTIN"]}).json()
    assert by_id["total"] == 1


def test_task_for_a_patient_posted_in_fhir(api: Any, gw: dict[str, Any], sent: dict[str, Any], sample: Any,
                                           client_headers: dict[str, str]) -> None:
    """A DPI polls with its own IPP system: the Patient it posted leads to the registry entry by IPP + FINESS."""
    patient = sample("patient-provisoire")
    patient["identifier"][0]["value"] = IPP  # same IPP and FINESS as the registry patient
    del patient["id"]
    assert api.client.post(f"{FHIR}/Patient", json=patient, headers=client_headers).status_code == 201
    found = _tasks(api, gw["MARTIN"], **{"patient:identifier": f"urn:oid:1.2.250.1.213.1.1.9.690001011|{IPP}"})
    assert found["total"] == 2
