"""Process-side inbox SQL for the ingest pipeline and the operator API (``uow.intake``).

The listener's store path lives in ``persistence/inbox.py``; this module claims due rows, keeps per-patient order,
writes the pipeline's verdict and its attempts, and answers the operator's searches and replays.

Per-patient order: a row is processed only when no earlier row with the same ``patient_key`` is still unfinished
(``received``, ``processing`` or ``failed``); a ``dead`` row no longer holds its patient back (it left the flow; the
operator replays it or not). Claiming: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several workers share the feed;
on SQLite the claim starts with a write, which takes the database's single write lock for the batch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapper, Session, make_transient_to_detached

from orientation_core.identite.model import RechercheInsi, TraceIdentite
from orientation_core.inbox.model import InboxMessage, InboxSource, InboxStatus
from orientation_core.patients.model import (
    Identifiant,
    Mouvement,
    Patient,
    PatientContexte,
    Sejour,
    TypeIdentifiantPatient,
)
from orientation_core.persistence import tables as t
from orientation_core.persistence.inbox import _to_message

_C = t.inbox_message.c
_A = t.inbox_attempt.c
UNFINISHED = (InboxStatus.RECEIVED, InboxStatus.PROCESSING, InboxStatus.FAILED)
DUE = (InboxStatus.RECEIVED, InboxStatus.FAILED)
# Tables whose ids the pipeline takes before it writes (``allocate_ids``).
_POOLED = {tbl.name: tbl for tbl in (t.patient, t.sejour, t.insi_recherche, t.patient_identifiant, t.mouvement,
                                     t.patient_contexte, t.identite_trace)}
# New child rows numbered before the batch's flush (``number_new_rows``).
_NUMBERED: dict[type, str] = {Identifiant: "patient_identifiant", Mouvement: "mouvement",
                              PatientContexte: "patient_contexte", TraceIdentite: "identite_trace"}
# Columns listed without the raw bytes and the ACK: what a search result shows.
_SUMMARY = [c for c in t.inbox_message.c if c.name not in ("raw", "ack")]


@dataclass(frozen=True)
class Attempt:
    id: int
    inbox_id: int
    at: dt.datetime
    outcome: str
    error: str | None


@dataclass(frozen=True)
class RowVerdict:
    """The pipeline's verdict on one row after one attempt."""

    inbox_id: int
    status: InboxStatus
    attempts: int
    outcome: dict[str, Any] | None
    error: str | None = None
    next_attempt_at: dt.datetime | None = None


@dataclass(frozen=True)
class RegistrySnapshot:
    valeurs: list[str]  # identifier values looked up: a miss on one of them is a real miss
    sejour_keys: list[tuple[int, str]]  # (etablissement_id, nda) looked up
    patients: list[Patient]
    identifiers: list[Identifiant]
    sejours: list[Sejour]
    mouvements: list[Mouvement]
    contextes: list[PatientContexte]


@dataclass(frozen=True)
class InboxQuery:
    sender: str = ""  # MSH-3 or MSH-4 (contains, case-insensitive)
    message_type: str = ""  # MSH-9.1, e.g. ADT
    event: str = ""  # MSH-9.2, e.g. A01
    statuses: tuple[InboxStatus, ...] = ()
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    patient_key: str = ""  # the IPP (patient_key starts with it) or the whole key
    control_id: str = ""
    source: InboxSource | None = None
    limit: int = 50
    offset: int = 0


class SqlIntake:
    def __init__(self, session: Session) -> None:
        self._s = session

    # ---- the pipeline ------------------------------------------------------------------------------------------

    @property
    def single_writer(self) -> bool:
        """SQLite: one writer for the whole database (the listener's inserts wait while a batch holds it)."""
        return self._s.get_bind().dialect.name == "sqlite"

    def lock_writes(self) -> None:
        """SQLite: take the database's write lock now (a write that changes nothing), so that what this
        transaction reads next stays true until it commits."""
        self._s.execute(sa.update(t.inbox_message).where(_C.id == -1).values(attempts=_C.attempts))

    def still_due(self, ids: Sequence[int], now: dt.datetime) -> set[int]:
        """Of these rows, those still waiting for the pipeline (another worker may have taken some)."""
        due = sa.or_(_C.next_attempt_at.is_(None), _C.next_attempt_at <= now)
        return {i for (i,) in self._s.execute(sa.select(_C.id).where(_C.id.in_(list(ids)), _C.status.in_(DUE),
                                                                    due))}

    def claim(self, now: dt.datetime, limit: int, *, lock: bool = True) -> list[InboxMessage]:
        """Lock and return due rows in id order, leaving out rows held back by an earlier unfinished row of their
        patient that is not part of this batch. The caller processes them in order in this transaction.

        On SQLite, ``lock=False`` reads without the write lock: the caller maps the messages first (pure CPU),
        then calls ``lock_writes`` and keeps the rows ``still_due`` — the write lock is held only while the
        registry is written, not while messages are parsed."""
        dialect = self._s.get_bind().dialect.name
        if dialect == "sqlite" and lock:  # one writer: two workers never claim the same rows
            self.lock_writes()
        due = sa.or_(_C.next_attempt_at.is_(None), _C.next_attempt_at <= now)
        # A row behind a failed (or in-flight) row of its patient waits; leaving it out here, not after the LIMIT,
        # is what keeps a patient's backlog from filling every batch and stalling the feed.
        earlier = t.inbox_message.alias("earlier")
        held = sa.exists().where(earlier.c.patient_key == _C.patient_key, earlier.c.id < _C.id,
                                 earlier.c.status.in_((InboxStatus.FAILED, InboxStatus.PROCESSING)))
        stmt = (sa.select(t.inbox_message).where(_C.status.in_(DUE), due, ~held).order_by(_C.id).limit(limit))
        if dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True, of=t.inbox_message)
        rows = [_to_message(r) for r in self._s.execute(stmt)]
        if not rows:
            return []
        keys = {r.patient_key for r in rows if r.patient_key}
        first_outside: dict[str, int] = {}
        if keys:
            ids = [r.id for r in rows]
            # only an earlier row can hold one of ours back: bounding by the batch's last id keeps the index scan
            # on (patient_key, id) short when a patient has a backlog after this batch
            q = (sa.select(_C.patient_key, sa.func.min(_C.id))
                 .where(_C.patient_key.in_(sorted(keys)), _C.id < max(ids), _C.status.in_(UNFINISHED),
                        _C.id.not_in(ids))
                 .group_by(_C.patient_key))
            first_outside = {str(k): int(i) for k, i in self._s.execute(q)}
        return [r for r in rows if not (r.patient_key and first_outside.get(r.patient_key, r.id) < r.id)]

    def finish(self, inbox_id: int, *, status: InboxStatus, attempts: int, outcome: dict[str, Any] | None,
               error: str | None, at: dt.datetime, next_attempt_at: dt.datetime | None = None) -> None:
        """Write the verdict of one attempt and append it to the row's history."""
        self._s.execute(sa.update(t.inbox_message).where(_C.id == inbox_id).values(
            status=status, attempts=attempts, outcome=outcome, last_error=error, next_attempt_at=next_attempt_at,
            processed_at=at if status in (InboxStatus.PROCESSED, InboxStatus.REJECTED) else None))
        self._s.execute(sa.insert(t.inbox_attempt).values(inbox_id=inbox_id, at=at, outcome=status.value,
                                                          error=error))

    def finish_many(self, verdicts: Sequence[RowVerdict], at: dt.datetime) -> None:
        """``finish`` for a whole batch: two executemany statements instead of two statements per row."""
        if not verdicts:
            return
        done = (InboxStatus.PROCESSED, InboxStatus.REJECTED)
        self._s.execute(
            sa.update(t.inbox_message).where(_C.id == sa.bindparam("b_id")).values(
                status=sa.bindparam("b_status"), attempts=sa.bindparam("b_attempts"),
                outcome=sa.bindparam("b_outcome"), last_error=sa.bindparam("b_error"),
                next_attempt_at=sa.bindparam("b_next"), processed_at=sa.bindparam("b_processed")),
            [{"b_id": v.inbox_id, "b_status": v.status, "b_attempts": v.attempts, "b_outcome": v.outcome,
              "b_error": v.error, "b_next": v.next_attempt_at, "b_processed": at if v.status in done else None}
             for v in verdicts],
            execution_options={"synchronize_session": False})
        self._s.execute(sa.insert(t.inbox_attempt), [
            {"inbox_id": v.inbox_id, "at": at, "outcome": v.status.value, "error": v.error} for v in verdicts])

    def registry_snapshot(self, valeurs: Sequence[str], sejour_keys: Sequence[tuple[int, str]]) -> RegistrySnapshot:
        """Everything the registry use cases will read for one batch, in five queries: identifiers with these
        values, their patients (with all their identifiers and contexts), the stays with these NDAs and their
        movements. The pipeline answers the batch's reads from it (one round trip per message kind, not per
        message). Objects are the session's own, so writes go through the normal unit of work."""
        i, sj = t.patient_identifiant.c, t.sejour.c
        # Both lookups are written so that the unique indexes (type, valeur, autorite) and (etablissement_id,
        # nda) answer them: their leading columns are constrained too.
        found = list(self._s.scalars(sa.select(Identifiant).where(
            i.type.in_(list(TypeIdentifiantPatient)), i.valeur.in_(sorted(set(valeurs)))))) if valeurs else []
        keys = set(sejour_keys)
        sejours = [x for x in self._s.scalars(sa.select(Sejour).where(
            sj.etablissement_id.in_(sorted({e for e, _ in keys})), sj.nda.in_(sorted({n for _, n in keys}))))
            if (x.etablissement_id, x.nda) in keys] if keys else []
        patient_ids = sorted({x.patient_id for x in found} | {x.patient_id for x in sejours})
        patients: list[Patient] = []
        identifiers: list[Identifiant] = []
        contextes: list[PatientContexte] = []
        if patient_ids:
            patients = list(self._s.scalars(sa.select(Patient).where(t.patient.c.id.in_(patient_ids))))
            identifiers = list(self._s.scalars(sa.select(Identifiant).where(i.patient_id.in_(patient_ids))))
            contextes = list(self._s.scalars(sa.select(PatientContexte).where(
                t.patient_contexte.c.patient_id.in_(patient_ids))))
        sejour_ids = sorted(x.id for x in sejours if x.id is not None)
        mouvements = list(self._s.scalars(sa.select(Mouvement).where(t.mouvement.c.sejour_id.in_(sejour_ids))
                                          .order_by(t.mouvement.c.id))) if sejour_ids else []
        return RegistrySnapshot(sorted(set(valeurs)), sorted(keys), patients, identifiers, sejours, mouvements,
                                contextes)

    def allocate_ids(self, table: str, count: int, after: int = 0) -> list[int]:
        """``count`` fresh primary keys of a registry table (``_POOLED``), so that a batch can create rows and their
        children without one flush per message to learn each id, and write them with plain executemany statements
        (no ``RETURNING``, the same SQL text every batch: cached, prepared on PostgreSQL). PostgreSQL: from the column's
        sequence (safe with concurrent workers; unused values are gaps, as after any rollback). SQLite: after the
        highest id and ``after`` (the last id this transaction took, maybe not written yet) — the caller holds the
        database's write lock (``lock_writes``), so no other writer can take them."""
        if count <= 0:
            return []
        tbl = _POOLED[table]
        with self._s.no_autoflush:  # the batch's deferred rows are not ready to be written yet
            if self._s.get_bind().dialect.name == "postgresql":
                seq = sa.func.pg_get_serial_sequence(table, "id")
                return [int(i) for (i,) in self._s.execute(
                    sa.select(sa.func.nextval(seq)).select_from(sa.func.generate_series(1, count)))]
            top = max(int(self._s.scalar(sa.select(sa.func.coalesce(sa.func.max(tbl.c.id), 0))) or 0), after)
        return list(range(top + 1, top + 1 + count))

    def number_new_rows(self) -> None:
        """Ids for the session's new identifiers, movements, contexts and identity traces, just before the batch's
        flush, in the order they were added (a movement's id orders it among movements of the same instant): the
        ORM then writes them with plain executemany statements instead of multi-row INSERT … RETURNING."""
        waiting: dict[str, list[Any]] = {}
        for obj in self._s.new:
            table = _NUMBERED.get(type(obj))
            if table is not None and getattr(obj, "id", None) is None:
                waiting.setdefault(table, []).append(obj)
        for table, objs in waiting.items():
            objs.sort(key=lambda o: sa.inspect(o).insert_order)
            for obj, new_id in zip(objs, self.allocate_ids(table, len(objs)), strict=True):
                obj.id = new_id

    def insert_new(self, objects: Sequence[Patient | Sejour]) -> None:
        """Insert new patients or stays whose ids are already assigned (``allocate_ids``): one executemany per
        class, in the order given (parents first), then attach them to the session as persistent objects, so that
        later changes are ordinary UPDATEs and their children, flushed after, find them."""
        groups: dict[type, list[Patient | Sejour]] = {}
        for obj in objects:
            groups.setdefault(type(obj), []).append(obj)
        for cls, objs in groups.items():
            mapper: Mapper[Any] = sa.inspect(cls)
            cols = [(prop.key, prop.columns[0].key) for prop in mapper.column_attrs]
            table = t.patient if cls is Patient else t.sejour
            self._s.execute(sa.insert(table), [{col: getattr(o, key) for key, col in cols} for o in objs])
            for obj in objs:
                make_transient_to_detached(obj)
                self._s.add(obj)

    def recherches_of(self, patient_ids: Sequence[int]) -> dict[int, list[RechercheInsi]]:
        """``identite.recherches`` for several patients in one query (the batch's INSi hook)."""
        found: dict[int, list[RechercheInsi]] = {pid: [] for pid in patient_ids}
        if patient_ids:
            c = t.insi_recherche.c
            for r in self._s.scalars(sa.select(RechercheInsi).where(c.patient_id.in_(sorted(set(patient_ids))))
                                     .order_by(c.id)):
                found[r.patient_id].append(r)
        return found

    def refresh_patient_names(self, patients: Sequence[Patient]) -> None:
        """``dossiers.refresh_patient_name`` for a whole batch: one executemany at the end of the batch instead
        of one UPDATE (and the autoflush before it) per renamed patient."""
        if not patients:
            return
        d = t.dossier.c
        self._s.execute(
            sa.update(t.dossier).where(d.patient_id == sa.bindparam("b_pid")).values(
                patient_nom_affiche=sa.bindparam("b_affiche"), patient_nom_recherche=sa.bindparam("b_recherche"),
                patient_nom_naissance_recherche=sa.bindparam("b_naissance")),
            [{"b_pid": p.id, "b_affiche": p.nom_affiche, "b_recherche": p.nom_recherche,
              "b_naissance": p.nom_naissance_recherche} for p in patients],
            execution_options={"synchronize_session": False})

    def pending_count(self) -> int:
        return int(self._s.scalar(sa.select(sa.func.count()).select_from(t.inbox_message)
                                  .where(_C.status.in_(UNFINISHED))) or 0)

    # ---- the operator ------------------------------------------------------------------------------------------

    def search(self, query: InboxQuery) -> list[dict[str, Any]]:
        stmt = sa.select(*_SUMMARY)
        if query.sender:
            pattern = f"%{query.sender.lower()}%"
            stmt = stmt.where(sa.or_(sa.func.lower(_C.sender_app).like(pattern),
                                     sa.func.lower(_C.sender_facility).like(pattern)))
        if query.message_type:
            stmt = stmt.where(_C.message_type == query.message_type)
        if query.event:
            stmt = stmt.where(_C.trigger_event == query.event)
        if query.statuses:
            stmt = stmt.where(_C.status.in_(query.statuses))
        if query.since is not None:
            stmt = stmt.where(_C.received_at >= query.since)
        if query.until is not None:
            stmt = stmt.where(_C.received_at < query.until)
        if query.patient_key:
            key = query.patient_key.replace("\\", "").replace("%", "").replace("_", r"\_")
            stmt = stmt.where(sa.or_(_C.patient_key == query.patient_key,
                                     _C.patient_key.like(f"{key}^%", escape="\\")))
        if query.control_id:
            stmt = stmt.where(_C.control_id == query.control_id)
        if query.source is not None:
            stmt = stmt.where(_C.source == query.source)
        stmt = stmt.order_by(_C.id.desc()).offset(query.offset).limit(query.limit)
        return [dict(r._mapping) for r in self._s.execute(stmt)]

    def attempts(self, inbox_id: int) -> list[Attempt]:
        rows = self._s.execute(sa.select(t.inbox_attempt).where(_A.inbox_id == inbox_id).order_by(_A.id))
        return [Attempt(r.id, r.inbox_id, r.at, r.outcome, r.error) for r in rows]

    def replay(self, ids: Sequence[int], at: dt.datetime, actor: str) -> list[int]:
        """Back to ``received`` with a fresh retry budget; the attempt history stays and records the replay."""
        found = [i for (i,) in self._s.execute(sa.select(_C.id).where(_C.id.in_(list(ids))).order_by(_C.id))]
        if not found:
            return []
        self._s.execute(sa.update(t.inbox_message).where(_C.id.in_(found)).values(
            status=InboxStatus.RECEIVED, attempts=0, next_attempt_at=None, processed_at=None))
        self._s.execute(sa.insert(t.inbox_attempt), [
            {"inbox_id": i, "at": at, "outcome": "replay", "error": f"rejoué par {actor}"} for i in found])
        return found

    def counts(self) -> dict[str, int]:
        rows = self._s.execute(sa.select(_C.status, sa.func.count()).group_by(_C.status))
        return {(s.value if isinstance(s, InboxStatus) else str(s)): int(n) for s, n in rows}
