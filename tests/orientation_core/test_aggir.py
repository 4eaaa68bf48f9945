"""AGGIR → GIR: the official group table (DOMAIN.md §5), rang → GIR, the sub-variable rules, properties."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orientation_core.dossier.aggir import (
    DISCRIMINANT,
    GROUPS,
    RANG_TO_GIR,
    SUB_VARIABLES,
    VARIABLES,
    Adverbe,
    Score,
    Variable,
    calculer,
    combine,
    from_letters,
    gir_of_grille,
    parse_grille,
    score_adverbes,
)
from orientation_core.errors import ValidationFailed


def grid(letters: str) -> dict[Variable, Score]:
    """Eight (or ten) letters in the order of the grid: COH ORI TOIL HAB ALIM ELIM TRANSF DEPINT [DEPEXT COMM]."""
    return {v: Score(c) for v, c in zip(VARIABLES, letters, strict=False)}


# ---- end-to-end grids, each sum checked by hand against the table ---------------------------------------------------

@pytest.mark.parametrize(("letters", "groupe", "total", "rang", "gir"), [
    # group A: 2000+1200+40+40+0+100+800+200 = 4380, exactly the rang-1 threshold
    ("CCCCACCC", "A", 4380, 1, 1),
    # group A: 2000+1200+40+40+60+100+800+200 = 4440
    ("CCCCCCCC", "A", 4440, 1, 1),
    # group A: 2000+1200+0+40+0+100+800+0 = 4140, exactly rang 2
    ("CCACACCA", "A", 4140, 2, 2),
    # group A: 2000+1200+200 = 3400 ≥ 3390
    ("CCAAAAAC", "A", 3400, 3, 2),
    # A: 1200+16+800 = 2016 < 3390; B: 1200+16+800 = 2016, exactly rang 4
    ("ACAAABCA", "B", 2016, 4, 2),
    # A 1240, B 960; C: 40+40+60+160+1000+400 = 1700, exactly rang 5
    ("AACCCCCC", "C", 1700, 5, 2),
    # A 1032, B 752; C: 16+16+1000+400 = 1432, exactly rang 6
    ("AABBAACC", "C", 1432, 6, 2),
    # C: 20+1000+400 = 1420, just below 1432; D: 200+2000+200 = 2400, exactly rang 7
    ("AAAAABCC", "D", 2400, 7, 2),
    # D: 200+400+200+200 = 1000; E: 100+800+100+200 = 1200, exactly rang 8
    ("AAAABCBC", "E", 1200, 8, 3),
    # E: 800+100+200 = 1100, just below 1200; F: 500+100+200 = 800, exactly rang 9
    ("AAAAACBC", "F", 800, 9, 3),
    # F: 200+100+100 = 400; G: 150+200+200+100 = 650, exactly rang 10
    ("ACAAABBB", "G", 650, 10, 4),
    # G: 200+200 = 400; H: élimination B 2000 + transferts B 2000 = 4000, exactly rang 11
    ("AAAAABBA", "H", 4000, 11, 4),
    # H: transferts B weighs 2000: exactly rang 12
    ("AAAAAABA", "H", 2000, 12, 5),
    # H: transferts C weighs only 1000: rang 13
    ("AAAAAACA", "H", 1000, 13, 6),
    ("AAAAAAAA", "H", 0, 13, 6),
])
def test_hand_checked_grids(letters: str, groupe: str, total: int, rang: int, gir: int) -> None:
    result = calculer(grid(letters))
    assert (result.groupe, result.total, result.rang, result.gir) == (groupe, total, rang, gir)


# ---- every threshold of the table, at and just below -----------------------------------------------------------------

THRESHOLDS = {  # the published table, retyped: group → ((threshold, rang), …), rang when none is reached
    "A": (((4380, 1), (4140, 2), (3390, 3)), None), "B": (((2016, 4),), None), "C": (((1700, 5), (1432, 6)), None),
    "D": (((2400, 7),), None), "E": (((1200, 8),), None), "F": (((800, 9),), None), "G": (((650, 10),), None),
    "H": (((4000, 11), (2000, 12)), 13),
}


def test_the_table_has_the_published_thresholds_in_order() -> None:
    assert [g.name for g in GROUPS] == list("ABCDEFGH")
    assert {g.name: (g.thresholds, g.fallback_rang) for g in GROUPS} == THRESHOLDS


@pytest.mark.parametrize(("groupe", "threshold", "rang", "below"), [
    (g, t, r, (ts[i + 1][1] if i + 1 < len(ts) else fb))
    for g, (ts, fb) in THRESHOLDS.items() for i, (t, r) in enumerate(ts)
])
def test_threshold_at_and_just_below(groupe: str, threshold: int, rang: int, below: int | None) -> None:
    group = next(g for g in GROUPS if g.name == groupe)
    assert group.rang_for(threshold) == rang
    assert group.rang_for(threshold + 1) == rang
    assert group.rang_for(threshold - 1) == below  # None: the next group is tested


def test_weights_of_the_published_table() -> None:
    """Spot checks of the odd-looking published weights, kept on purpose."""
    by_name = {g.name: g for g in GROUPS}
    assert by_name["B"].weights[Variable.DEPLACEMENT_INTERIEUR] == (-80, -40)
    assert by_name["H"].weights[Variable.TRANSFERTS] == (1000, 2000)
    assert by_name["A"].weights[Variable.COHERENCE] == (2000, 0)
    assert by_name["D"].weights[Variable.ALIMENTATION] == (2000, 200)
    assert all(set(g.weights) == set(DISCRIMINANT) for g in GROUPS)


def test_group_b_weighs_deplacement_interieur_negatively() -> None:
    # B: 1200+16+800 = 2016 → rang 4; with déplacement intérieur B the B sum drops to 1976 and the grid falls on
    base = calculer(grid("ACAAABCA"))
    worse = calculer(grid("ACAAABCB"))
    assert (base.groupe, base.rang) == ("B", 4)
    assert worse.groupe != "B" and worse.rang > base.rang


@pytest.mark.parametrize(("rang", "gir"), [(1, 1), (2, 2), (3, 2), (4, 2), (5, 2), (6, 2), (7, 2), (8, 3), (9, 3),
                                           (10, 4), (11, 4), (12, 5), (13, 6)])
def test_rang_to_gir(rang: int, gir: int) -> None:
    assert RANG_TO_GIR[rang] == gir


def test_transferts_b_to_c_alone_moves_gir_5_to_6() -> None:
    """The issue's non-monotonic example: group H weighs transferts B 2000, C 1000."""
    assert calculer(grid("AAAAAABA")).gir == 5
    assert calculer(grid("AAAAAACA")).gir == 6


def test_missing_variable_is_refused_in_french() -> None:
    with pytest.raises(ValidationFailed, match="incomplète : Transferts"):
        calculer({v: Score.A for v in DISCRIMINANT if v is not Variable.TRANSFERTS})


# ---- sub-variables ---------------------------------------------------------------------------------------------------

# The rules of DOMAIN.md §5, retyped: variable → (combinations giving A, combinations giving C); others give B.
RULES = {
    Variable.TOILETTE: ({"AA"}, {"CC"}),
    Variable.HABILLAGE: ({"AAA"}, {"CCC"}),
    Variable.ALIMENTATION: ({"AA"}, {"CC", "BC", "CB"}),
    Variable.ELIMINATION: ({"AA"}, {"CC", "AC", "CA", "BC", "CB"}),
    Variable.COHERENCE: ({"AA"}, {"CC"}),
    Variable.ORIENTATION: ({"AA"}, {"CC"}),
}
CASES = [(v, "".join(combo)) for v, subs in SUB_VARIABLES.items()
         for combo in itertools.product("ABC", repeat=len(subs))]


@pytest.mark.parametrize(("variable", "combo"), CASES, ids=[f"{v.value}-{c}" for v, c in CASES])
def test_every_sub_variable_combination(variable: Variable, combo: str) -> None:
    gives_a, gives_c = RULES[variable]
    expected = Score.A if combo in gives_a else Score.C if combo in gives_c else Score.B
    assert combine(variable, tuple(Score(c) for c in combo)) is expected


def test_sub_variables_of_each_variable() -> None:
    assert SUB_VARIABLES == {
        Variable.COHERENCE: ("communication", "comportement"), Variable.ORIENTATION: ("temps", "espace"),
        Variable.TOILETTE: ("haut", "bas"), Variable.HABILLAGE: ("haut", "moyen", "bas"),
        Variable.ALIMENTATION: ("se_servir", "manger"), Variable.ELIMINATION: ("urinaire", "fecale"),
    }


@pytest.mark.parametrize("held", list(range(5)))
def test_adverbs_give_the_sub_variable_score(held: int) -> None:
    for chosen in itertools.combinations(list(Adverbe), held):
        expected = Score.A if held == 4 else Score.C if held == 0 else Score.B
        assert score_adverbes({a: a in chosen for a in Adverbe}) is expected


def test_grid_with_sub_variables_and_adverbs() -> None:
    all_four = {a.value: True for a in Adverbe}
    stored = {
        "coherence": "A", "orientation": "A", "transferts": "A", "deplacement_interieur": "A",
        "sous_variables": {
            "toilette": {"haut": "A", "bas": "C"},  # → B
            "habillage": {"haut": all_four, "moyen": "A", "bas": {"spontanement": True}},  # AAB → B
            "alimentation": {"se_servir": "B", "manger": "C"},  # → C
            "elimination": {"urinaire": "A", "fecale": "C"},  # → C
        },
    }
    parsed = parse_grille(stored)
    assert [parsed[v] for v in DISCRIMINANT[2:6]] == [Score.B, Score.B, Score.C, Score.C]
    assert gir_of_grille(stored) == calculer(grid("AABBCCAA"))


def test_partial_grid_has_no_gir_yet() -> None:
    assert gir_of_grille({"coherence": "A"}) is None


@pytest.mark.parametrize(("stored", "message"), [
    ({"coherence": "D"}, "Cohérence : « D » n'est pas une cotation AGGIR"),
    ({"mobilite": "A"}, "variable\\(s\\) inconnue\\(s\\) mobilite"),
    ({"sous_variables": {"toilette": {"haut": "A"}}}, "sous-variables attendues haut, bas"),
    ({"sous_variables": {"transferts": {"x": "A"}}}, "Transferts n'a pas de sous-variables"),
    ({"toilette": "A", "sous_variables": {"toilette": {"haut": "C", "bas": "C"}}}, "cotée A mais"),
    ({"sous_variables": {"toilette": {"haut": {"vite": True}, "bas": "A"}}}, "adverbe\\(s\\) inconnu\\(s\\) vite"),
])
def test_bad_grids_are_refused_in_french(stored: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationFailed, match=message):
        parse_grille(stored)


def test_from_letters_checks_count_and_letters() -> None:
    assert from_letters(list("ABCABCABCA"))[Variable.COMMUNICATION_A_DISTANCE] is Score.A
    with pytest.raises(ValidationFailed, match="Il faut 10 valeurs"):
        from_letters(list("AAA"))
    with pytest.raises(ValidationFailed, match="Habillage : « X »"):
        from_letters(list("AAAXAAAAAA"))


# ---- properties ------------------------------------------------------------------------------------------------------

scores = st.sampled_from(list(Score))
grids = st.fixed_dictionaries(dict.fromkeys(VARIABLES, scores))


@given(grids)
def test_gir_is_always_between_1_and_6(g: dict[Variable, Score]) -> None:
    result = calculer(g)
    assert 1 <= result.gir <= 6
    assert RANG_TO_GIR[result.rang] == result.gir


@given(grids, scores, scores)
def test_gir_depends_only_on_the_first_eight(g: dict[Variable, Score], ext: Score, comm: Score) -> None:
    changed = g | {Variable.DEPLACEMENT_EXTERIEUR: ext, Variable.COMMUNICATION_A_DISTANCE: comm}
    assert calculer(changed) == calculer(g)


def test_all_a_gives_6_and_all_c_gives_1() -> None:
    assert calculer(grid("A" * 10)).gir == 6
    assert calculer(grid("C" * 10)).gir == 1


def test_every_one_of_the_6561_grids_has_a_gir() -> None:
    seen = {calculer(dict(zip(DISCRIMINANT, combo, strict=True))).gir
            for combo in itertools.product(list(Score), repeat=8)}
    assert seen == {1, 2, 3, 4, 5, 6}
