"""Profile validation over the StructureDefinitions kept in ``definitions/``.

What is interpreted (what our profiles use, nothing more): cardinalities (``min``/``max``) on element ids with
slices (``Patient.identifier:INS-NIR.use``), slice membership by pattern (``patternIdentifier``,
``patternHumanName``, ``patternExtension``…, subset match) or by extension URL (``type.profile``), ``fixed[x]``
and ``pattern[x]`` values, ``required`` bindings against ``valuesets.json``, extensions validated against their
own StructureDefinition, and invariants: each ``constraint.key`` is implemented by a small Python predicate below
(the FHIRPath ``expression`` in the JSON documents it; keys without a predicate are reported by
``unimplemented_constraints`` and the tests keep that list empty).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from fhir_profiles.model import (
    ADMISSION_SERVICE_REQUEST,
    CS_MODULE,
    CS_TYPE_ORIENTATION,
    EXT_ADDRESS_INSEE_CODE,
    EXT_IDENTITY_RELIABILITY,
    FR_CORE_PATIENT,
    FR_CORE_PATIENT_INS,
    INS_SYSTEMS,
    Issue,
    Severity,
    identity_qualified,
    ins_key_valid,
)

DEFINITIONS = Path(__file__).parent / "definitions"
Resolver = Callable[[str], dict[str, Any] | None]


class Node:
    """A value of the resource and its FHIRPath (``Patient.identifier[1].use``), spelled out only when asked: most
    nodes a walk visits never appear in an issue."""

    __slots__ = ("_location", "_parent", "_step", "value")

    def __init__(self, value: Any, location: str = "", *, parent: Node | None = None, step: str = "") -> None:
        self.value = value
        self._location = location if parent is None else None
        self._parent = parent
        self._step = step

    @property
    def location(self) -> str:
        if self._location is None:
            assert self._parent is not None
            self._location = self._parent.location + self._step
        return self._location


@dataclass(frozen=True)
class Segment:
    name: str
    slice: str | None


@dataclass(frozen=True, eq=False)  # identity equality: chains that share a slice element share its object
class Element:
    id: str
    segments: tuple[Segment, ...]
    raw: dict[str, Any]
    # per segment after the root: its name and the slice element that filters it (resolved once at load)
    chain: tuple[tuple[str, Element | None], ...] = ()

    # What validation reads of ``raw``, read once per element (profiles are loaded once per process).

    @cached_property
    def min(self) -> int | None:
        value = self.raw.get("min")
        return int(value) if value is not None else None

    @cached_property
    def max(self) -> int | None:
        value = self.raw.get("max")
        return None if value in (None, "*") else int(value)

    @cached_property
    def slice_rule(self) -> tuple[str, Any] | None:
        """How an item belongs to this slice: ("pattern", value) or ("url", extension URL); None: any item."""
        for key, pattern in self.raw.items():
            if key.startswith("pattern"):
                return ("pattern", pattern)
        for type_ in self.raw.get("type", []):
            for profile in type_.get("profile", []):
                return ("url", profile)
        return None

    @cached_property
    def fixed(self) -> tuple[str, Any] | None:
        return next(((k, v) for k, v in self.raw.items() if k.startswith("fixed")), None)

    @cached_property
    def pattern(self) -> tuple[str, Any] | None:
        """The value pattern (a slice's pattern defines membership, it is not checked as a value)."""
        if self.raw.get("sliceName"):
            return None
        return next(((k, v) for k, v in self.raw.items() if k.startswith("pattern")), None)

    @cached_property
    def required_valueset(self) -> str | None:
        binding = self.raw.get("binding")
        return str(binding["valueSet"]) if binding and binding.get("strength") == "required" else None

    @cached_property
    def label(self) -> str:
        return self.id.split(".", 1)[1] if "." in self.id else self.id


@dataclass
class Profile:
    url: str
    type: str
    base: str
    elements: list[Element]
    by_id: dict[str, Element] = field(default_factory=dict)


def _parse_id(element_id: str) -> tuple[Segment, ...]:
    segments = []
    for part in element_id.split("."):
        name, _, slice_name = part.partition(":")
        segments.append(Segment(name, slice_name or None))
    return tuple(segments)


def _chain_of(segments: tuple[Segment, ...], by_id: dict[str, Element]) -> tuple[tuple[str, Element | None], ...]:
    links = []
    for depth in range(1, len(segments)):
        slice_element = None
        if segments[depth].slice is not None:
            slice_id = ".".join(s.name + (f":{s.slice}" if s.slice else "") for s in segments[: depth + 1])
            slice_element = by_id.get(slice_id)
        links.append((segments[depth].name, slice_element))
    return tuple(links)


@cache
def _profiles() -> dict[str, Profile]:
    found: dict[str, Profile] = {}
    for path in sorted(DEFINITIONS.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("resourceType") != "StructureDefinition":
            continue
        bare = [Element(e["id"], _parse_id(e["id"]), e) for e in data["differential"]["element"]]
        by_id = {e.id: e for e in bare}

        elements = [Element(e.id, e.segments, e.raw, _chain_of(e.segments, by_id)) for e in bare]
        profile = Profile(data["url"], data["type"], data.get("baseDefinition", ""), elements)
        profile.by_id = {e.id: e for e in elements}
        found[profile.url] = profile
    return found


@cache
def _valuesets() -> dict[str, dict[str, list[str]]]:
    data: dict[str, Any] = json.loads((DEFINITIONS / "valuesets.json").read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("_")}


def known_profiles() -> list[str]:
    return sorted(_profiles())


def structure_definition(url: str) -> dict[str, Any] | None:
    """The StructureDefinition JSON as kept in ``definitions/`` (served by the FHIR API)."""
    for path in DEFINITIONS.glob("*.json"):
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        if data.get("url") == url:
            return data
    return None


# ====================================================================================================================
# Walking a resource along element ids
# ====================================================================================================================


def _subset(pattern: Any, value: Any) -> bool:
    """FHIR pattern[x] semantics: every property of the pattern is present in the value (lists: each pattern
    item matches some value item)."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(_subset(v, value.get(k)) for k, v in pattern.items())
    if isinstance(pattern, list):
        return isinstance(value, list) and all(any(_subset(p, v) for v in value) for p in pattern)
    return bool(pattern == value)


def _slice_matches(element: Element, item: Any) -> bool:
    rule = element.slice_rule
    if rule is None:
        return True
    if rule[0] == "pattern":
        return _subset(rule[1], item)
    return isinstance(item, dict) and item.get("url") == rule[1]


def _children(node: Node, name: str) -> Iterator[Node]:
    if not isinstance(node.value, dict):
        return
    value = node.value.get(name)
    if value is None:
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield Node(item, parent=node, step=f".{name}[{index}]")
    else:
        yield Node(value, parent=node, step=f".{name}")


def _select(root: Node, chain: tuple[tuple[str, Element | None], ...]) -> list[Node]:
    nodes = [root]
    for name, slice_element in chain:
        nodes = [child for node in nodes for child in _children(node, name)
                 if slice_element is None or _slice_matches(slice_element, child.value)]
        if not nodes:
            break
    return nodes


# ====================================================================================================================
# Invariants: one predicate per constraint key. Each returns the locations where the constraint fails.
# ====================================================================================================================


@dataclass(frozen=True)
class Context:
    resolve: Resolver | None


Invariant = Callable[[Node, Context], list[str]]


def _ins_identifiers(resource: dict[str, Any], location: str) -> list[tuple[str, dict[str, Any]]]:
    return [(f"{location}.identifier[{i}]", ident) for i, ident in enumerate(resource.get("identifier") or [])
            if isinstance(ident, dict) and ident.get("system") in INS_SYSTEMS]


def _status_coding(resource: dict[str, Any]) -> dict[str, Any] | None:
    for ext in resource.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == EXT_IDENTITY_RELIABILITY:
            for sub in ext.get("extension") or []:
                if isinstance(sub, dict) and sub.get("url") == "identityStatus":
                    coding = sub.get("valueCoding")
                    return coding if isinstance(coding, dict) else None
    return None


def _qualified(resource: dict[str, Any]) -> bool:
    coding = _status_coding(resource)
    return coding is not None and identity_qualified(coding.get("system"), coding.get("code"))


def _ins_only_when_qualified(node: Node, _: Context) -> list[str]:
    found = _ins_identifiers(node.value, node.location)
    return [found[0][0]] if found and not _qualified(node.value) else []


INS_SHAPE = re.compile(r"^[0-9]{5}([0-9]{2}|2A|2B)[0-9]{8}$")


def _ins_shape(node: Node, _: Context) -> list[str]:
    return [f"{loc}.value" for loc, ident in _ins_identifiers(node.value, node.location)
            if not INS_SHAPE.match(str(ident.get("value", "")))]


def _ins_key(node: Node, _: Context) -> list[str]:
    return [f"{loc}.value" for loc, ident in _ins_identifiers(node.value, node.location)
            if INS_SHAPE.match(str(ident.get("value", ""))) and not ins_key_valid(str(ident["value"]))]


def _one_ins(node: Node, _: Context) -> list[str]:
    found = _ins_identifiers(node.value, node.location)
    return [found[1][0]] if len(found) > 1 else []


def _identifier_complete(node: Node, _: Context) -> list[str]:
    return [f"{node.location}.identifier[{i}]" for i, ident in enumerate(node.value.get("identifier") or [])
            if not (isinstance(ident, dict) and ident.get("system") and ident.get("value"))]


INSEE = re.compile(r"^[0-9][0-9AB][0-9]{3}$")


def _birthplace_insee(node: Node, _: Context) -> list[str]:
    address = node.value.get("valueAddress")
    if not isinstance(address, dict):
        return []
    for index, ext in enumerate(address.get("extension") or []):
        if isinstance(ext, dict) and ext.get("url") == EXT_ADDRESS_INSEE_CODE:
            coding = ext.get("valueCoding") or {}
            code = coding.get("code", "") if isinstance(coding, dict) else ""
            ok = bool(INSEE.match(str(code)))
            return [] if ok else [f"{node.location}.valueAddress.extension[{index}].valueCoding.code"]
    return []


def _subject_is_patient(node: Node, _: Context) -> list[str]:
    subject = node.value.get("subject")
    if not isinstance(subject, dict):
        return []  # cardinality reports the missing subject
    reference = str(subject.get("reference", ""))
    if reference.startswith(("Patient/", "urn:uuid:")) or (not reference and subject.get("identifier")):
        return []
    return [f"{node.location}.subject"]


ORIENTATIONS = {
    "sanitaire": "urn:aiguillage:fhir:ValueSet/type-orientation-sanitaire",
    "grand_age": "urn:aiguillage:fhir:ValueSet/type-orientation-grand-age",
}


def _orientation_matches_module(node: Node, _: Context) -> list[str]:
    module = next((c.get("code") for cat in node.value.get("category") or [] if isinstance(cat, dict)
                   for c in cat.get("coding") or [] if isinstance(c, dict) and c.get("system") == CS_MODULE), None)
    if module not in ORIENTATIONS:
        return []
    allowed = _valuesets()[ORIENTATIONS[str(module)]][CS_TYPE_ORIENTATION]
    code = node.value.get("code")
    codings = code.get("coding") or [] if isinstance(code, dict) else []
    for index, coding in enumerate(codings):
        if isinstance(coding, dict) and coding.get("system") == CS_TYPE_ORIENTATION \
                and coding.get("code") not in allowed:
            return [f"{node.location}.code.coding[{index}].code"]
    return []


def _subject_ins_qualified(node: Node, ctx: Context) -> list[str]:
    subject = node.value.get("subject")
    if ctx.resolve is None or not isinstance(subject, dict) or not subject.get("reference"):
        return []
    patient = ctx.resolve(str(subject["reference"]))
    if patient is None or not _ins_identifiers(patient, "Patient") or _qualified(patient):
        return []
    return [f"{node.location}.subject"]


def _no_timing(node: Node, _: Context) -> list[str]:
    return [f"{node.location}.occurrenceTiming"] if "occurrenceTiming" in node.value else []


INVARIANTS: dict[str, Invariant] = {
    "aig-pat-id-1": _identifier_complete,
    "aig-ins-1": _ins_only_when_qualified,
    "aig-ins-2": _ins_shape,
    "aig-ins-3": _ins_key,
    "aig-ins-4": _one_ins,
    "aig-bp-1": _birthplace_insee,
    "aig-sr-1": _subject_is_patient,
    "aig-sr-2": _orientation_matches_module,
    "aig-sr-3": _subject_ins_qualified,
    "aig-sr-4": _no_timing,
}

ISSUE_CODE_FOR_KEY = {"aig-ins-3": "business-rule", "aig-sr-3": "business-rule"}


def unimplemented_constraints() -> list[str]:
    return sorted({c["key"] for p in _profiles().values() for e in p.elements
                   for c in e.raw.get("constraint", []) if c["key"] not in INVARIANTS})


# ====================================================================================================================
# Validation
# ====================================================================================================================


def _value_in_valueset(value: Any, valueset: dict[str, list[str]]) -> bool:
    if isinstance(value, str):
        return any(value in codes or "*" in codes for codes in valueset.values())
    if isinstance(value, dict) and "coding" in value:
        return any(_value_in_valueset(c, valueset) for c in value.get("coding") or [])
    if isinstance(value, dict):
        system, code = value.get("system"), value.get("code")
        if system is None:
            return any(code in codes for codes in valueset.values())
        codes = valueset.get(str(system), [])
        return bool(code) and ("*" in codes or code in codes)
    return False


Chain = tuple[tuple[str, Element | None], ...]


def _check_profile(profile: Profile, root: Node, ctx: Context) -> list[Issue]:
    issues: list[Issue] = []
    selected: dict[Chain, list[Node]] = {(): [root]}
    membership: dict[tuple[int, int], bool] = {}  # (slice element, item) → in the slice; both live all along

    def in_slice(slice_element: Element | None, item: Any) -> bool:
        if slice_element is None:
            return True
        key = (id(slice_element), id(item))
        found = membership.get(key)
        if found is None:
            found = membership[key] = _slice_matches(slice_element, item)
        return found

    def select(chain: Chain) -> list[Node]:
        """The nodes a chain designates, each prefix walked once per resource (elements share their parents)."""
        found = selected.get(chain)
        if found is None:
            parents = select(chain[:-1])
            name, slice_element = chain[-1]
            found = [child for node in parents for child in _children(node, name)
                     if in_slice(slice_element, child.value)]
            selected[chain] = found
        return found

    for element in profile.elements:
        segments = element.segments
        if len(segments) > 1 and (element.min or element.max is not None):
            parent_nodes = select(element.chain[:-1])
            last = segments[-1]
            # the chain's last link is this element itself when it is a slice (same object: the memo applies)
            slice_element = element.chain[-1][1] if last.slice else None
            for parent in parent_nodes:
                children = select(element.chain) if len(parent_nodes) == 1 else [
                    c for c in _children(parent, last.name) if in_slice(slice_element, c.value)]
                what = f"« {element.label} »"
                if element.min and len(children) < element.min:
                    issues.append(Issue("error", "required", f"{parent.location}.{last.name}",
                                        f"Élément {what} obligatoire (au moins {element.min}) absent "
                                        f"({profile.url.rsplit('/', 1)[-1]})."))
                if element.max is not None and len(children) > element.max:
                    issues.append(Issue("error", "structure", children[element.max].location,
                                        f"Élément {what} répété {len(children)} fois, au plus {element.max} "
                                        f"permis."))
        fixed, pattern, valueset_url = element.fixed, element.pattern, element.required_valueset
        if fixed is not None or pattern is not None or valueset_url is not None:
            valueset = _valuesets().get(valueset_url) if valueset_url is not None else None
            for node in select(element.chain):
                if fixed is not None and node.value != fixed[1]:
                    issues.append(Issue("error", "value", node.location,
                                        f"Valeur « {node.value} » invalide : « {fixed[1]} » attendu."))
                if pattern is not None and not _subset(pattern[1], node.value):
                    issues.append(Issue("error", "value", node.location,
                                        f"Valeur non conforme au motif attendu {json.dumps(pattern[1])}."))
                if valueset is not None and not _value_in_valueset(node.value, valueset):
                    shown = node.value.get("code") if isinstance(node.value, dict) else node.value
                    issues.append(Issue("error", "code-invalid", node.location,
                                        f"Code « {shown} » hors du jeu de valeurs {valueset_url}."))
        for constraint in element.raw.get("constraint", ()):
            predicate = INVARIANTS.get(constraint["key"])
            if predicate is None:
                continue
            for node in select(element.chain):
                if not isinstance(node.value, dict):
                    continue
                severity: Severity = "warning" if constraint["severity"] == "warning" else "error"
                code = ISSUE_CODE_FOR_KEY.get(constraint["key"], "invariant")
                issues.extend(Issue(severity, code, location, f"{constraint['human']} [{constraint['key']}]",
                                    constraint["key"]) for location in predicate(node, ctx))
    return issues


def _chain(url: str) -> list[Profile]:
    profiles = _profiles()
    chain: list[Profile] = []
    while url in profiles:
        chain.append(profiles[url])
        url = profiles[url].base
    return chain


def validate(resource: dict[str, Any], profile_url: str, *, resolve: Resolver | None = None) -> list[Issue]:
    """Issues of ``resource`` against the profile (and its bases kept here), with the extensions it carries
    validated against their own definitions. ``resolve`` turns a reference into the referenced resource (in a
    Bundle: its entries) for invariants that look across resources."""
    chain = _chain(profile_url)
    if not chain:
        return [Issue("error", "not-supported", "meta.profile", f"Profil inconnu : {profile_url}.")]
    resource_type = str(resource.get("resourceType", chain[0].type))
    if resource_type != chain[0].type:
        return [Issue("error", "structure", resource_type,
                      f"Le profil {profile_url} s'applique à {chain[0].type}, pas à {resource_type}.")]
    ctx = Context(resolve)
    root = Node(resource, resource_type)
    issues: list[Issue] = []
    for profile in chain:
        issues.extend(_check_profile(profile, root, ctx))
    profiles = _profiles()
    for ext in _children(root, "extension"):
        if isinstance(ext.value, dict):
            ext_profile = profiles.get(str(ext.value.get("url")))
            if ext_profile is not None and ext_profile.type == "Extension":
                issues.extend(_check_profile(ext_profile, Node(ext.value, ext.location), ctx))
    unique: dict[tuple[str, str, str], Issue] = {}
    for issue in issues:
        unique.setdefault((issue.code, issue.expression, issue.diagnostics), issue)
    return list(unique.values())


def default_profiles(resource: dict[str, Any]) -> list[str]:
    """The profiles a resource is checked against: those it declares that we keep, else ours by type (a
    Patient carrying an INS identifier is checked against fr-core-patient-ins)."""
    meta = resource.get("meta")
    declared = meta.get("profile") if isinstance(meta, dict) else None
    known = [p.split("|")[0] for p in declared or [] if isinstance(p, str) and p.split("|")[0] in _profiles()]
    if known:
        return known
    resource_type = resource.get("resourceType")
    if resource_type == "Patient":
        ids = resource.get("identifier") or []
        has_ins = any(isinstance(i, dict) and i.get("system") in INS_SYSTEMS for i in ids)
        return [FR_CORE_PATIENT_INS if has_ins else FR_CORE_PATIENT]
    if resource_type == "ServiceRequest":
        return [ADMISSION_SERVICE_REQUEST]
    return []
