"""Duplicate detection for dossiers (DOMAIN.md §5): first by INS, then by traits with tolerant matching.

The incumbent only checks an exact name + first name + birth date + sex. Here: accents, hyphens and
apostrophes do not matter, a compound name matches one of its parts, the birth name of one identity may be
the used name of the other, first names match anywhere in the birth list, and a day/month swap of the birth
date still counts (a frequent typing error). Each candidate gets a score in [0, 1] and its reasons.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from orientation_core.patients.model import Patient, Sexe, normalize_name

SEUIL = 0.65  # below this a candidate is not shown: names alone, or date + first name alone, are not enough
W_DATE, W_NOM, W_PRENOM, W_SEXE, W_LIEU = 0.30, 0.35, 0.25, 0.05, 0.05


@dataclass(frozen=True)
class Candidat:
    patient_id: int
    score: float
    raisons: tuple[str, ...]


def _tokens(value: str) -> set[str]:
    return set(normalize_name(value).split())


def _names(p: Patient) -> list[str]:
    return [n for n in (p.nom_naissance, p.nom_utilise) if n.strip()]


def _name_score(a: Patient, b: Patient) -> tuple[float, str]:
    best, why = 0.0, ""
    for x in _names(a):
        for y in _names(b):
            nx, ny = normalize_name(x), normalize_name(y)
            if nx == ny:
                score, reason = 1.0, "même nom"
            elif _tokens(x) & _tokens(y):
                score, reason = 0.8, "nom composé en commun"
            else:
                ratio = difflib.SequenceMatcher(None, nx, ny).ratio()
                score, reason = (0.6, "nom proche") if ratio >= 0.85 else (0.0, "")
            if score and (x is not a.nom_naissance or y is not b.nom_naissance):
                reason += " (nom d'usage / de naissance)"
            if score > best:
                best, why = score, reason
    return best, why


def _first_name_score(a: Patient, b: Patient) -> tuple[float, str]:
    fa = [normalize_name(p) for p in a.prenoms if p.strip()] + ([normalize_name(a.prenom_utilise)]
                                                                 if a.prenom_utilise else [])
    fb = [normalize_name(p) for p in b.prenoms if p.strip()] + ([normalize_name(b.prenom_utilise)]
                                                                 if b.prenom_utilise else [])
    if fa and fb and fa[0] == fb[0]:
        return 1.0, "même premier prénom"
    ta = {t for f in fa for t in f.split()}
    tb = {t for f in fb for t in f.split()}
    if ta & tb:
        return 0.7, "prénom commun"
    if fa and fb and difflib.SequenceMatcher(None, fa[0], fb[0]).ratio() >= 0.85:
        return 0.5, "prénom proche"
    return 0.0, ""


def score(a: Patient, b: Patient) -> tuple[float, tuple[str, ...]]:
    reasons: list[str] = []
    total = 0.0
    date_evidence = True
    if a.date_naissance == b.date_naissance:
        total += W_DATE
        reasons.append("même date de naissance")
    elif (a.date_naissance.year == b.date_naissance.year and a.date_naissance.day == b.date_naissance.month
          and a.date_naissance.month == b.date_naissance.day):
        total += W_DATE * 0.6
        reasons.append("jour et mois inversés")
    elif _one_field_apart(a.date_naissance, b.date_naissance):
        total += W_DATE * 0.5
        reasons.append("date de naissance proche")
    else:
        date_evidence = False
    name, why = _name_score(a, b)
    if name:
        total += W_NOM * name
        reasons.append(why)
    first, why = _first_name_score(a, b)
    if first:
        total += W_PRENOM * first
        reasons.append(why)
    if a.sexe == b.sexe and a.sexe is not Sexe.INCONNU:
        total += W_SEXE
    if a.lieu_naissance_code and a.lieu_naissance_code == b.lieu_naissance_code:
        total += W_LIEU
        reasons.append("même lieu de naissance")
    if not date_evidence:  # same names born on unrelated dates: most often two people
        total *= 0.5
    return round(total, 3), tuple(reasons)


def _one_field_apart(a: dt.date, b: dt.date) -> bool:
    """Two of day, month, year equal: one field mistyped."""
    return sum((a.year == b.year, a.month == b.month, a.day == b.day)) == 2


def candidats(patient: Patient, others: Iterable[Patient], ins_of: Mapping[int, str],
              seuil: float = SEUIL) -> list[Candidat]:
    """Candidates for ``patient`` among ``others``, best first. ``ins_of`` maps a patient id to its qualified
    known INS (retrieved or qualified); the same INS is a certain duplicate (score 1)."""
    assert patient.id is not None
    mine = ins_of.get(patient.id)
    found: list[Candidat] = []
    for other in others:
        if other.id is None or other.id == patient.id or other.merged_into_id is not None:
            continue
        if mine and ins_of.get(other.id) == mine:
            found.append(Candidat(other.id, 1.0, ("même INS",)))
            continue
        value, reasons = score(patient, other)
        if value >= seuil:
            found.append(Candidat(other.id, value, reasons))
    return sorted(found, key=lambda c: (-c.score, c.patient_id))
