"""Apply the field maps to canonical messages; completeness of the volets after prefill."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mappings.canonical import Canonical
from mappings.prefill.maps import MAPS, FieldMap
from mappings.prefill.paths import locate, resolve
from orientation_core.dossier.volets import VOLETS, Module, has_value, spec


@dataclass(frozen=True)
class PrefilledValue:
    value: Any
    source: str  # hl7v2 | fhir
    message_id: str  # MSH-10, or the Bundle / resource id
    emplacement: str  # segment-field ("PID-5[1].1") or FHIR path, as the intake mapping recorded it
    chemin: str  # canonical path(s) the value was read from
    recu_le: str  # ISO timestamp the message was received ("" when unknown)

    def as_dict(self) -> dict[str, Any]:
        return {"valeur": self.value, "source": self.source, "message_id": self.message_id,
                "emplacement": self.emplacement, "chemin": self.chemin, "recu_le": self.recu_le}


Prefill = dict[str, dict[str, PrefilledValue]]


def _apply(fmap: FieldMap, canonical: Canonical) -> PrefilledValue | None:
    found = _value(fmap, canonical)
    if found is None and fmap.clear_when_absent and canonical.patient is not None:
        received = canonical.received_at.isoformat() if canonical.received_at else ""
        where = locate(canonical.provenance, ("patient.identity_status",))
        return PrefilledValue(None, canonical.source.value, canonical.message_id, where, fmap.paths[0], received)
    return found


def _value(fmap: FieldMap, canonical: Canonical) -> PrefilledValue | None:
    if fmap.when is not None and not fmap.when(canonical):
        return None
    if fmap.combine:
        founds = [resolve(canonical, p) for p in fmap.paths]
        if any(f is None for f in founds):
            return None
        value = fmap.transform(*(f.value for f in founds if f is not None))
        paths = tuple(p for f in founds if f is not None for p in f.paths)
    else:
        found = next((f for f in (resolve(canonical, p) for p in fmap.paths) if f is not None), None)
        if found is None:
            return None
        value = fmap.transform(found.value)
        paths = found.paths
    if not has_value(value) and value not in (0, 0.0):
        return None
    received = canonical.received_at.isoformat() if canonical.received_at else ""
    where = locate(canonical.provenance, paths) or locate(canonical.provenance, fmap.aliases)
    return PrefilledValue(value, canonical.source.value, canonical.message_id, where, ", ".join(paths), received)


def prefill(canonicals: Iterable[Canonical], module: Module | str) -> Prefill:
    """The volets of ``module`` prefilled from a patient's canonical messages, oldest first: a later message that
    carries a value replaces the earlier one; a message without it changes nothing."""
    maps = MAPS[Module(module).value]
    out: Prefill = {volet: {} for volet in maps}
    for canonical in canonicals:
        for volet, fmaps in maps.items():
            for fmap in fmaps:
                value = _apply(fmap, canonical)
                if value is not None:
                    out[volet][fmap.field] = value
    return {volet: fields for volet, fields in out.items() if fields}


def as_plain(values: Prefill) -> dict[str, dict[str, dict[str, Any]]]:
    """JSON-ready: what ``orientation_core.dossier.prefill.appliquer`` takes and the golden files hold."""
    return {volet: {name: v.as_dict() for name, v in sorted(fields.items())} for volet, fields in values.items()}


@dataclass(frozen=True)
class VoletCompleteness:
    volet: str
    champs: int  # every field of the volet (volets.py), required or optional
    remplis: tuple[str, ...]
    manquants: tuple[str, ...]  # every field without a value
    obligatoires_manquants: tuple[str, ...]  # the required ones among them: what blocks sending

    @property
    def taux(self) -> float:
        return len(self.remplis) / self.champs if self.champs else 0.0


def completeness(module: Module | str, volets: Mapping[str, Mapping[str, Any]]) -> dict[str, VoletCompleteness]:
    """What each volet of ``module`` has and still misses, by field. ``volets``: volet → field → value (a
    dossier's volets, or ``prefill(...)`` output whose values are PrefilledValue)."""
    out: dict[str, VoletCompleteness] = {}
    for volet in VOLETS[Module(module)]:
        data = volets.get(volet.name, {})
        filled = tuple(f for f in volet.fields if has_value(_raw(data.get(f))))
        out[volet.name] = VoletCompleteness(
            volet.name, len(volet.fields), filled, tuple(f for f in volet.fields if f not in filled),
            tuple(f for f in volet.required if f not in filled))
    return out


def _raw(value: Any) -> Any:
    return value.value if isinstance(value, PrefilledValue) else value


def check_maps() -> list[str]:
    """Every mapped field exists in its volet (volets.py is the single list of fields); returns the errors."""
    errors = []
    for module, volets in MAPS.items():
        for volet, fmaps in volets.items():
            found = spec(Module(module), volet)
            if found is None:
                errors.append(f"{module}.{volet}: no such volet")
                continue
            errors.extend(f"{module}.{volet}.{m.field}: not a field of the volet"
                          for m in fmaps if m.field not in found.fields)
    return errors
