"""RNIV rules, re-exported from the core where the identity use cases apply them (the core imports no sibling
package, so the table lives in ``orientation_core.identite.rniv``; this module is the INSi side's view of it)."""

from __future__ import annotations

from orientation_core.identite.rniv import (
    ATTRIBUT_EVENEMENTS,
    ATTRIBUTS_BLOQUANTS,
    BLOQUES_PAR_DOUTE,
    STATUT_LABELS,
    TRANSITIONS,
    Evenement,
    Transition,
    attributs_apres,
    insi_autorise,
    transition,
)

__all__ = [
    "ATTRIBUTS_BLOQUANTS", "ATTRIBUT_EVENEMENTS", "BLOQUES_PAR_DOUTE", "STATUT_LABELS", "TRANSITIONS", "Evenement",
    "Transition", "attributs_apres", "insi_autorise", "transition",
]
