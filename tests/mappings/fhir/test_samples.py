"""Every FHIR sample passes both validation tiers and maps to its golden canonical JSON."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from fhir_profiles import default_profiles, validate, validate_structure
from mappings.canonical import Canonical, IdentifierKind, IdentityStatus
from mappings.fhir import to_canonical

SAMPLES = Path(__file__).resolve().parents[3] / "samples" / "fhir"
RECEIVED = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
# the posted resources only: golden files beside them carry a second suffix (.canonical.json, .prefill.json)
CASES = sorted(p for p in SAMPLES.glob("*.json") if p.name.count(".") == 1)


def test_every_sample_has_its_golden_file() -> None:
    assert len(CASES) >= 4
    for path in CASES:
        assert path.with_suffix(".canonical.json").exists(), path.name


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_sample_validates_and_maps_to_golden(path: Path) -> None:
    posted = json.loads(path.read_text(encoding="utf-8"))
    assert validate_structure(posted) == []
    entries = {e["fullUrl"]: e["resource"] for e in posted.get("entry", [])}
    resources = list(entries.values()) if posted["resourceType"] == "Bundle" else [posted]
    for resource in resources:
        for profile in default_profiles(resource):
            blocking = [i for i in validate(resource, profile, resolve=entries.get) if i.blocking]
            assert blocking == [], (resource["resourceType"], blocking)
    got = to_canonical(posted, received_at=RECEIVED, sender="dpi-st-exupery")
    golden = Canonical.model_validate_json(path.with_suffix(".canonical.json").read_text(encoding="utf-8"))
    assert got == golden


def _bundle() -> dict:
    return json.loads((SAMPLES / "bundle-transaction-sanitaire.json").read_text(encoding="utf-8"))


def test_references_resolve_through_urn_uuid_and_type_id() -> None:
    bundle = _bundle()
    # the same Bundle with server ids instead of urn:uuid: (what the intake stores after resolution)
    for n, entry in enumerate(bundle["entry"]):
        entry["resource"]["id"] = f"r{n}"
    text = json.dumps(bundle)
    for n, entry in enumerate(bundle["entry"]):
        text = text.replace(f'"reference": "{entry["fullUrl"]}"', f'"reference": "{entry["resource"]["resourceType"]}/r{n}"')
    rewritten = json.loads(text)
    for entry in rewritten["entry"]:
        entry.pop("fullUrl")
    got = to_canonical(rewritten, received_at=RECEIVED)
    assert got.admission_request is not None and got.admission_request.requester is not None
    assert got.admission_request.requester.rpps == "10100000017"  # ServiceRequest → PractitionerRole → Practitioner
    assert got.medecin_traitant is not None and got.medecin_traitant.nom == "MARTIN"


def test_identity_status_code_systems() -> None:
    """2.1.0 table 0445: VALI is qualified. Development branch: VALI is validated, QUAL qualified."""
    bundle = _bundle()
    patient = bundle["entry"][0]["resource"]
    coding = patient["extension"][0]["extension"][0]["valueCoding"]
    assert to_canonical(patient).patient.identity_status is IdentityStatus.QUALIFIEE
    coding["system"] = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-identity-reliability-status"
    assert to_canonical(patient).patient.identity_status is IdentityStatus.VALIDEE
    coding["code"] = "QUAL"
    assert to_canonical(patient).patient.identity_status is IdentityStatus.QUALIFIEE
    del coding["system"]
    coding["code"] = "VALI"
    assert to_canonical(patient).patient.identity_status is IdentityStatus.QUALIFIEE


def test_invalid_ins_key_is_kept_with_a_warning_and_not_trusted() -> None:
    posted = json.loads((SAMPLES / "patient-ins-cle-invalide.json").read_text(encoding="utf-8"))
    got = to_canonical(posted)
    assert got.patient is not None and got.patient.ins is not None
    assert got.patient.ins_key_valid is False
    assert [i.code for i in got.issues] == ["ins.cle_invalide"]
    assert got.issues[0].location == "Patient.identifier[1].value"


def test_billing_nir_is_never_the_ins() -> None:
    posted = json.loads((SAMPLES / "patient-provisoire.json").read_text(encoding="utf-8"))
    got = to_canonical(posted)
    assert got.patient is not None and got.patient.ins is None
    assert got.patient.identifier(IdentifierKind.NSS) is not None
