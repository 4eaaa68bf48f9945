"""INS value objects (DOMAIN.md §7): matricule NIR / NIA (13 characters + 2-digit key), OIDs, traits.

Key = 97 - (N mod 97), where N is the 13-character matricule read as a number after Corsica's department
codes are substituted: ``2A`` → 19, ``2B`` → 18. An inbound key that does not compute is a warning (do not trust
the INS); a key typed locally that does not compute is rejected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from ins.errors import InvalidMatricule
from orientation_core.identite.cle import ins_key
from orientation_core.identite.model import (
    OID_INS_NIA,
    OID_INS_NIR,
    OID_INS_NIR_DEMO,
    OID_INS_NIR_TEST,
    InsRef,
    TraitsIdentite,
)

__all__ = ["Ins", "Matricule", "Oid", "TraitsIdentite", "check_key", "compute_key"]


class Oid(StrEnum):
    INS_NIR = OID_INS_NIR
    INS_NIA = OID_INS_NIA
    INS_NIR_TEST = OID_INS_NIR_TEST
    INS_NIR_DEMO = OID_INS_NIR_DEMO


def compute_key(matricule: str) -> str:
    """The 2-digit control key of a 13-character matricule (the rule: ``orientation_core.identite.cle``)."""
    key = ins_key(matricule)
    if key is None:
        raise InvalidMatricule(f"Matricule INS invalide : 13 caractères attendus ({len(matricule.strip())} reçus "
                               "ou format incorrect).")
    return f"{key:02d}"


def check_key(matricule: str, cle: str) -> bool:
    try:
        return compute_key(matricule) == cle.strip()
    except InvalidMatricule:
        return False


@dataclass(frozen=True)
class Matricule:
    """A 13-character NIR or NIA with its key."""

    valeur: str
    cle: str

    @classmethod
    def parse(cls, text: str, *, strict: bool = True) -> Matricule:
        """``text`` is the 15-character INS (spaces allowed). ``strict`` (locally typed): a wrong key is
        rejected; not strict (inbound): the value is kept and ``cle_valide`` says whether to trust it."""
        compact = re.sub(r"\s", "", text).upper()
        if len(compact) != 15:
            raise InvalidMatricule("Un INS compte 15 caractères (matricule de 13 et clé de 2).")
        matricule, cle = compact[:13], compact[13:]
        expected = compute_key(matricule)
        if strict and cle != expected:
            raise InvalidMatricule("La clé de l'INS ne correspond pas au matricule : vérifiez la saisie.")
        return cls(matricule, cle)

    @property
    def cle_valide(self) -> bool:
        return check_key(self.valeur, self.cle)

    @property
    def corse(self) -> bool:
        return self.valeur[5:7] in ("2A", "2B")

    @property
    def sexe(self) -> str:
        return {"1": "M", "3": "M", "7": "M", "2": "F", "4": "F", "8": "F"}[self.valeur[0]]

    def __str__(self) -> str:
        return f"{self.valeur}{self.cle}"


@dataclass(frozen=True)
class Ins:
    """Matricule + OID: the national health identifier."""

    matricule: Matricule
    oid: Oid

    @classmethod
    def from_ref(cls, ref: InsRef, *, strict: bool = False) -> Ins:
        return cls(Matricule.parse(ref.matricule + ref.cle, strict=strict), Oid(ref.oid))

    def to_ref(self) -> InsRef:
        return InsRef(self.matricule.valeur, self.matricule.cle, self.oid.value)

    @property
    def nia(self) -> bool:
        return self.oid is Oid.INS_NIA
