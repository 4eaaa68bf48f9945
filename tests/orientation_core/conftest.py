"""Fixtures of the orientation_core tests.

* ``store``: a ``UnitOfWorkFactory`` on a database built by the real Alembic migrations (never ``create_all``),
  parametrised over SQLite (a file, migrated once per session) and PostgreSQL (a database of its own per session,
  migrated once, dropped at the end). Every table is emptied before each test.
* ``clock`` / ``env``: a frozen clock and the default delays.
* ``world``: a small directory built through the services (no raw SQL) — see ``World``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from orientation_core.clock import FrozenClock
from orientation_core.demande import service as demande_service
from orientation_core.demande.model import Demande
from orientation_core.directory import service as directory_service
from orientation_core.directory.model import Etablissement, Secteur, TypeUnite, Unite, finess_with_key
from orientation_core.dossier import service as dossier_service
from orientation_core.dossier.model import Dossier
from orientation_core.dossier.volets import Module
from orientation_core.patients import service as patient_service
from orientation_core.patients.model import Patient, Sexe
from orientation_core.people import service as people_service
from orientation_core.people.model import Role, User
from orientation_core.persistence import tables
from orientation_core.persistence.migrate import upgrade
from orientation_core.persistence.uow import SqlUnitOfWork, UnitOfWorkFactory, make_engine
from orientation_core.ports import Env
from orientation_core.timers import TimerPolicy

# ====================================================================================================================
# Stores
# ====================================================================================================================


@pytest.fixture(scope="session")
def _sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path = tmp_path_factory.mktemp("orientation_core_sqlite") / "aiguillage.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def _postgres_engine(migrated_postgres: Callable[[str], str]) -> Iterator[Engine]:
    engine = make_engine(migrated_postgres("test"), pool_size=4)
    yield engine
    engine.dispose()


def _empty(engine: Engine) -> None:
    ordered = list(reversed(tables.metadata.sorted_tables))  # children before parents
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in ordered)
            conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in ordered:
                conn.execute(table.delete())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest) -> UnitOfWorkFactory:
    engine: Engine = request.getfixturevalue(f"_{request.param}_engine")
    _empty(engine)
    return UnitOfWorkFactory(engine, TimerPolicy())


# ====================================================================================================================
# Time
# ====================================================================================================================

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)  # a Monday, 10:00 in Paris


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def env(clock: FrozenClock) -> Env:
    return Env(clock=clock, timers=TimerPolicy())


# ====================================================================================================================
# The world: a directory, people with their habilitations, and helpers to build dossiers
# ====================================================================================================================


def complete_sanitaire_volets(type_orientation: str = "smr") -> dict[str, dict[str, Any]]:
    """Every required field of every Sanitaire volet (dossier/volets.py), identity aside (prefilled)."""
    return {
        "orientation": {
            "objectif_prise_en_charge": "Rééducation après prothèse totale de hanche",
            "type_orientation": type_orientation,
            "accord_patient": True,
        },
        "medical": {
            "pathologie_actuelle": "PTH droite le 02/01",
            "antecedents": "HTA, diabète de type 2",
            "poids_kg": 72,
            "taille_cm": 168,
            "traitements": "Metformine 1 g x2",
            "allergies": "Aucune connue",
        },
        "soins_projet": {
            "soins_infirmiers": "Pansement tous les 2 jours",
            "dependance": "Aide partielle à la toilette",
            "projet": "Retour à domicile après rééducation",
        },
        "administratif_social": {
            "adresse": "12 rue des Lilas, 69003 Lyon",
            "service_demandeur": "Chirurgie orthopédique",
            "date_hospitalisation": "2026-01-02",
            "type_logement": "Appartement, 2e étage avec ascenseur",
        },
        "pieces_jointes": {"verifiees": True},
    }


@dataclass
class World:
    """Ids of what the builder created, and helpers that each run in their own transaction (as an edge would)."""

    store: UnitOfWorkFactory
    env: Env
    clock: FrozenClock
    admin: int
    etab_req: int  # requesting établissement (MCO)
    mco: int
    mco2: int  # a second requesting unit of the same établissement (transfers)
    etab_rec: int  # receiving établissement
    smr1: int
    smr2: int
    had: int
    ehpad: int
    presc_med: int  # prescripteur médical on the MCO unit
    presc: int  # plain prescripteur on the MCO unit
    receveur: int  # receveur on both SMR units
    receveur_med: int  # receveur médical on SMR 1 only
    referent: int  # référent of the requesting établissement
    liberal: int  # médecin libéral, no habilitation

    @contextmanager
    def uow(self) -> Iterator[SqlUnitOfWork]:
        with self.store() as uow:
            yield uow

    # --- patients and dossiers ----------------------------------------------------------------------------

    @staticmethod
    def complete_volets(type_orientation: str = "smr") -> dict[str, dict[str, Any]]:
        return complete_sanitaire_volets(type_orientation)

    def patient(self, nom: str = "Lefèvre", prenoms: tuple[str, ...] = ("Marie", "Jeanne"), *,
                nom_utilise: str = "", naissance: dt.date = dt.date(1941, 3, 14), sexe: Sexe = Sexe.F) -> int:
        with self.uow() as uow:
            patient = patient_service.register(uow, self.env, Patient(
                nom_naissance=nom, prenoms=list(prenoms), date_naissance=naissance, sexe=sexe,
                nom_utilise=nom_utilise, adresse="12 rue des Lilas", code_postal="69003", ville="Lyon"))
            assert patient.id is not None
            return patient.id

    def dossier(self, patient_id: int | None = None, *, complete: bool = True, anticipee: bool = False,
                user: int | None = None, unite_id: int | None = None, type_orientation: str = "smr") -> int:
        """A Sanitaire dossier in the MCO unit, every volet filled when ``complete``."""
        user = user or self.presc_med
        patient_id = patient_id or self.patient()
        with self.uow() as uow:
            dossier = dossier_service.creer(uow, self.env, user, Module.SANITAIRE, patient_id,
                                            unite_id=unite_id or self.mco, anticipee=anticipee)
            assert dossier.id is not None
            dossier_id = dossier.id
        if complete:
            self.fill(dossier_id, complete_sanitaire_volets(type_orientation), user=user)
        return dossier_id

    def fill(self, dossier_id: int, volets: dict[str, dict[str, Any]], *, user: int | None = None) -> None:
        with self.uow() as uow:
            for name, values in volets.items():
                dossier_service.modifier_volet(uow, self.env, user or self.presc_med, dossier_id, name, values)

    def send(self, dossier_id: int, *unites: int, user: int | None = None) -> list[int]:
        """Select the units and send the demandes at once; returns the demande ids in the given order."""
        with self.uow() as uow:
            created = demande_service.selectionner(uow, self.env, user or self.presc_med, dossier_id,
                                                   list(unites), envoyer=True)
            return [d.id for d in created if d.id is not None]

    def act(self, user: int, demande_id: int, action: str, **answer: Any) -> Demande:
        with self.uow() as uow:
            return demande_service.agir(uow, self.env, user, demande_id, action, demande_service.Answer(**answer))

    # --- reading back -------------------------------------------------------------------------------------

    def get_dossier(self, dossier_id: int) -> Dossier:
        with self.uow() as uow:
            return uow.dossiers.get(dossier_id)

    def get_demande(self, demande_id: int) -> Demande:
        with self.uow() as uow:
            return uow.demandes.get(demande_id)

    def demandes(self, dossier_id: int) -> dict[int, Demande]:
        """The dossier's demandes by receiving unit."""
        with self.uow() as uow:
            return {d.unite_id: d for d in uow.demandes.for_dossier(dossier_id)}


def _user(uow: SqlUnitOfWork, env: Env, actor: int | None, nom: str, prenom: str, ident: str, *,
          profession: str = "", administrateur: bool = False) -> int:
    user = people_service.create_user(uow, env, actor, User(
        nom=nom, prenom=prenom, email=f"{prenom.lower()}.{nom.lower()}@exemple.fr", identifiant_national=ident,
        profession=profession, administrateur=administrateur))
    assert user.id is not None
    return user.id


def build_world(store: UnitOfWorkFactory, env: Env, clock: FrozenClock) -> World:
    with store() as uow:
        admin = _user(uow, env, None, "Admin", "Alice", "800000000001", administrateur=True)

        def etab(stem: str, nom: str, secteur: Secteur) -> int:
            e = directory_service.create_etablissement(uow, env, admin, Etablissement(
                finess=finess_with_key(stem), nom=nom, secteur=secteur, code_postal="69003", ville="Lyon"))
            assert e.id is not None
            return e.id

        def unite(etablissement_id: int, code: str, nom: str, type_: TypeUnite, **kw: Any) -> int:
            u = directory_service.create_unite(uow, env, admin, Unite(
                etablissement_id=etablissement_id, code_uf=code, nom=nom, type=type_, **kw))
            assert u.id is not None
            return u.id

        etab_req = etab("69000001", "Hôpital Édouard-Herriot", Secteur.SANITAIRE)
        mco = unite(etab_req, "UF1001", "Chirurgie orthopédique", TypeUnite.MCO)
        mco2 = unite(etab_req, "UF1002", "Médecine interne", TypeUnite.MCO)
        etab_rec = etab("69000002", "Centre de rééducation des Massues", Secteur.SANITAIRE)
        smr1 = unite(etab_rec, "UF2001", "SMR locomoteur", TypeUnite.SMR, mention="locomoteur")
        smr2 = unite(etab_rec, "UF2002", "SMR gériatrique", TypeUnite.SMR, mention="geriatrie")
        had = unite(etab_rec, "UF2003", "HAD Lyon Est", TypeUnite.HAD)
        ehpad = unite(etab_rec, "UF2004", "EHPAD Les Tilleuls", TypeUnite.EHPAD)

        referent = _user(uow, env, admin, "Roux", "Rémi", "800000000002")
        presc_med = _user(uow, env, admin, "Bernard", "Paul", "800000000003", profession="medecin")
        presc = _user(uow, env, admin, "Petit", "Léa", "800000000004", profession="infirmier")
        receveur = _user(uow, env, admin, "Moreau", "Inès", "800000000005", profession="secretaire")
        receveur_med = _user(uow, env, admin, "Garnier", "Hugo", "800000000006", profession="medecin")
        liberal = _user(uow, env, admin, "Fontaine", "Claire", "800000000007", profession="medecin")

        people_service.grant(uow, env, admin, referent, Role.REFERENT, etab_req)
        # the référent runs his établissement's habilitations
        people_service.grant(uow, env, referent, presc_med, Role.PRESCRIPTEUR_MEDICAL, etab_req, mco)
        people_service.grant(uow, env, referent, presc, Role.PRESCRIPTEUR, etab_req, mco)
        for u in (smr1, smr2):
            people_service.grant(uow, env, admin, receveur, Role.RECEVEUR, etab_rec, u)
        people_service.grant(uow, env, admin, receveur_med, Role.RECEVEUR_MEDICAL, etab_rec, smr1)
    return World(store=store, env=env, clock=clock, admin=admin, etab_req=etab_req, mco=mco, mco2=mco2,
                 etab_rec=etab_rec, smr1=smr1, smr2=smr2, had=had, ehpad=ehpad, presc_med=presc_med, presc=presc,
                 receveur=receveur, receveur_med=receveur_med, referent=referent, liberal=liberal)


@pytest.fixture
def world(store: UnitOfWorkFactory, env: Env, clock: FrozenClock) -> World:
    return build_world(store, env, clock)
