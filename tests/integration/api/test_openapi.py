"""The API's OpenAPI document is generated from its marshmallow schemas and served; a property-based run
(schemathesis, generating requests from that served document) shows that no input makes any endpoint answer 5xx
and that every answer matches the schema documented for its status."""

from __future__ import annotations

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.integration.api.conftest import Histories
from tests.integration.sync.conftest import Stack

EXAMPLES = 25
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_the_spec_documents_every_endpoint_with_schemas(stack: Stack) -> None:
    spec = requests.get(f"{stack.gateway_url}/api/v1/openapi.json", timeout=10).json()
    assert spec["openapi"].startswith("3.")
    assert set(spec["paths"]) >= {
        "/api/v1/contacts/{platform_id}/messages",
        "/api/v1/contacts/messages",
        "/api/v1/contacts/{platform_id}/campaigns",
        "/api/v1/status",
        "/api/v1/sync-results/{result_id}/resend",
        "/api/v1/setup-check",
    }
    schemas = spec["components"]["schemas"]
    assert {"Messages", "Campaigns", "Status", "SetupCheck", "Error"} <= set(schemas)
    assert schemas["Message"]["properties"]["reason"]["enum"][:4] == ["campaign", "live-agent", "automation", "other"]
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_no_input_gets_a_server_error_and_every_answer_matches_its_schema(histories: Histories) -> None:
    """Positive (valid) and negative (invalid) requests for every operation of the served spec, with an admin
    token and without one."""
    base = histories.stack.gateway_url
    admin = histories.stack.admin_token()
    served = schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json")
    operations = [result.ok() for result in served.get_all_operations()]
    assert len(operations) == 7
    tried: dict[str, set[int]] = {}
    for operation in operations:
        for mode in GenerationMode:
            label = operation.label

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def exchange(case: schemathesis.Case) -> None:
                for headers in ({"Authorization": f"Bearer {admin}"}, {}):
                    response = case.call(base_url=base, headers=headers)
                    tried.setdefault(label, set()).add(response.status_code)  # noqa: B023 - run at once
                    case.validate_response(response, checks=CHECKS, headers=headers)

            exchange()
    assert all(401 in codes for codes in tried.values())
    assert any(200 in codes for codes in tried.values())
