"""The dossier aggregate: a patient's orientation file, its volets, notes, attachments, link and life cycle."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from orientation_core.dossier.aggir import gir_from_grid
from orientation_core.dossier.provenance import mark_edited
from orientation_core.dossier.volets import (
    ORIENTATION_FIELD,
    VOLETS,
    Completion,
    Module,
    VoletSpec,
    completion,
    missing_fields,
    spec,
)
from orientation_core.errors import Conflict, ValidationFailed


class EtatDossier(StrEnum):
    BROUILLON = "brouillon"  # nothing sent yet
    ENVOYE = "envoye"  # at least one demande sent
    ADMIS = "admis"  # an admission was finalised: "Patients sortis"
    ANNULE = "annule"  # may be reactivated until archived
    ARCHIVE = "archive"  # read-only


class Section(StrEnum):
    """The six sections of the prescripteur dashboard."""

    EN_COURS = "en_cours"
    ANTICIPEES = "anticipees"
    RETOUR_DOMICILE = "retour_domicile"
    PATIENTS_SORTIS = "patients_sortis"
    ARCHIVEES = "archivees"
    ANNULEES = "annulees"


SECTION_LABELS: dict[Section, str] = {
    Section.EN_COURS: "Demandes en cours",
    Section.ANTICIPEES: "Anticipées",
    Section.RETOUR_DOMICILE: "Retour à domicile avant SSR",
    Section.PATIENTS_SORTIS: "Patients sortis",
    Section.ARCHIVEES: "Archivées",
    Section.ANNULEES: "Annulées",
}

OPEN_ETATS = frozenset({EtatDossier.BROUILLON, EtatDossier.ENVOYE})
NUMERO_PREFIX = {Module.SANITAIRE: "S", Module.GRAND_AGE: "G"}


def numero_for(module: Module, dossier_id: int) -> str:
    return f"{NUMERO_PREFIX[module]}{dossier_id:08d}"


@dataclass(frozen=True)
class VoletState:
    name: str
    label: str
    completion: Completion
    missing: list[str]
    medical: bool


@dataclass(eq=False)
class Dossier:
    module: Module
    patient_id: int
    created_by_id: int
    etablissement_id: int | None = None  # requesting établissement (None for a médecin libéral)
    unite_id: int | None = None  # requesting UF
    owner_user_id: int | None = None  # médecin libéral author, when not in an établissement
    sejour_id: int | None = None
    numero: str = ""
    etat: EtatDossier = EtatDossier.BROUILLON
    volets: dict[str, dict[str, Any]] = field(default_factory=dict)
    # volet → field → where its value came from (DPI source, message, segment-field or FHIR path, received at),
    # the DPI's value, whether the user edited it, whether the DPI value differs from the kept one (prefill.py)
    provenance: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    type_orientation: str = ""
    anticipee: bool = False
    retour_domicile_date: dt.date | None = None
    bloc_note: str = ""
    nb_pieces_jointes: int = 0
    dossier_lie_id: int | None = None  # Sanitaire ↔ Grand Âge created in parallel
    relance_auto_at: dt.datetime | None = None
    annule_at: dt.datetime | None = None
    motif_annulation: str = ""
    derniere_action_at: dt.datetime | None = None
    derniere_action_prescripteur_at: dt.datetime | None = None
    patient_nom_recherche: str = ""  # denormalized from the patient for the dashboard search
    patient_nom_naissance_recherche: str = ""
    patient_nom_affiche: str = ""
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    version: int = 1
    id: int | None = None

    # --- volets ---------------------------------------------------------------------------------------

    def volet_spec(self, name: str) -> VoletSpec:
        found = spec(self.module, name)
        if found is None:
            raise ValidationFailed(f"Volet inconnu pour ce dossier : « {name} ».", code="dossier.volet_inconnu")
        return found

    def volet_states(self) -> list[VoletState]:
        return [
            VoletState(v.name, v.label, completion(v, self.volets.get(v.name, {})),
                       missing_fields(v, self.volets.get(v.name, {})), v.medical)
            for v in VOLETS[self.module]
        ]

    @property
    def complet(self) -> bool:
        return all(s.completion is Completion.COMPLET for s in self.volet_states())

    def update_volet(self, name: str, values: dict[str, Any], *, edited: bool = True) -> tuple[dict[str, Any], bool]:
        """Merge ``values`` into a volet; returns the previous values of changed fields and whether the
        orientation type changed (sent demandes then have to be re-sent by hand). ``edited``: a user typed the
        values (a DPI refresh will not overwrite them); False for values the system copies or prefills."""
        self.require_writable()
        volet = self.volet_spec(name)
        unknown = sorted(set(values) - set(volet.fields))
        if unknown:
            raise ValidationFailed(
                f"Champ(s) inconnu(s) dans le volet {volet.label} : {', '.join(unknown)}.",
                code="dossier.champ_inconnu",
                details={"champs": unknown},
            )
        current = dict(self.volets.get(name, {}))
        before = {k: current.get(k) for k, v in values.items() if current.get(k) != v}
        current.update(values)
        if self.module is Module.GRAND_AGE and name == "medical" and {"grille_aggir", "gir"} & set(values):
            # a full grid decides the GIR; a GIR typed from paper stands while the grid is absent or partial
            computed = gir_from_grid(current.get("grille_aggir"), None)
            if "gir" in values and computed is not None and values["gir"] != computed:
                raise ValidationFailed(f"Le GIR découle de la grille AGGIR du dossier (GIR {computed}) : "
                                       "modifiez la grille plutôt que le GIR.", code="aggir.gir_calcule")
            if "grille_aggir" in values and "gir" not in values:
                current["gir"] = gir_from_grid(current.get("grille_aggir"), current.get("gir"))
            if current["gir"] != self.volets.get(name, {}).get("gir"):
                before.setdefault("gir", self.volets.get(name, {}).get("gir"))
        self.volets = {**self.volets, name: current}  # reassign: the store tracks the change
        if edited and before:
            self.provenance = mark_edited(self.provenance, name, {k: current.get(k) for k in before})
        orientation_changed = False
        volet_name, field_name = ORIENTATION_FIELD
        if name == volet_name and field_name in before:
            new_type = str(current.get(field_name) or "")
            orientation_changed = bool(self.type_orientation) and new_type != self.type_orientation
            self.type_orientation = new_type
        if self.anticipee and self.complet:
            self.anticipee = False  # completed during the stay: back among the ordinary dossiers
        return before, orientation_changed

    # --- life cycle -----------------------------------------------------------------------------------

    @property
    def ouvert(self) -> bool:
        return self.etat in OPEN_ETATS

    def require_writable(self) -> None:
        if self.etat is EtatDossier.ARCHIVE:
            raise Conflict("Ce dossier est archivé : il n'est plus modifiable.", code="dossier.archive")
        if self.etat is EtatDossier.ANNULE:
            raise Conflict("Ce dossier est annulé : réactivez-le pour le modifier.", code="dossier.annule")

    def touch(self, now: dt.datetime, *, by_prescripteur: bool) -> None:
        self.derniere_action_at = now
        self.updated_at = now
        if by_prescripteur:
            self.derniere_action_prescripteur_at = now
            self.relance_auto_at = None  # the prescripteur acted: the automatic relance is answered

    def annuler(self, now: dt.datetime, motif: str) -> None:
        if self.etat not in OPEN_ETATS:
            raise Conflict("Seul un dossier en cours peut être annulé.", code="dossier.etat")
        self.etat = EtatDossier.ANNULE
        self.annule_at = now
        self.motif_annulation = motif
        self.relance_auto_at = None

    def reactiver(self, now: dt.datetime, archivage: dt.timedelta, has_sent: bool) -> None:
        if self.etat is not EtatDossier.ANNULE or self.annule_at is None:
            raise Conflict("Seul un dossier annulé peut être réactivé.", code="dossier.etat")
        if now - self.annule_at >= archivage:
            raise Conflict("Le délai de réactivation est dépassé.", code="dossier.reactivation_expiree")
        self.etat = EtatDossier.ENVOYE if has_sent else EtatDossier.BROUILLON
        self.annule_at = None
        self.motif_annulation = ""

    def section(self, today: dt.date) -> Section:
        """Which dashboard section shows this dossier (the SQL in the repository mirrors this)."""
        if self.etat is EtatDossier.ARCHIVE:
            return Section.ARCHIVEES
        if self.etat is EtatDossier.ANNULE:
            return Section.ANNULEES
        if self.etat is EtatDossier.ADMIS:
            return Section.PATIENTS_SORTIS
        if self.retour_domicile_date is not None and self.retour_domicile_date <= today:
            return Section.RETOUR_DOMICILE
        if self.anticipee:
            return Section.ANTICIPEES
        return Section.EN_COURS


@dataclass(eq=False)
class PieceJointe:
    dossier_id: int
    nom: str
    type_mime: str
    taille: int
    added_by_id: int
    added_at: dt.datetime
    categorie: str = ""
    storage_key: str = ""
    id: int | None = None


ALLOWED_MIME = frozenset({"application/pdf", "image/jpeg", "image/png", "text/plain"})
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
