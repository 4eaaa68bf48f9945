"""FR Core 2.1.0 and Aiguillage profiles kept as StructureDefinitions (``definitions/``), and the two validation
tiers: structure (fhir.resources) then profile (``validate``). A leaf: imports nothing of ours."""

from fhir_profiles.model import (
    ADMISSION_SERVICE_REQUEST,
    CS_IDENTITY_0445,
    CS_IDENTITY_DEV,
    CS_MODULE,
    CS_TYPE_ORIENTATION,
    EXT_ADDRESS_INSEE_CODE,
    EXT_BIRTH_LIST_GIVEN_NAME,
    EXT_BIRTH_PLACE,
    EXT_BIRTH_PLACE_INTL,
    EXT_IDENTITY_RELIABILITY,
    FR_CORE_PATIENT,
    FR_CORE_PATIENT_INS,
    FR_CORE_VERSION,
    INS_SYSTEMS,
    Issue,
    development_branch,
    identity_qualified,
    ins_key_valid,
)
from fhir_profiles.structure import model_for, validate_structure
from fhir_profiles.validator import (
    default_profiles,
    known_profiles,
    structure_definition,
    unimplemented_constraints,
    validate,
)

__all__ = [
    "ADMISSION_SERVICE_REQUEST", "CS_IDENTITY_0445", "CS_IDENTITY_DEV", "CS_MODULE", "CS_TYPE_ORIENTATION",
    "EXT_ADDRESS_INSEE_CODE", "EXT_BIRTH_LIST_GIVEN_NAME", "EXT_BIRTH_PLACE", "EXT_BIRTH_PLACE_INTL",
    "EXT_IDENTITY_RELIABILITY", "FR_CORE_PATIENT", "FR_CORE_PATIENT_INS", "FR_CORE_VERSION", "INS_SYSTEMS", "Issue",
    "default_profiles", "development_branch", "identity_qualified", "ins_key_valid", "known_profiles", "model_for",
    "structure_definition", "unimplemented_constraints", "validate", "validate_structure",
]
