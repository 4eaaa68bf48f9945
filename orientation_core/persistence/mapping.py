"""Imperative mapping: the domain dataclasses stay plain Python; this module binds them to the tables."""

from __future__ import annotations

from sqlalchemy.orm import registry

from orientation_core.demande.model import Demande
from orientation_core.directory.model import Etablissement, Unite
from orientation_core.dossier.model import Dossier, PieceJointe
from orientation_core.history import HistoryEvent, Notification, OutboxMessage
from orientation_core.identite.model import ConflitIdentite, EtatIdentite, RechercheInsi, TraceIdentite
from orientation_core.patients.model import Identifiant, Mouvement, Patient, PatientContexte, Sejour
from orientation_core.people.model import Delegation, Habilitation, User
from orientation_core.persistence import tables as t
from orientation_core.persistence.accounts import map_accounts

mapper_registry = registry(metadata=t.metadata)
_mapped = False


def start_mappers() -> None:
    """Idempotent: called by every engine factory."""
    global _mapped
    if _mapped:
        return
    m = mapper_registry.map_imperatively
    m(Etablissement, t.etablissement)
    m(Unite, t.unite)
    m(User, t.utilisateur)
    m(Habilitation, t.habilitation)
    m(Delegation, t.delegation)
    m(Patient, t.patient)
    m(Identifiant, t.patient_identifiant)
    m(Sejour, t.sejour)
    m(Dossier, t.dossier, version_id_col=t.dossier.c.version)
    m(Demande, t.demande, version_id_col=t.demande.c.version)
    m(PieceJointe, t.piece_jointe)
    m(HistoryEvent, t.history_event)
    m(OutboxMessage, t.outbox)
    m(Notification, t.notification)
    m(Mouvement, t.mouvement); m(PatientContexte, t.patient_contexte)  # noqa: E702
    m(EtatIdentite, t.identite_etat)
    m(TraceIdentite, t.identite_trace)
    m(RechercheInsi, t.insi_recherche)
    m(ConflitIdentite, t.identite_conflit)
    map_accounts(m)  # accounts, codes, attempts, history; dossier.medecin_traitant_idnps kept in step
    _mapped = True
