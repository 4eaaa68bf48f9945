"""Profile tier: FR Core Patient / Patient-INS, the extensions, the admission ServiceRequest; structure tier."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_profiles import (
    ADMISSION_SERVICE_REQUEST,
    FR_CORE_PATIENT,
    FR_CORE_PATIENT_INS,
    Issue,
    default_profiles,
    ins_key_valid,
    known_profiles,
    unimplemented_constraints,
    validate,
    validate_structure,
)

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "fhir"


def _bundle() -> dict[str, Any]:
    return json.loads((SAMPLES / "bundle-transaction-sanitaire.json").read_text(encoding="utf-8"))


def _patient() -> dict[str, Any]:
    return copy.deepcopy(_bundle()["entry"][0]["resource"])


def _sr() -> dict[str, Any]:
    return copy.deepcopy(_bundle()["entry"][11]["resource"])


def _where(issues: list[Issue]) -> set[tuple[str, str, str]]:
    return {(i.severity, i.code, i.expression) for i in issues}


def test_every_constraint_of_every_profile_is_implemented() -> None:
    assert unimplemented_constraints() == []
    assert {FR_CORE_PATIENT, FR_CORE_PATIENT_INS, ADMISSION_SERVICE_REQUEST} <= set(known_profiles())


@pytest.mark.parametrize(("value", "ok"), [
    ("275126322074974", True), ("236066322083656", True), ("109076322083489", True),
    ("109076322083488", False), ("1234", False),
])
def test_ins_key(value: str, ok: bool) -> None:
    assert ins_key_valid(value) is ok


def test_corsica_department_counts_as_19_or_18() -> None:
    base = "185072A123456"
    key = 97 - int(base.replace("2A", "19")) % 97
    assert ins_key_valid(f"{base}{key:02d}")
    assert not ins_key_valid(f"{base}{(key + 1) % 97:02d}")


def test_valid_patient_has_no_issue() -> None:
    assert validate(_patient(), FR_CORE_PATIENT_INS) == []


def test_ins_only_on_a_qualified_identity() -> None:
    patient = _patient()
    patient["extension"][0]["extension"][0]["valueCoding"]["code"] = "PROV"
    issues = validate(patient, FR_CORE_PATIENT_INS)
    assert ("error", "invariant", "Patient.identifier[1]") in _where(issues)
    assert any(i.key == "aig-ins-1" and "qualifiée" in i.diagnostics for i in issues)


def test_dev_branch_vali_is_not_qualified_but_qual_is() -> None:
    patient = _patient()
    coding = patient["extension"][0]["extension"][0]["valueCoding"]
    coding["system"] = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-identity-reliability-status"
    assert any(i.key == "aig-ins-1" for i in validate(patient, FR_CORE_PATIENT_INS))
    coding["code"] = "QUAL"
    assert validate(patient, FR_CORE_PATIENT_INS) == []


def test_bad_ins_key_is_a_warning_only() -> None:
    patient = _patient()
    patient["identifier"][1]["value"] = "275126322074975"
    issues = validate(patient, FR_CORE_PATIENT_INS)
    assert [(i.severity, i.key, i.expression) for i in issues] == [
        ("warning", "aig-ins-3", "Patient.identifier[1].value")]


def test_ins_traits_and_slices() -> None:
    patient = _patient()
    del patient["birthDate"]
    patient["gender"] = "femme"
    patient["identifier"][1]["use"] = "usual"
    patient["name"] = [n for n in patient["name"] if n["use"] != "official"]
    del patient["extension"][0]["extension"][0]  # identityStatus
    where = _where(validate(patient, FR_CORE_PATIENT_INS))
    assert ("error", "required", "Patient.birthDate") in where
    assert ("error", "code-invalid", "Patient.gender") in where
    assert ("error", "value", "Patient.identifier[1].use") in where
    assert ("error", "required", "Patient.name") in where
    assert ("error", "required", "Patient.extension[0].extension") in where


def test_fr_core_patient_without_ins_is_lenient() -> None:
    patient = _patient()
    patient["identifier"] = patient["identifier"][:1]
    del patient["birthDate"]
    patient["extension"] = []
    assert validate(patient, FR_CORE_PATIENT) == []
    assert default_profiles({"resourceType": "Patient", "identifier": patient["identifier"]}) == [FR_CORE_PATIENT]


def test_admission_service_request() -> None:
    assert validate(_sr(), ADMISSION_SERVICE_REQUEST) == []
    sr = _sr()
    sr["category"][0]["coding"][0]["code"] = "grand_age"  # SMR is not a Grand Âge orientation
    sr["intent"] = "plan"
    del sr["subject"]
    where = _where(validate(sr, ADMISSION_SERVICE_REQUEST))
    assert ("error", "invariant", "ServiceRequest.code.coding[0].code") in where
    assert ("error", "value", "ServiceRequest.intent") in where
    assert ("error", "required", "ServiceRequest.subject") in where


def test_admission_subject_with_unqualified_ins_through_the_bundle() -> None:
    bundle = _bundle()
    patient = bundle["entry"][0]["resource"]
    patient["extension"][0]["extension"][0]["valueCoding"]["code"] = "PROV"
    index = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    issues = validate(bundle["entry"][11]["resource"], ADMISSION_SERVICE_REQUEST, resolve=index.get)
    assert [(i.key, i.code, i.expression) for i in issues] == [("aig-sr-3", "business-rule", "ServiceRequest.subject")]


def test_unknown_profile_and_wrong_type() -> None:
    assert validate(_patient(), "urn:nope")[0].code == "not-supported"
    assert validate(_sr(), FR_CORE_PATIENT)[0].code == "structure"


def test_structure_tier_locates_errors_in_a_bundle() -> None:
    bundle = _bundle()
    bundle["entry"][5]["resource"]["valueQuantity"]["value"] = "lourd"
    bundle["entry"][0]["resource"]["birthDate"] = "31/12/1975"
    bundle["entry"][1]["resource"]["surnom"] = "x"
    where = {i.expression for i in validate_structure(bundle)}
    assert {"Bundle.entry[5].resource.valueQuantity.value", "Bundle.entry[0].resource.birthDate",
            "Bundle.entry[1].resource.surnom"} <= where
    assert validate_structure({"resourceType": "Licorne"})[0].code == "not-supported"
    assert validate_structure([1, 2])[0].severity == "fatal"


def test_identity_status_reading_rule() -> None:
    from fhir_profiles import CS_IDENTITY_0445, identity_qualified

    assert identity_qualified(CS_IDENTITY_0445, "VALI") and identity_qualified(None, "VALI")
    assert not identity_qualified("https://example.org/autre-systeme", "VALI")  # development branch: validated
    assert identity_qualified(None, "QUAL") and identity_qualified("https://example.org/autre-systeme", "QUAL")
    assert not identity_qualified(CS_IDENTITY_0445, "PROV") and not identity_qualified(None, "RECUP")


def test_every_table_0445_code_passes_the_binding() -> None:
    patient = _patient()
    patient["identifier"] = patient["identifier"][:1]  # no INS: the status alone is checked
    patient["extension"][0]["extension"][0]["valueCoding"]["code"] = "DOUB"  # a 0445 code we do not map
    assert validate(patient, FR_CORE_PATIENT) == []
    patient["extension"][0]["extension"][0]["valueCoding"] = {"system": "urn:inconnu", "code": "VALI"}
    assert [i.code for i in validate(patient, FR_CORE_PATIENT)] == ["code-invalid"]


def _with_key(matricule: str) -> str:
    dept = matricule[5:7]
    return matricule + f"{97 - int(matricule[:5] + {'2A': '19', '2B': '18'}.get(dept, dept) + matricule[7:]) % 97:02d}"


@pytest.mark.parametrize("value", [
    _with_key("2751263220749"), _with_key("185052A123456"), _with_key("185052B123456"),
    _with_key("5751263220749"),  # no NIR starts with 5: a computing key does not make it an INS
    "27512632207497", "275126322074974", "2751263220749²4", " 275126322074974 ",
])
@settings(max_examples=400, deadline=None)
@given(generated=st.one_of(
    st.text(alphabet="0123456789AB²", min_size=13, max_size=16),
    st.from_regex(r"[1-478][0-9]{4}(?:[0-9]{2}|2[AB])[0-9]{8}", fullmatch=True),
))
def test_the_profiles_leaf_copy_of_the_ins_key_rule_answers_like_the_core(value: str, generated: str) -> None:
    """fhir_profiles may import nothing of ours, so it keeps its own key check: it must never disagree with the
    rule the HL7 and FHIR intakes and ins use (orientation_core.identite.cle)."""
    from fhir_profiles.model import ins_key_valid as leaf
    from orientation_core.identite.cle import ins_key_valid as core

    assert leaf(value) == core(value)
    assert leaf(generated) == core(generated)
