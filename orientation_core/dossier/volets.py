"""Volets of each module and what makes each complete (DOMAIN.md §3 and §5).

A volet is a dict of field → value. Completion is derived, never stored by hand: empty when no field has a
value, complete when every required field has one, in progress otherwise. The prefill issue adds
provenance per field; the requirement lists stay here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Module(StrEnum):
    SANITAIRE = "sanitaire"
    GRAND_AGE = "grand_age"


class Completion(StrEnum):
    VIDE = "vide"
    EN_COURS = "en_cours"
    COMPLET = "complet"


@dataclass(frozen=True)
class VoletSpec:
    name: str
    label: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    medical: bool = False  # written only by holders of a medical habilitation

    @property
    def fields(self) -> tuple[str, ...]:
        return self.required + self.optional


SANITAIRE_VOLETS: tuple[VoletSpec, ...] = (
    VoletSpec(
        "orientation", "Orientation",
        required=("objectif_prise_en_charge", "type_orientation", "accord_patient"),
        optional=("criteres", "mention_smr", "prado_propose", "commentaire", "motif_demande"),
        medical=True,
    ),
    VoletSpec(
        "medical", "Médical",
        required=("pathologie_actuelle", "antecedents", "poids_kg", "taille_cm", "traitements", "allergies"),
        optional=("date_intervention", "isolement", "commentaire", "imc"),
        medical=True,
    ),
    VoletSpec(
        "soins_projet", "Soins et projet",
        required=("soins_infirmiers", "dependance", "projet"),
        optional=("reeducation", "appareillage", "commentaire"),
    ),
    VoletSpec(
        "administratif_social", "Administratif et social",
        required=("nom_naissance", "prenoms", "date_naissance", "sexe", "adresse", "service_demandeur",
                  "date_hospitalisation", "type_logement"),
        optional=("nom_utilise", "telephone", "personne_confiance", "representant_legal", "personne_a_prevenir",
                  "mutuelle", "medecin_traitant", "intervenants_domicile", "date_intervention",
                  # prefill (DPI): identity traits, coverage, requesting établissement, stay
                  "prenom_utilise", "lieu_naissance_code", "ins", "numero_securite_sociale", "email",
                  "situation_familiale", "regime_obligatoire", "etablissement_demandeur", "date_sortie_prevue"),
    ),
    VoletSpec("pieces_jointes", "Pièces jointes", required=("verifiees",)),
)

GRAND_AGE_VOLETS: tuple[VoletSpec, ...] = (
    VoletSpec(
        "administratif", "Volet administratif",
        required=("nom_naissance", "prenoms", "date_naissance", "sexe", "situation_familiale", "personne_contact",
                  "motivation", "type_accueil", "date_entree_souhaitee", "signature"),
        optional=("nom_utilise", "adresse", "aides_financieres", "representant_legal",
                  # Cerfa 14732*03 état civil and contacts, prefilled from the DPI
                  "prenom_utilise", "lieu_naissance_code", "numero_securite_sociale", "telephone", "email",
                  "personne_confiance", "mutuelle"),
    ),
    VoletSpec(
        "medical", "Volet médical",
        required=("contexte", "antecedents", "problemes_actuels", "traitements", "gir", "medecin_signataire"),
        optional=("directives_anticipees", "grille_aggir", "commentaire", "allergies", "medecin_traitant"),
        medical=True,
    ),
    VoletSpec("pieces_jointes", "Pièces jointes", required=("verifiees",)),
)

VOLETS: dict[Module, tuple[VoletSpec, ...]] = {Module.SANITAIRE: SANITAIRE_VOLETS, Module.GRAND_AGE: GRAND_AGE_VOLETS}

# The orientation type drives which demandes stay valid: a change means re-sending by hand.
ORIENTATION_FIELD = ("orientation", "type_orientation")


def spec(module: Module, volet: str) -> VoletSpec | None:
    return next((v for v in VOLETS[module] if v.name == volet), None)


def has_value(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value  # required booleans are confirmations: "accord du patient", "signature"
    if isinstance(value, str):
        return value.strip() != ""
    if isinstance(value, list | dict | tuple | set):
        return len(value) > 0
    return True


def missing_fields(volet: VoletSpec, data: dict[str, Any]) -> list[str]:
    return [f for f in volet.required if not has_value(data.get(f))]


def completion(volet: VoletSpec, data: dict[str, Any]) -> Completion:
    if not any(has_value(v) for v in data.values()):
        return Completion.VIDE
    return Completion.EN_COURS if missing_fields(volet, data) else Completion.COMPLET
