"""Dashboards at scale: the prescripteur dashboard and the receveur list on PostgreSQL.

Claim (issue): with 100,000 dossiers and 300,000 demandes, p95 of both queries stays within 50 ms and their query
plans use indexes.

Peers in the same run (machines are shared and noisy, so every figure is reported as a ratio):
  * the limit: p95 / 50 ms, per query shape and overall (≤ 1 passes);
  * the same SQL with index scans disabled (``enable_indexscan``, ``enable_bitmapscan``, ``enable_indexonlyscan``
    off on that connection): the speed-up the indexes buy, p50(without) / p50(with).

What is measured is the real code path: ``orientation_core.dossier.service.dashboard`` and
``orientation_core.demande.service.receveur_dashboard`` over ``UnitOfWorkFactory(make_engine(url))``, one unit of
work per call (as one HTTP request), for a rotating set of users and a mix of query shapes. The SQL the repositories
issue is captured (``before_cursor_execute``) during warm-up; it is what EXPLAIN and the no-index peer run.

The data lives in its own database (``aiguillage_bench`` by default), never in the ``test`` database the tests
use. It is dropped and rebuilt at each run, unless ``--reuse`` is given and it already holds the same data set.
The schema comes from the real migrations; the rows are generated (seeded, so every run sees the same data) and
loaded with COPY.

    python benchmarks/dashboard.py [--database-url URL] [--dossiers 100000] [--demandes-per-dossier 3]
                                   [--iterations 300] [--json-out PATH] [--reuse]

The plan verdict covers the custom plan of every rotated user's statement (EXPLAIN ANALYZE): each of dossier and
demande must be reached through an index, never a Seq Scan. The generic plans the server switches to once psycopg
has prepared a statement are reported beside it. ANALYZE samples rows at random, so a plan that is close to a tie
may flip from one load to the next: a FAIL that comes and goes is still a real risk in production.

Exit code 0 whether the targets are met or not; the verdicts are printed (PASS/FAIL) and written to the JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import itertools
import json
import os
import platform
import random
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

# `python benchmarks/dashboard.py` from a checkout that is not installed: make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy import event
from sqlalchemy.engine import make_url

from orientation_core.clock import FrozenClock
from orientation_core.demande import service as demande_service
from orientation_core.demande.workflow import Status
from orientation_core.directory.model import finess_with_key
from orientation_core.dossier import service as dossier_service
from orientation_core.dossier.model import EtatDossier, Section, numero_for
from orientation_core.dossier.volets import Module
from orientation_core.patients.model import Patient, Sexe, StatutIdentite
from orientation_core.people.model import Role
from orientation_core.people.policy import PRESCRIPTEUR_ACTIONS
from orientation_core.persistence.migrate import upgrade
from orientation_core.persistence.uow import UnitOfWorkFactory, make_engine
from orientation_core.ports import Env

UTC = dt.UTC
PARIS = ZoneInfo("Europe/Paris")
NAME = "dashboard"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BENCH_DATABASE = "aiguillage_bench"
RESULTS = Path(__file__).resolve().parent / "results" / f"{NAME}.json"
GENERATOR_VERSION = 3  # bump when the generated data changes: --reuse then reloads
# The benchmark's "now": the data spreads over the two years before it; the dashboards run at this instant.
NOW = dt.datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DAY = dt.timedelta(days=1)
HIDDEN_FROM_RECEVEUR = (Status.EN_REDACTION.value, Status.ARCHIVEE.value)

# ====================================================================================================================
# 1. Vocabulary for the generated data (written for this benchmark; frequent French surnames and first names,
#    with the accents, hyphens, apostrophes and particles the search key has to normalise).
# ====================================================================================================================

FREQUENT_SURNAMES = (
    "MARTIN BERNARD THOMAS PETIT ROBERT RICHARD DURAND DUBOIS MOREAU LAURENT SIMON MICHEL LEFEBVRE LEROY ROUX DAVID "
    "BERTRAND MOREL FOURNIER GIRARD BONNET DUPONT LAMBERT FONTAINE ROUSSEAU VINCENT MULLER LEFÈVRE FAURE ANDRÉ "
    "MERCIER BLANC GUÉRIN BOYER GARNIER CHEVALIER FRANÇOIS LEGRAND GAUTHIER GARCIA PERRIN ROBIN CLÉMENT MORIN "
    "NICOLAS HENRY ROUSSEL MATHIEU GAUTIER MASSON MARCHAND DUVAL DENIS DUMONT MARIE LEMAIRE NOËL MEYER DUFOUR "
    "MEUNIER BRUN BLANCHARD GIRAUD JOLY RIVIÈRE LUCAS BRUNET GAILLARD BARBIER ARNAUD MARTINEZ GÉRARD ROCHE RENARD "
    "SCHMITT ROY LEROUX COLIN VIDAL CARON PICARD ROGER FABRE AUBERT LEMOINE RENAUD DUMAS LACROIX OLIVIER PHILIPPE "
    "BOURGEOIS PIERRE BENOÎT REY LECLERC PAYET ROLLAND LECLERCQ GUILLAUME LECOMTE LOPEZ JEAN DUPUY GUILLOT HUBERT "
    "BERGER CARPENTIER SANCHEZ DUPUIS MOULIN LOUIS DESCHAMPS HUET VASSEUR PEREZ BOUCHER FLEURY ROYER KLEIN JACQUET "
    "ADAM PARIS POIRIER MARTY AUBRY GUYOT CARRÉ CHARLES RENAULT CHARPENTIER MÉNARD MAILLARD BARON BERTIN BAILLY "
    "HERVÉ SCHNEIDER FERNANDEZ COLLET LÉGER BOUVIER JULIEN PRÉVOST MILLET PERROT DANIEL COUSIN GERMAIN BRETON "
    "BESSON LANGLOIS RÉMY PELLETIER LÉVÊQUE PERRIER LEBLANC BARRÉ LEBRUN MARCHAL WEBER MALLET HAMON BOULANGER "
    "JACOB MONNIER MICHAUD RODRIGUEZ GUICHARD GILLET ÉTIENNE GRONDIN POULAIN TESSIER CHEVALLIER COLLIN CHAUVIN "
    "BOUCHET GAY LEMAÎTRE BÉNARD MARÉCHAL HUMBERT REYNAUD ANTOINE HOARAU PERRET BARTHÉLÉMY CORDIER PICHON LEJEUNE "
    "GILBERT LAMY DELAUNAY PASQUIER CARLIER LAPORTE"
)
SURNAMES = [
    *FREQUENT_SURNAMES.split(),
    "LE GALL", "LE ROUX", "LE GOFF", "LE BIHAN", "DA SILVA", "DOS SANTOS", "DE OLIVEIRA", "N'DIAYE", "D'ALMEIDA",
    "DE LA FONTAINE", "SAINT-MARTIN", "DUPONT-AIGNAN", "MARTIN-LAVAL", "L'HERMITE", "DIALLO", "TRAORÉ", "NGUYEN",
    "BENALI", "HADDAD", "KOWALSKI",
]
SURNAME_CUM_WEIGHTS = list(itertools.accumulate(1 / (rank + 10) for rank in range(len(SURNAMES))))
# The long tail: surnames composed from syllables, so that a prefix search has realistic selectivity.
ONSETS = ("BER", "CHA", "DU", "LA", "MA", "PE", "RO", "VI", "GOU", "BOU", "FON", "MON", "TOU", "GRA", "BRI", "CO",
          "JA", "PI", "SOU", "VAL", "CAR", "DES", "LOR", "ROU", "FER", "GAL", "BEL", "CHAM", "TRI")
MIDDLES = ("RA", "NI", "LO", "VE", "MI", "TE", "SA", "RI", "BO", "DE", "", "", "")
CODAS = ("NARD", "RET", "LIN", "TIER", "VAL", "MONT", "CHON", "GEON", "ZAC", "RAND", "LET", "BERT", "NEAU", "REAU",
         "DIER", "LAIN", "SSON", "GNOL", "QUET", "THIER", "CHAUD", "ROUX", "LIEU", "VILLE")
FEMALE = ("Marie", "Jeanne", "Françoise", "Monique", "Catherine", "Nathalie", "Isabelle", "Sylvie", "Hélène",
          "Anne-Marie", "Marie-Thérèse", "Geneviève", "Odette", "Simone", "Josette", "Colette", "Denise", "Yvette",
          "Madeleine", "Christiane", "Nicole", "Chantal", "Brigitte", "Martine", "Danielle", "Suzanne", "Paulette",
          "Jacqueline", "Élise", "Germaine", "Lucienne", "Marcelle", "Andrée", "Gisèle", "Renée", "Thérèse",
          "Claudine", "Éliane", "Annie", "Michèle", "Léa", "Chloé", "Inès", "Camille", "Sophie", "Aurélie")
MALE = ("Jean", "Pierre", "Michel", "André", "Philippe", "Alain", "Jacques", "Bernard", "René", "Louis", "Claude",
        "Jean-Pierre", "Jean-Claude", "Gérard", "Roger", "Marcel", "Henri", "Robert", "Daniel", "Christian",
        "Patrick", "François", "Joël", "Raymond", "Lucien", "Gilbert", "Maurice", "Hervé", "Noël", "Thierry",
        "Éric", "Stéphane", "Georges", "Paul", "Guy", "Yves", "Serge", "Jean-Marc", "Bruno", "Hugo", "Lucas",
        "Théo", "Mohamed", "Karim")
CITIES = (  # code postal, ville, latitude, longitude
    ("69003", "Lyon", 45.760, 4.850), ("69100", "Villeurbanne", 45.771, 4.880), ("38000", "Grenoble", 45.188, 5.724),
    ("42000", "Saint-Étienne", 45.439, 4.387), ("01000", "Bourg-en-Bresse", 46.205, 5.225),
    ("73000", "Chambéry", 45.564, 5.917), ("74000", "Annecy", 45.899, 6.129), ("26000", "Valence", 44.933, 4.892),
    ("63000", "Clermont-Ferrand", 45.777, 3.087), ("69400", "Villefranche-sur-Saône", 45.990, 4.718),
    ("38200", "Vienne", 45.525, 4.874), ("03100", "Montluçon", 46.340, 2.603), ("07000", "Privas", 44.735, 4.599),
    ("69300", "Caluire-et-Cuire", 45.795, 4.846), ("38300", "Bourgoin-Jallieu", 45.586, 5.274),
)
MCO_SERVICES = ("Cardiologie", "Pneumologie", "Neurologie", "Médecine interne", "Gériatrie aiguë", "Orthopédie",
                "Chirurgie digestive", "UHCD", "Néphrologie", "Oncologie médicale", "Médecine polyvalente",
                "Chirurgie vasculaire", "Hépato-gastro-entérologie", "Rhumatologie", "Endocrinologie",
                "Maladies infectieuses", "Neurochirurgie", "Traumatologie")
SMR_MENTIONS = ("polyvalent", "geriatrie", "locomoteur", "systeme_nerveux", "cardio_vasculaire", "pneumologie",
                "digestif_endocrinologie", "cancers", "conduites_addictives")
BESOINS = ("oxygene", "sonde_urinaire", "pansements_complexes", "nutrition_enterale", "isolement", "dialyse",
           "troubles_cognitifs", "obesite", "tracheotomie", "chimiotherapie_orale")
PHRASES = (
    "Chute à domicile avec fracture du col fémoral droit, ostéosynthèse réalisée.",
    "Insuffisance cardiaque décompensée, amélioration sous diurétiques, kaliémie à surveiller.",
    "AVC ischémique sylvien gauche avec hémiparésie droite et aphasie partielle.",
    "Pneumopathie d'inhalation traitée par antibiothérapie, oxygénothérapie sevrée.",
    "Troubles cognitifs modérés connus, désorientation nocturne, entourage épuisé.",
    "Plaie chronique du talon, pansements complexes trois fois par semaine.",
    "Diabète de type 2 insulino-requérant, éducation thérapeutique en cours.",
    "Perte d'autonomie progressive, aide à la toilette et à l'habillage nécessaire.",
    "Douleurs mal contrôlées, titration morphinique en cours, soins de confort.",
    "Patient vivant seul au deuxième étage sans ascenseur, retour à domicile impossible en l'état.",
    "Rééducation à la marche avec déambulateur, périmètre de marche de vingt mètres.",
    "Dénutrition sévère, albuminémie basse, compléments nutritionnels oraux prescrits.",
)
MOTIFS_REFUS = ("Pas de place disponible", "Profil médical non adapté à l'unité", "Plateau technique insuffisant",
                "Hors secteur géographique", "Prise en charge trop lourde")
SIZE_PARAMS = ("dossiers", "demandes_per_dossier", "seed")


# ====================================================================================================================
# 2. Database: a dedicated database, created through an autocommit connection, migrated with the real migrations.
# ====================================================================================================================


def libpq(url: str) -> str:
    """SQLAlchemy URL → libpq URL for psycopg.connect."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def bench_urls(url: str, database: str) -> tuple[str, str]:
    """(admin URL, bench URL). The admin connection only issues CREATE/DROP DATABASE: the database named in the
    given URL (``test``) is connected to, never written."""
    if database in ("test", "postgres", "template0", "template1"):
        raise SystemExit(f"refusing to use database {database!r} for the benchmark data")
    given = make_url(url)
    admin = given if given.database not in (None, "", database) else given.set(database="postgres")
    return admin.render_as_string(hide_password=False), given.set(database=database).render_as_string(
        hide_password=False)


def marker(args: argparse.Namespace) -> dict[str, Any]:
    return {"benchmark": NAME, "generator": GENERATOR_VERSION, **{k: getattr(args, k) for k in SIZE_PARAMS}}


def prepare_database(args: argparse.Namespace, admin_url: str, database: str) -> bool:
    """Drop and recreate the bench database, unless --reuse finds it holding the same data set.
    Returns whether the data has to be loaded."""
    wanted = marker(args)
    with psycopg.connect(libpq(admin_url), autocommit=True) as conn:
        row = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                           (database,)).fetchone()
        if row is not None and args.reuse:
            try:
                found = json.loads(row[0] or "{}")
            except json.JSONDecodeError:
                found = {}
            if found == {**wanted, "complete": True}:
                print(f"--reuse: database {database} already holds this data set; not reloading")
                return False
            print(f"--reuse: database {database} holds another data set ({found or 'unmarked'}); rebuilding")
        if row is not None:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(database)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    return True


def mark_complete(args: argparse.Namespace, admin_url: str, database: str) -> None:
    with psycopg.connect(libpq(admin_url), autocommit=True) as conn:
        conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(
            sql.Identifier(database), sql.Literal(json.dumps({**marker(args), "complete": True}))))


# ====================================================================================================================
# 3. Data generation (deterministic) and COPY
# ====================================================================================================================


@dataclass
class UnitInfo:
    id: int
    etablissement_id: int
    type: str
    weight: float
    module: Module | None  # None: a requesting (MCO) unit


@dataclass
class Generated:
    """What the workload needs to know about the generated data (the rest is only in the database)."""

    prescripteurs: dict[int, list[int]] = field(default_factory=dict)  # user id → MCO units
    receveurs: dict[int, list[int]] = field(default_factory=dict)  # user id → receiving units
    liberaux: list[int] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    profile: dict[str, Any] = field(default_factory=dict)  # how the rows spread (states, statuses, dates, units)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def copy_rows(cur: psycopg.Cursor[Any], table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    n = 0
    with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)))) as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


class DataSet:
    """Établissements, units, users with habilitations, patients, dossiers and demandes, as row tuples."""

    def __init__(self, dossiers: int, demandes_per_dossier: int, seed: int) -> None:
        self.n_dossiers = dossiers
        self.n_demandes = dossiers * demandes_per_dossier
        self.n_patients = max(1, int(dossiers * 0.8))
        self.rng = random.Random(seed)
        self.gen = Generated()
        self.etablissements: list[tuple[Any, ...]] = []
        self.unites: list[tuple[Any, ...]] = []
        self.units: list[UnitInfo] = []
        self.users: list[tuple[Any, ...]] = []
        self.habilitations: list[tuple[Any, ...]] = []
        self.delegations: list[tuple[Any, ...]] = []
        self.unit_users: dict[int, list[int]] = defaultdict(list)  # MCO unit → its prescripteurs (authors)

    # --- directory and people ------------------------------------------------------------------------------------

    def build_directory(self) -> None:
        rng = self.rng
        kinds = ["ch"] * 10 + ["smr"] * 8 + ["had"] * 3 + ["ga"] * 9
        for eid, kind in enumerate(kinds, start=1):
            cp, ville, lat, lon = CITIES[(eid - 1) % len(CITIES)]
            nom = {"ch": f"Centre hospitalier de {ville}" if eid % 3 else f"Clinique du Parc ({ville})",
                   "smr": f"Clinique de réadaptation Les Tilleuls ({ville})",
                   "had": f"HAD {ville} et agglomération",
                   "ga": f"EHPAD Résidence Les Glycines ({ville})" if eid % 2 else f"Centre gériatrique {ville}"}[kind]
            secteur = "grand_age" if kind == "ga" else "sanitaire"
            finess = finess_with_key(f"{cp[:2]}{700000 + eid * 37:06d}")
            self.etablissements.append((eid, finess, nom, secteur, f"{eid} avenue de la République", cp, ville,
                                        f"04 7{eid % 10} 00 00 {eid:02d}", NOW - 800 * DAY))
            none: str | None = None
            plans: dict[str, list[tuple[str, str | None]]] = {
                "ch": [("mco", none)] * 12 + [("smr", "polyvalent"), ("smr", "geriatrie"), ("usp", none),
                                                ("had", none)],
                "smr": [("smr", m) for m in rng.sample(SMR_MENTIONS, 8)],
                "had": [("had", none)] * 3,
                "ga": [("ehpad", none)] * 5 + [("usld", none)] * 2,
            }
            plan = plans[kind]
            services = rng.sample(MCO_SERVICES, 12)
            for k, (type_, mention) in enumerate(plan):
                uid = len(self.unites) + 1
                if type_ == "mco":
                    unom = services[k]
                elif type_ == "smr":
                    unom = f"SMR {mention.replace('_', ' ')}" if mention else "SMR"
                else:
                    unom = {"usp": "Unité de soins palliatifs", "had": f"HAD secteur {k + 1}",
                            "ehpad": f"EHPAD unité {k + 1}", "usld": f"USLD pavillon {k + 1}"}[type_]
                besoins = rng.sample(BESOINS, rng.randint(2, 6)) if type_ != "mco" else []
                self.unites.append((
                    uid, eid, f"UF{1000 + uid}", unom, type_, mention, rng.randint(12, 60), _json([]),
                    _json(besoins), _json(["lit_medicalise"] if type_ != "mco" else []), cp,
                    lat + rng.uniform(-0.05, 0.05), lon + rng.uniform(-0.05, 0.05), f"ROR{uid:06d}", True))
                module = (None if type_ == "mco" else
                          Module.GRAND_AGE if type_ in ("ehpad", "usld") else Module.SANITAIRE)
                self.units.append(UnitInfo(uid, eid, type_, rng.lognormvariate(0, 0.6), module))

    def _user(self, nom: str, prenom: str, profession: str, *, liberal: bool = False) -> int:
        uid = len(self.users) + 1
        national = f"8{10000000000 + uid * 7919:011d}"
        cp, ville, _, _ = self.rng.choice(CITIES)
        self.users.append((
            uid, national, None, "rpps", nom, prenom,
            f"{prenom.lower().replace(' ', '.')}.{nom.lower().replace(' ', '')}{uid}@exemple-sante.fr",
            profession, "medecine_generale" if liberal else "", "", cp if liberal else None, ville if liberal else "",
            profession == "medecin", True, True, uid == 1, NOW - 700 * DAY))
        return uid

    def _name(self) -> tuple[str, str]:
        return self.rng.choice(SURNAMES), self.rng.choice(FEMALE + MALE)

    def _grant(self, user_id: int, role: Role, etablissement_id: int, unite_id: int | None) -> None:
        self.habilitations.append((len(self.habilitations) + 1, user_id, role.value, etablissement_id, unite_id,
                                   1, NOW - 600 * DAY))

    def build_people(self) -> None:
        rng = self.rng
        self._user("ADMIN", "Plateforme", "administrateur")
        by_etab: dict[int, list[UnitInfo]] = defaultdict(list)
        for u in self.units:
            by_etab[u.etablissement_id].append(u)
        for eid in by_etab:
            self._grant(self._user(*self._name(), "cadre"), Role.REFERENT, eid, None)
        for eid, units in by_etab.items():
            mco = [u for u in units if u.module is None]
            receiving = [u for u in units if u.module is not None]
            for unit in mco:  # 4 prescripteurs per requesting unit, each on 1 to 3 units of his établissement
                for _ in range(4):
                    medecin = rng.random() < 0.4
                    uid = self._user(*self._name(), "medecin" if medecin else rng.choice(
                        ("infirmier", "cadre", "assistant_social", "secretaire")))
                    others = rng.sample([u for u in mco if u is not unit], k=min(rng.choice((0, 0, 1, 2)),
                                                                                   len(mco) - 1))
                    mine = [unit.id] + [u.id for u in others]
                    for unite_id in mine:
                        self._grant(uid, Role.PRESCRIPTEUR_MEDICAL if medecin else Role.PRESCRIPTEUR, eid, unite_id)
                    self.gen.prescripteurs[uid] = mine
                    self.unit_users[unit.id].append(uid)
            for unit in receiving:  # 3 receveurs per receiving unit, each on 1 to 4 units of his établissement
                for _ in range(3):
                    medecin = rng.random() < 0.35
                    uid = self._user(*self._name(), "medecin" if medecin else rng.choice(("infirmier", "cadre")))
                    others = rng.sample([u for u in receiving if u is not unit],
                                        k=min(rng.choice((0, 0, 1, 2, 3)), len(receiving) - 1))
                    mine = [unit.id] + [u.id for u in others]
                    role = (Role.MEDECIN_COORDONNATEUR if medecin and unit.type == "ehpad" else
                            Role.RECEVEUR_MEDICAL if medecin else Role.RECEVEUR)
                    for unite_id in mine:
                        self._grant(uid, role, eid, unite_id)
                    self.gen.receveurs[uid] = mine
        # médecins libéraux (dossiers of their own, no unit) and their assistants (délégations)
        for _ in range(40):
            self.gen.liberaux.append(self._user(*self._name(), "medecin", liberal=True))
        droits = _json(sorted(a.value for a in PRESCRIPTEUR_ACTIONS))
        for k in range(10):
            assistant = self._user(*self._name(), "secretaire")
            for delegant in rng.sample(self.gen.liberaux, rng.randint(1, 2)):
                self.delegations.append((len(self.delegations) + 1, delegant, assistant, "assistant",
                                         NOW - 200 * DAY, NOW + 165 * DAY, droits, NOW - 199 * DAY,
                                         None if k else NOW - 10 * DAY, NOW - 200 * DAY))

    # --- patients ------------------------------------------------------------------------------------------------

    def _surname(self) -> str:
        rng = self.rng
        # A quarter from the frequent names, Zipf-like (MARTIN ≈ 0.8 % of patients, about twice its share in
        # France: searches are a little more crowded than in life), the rest from the composed long tail.
        if rng.random() < 0.25:
            return rng.choices(SURNAMES, cum_weights=SURNAME_CUM_WEIGHTS)[0]
        return rng.choice(ONSETS) + rng.choice(MIDDLES) + rng.choice(CODAS)

    def patients(self) -> Iterator[tuple[Any, ...]]:
        """Rows of ``patient``; keeps (nom_recherche, nom_naissance_recherche, nom_affiche, identity) per id."""
        rng = self.rng
        self.patient_keys: list[tuple[str, str, str, dict[str, Any]]] = [("", "", "", {})]
        for pid in range(1, self.n_patients + 1):
            female = rng.random() < 0.55
            prenoms = [rng.choice(FEMALE if female else MALE) for _ in range(rng.choice((1, 1, 2, 2, 3)))]
            born = dt.date(1925, 1, 1) + dt.timedelta(days=int(rng.triangular(0, 80 * 365, 20 * 365)))
            nom_naissance = self._surname()
            nom_utilise = self._surname() if female and rng.random() < 0.35 else ""
            cp, ville, _, _ = rng.choice(CITIES)
            statut = rng.choices(("provisoire", "recuperee", "validee", "qualifiee"), (10, 25, 15, 50))[0]
            # The real aggregate computes the search keys and the display name (refresh_search_key, nom_affiche).
            patient = Patient(nom_naissance=nom_naissance, prenoms=prenoms, date_naissance=born,
                              sexe=Sexe.F if female else Sexe.M, nom_utilise=nom_utilise,
                              statut_identite=StatutIdentite(statut))
            identity = {"nom_naissance": nom_naissance, "prenoms": " ".join(prenoms),
                        "date_naissance": born.isoformat(), "sexe": patient.sexe.value}
            if nom_utilise:
                identity["nom_utilise"] = nom_utilise
            self.patient_keys.append((patient.nom_recherche, patient.nom_naissance_recherche, patient.nom_affiche,
                                      identity))
            created = NOW - rng.uniform(0, 730) * DAY
            yield (pid, nom_naissance, _json(prenoms), born, patient.sexe.value, nom_utilise, "", "99999",
                   statut, _json([]), f"{rng.randint(1, 120)} rue des Lilas", cp, ville,
                   f"06 {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
                   patient.nom_recherche, patient.nom_naissance_recherche, None, created, created)

    # --- dossiers and demandes -----------------------------------------------------------------------------------

    def _volets(self, module: Module, identity: dict[str, Any], filled: int, type_orientation: str,
                unite_nom: str) -> str:
        rng = self.rng

        def text(n: int) -> str:
            return " ".join(rng.sample(PHRASES, n))

        if module is Module.SANITAIRE:
            volets: dict[str, dict[str, Any]] = {"administratif_social": {
                **identity, "adresse": "12 rue des Lilas", "service_demandeur": unite_nom,
                "date_hospitalisation": (NOW - rng.randint(2, 40) * DAY).date().isoformat(),
                "type_logement": rng.choice(("appartement", "maison", "foyer")),
                "personne_confiance": "Fille, 06 12 34 56 78", "medecin_traitant": "Dr Durand"}}
            if filled >= 1:
                volets["orientation"] = {"objectif_prise_en_charge": text(1), "type_orientation": type_orientation,
                                         "accord_patient": True, "criteres": rng.sample(BESOINS, 2)}
            if filled >= 2:
                volets["medical"] = {"pathologie_actuelle": text(3), "antecedents": text(2),
                                     "poids_kg": rng.randint(40, 110), "taille_cm": rng.randint(145, 195),
                                     "traitements": text(1), "allergies": "Aucune connue"}
                volets["soins_projet"] = {"soins_infirmiers": text(1), "dependance": "GIR 3", "projet": text(1)}
                volets["pieces_jointes"] = {"verifiees": True}
        else:
            volets = {"administratif": {**identity, "situation_familiale": "veuf/veuve",
                                        "personne_contact": "Fils, 06 98 76 54 32", "motivation": text(1),
                                        "type_accueil": type_orientation, "date_entree_souhaitee":
                                        (NOW + rng.randint(5, 60) * DAY).date().isoformat(), "signature": True}}
            if filled >= 2:
                volets["medical"] = {"contexte": text(2), "antecedents": text(2), "problemes_actuels": text(2),
                                     "traitements": text(1), "gir": rng.randint(1, 4),
                                     "medecin_signataire": "Dr Martin"}
                volets["pieces_jointes"] = {"verifiees": True}
        return _json(volets)

    def dossiers(self) -> Iterator[tuple[Any, ...]]:
        """Rows of ``dossier``, streamed into COPY; their demandes are kept in ``self.demandes`` meanwhile."""
        rng = self.rng
        n = self.n_dossiers
        # demandes per dossier: one each, the rest spread at random (mean = --demandes-per-dossier)
        per_dossier = [1] * n
        for k in rng.choices(range(n), k=self.n_demandes - n):
            per_dossier[k] += 1
        mco = [u for u in self.units if u.module is None]
        receiving: dict[str, list[UnitInfo]] = defaultdict(list)
        for u in self.units:
            if u.module is not None:
                receiving[u.type].append(u)
        mco_weights = [u.weight for u in mco]
        # the first patients in random order get one dossier each, the others a second one
        patient_order = list(range(1, self.n_patients + 1))
        rng.shuffle(patient_order)
        self.demandes: list[tuple[Any, ...]] = []
        demandes = self.demandes
        unite_nom = {row[0]: row[3] for row in self.unites}
        for did in range(1, n + 1):
            pid = patient_order[did - 1] if did <= len(patient_order) else rng.randint(1, self.n_patients)
            nom_recherche, nom_naissance_recherche, nom_affiche, identity = self.patient_keys[pid]
            module = Module.SANITAIRE if rng.random() < 0.72 else Module.GRAND_AGE
            if rng.random() < 0.015:  # a médecin libéral's dossier: no unit, an owner
                owner: int | None = rng.choice(self.gen.liberaux)
                unit: UnitInfo | None = None
                author = owner
            else:
                owner, unit = None, rng.choices(mco, mco_weights)[0]
                author = rng.choice(self.unit_users[unit.id])
            etat = rng.choices(("brouillon", "envoye", "admis", "annule", "archive"), (28, 42, 15, 5, 10))[0]
            annule_at: dt.datetime | None = None
            if etat in ("brouillon", "envoye"):  # open: recent (the sweep cancels what sleeps 3 months)
                created = NOW - min(rng.expovariate(1 / 30), 90) * DAY
                last = created + (NOW - created) * rng.random() ** 0.5
            elif etat == "admis":
                created = NOW - rng.uniform(7, 730) * DAY
                last = min(created + rng.uniform(3, 40) * DAY, NOW - DAY)
            elif etat == "annule":  # archived 15 days after cancellation
                annule_at = NOW - rng.uniform(0, 15) * DAY
                created = annule_at - rng.uniform(1, 60) * DAY
                last = annule_at
            else:
                annule_at = NOW - rng.uniform(20, 730) * DAY
                created = annule_at - rng.uniform(1, 60) * DAY
                last = annule_at + 15 * DAY
            open_ = etat in ("brouillon", "envoye")
            anticipee = open_ and rng.random() < 0.08
            retour: dt.date | None = None
            if open_ and module is Module.SANITAIRE:
                roll = rng.random()
                if roll < 0.04:
                    retour = (NOW - rng.randint(0, 30) * DAY).astimezone(PARIS).date()
                elif roll < 0.06:
                    retour = (NOW + rng.randint(1, 30) * DAY).astimezone(PARIS).date()
            if module is Module.SANITAIRE:
                type_orientation = rng.choices(("smr", "had", "usp"), (75, 15, 10))[0]
            else:
                type_orientation = rng.choices(("ehpad", "usld"), (85, 15))[0]
            relance_auto = (last + 61 * DAY if etat == "envoye" and NOW - last > 61 * DAY else None)
            filled = 2 if etat != "brouillon" or rng.random() < 0.3 else rng.randint(0, 1)
            yield (
                did, numero_for(module, did), module.value, pid, author, unit.etablissement_id if unit else None,
                unit.id if unit else None, owner, None, etat,
                self._volets(module, identity, filled, type_orientation, unite_nom[unit.id] if unit else ""),
                type_orientation, anticipee, retour,
                "Famille à rappeler avant toute réponse." if rng.random() < 0.1 else "",
                rng.choice((0, 0, 1, 2, 3)), None, relance_auto, annule_at,
                "Patient décédé" if annule_at and rng.random() < 0.2 else ("Projet abandonné" if annule_at else ""),
                last, last, nom_recherche, nom_naissance_recherche, nom_affiche, created, last, 1,
            )
            # demandes, to receiving units of the orientation type (else of the module)
            pool = receiving.get(type_orientation) or [u for u in self.units if u.module is module]
            k = min(per_dossier[did - 1], len(pool))
            targets: list[UnitInfo] = []
            while len(targets) < k:
                pick = rng.choices(pool, [u.weight for u in pool])[0]
                if pick not in targets:
                    targets.append(pick)
            targets += rng.choices([u for u in self.units if u.module is module], k=per_dossier[did - 1] - k)
            statuts = self._statuts(etat, len(targets))
            for unite, statut in zip(targets, statuts, strict=True):
                demandes.append(self._demande(len(demandes) + 1, did, unite.id, statut, created, last))

    def _statuts(self, etat: str, k: int) -> list[Status]:
        rng = self.rng
        if etat == "brouillon":
            return [Status.EN_REDACTION] * k
        if etat == "archive":
            return [Status.ARCHIVEE] * k
        if etat == "annule":
            return rng.choices((Status.ANNULEE, Status.REFUSEE), (80, 20), k=k)
        if etat == "admis":
            return [Status.ADMISSION_FINALISEE,
                    *rng.choices((Status.ANNULEE, Status.ARCHIVEE, Status.REFUSEE), (50, 30, 20), k=k - 1)]
        statuts = rng.choices(
            (Status.EN_ATTENTE, Status.DEMANDE_PRECISION, Status.ACCORD_DE_PRINCIPE, Status.ACCEPTEE,
             Status.REFUSEE, Status.ANNULEE, Status.ARCHIVEE, Status.EN_REDACTION), (38, 7, 12, 9, 20, 6, 3, 5), k=k)
        if all(s is Status.EN_REDACTION for s in statuts):
            statuts[0] = Status.EN_ATTENTE
        if rng.random() < 0.08:  # a confirmed proposition: the other live demandes were cancelled by the system
            statuts = [Status.CONFIRMEE] + [Status.ANNULEE if s not in (Status.REFUSEE, Status.ARCHIVEE) else s
                                            for s in statuts[1:]]
        return statuts

    def _demande(self, mid: int, did: int, unite_id: int, statut: Status, created: dt.datetime,
                 last: dt.datetime) -> tuple[Any, ...]:
        rng = self.rng
        span = last - created
        made = created + span * rng.random() * 0.3
        envoyee = None if statut is Status.EN_REDACTION else min(made + rng.uniform(0, 2) * dt.timedelta(hours=1), last)
        if statut is Status.EN_REDACTION:
            statut_at = made
        elif statut in (Status.ADMISSION_FINALISEE, Status.CONFIRMEE, Status.ANNULEE, Status.ARCHIVEE):
            statut_at = last
        else:
            assert envoyee is not None
            statut_at = envoyee + (last - envoyee) * rng.random() if last > envoyee else envoyee
        date_admission = date_debut = date_fin = None
        if statut in (Status.ACCEPTEE, Status.CONFIRMEE, Status.ADMISSION_FINALISEE):
            date_admission = (statut_at + rng.randint(1, 14) * DAY).date()
        if statut is Status.ACCORD_DE_PRINCIPE:
            date_debut = (statut_at + rng.randint(3, 10) * DAY).date()
            date_fin = date_debut + rng.randint(3, 15) * DAY
        motif = (rng.choice(MOTIFS_REFUS) if statut is Status.REFUSEE else
                 "Confirmée dans une autre structure" if statut in (Status.ANNULEE, Status.ARCHIVEE) else "")
        annulee_at = (statut_at if statut is Status.ANNULEE else
                      statut_at - 15 * DAY if statut is Status.ARCHIVEE else None)
        relance_prescripteur = (statut_at + 3 * DAY if statut is Status.ACCEPTEE and NOW - statut_at > 3 * DAY
                                and rng.random() < 0.5 else None)
        return (mid, did, unite_id, statut.value, statut_at, envoyee, motif,
                "Merci de préciser le statut infectieux." if statut is Status.DEMANDE_PRECISION else "", "",
                date_debut, date_fin, date_admission, False, None, relance_prescripteur, annulee_at, made,
                statut_at, 1)


COLUMNS: dict[str, tuple[str, ...]] = {
    "etablissement": ("id", "finess", "nom", "secteur", "adresse", "code_postal", "ville", "telephone", "created_at"),
    "unite": ("id", "etablissement_id", "code_uf", "nom", "type", "mention", "capacite", "pathologies",
              "besoins_acceptes", "equipements", "code_postal", "latitude", "longitude", "ror_id", "actif"),
    "utilisateur": ("id", "identifiant_national", "identifiant_local", "type_identifiant", "nom", "prenom", "email",
                    "profession", "specialite", "telephone", "code_postal", "ville", "forme_ins", "alertes_email",
                    "actif", "administrateur", "created_at"),
    "habilitation": ("id", "user_id", "role", "etablissement_id", "unite_id", "granted_by_id", "granted_at"),
    "delegation": ("id", "delegant_id", "delegataire_id", "type", "debut", "fin", "droits", "accepted_at",
                   "revoked_at", "created_at"),
    "patient": ("id", "nom_naissance", "prenoms", "date_naissance", "sexe", "nom_utilise", "prenom_utilise",
                "lieu_naissance_code", "statut_identite", "attributs", "adresse", "code_postal", "ville", "telephone",
                "nom_recherche", "nom_naissance_recherche", "merged_into_id", "created_at", "updated_at"),
    "dossier": ("id", "numero", "module", "patient_id", "created_by_id", "etablissement_id", "unite_id",
                "owner_user_id", "sejour_id", "etat", "volets", "type_orientation", "anticipee",
                "retour_domicile_date", "bloc_note", "nb_pieces_jointes", "dossier_lie_id", "relance_auto_at",
                "annule_at", "motif_annulation", "derniere_action_at", "derniere_action_prescripteur_at",
                "patient_nom_recherche", "patient_nom_naissance_recherche", "patient_nom_affiche", "created_at",
                "updated_at", "version"),
    "demande": ("id", "dossier_id", "unite_id", "statut", "statut_at", "envoyee_at", "motif", "question",
                "reponse_precision", "date_debut", "date_fin", "date_admission", "a_renvoyer", "relance_receveur_at",
                "relance_prescripteur_at", "annulee_at", "created_at", "updated_at", "version"),
}


def load(bench_url: str, data: DataSet) -> dict[str, float]:
    """Generate and COPY every table in one transaction, then VACUUM ANALYZE. Returns seconds per phase."""
    phases: dict[str, float] = {}
    t0 = time.perf_counter()
    data.build_directory()
    data.build_people()
    with psycopg.connect(libpq(bench_url)) as conn, conn.cursor() as cur:
        cur.execute("SET synchronous_commit = off")
        # Generated rows are consistent by construction: skip the per-row foreign-key triggers while loading.
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege), conn.transaction():
            cur.execute("SET session_replication_role = replica")
        for table, rows in (("etablissement", data.etablissements), ("unite", data.unites),
                            ("utilisateur", data.users), ("habilitation", data.habilitations),
                            ("delegation", data.delegations)):
            data.gen.counts[table] = copy_rows(cur, table, COLUMNS[table], rows)
        phases["directory_people_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        data.gen.counts["patient"] = copy_rows(cur, "patient", COLUMNS["patient"], data.patients())
        phases["patients_s"] = time.perf_counter() - t1
        t1 = time.perf_counter()
        data.gen.counts["dossier"] = copy_rows(cur, "dossier", COLUMNS["dossier"], data.dossiers())
        phases["dossiers_s"] = time.perf_counter() - t1
        t1 = time.perf_counter()
        data.gen.counts["demande"] = copy_rows(cur, "demande", COLUMNS["demande"], data.demandes)
        phases["demandes_s"] = time.perf_counter() - t1
        for table in COLUMNS:  # the application inserts after the generated ids
            cur.execute(sql.SQL("SELECT setval(pg_get_serial_sequence({t}, 'id'), (SELECT max(id) FROM {i}))")
                        .format(t=sql.Literal(table), i=sql.Identifier(table)))
        conn.commit()
    t1 = time.perf_counter()
    with psycopg.connect(libpq(bench_url), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            conn.execute("CHECKPOINT")  # flush the load now rather than during the timed calls
    phases["vacuum_analyze_s"] = time.perf_counter() - t1
    phases["total_s"] = time.perf_counter() - t0
    return phases


def read_back(bench_url: str) -> Generated:
    """Users and their units from the database (``--reuse``, or to confirm what was loaded)."""
    gen = Generated()
    with psycopg.connect(libpq(bench_url)) as conn:
        for user_id, role, unite_id in conn.execute(
                "SELECT user_id, role, unite_id FROM habilitation WHERE unite_id IS NOT NULL ORDER BY id"):
            if role in (Role.PRESCRIPTEUR.value, Role.PRESCRIPTEUR_MEDICAL.value):
                gen.prescripteurs.setdefault(user_id, []).append(unite_id)
            elif role in (Role.RECEVEUR.value, Role.RECEVEUR_MEDICAL.value, Role.MEDECIN_COORDONNATEUR.value):
                gen.receveurs.setdefault(user_id, []).append(unite_id)
        gen.liberaux = [r[0] for r in conn.execute(
            "SELECT DISTINCT owner_user_id FROM dossier WHERE owner_user_id IS NOT NULL ORDER BY 1")]
        for table in COLUMNS:
            row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
            gen.counts[table] = int(row[0]) if row else 0
        today = NOW.astimezone(PARIS).date()
        gen.profile = {
            "dossier_etat": dict(conn.execute("SELECT etat, count(*) FROM dossier GROUP BY 1 ORDER BY 2 DESC")),
            "dossier_module": dict(conn.execute("SELECT module, count(*) FROM dossier GROUP BY 1 ORDER BY 2 DESC")),
            "open_anticipee": conn.execute(
                "SELECT count(*) FROM dossier WHERE anticipee AND etat IN ('brouillon', 'envoye')").fetchone()[0],  # type: ignore[index]
            "open_retour_domicile_past": conn.execute(
                "SELECT count(*) FROM dossier WHERE retour_domicile_date <= %s AND etat IN ('brouillon', 'envoye')",
                (today,)).fetchone()[0],  # type: ignore[index]
            "liberal_dossiers": conn.execute(
                "SELECT count(*) FROM dossier WHERE owner_user_id IS NOT NULL").fetchone()[0],  # type: ignore[index]
            "demande_statut": dict(conn.execute("SELECT statut, count(*) FROM demande GROUP BY 1 ORDER BY 2 DESC")),
            "demande_statut_at": [str(v) for v in conn.execute(
                "SELECT min(statut_at), max(statut_at) FROM demande").fetchone() or ()],
            "dossiers_per_requesting_unit": dict(zip(("median", "max"), conn.execute(
                "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY n), max(n) FROM "
                "(SELECT count(*) AS n FROM dossier WHERE unite_id IS NOT NULL GROUP BY unite_id) x").fetchone()
                or (), strict=False)),
            "demandes_per_receiving_unit": dict(zip(("median", "max"), conn.execute(
                "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY n), max(n) FROM "
                "(SELECT count(*) AS n FROM demande GROUP BY unite_id) x").fetchone() or (), strict=False)),
        }
    return gen


# ====================================================================================================================
# 4. Workload: users, query shapes, timing through the real services
# ====================================================================================================================


@dataclass
class Persona:
    user_id: int
    unites: list[int]
    names: list[str]  # search terms as a user types them
    numeros: list[str]


@dataclass
class Shape:
    side: str  # "prescripteur" | "receveur"
    name: str
    label: str
    personas: list[Persona]
    call: Callable[[Any, Env, Persona, int], Any]


def name_terms(rng: random.Random, keys: Sequence[str], k: int) -> list[str]:
    """What users type: 3 to 5 first letters (lower case), the surname, or "Surname Firstname"."""
    out = []
    for key in rng.sample(list(keys), min(k, len(keys))):
        surname, _, first = key.rpartition(" ")
        form = rng.choice(("prefix3", "prefix5", "surname", "full"))
        if form == "prefix3":
            out.append(key[:3].lower())
        elif form == "prefix5":
            out.append(key[:5].title())
        elif form == "surname":
            out.append(surname or key)
        else:
            out.append(f"{surname} {first.title()}")
    return out


def numero_terms(rng: random.Random, numeros: Sequence[str], k: int) -> list[str]:
    """Full numbers ("S00012345") or the digits only ("12345": both modules are searched)."""
    return [n if rng.random() < 0.5 else str(int(n[1:])) for n in rng.sample(list(numeros), min(k, len(numeros)))]


def personas(bench_url: str, gen: Generated, seed: int, count: int) -> dict[str, list[Persona]]:
    rng = random.Random(seed + 1)
    open_etats = [EtatDossier.BROUILLON.value, EtatDossier.ENVOYE.value]
    out: dict[str, list[Persona]] = {"prescripteur": [], "receveur": [], "liberal": []}
    with psycopg.connect(libpq(bench_url)) as conn:
        def pick(users: dict[int, list[int]], sizes: Sequence[int]) -> list[tuple[int, list[int]]]:
            # an even mix of unit counts (1 unit, 2 units…), users taken at random
            by_size: dict[int, list[int]] = defaultdict(list)
            for uid, units in sorted(users.items()):
                by_size[len(units)].append(uid)
            chosen: list[tuple[int, list[int]]] = []
            while len(chosen) < count and any(by_size.get(s) for s in sizes):
                for s in sizes:
                    if by_size.get(s) and len(chosen) < count:
                        uid = by_size[s].pop(rng.randrange(len(by_size[s])))
                        chosen.append((uid, users[uid]))
            return chosen

        for uid, units in pick(gen.prescripteurs, (1, 2, 3)):
            rows = conn.execute("SELECT numero, patient_nom_recherche FROM dossier WHERE unite_id = ANY(%s) "
                                "AND etat = ANY(%s) ORDER BY id", (units, open_etats)).fetchall()
            out["prescripteur"].append(Persona(uid, units, name_terms(rng, [r[1] for r in rows], 25),
                                               numero_terms(rng, [r[0] for r in rows], 25)))
        for uid, units in pick(gen.receveurs, (1, 2, 3, 4)):
            rows = conn.execute(
                "SELECT d.numero, d.patient_nom_recherche FROM demande dm JOIN dossier d ON d.id = dm.dossier_id "
                "WHERE dm.unite_id = ANY(%s) AND dm.statut <> ALL(%s) ORDER BY dm.id",
                (units, list(HIDDEN_FROM_RECEVEUR))).fetchall()
            out["receveur"].append(Persona(uid, units, name_terms(rng, [r[1] for r in rows], 25),
                                           numero_terms(rng, [r[0] for r in rows], 25)))
        for uid in gen.liberaux[: max(1, count // 2)]:
            out["liberal"].append(Persona(uid, [], [], []))
    return out


def _nth(items: Sequence[str], i: int) -> str:
    return items[i % len(items)] if items else "zzz"


def shapes(people: dict[str, list[Persona]]) -> list[Shape]:
    dash, recv = dossier_service.dashboard, demande_service.receveur_dashboard
    pre, rec = people["prescripteur"], people["receveur"]
    propositions = frozenset({Status.ACCORD_DE_PRINCIPE, Status.ACCEPTEE})
    out = [
        Shape("prescripteur", "en_cours_p1", "section en cours, page 1 (default)", pre,
              lambda u, e, p, i: dash(u, e, p.user_id)),
        Shape("prescripteur", "anticipees", "section anticipées", pre,
              lambda u, e, p, i: dash(u, e, p.user_id, section=Section.ANTICIPEES)),
        Shape("prescripteur", "retour_domicile", "section retour à domicile", pre,
              lambda u, e, p, i: dash(u, e, p.user_id, section=Section.RETOUR_DOMICILE)),
        Shape("prescripteur", "patients_sortis", "section patients sortis", pre,
              lambda u, e, p, i: dash(u, e, p.user_id, section=Section.PATIENTS_SORTIS)),
        Shape("prescripteur", "archivees", "section archivées", pre,
              lambda u, e, p, i: dash(u, e, p.user_id, section=Section.ARCHIVEES)),
        Shape("prescripteur", "annulees", "section annulées", pre,
              lambda u, e, p, i: dash(u, e, p.user_id, section=Section.ANNULEES)),
        Shape("prescripteur", "statut_propositions", "en cours, filter accord de principe + acceptée", pre,
              lambda u, e, p, i: dash(u, e, p.user_id, statuts=propositions)),
        Shape("prescripteur", "recherche_nom", "en cours, patient name prefix", pre,
              lambda u, e, p, i: dash(u, e, p.user_id, recherche=_nth(p.names, i))),
        Shape("prescripteur", "recherche_numero", "en cours, dossier number", pre,
              lambda u, e, p, i: dash(u, e, p.user_id, recherche=_nth(p.numeros, i))),
        Shape("prescripteur", "en_cours_p5", "section en cours, page 5", pre,
              lambda u, e, p, i: dash(u, e, p.user_id, page=5)),
        Shape("receveur", "recues_p1", "received demandes, page 1 (default)", rec,
              lambda u, e, p, i: recv(u, e, p.user_id)),
        Shape("receveur", "statut_en_attente", "filter en attente de réponse", rec,
              lambda u, e, p, i: recv(u, e, p.user_id, statuts=frozenset({Status.EN_ATTENTE}))),
        Shape("receveur", "recherche_nom", "patient name prefix", rec,
              lambda u, e, p, i: recv(u, e, p.user_id, recherche=_nth(p.names, i))),
        Shape("receveur", "recherche_numero", "dossier number", rec,
              lambda u, e, p, i: recv(u, e, p.user_id, recherche=_nth(p.numeros, i))),
        Shape("receveur", "recues_p5", "received demandes, page 5", rec,
              lambda u, e, p, i: recv(u, e, p.user_id, page=5)),
    ]
    if people["liberal"]:
        out.insert(10, Shape("prescripteur", "liberal_en_cours", "médecin libéral, own dossiers, en cours",
                             people["liberal"], lambda u, e, p, i: dash(u, e, p.user_id)))
    return out


@dataclass
class Captured:
    statement: str
    parameters: dict[str, Any]
    kind: str  # prescripteur.main, prescripteur.summaries, receveur.main


def classify(statement: str) -> str | None:
    s = " ".join(statement.split())
    if "FROM dossier" in s and "ORDER BY dossier.derniere_action_at DESC" in s:
        return "prescripteur.main"
    if "FROM demande JOIN unite" in s and "demande.dossier_id IN" in s:
        return "prescripteur.summaries"
    if "FROM demande JOIN dossier" in s and "ORDER BY demande.statut_at DESC" in s:
        return "receveur.main"
    return None  # subject_for (user, habilitations, délégations): primary-key and indexed look-ups


class Recorder:
    """Captures the dashboard statements the repositories issue (only while warming up)."""

    def __init__(self) -> None:
        self.items: list[Captured] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                 executemany: bool) -> None:
        kind = classify(statement)
        if kind is not None and isinstance(parameters, dict):
            self.items.append(Captured(statement, dict(parameters), kind))


def quantiles(samples: Sequence[float]) -> dict[str, Any]:
    if not samples:
        return {}
    q = [samples[0]] * 99 if len(samples) == 1 else statistics.quantiles(samples, n=100, method="inclusive")
    return {"n": len(samples), "p50_ms": round(q[49], 3), "p95_ms": round(q[94], 3),
            "max_ms": round(max(samples), 3), "mean_ms": round(statistics.fmean(samples), 3)}


def run_shapes(factory: UnitOfWorkFactory, env: Env, all_shapes: list[Shape], iterations: int, warmup: int
               ) -> tuple[dict[str, list[float]], dict[str, list[int]], dict[str, list[Captured]]]:
    """Warm up (capturing the SQL), then time every shape, round-robin so that noise spreads evenly."""
    recorder = Recorder()
    captured: dict[str, list[Captured]] = {}
    event.listen(factory.engine, "before_cursor_execute", recorder)
    try:
        for shape in all_shapes:
            for i in range(max(warmup, len(shape.personas))):
                recorder.items.clear()
                persona = shape.personas[i % len(shape.personas)]
                with factory() as uow:
                    shape.call(uow, env, persona, i // len(shape.personas))
                if i < len(shape.personas):
                    captured.setdefault(shape.side + "." + shape.name, []).extend(recorder.items)
    finally:
        event.remove(factory.engine, "before_cursor_execute", recorder)
    times: dict[str, list[float]] = defaultdict(list)
    rows: dict[str, list[int]] = defaultdict(list)
    gc.collect()
    for i in range(iterations):
        for shape in all_shapes:
            persona = shape.personas[i % len(shape.personas)]
            term_index = i // len(shape.personas)
            t0 = time.perf_counter()
            with factory() as uow:
                page = shape.call(uow, env, persona, term_index)
            times[shape.side + "." + shape.name].append((time.perf_counter() - t0) * 1000)
            rows[shape.side + "." + shape.name].append(len(page.items))
    return times, rows, captured


# ====================================================================================================================
# 5. Plans (EXPLAIN) and the no-index peer, on raw psycopg connections with the captured SQL
# ====================================================================================================================

NO_INDEX = ("SET enable_indexscan = off", "SET enable_bitmapscan = off", "SET enable_indexonlyscan = off")
INTENDED: dict[str, set[str]] = {
    # the scope indexes drive the prescripteur dashboard; searches may go through the name / number indexes
    "prescripteur.main": {"ix_dossier_unite_etat_action", "ix_dossier_owner_etat_action", "ix_dossier_numero",
                          "ix_dossier_nom", "ix_dossier_nom_naissance", "ix_demande_dossier_statut"},
    "prescripteur.summaries": {"ix_demande_dossier_statut", "pk_unite"},
    "receveur.main": {"ix_demande_unite_statut_at", "pk_dossier", "ix_dossier_numero", "ix_dossier_nom",
                      "ix_dossier_nom_naissance", "ix_demande_dossier_statut"},
}
WATCHED = ("dossier", "demande")


def positional(statement: str, parameters: dict[str, Any]) -> tuple[str, list[Any]]:
    """pyformat (%(name)s) → $n, for PREPARE."""
    values: list[Any] = []

    def repl(m: re.Match[str]) -> str:
        values.append(parameters[m.group(1)])
        return f"${len(values)}"

    return re.sub(r"%\((\w+)\)s", repl, statement).replace("%%", "%"), values


def plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


def summarize_plan(explained: Any, index_tables: dict[str, str], kind: str) -> dict[str, Any]:
    top = explained[0] if isinstance(explained, list) else explained
    scans, seq = [], []
    for node in plan_nodes(top["Plan"]):
        node_type = node.get("Node Type", "")
        if node_type in ("Index Scan", "Index Only Scan", "Bitmap Index Scan"):
            index = node.get("Index Name", "")
            scans.append({"node": node_type, "index": index,
                          "table": node.get("Relation Name") or index_tables.get(index, "?")})
        elif node_type == "Seq Scan":
            seq.append(node.get("Relation Name", "?"))
    used = sorted({s["index"] for s in scans})
    watched_seq = sorted({t for t in seq if t in WATCHED})
    # the tables of the statement that are watched must each be reached through an index
    watched_tables = {t for t in WATCHED if any(s["table"] == t for s in scans) or t in seq}
    indexed_tables = {s["table"] for s in scans}
    return {
        "indexes": used,
        "scans": scans,
        "seq_scans": sorted(set(seq)),
        "seq_scan_on_dossier_or_demande": watched_seq,
        "intended": sorted(INTENDED.get(kind, set())),
        "uses_intended": bool(set(used) & INTENDED.get(kind, set())),
        "ok": not watched_seq and watched_tables <= indexed_tables and bool(set(used) & INTENDED.get(kind, set())),
        "planning_ms": top.get("Planning Time"),
        "execution_ms": top.get("Execution Time"),
    }


def explain_all(bench_url: str, captured: dict[str, list[Captured]]) -> dict[str, dict[str, Any]]:
    """Per shape and statement, for every rotated user: EXPLAIN (ANALYZE, BUFFERS) of the custom plan, and the
    generic plan the server may switch to once psycopg has prepared the statement (after 5 executions on a
    connection). Keeps the union of indexes and sequential scans, and the full plan of the slowest user."""
    out: dict[str, dict[str, Any]] = {}
    with psycopg.connect(libpq(bench_url), autocommit=True, prepare_threshold=None) as conn:
        index_tables: dict[str, str] = dict(conn.execute(
            "SELECT indexname, tablename FROM pg_indexes WHERE schemaname = 'public'").fetchall())
        for shape, items in captured.items():
            by_kind: dict[str, list[Captured]] = defaultdict(list)
            for c in items:
                by_kind[c.kind].append(c)
            for kind, statements in by_kind.items():
                entries = []
                for c in statements:
                    row = conn.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + c.statement,
                                       c.parameters).fetchone()
                    assert row is not None
                    entry = summarize_plan(row[0], index_tables, kind)
                    entry["plan"], entry["sql"] = row[0], " ".join(c.statement.split())
                    entry["generic"] = generic_plan(conn, c, index_tables, kind)
                    entries.append(entry)
                slowest = max(entries, key=lambda e: e["execution_ms"] or 0.0)
                generics = [e["generic"] for e in entries]
                executions = [e["execution_ms"] or 0.0 for e in entries]
                out.setdefault(shape, {})[kind] = {
                    "statements_explained": len(entries),
                    "indexes": sorted({i for e in entries for i in e["indexes"]}),
                    "seq_scans": sorted({t for e in entries for t in e["seq_scans"]}),
                    "seq_scan_on_dossier_or_demande": sorted(
                        {t for e in entries for t in e["seq_scan_on_dossier_or_demande"]}),
                    "intended": slowest["intended"],
                    "uses_intended": all(e["uses_intended"] for e in entries),
                    "ok": all(e["ok"] for e in entries),
                    "execution_ms": {"median": round(statistics.median(executions), 3),
                                     "max": round(max(executions), 3)},
                    "generic": {
                        "indexes": sorted({i for g in generics for i in g.get("indexes", [])}),
                        "seq_scan_on_dossier_or_demande": sorted(
                            {t for g in generics for t in g.get("seq_scan_on_dossier_or_demande", [])}),
                        "ok": all(g.get("ok", False) for g in generics),
                        "execution_ms": {
                            "median": round(statistics.median(g.get("execution_ms") or 0.0 for g in generics), 3),
                            "max": round(max(g.get("execution_ms") or 0.0 for g in generics), 3)},
                        "errors": sorted({g["error"] for g in generics if "error" in g}),
                    },
                    "slowest": {"sql": slowest["sql"], "scans": slowest["scans"],
                                "planning_ms": slowest["planning_ms"], "execution_ms": slowest["execution_ms"],
                                "plan": slowest["plan"]},
                }
    return out


def generic_plan(conn: psycopg.Connection[Any], c: Captured, index_tables: dict[str, str], kind: str
                 ) -> dict[str, Any]:
    text, values = positional(c.statement, c.parameters)
    try:
        conn.execute("PREPARE bench_generic AS " + text)
        try:
            conn.execute("SET plan_cache_mode = force_generic_plan")
            cur = psycopg.ClientCursor(conn)
            cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE bench_generic("
                        + ", ".join(["%s"] * len(values)) + ")", values)
            row = cur.fetchone()
            assert row is not None
            summary = summarize_plan(row[0], index_tables, kind)
            return {k: summary[k] for k in ("indexes", "seq_scans", "seq_scan_on_dossier_or_demande", "ok",
                                            "execution_ms")}
        finally:
            conn.execute("RESET plan_cache_mode")
            conn.execute("DEALLOCATE bench_generic")
    except psycopg.Error as exc:
        return {"error": f"{type(exc).__name__}: {exc}".strip()}


def peer_no_index(bench_url: str, captured: dict[str, list[Captured]], iterations: int) -> dict[str, Any]:
    """The same SQL on two connections, one with index scans disabled; alternated so they share the noise.
    Statements are not server-prepared here (prepare_threshold=None): each run is planned with its own settings."""
    out: dict[str, Any] = {}
    with psycopg.connect(libpq(bench_url), autocommit=True, prepare_threshold=None) as with_idx, \
            psycopg.connect(libpq(bench_url), autocommit=True, prepare_threshold=None) as without:
        for setting in NO_INDEX:
            without.execute(setting)
        for shape, items in captured.items():
            mains = [c for c in items if c.kind.endswith(".main")]
            if not mains:
                continue
            samples: dict[str, list[float]] = {"with_indexes": [], "without_indexes": []}
            for i in range(iterations):
                c = mains[i % len(mains)]
                for label, conn in (("with_indexes", with_idx), ("without_indexes", without)):
                    t0 = time.perf_counter()
                    conn.execute(c.statement, c.parameters).fetchall()
                    samples[label].append((time.perf_counter() - t0) * 1000)
            a, b = quantiles(samples["with_indexes"]), quantiles(samples["without_indexes"])
            out[shape] = {"with_indexes": a, "without_indexes": b,
                          "speedup_p50": round(b["p50_ms"] / a["p50_ms"], 2) if a["p50_ms"] else None,
                          "speedup_p95": round(b["p95_ms"] / a["p95_ms"], 2) if a["p95_ms"] else None}
    return out


# ====================================================================================================================
# 6. Report
# ====================================================================================================================


def environment(bench_url: str, engine: sa.Engine) -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(), "platform": platform.platform(), "cpu_count": os.cpu_count(),
        "sqlalchemy": sa.__version__, "psycopg": psycopg.__version__,
    }
    with psycopg.connect(libpq(bench_url)) as conn:
        info["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
        info["settings"] = {
            name: conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()[0]  # type: ignore[index]
            for name in ("shared_buffers", "work_mem", "effective_cache_size", "random_page_cost", "jit",
                         "plan_cache_mode", "max_parallel_workers_per_gather")
        }
        info["table_sizes_mb"] = {
            t: round(conn.execute("SELECT pg_total_relation_size(%s)", (t,)).fetchone()[0] / 2**20, 1)  # type: ignore[index]
            for t in ("patient", "dossier", "demande")
        }
    with engine.connect() as conn:  # the pooled connection the services used: what psycopg prepared on it
        row = conn.execute(sa.text("SELECT count(*), coalesce(sum(generic_plans), 0), coalesce(sum(custom_plans), 0)"
                                   " FROM pg_prepared_statements")).one()
        info["server_prepared_on_service_connection"] = {"statements": row[0], "generic_plan_runs": row[1],
                                                         "custom_plan_runs": row[2]}
    return info


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(args: argparse.Namespace, result: dict[str, Any]) -> None:
    target = args.target_ms
    print()
    print(f"Dashboards on PostgreSQL {result['environment']['postgresql']}: "
          f"{result['data']['counts'].get('dossier', 0):,} dossiers, {result['data']['counts'].get('demande', 0):,}"
          f" demandes; {args.iterations} timed calls per shape through the services; limit p95 ≤ {target:g} ms")
    head = (f"{'shape':<30}{'rows':>6}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'p95/lim':>9}  {'latency':<8}"
            f"{'sql max':>8}{'gen max':>8}  {'plan':<6}indexes (seq scans)")
    print(head)
    print("-" * len(head))
    for side in ("prescripteur", "receveur"):
        for name, s in result["results"][side]["shapes"].items():
            plans = result["plans"].get(f"{side}.{name}", {})
            plan_ok = all(p["ok"] for p in plans.values()) if plans else None
            idx = sorted({i for p in plans.values() for i in p["indexes"]})
            seq = sorted({t for p in plans.values() for t in p["seq_scans"]})
            main = plans.get(f"{side}.main", {})
            sql_max = main.get("execution_ms", {}).get("max", float("nan"))
            gen_max = main.get("generic", {}).get("execution_ms", {}).get("max", float("nan"))
            print(f"{side[:5] + '.' + name:<30}{s['mean_rows']:>6.1f}{s['p50_ms']:>9.2f}{s['p95_ms']:>9.2f}"
                  f"{s['max_ms']:>9.2f}{s['ratio_p95_to_limit']:>9.3f}  {verdict(s['pass']):<8}{sql_max:>8.2f}{gen_max:>8.2f}  "
                  f"{'-' if plan_ok is None else verdict(plan_ok):<6}{', '.join(idx)}"
                  f"{' (seq: ' + ', '.join(seq) + ')' if seq else ''}")
        o = result["results"][side]["overall"]
        print(f"{side + ' overall':<30}{'':>6}{o['p50_ms']:>9.2f}{o['p95_ms']:>9.2f}{o['max_ms']:>9.2f}"
              f"{o['ratio_p95_to_limit']:>9.3f}  {verdict(o['pass'])}")
        print("-" * len(head))
    print()
    print("Peer: same SQL with enable_indexscan/bitmapscan/indexonlyscan = off "
          f"({args.peer_iterations} runs each, raw psycopg, alternated)")
    print(f"{'statement':<34}{'with p50':>10}{'without p50':>13}{'speed-up':>10}")
    for shape, p in result["peer_no_index"].items():
        print(f"{shape:<34}{p['with_indexes']['p50_ms']:>10.2f}{p['without_indexes']['p50_ms']:>13.2f}"
              f"{p['speedup_p50']:>9.1f}x")
    generic_bad = [f"{s}:{k}" for s, kinds in result["plans"].items() for k, p in kinds.items()
                   if p["generic"].get("seq_scan_on_dossier_or_demande")]
    print("sql max / gen max: slowest server execution (EXPLAIN ANALYZE) of the main statement over the rotated users,"
          " with its custom plan / with the generic plan used once psycopg has prepared it")
    if generic_bad:
        print("Generic plans (after server-side prepare) with a Seq Scan on dossier/demande: " + ", ".join(generic_bad))
    v = result["verdict"]
    print(f"TARGET prescripteur p95 ≤ {target:g} ms: {v['prescripteur_latency']}   "
          f"TARGET receveur p95 ≤ {target:g} ms: {v['receveur_latency']}   "
          f"TARGET plans use indexes, no Seq Scan on dossier/demande: {v['plans']}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("AIGUILLAGE_BENCH_DATABASE_URL") or DEFAULT_URL,
                        help="server to use (its database is only used to create the bench database)")
    parser.add_argument("--bench-database", default=BENCH_DATABASE)
    parser.add_argument("--dossiers", type=int, default=100_000)
    parser.add_argument("--demandes-per-dossier", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=300, help="timed calls per shape")
    parser.add_argument("--warmup", type=int, default=30, help="untimed calls per shape first")
    parser.add_argument("--peer-iterations", type=int, default=0, help="default: iterations / 10, at least 10")
    parser.add_argument("--personas", type=int, default=24, help="users rotated per side")
    parser.add_argument("--target-ms", type=float, default=50.0)
    parser.add_argument("--seed", type=int, default=20260105)
    parser.add_argument("--reuse", action="store_true", help="keep the bench database if it holds this data set")
    parser.add_argument("--json-out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.dossiers < 1 or args.demandes_per_dossier < 1:
        parser.error("--dossiers and --demandes-per-dossier must be at least 1")
    args.peer_iterations = args.peer_iterations or max(10, args.iterations // 10)

    admin_url, bench_url = bench_urls(args.database_url, args.bench_database)
    started = dt.datetime.now(UTC)
    t0 = time.perf_counter()
    must_load = prepare_database(args, admin_url, args.bench_database)
    upgrade(bench_url)  # the real migrations (a no-op on a reused database at head)
    phases: dict[str, float] = {}
    if must_load:
        print(f"loading {args.dossiers:,} dossiers / {args.dossiers * args.demandes_per_dossier:,} demandes into "
              f"{make_url(bench_url).render_as_string(hide_password=True)} …", flush=True)
        data = DataSet(args.dossiers, args.demandes_per_dossier, args.seed)
        phases = load(bench_url, data)
        mark_complete(args, admin_url, args.bench_database)
        print(f"loaded in {phases['total_s']:.1f} s " + json.dumps({k: round(v, 1) for k, v in phases.items()}))
    gen = read_back(bench_url)
    setup_s = time.perf_counter() - t0

    people = personas(bench_url, gen, args.seed, args.personas)
    all_shapes = shapes(people)
    engine = make_engine(bench_url)
    factory = UnitOfWorkFactory(engine)
    env = Env(clock=FrozenClock(NOW))
    print(f"timing {len(all_shapes)} shapes × {args.iterations} calls "
          f"({len(people['prescripteur'])} prescripteurs, {len(people['receveur'])} receveurs rotated) …", flush=True)
    times, rows, captured = run_shapes(factory, env, all_shapes, args.iterations, args.warmup)
    print("explaining the captured statements …", flush=True)
    plans = explain_all(bench_url, captured)
    print(f"peer: the same SQL without index scans, {args.peer_iterations} runs per shape …", flush=True)
    peer = peer_no_index(bench_url, captured, args.peer_iterations)

    results: dict[str, Any] = {}
    for side in ("prescripteur", "receveur"):
        side_shapes = [s for s in all_shapes if s.side == side]
        per: dict[str, Any] = {}
        pooled: list[float] = []
        for s in side_shapes:
            key = f"{side}.{s.name}"
            q = quantiles(times[key])
            q["mean_rows"] = round(statistics.fmean(rows[key]), 1)
            q["ratio_p95_to_limit"] = round(q["p95_ms"] / args.target_ms, 3)
            q["pass"] = q["p95_ms"] <= args.target_ms
            q["label"] = s.label
            q["units_per_user"] = dict(sorted(Counter(len(p.unites) for p in s.personas).items()))
            per[s.name] = q
            pooled += times[key]
        overall = quantiles(pooled)
        overall["ratio_p95_to_limit"] = round(overall["p95_ms"] / args.target_ms, 3)
        overall["pass"] = overall["p95_ms"] <= args.target_ms and all(v["pass"] for v in per.values())
        results[side] = {"shapes": per, "overall": overall}
    everything = [x for v in times.values() for x in v]
    results["overall"] = quantiles(everything)
    results["overall"]["ratio_p95_to_limit"] = round(results["overall"]["p95_ms"] / args.target_ms, 3)

    plans_ok = all(p["ok"] for kinds in plans.values() for p in kinds.values())
    result: dict[str, Any] = {
        "benchmark": NAME,
        "claim": "prescripteur dashboard and receveur list: p95 ≤ 50 ms at 100,000 dossiers / 300,000 demandes, "
                 "with index-backed plans",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "started_at": started.isoformat(),
        "environment": environment(bench_url, engine),
        "data": {"database": args.bench_database, "reused": not must_load, "seed": args.seed,
                 "counts": gen.counts, "profile": gen.profile, "load_phases_s": {k: round(v, 2) for k, v in phases.items()},
                 "setup_s": round(setup_s, 2), "benchmark_now": NOW.isoformat()},
        "parameters": {"iterations": args.iterations, "warmup": args.warmup, "peer_iterations": args.peer_iterations,
                       "personas": {k: len(v) for k, v in people.items()}},
        "limit": {"name": "p95 target", "ms": args.target_ms},
        "results": results,
        "peer_no_index": peer,
        "plans": plans,
        "verdict": {
            "prescripteur_latency": verdict(results["prescripteur"]["overall"]["pass"]),
            "receveur_latency": verdict(results["receveur"]["overall"]["pass"]),
            "plans": verdict(plans_ok),
        },
    }
    engine.dispose()
    report(args, result)
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(result, ensure_ascii=False, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"JSON: {args.json_out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
