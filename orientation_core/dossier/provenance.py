"""Provenance of dossier values and the refresh rule (issue 6), on the plain JSON kept in ``Dossier.provenance``.

Per volet and field, an entry::

    {"source": "hl7v2" | "fhir", "message_id": "MSG0001", "emplacement": "PID-5[1].1",
     "chemin": "patient.nom_naissance", "recu_le": "2026-01-05T09:00:00+00:00",
     "valeur_dpi": <the DPI's latest value>, "modifie": <a user edited the field>, "differe": <kept ≠ DPI>}

Rule: new DPI data updates a field the user has not edited; an edited field is kept and flagged ``differe`` with
the DPI's value beside it, so nothing is silently lost. Entries are rebuilt, never mutated in place: the store
sees a new object and writes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

Provenance = dict[str, dict[str, dict[str, Any]]]  # volet → field → entry
PROVENANCE_KEYS = ("source", "message_id", "emplacement", "chemin", "recu_le")


class Outcome(StrEnum):
    REMPLI = "rempli"  # empty field filled from the DPI
    MIS_A_JOUR = "mis_a_jour"  # unedited field, new DPI value
    INCHANGE = "inchange"  # same value as before
    CONSERVE = "conserve"  # edited by the user; the DPI agrees, or repeats a difference already flagged
    DIFFERE = "differe"  # edited by the user, the DPI sends a new, other value: kept, flagged


@dataclass(frozen=True)
class Change:
    volet: str
    field: str
    outcome: Outcome
    before: Any
    after: Any
    dpi_value: Any


def mark_edited(provenance: Provenance, volet: str,
                values: Mapping[str, Any]) -> Provenance:
    """A user typed ``values``: those fields are no longer refreshed from the DPI; the flag is recomputed."""
    fields = dict(provenance.get(volet, {}))
    for name, value in values.items():
        entry = dict(fields.get(name, {}))
        entry["modifie"] = True
        entry["differe"] = "valeur_dpi" in entry and entry["valeur_dpi"] != value
        fields[name] = entry
    return {**provenance, volet: fields}


def refresh_field(provenance: Provenance, volet: str, field: str,
                  current: Any, dpi_value: Any, source: Mapping[str, Any]
                  ) -> tuple[Provenance, Change]:
    """Apply one DPI value to one field: returns the new provenance and what to do with the field (the caller
    writes ``change.after`` into the volet when the outcome is REMPLI or MIS_A_JOUR)."""
    entry = dict(provenance.get(volet, {}).get(field, {}))
    edited = bool(entry.get("modifie"))
    already_flagged = bool(entry.get("differe")) and entry.get("valeur_dpi") == dpi_value
    entry.update({k: source.get(k, "") for k in PROVENANCE_KEYS})
    entry["valeur_dpi"] = dpi_value
    entry["modifie"] = edited
    if edited:
        entry["differe"] = current != dpi_value
        # every ADT message repeats the patient's data: a difference already flagged is not news
        outcome = Outcome.DIFFERE if entry["differe"] and not already_flagged else Outcome.CONSERVE
        after = current
    else:
        entry["differe"] = False
        after = dpi_value
        outcome = (Outcome.INCHANGE if current == dpi_value
                   else Outcome.REMPLI if current in (None, "", [], {}) else Outcome.MIS_A_JOUR)
    new = {**provenance, volet: {**provenance.get(volet, {}), field: entry}}
    return new, Change(volet, field, outcome, current, after, dpi_value)


def copy_entries(provenance: Provenance, volet: str, fields: list[str],
                 into: Provenance, into_volet: str
                 ) -> Provenance:
    """Linked dossier: the shared fields keep their provenance (and their edited / differs state)."""
    source = provenance.get(volet, {})
    copied = {f: dict(source[f]) for f in fields if f in source}
    return {**into, into_volet: {**into.get(into_volet, {}), **copied}}


def differences(provenance: Provenance) -> list[dict[str, Any]]:
    """Every kept user value the DPI contradicts: shown to the user, who chooses."""
    return [{"volet": volet, "champ": name, "valeur_dpi": entry.get("valeur_dpi"),
             "source": entry.get("source", ""), "recu_le": entry.get("recu_le", "")}
            for volet, fields in provenance.items() for name, entry in fields.items() if entry.get("differe")]
