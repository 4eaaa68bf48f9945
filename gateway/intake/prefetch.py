"""Batch reads for the pipeline: the registry use cases read identifiers, stays, movements and contexts one message
at a time; over a batch, ``BatchPatients`` answers those reads from one snapshot (``uow.intake.registry_snapshot``)
and keeps it current with the batch's own writes. A PostgreSQL round trip costs more than the whole mapping of a
message, so this is what makes a worker drain hundreds of messages per second.

Only reads it can answer exactly are answered from the snapshot; anything else goes to the database. A merge (A40)
moves rows between patients behind the snapshot's back, so the pipeline turns the cache off before one.
"""

from __future__ import annotations

from typing import Any

from orientation_core.patients.model import (
    Identifiant,
    Mouvement,
    Patient,
    PatientContexte,
    Sejour,
    TypeIdentifiantPatient,
)
from orientation_core.persistence.intake import RegistrySnapshot
from orientation_core.ports import PatientRepository

Key = tuple[TypeIdentifiantPatient, str, str]


class BatchPatients:
    def __init__(self, inner: PatientRepository, snapshot: RegistrySnapshot) -> None:
        self._inner = inner
        self.enabled = True
        self._valeurs = set(snapshot.valeurs)
        self._stay_keys = set(snapshot.sejour_keys)
        self._by_key: dict[Key, Identifiant] = {}
        # strong references: the session's identity map only holds unmodified objects weakly
        self._patients: dict[int, Patient] = {p.id: p for p in snapshot.patients if p.id is not None}
        self._ids: dict[int, list[Identifiant]] = {pid: [] for pid in self._patients}
        self._ctx: dict[int, list[PatientContexte]] = {pid: [] for pid in self._ids}
        for ident in snapshot.identifiers:
            self._by_key[(ident.type, ident.valeur, ident.autorite)] = ident
            self._ids.setdefault(ident.patient_id, []).append(ident)
        for contexte in snapshot.contextes:
            self._ctx.setdefault(contexte.patient_id, []).append(contexte)
        self._stays: dict[tuple[int, str], Sejour] = {(s.etablissement_id, s.nda): s for s in snapshot.sejours}
        self._moves: dict[int, list[Mouvement]] = {s.id: [] for s in snapshot.sejours if s.id is not None}
        for move in snapshot.mouvements:
            self._moves.setdefault(move.sejour_id, []).append(move)
        self._new_patients: list[Patient] = []
        self._new_stays: list[Sejour] = []

    # ---- helpers -------------------------------------------------------------------------------------------------

    def _patient_known(self, patient_id: int) -> bool:
        if patient_id in self._ids:
            return True
        for patient in self._new_patients:  # created in this batch: ids assigned at the use case's flush
            if patient.id == patient_id:
                self._ids[patient_id], self._ctx[patient_id] = [], []
                return True
        return False

    def _stay_known(self, sejour_id: int) -> bool:
        if sejour_id in self._moves:
            return True
        for stay in self._new_stays:
            if stay.id == sejour_id:
                self._moves[sejour_id] = []
                return True
        return False

    # ---- reads ---------------------------------------------------------------------------------------------------

    def get(self, patient_id: int) -> Patient:
        found = self._patients.get(patient_id) if self.enabled else None
        if found is None:
            found = self._inner.get(patient_id)
            self._patients[patient_id] = found
        return found

    def by_identifier(self, type_: TypeIdentifiantPatient, valeur: str, autorite: str = "") -> Patient | None:
        if self.enabled:
            ident = self._by_key.get((type_, valeur, autorite))
            if ident is not None:
                return self._inner.get(ident.patient_id)
            if valeur in self._valeurs:
                return None
        return self._inner.by_identifier(type_, valeur, autorite)

    def identifiers(self, patient_id: int) -> list[Identifiant]:
        if self.enabled and self._patient_known(patient_id):
            return list(self._ids[patient_id])
        return self._inner.identifiers(patient_id)

    def sejour_by_nda(self, etablissement_id: int, nda: str) -> Sejour | None:
        if self.enabled and (etablissement_id, nda) in self._stay_keys:
            return self._stays.get((etablissement_id, nda))
        return self._inner.sejour_by_nda(etablissement_id, nda)

    def mouvements(self, sejour_id: int) -> list[Mouvement]:
        if self.enabled and self._stay_known(sejour_id):
            return list(self._moves[sejour_id])
        return self._inner.mouvements(sejour_id)

    def contextes(self, patient_id: int) -> list[PatientContexte]:
        if self.enabled and self._patient_known(patient_id):
            return sorted(self._ctx[patient_id], key=lambda c: c.source)
        return self._inner.contextes(patient_id)

    def sejours(self, patient_id: int) -> list[Sejour]:
        return self._inner.sejours(patient_id)

    def mouvements_of_patient(self, patient_id: int) -> list[Mouvement]:
        return self._inner.mouvements_of_patient(patient_id)

    # ---- writes: to the session, and into the snapshot ------------------------------------------------------------

    def add(self, patient: Patient) -> None:
        self._inner.add(patient)
        self._new_patients.append(patient)

    def add_identifier(self, identifiant: Identifiant) -> None:
        self._inner.add_identifier(identifiant)
        self._by_key[(identifiant.type, identifiant.valeur, identifiant.autorite)] = identifiant
        if identifiant.patient_id in self._ids:
            self._ids[identifiant.patient_id].append(identifiant)

    def remove_identifier(self, identifiant: Identifiant) -> None:
        self._inner.remove_identifier(identifiant)
        key = (identifiant.type, identifiant.valeur, identifiant.autorite)
        if self._by_key.get(key) is identifiant:
            del self._by_key[key]
        owned = self._ids.get(identifiant.patient_id)
        if owned is not None and identifiant in owned:
            owned.remove(identifiant)

    def add_sejour(self, sejour: Sejour) -> None:
        self._inner.add_sejour(sejour)
        self._stays[(sejour.etablissement_id, sejour.nda)] = sejour
        self._new_stays.append(sejour)

    def add_mouvement(self, mouvement: Mouvement) -> None:
        self._inner.add_mouvement(mouvement)
        if mouvement.sejour_id in self._moves:
            self._moves[mouvement.sejour_id].append(mouvement)

    def add_contexte(self, contexte: PatientContexte) -> None:
        self._inner.add_contexte(contexte)
        if contexte.patient_id in self._ctx:
            self._ctx[contexte.patient_id].append(contexte)

    def remove_contexte(self, contexte: PatientContexte) -> None:
        self._inner.remove_contexte(contexte)
        owned = self._ctx.get(contexte.patient_id)
        if owned is not None and contexte in owned:
            owned.remove(contexte)


class BatchUnitOfWork:
    """The batch's unit of work with ``patients`` answered by ``BatchPatients``; everything else is the real one."""

    def __init__(self, uow: Any, patients: BatchPatients) -> None:
        self._uow = uow
        self.patients = patients

    def __getattr__(self, name: str) -> Any:
        return getattr(self._uow, name)
