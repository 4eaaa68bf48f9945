"""Accounts, one-time codes, sign-in attempts, account history, assistant invitations, the médecin libéral lists
(``uow.accounts``); and the mapping that keeps ``dossier.medecin_traitant_idnps`` in step with the volets."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from orientation_core.dossier.model import Dossier
from orientation_core.dossier.volets import Module
from orientation_core.people.accounts import CodeConnexion, Compte, EvenementCompte, TentativeConnexion
from orientation_core.people.liberal import DossierLiberal, Reponse, medecin_traitant_idnps
from orientation_core.people.model import User
from orientation_core.persistence import tables as t
from orientation_core.persistence.repositories import _search_clause


def map_accounts(m: Callable[..., Any]) -> None:
    """Called once by ``start_mappers``."""
    m(Compte, t.compte)
    m(CodeConnexion, t.code_connexion)
    m(TentativeConnexion, t.tentative_connexion)
    m(EvenementCompte, t.evenement_compte)

    def _sync(_mapper: Any, _conn: Any, target: Dossier) -> None:
        target.medecin_traitant_idnps = medecin_traitant_idnps(target.module, target.volets)  # type: ignore[attr-defined]

    event.listen(Dossier, "before_insert", _sync)
    event.listen(Dossier, "before_update", _sync)


class SqlAccounts:
    def __init__(self, session: Session) -> None:
        self._s = session

    # --- account ------------------------------------------------------------------------------------------------
    def get(self, user_id: int) -> Compte | None:
        return self._s.get(Compte, user_id)

    def get_many(self, user_ids: Sequence[int]) -> dict[int, Compte]:
        """The sign-in records of several users in one statement (account lists)."""
        if not user_ids:
            return {}
        rows = self._s.scalars(sa.select(Compte).where(t.compte.c.user_id.in_(list(user_ids))))
        return {c.user_id: c for c in rows}

    def add(self, compte: Compte) -> None:
        self._s.add(compte)

    def add_event(self, evenement: EvenementCompte) -> None:
        self._s.add(evenement)

    def events(self, user_id: int, limit: int = 200) -> list[EvenementCompte]:
        e = t.evenement_compte.c
        return list(self._s.scalars(sa.select(EvenementCompte).where(e.user_id == user_id)
                                    .order_by(e.at.desc(), e.id.desc()).limit(limit)))

    # --- codes and attempts -------------------------------------------------------------------------------------
    def add_code(self, code: CodeConnexion) -> None:
        self._s.add(code)

    def latest_code(self, user_id: int) -> CodeConnexion | None:
        """Locked on PostgreSQL until commit: concurrent guesses of one code are counted one after the other."""
        c = t.code_connexion.c
        stmt: Any = (sa.select(CodeConnexion).where(c.user_id == user_id)
                     .order_by(c.created_at.desc(), c.id.desc()).limit(1))
        if self._s.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        return self._s.scalars(stmt).first()

    def live_codes(self, user_id: int) -> list[CodeConnexion]:
        c = t.code_connexion.c
        return list(self._s.scalars(sa.select(CodeConnexion).where(
            c.user_id == user_id, c.used_at.is_(None), c.invalidated_at.is_(None))))

    def codes_sent_since(self, user_id: int, since: dt.datetime) -> int:
        c = t.code_connexion.c
        return int(self._s.scalar(sa.select(sa.func.count()).where(c.user_id == user_id, c.created_at >= since))
                   or 0)

    def add_attempt(self, attempt: TentativeConnexion) -> None:
        self._s.add(attempt)

    def failures_from_ip(self, ip: str, since: dt.datetime) -> int:
        a = t.tentative_connexion.c
        return int(self._s.scalar(sa.select(sa.func.count()).where(
            a.ip == ip, a.at > since, a.succes.is_(False))) or 0)

    # --- assistant invitations ----------------------------------------------------------------------------------
    def add_invitation(self, delegation_id: int, token_hash: str, at: dt.datetime) -> None:
        self._s.execute(sa.insert(t.invitation_delegation).values(delegation_id=delegation_id,
                                                                   token_hash=token_hash, created_at=at))

    def invitation(self, token_hash: str) -> tuple[int, dt.datetime | None] | None:
        i = t.invitation_delegation.c
        row = self._s.execute(sa.select(i.delegation_id, i.used_at).where(i.token_hash == token_hash)).first()
        return (int(row[0]), row[1]) if row is not None else None

    def use_invitation(self, token_hash: str, at: dt.datetime) -> None:
        i = t.invitation_delegation.c
        self._s.execute(sa.update(t.invitation_delegation).where(i.token_hash == token_hash).values(used_at=at))

    # --- directory of users (confrère search) -------------------------------------------------------------------
    def search_users(self, nom: str, code_postal: str = "", *, medecins: bool = False, limit: int = 20) -> list[User]:
        u = t.utilisateur.c
        stmt = sa.select(User).where(u.actif.is_(True), sa.func.lower(u.nom).like(nom.strip().lower() + "%"))
        if code_postal.strip():
            stmt = stmt.where(u.code_postal == code_postal.strip())
        if medecins:
            stmt = stmt.where(u.profession == "medecin", u.identifiant_national.is_not(None))
        return list(self._s.scalars(stmt.order_by(u.nom, u.prenom).limit(limit)))

    # --- médecin libéral ----------------------------------------------------------------------------------------
    def set_reponse(self, dossier_id: int, user_id: int, statut: str, at: dt.datetime) -> None:
        r = t.medecin_traitant_reponse.c
        updated = self._s.execute(sa.update(t.medecin_traitant_reponse).where(
            r.dossier_id == dossier_id, r.user_id == user_id).values(statut=statut, at=at))
        if not getattr(updated, "rowcount", 0):
            self._s.execute(sa.insert(t.medecin_traitant_reponse).values(dossier_id=dossier_id, user_id=user_id,
                                                                         statut=statut, at=at))

    def dossiers_medecin_traitant(self, idnps: str, user_id: int, *, recherche: str = "",
                                  include_owned: bool = False, limit: int = 200) -> list[DossierLiberal]:
        d, r = t.dossier.c, t.medecin_traitant_reponse.c
        joined = t.dossier.outerjoin(t.medecin_traitant_reponse,
                                     sa.and_(r.dossier_id == d.id, r.user_id == user_id))
        mine = d.medecin_traitant_idnps == idnps
        if include_owned:
            mine = sa.or_(mine, d.owner_user_id == user_id)
        stmt = sa.select(d.id, d.numero, d.module, d.patient_nom_affiche, d.etat, d.created_at, r.statut,
                         d.medecin_traitant_idnps, d.owner_user_id).select_from(joined).where(mine)
        if recherche.strip():  # a dossier number, or a name prefix (birth or used name), as on the dashboard
            stmt = stmt.where(_search_clause(recherche, d.numero, d.patient_nom_recherche,
                                             d.patient_nom_naissance_recherche))
        rows = self._s.execute(stmt.order_by(d.created_at.desc(), d.id.desc()).limit(limit)).all()
        return [DossierLiberal(dossier_id=row[0], numero=row[1], module=Module(row[2]), patient=row[3],
                               etat=str(getattr(row[4], "value", row[4])), created_at=row[5],
                               reponse=Reponse(row[6]) if row[6] else Reponse.EN_ATTENTE,
                               medecin_traitant=row[7] == idnps, owner_user_id=row[8])
                for row in rows]
