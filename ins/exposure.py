"""The one gate every output path uses before an INS leaves Aiguillage (FHIR, HL7, API, exports).

Only a qualified identity carries and transmits the INS (DOMAIN.md §7); a douteuse or fictive identity is
provisoire by construction, so it never passes either. HL7 (PID-3 with PID-32 = VALI) and FHIR
(fr-core-patient-ins identifier slices) builders call ``ins_for_export``; nothing else reads INS identifiers for
output.
"""

from __future__ import annotations

from collections.abc import Iterable

from ins.matricule import check_key
from orientation_core.identite.rniv import insi_autorise
from orientation_core.patients.model import INS_TYPES, Identifiant, Patient, StatutIdentite


def ins_for_export(patient: Patient, identifiants: Iterable[Identifiant]) -> list[Identifiant]:
    """The INS identifiers that may leave with this patient: none unless the identity is qualified, never one
    whose key does not compute."""
    if patient.statut_identite is not StatutIdentite.QUALIFIEE or not insi_autorise(patient.attributs):
        return []
    return [i for i in identifiants
            if i.type in INS_TYPES and len(i.valeur) == 15 and check_key(i.valeur[:13], i.valeur[13:])]


def without_ins(patient: Patient, identifiants: Iterable[Identifiant]) -> list[Identifiant]:
    """Every identifier that may leave: the non-INS ones (IPP…) plus the INS when ``ins_for_export`` allows."""
    items = list(identifiants)
    return [i for i in items if i.type not in INS_TYPES] + ins_for_export(patient, items)
