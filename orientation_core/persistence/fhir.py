"""FHIR resource store: versions, identifier index, search values (tables ``fhir_resource``, ``fhir_identifier``,
``fhir_search``; migration 0006).

It lives in persistence rather than in the gateway because it shares the request's unit of work: one FHIR
transaction Bundle writes its resource versions and its inbox row in the same database transaction, and the
read-back joins nothing else. The repository knows nothing of FHIR semantics: the FHIR edge (``gateway.fhir``)
computes the identifiers and search values of a resource and hands them in; resources are plain JSON dicts whose
``meta.versionId`` / ``meta.lastUpdated`` this store sets.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from orientation_core.persistence import tables as t

_R = t.fhir_resource.c
_I = t.fhir_identifier.c
_S = t.fhir_search.c

# (name, operator, value): operator "eq" (exact), "sw" (starts with), or for dates "ge"/"gt"/"le"/"lt"
Criterion = tuple[str, str, str]


def encode(resource: Any) -> str:
    """A resource's (or any JSON value's) text as the store writes it: compact, UTF-8 characters kept."""
    return json.dumps(resource, ensure_ascii=False, separators=(",", ":"))


def _instant(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SqlFhirResources:
    """``uow.fhir``."""

    def __init__(self, session: Session) -> None:
        self._s = session

    # --- reads ----------------------------------------------------------------------------------------------------

    def current(self, resource_type: str, resource_id: str) -> dict[str, Any] | None:
        stmt = sa.select(_R.content).where(_R.resource_type == resource_type, _R.resource_id == resource_id,
                                           _R.current.is_(True))
        content: dict[str, Any] | None = self._s.execute(stmt).scalar_one_or_none()
        return content

    def version(self, resource_type: str, resource_id: str, version_id: int) -> dict[str, Any] | None:
        stmt = sa.select(_R.content).where(_R.resource_type == resource_type, _R.resource_id == resource_id,
                                           _R.version_id == version_id)
        content: dict[str, Any] | None = self._s.execute(stmt).scalar_one_or_none()
        return content

    def history(self, resource_type: str, resource_id: str) -> list[dict[str, Any]]:
        stmt = sa.select(_R.content).where(_R.resource_type == resource_type, _R.resource_id == resource_id
                                           ).order_by(_R.version_id.desc())
        return list(self._s.execute(stmt).scalars())

    def ids_by_identifier(self, resource_type: str, system: str | None, value: str) -> list[str]:
        stmt = sa.select(_I.resource_id).where(_I.resource_type == resource_type, _I.value == value)
        if system is not None:
            stmt = stmt.where(_I.system == system)
        return sorted(set(self._s.execute(stmt).scalars()))

    def current_by_identifier(self, resource_type: str, system: str | None, value: str) -> list[dict[str, Any]]:
        """Current versions of the resources carrying ``system|value`` (system None: any), in one query."""
        sub = sa.select(_I.resource_id).where(_I.resource_type == resource_type, _I.value == value)
        if system is not None:
            sub = sub.where(_I.system == system)
        stmt = sa.select(_R.content).where(_R.resource_type == resource_type, _R.current.is_(True),
                                           _R.resource_id.in_(sub)).order_by(_R.resource_id)
        return list(self._s.execute(stmt).scalars())

    def current_by_identifiers(self, conditions: Sequence[IdentifierCondition]) -> list[list[dict[str, Any]]]:
        """``current_by_identifier`` for several (type, system, value) at once, in one query (a Bundle's
        conditional entries): one list per condition, in order, each sorted by resource id."""
        if not conditions:
            return []
        stmt = _lookup_statement(tuple(system is not None for _, system, _ in conditions))
        params: dict[str, str] = {}
        for n, (resource_type, system, value) in enumerate(conditions):
            params[f"t{n}"], params[f"v{n}"] = resource_type, value
            if system is not None:
                params[f"s{n}"] = system
        found: list[dict[str, dict[str, Any]]] = [{} for _ in conditions]
        for row in self._s.execute(stmt, params):
            for n, (resource_type, system, value) in enumerate(conditions):
                if row.resource_type == resource_type and row.value == value and system in (None, row.system):
                    found[n][str(row.resource_id)] = row.content
        return [[by_id[k] for k in sorted(by_id)] for by_id in found]

    def search(self, resource_type: str, *, identifiers: Sequence[tuple[str | None, str]] = (),
               criteria: Sequence[Criterion] = (), last_updated: Sequence[tuple[str, dt.datetime]] = (),
               count: int = 50, offset: int = 0) -> tuple[int, list[dict[str, Any]]]:
        """Current versions matching every given parameter (AND); each ``identifiers`` item is one
        ``system|value`` (system None: any system). Newest first. Returns (total, page)."""
        stmt = sa.select(_R.content).where(_R.resource_type == resource_type, _R.current.is_(True))
        count_stmt = sa.select(sa.func.count()).select_from(t.fhir_resource).where(
            _R.resource_type == resource_type, _R.current.is_(True))
        conditions: list[sa.ColumnElement[bool]] = []
        for system, value in identifiers:
            sub = sa.select(_I.resource_id).where(_I.resource_type == resource_type, _I.value == value)
            if system is not None:
                sub = sub.where(_I.system == system)
            conditions.append(_R.resource_id.in_(sub))
        for name, op, value in criteria:
            sub_s = sa.select(_S.resource_id).where(_S.resource_type == resource_type, _S.name == name)
            if op == "sw":
                sub_s = sub_s.where(_S.value.startswith(value, autoescape=True))
            elif op in ("ge", "gt", "le", "lt"):
                column = _S.value
                sub_s = sub_s.where({"ge": column >= value, "gt": column > value, "le": column <= value,
                                     "lt": column < value}[op])
            else:
                sub_s = sub_s.where(_S.value == value)
            conditions.append(_R.resource_id.in_(sub_s))
        for op, at in last_updated:
            conditions.append({"ge": _R.last_updated >= at, "gt": _R.last_updated > at,
                               "le": _R.last_updated <= at, "lt": _R.last_updated < at}[op])
        if conditions:
            stmt = stmt.where(*conditions)
            count_stmt = count_stmt.where(*conditions)
        total = int(self._s.execute(count_stmt).scalar_one())
        page = stmt.order_by(_R.last_updated.desc(), _R.id.desc()).limit(count).offset(offset)
        return total, list(self._s.execute(page).scalars())

    # --- writes ---------------------------------------------------------------------------------------------------

    def save(self, resource: dict[str, Any], at: dt.datetime, *, identifiers: Sequence[tuple[str, str]] = (),
             search: Sequence[tuple[str, str]] = (), unique_identifiers: bool = False,
             expected_version: int | None = None) -> dict[str, Any]:
        """Store a new version of ``resource`` (its ``resourceType`` and ``id`` are set): version 1 when the id is
        new, else the current version + 1. ``expected_version`` (If-Match) must equal the current version.

        Raises ``VersionConflict`` when ``expected_version`` does not match; a concurrent writer of the same
        version or of a unique identifier makes the flush raise ``IntegrityError`` (the caller retries or
        answers 409)."""
        resource_type, resource_id = str(resource["resourceType"]), str(resource["id"])
        row = self._s.execute(
            sa.select(_R.id, _R.version_id).where(_R.resource_type == resource_type, _R.resource_id == resource_id,
                                                  _R.current.is_(True))).first()
        current_version = int(row.version_id) if row is not None else 0
        if expected_version is not None and expected_version != current_version:
            raise VersionConflict(current_version)
        version_id = current_version + 1
        meta = dict(resource.get("meta") or {})
        meta["versionId"] = str(version_id)
        meta["lastUpdated"] = _instant(at)
        stored = {"resourceType": resource_type, "id": resource_id, "meta": meta,
                  **{k: v for k, v in resource.items() if k not in ("resourceType", "id", "meta")}}
        if row is not None:
            self._s.execute(sa.update(t.fhir_resource).where(_R.id == row.id).values(current=False))
            self._s.execute(sa.delete(t.fhir_identifier).where(_I.resource_type == resource_type,
                                                              _I.resource_id == resource_id))
            self._s.execute(sa.delete(t.fhir_search).where(_S.resource_type == resource_type,
                                                          _S.resource_id == resource_id))
        self._s.execute(sa.insert(t.fhir_resource).values(
            resource_type=resource_type, resource_id=resource_id, version_id=version_id, last_updated=at,
            current=True, content=stored))
        seen: set[tuple[str, str]] = set()
        ident_rows = []
        for system, value in identifiers:
            if (system, value) in seen:
                continue
            seen.add((system, value))
            ident_rows.append({"resource_type": resource_type, "resource_id": resource_id, "system": system[:255],
                               "value": value[:255],
                               "unique_key": f"{resource_type}|{system}|{value}"[:600] if unique_identifiers else None})
        if ident_rows:
            self._s.execute(sa.insert(t.fhir_identifier), ident_rows)
        search_rows = [{"resource_type": resource_type, "resource_id": resource_id, "name": name[:32],
                        "value": value[:255]} for name, value in dict.fromkeys(search)]
        if search_rows:
            self._s.execute(sa.insert(t.fhir_search), search_rows)
        return stored


    def add_new(self, items: Sequence[NewResource], at: dt.datetime) -> list[dict[str, Any]]:
        """``add_new_encoded`` without the JSON texts."""
        return [stored for stored, _ in self.add_new_encoded(items, at)]

    def add_new_encoded(self, items: Sequence[NewResource], at: dt.datetime) -> list[tuple[dict[str, Any], str]]:
        """Store version 1 of resources whose ids were just assigned (a Bundle's POST entries) with their
        identifier and search rows, all at once: on PostgreSQL one statement (three ``INSERT … SELECT unnest``
        in data-modifying CTEs, one round trip whatever the Bundle's size), elsewhere three executemany INSERTs.
        An id that already exists violates the unique (type, id, version) constraint, a taken unique identifier
        ``unique_key``: ``IntegrityError``, like ``save``.

        Returns each stored resource (``meta`` set) with its JSON text (``encode``), which the caller may reuse
        instead of serialising the resource again (the inbox row of a Bundle)."""
        if not items:
            return []
        last_updated = _instant(at)
        stored_all: list[dict[str, Any]] = []
        resource_rows: list[tuple[str, str, dict[str, Any]]] = []
        ident_rows: list[tuple[str, str, str, str, str | None]] = []
        search_rows: list[tuple[str, str, str, str]] = []
        for resource, identifiers, search, unique in items:
            resource_type, resource_id = str(resource["resourceType"]), str(resource["id"])
            meta = {**(resource.get("meta") or {}), "versionId": "1", "lastUpdated": last_updated}
            stored = {"resourceType": resource_type, "id": resource_id, "meta": meta,
                      **{k: v for k, v in resource.items() if k not in ("resourceType", "id", "meta")}}
            stored_all.append(stored)
            resource_rows.append((resource_type, resource_id, stored))
            for system, value in dict.fromkeys(identifiers):
                ident_rows.append((resource_type, resource_id, system[:255], value[:255],
                                   f"{resource_type}|{system}|{value}"[:600] if unique else None))
            search_rows.extend((resource_type, resource_id, name[:32], value[:255])
                               for name, value in dict.fromkeys(search))
        texts = [encode(stored) for stored in stored_all]
        if self._s.get_bind().dialect.name == "postgresql":
            self._s.connection().exec_driver_sql(_ADD_NEW_POSTGRES, {
                # one JSON array of the stored resources (their type and id inside), parsed into jsonb
                "at": at, "contents": "[" + ",".join(texts) + "]",
                **{f"i_{k}": [row[n] for row in ident_rows] for n, k in enumerate(_IDENT_COLUMNS)},
                **{f"s_{k}": [row[n] for row in search_rows] for n, k in enumerate(_SEARCH_COLUMNS)}})
            return list(zip(stored_all, texts, strict=True))
        self._s.execute(sa.insert(t.fhir_resource), [
            {"resource_type": rt, "resource_id": rid, "version_id": 1, "last_updated": at, "current": True,
             "content": content} for rt, rid, content in resource_rows])
        if ident_rows:
            self._s.execute(sa.insert(t.fhir_identifier), [dict(zip(_IDENT_COLUMNS, r, strict=True))
                                                           for r in ident_rows])
        if search_rows:
            self._s.execute(sa.insert(t.fhir_search), [dict(zip(_SEARCH_COLUMNS, r, strict=True))
                                                       for r in search_rows])
        return list(zip(stored_all, texts, strict=True))

    # --- REST-hook subscriptions ----------------------------------------------------------------------------------

    def add_subscription(self, resource_id: str, user_id: int, criteria: str, endpoint: str,
                         headers: Sequence[str], payload: bool, at: dt.datetime) -> None:
        self._s.execute(sa.insert(t.fhir_subscription).values(
            resource_id=resource_id, user_id=user_id, criteria=criteria, endpoint=endpoint, headers=list(headers),
            payload=payload, status="active", cursor=at, attempts=0, next_attempt_at=at, created_at=at))

    def subscriptions_due(self, now: dt.datetime, limit: int = 50) -> list[dict[str, Any]]:
        """Active subscriptions whose delivery is due (a change was signalled, or a retry's time has come)."""
        c = t.fhir_subscription.c
        stmt = sa.select(t.fhir_subscription).where(c.status == "active", c.next_attempt_at.is_not(None),
                                                    c.next_attempt_at <= now).order_by(c.next_attempt_at).limit(limit)
        return [dict(row._mapping) for row in self._s.execute(stmt)]

    def subscription(self, resource_id: str) -> dict[str, Any] | None:
        row = self._s.execute(sa.select(t.fhir_subscription).where(
            t.fhir_subscription.c.resource_id == resource_id)).first()
        return dict(row._mapping) if row is not None else None

    def update_subscription(self, subscription_id: int, **values: Any) -> None:
        self._s.execute(sa.update(t.fhir_subscription).where(t.fhir_subscription.c.id == subscription_id
                                                             ).values(**values))

    def signal_subscriptions(self, now: dt.datetime) -> int:
        """Something may have changed: every active subscription without a pending retry becomes due now."""
        c = t.fhir_subscription.c
        result = self._s.execute(sa.update(t.fhir_subscription).where(
            c.status == "active", sa.or_(c.next_attempt_at.is_(None), c.attempts == 0)).values(next_attempt_at=now))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


# (resource with resourceType and id, identifiers (system, value), search values (name, value), unique identifiers)
NewResource = tuple[dict[str, Any], Sequence[tuple[str, str]], Sequence[tuple[str, str]], bool]
# (resource type, system or None for any system, value): an ``identifier=system|value`` condition
IdentifierCondition = tuple[str, str | None, str]

_IDENT_COLUMNS = ("resource_type", "resource_id", "system", "value", "unique_key")
_SEARCH_COLUMNS = ("resource_type", "resource_id", "name", "value")
# A Bundle's new resources, their identifiers and search values in one statement: data-modifying CTEs all run,
# in the statement's one snapshot. The resources go as one JSON array, the index rows as binary text arrays (no
# array-literal escaping): the statement's text never changes, so psycopg prepares it after a few uses.
_ADD_NEW_POSTGRES = """
WITH new_resource AS (
    INSERT INTO fhir_resource (resource_type, resource_id, version_id, last_updated, current, content)
    SELECT c->>'resourceType', c->>'id', 1, %(at)s, true, c FROM jsonb_array_elements(%(contents)s::jsonb) AS c
), new_identifier AS (
    INSERT INTO fhir_identifier (resource_type, resource_id, system, value, unique_key)
    SELECT * FROM unnest(%(i_resource_type)b::text[], %(i_resource_id)b::text[], %(i_system)b::text[],
                         %(i_value)b::text[], %(i_unique_key)b::text[])
)
INSERT INTO fhir_search (resource_type, resource_id, name, value)
SELECT * FROM unnest(%(s_resource_type)b::text[], %(s_resource_id)b::text[], %(s_name)b::text[],
                     %(s_value)b::text[])
"""


@functools.lru_cache(maxsize=64)
def _lookup_statement(has_system: tuple[bool, ...]) -> sa.Select[Any]:
    """Current resources carrying any of n identifiers (``t<n>``, ``v<n>`` and, when given, ``s<n>``): built once
    per shape, so SQLAlchemy's compiled cache keeps it."""
    conditions = []
    for n, system in enumerate(has_system):
        condition = sa.and_(_I.resource_type == sa.bindparam(f"t{n}"), _I.value == sa.bindparam(f"v{n}"))
        if system:
            condition = sa.and_(condition, _I.system == sa.bindparam(f"s{n}"))
        conditions.append(condition)
    return (sa.select(_I.resource_type, _I.system, _I.value, _R.resource_id, _R.content)
            .join_from(t.fhir_identifier, t.fhir_resource,
                       sa.and_(_R.resource_type == _I.resource_type, _R.resource_id == _I.resource_id,
                               _R.current.is_(True)))
            .where(sa.or_(*conditions)))


class VersionConflict(Exception):
    """If-Match named another version than the current one (HTTP 412)."""

    def __init__(self, current_version: int) -> None:
        super().__init__(f"current version is {current_version}")
        self.current_version = current_version
