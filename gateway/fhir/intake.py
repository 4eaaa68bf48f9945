"""FHIR intake: validation in tiers, versioned storage, conditional create/update, transaction and batch Bundles,
and the inbox row that hands the posted content to the same pipeline as HL7 messages.

Each operation runs in one unit of work. A unique-constraint conflict (two clients creating the same patient at
once, two updates of the same version) rolls back and the whole operation is retried: the retry of a conditional
create then finds the winner's resource and answers 200 with it, which is what makes it idempotent.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog
from sqlalchemy.exc import IntegrityError

from fhir_profiles import Issue, default_profiles, validate, validate_structure
from gateway.container import Container
from gateway.fhir.indexing import UNIQUE_IDENTIFIER_TYPES, identifiers, search_values, split_token
from gateway.fhir.outcome import FhirError, outcome, status_line
from orientation_core.inbox.model import InboxSource, NewInboxMessage
from orientation_core.persistence.fhir import VersionConflict, encode
from orientation_core.persistence.uow import SqlUnitOfWork

log = structlog.get_logger("aiguillage.fhir")

INTAKE_TYPES = ("Patient", "ServiceRequest", "Encounter", "Condition", "Observation", "MedicationStatement",
                "AllergyIntolerance", "RelatedPerson", "Coverage", "Practitioner", "PractitionerRole")
# Types a client may create / update on their own (outside Bundles): the issue's list.
STANDALONE_CREATE = frozenset({"Patient", "ServiceRequest"})
STANDALONE_UPDATE = frozenset({"Patient"})
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
RESERVED_ID_PREFIXES = ("dossier-", "demande-")  # read-back ids: ServiceRequest/dossier-<n>, Task/demande-<n>
RETRIES = 3
T = TypeVar("T")


@dataclass
class Outcome:
    """One write: the stored (or matched) resource, the HTTP status, and the warnings to report."""

    resource: dict[str, Any]
    status: int
    warnings: list[Issue] = field(default_factory=list)
    encoded: str | None = None  # the resource's JSON text when the store made it (reused for the inbox row)

    @property
    def location(self) -> str:
        meta = self.resource.get("meta") or {}
        return f"{self.resource['resourceType']}/{self.resource['id']}/_history/{meta.get('versionId', '1')}"

    @property
    def etag(self) -> str:
        return f'W/"{(self.resource.get("meta") or {}).get("versionId", "1")}"'


def new_id() -> str:
    return str(uuid.uuid4())


def with_retries(action: Callable[[], T]) -> T:
    """Run ``action`` (one unit of work) again after a unique-constraint conflict; the last conflict is 409."""
    for attempt in range(RETRIES):
        try:
            return action()
        except IntegrityError:
            if attempt == RETRIES - 1:
                raise FhirError(409, "Conflit avec une écriture concurrente (identifiant déjà attribué ou version "
                                     "déjà écrite) : relisez la ressource puis réessayez.", "conflict") from None
    raise AssertionError("unreachable")  # pragma: no cover


# ====================================================================================================================
# Validation
# ====================================================================================================================


def _prefixed(issues: list[Issue], prefix: str, root_type: str) -> list[Issue]:
    if not prefix:
        return issues
    return [Issue(i.severity, i.code, prefix + i.expression[len(root_type):] if i.expression.startswith(root_type)
                  else f"{prefix}.{i.expression}".rstrip("."), i.diagnostics, i.key) for i in issues]


def check_structure(resource: Any) -> None:
    """Tier 1 (fhir.resources): 400 with every structure issue located."""
    issues = validate_structure(resource)
    if any(i.blocking for i in issues):
        raise FhirError(400, issues)


def profile_issues(resource: dict[str, Any], resolve: Callable[[str], dict[str, Any] | None] | None,
                   prefix: str = "") -> list[Issue]:
    """Tier 2: the profiles the resource declares (that we keep) or ours by type."""
    issues: list[Issue] = []
    for profile in default_profiles(resource):
        issues.extend(validate(resource, profile, resolve=resolve))
    return _prefixed(issues, prefix, str(resource.get("resourceType", "")))


def split_blocking(issues: list[Issue]) -> tuple[list[Issue], list[Issue]]:
    return [i for i in issues if i.blocking], [i for i in issues if not i.blocking]


def parse_json(body: bytes) -> Any:
    if not body.strip():
        raise FhirError(400, "Corps de requête vide : une ressource FHIR JSON est attendue.", "structure")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FhirError(400, f"JSON invalide : {exc}.", "structure") from None


def expect_type(resource: Any, resource_type: str) -> dict[str, Any]:
    if not isinstance(resource, dict):
        raise FhirError(400, "Une ressource FHIR (objet JSON) est attendue.", "structure")
    found = resource.get("resourceType")
    if found != resource_type:
        raise FhirError(400, f"Ressource {found!r} reçue à l'adresse de {resource_type}.", "invalid",
                        "resourceType")
    return resource


def parse_condition(condition: str, resource_type: str, where: str) -> tuple[str | None, str]:
    """``identifier=system|value`` (If-None-Exist, conditional update): the only criterion supported."""
    name, sep, raw = condition.partition("=")
    if not sep or name.strip() != "identifier" or "&" in raw or not raw:
        raise FhirError(400, f"Condition non prise en charge ({where}) : seule « identifier=système|valeur » "
                             f"l'est pour {resource_type}.", "not-supported", where)
    system, value = split_token(raw)
    if not value:
        raise FhirError(400, f"Condition sans valeur d'identifiant ({where}).", "value", where)
    return system, value


def matches(uow: SqlUnitOfWork, resource_type: str, condition: tuple[str | None, str], where: str
            ) -> list[dict[str, Any]]:
    """The current resources the condition designates (at most one, else 412)."""
    found = uow.fhir.current_by_identifier(resource_type, condition[0], condition[1])
    if len(found) > 1:
        raise FhirError(412, f"La condition ({where}) désigne {len(found)} ressources {resource_type} : "
                             "précisez-la.", "multiple-matches", where)
    return found


# ====================================================================================================================
# Storage and the inbox
# ====================================================================================================================


def _store(uow: SqlUnitOfWork, resource: dict[str, Any], at: dt.datetime,
           expected_version: int | None = None) -> dict[str, Any]:
    resource_type = str(resource["resourceType"])
    try:
        return uow.fhir.save(resource, at, identifiers=identifiers(resource), search=search_values(resource),
                             unique_identifiers=resource_type in UNIQUE_IDENTIFIER_TYPES,
                             expected_version=expected_version)
    except VersionConflict as exc:
        raise FhirError(412, f"If-Match ne correspond pas à la version courante ({exc.current_version}).",
                        "conflict", "If-Match") from None


def _patient_key(content: dict[str, Any]) -> str | None:
    """IPP ``value^assigner`` of the posted patient, so the pipeline keeps this patient's messages in order."""
    resources = [e.get("resource") or {} for e in content.get("entry") or []] if content.get(
        "resourceType") == "Bundle" else [content]
    for resource in resources:
        if isinstance(resource, dict) and resource.get("resourceType") == "Patient":
            for ident in resource.get("identifier") or []:
                codes = [c.get("code") for c in (ident.get("type") or {}).get("coding") or []]
                if "PI" in codes and ident.get("value"):
                    assigner = ((ident.get("assigner") or {}).get("identifier") or {}).get("value", "")
                    return f"{ident['value']}^{assigner}"
    return None


def to_inbox(uow: SqlUnitOfWork, client: str, content: dict[str, Any], at: dt.datetime, control_id: str,
             interaction: str, raw: bytes | None = None) -> int:
    """The posted content, references resolved to the stored ids, as one inbox row (source "fhir"): the same
    pipeline as HL7 v2 maps it (``mappings.fhir.to_canonical``) and applies it to the patient registry. ``raw``:
    ``content`` already serialised (``_bundle_raw``)."""
    if raw is None:
        raw = encode(content).encode("utf-8")
    stored = uow.inbox.add(NewInboxMessage(
        source=InboxSource.FHIR, sender_app=client[:255], sender_facility="", control_id=control_id,
        message_type="FHIR", trigger_event=str(content.get("resourceType", ""))[:16],
        message_structure=interaction[:16], version="4.0.1", charset="UTF-8", patient_key=_patient_key(content),
        received_at=at, raw=raw))
    return stored.inbox_id


_PIPELINE_TASK: list[str] = []  # the pipeline's task name once found: no import statement per request


def _pipeline_task() -> str | None:
    if not _PIPELINE_TASK:
        from gateway.worker.tasks import TASKS  # lazily, as the task registry imports the gateway's modules

        _PIPELINE_TASK.extend(n for n in ("ingest.process", "intake.process") if n in TASKS)  # once registered
    return _PIPELINE_TASK[0] if _PIPELINE_TASK else None


def _bundle_raw(bundle: dict[str, Any], entries: list[tuple[str, Outcome, dict[str, Any]]]) -> bytes:
    """``encode({**bundle, "entry": [{"fullUrl", "resource", "request"}…]})`` (``entry`` last), reusing the JSON
    text the store made of each new resource instead of serialising the twelve resources of a Bundle twice."""
    head = encode({k: v for k, v in bundle.items() if k != "entry"})
    parts = [f'{{"fullUrl":{encode(full_url)},"resource":{result.encoded or encode(result.resource)},'
             f'"request":{encode(request)}}}' for full_url, result, request in entries]
    return (head[:-1] + ("," if len(head) > 2 else "") + '"entry":[' + ",".join(parts) + "]}").encode("utf-8")


def enqueue_pipeline(container: Container) -> None:
    name = _pipeline_task()
    if name is not None:
        try:
            container.tasks.enqueue(name)
        except Exception:  # committed already: the pipeline's periodic scan picks the row up
            log.warning("task.enqueue_failed", task=name, exc_info=True)


# ====================================================================================================================
# Single-resource interactions
# ====================================================================================================================


def _resolver(uow: SqlUnitOfWork) -> Callable[[str], dict[str, Any] | None]:
    def resolve(reference: str) -> dict[str, Any] | None:
        kind, _, rid = reference.partition("/")
        return uow.fhir.current(kind, rid.split("/_history/")[0]) if rid else None
    return resolve


def create(container: Container, client: str, resource_type: str, body: bytes, if_none_exist: str | None
           ) -> Outcome:
    resource = expect_type(parse_json(body), resource_type)
    check_structure(resource)
    condition = parse_condition(if_none_exist, resource_type, "If-None-Exist") if if_none_exist else None

    def run() -> Outcome:
        with container.uow() as uow:
            if condition is not None:
                found = matches(uow, resource_type, condition, "If-None-Exist")
                if found:
                    return Outcome(found[0], 200)
            blocking, warnings = split_blocking(profile_issues(resource, _resolver(uow)))
            if blocking:
                raise FhirError(422, blocking + warnings)
            at = container.env.clock.now()
            stored = _store(uow, {**resource, "id": new_id()}, at)
            to_inbox(uow, client, stored, at, f"{resource_type}/{stored['id']}/_history/1", "create")
            return Outcome(stored, 201, warnings)

    result = with_retries(run)
    if result.status == 201:
        enqueue_pipeline(container)
    return result


def update(container: Container, client: str, resource_type: str, resource_id: str | None, body: bytes,
           if_match: str | None, condition_text: str | None) -> Outcome:
    resource = expect_type(parse_json(body), resource_type)
    check_structure(resource)
    if resource_id is not None:
        if resource.get("id") != resource_id:
            raise FhirError(400, "L'id de la ressource doit être celui de l'adresse.", "invalid", f"{resource_type}.id")
        if not FHIR_ID.match(resource_id) or resource_id.startswith(RESERVED_ID_PREFIXES):
            raise FhirError(400, "Id FHIR invalide (1 à 64 caractères : lettres, chiffres, « - », « . » ; "
                                 "« dossier-… » et « demande-… » sont réservés).", "value", f"{resource_type}.id")
    expected = None
    if if_match:
        match = re.fullmatch(r'(?:W/)?"?(\d+)"?', if_match.strip())
        if not match:
            raise FhirError(400, "En-tête If-Match invalide (attendu : W/\"<version>\").", "value", "If-Match")
        expected = int(match.group(1))
    condition = parse_condition(condition_text, resource_type, "url") if condition_text is not None else None

    def run() -> Outcome:
        with container.uow() as uow:
            target = resource_id
            if condition is not None:
                found = [str(r["id"]) for r in matches(uow, resource_type, condition, "url")]
                target = found[0] if found else (str(resource["id"]) if resource.get("id") else new_id())
                if resource.get("id") and found and resource["id"] != found[0]:
                    raise FhirError(400, "L'id de la ressource ne correspond pas à la ressource trouvée par la "
                                         "condition.", "invalid", f"{resource_type}.id")
            assert target is not None
            existed = uow.fhir.current(resource_type, target) is not None
            if expected is not None and not existed:
                raise FhirError(412, "If-Match sur une ressource qui n'existe pas.", "not-found", "If-Match")
            blocking, warnings = split_blocking(profile_issues(resource, _resolver(uow)))
            if blocking:
                raise FhirError(422, blocking + warnings)
            at = container.env.clock.now()
            stored = _store(uow, {**resource, "id": target}, at, expected)
            version = stored["meta"]["versionId"]
            to_inbox(uow, client, stored, at, f"{resource_type}/{target}/_history/{version}", "update")
            return Outcome(stored, 200 if existed else 201, warnings)

    result = with_retries(run)
    enqueue_pipeline(container)
    return result


def validate_only(resource_type: str, body: bytes, container: Container) -> list[Issue]:
    """$validate: both tiers, nothing stored. The body is the resource or a Parameters with ``resource``."""
    posted = parse_json(body)
    if isinstance(posted, dict) and posted.get("resourceType") == "Parameters":
        param = next((p for p in posted.get("parameter") or [] if isinstance(p, dict) and p.get("name") == "resource"),
                     None)
        if param is None or not isinstance(param.get("resource"), dict):
            raise FhirError(400, "Parameters sans paramètre « resource ».", "required", "Parameters.parameter")
        posted = param["resource"]
    resource = expect_type(posted, resource_type)
    issues = validate_structure(resource)
    if any(i.blocking for i in issues):
        return issues
    with container.uow() as uow:
        return profile_issues(resource, _resolver(uow))


# ====================================================================================================================
# Bundles
# ====================================================================================================================


@dataclass
class _Entry:
    index: int
    resource: dict[str, Any]
    method: str
    full_url: str
    condition: tuple[str | None, str] | None = None  # ifNoneExist (POST) or conditional update (PUT)
    target_id: str | None = None  # PUT Type/id
    assigned: str = ""  # the id the resource gets (or the matched one)
    matched: bool = False  # conditional create that found an existing resource: nothing written
    existing: dict[str, Any] | None = None  # the current version the condition found


def _entries(bundle: dict[str, Any]) -> list[_Entry]:
    entries: list[_Entry] = []
    for i, entry in enumerate(bundle.get("entry") or []):
        where = f"Bundle.entry[{i}]"
        resource, request = entry.get("resource"), entry.get("request")
        if not isinstance(request, dict) or not request.get("method") or not request.get("url"):
            raise FhirError(400, "Chaque entrée d'un Bundle transaction ou batch porte request.method et request.url.",
                            "required", f"{where}.request")
        method, url = str(request["method"]), str(request["url"])
        if method not in ("POST", "PUT"):
            raise FhirError(400,
                            f"Méthode {method} non prise en charge dans un Bundle (POST et PUT seulement).",
                            "not-supported", f"{where}.request.method")
        if not isinstance(resource, dict):
            raise FhirError(400, "Entrée sans ressource.", "required", f"{where}.resource")
        resource_type = str(resource.get("resourceType"))
        if resource_type not in INTAKE_TYPES:
            raise FhirError(422, f"Type de ressource non accepté par Aiguillage : {resource_type}.", "not-supported",
                            f"{where}.resource")
        path = url.split("?", 1)[0].strip("/")
        if path.split("/")[0] != resource_type:
            raise FhirError(400, f"request.url ({url}) ne désigne pas le type {resource_type}.", "invalid",
                            f"{where}.request.url")
        item = _Entry(i, resource, method, str(entry.get("fullUrl") or ""))
        if method == "POST" and request.get("ifNoneExist"):
            item.condition = parse_condition(str(request["ifNoneExist"]), resource_type,
                                             f"{where}.request.ifNoneExist")
        elif method == "PUT" and "?" in url:
            item.condition = parse_condition(url.split("?", 1)[1], resource_type, f"{where}.request.url")
        elif method == "PUT":
            parts = path.split("/")
            if len(parts) != 2 or not FHIR_ID.match(parts[1]):
                raise FhirError(400, f"request.url invalide pour PUT : {url}.", "invalid", f"{where}.request.url")
            if parts[1].startswith(RESERVED_ID_PREFIXES):
                raise FhirError(400, f"Id réservé aux dossiers et demandes publiés : {parts[1]}.", "invalid",
                                f"{where}.request.url")
            item.target_id = parts[1]
        entries.append(item)
    return entries


def _rewrite(value: Any, refs: dict[str, str]) -> Any:
    """``value`` with every ``reference`` found in ``refs`` replaced. Copy on write: the dicts and lists that
    hold no replaced reference are returned as they are (shared with the posted Bundle, which nobody mutates)."""
    if type(value) is dict:
        out: dict[str, Any] | None = None
        for key, item in value.items():
            kind = type(item)
            if kind is dict or kind is list:
                new = _rewrite(item, refs)
            elif kind is str and key == "reference":
                new = refs.get(item, item)
            else:
                continue
            if new is not item:
                if out is None:
                    out = dict(value)
                out[key] = new
        return value if out is None else out
    if type(value) is list:
        copied: list[Any] | None = None
        for index, item in enumerate(value):
            if type(item) is dict or type(item) is list:
                new = _rewrite(item, refs)
                if new is not item:
                    if copied is None:
                        copied = list(value)
                    copied[index] = new
        return value if copied is None else copied
    return value


def _assign(uow: SqlUnitOfWork, entry: _Entry) -> None:
    resource_type = str(entry.resource["resourceType"])
    if entry.condition is not None:
        where = f"Bundle.entry[{entry.index}].request"
        found = matches(uow, resource_type, entry.condition, where)
        if found:
            entry.existing = found[0]
            entry.assigned = str(found[0]["id"])
            entry.matched = entry.method == "POST"
            return
    if entry.target_id:
        entry.assigned = entry.target_id
    elif entry.method == "PUT" and entry.resource.get("id"):
        entry.assigned = str(entry.resource["id"])
    else:
        entry.assigned = new_id()


def _assign_all(uow: SqlUnitOfWork, entries: list[_Entry]) -> None:
    """``_assign`` for a whole Bundle, with the conditional entries' look-ups in one query."""
    conditional = [e for e in entries if e.condition is not None]
    found_all = uow.fhir.current_by_identifiers(
        [(str(e.resource["resourceType"]), *e.condition) for e in conditional if e.condition is not None])
    found_of = {id(e): found for e, found in zip(conditional, found_all, strict=True)}
    for entry in entries:
        entry.existing, entry.matched = None, False  # a retry starts afresh
        found = found_of.get(id(entry))
        if found:
            if len(found) > 1:
                raise FhirError(412, f"La condition (Bundle.entry[{entry.index}].request) désigne {len(found)} "
                                     f"ressources {entry.resource['resourceType']} : précisez-la.",
                                "multiple-matches", f"Bundle.entry[{entry.index}].request")
            entry.existing = found[0]
            entry.assigned = str(found[0]["id"])
            entry.matched = entry.method == "POST"
        elif entry.target_id:
            entry.assigned = entry.target_id
        elif entry.method == "PUT" and entry.resource.get("id"):
            entry.assigned = str(entry.resource["id"])
        else:
            entry.assigned = new_id()


def _ref_map(entries: list[_Entry]) -> dict[str, str]:
    refs: dict[str, str] = {}
    for entry in entries:
        ref = f"{entry.resource['resourceType']}/{entry.assigned}"
        if entry.full_url:
            refs[entry.full_url] = ref
        if entry.resource.get("id"):
            refs[f"{entry.resource['resourceType']}/{entry.resource['id']}"] = ref
    return refs


def _response_entry(outcome_: Outcome, full_url: str) -> dict[str, Any]:
    meta = outcome_.resource.get("meta") or {}
    response: dict[str, Any] = {"status": status_line(outcome_.status), "location": outcome_.location,
                                "etag": outcome_.etag}
    if meta.get("lastUpdated"):
        response["lastModified"] = meta["lastUpdated"]
    if outcome_.warnings:
        response["outcome"] = outcome(outcome_.warnings)
    return {"fullUrl": full_url or f"{outcome_.resource['resourceType']}/{outcome_.resource['id']}",
            "response": response}


def _write_entry(uow: SqlUnitOfWork, entry: _Entry, resource: dict[str, Any], at: dt.datetime,
                 warnings: list[Issue]) -> Outcome:
    resource_type = str(resource["resourceType"])
    if entry.matched:
        assert entry.existing is not None
        return Outcome(entry.existing, 200, warnings)
    existed = entry.existing is not None or (
        entry.method == "PUT" and uow.fhir.current(resource_type, entry.assigned) is not None)
    stored = _store(uow, {**resource, "id": entry.assigned}, at)
    return Outcome(stored, 200 if existed else 201, warnings)


def _write_all(uow: SqlUnitOfWork, entries: list[_Entry], resolved: list[dict[str, Any]],
               warnings: list[list[Issue]], at: dt.datetime) -> list[Outcome]:
    """Entries whose id was just assigned are new: written together (``add_new``); the others (matched
    conditional creates, PUTs) one by one."""
    results: dict[int, Outcome] = {}
    fresh: list[tuple[int, dict[str, Any]]] = []
    for n, (entry, resource) in enumerate(zip(entries, resolved, strict=True)):
        if entry.method == "POST" and not entry.matched:
            fresh.append((n, {**resource, "id": entry.assigned}))
        else:
            results[n] = _write_entry(uow, entry, resource, at, warnings[n])
    stored = uow.fhir.add_new_encoded([(r, identifiers(r), search_values(r),
                                        r["resourceType"] in UNIQUE_IDENTIFIER_TYPES) for _, r in fresh], at)
    for (n, _), (resource, text) in zip(fresh, stored, strict=True):
        results[n] = Outcome(resource, 201, warnings[n], text)
    return [results[n] for n in range(len(entries))]


def transaction(container: Container, client: str, bundle: dict[str, Any]) -> dict[str, Any]:
    """All or nothing: every entry validated, every entry written, one inbox row, one commit."""
    entries = _entries(bundle)
    control_id = f"Bundle/{new_id()}"

    def run() -> dict[str, Any]:
        with container.uow() as uow:
            _assign_all(uow, entries)
            refs = _ref_map(entries)
            resolved = [_rewrite(e.resource, refs) for e in entries]
            by_ref = {f"{r['resourceType']}/{e.assigned}": r for e, r in zip(entries, resolved, strict=True)}
            store_resolve = _resolver(uow)

            def resolve(reference: str) -> dict[str, Any] | None:
                return by_ref.get(refs.get(reference, reference)) or store_resolve(reference)

            issues: list[Issue] = []
            per_entry: list[list[Issue]] = []
            for entry, resource in zip(entries, resolved, strict=True):
                found = profile_issues(resource, resolve, f"Bundle.entry[{entry.index}].resource")
                per_entry.append([i for i in found if not i.blocking])
                issues.extend(found)
            blocking, warnings = split_blocking(issues)
            if blocking:
                raise FhirError(422, blocking + warnings)
            at = container.env.clock.now()
            results = _write_all(uow, entries, resolved, per_entry, at)
            kept = [(f"{r.resource['resourceType']}/{r.resource['id']}", r,
                     bundle["entry"][e.index].get("request") or {}) for e, r in zip(entries, results, strict=True)]
            posted = {**bundle, "entry": [{"fullUrl": f, "resource": r.resource, "request": q} for f, r, q in kept]}
            to_inbox(uow, client, posted, at, control_id, "transaction", _bundle_raw(bundle, kept))
            return {"resourceType": "Bundle", "id": new_id(), "type": "transaction-response",
                    "entry": [_response_entry(r, e.full_url) for e, r in zip(entries, results, strict=True)]}

    response = with_retries(run)
    enqueue_pipeline(container)
    return response


def batch(container: Container, client: str, bundle: dict[str, Any]) -> dict[str, Any]:
    """Each entry on its own (a savepoint each): one entry's refusal does not undo the others. References
    between entries are resolved like in a transaction (the ids are assigned first); an entry that points at a
    refused one fails its own validation only if a profile requires the target."""
    raw_entries = bundle.get("entry") or []
    control_id = f"Bundle/{new_id()}"

    def run() -> dict[str, Any]:
        responses: list[dict[str, Any]] = []
        kept: list[dict[str, Any]] = []
        with container.uow() as uow:
            entries: list[_Entry | FhirError] = []
            for i, raw in enumerate(raw_entries):
                try:
                    structure = validate_structure(raw.get("resource"))
                    if any(issue.blocking for issue in structure):
                        raise FhirError(400, _prefixed(structure, f"Bundle.entry[{i}].resource",
                                                       str((raw.get("resource") or {}).get("resourceType", ""))))
                    entry = _entries({"entry": [raw]})[0]
                    entry.index = i
                    _assign(uow, entry)
                    entries.append(entry)
                except FhirError as exc:
                    entries.append(exc)
            good = [e for e in entries if isinstance(e, _Entry)]
            refs = _ref_map(good)
            resolved = {e.index: _rewrite(e.resource, refs) for e in good}
            by_ref = {f"{r['resourceType']}/{e.assigned}": resolved[e.index] for e in good
                      for r in [resolved[e.index]]}
            store_resolve = _resolver(uow)

            def resolve(reference: str) -> dict[str, Any] | None:
                return by_ref.get(refs.get(reference, reference)) or store_resolve(reference)

            at = container.env.clock.now()
            for i, item in enumerate(entries):
                if isinstance(item, FhirError):
                    responses.append(_error_entry(item))
                    continue
                resource = resolved[item.index]
                blocking, warnings = split_blocking(profile_issues(resource, resolve, f"Bundle.entry[{i}].resource"))
                if blocking:
                    responses.append(_error_entry(FhirError(422, blocking + warnings)))
                    continue
                savepoint = uow.session.begin_nested()
                try:
                    result = _write_entry(uow, item, resource, at, warnings)
                    savepoint.commit()
                except IntegrityError:
                    savepoint.rollback()
                    responses.append(_error_entry(FhirError(409, "Identifiant déjà attribué à une autre ressource.",
                                                            "conflict", f"Bundle.entry[{i}].resource.identifier")))
                    continue
                except FhirError as exc:
                    savepoint.rollback()
                    responses.append(_error_entry(exc))
                    continue
                responses.append(_response_entry(result, item.full_url))
                kept.append({"fullUrl": f"{result.resource['resourceType']}/{result.resource['id']}",
                             "resource": result.resource, "request": raw_entries[i].get("request") or {}})
            if kept:
                to_inbox(uow, client, {**bundle, "entry": kept}, at, control_id, "batch")
        return {"resourceType": "Bundle", "id": new_id(), "type": "batch-response", "entry": responses}

    response = with_retries(run)
    enqueue_pipeline(container)
    return response


def _error_entry(error: FhirError) -> dict[str, Any]:
    return {"response": {"status": status_line(error.status), "outcome": outcome(error.issues)}}


def bundle(container: Container, client: str, body: bytes) -> dict[str, Any]:
    posted = parse_json(body)
    if not isinstance(posted, dict) or posted.get("resourceType") != "Bundle":
        raise FhirError(400, "Un Bundle (transaction ou batch) est attendu à la racine.", "invalid", "resourceType")
    kind = posted.get("type")
    if kind not in ("transaction", "batch"):
        raise FhirError(400, f"Bundle de type « {kind} » non traité ici : transaction ou batch.", "not-supported",
                        "Bundle.type")
    if kind == "transaction":
        check_structure(posted)
        return transaction(container, client, posted)
    # batch: the envelope must be sound; each entry's structure is judged on its own
    check_structure({**posted, "entry": [{k: v for k, v in e.items() if k != "resource"}
                                         for e in posted.get("entry") or [] if isinstance(e, dict)]})
    return batch(container, client, posted)
