"""FHIR errors and responses: every error is an OperationOutcome with its HTTP status and FHIRPath locations;
content type application/fhir+json (or application/json when ``_format`` asks for it)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from fhir_profiles import Issue

FHIR_JSON = "application/fhir+json"
JSON_FORMATS = {"json", "application/json", "application/fhir+json", "application/json+fhir", "text/json"}
XML_FORMATS = {"xml", "application/xml", "application/fhir+xml", "text/xml", "application/xml+fhir"}
REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 406: "Not Acceptable", 409: "Conflict", 410: "Gone",
           412: "Precondition Failed", 415: "Unsupported Media Type", 422: "Unprocessable Entity",
           500: "Internal Server Error", 503: "Service Unavailable"}


class FhirError(Exception):
    """An error answered as an OperationOutcome with ``status``."""

    def __init__(self, status: int, issues: Sequence[Issue] | str, code: str = "invalid",
                 expression: str = "") -> None:
        if isinstance(issues, str):
            issues = [Issue("error", code, expression, issues)]
        super().__init__(issues[0].diagnostics if issues else str(status))
        self.status = status
        self.issues = list(issues)


def outcome(issues: Iterable[Issue]) -> dict[str, Any]:
    body: list[dict[str, Any]] = []
    for issue in issues:
        item: dict[str, Any] = {"severity": issue.severity, "code": issue.code, "diagnostics": issue.diagnostics}
        if issue.expression:
            item["expression"] = [issue.expression]
        if issue.key:
            item["details"] = {"coding": [{"system": "urn:aiguillage:fhir:CodeSystem/constraint",
                                           "code": issue.key}]}
        body.append(item)
    if not body:
        body = [{"severity": "information", "code": "informational", "diagnostics": "Aucune anomalie."}]
    return {"resourceType": "OperationOutcome", "issue": body}


def media_type(request: Request) -> str:
    """The answer's content type: ``_format`` first, then Accept; XML is refused (406)."""
    wanted = request.query_params.get("_format")
    if wanted is not None:
        wanted = wanted.split(";")[0].strip().lower()
        if wanted in XML_FORMATS:
            raise FhirError(406, "Le format XML n'est pas pris en charge : utilisez _format=json.", "not-supported",
                            "_format")
        if wanted not in JSON_FORMATS:
            raise FhirError(400, f"Valeur de _format inconnue : « {wanted} ».", "value", "_format")
        return "application/json" if wanted == "application/json" else FHIR_JSON
    accept = request.headers.get("accept", "")
    types = [part.split(";")[0].strip().lower() for part in accept.split(",") if part.strip()]
    if types and all(t in XML_FORMATS for t in types):
        raise FhirError(406, "Le format XML n'est pas pris en charge : demandez application/fhir+json.",
                        "not-supported")
    return FHIR_JSON


def fhir_response(body: dict[str, Any], status: int = 200, *, media: str = FHIR_JSON,
                  headers: dict[str, str] | None = None) -> Response:
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(content, status_code=status, media_type=f"{media}; charset=utf-8", headers=headers)


def error_response(error: FhirError, media: str = FHIR_JSON) -> Response:
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    return fhir_response(outcome(error.issues), error.status, media=media, headers=headers)


def status_line(status: int) -> str:
    return f"{status} {REASONS.get(status, '')}".strip()
