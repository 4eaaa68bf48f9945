"""All SQL of the application. Each repository serves one port of ``orientation_core.ports``."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from orientation_core.dashboard import (
    DemandeRow,
    DemandeSummary,
    DossierRow,
    Page,
    PrescripteurQuery,
    ReceveurQuery,
)
from orientation_core.demande.model import Demande
from orientation_core.demande.workflow import PROPOSITIONS, Actor, Status
from orientation_core.directory.model import Etablissement, TypeUnite, Unite
from orientation_core.dossier.model import OPEN_ETATS, Dossier, EtatDossier, PieceJointe, Section
from orientation_core.dossier.volets import Module
from orientation_core.errors import NotFound
from orientation_core.history import HistoryEvent, Notification, OutboxMessage
from orientation_core.patients.model import (
    Identifiant,
    Mouvement,
    Patient,
    PatientContexte,
    Sejour,
    StatutIdentite,
    TypeIdentifiantPatient,
    normalize_name,
)
from orientation_core.people.model import Delegation, Habilitation, Role, User
from orientation_core.persistence import tables as t
from orientation_core.timers import TimerPolicy

E = TypeVar("E")
_NUMERO = re.compile(r"^[SG]?\d{1,8}$")


def _get(session: Session, cls: type[E], ident: int, label: str) -> E:
    found = session.get(cls, ident)
    if found is None:
        raise NotFound(f"{label} {ident} introuvable.", details={"id": ident})
    return found


class SqlDirectory:
    def __init__(self, session: Session) -> None:
        self._s = session

    def add_etablissement(self, etablissement: Etablissement) -> None:
        self._s.add(etablissement)

    def get_etablissement(self, etablissement_id: int) -> Etablissement:
        return _get(self._s, Etablissement, etablissement_id, "Établissement")

    def etablissement_by_finess(self, finess: str) -> Etablissement | None:
        return self._s.scalars(sa.select(Etablissement).where(t.etablissement.c.finess == finess)).first()

    def list_etablissements(self) -> list[Etablissement]:
        return list(self._s.scalars(sa.select(Etablissement).order_by(t.etablissement.c.nom)))

    def add_unite(self, unite: Unite) -> None:
        self._s.add(unite)

    def get_unite(self, unite_id: int) -> Unite:
        return _get(self._s, Unite, unite_id, "Unité")

    def unites(self, ids: Sequence[int]) -> dict[int, Unite]:
        if not ids:
            return {}
        rows = self._s.scalars(sa.select(Unite).where(t.unite.c.id.in_(list(ids))))
        return {u.id: u for u in rows if u.id is not None}

    def unite_by_code(self, etablissement_id: int, code_uf: str) -> Unite | None:
        return self._s.scalars(sa.select(Unite).where(
            t.unite.c.etablissement_id == etablissement_id, t.unite.c.code_uf == code_uf)).first()

    def search_unites(self, *, types: Sequence[TypeUnite] = (), etablissement_id: int | None = None,
                      besoins: Sequence[str] = (), actif: bool = True, limit: int = 500) -> list[Unite]:
        stmt = sa.select(Unite).where(t.unite.c.actif == actif)
        if types:
            stmt = stmt.where(t.unite.c.type.in_(list(types)))
        if etablissement_id is not None:
            stmt = stmt.where(t.unite.c.etablissement_id == etablissement_id)
        rows = list(self._s.scalars(stmt.order_by(t.unite.c.nom).limit(limit)))
        if besoins:  # JSON containment differs per store; the candidate list is small
            rows = [u for u in rows if set(besoins) <= set(u.besoins_acceptes)]
        return rows


class SqlUsers:
    def __init__(self, session: Session) -> None:
        self._s = session

    def add(self, user: User) -> None:
        self._s.add(user)

    def get(self, user_id: int) -> User:
        return _get(self._s, User, user_id, "Utilisateur")

    def by_login(self, login: str) -> User | None:
        c = t.utilisateur.c
        return self._s.scalars(sa.select(User).where(
            sa.or_(c.identifiant_national == login, c.identifiant_local == login))).first()

    def list_users(self, etablissement_id: int | None = None) -> list[User]:
        stmt = sa.select(User).order_by(t.utilisateur.c.nom, t.utilisateur.c.prenom)
        if etablissement_id is not None:
            stmt = stmt.where(t.utilisateur.c.id.in_(sa.select(t.habilitation.c.user_id).where(
                t.habilitation.c.etablissement_id == etablissement_id)))
        return list(self._s.scalars(stmt))

    def habilitations(self, user_id: int) -> list[Habilitation]:
        return list(self._s.scalars(sa.select(Habilitation).where(t.habilitation.c.user_id == user_id)
                                    .order_by(t.habilitation.c.id)))

    def habilitations_of(self, user_ids: Sequence[int]) -> dict[int, list[Habilitation]]:
        """The habilitations of several users in one statement (account lists: no query per user)."""
        out: dict[int, list[Habilitation]] = {i: [] for i in user_ids}
        if user_ids:
            for h in self._s.scalars(sa.select(Habilitation).where(t.habilitation.c.user_id.in_(list(user_ids)))
                                     .order_by(t.habilitation.c.id)):
                out.setdefault(h.user_id, []).append(h)
        return out

    def add_habilitation(self, habilitation: Habilitation) -> None:
        self._s.add(habilitation)

    def get_habilitation(self, habilitation_id: int) -> Habilitation:
        return _get(self._s, Habilitation, habilitation_id, "Habilitation")

    def remove_habilitation(self, habilitation: Habilitation) -> None:
        self._s.delete(habilitation)

    def holders(self, unite_id: int, roles: Sequence[Role]) -> list[User]:
        h = t.habilitation.c
        return list(self._s.scalars(sa.select(User).where(t.utilisateur.c.actif.is_(True), t.utilisateur.c.id.in_(
            sa.select(h.user_id).where(h.unite_id == unite_id, h.role.in_(list(roles)))))))

    def referents(self, etablissement_id: int) -> list[User]:
        h = t.habilitation.c
        return list(self._s.scalars(sa.select(User).where(t.utilisateur.c.id.in_(
            sa.select(h.user_id).where(h.etablissement_id == etablissement_id, h.role == Role.REFERENT)))))

    def delegations_received(self, user_id: int) -> list[Delegation]:
        return list(self._s.scalars(sa.select(Delegation).where(t.delegation.c.delegataire_id == user_id)))

    def delegations_given(self, user_id: int) -> list[Delegation]:
        return list(self._s.scalars(sa.select(Delegation).where(t.delegation.c.delegant_id == user_id)
                                    .order_by(t.delegation.c.id)))

    def add_delegation(self, delegation: Delegation) -> None:
        self._s.add(delegation)

    def get_delegation(self, delegation_id: int) -> Delegation:
        return _get(self._s, Delegation, delegation_id, "Délégation")

    def delegates_of(self, delegant_id: int, now: dt.datetime) -> list[User]:
        d = t.delegation.c
        return list(self._s.scalars(sa.select(User).where(t.utilisateur.c.id.in_(sa.select(d.delegataire_id).where(
            d.delegant_id == delegant_id, d.revoked_at.is_(None), d.accepted_at.is_not(None),
            d.debut <= now, d.fin > now)))))


class SqlPatients:
    def __init__(self, session: Session) -> None:
        self._s = session

    def add(self, patient: Patient) -> None:
        self._s.add(patient)

    def get(self, patient_id: int) -> Patient:
        return _get(self._s, Patient, patient_id, "Patient")

    def by_identifier(self, type_: TypeIdentifiantPatient, valeur: str, autorite: str = "") -> Patient | None:
        i = t.patient_identifiant.c
        return self._s.scalars(sa.select(Patient).where(t.patient.c.id.in_(
            sa.select(i.patient_id).where(i.type == type_, i.valeur == valeur, i.autorite == autorite)))).first()

    def identifiers(self, patient_id: int) -> list[Identifiant]:
        return list(self._s.scalars(sa.select(Identifiant).where(t.patient_identifiant.c.patient_id == patient_id)))

    def get_many(self, patient_ids: Sequence[int]) -> dict[int, Patient]:
        """Several patients in one statement per thousand ids (exports, lists): never one query per row."""
        found: dict[int, Patient] = {}
        ids = sorted(set(patient_ids))
        for start in range(0, len(ids), 1000):
            for patient in self._s.scalars(sa.select(Patient).where(t.patient.c.id.in_(ids[start:start + 1000]))):
                found[patient.id or 0] = patient
        return found

    def identifiers_of(self, patient_ids: Sequence[int]) -> dict[int, list[Identifiant]]:
        found: dict[int, list[Identifiant]] = {}
        ids = sorted(set(patient_ids))
        column = t.patient_identifiant.c.patient_id
        for start in range(0, len(ids), 1000):
            for ident in self._s.scalars(sa.select(Identifiant).where(column.in_(ids[start:start + 1000]))):
                found.setdefault(ident.patient_id, []).append(ident)
        return found

    def add_identifier(self, identifiant: Identifiant) -> None:
        self._s.add(identifiant)

    def remove_identifier(self, identifiant: Identifiant) -> None:
        self._s.delete(identifiant)

    def add_sejour(self, sejour: Sejour) -> None:
        self._s.add(sejour)

    def sejours(self, patient_id: int) -> list[Sejour]:
        return list(self._s.scalars(sa.select(Sejour).where(t.sejour.c.patient_id == patient_id)
                                    .order_by(t.sejour.c.id)))

    def sejour_by_nda(self, etablissement_id: int, nda: str) -> Sejour | None:
        return self._s.scalars(sa.select(Sejour).where(
            t.sejour.c.etablissement_id == etablissement_id, t.sejour.c.nda == nda)).first()

    # --- registry (HL7 / FHIR pipeline): movement history and DPI context --------------------------------------
    def add_mouvement(self, mouvement: Mouvement) -> None:
        self._s.add(mouvement)

    def mouvements(self, sejour_id: int) -> list[Mouvement]:
        return list(self._s.scalars(sa.select(Mouvement).where(t.mouvement.c.sejour_id == sejour_id)
                                    .order_by(t.mouvement.c.id)))

    def mouvements_of_patient(self, patient_id: int) -> list[Mouvement]:
        return list(self._s.scalars(sa.select(Mouvement).where(t.mouvement.c.patient_id == patient_id)
                                    .order_by(t.mouvement.c.id)))

    def contextes(self, patient_id: int) -> list[PatientContexte]:
        return list(self._s.scalars(sa.select(PatientContexte).where(t.patient_contexte.c.patient_id == patient_id)
                                    .order_by(t.patient_contexte.c.source)))

    def add_contexte(self, contexte: PatientContexte) -> None:
        self._s.add(contexte)

    def remove_contexte(self, contexte: PatientContexte) -> None:
        self._s.delete(contexte)


def section_clause(section: Section, today: dt.date) -> sa.ColumnElement[bool]:
    """SQL mirror of ``Dossier.section``."""
    d = t.dossier.c
    if section is Section.ARCHIVEES:
        return d.etat == EtatDossier.ARCHIVE
    if section is Section.ANNULEES:
        return d.etat == EtatDossier.ANNULE
    if section is Section.PATIENTS_SORTIS:
        return d.etat == EtatDossier.ADMIS
    open_ = d.etat.in_(list(OPEN_ETATS))
    home = sa.and_(d.retour_domicile_date.is_not(None), d.retour_domicile_date <= today)
    if section is Section.RETOUR_DOMICILE:
        return sa.and_(open_, home)
    not_home = sa.or_(d.retour_domicile_date.is_(None), d.retour_domicile_date > today)
    anticipee = d.anticipee.is_(True) if section is Section.ANTICIPEES else d.anticipee.is_(False)
    return sa.and_(open_, not_home, anticipee)


def _search_clause(text: str, numero: sa.ColumnElement[str], nom: sa.ColumnElement[str],
                   nom_naissance: sa.ColumnElement[str]) -> sa.ColumnElement[bool]:
    value = text.strip().upper()
    if _NUMERO.match(value):
        digits = value.lstrip("SG")
        candidates = [value] if value[0] in "SG" else [f"S{int(digits):08d}", f"G{int(digits):08d}"]
        if value[0] in "SG" and len(digits) < 8:
            candidates = [f"{value[0]}{int(digits):08d}"]
        return numero.in_(candidates)
    key = normalize_name(text)
    pattern = key.replace("\\", "").replace("%", "").replace("_", "") + "%"
    return sa.or_(nom.like(pattern), nom_naissance.like(pattern))


class SqlDossiers:
    def __init__(self, session: Session, timers: TimerPolicy) -> None:
        self._s = session
        self._timers = timers

    def add(self, dossier: Dossier) -> None:
        self._s.add(dossier)

    def get(self, dossier_id: int) -> Dossier:
        return _get(self._s, Dossier, dossier_id, "Dossier")

    def by_numero(self, numero: str) -> Dossier | None:
        return self._s.scalars(sa.select(Dossier).where(t.dossier.c.numero == numero.strip().upper())).first()

    def for_patient(self, patient_id: int) -> list[Dossier]:
        return list(self._s.scalars(sa.select(Dossier).where(t.dossier.c.patient_id == patient_id)
                                    .order_by(t.dossier.c.id)))

    def patients_with_open_dossiers(self, patient_ids: Sequence[int]) -> set[int]:
        """Which of these patients have a dossier still open (what a DPI update may refresh): one query."""
        if not patient_ids:
            return set()
        d = t.dossier.c
        return set(self._s.scalars(sa.select(d.patient_id).distinct().where(
            d.patient_id.in_(sorted(set(patient_ids))), d.etat.in_(sorted(OPEN_ETATS)))))

    def add_piece_jointe(self, piece: PieceJointe) -> None:
        self._s.add(piece)

    def pieces_jointes(self, dossier_id: int) -> list[PieceJointe]:
        return list(self._s.scalars(sa.select(PieceJointe).where(t.piece_jointe.c.dossier_id == dossier_id)
                                    .order_by(t.piece_jointe.c.id)))

    def get_piece_jointe(self, piece_id: int) -> PieceJointe | None:
        return self._s.get(PieceJointe, piece_id)

    def save_contenu(self, piece_id: int, contenu: bytes) -> None:
        self._s.execute(sa.insert(t.piece_jointe_contenu).values(piece_jointe_id=piece_id, contenu=contenu))

    def contenu(self, piece_id: int) -> bytes | None:
        found: bytes | None = self._s.scalar(sa.select(t.piece_jointe_contenu.c.contenu)
                                             .where(t.piece_jointe_contenu.c.piece_jointe_id == piece_id))
        return found

    def prescripteur_dashboard(self, query: PrescripteurQuery) -> Page[DossierRow]:
        d, dm = t.dossier.c, t.demande.c
        scope: list[sa.ColumnElement[bool]] = []
        if query.unite_ids:
            scope.append(d.unite_id.in_(sorted(query.unite_ids)))
        if query.owner_ids:
            scope.append(d.owner_user_id.in_(sorted(query.owner_ids)))
        if not scope:
            return Page([], query.page, query.page_size, False)
        stmt = sa.select(t.dossier).where(sa.or_(*scope), section_clause(query.section, query.today))
        if query.module is not None:
            stmt = stmt.where(d.module == query.module)
        if query.statuts:
            stmt = stmt.where(sa.exists().where(dm.dossier_id == d.id, dm.statut.in_(sorted(query.statuts))))
        if query.recherche:
            stmt = stmt.where(_search_clause(query.recherche, d.numero, d.patient_nom_recherche,
                                             d.patient_nom_naissance_recherche))
        stmt = (stmt.order_by(d.derniere_action_at.desc(), d.id.desc())
                .offset((query.page - 1) * query.page_size).limit(query.page_size + 1))
        rows = self._s.execute(stmt).mappings().all()
        has_next = len(rows) > query.page_size
        rows = rows[: query.page_size]
        summaries = self._demande_summaries([r["id"] for r in rows], query.now)
        statuts = self._statuts_identite({r["patient_id"] for r in rows})
        items = [
            DossierRow(
                dossier_id=r["id"], numero=r["numero"], module=r["module"], patient_nom=r["patient_nom_affiche"],
                etat=r["etat"].value, section=query.section, type_orientation=r["type_orientation"],
                anticipee=r["anticipee"], retour_domicile_date=r["retour_domicile_date"],
                derniere_action_at=r["derniere_action_at"], pieces_jointes=r["nb_pieces_jointes"] > 0,
                bloc_note=r["bloc_note"], dossier_lie_id=r["dossier_lie_id"],
                relance_auto=r["relance_auto_at"] is not None, demandes=summaries.get(r["id"], []),
                patient_statut_identite=statuts.get(r["patient_id"], StatutIdentite.PROVISOIRE).value,
                unite_id=r["unite_id"], nb_pieces_jointes=r["nb_pieces_jointes"], relance_auto_at=r["relance_auto_at"],
                patient_id=r["patient_id"],
            )
            for r in rows
        ]
        return Page(items, query.page, query.page_size, has_next)

    def _statuts_identite(self, patient_ids: set[int]) -> dict[int, StatutIdentite]:
        """The identity status of the page's patients: one primary-key look-up, not a join in the ranked query."""
        if not patient_ids:
            return {}
        p = t.patient.c
        return {row.id: StatutIdentite(row.statut_identite) for row in self._s.execute(
            sa.select(p.id, p.statut_identite).where(p.id.in_(sorted(patient_ids))))}

    def _demande_summaries(self, dossier_ids: list[int], now: dt.datetime) -> dict[int, list[DemandeSummary]]:
        if not dossier_ids:
            return {}
        stmt = (sa.select(Demande, t.unite.c.nom).join(t.unite, t.unite.c.id == t.demande.c.unite_id)
                .where(t.demande.c.dossier_id.in_(dossier_ids)).order_by(t.demande.c.id))
        out: dict[int, list[DemandeSummary]] = {}
        for demande, unite_nom in self._s.execute(stmt).all():
            assert demande.id is not None
            out.setdefault(demande.dossier_id, []).append(DemandeSummary(
                demande.id, demande.unite_id, unite_nom, demande.statut,
                demande.relance_possible(Actor.PRESCRIPTEUR, now, self._timers)))
        return out

    def due_relance_auto(self, cutoff: dt.datetime) -> list[Dossier]:
        d, dm = t.dossier.c, t.demande.c
        return list(self._s.scalars(sa.select(Dossier).where(
            d.etat == EtatDossier.ENVOYE, d.relance_auto_at.is_(None), d.derniere_action_at <= cutoff,
            sa.exists().where(dm.dossier_id == d.id, dm.statut.in_(sorted(PROPOSITIONS))),
        ).order_by(d.id)))

    def due_annulation_auto(self, cutoff: dt.datetime) -> list[Dossier]:
        d = t.dossier.c
        return list(self._s.scalars(sa.select(Dossier).where(
            d.relance_auto_at.is_not(None), d.relance_auto_at <= cutoff, d.etat.in_(list(OPEN_ETATS)),
        ).order_by(d.id)))

    def due_archivage(self, cutoff: dt.datetime) -> list[Dossier]:
        d = t.dossier.c
        return list(self._s.scalars(sa.select(Dossier).where(d.etat == EtatDossier.ANNULE, d.annule_at <= cutoff)
                                    .order_by(d.id)))

    def refresh_patient_name(self, patient: Patient) -> None:
        self._s.execute(sa.update(t.dossier).where(t.dossier.c.patient_id == patient.id).values(
            patient_nom_affiche=patient.nom_affiche, patient_nom_recherche=patient.nom_recherche,
            patient_nom_naissance_recherche=patient.nom_naissance_recherche,
        ).execution_options(synchronize_session="fetch"))


class SqlDemandes:
    def __init__(self, session: Session) -> None:
        self._s = session

    def add(self, demande: Demande) -> None:
        self._s.add(demande)

    def get(self, demande_id: int) -> Demande:
        return _get(self._s, Demande, demande_id, "Demande")

    def for_dossier(self, dossier_id: int) -> list[Demande]:
        return list(self._s.scalars(sa.select(Demande).where(t.demande.c.dossier_id == dossier_id)
                                    .order_by(t.demande.c.id)))

    def receveur_list(self, query: ReceveurQuery) -> Page[DemandeRow]:
        dm, d, u, e = t.demande.c, t.dossier.c, t.unite.c, t.etablissement.c
        if not query.unite_ids:
            return Page([], query.page, query.page_size, False)
        def status_filter(stmt: sa.Select[Any]) -> sa.Select[Any]:
            stmt = stmt.where(dm.statut != Status.EN_REDACTION)  # a draft is never shown to a receiving unit
            if query.statuts:
                return stmt.where(dm.statut.in_(sorted(query.statuts)))
            return stmt.where(dm.statut != Status.ARCHIVEE)

        stmt: sa.Select[Any] = (
            sa.select(dm.id, dm.dossier_id, d.numero, d.module, d.patient_nom_affiche, dm.unite_id,
                      u.nom.label("unite_nom"), dm.statut, dm.statut_at, dm.envoyee_at, d.type_orientation,
                      e.nom.label("etablissement_nom"), t.patient.c.statut_identite, dm.relance_receveur_at,
                      dm.relance_prescripteur_at)
            .join(t.dossier, d.id == dm.dossier_id)
            .join(t.patient, t.patient.c.id == d.patient_id)
            .join(t.unite, u.id == dm.unite_id)
            .outerjoin(t.etablissement, e.id == d.etablissement_id)
        )
        wanted = query.page * query.page_size + 1
        if query.recherche:
            stmt = status_filter(stmt.where(dm.unite_id.in_(sorted(query.unite_ids)))).where(
                _search_clause(query.recherche, d.numero, d.patient_nom_recherche, d.patient_nom_naissance_recherche))
        else:
            # The newest rows of each unit first (one short index range scan per unit), then merge: the cost
            # stays that of one page however long the units' history grows.
            per_unit = [
                sa.select(status_filter(sa.select(dm.id).where(dm.unite_id == unite_id))
                          .order_by(dm.statut_at.desc(), dm.id.desc()).limit(wanted).subquery())
                for unite_id in sorted(query.unite_ids)
            ]
            newest = sa.union_all(*per_unit).subquery() if len(per_unit) > 1 else per_unit[0].subquery()
            stmt = stmt.where(dm.id.in_(sa.select(newest.c.id)))
        stmt = (stmt.order_by(dm.statut_at.desc(), dm.id.desc())
                .offset((query.page - 1) * query.page_size).limit(query.page_size + 1))
        rows = self._s.execute(stmt).all()
        items = [
            DemandeRow(demande_id=r.id, dossier_id=r.dossier_id, numero=r.numero, module=Module(r.module),
                       patient_nom=r.patient_nom_affiche, unite_id=r.unite_id, unite_nom=r.unite_nom,
                       statut=Status(r.statut), statut_at=r.statut_at, envoyee_at=r.envoyee_at,
                       type_orientation=r.type_orientation, etablissement_demandeur=r.etablissement_nom or "",
                       patient_statut_identite=StatutIdentite(r.statut_identite).value,
                       relance_receveur_at=r.relance_receveur_at, relance_prescripteur_at=r.relance_prescripteur_at)
            for r in rows[: query.page_size]
        ]
        return Page(items, query.page, query.page_size, len(rows) > query.page_size)

    def due_annulation_after_relance(self, cutoff: dt.datetime) -> list[Demande]:
        dm, d = t.demande.c, t.dossier.c
        return list(self._s.scalars(
            sa.select(Demande).join(t.dossier, d.id == dm.dossier_id).where(
                dm.statut == Status.ACCEPTEE, dm.relance_prescripteur_at.is_not(None),
                dm.relance_prescripteur_at <= cutoff, d.etat.in_(list(OPEN_ETATS)),
                sa.or_(d.derniere_action_prescripteur_at.is_(None),
                       d.derniere_action_prescripteur_at < dm.relance_prescripteur_at),
            ).order_by(dm.id)))

    def due_archivage(self, cutoff: dt.datetime, statuts: Sequence[Status]) -> list[Demande]:
        dm = t.demande.c
        return list(self._s.scalars(sa.select(Demande).where(
            dm.statut.in_(list(statuts)), dm.annulee_at.is_not(None), dm.annulee_at <= cutoff).order_by(dm.id)))


class SqlHistory:
    def __init__(self, session: Session) -> None:
        self._s = session

    def add(self, event: HistoryEvent) -> None:
        self._s.add(event)

    def for_dossier(self, dossier_id: int) -> list[HistoryEvent]:
        h = t.history_event.c
        return list(self._s.scalars(sa.select(HistoryEvent).where(h.dossier_id == dossier_id)
                                    .order_by(h.at, h.id)))


class SqlOutbox:
    def __init__(self, session: Session) -> None:
        self._s = session
        self.added = 0

    def add(self, message: OutboxMessage) -> None:
        self._s.add(message)
        self.added += 1

    def pending(self, limit: int = 100, *, mail: bool = False) -> list[OutboxMessage]:
        """Undelivered messages: notifications by default, e-mails (kind "mail", gateway/mail.py) with ``mail``."""
        o = t.outbox.c
        stmt: Any = (sa.select(OutboxMessage).where(o.dispatched_at.is_(None), (o.kind == "mail") if mail
                                                    else (o.kind != "mail")).order_by(o.id).limit(limit))
        if self._s.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)  # several workers share the outbox
        return list(self._s.scalars(stmt))


class SqlNotifications:
    def __init__(self, session: Session) -> None:
        self._s = session

    def add(self, notification: Notification) -> None:
        self._s.add(notification)

    def for_user(self, user_id: int, *, unread_only: bool = False, limit: int = 50) -> list[Notification]:
        n = t.notification.c
        stmt = sa.select(Notification).where(n.user_id == user_id)
        if unread_only:
            stmt = stmt.where(n.lu_at.is_(None))
        return list(self._s.scalars(stmt.order_by(n.created_at.desc(), n.id.desc()).limit(limit)))

    def get(self, notification_id: int) -> Notification:
        return _get(self._s, Notification, notification_id, "Notification")
