"""AGGIR grid → GIR (CASF annexes 2-1 and 2-2; DOMAIN.md §5).

Ten discriminant variables scored A / B / C; only the first eight enter the official algorithm. Groups A→H are
tested in order: each variable scored C or B adds its weight for the group (A weighs 0), the sum is compared to the
group's thresholds, which give a rang; the rang gives the GIR.

The weights and thresholds are the published ones, kept exactly even where they look odd: the algorithm is not
monotonic (group B weighs déplacement intérieur negatively; in group H transferts B weighs 2000 and C only 1000,
so transferts B→C alone, everything else A, moves GIR 5 → 6).

Sub-variables: a sub-variable is scored from four adverbs (spontanément, totalement, correctement,
habituellement): A when all four hold, C when none does, B otherwise; the variable is then derived from its
sub-variables with the combination table ``COMBINATIONS``. The combination rules for cohérence and orientation are
our reading (sources differ), kept in the same table.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from orientation_core.errors import ValidationFailed


class Score(StrEnum):
    A = "A"  # does alone, totally, habitually and correctly
    B = "B"  # partially
    C = "C"  # does not


class Variable(StrEnum):
    COHERENCE = "coherence"
    ORIENTATION = "orientation"
    TOILETTE = "toilette"
    HABILLAGE = "habillage"
    ALIMENTATION = "alimentation"
    ELIMINATION = "elimination"
    TRANSFERTS = "transferts"
    DEPLACEMENT_INTERIEUR = "deplacement_interieur"
    DEPLACEMENT_EXTERIEUR = "deplacement_exterieur"
    COMMUNICATION_A_DISTANCE = "communication_a_distance"


VARIABLES: tuple[Variable, ...] = tuple(Variable)  # the order of the paper grid and of the CLI
DISCRIMINANT: tuple[Variable, ...] = VARIABLES[:8]  # only these change the GIR

LABELS: dict[Variable, str] = {
    Variable.COHERENCE: "Cohérence",
    Variable.ORIENTATION: "Orientation",
    Variable.TOILETTE: "Toilette",
    Variable.HABILLAGE: "Habillage",
    Variable.ALIMENTATION: "Alimentation",
    Variable.ELIMINATION: "Élimination",
    Variable.TRANSFERTS: "Transferts",
    Variable.DEPLACEMENT_INTERIEUR: "Déplacement intérieur",
    Variable.DEPLACEMENT_EXTERIEUR: "Déplacement extérieur",
    Variable.COMMUNICATION_A_DISTANCE: "Communication à distance",
}


class Adverbe(StrEnum):
    SPONTANEMENT = "spontanement"
    TOTALEMENT = "totalement"
    CORRECTEMENT = "correctement"
    HABITUELLEMENT = "habituellement"


SUB_VARIABLES: dict[Variable, tuple[str, ...]] = {
    Variable.COHERENCE: ("communication", "comportement"),
    Variable.ORIENTATION: ("temps", "espace"),
    Variable.TOILETTE: ("haut", "bas"),
    Variable.HABILLAGE: ("haut", "moyen", "bas"),
    Variable.ALIMENTATION: ("se_servir", "manger"),
    Variable.ELIMINATION: ("urinaire", "fecale"),
}

_A, _B, _C = Score.A, Score.B, Score.C


# ---- combination of sub-variables: (combinations giving A, combinations giving C); every other one gives B ----------

COMBINATIONS: dict[Variable, tuple[frozenset[tuple[Score, ...]], frozenset[tuple[Score, ...]]]] = {
    Variable.COHERENCE: (frozenset({(_A, _A)}), frozenset({(_C, _C)})),  # our reading
    Variable.ORIENTATION: (frozenset({(_A, _A)}), frozenset({(_C, _C)})),  # our reading
    Variable.TOILETTE: (frozenset({(_A, _A)}), frozenset({(_C, _C)})),
    Variable.HABILLAGE: (frozenset({(_A, _A, _A)}), frozenset({(_C, _C, _C)})),
    Variable.ALIMENTATION: (frozenset({(_A, _A)}), frozenset({(_C, _C), (_B, _C), (_C, _B)})),
    Variable.ELIMINATION: (frozenset({(_A, _A)}),
                           frozenset({(_C, _C), (_A, _C), (_C, _A), (_B, _C), (_C, _B)})),
}


def combine(variable: Variable, scores: tuple[Score, ...]) -> Score:
    """The variable's score from its sub-variables' scores, in the order of ``SUB_VARIABLES``."""
    expected = len(SUB_VARIABLES[variable])
    if len(scores) != expected:
        raise ValidationFailed(f"{LABELS[variable]} : {expected} sous-variables attendues, {len(scores)} reçues.",
                               code="aggir.sous_variables")
    gives_a, gives_c = COMBINATIONS[variable]
    if scores in gives_a:
        return Score.A
    if scores in gives_c:
        return Score.C
    return Score.B


def score_adverbes(adverbes: Mapping[Adverbe, bool]) -> Score:
    """A when the four adverbs hold, C when none does, B otherwise (a missing adverb counts as not holding)."""
    held = sum(1 for a in Adverbe if adverbes.get(a, False))
    if held == len(Adverbe):
        return Score.A
    return Score.C if held == 0 else Score.B


# ---- the official group table ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Group:
    name: str
    weights: dict[Variable, tuple[int, int]]  # variable → (weight when C, weight when B)
    thresholds: tuple[tuple[int, int], ...]  # (minimal sum, rang), tested in order
    fallback_rang: int | None = None  # last group only: the rang when no threshold is reached

    def total(self, grid: Mapping[Variable, Score]) -> int:
        total = 0
        for variable, (weight_c, weight_b) in self.weights.items():
            score = grid[variable]
            total += weight_c if score is Score.C else weight_b if score is Score.B else 0
        return total

    def rang_for(self, total: int) -> int | None:
        """The rang this group gives for a weighted sum, or None: go on to the next group."""
        for threshold, rang in self.thresholds:
            if total >= threshold:
                return rang
        return self.fallback_rang


def _w(*pairs: tuple[int, int]) -> dict[Variable, tuple[int, int]]:
    return dict(zip(DISCRIMINANT, pairs, strict=True))


# Columns: cohérence, orientation, toilette, habillage, alimentation, élimination, transferts, déplacement intérieur.
GROUPS: tuple[Group, ...] = (
    Group("A", _w((2000, 0), (1200, 0), (40, 16), (40, 16), (60, 20), (100, 16), (800, 120), (200, 32)),
          ((4380, 1), (4140, 2), (3390, 3))),
    Group("B", _w((1500, 320), (1200, 120), (40, 16), (40, 16), (60, 0), (100, 16), (800, 120), (-80, -40)),
          ((2016, 4),)),
    Group("C", _w((0, 0), (0, 0), (40, 16), (40, 16), (60, 20), (160, 20), (1000, 200), (400, 40)),
          ((1700, 5), (1432, 6))),
    Group("D", _w((0, 0), (0, 0), (0, 0), (0, 0), (2000, 200), (400, 200), (2000, 200), (200, 0)),
          ((2400, 7),)),
    Group("E", _w((400, 0), (400, 0), (400, 100), (400, 100), (400, 100), (800, 100), (800, 100), (200, 0)),
          ((1200, 8),)),
    Group("F", _w((200, 100), (200, 100), (500, 100), (500, 100), (500, 100), (500, 100), (500, 100), (200, 0)),
          ((800, 9),)),
    Group("G", _w((150, 0), (150, 0), (300, 200), (300, 200), (500, 200), (500, 200), (400, 200), (200, 100)),
          ((650, 10),)),
    Group("H", _w((0, 0), (0, 0), (3000, 2000), (3000, 2000), (3000, 2000), (3000, 2000), (1000, 2000),
                  (1000, 1000)),
          ((4000, 11), (2000, 12)), fallback_rang=13),
)

RANG_TO_GIR: dict[int, int] = {1: 1, 2: 2, 3: 2, 4: 2, 5: 2, 6: 2, 7: 2, 8: 3, 9: 3, 10: 4, 11: 4, 12: 5, 13: 6}


@dataclass(frozen=True)
class Resultat:
    gir: int
    rang: int
    groupe: str
    total: int  # the weighted sum of the deciding group


def calculer(grid: Mapping[Variable, Score]) -> Resultat:
    """The GIR of a grid: every discriminant variable must be scored (the last two are ignored)."""
    missing = [LABELS[v] for v in DISCRIMINANT if v not in grid]
    if missing:
        raise ValidationFailed(f"Grille AGGIR incomplète : {', '.join(missing)}.", code="aggir.incomplete",
                               details={"manquantes": [v.value for v in DISCRIMINANT if v not in grid]})
    for group in GROUPS:
        total = group.total(grid)
        rang = group.rang_for(total)
        if rang is not None:
            return Resultat(RANG_TO_GIR[rang], rang, group.name, total)
    raise AssertionError("the last group always gives a rang")  # pragma: no cover


def from_letters(letters: list[str] | tuple[str, ...]) -> dict[Variable, Score]:
    """Ten letters in the grid's order (the CLI, a paper grid). French message on bad input."""
    if len(letters) != len(VARIABLES):
        raise ValidationFailed(f"Il faut 10 valeurs (A, B ou C), dans l'ordre : "
                               f"{', '.join(LABELS[v] for v in VARIABLES)} ; {len(letters)} reçue(s).",
                               code="aggir.nombre")
    grid: dict[Variable, Score] = {}
    for variable, letter in zip(VARIABLES, letters, strict=True):
        grid[variable] = _parse_score(letter, LABELS[variable])
    return grid


def _parse_score(value: Any, where: str) -> Score:
    if isinstance(value, str) and value.strip().upper() in Score.__members__:
        return Score(value.strip().upper())
    raise ValidationFailed(f"{where} : « {value} » n'est pas une cotation AGGIR (A, B ou C).",
                           code="aggir.cotation")


def _parse_entry(value: Any, where: str) -> Score:
    """A letter, or the four adverbs {"spontanement": true, …}."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - {a.value for a in Adverbe})
        if unknown:
            raise ValidationFailed(f"{where} : adverbe(s) inconnu(s) {', '.join(unknown)} (spontanement, "
                                   "totalement, correctement, habituellement).", code="aggir.adverbe")
        return score_adverbes({Adverbe(k): bool(v) for k, v in value.items()})
    return _parse_score(value, where)


def parse_grille(data: Mapping[str, Any]) -> dict[Variable, Score]:
    """The stored grid (volet médical Grand Âge, field ``grille_aggir``) → scores of the variables given.

    Shape: ``{"coherence": "B", …, "sous_variables": {"habillage": {"haut": "A", "moyen": {adverbs}, "bas": "C"}}}``.
    A variable given by its sub-variables is derived from them (every sub-variable needed); a variable given both
    ways must agree.
    """
    known = {v.value for v in Variable} | {"sous_variables"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValidationFailed(f"Grille AGGIR : variable(s) inconnue(s) {', '.join(unknown)}.",
                               code="aggir.variable_inconnue")
    grid: dict[Variable, Score] = {}
    for variable in VARIABLES:
        if data.get(variable.value) not in (None, ""):
            grid[variable] = _parse_entry(data[variable.value], LABELS[variable])
    subs = data.get("sous_variables") or {}
    if not isinstance(subs, dict):
        raise ValidationFailed("Grille AGGIR : « sous_variables » doit être un objet.", code="aggir.sous_variables")
    for name, given in subs.items():
        try:
            variable = Variable(name)
        except ValueError:
            raise ValidationFailed(f"Grille AGGIR : variable inconnue {name}.", code="aggir.variable_inconnue"
                                   ) from None
        if variable not in SUB_VARIABLES or not isinstance(given, dict):
            raise ValidationFailed(f"{LABELS[variable]} n'a pas de sous-variables.", code="aggir.sous_variables")
        expected = SUB_VARIABLES[variable]
        if set(given) != set(expected):
            raise ValidationFailed(f"{LABELS[variable]} : sous-variables attendues {', '.join(expected)}.",
                                   code="aggir.sous_variables")
        derived = combine(variable, tuple(_parse_entry(given[s], f"{LABELS[variable]} ({s})") for s in expected))
        if variable in grid and grid[variable] is not derived:
            raise ValidationFailed(f"{LABELS[variable]} : cotée {grid[variable]} mais ses sous-variables donnent "
                                   f"{derived}.", code="aggir.incoherence")
        grid[variable] = derived
    return grid


def gir_of_grille(data: Mapping[str, Any]) -> Resultat | None:
    """The GIR of a stored grid, or None while a discriminant variable is still missing."""
    grid = parse_grille(data)
    if any(v not in grid for v in DISCRIMINANT):
        return None
    return calculer(grid)


def all_grids() -> itertools.product[tuple[Score, ...]]:
    """Every combination of the eight discriminant variables (3^8 = 6561), for exhaustive checks."""
    return itertools.product(tuple(Score), repeat=len(DISCRIMINANT))


def gir_from_grid(grille: Any, previous: Any) -> int | None:
    """The ``gir`` field of the Grand Âge médical volet after its ``grille_aggir`` changed: computed from a full
    grid, unknown (None) while the grid is partial, unchanged when there is no grid (a GIR typed from paper)."""
    if not grille:
        return previous if isinstance(previous, int) else None
    if not isinstance(grille, Mapping):
        raise ValidationFailed("La grille AGGIR doit être un objet (variable → A, B ou C).", code="aggir.format")
    result = gir_of_grille(grille)
    return None if result is None else result.gir
