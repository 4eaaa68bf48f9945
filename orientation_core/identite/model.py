"""Identity-vigilance values and records (DOMAIN.md §7).

The registry's identity (traits, status, attributes, INS identifiers) stays in ``orientation_core.patients``;
this package adds what RNIV needs around it: the INS returned by INSi before the identity is qualified, the
identity document that validated the traits, the trace of every change, the INSi look-ups and the conflicts
work list.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from orientation_core.patients.model import TypeIdentifiantPatient

# DOMAIN.md §7: the OIDs of the INS kinds
OID_INS_NIR = "1.2.250.1.213.1.4.8"
OID_INS_NIA = "1.2.250.1.213.1.4.9"
OID_INS_NIR_TEST = "1.2.250.1.213.1.4.10"
OID_INS_NIR_DEMO = "1.2.250.1.213.1.4.11"

TYPE_PAR_OID: dict[str, TypeIdentifiantPatient] = {
    OID_INS_NIR: TypeIdentifiantPatient.INS_NIR,
    OID_INS_NIA: TypeIdentifiantPatient.INS_NIA,
    OID_INS_NIR_TEST: TypeIdentifiantPatient.INS_NIR_TEST,
    OID_INS_NIR_DEMO: TypeIdentifiantPatient.INS_NIR_DEMO,
}


OID_PAR_TYPE: dict[TypeIdentifiantPatient, str] = {v: k for k, v in TYPE_PAR_OID.items()}


class CodeCR(StrEnum):
    """RESULTAT/CR/CodeCR of INSi."""

    TROUVE = "00"  # exactly one identity
    AUCUN = "01"  # no identity
    PLUSIEURS = "02"  # several identities


class Attribut(StrEnum):
    HOMONYME = "homonyme"
    DOUTEUSE = "douteuse"
    FICTIVE = "fictive"


class PieceIdentite(StrEnum):
    """High-trust identity documents that validate the traits (PAM FR ZFD-7 codes)."""

    CN = "CN"  # carte nationale d'identité
    PA = "PA"  # passeport
    TS = "TS"  # titre de séjour
    LE = "LE"  # livret de famille (minors)
    EC = "EC"  # extrait d'acte de naissance (minors)


PIECE_LABELS: dict[PieceIdentite, str] = {
    PieceIdentite.CN: "carte nationale d'identité",
    PieceIdentite.PA: "passeport",
    PieceIdentite.TS: "titre de séjour",
    PieceIdentite.LE: "livret de famille",
    PieceIdentite.EC: "extrait d'acte de naissance",
}


@dataclass(frozen=True)
class InsRef:
    """An INS as INSi returns it: matricule (13), key (2), OID."""

    matricule: str
    cle: str
    oid: str

    @property
    def valeur(self) -> str:
        """The 15-character value carried by PID-3 / FHIR identifier.value."""
        return f"{self.matricule}{self.cle}"

    @property
    def type(self) -> TypeIdentifiantPatient:
        return TYPE_PAR_OID[self.oid]

    def as_dict(self) -> dict[str, str]:
        return {"matricule": self.matricule, "cle": self.cle, "oid": self.oid}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InsRef:
        return cls(matricule=str(data["matricule"]), cle=str(data["cle"]), oid=str(data["oid"]))


@dataclass(frozen=True)
class TraitsIdentite:
    """Strict traits as sent to / returned by INSi (RECSANSVITALE / TIQ)."""

    nom_naissance: str
    prenoms: tuple[str, ...]
    sexe: str  # M / F
    date_naissance: dt.date
    lieu_naissance: str = ""  # INSEE code; 99999 unknown; 99xxx country

    def as_dict(self) -> dict[str, Any]:
        return {"nom_naissance": self.nom_naissance, "prenoms": list(self.prenoms), "sexe": self.sexe,
                "date_naissance": self.date_naissance.isoformat(), "lieu_naissance": self.lieu_naissance}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TraitsIdentite:
        return cls(nom_naissance=data["nom_naissance"], prenoms=tuple(data["prenoms"]), sexe=data["sexe"],
                   date_naissance=dt.date.fromisoformat(data["date_naissance"]),
                   lieu_naissance=data.get("lieu_naissance", ""))


@dataclass(frozen=True)
class ResultatInsi:
    """The outcome of a search (after the first-name strategy): CR, the active INS, history, traits."""

    cr: CodeCR
    ins: InsRef | None = None
    historique: tuple[InsRef, ...] = ()
    traits: TraitsIdentite | None = None
    tentatives: int = 1  # how many INSi calls the strategy made
    cle_valide: bool = True  # False: the active INS's key does not compute (DOMAIN.md §7: warn, do not trust)

    def as_dict(self) -> dict[str, Any]:
        return {
            "code_cr": self.cr.value,
            "ins": self.ins.as_dict() if self.ins else None,
            "historique": [h.as_dict() for h in self.historique],
            "traits": self.traits.as_dict() if self.traits else None,
            "tentatives": self.tentatives,
            "cle_valide": self.cle_valide,
        }


@dataclass(frozen=True)
class Verification:
    """Replay of the traits search compared with the stored INS."""

    conforme: bool
    resultat: ResultatInsi
    motif: str = ""  # why it does not match (French, shown to users)


class StatutRecherche(StrEnum):
    EN_ATTENTE = "en_attente"
    TERMINEE = "terminee"
    ABANDONNEE = "abandonnee"  # refused by INSi, or no longer allowed (douteuse, fictive)


class TypeRecherche(StrEnum):
    RECHERCHE = "recherche"
    VERIFICATION = "verification"


class StatutConflit(StrEnum):
    OUVERT = "ouvert"
    APPLIQUE = "applique"
    REJETE = "rejete"


@dataclass(eq=False)
class EtatIdentite:
    """Per patient: the INS returned by INSi (kept here until the identity is qualified) and the document
    that validated the traits."""

    patient_id: int
    ins_matricule: str = ""
    ins_cle: str = ""
    ins_oid: str = ""
    ins_historique: list[dict[str, Any]] = field(default_factory=list)
    traits_insi: dict[str, Any] = field(default_factory=dict)
    date_interrogation_insi: dt.datetime | None = None  # ZFD-6
    piece_identite: PieceIdentite | None = None  # ZFD-7
    validee_at: dt.datetime | None = None
    validee_par_id: int | None = None
    updated_at: dt.datetime | None = None
    id: int | None = None

    @property
    def ins(self) -> InsRef | None:
        if not self.ins_matricule:
            return None
        return InsRef(self.ins_matricule, self.ins_cle, self.ins_oid)

    def set_ins(self, ins: InsRef | None) -> None:
        self.ins_matricule = ins.matricule if ins else ""
        self.ins_cle = ins.cle if ins else ""
        self.ins_oid = ins.oid if ins else ""


@dataclass(eq=False)
class TraceIdentite:
    """One change of an identity's status, attributes, INS or traits (who, when, what, before/after)."""

    patient_id: int
    at: dt.datetime
    action: str
    actor_kind: str  # utilisateur / systeme / insi
    actor_user_id: int | None = None
    statut_avant: str = ""
    statut_apres: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


@dataclass(eq=False)
class RechercheInsi:
    """A queued INSi call (search or verification), retried with backoff while INSi is unavailable."""

    patient_id: int
    type: TypeRecherche
    motif: str
    demandee_at: dt.datetime
    statut: StatutRecherche = StatutRecherche.EN_ATTENTE
    prochaine_tentative_at: dt.datetime | None = None
    tentatives: int = 0
    terminee_at: dt.datetime | None = None
    code_cr: str = ""
    erreur: str = ""
    demandee_par_id: int | None = None
    id: int | None = None


@dataclass(eq=False)
class ConflitIdentite:
    """An INSi answer that would change a qualified INS (or an INS held by another patient): never applied
    silently; an INS-trained user decides."""

    patient_id: int
    at: dt.datetime
    motif: str
    ins_actuel: dict[str, Any] = field(default_factory=dict)
    ins_recu: dict[str, Any] = field(default_factory=dict)
    traits_recus: dict[str, Any] = field(default_factory=dict)
    recherche_id: int | None = None
    statut: StatutConflit = StatutConflit.OUVERT
    resolu_at: dt.datetime | None = None
    resolu_par_id: int | None = None
    id: int | None = None
