"""Duplicate detection for dossiers (DOMAIN.md §5): INS first, then tolerant traits matching with a score."""

from __future__ import annotations

import datetime as dt

import pytest

from orientation_core.identite.doublons import SEUIL, candidats, score
from orientation_core.patients.model import Patient, Sexe

D = dt.date(1950, 2, 14)


def p(pid: int, nom: str, prenoms: list[str], date: dt.date = D, sexe: Sexe = Sexe.F, **kw: object) -> Patient:
    return Patient(nom, prenoms, date, sexe, id=pid, **kw)  # type: ignore[arg-type]


REF = p(1, "DUPONT-MARTIN", ["Marie-Hélène", "Louise"], lieu_naissance_code="75056")


@pytest.mark.parametrize(("other", "why"), [
    (p(2, "DUPONT MARTIN", ["MARIE-HELENE"]), "accents and hyphens"),
    (p(3, "dupont-martin", ["marie hélène"]), "case, hyphen in the first name"),
    (p(4, "DUPONT", ["MARIE-HELENE"]), "one part of a compound name"),
    (p(5, "LEROY", ["MARIE-HELENE"], nom_utilise="DUPONT-MARTIN"), "used name of one = birth name of the other"),
    (p(6, "DUPONT-MARTIN", ["LOUISE"]), "another first name of the birth list"),
    (p(7, "DUPONT-MARTIN", ["MARIE-HELENE"], date=dt.date(1951, 2, 14)), "year mistyped"),
    (p(8, "DUPONT-MARTIN", ["MARIE-HELENE"], date=dt.date(1950, 2, 15)), "day mistyped"),
    (p(9, "DUPONT-MARTYN", ["MARIE-HELENE"]), "one letter typed wrong"),
])
def test_tolerant_matches_score_above_the_threshold(other: Patient, why: str) -> None:
    value, reasons = score(REF, other)
    assert value >= SEUIL, (why, value, reasons)
    assert reasons


def test_day_month_swap_still_matches() -> None:
    a = p(1, "PETIT", ["LUC"], date=dt.date(1980, 3, 4), sexe=Sexe.M)
    b = p(2, "PETIT", ["LUC"], date=dt.date(1980, 4, 3), sexe=Sexe.M)
    value, reasons = score(a, b)
    assert value >= SEUIL and "jour et mois inversés" in reasons


@pytest.mark.parametrize("other", [
    p(20, "DURAND", ["PAUL"], sexe=Sexe.M),  # same birth date only
    p(21, "DUPONT-MARTIN", ["MARIE-HELENE"], date=dt.date(1962, 7, 1)),  # same names, another person
    p(22, "BERNARD", ["MARIE-HELENE"]),  # same first name and date, different name
])
def test_unrelated_identities_stay_below(other: Patient) -> None:
    assert score(REF, other)[0] < SEUIL


def test_same_ins_is_certain_and_candidates_are_sorted() -> None:
    others = [p(30, "X", ["Y"], date=dt.date(2001, 1, 1)), p(31, "DUPONT", ["MARIE-HELENE"]),
              p(32, "DUPONT-MARTIN", ["MARIE-HELENE", "LOUISE"], lieu_naissance_code="75056"),
              p(33, "DUPONT-MARTIN", ["MARIE-HELENE"], merged_into_id=32)]
    found = candidats(REF, others, {1: "250027505632152", 30: "250027505632152"})
    assert [c.patient_id for c in found] == [30, 32, 31]  # merged identities are not candidates
    assert found[0].score == 1.0 and found[0].raisons == ("même INS",)
    assert found[1].score > found[2].score
