"""Read-back shapes: demande → Task (ANS orientation interface), dossier → ServiceRequest; the INS leaves only
with a qualified identity."""

from __future__ import annotations

import datetime as dt

from mappings.fhir import demande_to_task, dossier_to_service_request, patient_reference
from orientation_core.demande.model import Demande
from orientation_core.demande.workflow import Status
from orientation_core.directory.model import Etablissement, Secteur, TypeUnite, Unite
from orientation_core.dossier.model import Dossier, EtatDossier
from orientation_core.dossier.volets import Module
from orientation_core.patients.model import Identifiant, Patient, Sexe, StatutIdentite, TypeIdentifiantPatient

AT = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def _patient(statut: StatutIdentite) -> tuple[Patient, list[Identifiant]]:
    patient = Patient("Adrun", ["Zoé"], dt.date(1975, 12, 31), Sexe.F, statut_identite=statut, id=7)
    return patient, [Identifiant(7, TypeIdentifiantPatient.IPP, "200451", "690001011"),
                     Identifiant(7, TypeIdentifiantPatient.INS_NIR, "275126322074974", "1.2.250.1.213.1.4.8")]


def test_ins_only_for_a_qualified_identity() -> None:
    qualified = patient_reference(*_patient(StatutIdentite.QUALIFIEE))
    assert qualified["identifier"] == {"use": "official", "system": "urn:oid:1.2.250.1.213.1.4.8",
                                       "value": "275126322074974"}
    for statut in (StatutIdentite.PROVISOIRE, StatutIdentite.RECUPEREE, StatutIdentite.VALIDEE):
        reference = patient_reference(*_patient(statut))
        assert reference["identifier"]["value"] == "200451", statut
        assert "275126322074974" not in str(reference)


def test_task_shape() -> None:
    patient, identifiants = _patient(StatutIdentite.PROVISOIRE)
    dossier = Dossier(Module.SANITAIRE, 7, 1, numero="S00000012", etat=EtatDossier.ENVOYE, created_at=AT,
                      updated_at=AT, id=12)
    demande = Demande(12, 5, statut=Status.REFUSEE, motif="Plateau technique inadapté", envoyee_at=AT,
                      updated_at=AT + dt.timedelta(hours=3), version=3, id=40)
    unite = Unite(2, "2101", "SMR polyvalent", TypeUnite.SMR, id=5)
    etablissement = Etablissement("690002027", "Centre SMR Les Tilleuls", Secteur.SANITAIRE, id=2)
    task = demande_to_task(demande, dossier, unite, etablissement, patient, identifiants)
    assert task["id"] == "demande-40" and task["meta"] == {"versionId": "3", "lastUpdated": "2026-03-02T12:00:00Z"}
    assert task["status"] == "rejected" and task["statusReason"] == {"text": "Plateau technique inadapté"}
    assert task["businessStatus"]["coding"][0] == {"system": "urn:aiguillage:fhir:CodeSystem/statut-demande",
                                                   "code": "refusee", "display": "Refusée"}
    assert task["owner"]["identifier"]["value"] == "1690002027"
    assert task["basedOn"][0]["reference"] == "ServiceRequest/dossier-12"
    sr = dossier_to_service_request(dossier, patient, identifiants)
    assert sr["id"] == "dossier-12" and sr["status"] == "active" and sr["identifier"][0]["value"] == "S00000012"
