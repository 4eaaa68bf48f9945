"""Directory: établissements and their units (UF), as receivers and as requesters."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from enum import StrEnum

from orientation_core.errors import ValidationFailed


class Secteur(StrEnum):
    SANITAIRE = "sanitaire"
    GRAND_AGE = "grand_age"


class TypeUnite(StrEnum):
    MCO = "mco"  # acute care: where prescriptions come from
    SMR = "smr"
    HAD = "had"
    USP = "usp"
    SSIAD = "ssiad"
    EHPAD = "ehpad"
    USLD = "usld"
    RESIDENCE_AUTONOMIE = "residence_autonomie"
    ACCUEIL_DE_JOUR = "accueil_de_jour"
    ACCUEIL_TEMPORAIRE = "accueil_temporaire"


TYPE_UNITE_LABELS: dict[TypeUnite, str] = {
    TypeUnite.MCO: "Médecine, chirurgie, obstétrique",
    TypeUnite.SMR: "Soins médicaux et de réadaptation",
    TypeUnite.HAD: "Hospitalisation à domicile",
    TypeUnite.USP: "Unité de soins palliatifs",
    TypeUnite.SSIAD: "Service de soins infirmiers à domicile",
    TypeUnite.EHPAD: "EHPAD",
    TypeUnite.USLD: "Unité de soins de longue durée",
    TypeUnite.RESIDENCE_AUTONOMIE: "Résidence autonomie",
    TypeUnite.ACCUEIL_DE_JOUR: "Accueil de jour",
    TypeUnite.ACCUEIL_TEMPORAIRE: "Accueil temporaire",
}

# Which module a receiving unit answers in.
MODULE_OF_TYPE: dict[TypeUnite, Secteur] = {
    TypeUnite.MCO: Secteur.SANITAIRE,
    TypeUnite.SMR: Secteur.SANITAIRE,
    TypeUnite.HAD: Secteur.SANITAIRE,
    TypeUnite.USP: Secteur.SANITAIRE,
    TypeUnite.SSIAD: Secteur.SANITAIRE,
    TypeUnite.EHPAD: Secteur.GRAND_AGE,
    TypeUnite.USLD: Secteur.GRAND_AGE,
    TypeUnite.RESIDENCE_AUTONOMIE: Secteur.GRAND_AGE,
    TypeUnite.ACCUEIL_DE_JOUR: Secteur.GRAND_AGE,
    TypeUnite.ACCUEIL_TEMPORAIRE: Secteur.GRAND_AGE,
}

# SMR "mentions" (décret 2022-24): the specialised activities an SMR unit is authorised for.
MENTIONS_SMR: frozenset[str] = frozenset(
    {
        "polyvalent", "geriatrie", "locomoteur", "systeme_nerveux", "cardio_vasculaire", "pneumologie",
        "digestif_endocrinologie", "brules", "conduites_addictives", "pediatrie", "cancers",
    }
)

_FINESS = re.compile(r"^(\d{2}|2A|2B)\d{7}$")
_POSTCODE = re.compile(r"^\d{5}$")


def check_finess(finess: str) -> str:
    """FINESS: 9 characters, department prefix (2A/2B for Corsica) then digits; the last digit is a Luhn key."""
    value = finess.strip().upper()
    if not _FINESS.match(value):
        raise ValidationFailed(f"N° FINESS invalide : « {finess} » (9 caractères attendus).", code="finess.invalide")
    if value[:2] in ("2A", "2B"):
        return value  # the Luhn key's treatment of Corsican prefixes is not published; accept the format
    if luhn_sum(value) % 10 != 0:
        raise ValidationFailed(f"N° FINESS invalide : « {finess} » (clé incorrecte).", code="finess.cle")
    return value


def luhn_sum(digits: str) -> int:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total


def finess_with_key(first_eight: str) -> str:
    """Append the Luhn key to an 8-digit FINESS stem (demo data, tests)."""
    for key in "0123456789":
        if luhn_sum(first_eight + key) % 10 == 0:
            return first_eight + key
    raise AssertionError("unreachable")


def check_postcode(code: str | None) -> str | None:
    if code is None or code == "":
        return None
    if not _POSTCODE.match(code):
        raise ValidationFailed(f"Code postal invalide : « {code} ».", code="code_postal.invalide")
    return code


@dataclass(eq=False)
class Etablissement:
    finess: str
    nom: str
    secteur: Secteur
    adresse: str = ""
    code_postal: str | None = None
    ville: str = ""
    telephone: str = ""
    id: int | None = None
    created_at: dt.datetime | None = None

    def __post_init__(self) -> None:
        self.finess = check_finess(self.finess)
        self.code_postal = check_postcode(self.code_postal)
        if not self.nom.strip():
            raise ValidationFailed("Le nom de l'établissement est obligatoire.", code="etablissement.nom")

    @property
    def structure_id(self) -> str:
        """Structure id of the ANS medico-social interface: ``1`` + FINESS."""
        return "1" + self.finess


@dataclass(eq=False)
class Unite:
    etablissement_id: int
    code_uf: str
    nom: str
    type: TypeUnite
    mention: str | None = None
    capacite: int | None = None
    pathologies: list[str] = field(default_factory=list)
    besoins_acceptes: list[str] = field(default_factory=list)
    equipements: list[str] = field(default_factory=list)
    code_postal: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    ror_id: str | None = None  # unit id in the Répertoire Opérationnel des Ressources, when known
    actif: bool = True
    id: int | None = None

    def __post_init__(self) -> None:
        if not self.code_uf.strip():
            raise ValidationFailed("Le code UF est obligatoire.", code="unite.code_uf")
        if self.mention is not None and self.type is not TypeUnite.SMR:
            raise ValidationFailed("Seule une unité SMR porte une mention.", code="unite.mention")
        if self.mention is not None and self.mention not in MENTIONS_SMR:
            raise ValidationFailed(f"Mention SMR inconnue : « {self.mention} ».", code="unite.mention")
        if self.capacite is not None and self.capacite < 0:
            raise ValidationFailed("La capacité ne peut pas être négative.", code="unite.capacite")
        self.code_postal = check_postcode(self.code_postal)

    @property
    def module(self) -> Secteur:
        return MODULE_OF_TYPE[self.type]

    def key(self, finess: str) -> str:
        """Stable unit key: the ROR id when known, else FINESS + UF code (what a DPI can name)."""
        return self.ror_id or f"{finess}-{self.code_uf}"

    def distance_km(self, latitude: float, longitude: float) -> float | None:
        if self.latitude is None or self.longitude is None:
            return None
        return haversine_km(self.latitude, self.longitude, latitude, longitude)


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    r = 6371.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))
