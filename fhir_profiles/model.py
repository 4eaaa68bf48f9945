"""Issues and the canonical URLs and code systems the profiles use (a leaf: nothing of ours imported)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Severity = Literal["fatal", "error", "warning", "information"]

FR_CORE_VERSION = "2.1.0"
FR_CORE = "https://hl7.fr/ig/fhir/core/StructureDefinition/"
FR_CORE_PATIENT = FR_CORE + "fr-core-patient"
FR_CORE_PATIENT_INS = FR_CORE + "fr-core-patient-ins"
EXT_IDENTITY_RELIABILITY = FR_CORE + "fr-core-identity-reliability"
EXT_BIRTH_PLACE = FR_CORE + "fr-core-patient-birth-place"
EXT_BIRTH_PLACE_INTL = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"  # accepted alias
EXT_BIRTH_LIST_GIVEN_NAME = FR_CORE + "fr-core-patient-birth-list-given-name"
EXT_ADDRESS_INSEE_CODE = FR_CORE + "fr-core-address-insee-code"
ADMISSION_SERVICE_REQUEST = "urn:aiguillage:fhir:StructureDefinition/aiguillage-admission-servicerequest"

# Identity status (fr-core-identity-reliability.identityStatus). FR Core 2.1.0 binds it to table 0445
# (CodeSystem fr-core-cs-v2-0445: VIDE, PROV, VALI, DOUB, DESA…), where VALI is a *qualified* identity; the
# development branch uses PROV / RECUP / VALI / QUAL, where VALI is validated without INS and QUAL is qualified.
# Reading rule: the 0445 system, or no system, means 2.1.0; any other system, or the codes RECUP / QUAL that 0445
# does not have, mean the development branch. CS_IDENTITY_DEV is the system we emit and document for it (the
# branch's final URL was not published when this was written; the rule above does not depend on it).
CS_IDENTITY_0445 = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0445"
CS_IDENTITY_DEV = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-identity-reliability-status"
DEV_ONLY_CODES = frozenset({"RECUP", "QUAL"})


def development_branch(system: str | None, code: str | None) -> bool:
    """Whether an identityStatus Coding uses the development branch's codes (see above)."""
    return code in DEV_ONLY_CODES or system not in (None, "", CS_IDENTITY_0445)

INS_SYSTEMS: dict[str, str] = {
    "urn:oid:1.2.250.1.213.1.4.8": "INS-NIR",
    "urn:oid:1.2.250.1.213.1.4.9": "INS-NIA",
    "urn:oid:1.2.250.1.213.1.4.10": "INS-NIR-TEST",
    "urn:oid:1.2.250.1.213.1.4.11": "INS-NIR-DEMO",
}

CS_MODULE = "urn:aiguillage:fhir:CodeSystem/module"
CS_TYPE_ORIENTATION = "urn:aiguillage:fhir:CodeSystem/type-orientation"


@dataclass(frozen=True)
class Issue:
    """One OperationOutcome.issue: ``code`` is the FHIR IssueType (required, structure, value, invariant…),
    ``expression`` a FHIRPath location, ``diagnostics`` French text for the sender's operator."""

    severity: Severity
    code: str
    expression: str
    diagnostics: str
    key: str = ""  # the profile constraint key (aig-ins-1…), when the issue comes from an invariant

    @property
    def blocking(self) -> bool:
        return self.severity in ("fatal", "error")


def identity_qualified(system: str | None, code: str | None) -> bool:
    """True for a qualified identity in either code system (see CS_IDENTITY_0445 / CS_IDENTITY_DEV)."""
    if code is None:
        return False
    if development_branch(system, code):
        return code == "QUAL"
    return code == "VALI"  # 2.1.0 table 0445, or no system


# sex (1, 2 — 3, 4 temporary — 7, 8 NIA), year, month, department (2 digits or 2A / 2B), commune, order number.
_MATRICULE = re.compile(r"^[1-478][0-9]{4}(?:[0-9]{2}|2[AB])[0-9]{6}$")


def ins_key_valid(value: str) -> bool:
    """DOMAIN.md §7: key = 97 - (N mod 97) over the 13-character matricule, 2A → 19 and 2B → 18 (Corsica).
    The same rule as ``orientation_core.identite.cle`` (this package is a leaf: a test holds the two together)."""
    value = value.strip().upper()
    key = value[13:]
    if len(value) != 15 or not (key.isascii() and key.isdigit()) or not _MATRICULE.match(value[:13]):
        return False
    dept = value[5:7]
    return 97 - int(value[:5] + {"2A": "19", "2B": "18"}.get(dept, dept) + value[7:13]) % 97 == int(key)
