"""Users, habilitations per unit, délégations (DOMAIN.md §6)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from enum import StrEnum

from orientation_core.errors import ValidationFailed


class Role(StrEnum):
    PRESCRIPTEUR = "prescripteur"
    PRESCRIPTEUR_MEDICAL = "prescripteur_medical"
    RECEVEUR = "receveur"
    RECEVEUR_MEDICAL = "receveur_medical"
    MEDECIN_COORDONNATEUR = "medecin_coordonnateur"
    REFERENT = "referent"


ROLE_LABELS: dict[Role, str] = {
    Role.PRESCRIPTEUR: "Prescripteur",
    Role.PRESCRIPTEUR_MEDICAL: "Prescripteur médical",
    Role.RECEVEUR: "Receveur",
    Role.RECEVEUR_MEDICAL: "Receveur médical",
    Role.MEDECIN_COORDONNATEUR: "Médecin coordonnateur",
    Role.REFERENT: "Référent structure",
}


class TypeIdentifiant(StrEnum):
    RPPS = "rpps"  # national id "8" + 11-digit RPPS
    ADELI = "adeli"  # national id "0" + 9-digit ADELI
    LOCAL = "local"  # account created by a référent, no card


class TypeDelegation(StrEnum):
    ASSISTANT = "assistant"
    CONFRERE = "confrere"


_RPPS = re.compile(r"^8\d{11}$")
_ADELI = re.compile(r"^0\d{9}$")


def identifiant_type(identifiant_national: str) -> TypeIdentifiant:
    """The national id printed on the card: ``8`` + RPPS (11 digits) or ``0`` + ADELI (9 digits)."""
    if _RPPS.match(identifiant_national):
        return TypeIdentifiant.RPPS
    if _ADELI.match(identifiant_national):
        return TypeIdentifiant.ADELI
    raise ValidationFailed(
        f"Identifiant national invalide : « {identifiant_national} » (attendu 8 + RPPS ou 0 + ADELI).",
        code="utilisateur.identifiant_national",
    )


@dataclass(eq=False)
class User:
    nom: str
    prenom: str
    email: str
    identifiant_national: str | None = None
    identifiant_local: str | None = None
    type_identifiant: TypeIdentifiant = TypeIdentifiant.LOCAL
    profession: str = ""  # e.g. "medecin", "infirmier", "secretaire"
    specialite: str = ""
    telephone: str = ""
    code_postal: str | None = None
    ville: str = ""
    forme_ins: bool = False  # trained for INS retrieval: INS actions are offered only then
    alertes_email: bool = True  # on by default: users of the incumbent miss status changes
    actif: bool = True
    administrateur: bool = False  # platform administrator (registers établissements, DPI clients)
    id: int | None = None
    created_at: dt.datetime | None = None

    def __post_init__(self) -> None:
        if self.identifiant_national:
            self.type_identifiant = identifiant_type(self.identifiant_national)
        elif not self.identifiant_local:
            raise ValidationFailed("Un identifiant national ou local est obligatoire.", code="utilisateur.identifiant")
        if "@" not in self.email:
            raise ValidationFailed(f"Adresse e-mail invalide : « {self.email} ».", code="utilisateur.email")
        if not self.nom.strip() or not self.prenom.strip():
            raise ValidationFailed("Le nom et le prénom sont obligatoires.", code="utilisateur.nom")

    @property
    def login(self) -> str:
        return self.identifiant_national or self.identifiant_local or ""

    @property
    def est_medecin(self) -> bool:
        return self.profession == "medecin"

    @property
    def nom_complet(self) -> str:
        return f"{self.prenom} {self.nom}"


@dataclass(eq=False)
class Habilitation:
    user_id: int
    role: Role
    etablissement_id: int
    unite_id: int | None = None  # None: the whole établissement (référent)
    granted_by_id: int | None = None
    granted_at: dt.datetime | None = None
    id: int | None = None

    def __post_init__(self) -> None:
        if self.role is not Role.REFERENT and self.unite_id is None:
            raise ValidationFailed("Cette habilitation se donne pour une unité.", code="habilitation.unite")


@dataclass(eq=False)
class Delegation:
    """A médecin libéral delegates rights on his dossiers to an assistant or a confrère, for a window."""

    delegant_id: int
    delegataire_id: int
    type: TypeDelegation
    debut: dt.datetime
    fin: dt.datetime
    droits: list[str] = field(default_factory=list)  # policy Action values; confrère: the delegant's rights
    accepted_at: dt.datetime | None = None  # assistant: set when he completes the invitation
    revoked_at: dt.datetime | None = None
    created_at: dt.datetime | None = None
    id: int | None = None

    def __post_init__(self) -> None:
        if self.fin <= self.debut:
            raise ValidationFailed("La fin de la délégation doit suivre son début.", code="delegation.periode")
        if self.delegant_id == self.delegataire_id:
            raise ValidationFailed("On ne se délègue pas à soi-même.", code="delegation.soi_meme")

    def active_at(self, now: dt.datetime) -> bool:
        return (
            self.revoked_at is None
            and self.accepted_at is not None
            and self.debut <= now < self.fin
        )
