"""Repository of identity vigilance: identity state, trace, INSi look-ups, conflicts, duplicate candidates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from orientation_core.errors import NotFound
from orientation_core.identite.model import (
    ConflitIdentite,
    EtatIdentite,
    RechercheInsi,
    StatutConflit,
    StatutRecherche,
    TraceIdentite,
)
from orientation_core.patients.model import Patient
from orientation_core.persistence import tables as t


class SqlIdentite:
    def __init__(self, session: Session) -> None:
        self._s = session

    def etat(self, patient_id: int) -> EtatIdentite | None:
        return self._s.scalars(sa.select(EtatIdentite).where(t.identite_etat.c.patient_id == patient_id)).first()

    def add_etat(self, etat: EtatIdentite) -> None:
        self._s.add(etat)

    def add_trace(self, trace: TraceIdentite) -> None:
        self._s.add(trace)

    def traces(self, patient_id: int) -> list[TraceIdentite]:
        c = t.identite_trace.c
        return list(self._s.scalars(sa.select(TraceIdentite).where(c.patient_id == patient_id)
                                    .order_by(c.at, c.id)))

    def add_recherche(self, recherche: RechercheInsi) -> None:
        self._s.add(recherche)

    def get_recherche(self, recherche_id: int) -> RechercheInsi:
        found = self._s.get(RechercheInsi, recherche_id)
        if found is None:
            raise NotFound(f"Recherche INSi {recherche_id} introuvable.")
        return found

    def claim_recherche(self, recherche_id: int) -> RechercheInsi | None:
        """The look-up, locked for this transaction; None when another worker holds it (PostgreSQL). SQLite
        serialises writers, so a plain read is enough there."""
        stmt: Any = sa.select(RechercheInsi).where(t.insi_recherche.c.id == recherche_id)
        if self._s.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        return self._s.scalars(stmt).first()

    def recherches(self, patient_id: int) -> list[RechercheInsi]:
        c = t.insi_recherche.c
        return list(self._s.scalars(sa.select(RechercheInsi).where(c.patient_id == patient_id).order_by(c.id)))

    def recherches_dues(self, now: dt.datetime, limit: int = 50) -> list[RechercheInsi]:
        c = t.insi_recherche.c
        stmt: Any = (sa.select(RechercheInsi)
                     .where(c.statut == StatutRecherche.EN_ATTENTE, c.prochaine_tentative_at <= now)
                     .order_by(c.prochaine_tentative_at, c.id).limit(limit))
        if self._s.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)  # several workers share the queue
        return list(self._s.scalars(stmt))

    def add_conflit(self, conflit: ConflitIdentite) -> None:
        self._s.add(conflit)

    def get_conflit(self, conflit_id: int) -> ConflitIdentite:
        found = self._s.get(ConflitIdentite, conflit_id)
        if found is None:
            raise NotFound(f"Conflit d'identité {conflit_id} introuvable.")
        return found

    def conflits(self, statut: StatutConflit, limit: int = 100) -> list[ConflitIdentite]:
        c = t.identite_conflit.c
        return list(self._s.scalars(sa.select(ConflitIdentite).where(c.statut == statut)
                                    .order_by(c.at.desc(), c.id.desc()).limit(limit)))

    def conflits_patient(self, patient_id: int) -> list[ConflitIdentite]:
        c = t.identite_conflit.c
        return list(self._s.scalars(sa.select(ConflitIdentite).where(c.patient_id == patient_id).order_by(c.id)))

    def candidats_doublons(self, patient: Patient, limit: int = 200) -> list[Patient]:
        """Identities that may be the same person: same birth date or day/month swapped (indexed), or same
        birth/used name key. The tolerant scoring is ``orientation_core.identite.doublons``."""
        p = t.patient.c
        d = patient.date_naissance
        dates = [d]
        if d.day <= 12 and d.day != d.month:  # both ≤ 12: the swapped date always exists
            dates.append(d.replace(month=d.day, day=d.month))
        nom = patient.nom_naissance_recherche.split(" ")[0] if patient.nom_naissance_recherche else ""
        clauses: list[sa.ColumnElement[bool]] = [p.date_naissance.in_(dates)]
        e = t.identite_etat.c
        mine = sa.select(e.ins_matricule).where(e.patient_id == patient.id, e.ins_matricule != "")
        clauses.append(p.id.in_(sa.select(e.patient_id).where(e.ins_matricule.in_(mine.scalar_subquery()))))
        if nom:
            clauses.append(p.nom_naissance_recherche.like(f"{nom} %"))
            clauses.append(p.nom_recherche.like(f"{nom} %"))
        stmt = (sa.select(Patient).where(sa.or_(*clauses), p.id != patient.id, p.merged_into_id.is_(None))
                .order_by(p.id).limit(limit))
        return list(self._s.scalars(stmt))

    def ins_connus(self, patient_ids: Sequence[int]) -> dict[int, str]:
        """The INS known for these identities (retrieved from INSi or qualified), as 15-character values."""
        if not patient_ids:
            return {}
        e = t.identite_etat.c
        rows = self._s.execute(sa.select(e.patient_id, e.ins_matricule, e.ins_cle)
                               .where(e.patient_id.in_(list(patient_ids)), e.ins_matricule != ""))
        return {int(r.patient_id): f"{r.ins_matricule}{r.ins_cle}" for r in rows}
