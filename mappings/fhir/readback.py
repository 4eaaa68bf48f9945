"""Dossiers and demandes published back to DPIs: dossier → ServiceRequest, demande → Task.

Shapes follow the ANS orientation interface (medico-social module): one ``Task`` per receiving structure, owner
identified by its national structure id (``1`` + FINESS), ``businessStatus`` = the demande status,
``statusReason`` = the motive, ``input`` = the proposed dates. The patient is referenced logically by identifier;
the INS is emitted only for a qualified identity (RNIV), otherwise the IPP.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from fhir_profiles import CS_MODULE, CS_TYPE_ORIENTATION, INS_SYSTEMS
from mappings.fhir.intake import IPP_URN_PREFIX, OID_FINESS
from orientation_core.demande.model import Demande
from orientation_core.demande.workflow import STATUS_LABELS, Status
from orientation_core.directory.model import Etablissement, Unite
from orientation_core.dossier.model import Dossier, EtatDossier
from orientation_core.patients.model import INS_TYPES, Identifiant, Patient, StatutIdentite, TypeIdentifiantPatient

CS_STATUT_DEMANDE = "urn:aiguillage:fhir:CodeSystem/statut-demande"
CS_TASK_INPUT = "urn:aiguillage:fhir:CodeSystem/task-input"
SYSTEM_DEMANDE = "urn:aiguillage:demande"
SYSTEM_DOSSIER = "urn:aiguillage:dossier"
INS_SYSTEM_FOR = {v: k for k, v in {
    "urn:oid:1.2.250.1.213.1.4.8": TypeIdentifiantPatient.INS_NIR,
    "urn:oid:1.2.250.1.213.1.4.9": TypeIdentifiantPatient.INS_NIA,
    "urn:oid:1.2.250.1.213.1.4.10": TypeIdentifiantPatient.INS_NIR_TEST,
    "urn:oid:1.2.250.1.213.1.4.11": TypeIdentifiantPatient.INS_NIR_DEMO,
}.items()}
assert set(INS_SYSTEM_FOR.values()) == set(INS_SYSTEMS)

TASK_STATUS: dict[Status, str] = {
    Status.EN_REDACTION: "draft",
    Status.EN_ATTENTE: "requested",
    Status.DEMANDE_PRECISION: "on-hold",
    Status.ACCORD_DE_PRINCIPE: "received",
    Status.ACCEPTEE: "accepted",
    Status.REFUSEE: "rejected",
    Status.CONFIRMEE: "in-progress",
    Status.ADMISSION_FINALISEE: "completed",
    Status.ANNULEE: "cancelled",
    Status.ARCHIVEE: "cancelled",
}
SERVICE_REQUEST_STATUS: dict[EtatDossier, str] = {
    EtatDossier.BROUILLON: "draft",
    EtatDossier.ENVOYE: "active",
    EtatDossier.ADMIS: "completed",
    EtatDossier.ANNULE: "revoked",
    EtatDossier.ARCHIVE: "completed",
}


def task_id(demande_id: int) -> str:
    return f"demande-{demande_id}"


def service_request_id(dossier_id: int) -> str:
    return f"dossier-{dossier_id}"


def _instant(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value else None


def patient_identifiers(patient: Patient, identifiants: Sequence[Identifiant]) -> list[dict[str, Any]]:
    """The identifiers a DPI may receive: IPPs, and the INS only when the identity is qualified."""
    out: list[dict[str, Any]] = []
    qualified = patient.statut_identite is StatutIdentite.QUALIFIEE
    for ident in identifiants:
        if ident.type in INS_TYPES:
            if qualified:
                out.append({"use": "official", "system": INS_SYSTEM_FOR[ident.type], "value": ident.valeur})
        elif ident.type is TypeIdentifiantPatient.IPP:
            out.append({
                "use": "usual",
                "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "PI"}]},
                "system": IPP_URN_PREFIX + ident.autorite, "value": ident.valeur,
                "assigner": {"identifier": {"system": OID_FINESS, "value": ident.autorite}},
            })
    return out


def patient_reference(patient: Patient, identifiants: Sequence[Identifiant]) -> dict[str, Any]:
    identifiers = patient_identifiers(patient, identifiants)
    reference: dict[str, Any] = {"type": "Patient", "display": patient.nom_affiche}
    ins = next((i for i in identifiers if i["system"] in INS_SYSTEMS), None)
    chosen = ins or (identifiers[0] if identifiers else None)
    if chosen is not None:
        reference["identifier"] = {k: v for k, v in chosen.items() if k in ("system", "value", "type", "use")}
    return reference


def dossier_to_service_request(dossier: Dossier, patient: Patient, identifiants: Sequence[Identifiant]
                               ) -> dict[str, Any]:
    assert dossier.id is not None
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": service_request_id(dossier.id),
        "meta": {"versionId": str(dossier.version), "lastUpdated": _instant(dossier.updated_at or dossier.created_at)},
        "identifier": [{"system": SYSTEM_DOSSIER, "value": dossier.numero}],
        "status": SERVICE_REQUEST_STATUS[dossier.etat],
        "intent": "order",
        "category": [{"coding": [{"system": CS_MODULE, "code": dossier.module.value,
                                  "display": "Sanitaire" if dossier.module.value == "sanitaire" else "Grand Âge"}]}],
        "subject": patient_reference(patient, identifiants),
    }
    if dossier.type_orientation:
        resource["code"] = {"coding": [{"system": CS_TYPE_ORIENTATION, "code": dossier.type_orientation}],
                            "text": dossier.type_orientation}
    if dossier.created_at:
        resource["authoredOn"] = _instant(dossier.created_at)
    if dossier.motif_annulation:
        resource["note"] = [{"text": f"Annulation : {dossier.motif_annulation}"}]
    return resource


def _input(code: str, label: str, value: dt.date) -> dict[str, Any]:
    return {"type": {"coding": [{"system": CS_TASK_INPUT, "code": code}], "text": label},
            "valueDate": value.isoformat()}


def demande_to_task(demande: Demande, dossier: Dossier, unite: Unite, etablissement: Etablissement,
                    patient: Patient, identifiants: Sequence[Identifiant]) -> dict[str, Any]:
    assert demande.id is not None and dossier.id is not None
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": task_id(demande.id),
        "meta": {"versionId": str(demande.version),
                 "lastUpdated": _instant(demande.updated_at or demande.created_at)},
        "identifier": [{"system": SYSTEM_DEMANDE, "value": str(demande.id)}],
        "basedOn": [{"reference": f"ServiceRequest/{service_request_id(dossier.id)}",
                     "identifier": {"system": SYSTEM_DOSSIER, "value": dossier.numero}}],
        "status": TASK_STATUS[demande.statut],
        "businessStatus": {"coding": [{"system": CS_STATUT_DEMANDE, "code": demande.statut.value,
                                       "display": STATUS_LABELS[demande.statut]}],
                           "text": STATUS_LABELS[demande.statut]},
        "intent": "order",
        "for": patient_reference(patient, identifiants),
        # ANS orientation interface: the receiving structure by its national id, 1 + FINESS.
        "owner": {"type": "Organization",
                  "identifier": {"system": OID_FINESS, "value": "1" + etablissement.finess},
                  "display": f"{unite.nom} — {etablissement.nom}"},
    }
    if demande.motif:
        task["statusReason"] = {"text": demande.motif}
    elif demande.statut is Status.DEMANDE_PRECISION and demande.question:
        task["statusReason"] = {"text": demande.question}
    if demande.envoyee_at:
        task["authoredOn"] = _instant(demande.envoyee_at)
    if demande.updated_at:
        task["lastModified"] = _instant(demande.updated_at)
    inputs = []
    if demande.date_debut:
        inputs.append(_input("date_debut", "Début de la fourchette proposée", demande.date_debut))
    if demande.date_fin:
        inputs.append(_input("date_fin", "Fin de la fourchette proposée", demande.date_fin))
    if demande.date_admission:
        inputs.append(_input("date_admission", "Date d'admission proposée", demande.date_admission))
    if inputs:
        task["input"] = inputs
    notes = [n for n in (demande.question and f"Question : {demande.question}",
                         demande.reponse_precision and f"Réponse : {demande.reponse_precision}") if n]
    if notes:
        task["note"] = [{"text": n} for n in notes]
    return task
