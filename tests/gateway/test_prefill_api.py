"""Prefill end to end on the demo database: HL7 golden messages through the registry (gateway.intake.pipeline
.apply_canonical, the pipeline's own step), the DPI context, ``gateway.prefill``, and the dossier JSON of the API;
then the CLI commands ``gir`` and ``prefill-report`` as real processes."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from typing import Any

from gateway import prefill
from gateway.api import serializers
from gateway.intake.pipeline import apply_canonical
from gateway.settings import PROJECT_ROOT
from mappings.canonical import Canonical
from orientation_core.dossier.volets import Module
from orientation_core.patients.model import PatientContexte
from tests.gateway.conftest import MARTIN, Api

HL7 = PROJECT_ROOT / "samples" / "hl7v2"
CLI = PROJECT_ROOT / ".venv" / "bin" / "aiguillage"


def golden(name: str, change: Callable[[dict[str, Any]], None] | None = None) -> Canonical:
    data = json.loads((HL7 / f"{name}.expected.json").read_text(encoding="utf-8"))["canonical"]
    if change is not None:
        change(data)
    return Canonical.model_validate(data)


def feed(api: Api, canonical: Canonical) -> int:
    """What the pipeline does for one message, then the refresh it must call (gateway.prefill.refresh_patient)."""
    with api.container.uow() as uow:
        rapport = apply_canonical(uow, api.container.env, canonical)
        assert rapport.patient_id is not None
        prefill.refresh_patient(uow, api.container.env, rapport.patient_id)
        return rapport.patient_id


def create(api: Api, patient_id: int, module: str = "sanitaire") -> dict[str, Any]:
    body = {"module": module, "patient_id": patient_id, "unite_id": api.unite_id("1101")}
    created: dict[str, Any] = api.ok(api.post(MARTIN, "/api/v1/dossiers", json=body), 201)
    return created


def test_a_new_dossier_arrives_prefilled_with_provenance(api: Api) -> None:
    patient_id = feed(api, golden("adt_a01__nominal"))
    dossier = create(api, patient_id)
    admin = dossier["volets"]["administratif_social"]
    assert admin["telephone"] == "0478000000"
    assert admin["adresse"] == "12 rue des Lilas, Bâtiment B, 69003, Lyon"
    assert admin["service_demandeur"] == "1101"
    assert admin["date_hospitalisation"] == "2026-03-15"
    assert admin["medecin_traitant"]["rpps"] == "10100000058"
    assert admin["personne_confiance"]["nom"] == "ADRUN"
    assert admin["ins"] == "275126322074974"  # a qualified identity (PID-32 VALI)
    phone = dossier["provenance"]["administratif_social"]["telephone"]
    assert (phone["source"], phone["message_id"], phone["emplacement"]) == ("hl7v2", "HSE-A01-0003", "PID-13[1]")
    assert dossier["provenance"]["administratif_social"]["date_hospitalisation"]["emplacement"] == "PV1-44"
    assert dossier["dpi_differe"] == []
    states = {s["name"]: s for s in dossier["etat_volets"]}
    assert states["administratif_social"]["missing"] == ["type_logement"]  # what the DPI cannot send


def test_refresh_keeps_the_user_edit_and_shows_the_dpi_value(api: Api) -> None:
    patient_id = feed(api, golden("adt_a01__nominal"))
    dossier_id = create(api, patient_id)["id"]
    api.ok(api.patch(MARTIN, f"/api/v1/dossiers/{dossier_id}/volets/administratif_social",
                     json={"telephone": "0611111111"}))

    def moved(data: dict[str, Any]) -> None:  # A31: new phone, new address
        data["message_id"], data["event"] = "HSE-A31-0099", "A31"
        data["patient"]["telecoms"][0]["value"] = "0478999999"
        data["patient"]["addresses"][0]["lines"] = ["3 place Bellecour"]
        data["patient"]["addresses"][0]["code_postal"] = "69002"

    feed(api, golden("adt_a01__nominal", moved))
    dossier = api.ok(api.get(MARTIN, f"/api/v1/dossiers/{dossier_id}"))
    admin = dossier["volets"]["administratif_social"]
    assert admin["telephone"] == "0611111111"  # edited: kept
    assert admin["adresse"] == "3 place Bellecour, 69002, Lyon"  # unedited: follows the DPI
    assert dossier["dpi_differe"] == [{"volet": "administratif_social", "champ": "telephone",
                                       "valeur_dpi": "0478999999", "source": "hl7v2",
                                       "recu_le": dossier["provenance"]["administratif_social"]["telephone"][
                                           "recu_le"]}]
    history = api.ok(api.get(MARTIN, f"/api/v1/dossiers/{dossier_id}/historique"))
    refresh = [e for e in history if e["action"] == "prefill.appliquer"][-1]
    assert refresh["avant"] == {"administratif_social.adresse": "12 rue des Lilas, Bâtiment B, 69003, Lyon"}
    assert refresh["apres"]["valeur_dpi_differente"] == {"administratif_social.telephone": "0478999999"}


def test_an_ins_deleted_by_a47_leaves_the_dossier(api: Api) -> None:
    patient_id = feed(api, golden("adt_a01__nominal"))
    dossier_id = create(api, patient_id)["id"]
    assert api.ok(api.get(MARTIN, f"/api/v1/dossiers/{dossier_id}"))["volets"]["administratif_social"]["ins"]
    assert feed(api, golden("adt_a47__ins_deleted")) == patient_id
    dossier = api.ok(api.get(MARTIN, f"/api/v1/dossiers/{dossier_id}"))
    assert dossier["volets"]["administratif_social"]["ins"] is None
    history = api.ok(api.get(MARTIN, f"/api/v1/dossiers/{dossier_id}/historique"))
    cleared = [e for e in history if e["action"] == "prefill.appliquer"][-1]
    assert cleared["avant"]["administratif_social.ins"] == "275126322074974"  # kept in the history


def test_an_unreadable_context_is_skipped_not_fatal(api: Api) -> None:
    patient_id = feed(api, golden("adt_a01__nominal"))
    dossier_id = create(api, patient_id)["id"]
    with api.container.uow() as uow:
        uow.patients.add_contexte(PatientContexte(patient_id=patient_id, source="fhir",
                                                  donnees={"clinical": {"poids_kg": "lourd"}}, message_id="X"))
        uow.flush()
        changes = prefill.refresh_patient(uow, api.container.env, patient_id)
    assert [c.outcome for c in changes[dossier_id]] and all(c.outcome.value == "inchange"
                                                               for c in changes[dossier_id])


def test_a40_merge_keeps_the_survivors_dossier_values(api: Api) -> None:
    """A40 (samples/hl7v2/adt_a40__merge): the MRG-1 IPP is merged into 100001. The survivor's dossier keeps its
    values (edited ones untouched); the absorbed patient's dossier moves to the survivor and follows its DPI."""
    survivor = feed(api, golden("adt_a01__nominal"))
    (absorbed,) = golden("adt_a40__merge").prior_identifiers

    def other_ipp(data: dict[str, Any]) -> None:
        data["message_id"] = "HSE-A28-0100"
        data["patient"]["identifiers"] = [{"kind": "ipp", "value": absorbed.value, "assigner": absorbed.assigner}]
        data["patient"]["prenoms"] = ["ZOÉ"]
        data["patient"]["telecoms"] = [{"value": "0400000000", "use": "home"}]

    gone = feed(api, golden("adt_a28__creation", other_ipp))
    assert gone != survivor
    kept_id, moved_id = create(api, survivor)["id"], create(api, gone)["id"]
    api.ok(api.patch(MARTIN, f"/api/v1/dossiers/{kept_id}/volets/administratif_social",
                     json={"adresse": "Chez sa fille, 4 rue Sala, 69002 Lyon"}))

    assert feed(api, golden("adt_a40__merge")) == survivor
    kept = api.ok(api.get(MARTIN, f"/api/v1/dossiers/{kept_id}"))
    moved = api.ok(api.get(MARTIN, f"/api/v1/dossiers/{moved_id}"))
    assert kept["patient_id"] == moved["patient_id"] == survivor
    assert kept["volets"]["administratif_social"]["adresse"] == "Chez sa fille, 4 rue Sala, 69002 Lyon"
    assert kept["volets"]["administratif_social"]["telephone"] == "0478000000"
    assert [d["champ"] for d in kept["dpi_differe"]] == ["adresse"]
    assert moved["volets"]["administratif_social"]["telephone"] == "0478000000"  # the survivor's DPI context
    assert moved["provenance"]["administratif_social"]["telephone"]["message_id"] in ("HSE-A40-0001",
                                                                                      "HSE-A01-0003")


def test_linked_grand_age_dossier_is_prefilled_and_linked(api: Api) -> None:
    patient_id = feed(api, golden("adt_a01__nominal"))
    dossier_id = create(api, patient_id)["id"]
    linked = api.ok(api.post(MARTIN, f"/api/v1/dossiers/{dossier_id}/dossier-grand-age"), 201)
    assert linked["dossier_lie_id"] == dossier_id
    administratif = linked["volets"]["administratif"]
    assert administratif["telephone"] == "0478000000"
    assert administratif["personne_contact"]["nom"] == "ADRUN"  # from the DPI, not a Sanitaire field
    assert linked["provenance"]["administratif"]["telephone"]["emplacement"] == "PID-13[1]"
    assert linked["volets"]["medical"]["contexte"].startswith("Hospitalisé(e) depuis le 15/03/2026")


def test_receivers_without_medical_habilitation_do_not_see_medical_provenance(api: Api) -> None:
    patient_id = feed(api, golden("adt_a01__nominal"))
    dossier_id = create(api, patient_id, "grand_age")["id"]
    with api.container.uow() as uow:
        dossier = uow.dossiers.get(dossier_id)
        assert dossier.module is Module.GRAND_AGE and "medical" in dossier.provenance
        hidden = serializers.dossier(dossier, [], prescripteur_view=False, volet_medical=False)
    assert "medical" not in hidden["provenance"] and "medical" not in hidden["volets"]
    phone = hidden["provenance"]["administratif"]["telephone"]
    assert phone["emplacement"] == "PID-13[1]" and "valeur_dpi" not in phone and hidden["dpi_differe"] == []


# ---- the command line ------------------------------------------------------------------------------------------------

def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, timeout=60, check=False,
                          cwd=PROJECT_ROOT)


def test_cli_gir() -> None:
    done = run("gir", *"AAAAAABAAA")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "GIR 5 (groupe H, rang 12, total 2000)"
    assert run("gir", *"aaaaaacaaa").stdout.strip() == "GIR 6 (groupe H, rang 13, total 1000)"
    assert run("gir", *"CCCCCCCCAA").stdout.startswith("GIR 1 ")
    bad = run("gir", "A", "Z", "B", "A", "A", "A", "A", "A", "A", "A")
    assert bad.returncode == 2 and "Orientation : « Z » n'est pas une cotation AGGIR" in bad.stderr
    short = run("gir", "A", "B")
    assert short.returncode == 2 and "Il faut 10 valeurs" in short.stderr


def test_cli_prefill_report() -> None:
    done = run("prefill-report")
    assert done.returncode == 0, done.stderr
    hl7, fhir, ceiling = done.stdout.split("\n== ")[1:]
    assert hl7.startswith("flux HL7 v2 de démonstration") and fhir.startswith("flux FHIR de démonstration")

    def share(block: str, label: str) -> int:  # the richest patient comes first in each block
        line = next(x for x in block.splitlines() if label in x)
        return int(re.search(r"(\d+)%", line).group(1))  # type: ignore[union-attr]

    assert share(hl7, "Administratif et social") >= 80  # the target, met by the demo HL7 feed
    assert share(fhir, "Médical") >= 60  # and by the demo FHIR feed for the Sanitaire médical volet
    # the ceiling depends only on the maps: every field a DPI can send is mapped
    assert "Administratif et social    24/26  92%" in ceiling
    assert "manquants : type_logement, intervenants_domicile" in ceiling
    assert "Volet médical               7/11  64%" in ceiling
