"""FHIR R4 (FR Core) ↔ canonical: intake (resource or Bundle → ``Canonical``) and read-back (dossier →
ServiceRequest, demande → Task)."""

from mappings.fhir.intake import IPP_URN_PREFIX, OID_FINESS, to_canonical
from mappings.fhir.readback import (
    demande_to_task,
    dossier_to_service_request,
    patient_identifiers,
    patient_reference,
    service_request_id,
    task_id,
)

__all__ = [
    "IPP_URN_PREFIX", "OID_FINESS", "demande_to_task", "dossier_to_service_request", "patient_identifiers",
    "patient_reference", "service_request_id", "task_id", "to_canonical",
]
