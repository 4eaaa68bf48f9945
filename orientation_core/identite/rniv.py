"""RNIV identity status machine: one explicit transition table (DOMAIN.md §7).

Statuses: provisoire (default) → récupérée (INS returned by INSi) / validée (traits checked against a high-trust
document) → qualifiée (both). Attributes: homonyme (any status); douteuse and fictive force provisoire, forbid
INSi calls and cannot be combined. A failed INSi verification downgrades and removes the INS.

The table lives in the core because the identity use cases (``orientation_core.identite.service``) apply it
and the core imports no sibling package; ``ins.rniv`` re-exports it for the INSi side.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from orientation_core.identite.errors import TransitionIdentiteInterdite
from orientation_core.identite.model import Attribut
from orientation_core.patients.model import StatutIdentite

P = StatutIdentite.PROVISOIRE
R = StatutIdentite.RECUPEREE
V = StatutIdentite.VALIDEE
Q = StatutIdentite.QUALIFIEE
ALL = (P, R, V, Q)

STATUT_LABELS: dict[StatutIdentite, str] = {
    P: "identité provisoire",
    R: "identité récupérée",
    V: "identité validée",
    Q: "identité qualifiée",
}


class Evenement(StrEnum):
    INS_RECUPERE = "ins_recupere"  # INSi answered CR 00 to a traits search
    PIECE_VALIDEE = "piece_validee"  # traits checked against a high-trust identity document
    VERIFICATION_REUSSIE = "verification_reussie"  # replayed search returned the stored INS
    VERIFICATION_ECHOUEE = "verification_echouee"  # replayed search did not return the stored INS
    TRAITS_MODIFIES = "traits_modifies"  # a strict trait changed: the checks no longer hold
    DOUTEUSE_POSEE = "douteuse_posee"
    DOUTEUSE_RETIREE = "douteuse_retiree"
    FICTIVE_POSEE = "fictive_posee"
    FICTIVE_RETIREE = "fictive_retiree"
    HOMONYME_POSE = "homonyme_pose"
    HOMONYME_RETIRE = "homonyme_retire"


@dataclass(frozen=True)
class Transition:
    vers: StatutIdentite
    retire_ins: bool = False  # the INS (retrieved or qualified) is removed
    retire_validation: bool = False  # the document validation is forgotten


E = Evenement
_downgrade = Transition(P, retire_ins=True, retire_validation=True)

# (from status, event) → transition. A pair that is not here is forbidden.
TRANSITIONS: dict[tuple[StatutIdentite, Evenement], Transition] = {
    (P, E.INS_RECUPERE): Transition(R),
    (R, E.INS_RECUPERE): Transition(R),
    (V, E.INS_RECUPERE): Transition(Q),
    (Q, E.INS_RECUPERE): Transition(Q),  # the service sends a different INS to the conflicts work list first
    (P, E.PIECE_VALIDEE): Transition(V),
    (R, E.PIECE_VALIDEE): Transition(Q),
    (V, E.PIECE_VALIDEE): Transition(V),
    (Q, E.PIECE_VALIDEE): Transition(Q),
    (R, E.VERIFICATION_REUSSIE): Transition(R),
    (Q, E.VERIFICATION_REUSSIE): Transition(Q),
    (R, E.VERIFICATION_ECHOUEE): Transition(P, retire_ins=True),
    (Q, E.VERIFICATION_ECHOUEE): Transition(V, retire_ins=True),
    **{(s, E.TRAITS_MODIFIES): _downgrade for s in ALL},
    **{(s, E.DOUTEUSE_POSEE): _downgrade for s in ALL},
    **{(s, E.FICTIVE_POSEE): _downgrade for s in ALL},
    (P, E.DOUTEUSE_RETIREE): Transition(P),
    (P, E.FICTIVE_RETIREE): Transition(P),
    **{(s, E.HOMONYME_POSE): Transition(s) for s in ALL},
    **{(s, E.HOMONYME_RETIRE): Transition(s) for s in ALL},
}

# Events that need INSi or establish trust: refused while the identity is douteuse or fictive.
BLOQUES_PAR_DOUTE = frozenset({E.INS_RECUPERE, E.PIECE_VALIDEE, E.VERIFICATION_REUSSIE, E.VERIFICATION_ECHOUEE})
ATTRIBUTS_BLOQUANTS = frozenset({Attribut.DOUTEUSE, Attribut.FICTIVE})

ATTRIBUT_EVENEMENTS: dict[tuple[Attribut, bool], Evenement] = {
    (Attribut.DOUTEUSE, True): E.DOUTEUSE_POSEE,
    (Attribut.DOUTEUSE, False): E.DOUTEUSE_RETIREE,
    (Attribut.FICTIVE, True): E.FICTIVE_POSEE,
    (Attribut.FICTIVE, False): E.FICTIVE_RETIREE,
    (Attribut.HOMONYME, True): E.HOMONYME_POSE,
    (Attribut.HOMONYME, False): E.HOMONYME_RETIRE,
}


def attributs_of(values: Iterable[str]) -> frozenset[Attribut]:
    return frozenset(Attribut(v) for v in values)


def insi_autorise(attributs: Iterable[str]) -> bool:
    """INSi may be called for this identity (neither douteuse nor fictive)."""
    return not (attributs_of(attributs) & ATTRIBUTS_BLOQUANTS)


def transition(statut: StatutIdentite, attributs: Iterable[str], evenement: Evenement) -> Transition:
    """The transition for this event, or ``TransitionIdentiteInterdite`` with a French reason."""
    attrs = attributs_of(attributs)
    if evenement in BLOQUES_PAR_DOUTE and attrs & ATTRIBUTS_BLOQUANTS:
        bloquant = sorted(a.value for a in attrs & ATTRIBUTS_BLOQUANTS)[0]
        raise TransitionIdentiteInterdite(
            f"Identité {bloquant} : elle reste provisoire, sans appel à l'INSi ni validation.",
            details={"statut": statut.value, "evenement": evenement.value, "attribut": bloquant})
    if (evenement is E.DOUTEUSE_POSEE and Attribut.FICTIVE in attrs) or (
            evenement is E.FICTIVE_POSEE and Attribut.DOUTEUSE in attrs):
        raise TransitionIdentiteInterdite(
            "Une identité ne peut pas être à la fois douteuse et fictive.",
            code="identite.attributs_incompatibles",
            details={"statut": statut.value, "evenement": evenement.value})
    found = TRANSITIONS.get((statut, evenement))
    if found is None:
        raise TransitionIdentiteInterdite(
            f"Action impossible sur une {STATUT_LABELS[statut]} ({evenement.value}).",
            details={"statut": statut.value, "evenement": evenement.value})
    return found


def attributs_apres(attributs: Iterable[str], attribut: Attribut, actif: bool) -> list[str]:
    """The attribute list after setting or clearing one, in a stable order."""
    attrs = set(attributs_of(attributs))
    if actif:
        attrs.add(attribut)
    else:
        attrs.discard(attribut)
    return sorted(a.value for a in attrs)
