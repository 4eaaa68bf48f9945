"""Batch reads for the pipeline: the registry use cases read identifiers, stays, movements and contexts one message
at a time; over a batch, ``BatchPatients`` answers those reads from one snapshot (``uow.intake.registry_snapshot``)
and keeps it current with the batch's own writes. A PostgreSQL round trip costs more than the whole mapping of a
message, so this is what makes a worker drain hundreds of messages per second.

Only reads it can answer exactly are answered from the snapshot; anything else goes to the database. A merge (A40)
moves rows between patients behind the snapshot's back, so the pipeline turns the cache off before one.

Writes are deferred to the end of the batch: a new patient or stay gets its id from a pool (``IdPool``,
``uow.intake.allocate_ids``) instead of a flush, stays out of the session until ``write_pending`` inserts the batch's
new patients, then its new stays (one executemany each: the ORM would not order rows of unrelated mappers by their
foreign keys), and the pipeline's final flush writes the children (identifiers, movements, contexts) and the
changes in a few executemany statements. The registry's own ``uow.flush()`` calls (which were there to learn ids)
are no-ops while the snapshot is on; autoflush is off while the batch's messages are applied, since every read the
use cases make is answered here or concerns rows the batch did not touch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orientation_core.identite.model import RechercheInsi
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


class IdPool:
    """Primary keys handed out to the batch's new patients and stays: ``expected`` of each taken at once, more one
    at a time if the estimate was short."""

    def __init__(self, allocate: Callable[[str, int, int], list[int]], expected: dict[str, int]) -> None:
        self._allocate = allocate
        self._expected = dict(expected)
        self._free: dict[str, list[int]] = {}
        self._last: dict[str, int] = {}  # handed out, maybe not written yet: a later allocation starts above

    def expect(self, table: str, count: int) -> None:
        self._expected[table] = count

    def next(self, table: str) -> int:
        free = self._free.get(table)
        if not free:
            count = max(self._expected.pop(table, 1), 1)
            free = self._free[table] = sorted(self._allocate(table, count, self._last.get(table, 0)), reverse=True)
        self._last[table] = free.pop()
        return self._last[table]


class BatchPatients:
    def __init__(self, inner: PatientRepository, snapshot: RegistrySnapshot, ids: IdPool | None = None,
                 insert_new: Callable[[list[Any]], None] | None = None) -> None:
        self._inner = inner
        self.enabled = True
        self._pool = ids
        self._insert_new = insert_new
        self._unsaved: list[Patient | Sejour] = []  # new patients, then new stays, written by ``write_pending``
        # set by BatchUnitOfWork: writes what was deferred (a deletion needs its row flushed, and is flushed at
        # once: the ORM inserts before it deletes, so a key removed then added again in one flush would collide)
        self.write_now: Callable[[], None] | None = None
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

    @property
    def deferring(self) -> bool:
        """New rows get pooled ids and wait for ``write_pending`` (the snapshot is on and a pool was given)."""
        return self.enabled and self._pool is not None and self._insert_new is not None

    def _flush_if_deferring(self) -> None:
        if self.deferring and self.write_now is not None:
            self.write_now()

    def is_new(self, patient_id: int | None) -> bool:
        return any(p.id == patient_id for p in self._new_patients)

    def write_pending(self) -> None:
        """Insert the batch's new patients, then its new stays; their children can be flushed after this."""
        if self._unsaved and self._insert_new is not None:
            pending = sorted(self._unsaved, key=lambda o: 0 if isinstance(o, Patient) else 1)
            self._unsaved = []
            self._insert_new(pending)

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
                return self.get(ident.patient_id)
            if valeur in self._valeurs:
                return None
        return self._inner.by_identifier(type_, valeur, autorite)

    def identifiers(self, patient_id: int) -> list[Identifiant]:
        if self.enabled and self._patient_known(patient_id):
            return list(self._ids[patient_id])
        return self._inner.identifiers(patient_id)

    def sejour_by_nda(self, etablissement_id: int, nda: str) -> Sejour | None:
        if self.enabled and ((etablissement_id, nda) in self._stay_keys or (etablissement_id, nda) in self._stays):
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
        if self.deferring and patient.id is None:
            assert self._pool is not None
            patient.id = self._pool.next("patient")
            self._unsaved.append(patient)
            self._patients[patient.id] = patient
        else:
            self._inner.add(patient)
        self._new_patients.append(patient)

    def add_identifier(self, identifiant: Identifiant) -> None:
        self._inner.add_identifier(identifiant)
        self._by_key[(identifiant.type, identifiant.valeur, identifiant.autorite)] = identifiant
        if identifiant.patient_id in self._ids:
            self._ids[identifiant.patient_id].append(identifiant)

    def remove_identifier(self, identifiant: Identifiant) -> None:
        self._flush_if_deferring()
        self._inner.remove_identifier(identifiant)
        self._flush_if_deferring()
        key = (identifiant.type, identifiant.valeur, identifiant.autorite)
        if self._by_key.get(key) is identifiant:
            del self._by_key[key]
        owned = self._ids.get(identifiant.patient_id)
        if owned is not None and identifiant in owned:
            owned.remove(identifiant)

    def add_sejour(self, sejour: Sejour) -> None:
        if self.deferring and sejour.id is None:
            assert self._pool is not None
            sejour.id = self._pool.next("sejour")
            self._unsaved.append(sejour)
        else:
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
        self._flush_if_deferring()
        self._inner.remove_contexte(contexte)
        self._flush_if_deferring()
        owned = self._ctx.get(contexte.patient_id)
        if owned is not None and contexte in owned:
            owned.remove(contexte)


class BatchDossiers:
    """``dossiers`` for the batch: renamed patients' dossiers are refreshed once, at the end of the batch
    (``uow.intake.refresh_patient_names``), with the patient's final name; a patient created in this batch has no
    dossier yet. Everything else is the real repository."""

    def __init__(self, inner: Any, patients: BatchPatients) -> None:
        self._inner = inner
        self._patients = patients
        self.renamed: dict[int, Patient] = {}

    def refresh_patient_name(self, patient: Patient) -> None:
        if not self._patients.deferring or patient.id is None:
            self._inner.refresh_patient_name(patient)
        elif not self._patients.is_new(patient.id):
            self.renamed[patient.id] = patient

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class BatchIdentite:
    """``identite`` for the batch's INSi hook: the pending look-ups of the batch's patients in one query (none for
    a patient created in this batch), and new look-ups with pooled ids, written by the batch's final flush."""

    def __init__(self, inner: Any, patients: BatchPatients, ids: IdPool | None) -> None:
        self._inner = inner
        self._patients = patients
        self._pool = ids
        self._known: dict[int, list[RechercheInsi]] = {}

    def prefetch(self, patient_ids: list[int], recherches_of: Callable[[list[int]], dict[int, list[RechercheInsi]]]
                 ) -> None:
        if not self._patients.deferring:
            return
        if self._pool is not None:  # at most one new look-up per patient
            self._pool.expect("insi_recherche", len(patient_ids))
        old = [pid for pid in patient_ids if not self._patients.is_new(pid)]
        self._known = {pid: [] for pid in patient_ids if self._patients.is_new(pid)}
        self._known.update(recherches_of(old) if old else {})

    def recherches(self, patient_id: int) -> list[RechercheInsi]:
        if self._patients.deferring and patient_id in self._known:
            return list(self._known[patient_id])
        return list(self._inner.recherches(patient_id))

    def add_recherche(self, recherche: RechercheInsi) -> None:
        if self._patients.deferring and self._pool is not None and recherche.id is None:
            recherche.id = self._pool.next("insi_recherche")
        self._inner.add_recherche(recherche)
        if recherche.patient_id in self._known:
            self._known[recherche.patient_id].append(recherche)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class BatchUnitOfWork:
    """The batch's unit of work with ``patients`` answered by ``BatchPatients``; everything else is the real one."""

    def __init__(self, uow: Any, patients: BatchPatients, ids: IdPool | None = None) -> None:
        self._uow = uow
        self.patients = patients
        self.dossiers = BatchDossiers(uow.dossiers, patients)
        self.identite = BatchIdentite(uow.identite, patients, ids)
        patients.write_now = self.write_pending

    def flush(self) -> None:
        """The use cases flush to learn new ids: pooled ids make that unnecessary while writes are deferred."""
        if self.patients.deferring:
            return
        self.write_pending()

    def write_pending(self) -> None:
        """Everything the batch deferred, in foreign-key order: new patients, new stays, then the ORM flush."""
        self.patients.write_pending()
        if self.patients.deferring:
            self._uow.intake.number_new_rows()
        self._uow.session.flush()
        if self.dossiers.renamed:
            self._uow.intake.refresh_patient_names(list(self.dossiers.renamed.values()))
            self.dossiers.renamed.clear()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._uow, name)
