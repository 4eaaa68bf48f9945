"""FHIR R4 API (base /fhir/r4): FR Core intake with profile validation and OperationOutcome errors, dossiers and
demandes read back as ServiceRequest and Task."""

from gateway.fhir.routes import router

__all__ = ["router"]
