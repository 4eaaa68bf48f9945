"""Schemathesis, bounded, against the OpenAPI of the FHIR routes, over real HTTP on loopback: whatever it
generates (bodies, ids, query strings, headers), the server answers without a server error, and every error it
answers is an OperationOutcome."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings

from gateway.app import create_app

MAX_EXAMPLES = 20  # per operation: ~15 operations, a few seconds per store


def test_fhir_routes_never_answer_a_server_error(api: Any, live_url: str, gw: dict[str, Any]) -> None:
    spec = create_app(container=api.container).openapi()
    schema = schemathesis.openapi.from_dict(spec).include(path_regex=r"^/fhir/r4")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10, [o.label for o in operations]
    headers = {"X-Aiguillage-Client-FHIR": "schemathesis", "X-Aiguillage-Utilisateur": gw["MARTIN"]}
    seen: set[int] = set()
    for operation in operations:

        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def call(case: Any) -> None:
            response = case.call(base_url=live_url, headers=headers, timeout=30)
            assert response.status_code < 500, (case.as_curl_command(), response.status_code, response.text[:500])
            seen.add(response.status_code)
            if response.status_code >= 400:
                content_type = response.headers["content-type"]  # schemathesis keeps every value of a header
                content_type = content_type[0] if isinstance(content_type, list) else content_type
                assert content_type.startswith("application/fhir+json"), case.as_curl_command()
                assert response.json()["resourceType"] == "OperationOutcome"

        call()
    assert seen & {200, 201} and seen & {400, 404, 422}, seen
