"""What the store indexes for each resource (identifiers, search values) and how search parameters are read.

String parameters (family, given) are matched like FHIR's default string search: case- and accent-insensitive
prefix. Dates keep their ISO text so that text comparison orders them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from gateway.fhir.outcome import FhirError
from orientation_core.patients.model import normalize_name

# Types whose identifier names one real-world thing: unique in the store (conditional create guard).
UNIQUE_IDENTIFIER_TYPES = frozenset({"Patient", "Practitioner"})
# Where each type points at its patient.
PATIENT_FIELDS = {"ServiceRequest": "subject", "Encounter": "subject", "Condition": "subject",
                  "Observation": "subject", "MedicationStatement": "subject", "AllergyIntolerance": "patient",
                  "RelatedPerson": "patient", "Coverage": "beneficiary"}
PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")


def identifiers(resource: dict[str, Any]) -> list[tuple[str, str]]:
    return [(str(i.get("system", "")), str(i["value"])) for i in resource.get("identifier") or []
            if isinstance(i, dict) and i.get("value")]


def search_values(resource: dict[str, Any]) -> list[tuple[str, str]]:
    values: list[tuple[str, str]] = []
    resource_type = resource.get("resourceType")
    if resource_type == "Patient":
        for name in resource.get("name") or []:
            if not isinstance(name, dict):
                continue
            if name.get("family"):
                values.append(("family", normalize_name(str(name["family"]))))
            values.extend(("given", normalize_name(str(g))) for g in name.get("given") or [] if g)
        if resource.get("birthDate"):
            values.append(("birthdate", str(resource["birthDate"])))
        if resource.get("gender"):
            values.append(("gender", str(resource["gender"])))
    patient_field = PATIENT_FIELDS.get(str(resource_type))
    if patient_field:
        ref = resource.get(patient_field)
        if isinstance(ref, dict) and isinstance(ref.get("reference"), str):
            values.append(("patient", ref["reference"]))
    if resource_type == "ServiceRequest" and resource.get("status"):
        values.append(("status", str(resource["status"])))
    return values


def split_token(raw: str) -> tuple[str | None, str]:
    """``system|value`` → (system, value); ``|value`` → ("", value); ``value`` → (None, value)."""
    if "|" in raw:
        system, value = raw.split("|", 1)
        return system, value
    return None, raw


def split_prefix(raw: str) -> tuple[str, str]:
    if len(raw) > 2 and raw[:2] in PREFIXES and not raw[:2].isdigit():
        return raw[:2], raw[2:]
    return "eq", raw


def parse_instant(raw: str, parameter: str) -> dt.datetime:
    try:
        if len(raw) == 10:
            return dt.datetime.combine(dt.date.fromisoformat(raw), dt.time(), dt.UTC)
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise FhirError(400, f"Date invalide pour {parameter} : « {raw} ».", "value", parameter) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


@dataclass
class Query:
    identifiers: list[tuple[str | None, str]] = field(default_factory=list)
    criteria: list[tuple[str, str, str]] = field(default_factory=list)
    last_updated: list[tuple[str, dt.datetime]] = field(default_factory=list)
    patient_identifiers: list[tuple[str | None, str]] = field(default_factory=list)  # Task: patient:identifier
    ids: list[str] = field(default_factory=list)
    count: int = 50
    offset: int = 0


SEARCH_PARAMS: dict[str, tuple[str, ...]] = {
    "Patient": ("identifier", "family", "given", "birthdate", "gender"),
    "ServiceRequest": ("identifier", "patient", "subject", "status"),
    "Task": ("patient:identifier", "subject:identifier", "patient", "identifier"),
}
COMMON_PARAMS = ("_id", "_lastUpdated", "_count", "_offset", "_format")


def parse_query(resource_type: str, items: list[tuple[str, str]]) -> Query:
    allowed = SEARCH_PARAMS.get(resource_type, ())
    query = Query()
    for name, raw in items:
        if name == "_format":
            continue
        if name not in allowed and name not in COMMON_PARAMS:
            raise FhirError(400, f"Paramètre de recherche non pris en charge pour {resource_type} : « {name} ».",
                            "not-supported", name)
        if name in ("_count", "_offset"):
            try:
                number = int(raw)
            except ValueError:
                raise FhirError(400, f"{name} doit être un entier.", "value", name) from None
            if number < 0:
                raise FhirError(400, f"{name} doit être positif.", "value", name)
            if name == "_count":
                query.count = min(number, 100)
            else:
                query.offset = number
        elif name == "_id":
            query.ids.extend(v for v in raw.split(",") if v)
        elif name == "_lastUpdated":
            prefix, value = split_prefix(raw)
            if prefix not in ("eq", "gt", "lt", "ge", "le"):
                raise FhirError(400, f"Préfixe « {prefix} » non pris en charge pour _lastUpdated.", "not-supported",
                                name)
            at = parse_instant(value, name)
            if prefix == "eq":
                query.last_updated.extend([("ge", at), ("lt", at + dt.timedelta(seconds=1 if len(value) > 10
                                                                                 else 86400))])
            else:
                query.last_updated.append((prefix, at))
        elif name == "identifier":
            query.identifiers.append(split_token(raw))
        elif name in ("patient:identifier", "subject:identifier"):
            query.patient_identifiers.append(split_token(raw))
        elif name in ("family", "given"):
            value = normalize_name(raw)
            if not value:
                raise FhirError(400, f"Valeur vide pour {name}.", "value", name)
            query.criteria.append((name, "sw", value))
        elif name == "birthdate":
            prefix, value = split_prefix(raw)
            if prefix not in ("eq", "gt", "lt", "ge", "le"):
                raise FhirError(400, f"Préfixe « {prefix} » non pris en charge pour birthdate.", "not-supported",
                                name)
            try:
                dt.date.fromisoformat(value)
            except ValueError:
                raise FhirError(400, f"Date invalide pour birthdate : « {value} ».", "value", name) from None
            query.criteria.append(("birthdate", prefix, value))
        elif name == "gender":
            query.criteria.append(("gender", "eq", raw))
        elif name in ("patient", "subject"):
            query.criteria.append(("patient", "eq", raw if "/" in raw else f"Patient/{raw}"))
        elif name == "status":
            query.criteria.append(("status", "eq", raw))
    return query
