"""Use cases on the patient registry (the intake issues call these from HL7 and FHIR)."""

from __future__ import annotations

from collections.abc import Sequence

from orientation_core.errors import Conflict, ValidationFailed
from orientation_core.patients.model import (
    INS_TYPES,
    Identifiant,
    Patient,
    Sejour,
    StatutIdentite,
    TypeIdentifiantPatient,
)
from orientation_core.ports import Env, UnitOfWork


def register(uow: UnitOfWork, env: Env, patient: Patient,
             identifiants: Sequence[tuple[TypeIdentifiantPatient, str, str]] = ()) -> Patient:
    """Create a patient, or return the one already known by one of the given identifiers (IPP first)."""
    for type_, valeur, autorite in identifiants:
        known = uow.patients.by_identifier(type_, valeur, autorite)
        if known is not None:
            return known
    if any(t in INS_TYPES for t, _, _ in identifiants) and patient.statut_identite is not StatutIdentite.QUALIFIEE:
        raise ValidationFailed("Seule une identité qualifiée porte l'INS.", code="patient.ins_non_qualifiee")
    now = env.clock.now()
    patient.created_at = patient.updated_at = now
    uow.patients.add(patient)
    uow.flush()
    assert patient.id is not None
    for type_, valeur, autorite in identifiants:
        uow.patients.add_identifier(Identifiant(patient_id=patient.id, type=type_, valeur=valeur, autorite=autorite))
    return patient


def update_traits(uow: UnitOfWork, env: Env, patient_id: int, **traits: object) -> Patient:
    patient = uow.patients.get(patient_id)
    allowed = {"nom_naissance", "prenoms", "date_naissance", "sexe", "nom_utilise", "prenom_utilise",
               "lieu_naissance_code", "adresse", "code_postal", "ville", "telephone"}
    unknown = set(traits) - allowed
    if unknown:
        raise ValidationFailed(f"Trait(s) inconnu(s) : {', '.join(sorted(unknown))}.", code="patient.trait")
    for key, value in traits.items():
        setattr(patient, key, value)
    patient.refresh_search_key()
    patient.updated_at = env.clock.now()
    uow.dossiers.refresh_patient_name(patient)
    return patient


def add_sejour(uow: UnitOfWork, env: Env, sejour: Sejour) -> Sejour:
    if uow.patients.sejour_by_nda(sejour.etablissement_id, sejour.nda) is not None:
        raise Conflict(f"Le séjour {sejour.nda} existe déjà.", code="sejour.existe")
    uow.patients.get(sejour.patient_id)
    uow.patients.add_sejour(sejour)
    uow.flush()
    return sejour
