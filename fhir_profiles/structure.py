"""First tier: JSON shape and FHIR structure with fhir.resources (its R4B models: for the resources Aiguillage
takes, R4B is R4 — same elements, same cardinalities, same datatypes)."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from fhir_profiles.model import Issue

MESSAGES = {
    "missing": "Élément obligatoire absent.",
    "extra_forbidden": "Élément inconnu dans cette ressource.",
    "string_type": "Une chaîne de caractères est attendue.",
    "list_type": "Une liste est attendue.",
    "dict_type": "Un objet est attendu.",
    "model_type": "Un objet est attendu.",
    "int_parsing": "Un entier est attendu.",
    "bool_type": "Un booléen est attendu.",
    "bool_parsing": "Un booléen est attendu.",
}


def _location(resource_type: str, loc: tuple[int | str, ...]) -> str:
    path = resource_type
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif "." not in str(part) and not str(part).startswith("function-"):
            path += f".{part}"
    return path


def model_for(resource_type: str) -> type[Any] | None:
    try:
        return get_fhir_model_class(resource_type)
    except ValueError:
        return None


def validate_structure(resource: Any) -> list[Issue]:
    """Structure issues of a resource (a Bundle's entries included), each with its FHIRPath location."""
    if not isinstance(resource, dict):
        return [Issue("fatal", "structure", "", "Une ressource FHIR (objet JSON) est attendue.")]
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str) or not resource_type:
        return [Issue("fatal", "structure", "resourceType", "L'élément resourceType est absent.")]
    model = model_for(resource_type)
    if model is None:
        return [Issue("fatal", "not-supported", "resourceType", f"Type de ressource inconnu : « {resource_type} ».")]
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        issues = []
        for error in exc.errors():
            message = MESSAGES.get(error["type"]) or f"Valeur invalide : {error['msg']}"
            issues.append(Issue("error", "structure", _location(resource_type, tuple(error["loc"])), message))
        return issues
    except (TypeError, ValueError) as exc:  # fhir.resources raises these for some malformed primitives
        return [Issue("error", "structure", resource_type, f"Structure invalide : {exc}")]
    return []
