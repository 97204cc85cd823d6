"""Property-based API testing (schemathesis) over every route of the OpenAPI document: generated requests,
valid and invalid, never get a 5xx, and every response matches the documented schema and status codes."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.integration.conftest import Api

# What must hold for every response. Semantic refusals of schema-valid input (an unknown id, a foreign cursor)
# are correct 4xx answers, so "positive data acceptance" is not among them.
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
]

pytestmark = pytest.mark.integration


def test_no_route_answers_5xx_or_breaks_its_schema(aws_env, boarded):
    from local import docs
    from local.front import LocalApiGateway

    boarded("prc_fuzz")
    app = LocalApiGateway(extra=docs.routes())
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    token = Api().token("prc_fuzz")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 17

    def checker(operation):
        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def check(case) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
            case.call_and_validate(checks=CHECKS)

        return check

    for operation in operations:
        checker(operation)()
