"""GET /fhir/r4/metadata: the CapabilityStatement, built from the same tables the routes use, so it cannot drift
from what the server does."""

from __future__ import annotations

from typing import Any

from fhir_profiles import (
    ADMISSION_SERVICE_REQUEST,
    CS_IDENTITY_0445,
    CS_IDENTITY_DEV,
    FR_CORE_PATIENT,
    FR_CORE_PATIENT_INS,
    FR_CORE_VERSION,
)
from gateway.fhir.indexing import SEARCH_PARAMS
from gateway.fhir.intake import INTAKE_TYPES, STANDALONE_CREATE, STANDALONE_UPDATE

SEARCH_TYPES = {"identifier": "token", "family": "string", "given": "string", "birthdate": "date",
                "gender": "token", "patient": "reference", "subject": "reference", "status": "token",
                "patient:identifier": "token", "subject:identifier": "token"}
PROFILES = {"Patient": [FR_CORE_PATIENT, FR_CORE_PATIENT_INS], "ServiceRequest": [ADMISSION_SERVICE_REQUEST]}


def interactions(resource_type: str) -> list[str]:
    found = ["read", "vread", "history-instance"]
    if resource_type in STANDALONE_CREATE:
        found.append("create")
    if resource_type in STANDALONE_UPDATE:
        found.append("update")
    if resource_type in SEARCH_PARAMS:
        found.append("search-type")
    return found


def capability_statement(base_url: str, version: str) -> dict[str, Any]:
    resources: list[dict[str, Any]] = []
    for resource_type in INTAKE_TYPES:
        entry: dict[str, Any] = {
            "type": resource_type,
            "interaction": [{"code": c} for c in interactions(resource_type)],
            "versioning": "versioned-update",
            "readHistory": True,
            "updateCreate": resource_type in STANDALONE_UPDATE,
            "conditionalCreate": resource_type in STANDALONE_CREATE,
            "conditionalUpdate": resource_type in STANDALONE_UPDATE,
            "conditionalDelete": "not-supported",
            "operation": [{"name": "validate", "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate"}],
        }
        if resource_type in PROFILES:
            entry["supportedProfile"] = PROFILES[resource_type]
        params = SEARCH_PARAMS.get(resource_type, ())
        if params:
            entry["searchParam"] = [{"name": p, "type": SEARCH_TYPES[p]} for p in params] + [
                {"name": "_lastUpdated", "type": "date"}, {"name": "_id", "type": "token"}]
        if resource_type != "Patient" and resource_type not in STANDALONE_CREATE:
            entry["documentation"] = "Accepté dans les Bundles transaction et batch (références urn:uuid: résolues)."
        if resource_type == "ServiceRequest":
            entry["documentation"] = ("Demande d'admission (profil Aiguillage). En lecture, chaque dossier est publié "
                                      "comme ServiceRequest/dossier-<id>.")
        resources.append(entry)
    resources.append({
        "type": "Task",
        "documentation": ("Une Task par demande (Task/demande-<id>) : owner = structure receveuse (1 + FINESS), "
                          "businessStatus = statut de la demande, statusReason = motif, input = dates proposées. "
                          "Recherche par patient:identifier et _lastUpdated pour l'interrogation périodique."),
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "searchParam": [{"name": p, "type": SEARCH_TYPES.get(p, "token")} for p in SEARCH_PARAMS["Task"]]
                       + [{"name": "_lastUpdated", "type": "date"}, {"name": "_id", "type": "token"}],
    })
    resources.append({
        "type": "Subscription",
        "documentation": ("Abonnement rest-hook aux changements de Task (criteria = Task?patient:identifier=…), "
                          "pour un utilisateur dont les droits filtrent les Task. Envoi après validation de la "
                          "transaction : PUT <endpoint>/Task/<id> avec la Task (payload application/fhir+json), "
                          "ou POST <endpoint> vide ; nouvelles tentatives avec délai croissant, puis statut error."),
        "interaction": [{"code": "create"}, {"code": "read"}],
    })
    resources.append({"type": "StructureDefinition", "interaction": [{"code": "read"}],
                      "documentation": "Les profils appliqués, tels que conservés par Aiguillage."})
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-23",
        "kind": "instance",
        "software": {"name": "Aiguillage", "version": version},
        "implementation": {"description": "Aiguillage — API FHIR R4", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "implementationGuide": [f"https://hl7.fr/ig/fhir/core/ImplementationGuide/hl7.fhir.fr.core|{FR_CORE_VERSION}"],
        "description": (
            f"Profils FR Core {FR_CORE_VERSION} (fr-core-patient, fr-core-patient-ins) et profil Aiguillage de demande "
            "d'admission. Validation en deux niveaux : structure avec les modèles R4B de fhir.resources (pour ces "
            "ressources, R4B est identique à R4), puis profils. Statut d'identité (fr-core-identity-reliability) : "
            f"les deux systèmes de codes sont acceptés — table 0445 de FR Core {FR_CORE_VERSION} ({CS_IDENTITY_0445}, "
            f"VALI = identité qualifiée ; c'est aussi la lecture d'un code sans système) et branche de "
            f"développement (tout autre système, par exemple {CS_IDENTITY_DEV}, ou les codes RECUP et QUAL : PROV, "
            "RECUP, VALI = validée sans INS, QUAL = qualifiée). Un INS dont "
            "la clé ne se vérifie pas est accepté avec un avertissement et n'est pas considéré comme fiable. "
            "XML non pris en charge."),
        "rest": [{
            "mode": "server",
            "documentation": ("Profil de démonstration : l'appelant se nomme par l'en-tête X-Aiguillage-Client-FHIR "
                              "(client DPI, pour l'intégration) ou X-Aiguillage-Utilisateur (utilisateur, requis pour "
                              "relire dossiers et demandes, selon ses droits)."),
            "resource": resources,
            "interaction": [{"code": "transaction"}, {"code": "batch"}],
        }],
    }
