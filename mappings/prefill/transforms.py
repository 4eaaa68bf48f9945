"""Canonical values → the JSON values of the volets (French labels, ISO dates, Paris calendar days).

Every function returns None for "nothing to prefill", so an empty value never overwrites anything.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from mappings.canonical import (
    Address,
    Allergy,
    Condition,
    Contact,
    Coverage,
    Medication,
    Practitioner,
    Stay,
    Telecom,
)

PARIS = ZoneInfo("Europe/Paris")

# HL7 table 0002 (PID-16) and the FHIR v3-MaritalStatus codes share these letters.
SITUATION_FAMILIALE = {
    "S": "célibataire", "M": "marié(e)", "D": "divorcé(e)", "W": "veuf / veuve", "A": "séparé(e)",
    "L": "séparé(e)", "P": "pacsé(e)", "T": "en couple", "C": "en couple", "G": "en couple", "U": "inconnue",
    "UNK": "inconnue",
}
ROLE_LABELS = {"personne_confiance": "personne de confiance", "representant_legal": "représentant légal",
               "personne_a_prevenir": "personne à prévenir", "autre": "autre contact"}
TYPES_ACCUEIL = {"permanent", "temporaire", "jour", "nuit"}


def _clean(d: dict[str, Any]) -> dict[str, Any] | None:
    out = {k: v for k, v in d.items() if v not in (None, "", [], {})}
    return out or None


def text(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip() or None
    return value


def lower(value: Any) -> str | None:
    return str(value).strip().lower() or None


def joined(values: list[str]) -> str | None:
    return " ".join(v for v in values if v) or None


def iso_date(value: dt.date) -> str:
    return value.isoformat()


def paris_day(value: dt.datetime) -> str:
    """A timestamp shown as the French calendar day it falls on."""
    return value.astimezone(PARIS).date().isoformat()


def sexe(value: Any) -> str | None:
    code = str(getattr(value, "value", value))
    return code if code in ("F", "M") else None  # "U" is not a value to prefill


def situation_familiale(code: str) -> str | None:
    return SITUATION_FAMILIALE.get(code.strip().upper(), code.strip()) or None


def address(value: Address) -> str | None:
    """One line, as the administrative volet shows it: street lines, postcode, town (country when not France)."""
    parts = [*value.lines, value.code_postal, value.ville]
    if value.pays and value.pays.upper() not in ("FRA", "FR", "100"):
        parts.append(value.pays)
    return ", ".join(p.strip() for p in parts if p and p.strip()) or None


def telecom(value: Telecom) -> str | None:
    return value.value.strip() or None


def _phone(telecoms: list[Telecom]) -> str:
    return next((t.value for t in telecoms if t.system == "phone" and t.value), "")


def contact(value: Contact) -> dict[str, Any] | None:
    return _clean({
        "role": ROLE_LABELS.get(value.role.value, value.role.value), "nom": value.nom, "prenom": value.prenom,
        "lien": value.lien, "telephone": _phone(value.telecoms),
        "email": next((t.value for t in value.telecoms if t.system == "email"), ""),
        "adresse": address(value.address) if value.address else None,
    })


def coverage(value: Coverage) -> dict[str, Any] | None:
    return _clean({
        "organisme": value.organisme, "organisme_id": value.organisme_id, "numero_adherent": value.numero_adherent,
        "debut": value.debut.isoformat() if value.debut else None, "fin": value.fin.isoformat() if value.fin else None,
    })


def rpps_of(value: Practitioner) -> str:
    """RPPS: as sent, else read from the national id (IDNPS = 8 + RPPS, DOMAIN.md §9)."""
    if value.rpps:
        return value.rpps
    if value.idnps.startswith("8") and len(value.idnps) == 12:
        return value.idnps[1:]
    return ""


def practitioner(value: Practitioner) -> dict[str, Any] | None:
    return _clean({
        "nom": value.nom, "prenom": value.prenom, "rpps": rpps_of(value), "idnps": value.idnps,
        "adeli": value.adeli, "telephone": _phone(value.telecoms),
        "adresse": address(value.address) if value.address else None,
    })


def conditions(values: list[Condition]) -> list[dict[str, Any]] | None:
    out = [_clean({"libelle": c.text, "code": c.code, "systeme": c.system,
                   "debut": c.onset.isoformat() if c.onset else None}) for c in values]
    return [c for c in out if c] or None


def medications(values: list[Medication]) -> list[dict[str, Any]] | None:
    out = [_clean({"libelle": m.text, "code": m.code, "systeme": m.system, "posologie": m.dosage}) for m in values]
    return [m for m in out if m] or None


def allergies(values: list[Allergy]) -> list[dict[str, Any]] | None:
    out = [_clean({"libelle": a.text, "code": a.code, "systeme": a.system, "criticite": a.criticality})
           for a in values]
    return [a for a in out if a] or None


def number(value: float) -> float:
    return round(float(value), 1)


def bmi(poids_kg: float, taille_cm: float) -> float | None:
    """IMC = poids (kg) / taille (m)²; computed, so it follows the DPI's weight and height."""
    if not poids_kg or not taille_cm or taille_cm <= 0:
        return None
    return round(poids_kg / (taille_cm / 100) ** 2, 1)


def type_accueil(value: str) -> str | None:
    code = value.strip().lower()
    return code if code in TYPES_ACCUEIL else None


def contexte(stay: Stay) -> str | None:
    """Cerfa 14732*03 volet médical, "contexte de la demande": hospitalised, or leaving hospital."""
    where = ", ".join(p for p in (f"UF {stay.uf}" if stay.uf else "",
                                  f"établissement FINESS {stay.etablissement_finess}"
                                  if stay.etablissement_finess else "") if p)
    suffix = f" ({where})" if where else ""
    if stay.discharge_at is not None:
        return f"Sortie d'hospitalisation le {_fr(stay.discharge_at)}{suffix}"
    if stay.admit_at is not None:
        return f"Hospitalisé(e) depuis le {_fr(stay.admit_at)}{suffix}"
    return None


def _fr(value: dt.datetime) -> str:
    return value.astimezone(PARIS).strftime("%d/%m/%Y")
