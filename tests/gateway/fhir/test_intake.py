"""FHIR intake over the demo database: Bundles with urn:uuid references, CRUD, conditional create and update,
versions, search, $validate, the inbox row, and conditional-create idempotency under concurrent requests."""

from __future__ import annotations

import concurrent.futures
import copy
import json
import threading
from typing import Any

import httpx
import sqlalchemy as sa

from mappings.fhir import to_canonical

FHIR = "/fhir/r4"
INS_ZOE = "urn:oid:1.2.250.1.213.1.4.8|275126322074974"


def _post(api: Any, path: str, body: Any, headers: dict[str, str], **extra: str) -> httpx.Response:
    return api.client.post(FHIR + path, content=json.dumps(body), headers={**headers, **extra})


def _fhir_rows(api: Any, resource_type: str) -> int:
    with api.container.engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM fhir_resource WHERE resource_type = :t AND current"
                                    if api.store == "postgres" else
                                    "SELECT count(*) FROM fhir_resource WHERE resource_type = :t AND current = 1"),
                            {"t": resource_type}).scalar_one()


def _inbox(api: Any) -> list[dict[str, Any]]:
    with api.container.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT sender_app, control_id, trigger_event, patient_key, raw FROM inbox_message "
                                    "WHERE source = 'fhir' ORDER BY id")).all()
    return [{"sender": r[0], "control_id": r[1], "trigger": r[2], "patient_key": r[3], "raw": json.loads(bytes(r[4]))}
            for r in rows]


def test_capability_statement_tells_the_truth(api: Any) -> None:
    response = api.client.get(f"{FHIR}/metadata")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    cs = response.json()
    assert cs["resourceType"] == "CapabilityStatement" and cs["fhirVersion"] == "4.0.1"
    assert cs["implementationGuide"][0].endswith("|2.1.0")
    assert "R4B" in cs["description"] and "QUAL" in cs["description"] and "VALI" in cs["description"]
    resources = {r["type"]: r for r in cs["rest"][0]["resource"]}
    patient = resources["Patient"]
    assert {i["code"] for i in patient["interaction"]} == {"read", "vread", "history-instance", "create", "update",
                                                           "search-type"}
    assert {p["name"] for p in patient["searchParam"]} >= {"identifier", "family", "given", "birthdate", "gender",
                                                           "_lastUpdated"}
    assert "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-ins" in patient["supportedProfile"]
    assert {i["code"] for i in resources["Observation"]["interaction"]} == {"read", "vread", "history-instance"}
    assert {p["name"] for p in resources["Task"]["searchParam"]} >= {"patient:identifier", "_lastUpdated"}
    assert {i["code"] for i in cs["rest"][0]["interaction"]} == {"transaction", "batch"}
    # every advertised profile is served
    for url in patient["supportedProfile"] + resources["ServiceRequest"]["supportedProfile"]:
        sd = api.client.get(f"{FHIR}/StructureDefinition/{url.rsplit('/', 1)[-1]}")
        assert sd.status_code == 200 and sd.json()["url"] == url


def test_transaction_bundle_resolves_urn_uuid_and_lands_in_the_inbox(api: Any, sample: Any,
                                                                     client_headers: dict[str, str]) -> None:
    bundle = sample("bundle-transaction-sanitaire")
    response = _post(api, "", bundle, client_headers)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["type"] == "transaction-response"
    assert [e["response"]["status"] for e in result["entry"]] == ["201 Created"] * 12
    locations = [e["response"]["location"] for e in result["entry"]]
    patient_ref = locations[0].split("/_history")[0]
    practitioner_ref = locations[1].split("/_history")[0]
    role_ref = locations[2].split("/_history")[0]
    service_request = api.client.get(f"{FHIR}/{locations[11].split('/_history')[0]}", headers=client_headers).json()
    assert service_request["subject"] == {"reference": patient_ref}
    assert service_request["requester"] == {"reference": role_ref}
    assert service_request["meta"]["versionId"] == "1"
    role = api.client.get(f"{FHIR}/{role_ref}", headers=client_headers).json()
    assert role["practitioner"] == {"reference": practitioner_ref}
    assert json.dumps(service_request).count("urn:uuid:") == 0
    # one inbox row for the Bundle, references resolved, ordered by the patient's IPP
    rows = _inbox(api)
    assert len(rows) == 1
    row = rows[0]
    assert row["sender"] == "dpi-st-exupery" and row["trigger"] == "Bundle"
    assert row["patient_key"] == "200451^690001011"
    canonical = to_canonical(row["raw"])
    assert canonical.patient is not None and canonical.patient.nom_naissance == "ADRUN"
    assert canonical.admission_request is not None and canonical.admission_request.requester is not None
    assert canonical.admission_request.requester.rpps == "10100000017"  # resolved through stored ids
    assert canonical.clinical is not None and canonical.clinical.poids_kg == 61.5

    # the same Bundle again: the conditional creates match, nothing duplicated
    again = _post(api, "", bundle, client_headers).json()
    statuses = [e["response"]["status"] for e in again["entry"]]
    assert statuses[:2] == ["200 OK", "200 OK"] and statuses[2:] == ["201 Created"] * 10
    assert again["entry"][0]["response"]["location"] == locations[0]
    assert _fhir_rows(api, "Patient") == 1 and _fhir_rows(api, "Practitioner") == 1
    second_sr = api.client.get(f"{FHIR}/{again['entry'][11]['response']['location'].split('/_history')[0]}",
                               headers=client_headers).json()
    assert second_sr["subject"] == {"reference": patient_ref}


def test_transaction_lookups_and_index_rows(api: Any, sample: Any, client_headers: dict[str, str]) -> None:
    """A Bundle's conditional entries are looked up together and its new resources written in one go: what a
    client sees is unchanged — a condition naming two resources is 412 at its entry, the identifiers and search
    values of the new resources answer searches, a Patient identifier already taken is refused (409)."""
    bundle = sample("bundle-transaction-sanitaire")
    for _ in range(2):  # two stays with the same NDA (Encounter identifiers need not be unique), two demandes
        assert _post(api, "", bundle, client_headers).status_code == 200
    patient_id = api.client.get(f"{FHIR}/Patient", params={"identifier": INS_ZOE},
                                headers=client_headers).json()["entry"][0]["resource"]["id"]
    by_patient = api.client.get(f"{FHIR}/ServiceRequest", params={"patient": patient_id}, headers=client_headers)
    assert by_patient.json()["total"] == 2
    number = bundle["entry"][11]["resource"]["identifier"][0]
    by_number = api.client.get(f"{FHIR}/ServiceRequest", params={"identifier": f"{number['system']}|{number['value']}"},
                               headers=client_headers)
    assert by_number.json()["total"] == 2

    nda = bundle["entry"][3]["resource"]["identifier"][0]
    ambiguous = copy.deepcopy(bundle)
    ambiguous["entry"][3]["request"]["ifNoneExist"] = f"identifier={nda['system']}|{nda['value']}"
    refused = _post(api, "", ambiguous, client_headers)
    assert refused.status_code == 412
    assert refused.json()["issue"][0]["expression"] == ["Bundle.entry[3].request"]

    taken = copy.deepcopy(bundle)
    del taken["entry"][0]["request"]["ifNoneExist"]  # a second Patient with Zoé's INS and IPP
    conflict = _post(api, "", taken, client_headers)
    assert conflict.status_code == 409
    assert _fhir_rows(api, "Patient") == 1 and _fhir_rows(api, "ServiceRequest") == 2 and len(_inbox(api)) == 2


def test_transaction_is_all_or_nothing(api: Any, sample: Any, client_headers: dict[str, str]) -> None:
    bundle = sample("bundle-transaction-sanitaire")
    bundle["entry"][11]["resource"]["category"][0]["coding"][0]["code"] = "grand_age"  # SMR is not Grand Âge
    response = _post(api, "", bundle, client_headers)
    assert response.status_code == 422
    issues = response.json()["issue"]
    assert issues[0]["expression"] == ["Bundle.entry[11].resource.code.coding[0].code"]
    assert _fhir_rows(api, "Patient") == 0 and _inbox(api) == []


def test_transaction_with_an_unqualified_ins_is_refused_with_its_location(api: Any, sample: Any,
                                                                          client_headers: dict[str, str]) -> None:
    bundle = sample("bundle-transaction-sanitaire")
    bundle["entry"][0]["resource"]["extension"][0]["extension"][0]["valueCoding"]["code"] = "PROV"
    response = _post(api, "", bundle, client_headers)
    assert response.status_code == 422
    where = {(i["expression"][0], i["severity"]) for i in response.json()["issue"]}
    assert ("Bundle.entry[0].resource.identifier[1]", "error") in where  # aig-ins-1 on the Patient
    assert ("Bundle.entry[11].resource.subject", "error") in where  # aig-sr-3 through the reference


def test_batch_entries_stand_alone(api: Any, sample: Any, client_headers: dict[str, str]) -> None:
    bundle = sample("bundle-batch-grand-age")
    bad = copy.deepcopy(bundle["entry"][2])
    bad["resource"]["period"] = {"start": "au printemps"}
    bundle["entry"].append(bad)
    response = _post(api, "", bundle, client_headers)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in result["entry"]]
    assert statuses[:5] == ["201 Created"] * 5
    assert statuses[5] == "400 Bad Request"
    assert result["entry"][5]["response"]["outcome"]["issue"][0]["expression"] == ["Bundle.entry[5].resource.period.start"]
    # conditional update by INS: the second post updates the same Patient (version 2)
    again = _post(api, "", sample("bundle-batch-grand-age"), client_headers).json()
    assert again["entry"][0]["response"]["status"] == "200 OK"
    assert again["entry"][0]["response"]["location"].endswith("/_history/2")
    assert again["entry"][3]["response"]["status"] == "200 OK"  # Practitioner If-None-Exist matched
    rows = _inbox(api)
    assert len(rows) == 2 and len(rows[0]["raw"]["entry"]) == 5


def test_patient_lifecycle_versions_and_search(api: Any, sample: Any, client_headers: dict[str, str]) -> None:
    patient = sample("patient-provisoire")
    del patient["id"]
    created = _post(api, "/Patient", patient, client_headers)
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    assert created.headers["location"] == f"{FHIR}/Patient/{pid}/_history/1"
    assert created.headers["etag"] == 'W/"1"'
    # If-None-Exist: the same identifier gives back the same patient, 200, no new version
    ipp = "urn:oid:1.2.250.1.213.1.1.9.690001011|200452"
    again = _post(api, "/Patient", patient, client_headers, **{"If-None-Exist": f"identifier={ipp}"})
    assert again.status_code == 200 and again.json()["id"] == pid
    # update with If-Match, then a stale If-Match
    changed = {**created.json(), "telecom": [{"system": "phone", "value": "0600000000"}]}
    updated = api.client.put(f"{FHIR}/Patient/{pid}", content=json.dumps(changed),
                             headers={**client_headers, "If-Match": 'W/"1"'})
    assert updated.status_code == 200 and updated.json()["meta"]["versionId"] == "2"
    stale = api.client.put(f"{FHIR}/Patient/{pid}", content=json.dumps(changed),
                           headers={**client_headers, "If-Match": 'W/"1"'})
    assert stale.status_code == 412
    assert stale.json()["issue"][0]["expression"] == ["If-Match"]
    # read, vread, history
    assert api.client.get(f"{FHIR}/Patient/{pid}", headers=client_headers).json()["telecom"][0]["value"] == "0600000000"
    v1 = api.client.get(f"{FHIR}/Patient/{pid}/_history/1", headers=client_headers).json()
    assert v1["meta"]["versionId"] == "1" and v1["telecom"][0]["system"] == "email"
    history = api.client.get(f"{FHIR}/Patient/{pid}/_history", headers=client_headers).json()
    assert history["type"] == "history" and [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]
    # conditional update on the identifier → version 3 of the same patient
    cond = api.client.put(f"{FHIR}/Patient", params={"identifier": ipp}, content=json.dumps(patient),
                          headers=client_headers)
    assert cond.status_code == 200 and cond.json()["id"] == pid and cond.json()["meta"]["versionId"] == "3"
    # search: identifier, accent- and case-insensitive prefix on names, dates with prefixes, gender
    for params, total in [({"identifier": ipp}, 1), ({"identifier": "200452"}, 1), ({"family": "houil"}, 1),
                          ({"given": "Pierre"}, 1), ({"family": "HOUILLÈS"}, 1), ({"birthdate": "1993-01-27"}, 1),
                          ({"birthdate": "gt1993-01-27"}, 0), ({"birthdate": "le1993-12-31", "gender": "male"}, 1),
                          ({"gender": "female"}, 0), ({"family": "dupont"}, 0),
                          ({"_lastUpdated": "ge2026-03-02"}, 1), ({"_lastUpdated": "lt2026-03-02"}, 0)]:
        found = api.client.get(f"{FHIR}/Patient", params=params, headers=client_headers)
        assert found.status_code == 200, (params, found.text)
        assert found.json()["total"] == total, params
    bundle = api.client.get(f"{FHIR}/Patient", params={"family": "houilles"}, headers=client_headers).json()
    assert bundle["type"] == "searchset" and bundle["entry"][0]["resource"]["meta"]["versionId"] == "3"


def test_validate_on_every_supported_type(api: Any, sample: Any, client_headers: dict[str, str]) -> None:
    bundle = sample("bundle-transaction-sanitaire")
    for entry in bundle["entry"]:
        resource = entry["resource"]
        response = _post(api, f"/{resource['resourceType']}/$validate", resource, client_headers)
        assert response.status_code == 200, (resource["resourceType"], response.text)
        issues = response.json()["issue"]
        assert all(i["severity"] not in ("error", "fatal") for i in issues), (resource["resourceType"], issues)
    warned = _post(api, "/Patient/$validate", sample("patient-ins-cle-invalide"), client_headers).json()
    assert [(i["severity"], i["expression"]) for i in warned["issue"]] == [("warning", ["Patient.identifier[1].value"])]
    parameters = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": {
        "resourceType": "Observation", "status": "final", "code": {"text": "poids"}, "valueQuantity": {"value": "x"}}}]}
    invalid = _post(api, "/Observation/$validate", parameters, client_headers).json()
    assert invalid["issue"][0]["expression"] == ["Observation.valueQuantity.value"]
    assert _fhir_rows(api, "Patient") == 0  # nothing stored


def test_invalid_ins_key_is_accepted_with_a_warning(api: Any, sample: Any, client_headers: dict[str, str]) -> None:
    response = _post(api, "/Patient", sample("patient-ins-cle-invalide"), client_headers,
                     Prefer="return=OperationOutcome")
    assert response.status_code == 201
    assert response.json()["issue"][0]["severity"] == "warning"
    raw = _inbox(api)[0]["raw"]
    assert to_canonical(raw).patient.ins_key_valid is False  # type: ignore[union-attr]


def test_format_parameter(api: Any, client_headers: dict[str, str]) -> None:
    plain = api.client.get(f"{FHIR}/metadata", params={"_format": "application/json"})
    assert plain.headers["content-type"].startswith("application/json")
    fhir = api.client.get(f"{FHIR}/metadata", params={"_format": "json"})
    assert fhir.headers["content-type"].startswith("application/fhir+json")


def test_conditional_create_is_idempotent_under_concurrent_requests(api: Any, live_url: str, sample: Any,
                                                                    client_headers: dict[str, str]) -> None:
    """Eight clients post the same patient with If-None-Exist at once: one creates it, the others get it back."""
    patient = sample("bundle-transaction-sanitaire")["entry"][0]["resource"]
    body = json.dumps(patient)
    headers = {**client_headers, "If-None-Exist": f"identifier={INS_ZOE}"}
    barrier = threading.Barrier(8)

    def post(_: int) -> tuple[int, str]:
        with httpx.Client(base_url=live_url, timeout=60) as http:
            barrier.wait()
            response = http.post(f"{FHIR}/Patient", content=body, headers=headers)
            return response.status_code, response.json()["id"]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(post, range(8)))
    assert sorted(s for s, _ in results) == [200] * 7 + [201]
    assert len({i for _, i in results}) == 1
    assert _fhir_rows(api, "Patient") == 1
    assert len(_inbox(api)) == 1  # only the creation went to the pipeline

    # the same race with transaction Bundles (conditional create inside): one Patient, one Practitioner
    bundle = json.dumps(sample("bundle-transaction-sanitaire"))
    barrier = threading.Barrier(8)

    def post_bundle(_: int) -> int:
        with httpx.Client(base_url=live_url, timeout=60) as http:
            barrier.wait()
            return http.post(FHIR, content=bundle, headers=client_headers).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert list(pool.map(post_bundle, range(8))) == [200] * 8
    assert _fhir_rows(api, "Patient") == 1 and _fhir_rows(api, "Practitioner") == 1
    assert _fhir_rows(api, "ServiceRequest") == 8
