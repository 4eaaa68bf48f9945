"""Dashboards as queries: criteria in, one page of rows out. The SQL lives in the repositories."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from orientation_core.demande.workflow import Status
from orientation_core.dossier.model import Section
from orientation_core.dossier.volets import Module

T = TypeVar("T")
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    page: int
    page_size: int
    has_next: bool


@dataclass(frozen=True)
class PrescripteurQuery:
    unite_ids: frozenset[int]  # the units the user may see (already restricted by rights)
    owner_ids: frozenset[int] = frozenset()  # médecin libéral dossiers: his own and his delegants'
    now: dt.datetime = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    today: dt.date = dt.date(2026, 1, 1)  # French calendar date of ``now`` (retour à domicile)
    section: Section = Section.EN_COURS
    statuts: frozenset[Status] = frozenset()  # dossiers having at least one demande in one of these
    module: Module | None = None
    recherche: str = ""  # patient name prefix or dossier number
    page: int = 1
    page_size: int = 50


@dataclass(frozen=True)
class DemandeSummary:
    demande_id: int
    unite_id: int
    unite_nom: str
    statut: Status
    relance_possible: bool = False


@dataclass(frozen=True)
class DossierRow:
    dossier_id: int
    numero: str
    module: Module
    patient_nom: str
    etat: str
    section: Section
    type_orientation: str
    anticipee: bool
    retour_domicile_date: dt.date | None
    derniere_action_at: dt.datetime | None
    pieces_jointes: bool
    bloc_note: str
    dossier_lie_id: int | None
    relance_auto: bool
    demandes: list[DemandeSummary] = field(default_factory=list)
    patient_statut_identite: str = "provisoire"  # RNIV status, shown as a badge wherever the patient is named
    unite_id: int | None = None  # the requesting unit (None: a médecin libéral's dossier)
    nb_pieces_jointes: int = 0
    relance_auto_at: dt.datetime | None = None  # automatic relance raised: active demandes cancelled 30 days later
    patient_id: int | None = None


@dataclass(frozen=True)
class ReceveurQuery:
    unite_ids: frozenset[int]
    statuts: frozenset[Status] = frozenset()  # empty: every status a receiver sees
    recherche: str = ""
    page: int = 1
    page_size: int = 50


@dataclass(frozen=True)
class DemandeRow:
    demande_id: int
    dossier_id: int
    numero: str
    module: Module
    patient_nom: str
    unite_id: int
    unite_nom: str
    statut: Status
    statut_at: dt.datetime | None
    envoyee_at: dt.datetime | None
    type_orientation: str
    etablissement_demandeur: str
    patient_statut_identite: str = "provisoire"
    relance_receveur_at: dt.datetime | None = None  # the prescripteur relanced the receiving unit
    relance_prescripteur_at: dt.datetime | None = None  # the receiving unit relanced the prescripteur
