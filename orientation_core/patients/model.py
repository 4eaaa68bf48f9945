"""Patient registry fed by the DPI (HL7 PAM FR, FHIR): identities with traits, identifiers, stays.

Identity-vigilance rules (INSi, RNIV status machine) are the INS issue's; here the registry only stores the
status and refuses to keep an INS on an identity that is not qualified.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum

from orientation_core.errors import ValidationFailed


class Sexe(StrEnum):
    F = "F"
    M = "M"
    INCONNU = "U"


class StatutIdentite(StrEnum):
    PROVISOIRE = "provisoire"
    RECUPEREE = "recuperee"
    VALIDEE = "validee"
    QUALIFIEE = "qualifiee"


class TypeIdentifiantPatient(StrEnum):
    IPP = "ipp"  # PID-3 "PI", per établissement (assigner = FINESS)
    INS_NIR = "ins_nir"  # OID 1.2.250.1.213.1.4.8
    INS_NIA = "ins_nia"  # OID 1.2.250.1.213.1.4.9
    INS_NIR_TEST = "ins_nir_test"  # 1.2.250.1.213.1.4.10
    INS_NIR_DEMO = "ins_nir_demo"  # 1.2.250.1.213.1.4.11


INS_TYPES = frozenset(
    {
        TypeIdentifiantPatient.INS_NIR, TypeIdentifiantPatient.INS_NIA,
        TypeIdentifiantPatient.INS_NIR_TEST, TypeIdentifiantPatient.INS_NIR_DEMO,
    }
)


class StatutSejour(StrEnum):
    PREADMISSION = "preadmission"
    EN_COURS = "en_cours"
    SORTI = "sorti"
    ANNULE = "annule"


def normalize_name(value: str) -> str:
    """Upper case, no accents, hyphens and apostrophes as spaces, single spaces: the search key of a name."""
    decomposed = unicodedata.normalize("NFKD", value)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    cleaned = "".join(ch if ch.isalnum() else " " for ch in stripped.upper())
    return " ".join(cleaned.split())


@dataclass(eq=False)
class Identifiant:
    patient_id: int
    type: TypeIdentifiantPatient
    valeur: str
    autorite: str = ""  # IPP: FINESS of the assigning établissement; INS: the OID
    id: int | None = None


@dataclass(eq=False)
class Patient:
    nom_naissance: str
    prenoms: list[str]  # birth first-name list, in order
    date_naissance: dt.date
    sexe: Sexe
    nom_utilise: str = ""
    prenom_utilise: str = ""
    lieu_naissance_code: str = ""  # INSEE code, 99999 when unknown, country code when born abroad
    statut_identite: StatutIdentite = StatutIdentite.PROVISOIRE
    attributs: list[str] = field(default_factory=list)  # homonyme, douteuse, fictive
    adresse: str = ""
    code_postal: str = ""
    ville: str = ""
    telephone: str = ""
    nom_recherche: str = ""  # used (else birth) name + first first name, normalized: the search key
    nom_naissance_recherche: str = ""
    merged_into_id: int | None = None  # A40: this identity was merged into another
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    id: int | None = None

    def __post_init__(self) -> None:
        if not self.nom_naissance.strip():
            raise ValidationFailed("Le nom de naissance est obligatoire.", code="patient.nom_naissance")
        if not self.prenoms or not self.prenoms[0].strip():
            raise ValidationFailed("Au moins un prénom de naissance est obligatoire.", code="patient.prenoms")
        self.refresh_search_key()

    @property
    def premier_prenom(self) -> str:
        return self.prenoms[0]

    @property
    def nom_affiche(self) -> str:
        usual = self.nom_utilise or self.nom_naissance
        first = self.prenom_utilise or self.premier_prenom
        suffix = f" (né·e {self.nom_naissance})" if self.nom_utilise and self.nom_utilise != self.nom_naissance else ""
        return f"{usual.upper()} {first}{suffix}"

    def refresh_search_key(self) -> None:
        """Prefix-searchable keys: "DUPONT JEAN" finds the used name, "MARTIN JEAN" the birth name."""
        first = self.prenom_utilise or self.premier_prenom
        self.nom_recherche = normalize_name(f"{self.nom_utilise or self.nom_naissance} {first}")
        self.nom_naissance_recherche = normalize_name(f"{self.nom_naissance} {first}")


@dataclass(eq=False)
class Sejour:
    patient_id: int
    etablissement_id: int
    nda: str  # PID-18 / PV1-19 visit number
    date_entree: dt.datetime | None = None
    date_sortie: dt.datetime | None = None
    statut: StatutSejour = StatutSejour.EN_COURS
    unite_id: int | None = None
    code_uf: str = ""  # PV1-3 / ZBE-7 as sent, even when the unit is unknown here
    classe: str = ""  # PV1-2 patient class (I, O, E, R…)
    id: int | None = None


@dataclass(eq=False)
class Mouvement:
    """One movement of a stay as the DPI sent it (PAM FR ZBE): the history that cancellations (A11, A12…) and
    Z99 corrections act on."""

    sejour_id: int
    patient_id: int
    identifiant: str  # ZBE-1, the sender's movement id
    evenement: str  # the trigger that created it: A01, A02…
    debut: dt.datetime | None = None  # ZBE-2
    code_uf: str = ""  # ZBE-7 (UF médicale), else PV1-3
    code_uf_soins: str = ""  # ZBE-8
    nature: str = ""  # ZBE-9
    classe: str = ""  # PV1-2 at that movement
    annule: bool = False  # cancelled by its pair (A11, A12, A13, A38, A52, A53, A55)
    message_id: str = ""  # MSH-10 of the last message that touched it
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    id: int | None = None


@dataclass(eq=False)
class PatientContexte:
    """The latest DPI data about a patient, per source (hl7v2, fhir): what the prefill reads — contacts, coverages,
    médecin traitant, clinical data, addresses, phones — each value with its provenance in the source."""

    patient_id: int
    source: str
    donnees: dict[str, object] = field(default_factory=dict)
    provenance: dict[str, str] = field(default_factory=dict)
    message_id: str = ""
    updated_at: dt.datetime | None = None
    id: int | None = None
