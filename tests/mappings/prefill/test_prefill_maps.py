"""mappings.prefill: the declarative maps against volets.py, values and provenance, later messages, the RNIV rule
for the INS, completeness by field."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from mappings.canonical import Canonical
from mappings.prefill import MAPS, as_plain, completeness, prefill
from mappings.prefill.engine import check_maps
from mappings.prefill.paths import locate, resolve
from orientation_core.dossier.volets import Module, spec

RECU = dt.datetime(2026, 3, 15, 7, 0, tzinfo=dt.UTC)


def canonical(**sections: Any) -> Canonical:
    base: dict[str, Any] = {"source": "hl7v2", "message_id": "MSG-1", "received_at": RECU,
                            "patient": {"nom_naissance": "ADRUN", "prenoms": ["ZOE", "MARIE"],
                                        "date_naissance": "1935-12-31", "sexe": "F"},
                            "provenance": {"patient.nom_naissance": "PID-5[1].1", "patient.prenoms": "PID-5[1].3"}}
    return Canonical.model_validate(base | sections)


def test_every_mapped_field_is_a_field_of_its_volet() -> None:
    assert check_maps() == []
    for module, volets in MAPS.items():
        for volet, maps in volets.items():
            fields = [m.field for m in maps]
            assert len(fields) == len(set(fields)), f"{module}.{volet}: a field mapped twice"
            volet_spec = spec(Module(module), volet)
            assert volet_spec is not None and set(fields) <= set(volet_spec.fields)


def test_value_and_provenance() -> None:
    values = prefill([canonical()], Module.SANITAIRE)["administratif_social"]
    assert values["nom_naissance"].as_dict() == {
        "valeur": "ADRUN", "source": "hl7v2", "message_id": "MSG-1", "emplacement": "PID-5[1].1",
        "chemin": "patient.nom_naissance", "recu_le": "2026-03-15T07:00:00+00:00"}
    assert values["prenoms"].value == "ZOE MARIE"
    assert values["date_naissance"].value == "1935-12-31"
    assert "medical" not in prefill([canonical()], Module.SANITAIRE)  # nothing to prefill: no empty volet


def test_contacts_by_role_and_the_grand_age_contact_person() -> None:
    c = canonical(contacts=[
        {"role": "personne_confiance", "nom": "ADRUN", "prenom": "PAUL", "lien": "conjoint",
         "telecoms": [{"system": "phone", "value": "0698765432"}]},
        {"role": "representant_legal", "nom": "MARTIN", "prenom": "LUC"},
    ], provenance={"contacts[0]": "NK1[1]", "contacts[0].nom": "NK1[1]-2.1", "contacts[1]": "NK1[2]"})
    admin = prefill([c], Module.SANITAIRE)["administratif_social"]
    assert admin["personne_confiance"].value == {"role": "personne de confiance", "nom": "ADRUN", "prenom": "PAUL",
                                                 "lien": "conjoint", "telephone": "0698765432"}
    assert admin["personne_confiance"].emplacement == "NK1[1]"
    assert admin["representant_legal"].emplacement == "NK1[2]"
    assert "personne_a_prevenir" not in admin
    # no "personne à prévenir": the Cerfa's contact person falls back on the trusted person
    ga = prefill([c], Module.GRAND_AGE)["administratif"]
    assert ga["personne_contact"].value["nom"] == "ADRUN" and ga["personne_contact"].chemin == "contacts[0]"


def test_medecin_traitant_rpps_from_the_national_id() -> None:
    c = canonical(medecin_traitant={"idnps": "810100000058", "nom": "MOREAU", "prenom": "Luc"},
                  provenance={"medecin_traitant": "ROL[1]-4"})
    value = prefill([c], Module.SANITAIRE)["administratif_social"]["medecin_traitant"]
    assert value.value["rpps"] == "10100000058"
    assert value.emplacement == "ROL[1]-4"


def test_clinical_data_and_computed_bmi() -> None:
    c = canonical(source="fhir", clinical={
        "poids_kg": 61.5, "taille_cm": 164,
        "conditions": [{"kind": "antecedent", "text": "HTA", "code": "I10", "system": "cim-10"},
                       {"kind": "actuel", "text": "Fracture du col du fémur", "code": "S72.0"}],
        "medications": [{"text": "Énoxaparine 4000 UI", "dosage": "1/j"}],
        "allergies": [{"text": "Amoxicilline", "criticality": "high"}]},
        provenance={"clinical.poids_kg": "Observation/poids.valueQuantity.value",
                    "clinical.taille_cm": "Observation/taille.valueQuantity.value",
                    "clinical.conditions[0]": "Condition/1.code", "clinical.conditions[1]": "Condition/2.code"})
    medical = prefill([c], Module.SANITAIRE)["medical"]
    assert medical["imc"].value == 22.9  # 61.5 / 1.64²
    assert medical["imc"].emplacement == ("Observation/poids.valueQuantity.value, "
                                          "Observation/taille.valueQuantity.value")
    assert medical["antecedents"].value == [{"libelle": "HTA", "code": "I10", "systeme": "cim-10"}]
    assert medical["antecedents"].emplacement == "Condition/1.code"
    assert medical["pathologie_actuelle"].emplacement == "Condition/2.code"
    assert medical["traitements"].value == [{"libelle": "Énoxaparine 4000 UI", "posologie": "1/j"}]
    assert medical["allergies"].value == [{"libelle": "Amoxicilline", "criticite": "high"}]
    ga = prefill([c], Module.GRAND_AGE)["medical"]
    assert ga["problemes_actuels"].value[0]["code"] == "S72.0"


def test_no_bmi_without_both_measures() -> None:
    medical = prefill([canonical(clinical={"poids_kg": 61.5})], Module.SANITAIRE)["medical"]
    assert "imc" not in medical and medical["poids_kg"].value == 61.5


@pytest.mark.parametrize(("status", "key_valid", "shown"), [
    ("qualifiee", True, True), ("qualifiee", None, True), ("qualifiee", False, False),
    ("provisoire", True, False), ("validee", True, False),
])
def test_ins_only_from_a_qualified_identity(status: str, key_valid: bool | None, shown: bool) -> None:
    c = canonical(patient={"nom_naissance": "ADRUN", "prenoms": ["ZOE"], "identity_status": status,
                           "ins_key_valid": key_valid,
                           "identifiers": [{"kind": "ins_nir", "value": "275126322074974"}]},
                  provenance={"patient.ins": "Patient.identifier[1].value"})
    admin = prefill([c], Module.SANITAIRE)["administratif_social"]
    if shown:  # the FHIR intake names the INS "patient.ins": the alias finds it
        assert admin["ins"].value == "275126322074974"
        assert admin["ins"].emplacement == "Patient.identifier[1].value"
    else:  # identity vigilance: "no usable INS" is a value, which clears an INS prefilled before
        assert admin["ins"].value is None


def test_a_message_without_patient_does_not_clear_the_ins() -> None:
    assert "ins" not in prefill([canonical(patient=None)], Module.SANITAIRE).get("administratif_social", {})


def test_later_message_wins_and_a_message_without_the_value_erases_nothing() -> None:
    first = canonical(patient={"nom_naissance": "ADRUN", "prenoms": ["ZOE"],
                               "telecoms": [{"value": "0478000000"}]}, message_id="A01")
    second = canonical(patient={"nom_naissance": "ADRUN", "prenoms": ["ZOE"],
                                "telecoms": [{"value": "0478999999"}]}, message_id="A31")
    third = canonical(patient={"nom_naissance": "ADRUN", "prenoms": ["ZOE"]}, message_id="A02")
    admin = prefill([first, second, third], Module.SANITAIRE)["administratif_social"]
    assert (admin["telephone"].value, admin["telephone"].message_id) == ("0478999999", "A31")
    assert admin["nom_naissance"].message_id == "A02"


def test_birth_address_is_not_the_home_address() -> None:
    c = canonical(patient={"nom_naissance": "ADRUN", "prenoms": ["ZOE"], "addresses": [
        {"pays": "FRA", "use": "birth"},
        {"lines": ["12 rue des Lilas"], "code_postal": "69003", "ville": "Lyon", "use": "home"}]},
        provenance={"patient.addresses[1]": "PID-11[2]"})
    admin = prefill([c], Module.SANITAIRE)["administratif_social"]
    assert admin["adresse"].value == "12 rue des Lilas, 69003, Lyon"
    assert admin["adresse"].emplacement == "PID-11[2]"


def test_grand_age_request_context() -> None:
    c = canonical(source="fhir", admission_request={
        "module": "grand_age", "type_orientation": "EHPAD", "reason": "Perte d'autonomie",
        "desired_date": "2026-04-01", "type_accueil": "permanent",
        "requester": {"rpps": "10100000025", "nom": "LAMBERT", "prenom": "Henri"}},
        stay={"uf": "1101", "admit_at": "2026-03-15T08:00:00+01:00"})
    values = prefill([c], Module.GRAND_AGE)
    assert values["administratif"]["type_accueil"].value == "permanent"
    assert values["administratif"]["date_entree_souhaitee"].value == "2026-04-01"
    assert values["medical"]["medecin_signataire"].value["rpps"] == "10100000025"
    assert values["medical"]["contexte"].value == "Hospitalisé(e) depuis le 15/03/2026 (UF 1101)"
    # an EHPAD request says nothing of a Sanitaire orientation, and a Sanitaire request nothing of an EHPAD entry
    assert "orientation" not in prefill([c], Module.SANITAIRE)
    smr = canonical(source="fhir", admission_request={"module": "sanitaire", "type_orientation": "SMR",
                                                      "reason": "Rééducation", "desired_date": "2026-03-09"})
    assert prefill([smr], Module.SANITAIRE)["orientation"]["type_orientation"].value == "smr"
    assert "date_entree_souhaitee" not in prefill([smr], Module.GRAND_AGE).get("administratif", {})


def test_completeness_lists_what_is_missing_by_field() -> None:
    values = prefill([canonical()], Module.SANITAIRE)
    result = completeness(Module.SANITAIRE, values)
    admin = result["administratif_social"]
    assert set(admin.remplis) == {"nom_naissance", "prenoms", "date_naissance", "sexe"}
    assert admin.obligatoires_manquants == ("adresse", "service_demandeur", "date_hospitalisation", "type_logement")
    assert admin.champs == len(admin.remplis) + len(admin.manquants)
    assert result["medical"].taux == 0.0
    # a dossier's plain volets work the same
    assert completeness("sanitaire", {"administratif_social": {"nom_naissance": "X"}})["administratif_social"
                                                                                       ].remplis == ("nom_naissance",)


def test_as_plain_is_what_the_use_case_takes() -> None:
    plain = as_plain(prefill([canonical()], Module.GRAND_AGE))
    assert plain["administratif"]["sexe"] == {"valeur": "F", "source": "hl7v2", "message_id": "MSG-1",
                                              "emplacement": "", "chemin": "patient.sexe",
                                              "recu_le": "2026-03-15T07:00:00+00:00"}


def test_paths_and_locations() -> None:
    c = canonical(contacts=[{"role": "autre", "nom": "A"}, {"role": "personne_confiance", "nom": "B"}])
    found = resolve(c, "contacts[role=personne_confiance].nom")
    assert found is not None and (found.value, found.paths) == ("B", ("contacts[1].nom",))
    every = resolve(c, "contacts[*]")
    assert every is not None and every.paths == ("contacts[0]", "contacts[1]")
    assert resolve(c, "contacts[5]") is None and resolve(c, "stay.uf") is None
    provenance = {"medecin_traitant": "ROL[1]-4", "contacts[1].nom": "NK1[2]-2.1", "contacts[1].role": "NK1[2]-7"}
    assert locate(provenance, ("medecin_traitant.rpps",)) == "ROL[1]-4"
    assert locate(provenance, ("contacts[1]",)) == "NK1[2]-2.1, NK1[2]-7"
    assert locate(provenance, ("stay.uf",)) == ""
