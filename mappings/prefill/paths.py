"""Canonical paths: ``patient.nom_naissance``, ``contacts[role=personne_confiance]``, ``clinical.conditions[*kind=
antecedent]``, ``patient.telecoms[system=phone]``.

A segment is an attribute name, optionally followed by one selector:
- ``[n]``: the n-th item;
- ``[key=value]``: the first item whose ``key`` equals ``value``; ``[key!=value]``: the first whose key differs;
- ``[*key=value]`` / ``[*]``: every matching item (the path then resolves to a list).

``resolve`` returns the value and the concrete path (selectors replaced by indexes, as the intake mappings write
their provenance keys: ``contacts[0]``), so each prefilled value can name exactly where it came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_SEGMENT = re.compile(r"^(?P<name>\w+)(?:\[(?P<sel>[^\]]*)\])?$")


@dataclass(frozen=True)
class Found:
    value: Any
    paths: tuple[str, ...]  # the concrete canonical path(s) the value was read from


def _attr(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _matches(item: Any, sel: str) -> bool:
    if "!=" in sel:
        key, value = sel.split("!=", 1)
        return str(_attr(item, key) or "") != value
    key, value = sel.split("=", 1)
    return str(_attr(item, key) or "") == value


def resolve(root: Any, path: str) -> Found | None:
    """The value at ``path``, or None when absent or empty."""
    current: list[tuple[Any, str]] = [(root, "")]
    many = False
    for segment in path.split("."):
        match = _SEGMENT.match(segment)
        if match is None:
            raise ValueError(f"bad canonical path segment {segment!r} in {path!r}")
        name, sel = match["name"], match["sel"]
        nxt: list[tuple[Any, str]] = []
        for obj, at in current:
            value = _attr(obj, name)
            here = f"{at}.{name}" if at else name
            if sel is None:
                nxt.append((value, here))
                continue
            items = list(value or [])
            if sel.isdigit():
                index = int(sel)
                if index < len(items):
                    nxt.append((items[index], f"{here}[{index}]"))
                continue
            every = sel.startswith("*")
            sel = sel.lstrip("*")
            chosen = [(i, it) for i, it in enumerate(items) if not sel or _matches(it, sel)]
            if not every:
                chosen = chosen[:1]
            many = many or every
            nxt.extend((it, f"{here}[{i}]") for i, it in chosen)
        current = [(v, p) for v, p in nxt if v is not None]
        if not current:
            return None
    if many:
        return Found([v for v, _ in current], tuple(p for _, p in current))
    value, at = current[0]
    return Found(value, (at,))


def locate(provenance: dict[str, str], paths: tuple[str, ...]) -> str:
    """Where the source put the value(s) at ``paths``: the exact provenance key, else every key below it, else
    the nearest key above it (``medecin_traitant.rpps`` → ``medecin_traitant`` = ``ROL[1]-4``)."""
    found: list[str] = []
    for path in paths:
        if path in provenance:
            found.append(provenance[path])
            continue
        below = [loc for key, loc in provenance.items() if key.startswith((f"{path}.", f"{path}["))]
        if below:
            found.extend(below)
            continue
        parent = path
        while parent:
            parent = re.sub(r"(\.\w+|\[\d+\])$", "", parent) if re.search(r"(\.\w+|\[\d+\])$", parent) else ""
            if parent in provenance:
                found.append(provenance[parent])
                break
    return ", ".join(dict.fromkeys(found))  # in order, without repeats
