"""Every error path answers an OperationOutcome with the right status, FHIR JSON content type, a French
diagnostic and, where there is one, the FHIRPath location of the fault."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest

FHIR = "/fhir/r4"
CLIENT = {"X-Aiguillage-Client-FHIR": "dpi-st-exupery", "Content-Type": "application/fhir+json"}


def _outcome(response: httpx.Response, status: int, code: str, expression: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/fhir+json"), response.headers["content-type"]
    body: dict[str, Any] = response.json()
    assert body["resourceType"] == "OperationOutcome"
    issue = body["issue"][0]
    assert issue["severity"] in ("error", "fatal") and issue["code"] == code, issue
    assert issue["diagnostics"].strip()
    if expression is not None:
        assert issue.get("expression") == [expression], issue
    return body


def _zoe(sample: Any) -> dict[str, Any]:
    return copy.deepcopy(sample("bundle-transaction-sanitaire")["entry"][0]["resource"])


def test_400_unreadable_requests(api: Any, sample: Any) -> None:
    post = api.client.post
    _outcome(post(f"{FHIR}/Patient", content=b"{pas du json", headers=CLIENT), 400, "structure")
    _outcome(post(f"{FHIR}/Patient", content=b"", headers=CLIENT), 400, "structure")
    _outcome(post(f"{FHIR}/Patient", content=json.dumps({"resourceType": "Practitioner"}), headers=CLIENT),
             400, "invalid", "resourceType")
    broken = _zoe(sample)
    broken["birthDate"] = "31/12/1975"
    _outcome(post(f"{FHIR}/Patient", content=json.dumps(broken), headers=CLIENT), 400, "structure",
             "Patient.birthDate")
    _outcome(post(FHIR, content=json.dumps({"resourceType": "Bundle", "type": "collection"}), headers=CLIENT),
             400, "not-supported", "Bundle.type")
    no_request = sample("bundle-transaction-sanitaire")
    del no_request["entry"][3]["request"]
    _outcome(post(FHIR, content=json.dumps(no_request), headers=CLIENT), 400, "required", "Bundle.entry[3].request")
    _outcome(post(f"{FHIR}/Patient", content=json.dumps(_zoe(sample)),
                  headers={**CLIENT, "If-None-Exist": "family=ADRUN"}), 400, "not-supported", "If-None-Exist")
    get = api.client.get
    _outcome(get(f"{FHIR}/Patient", params={"_count": "beaucoup"}, headers=CLIENT), 400, "value", "_count")
    _outcome(get(f"{FHIR}/Patient", params={"telecom": "0600"}, headers=CLIENT), 400, "not-supported", "telecom")
    _outcome(get(f"{FHIR}/Patient", params={"birthdate": "hier"}, headers=CLIENT), 400, "value", "birthdate")
    _outcome(api.client.put(f"{FHIR}/Patient/abc", content=json.dumps({**_zoe(sample), "id": "xyz"}),
                            headers=CLIENT), 400, "invalid", "Patient.id")
    _outcome(api.client.put(f"{FHIR}/Patient/abc", content=json.dumps({**_zoe(sample), "id": "abc"}),
                            headers={**CLIENT, "If-Match": "hier"}), 400, "value", "If-Match")
    _outcome(api.client.put(f"{FHIR}/Patient/dossier-1", content=json.dumps({**_zoe(sample), "id": "dossier-1"}),
                            headers=CLIENT), 400, "value", "Patient.id")


def test_401_without_identity_and_outside_the_demo_profile(api: Any, make_api: Any, sample: Any) -> None:
    response = api.client.post(f"{FHIR}/Patient", content=json.dumps(_zoe(sample)),
                               headers={"Content-Type": "application/fhir+json"})
    _outcome(response, 401, "login")
    assert response.headers["www-authenticate"] == "Bearer"
    production = make_api(profile="production", secret_key="une-vraie-clef-secrete-de-test")
    _outcome(production.client.post(f"{FHIR}/Patient", content=json.dumps(_zoe(sample)), headers=CLIENT),
             401, "login")


def test_404_unknown_things(api: Any, gw: dict[str, Any]) -> None:
    get = api.client.get
    _outcome(get(f"{FHIR}/Licorne/1", headers=CLIENT), 404, "not-supported")
    _outcome(get(f"{FHIR}/Patient/inconnu", headers=CLIENT), 404, "not-found")
    _outcome(get(f"{FHIR}/Patient/inconnu/_history/1", headers=CLIENT), 404, "not-found")
    _outcome(get(f"{FHIR}/Patient/inconnu/_history", headers=CLIENT), 404, "not-found")
    _outcome(get(f"{FHIR}/Patient/a/b/c/d", headers=CLIENT), 404, "not-supported")
    _outcome(get(f"{FHIR}/StructureDefinition/inconnue", headers=CLIENT), 404, "not-found")
    user = {"X-Aiguillage-Utilisateur": gw["MARTIN"]}
    _outcome(get(f"{FHIR}/Task/demande-999999", headers=user), 404, "not-found")
    _outcome(get(f"{FHIR}/Task/autre-chose", headers=user), 404, "not-found")
    _outcome(get(f"{FHIR}/ServiceRequest/dossier-999999", headers=user), 404, "not-found")


def test_405_interactions_not_offered(api: Any, sample: Any) -> None:
    observation = sample("bundle-transaction-sanitaire")["entry"][5]["resource"]
    _outcome(api.client.post(f"{FHIR}/Observation", content=json.dumps(observation), headers=CLIENT),
             405, "not-supported")
    _outcome(api.client.get(f"{FHIR}/Observation", headers=CLIENT), 405, "not-supported")


def test_406_xml_is_not_offered(api: Any) -> None:
    _outcome(api.client.get(f"{FHIR}/metadata", params={"_format": "xml"}), 406, "not-supported", "_format")
    _outcome(api.client.get(f"{FHIR}/metadata", headers={"Accept": "application/fhir+xml"}), 406, "not-supported")


def test_409_identifier_already_held_by_another_patient(api: Any, sample: Any) -> None:
    first = api.client.post(f"{FHIR}/Patient", content=json.dumps(_zoe(sample)), headers=CLIENT)
    assert first.status_code == 201
    _outcome(api.client.post(f"{FHIR}/Patient", content=json.dumps(_zoe(sample)), headers=CLIENT), 409, "conflict")


def test_412_preconditions(api: Any, sample: Any) -> None:
    created = api.client.post(f"{FHIR}/Patient", content=json.dumps(_zoe(sample)), headers=CLIENT).json()
    stale = {**created, "gender": "female"}
    _outcome(api.client.put(f"{FHIR}/Patient/{created['id']}", content=json.dumps(stale),
                            headers={**CLIENT, "If-Match": 'W/"7"'}), 412, "conflict", "If-Match")
    # the same IPP value under two systems: a condition without system matches both
    other = sample("patient-provisoire")
    del other["id"]
    other["identifier"][0]["system"] = "urn:oid:1.2.250.1.213.1.1.9.690001012"
    other["identifier"][0]["value"] = "200451"
    assert api.client.post(f"{FHIR}/Patient", content=json.dumps(other), headers=CLIENT).status_code == 201
    _outcome(api.client.post(f"{FHIR}/Patient", content=json.dumps(other),
                             headers={**CLIENT, "If-None-Exist": "identifier=200451"}), 412, "multiple-matches",
             "If-None-Exist")


@pytest.mark.parametrize("content_type", ["application/fhir+xml", "text/plain", "application/x-www-form-urlencoded"])
def test_415_unsupported_content_type(api: Any, sample: Any, content_type: str) -> None:
    _outcome(api.client.post(f"{FHIR}/Patient", content=json.dumps(_zoe(sample)),
                             headers={**CLIENT, "Content-Type": content_type}), 415, "not-supported")


def test_422_profile_violations_with_their_location(api: Any, sample: Any) -> None:
    unqualified = _zoe(sample)
    unqualified["extension"][0]["extension"][0]["valueCoding"]["code"] = "PROV"
    body = _outcome(api.client.post(f"{FHIR}/Patient", content=json.dumps(unqualified), headers=CLIENT),
                    422, "invariant", "Patient.identifier[1]")
    assert "qualifiée" in body["issue"][0]["diagnostics"]
    assert body["issue"][0]["details"]["coding"][0]["code"] == "aig-ins-1"
    request = sample("bundle-transaction-sanitaire")["entry"][11]["resource"]
    request["subject"] = {"reference": "Patient/inconnu"}
    del request["category"]
    _outcome(api.client.post(f"{FHIR}/ServiceRequest", content=json.dumps(request), headers=CLIENT),
             422, "required", "ServiceRequest.category")
    bundle = sample("bundle-transaction-sanitaire")
    bundle["entry"].append({"resource": {"resourceType": "Appointment", "status": "proposed", "participant": []},
                            "request": {"method": "POST", "url": "Appointment"}})
    _outcome(api.client.post(FHIR, content=json.dumps(bundle), headers=CLIENT), 422, "not-supported",
             "Bundle.entry[12].resource")
