"""The OpenAPI document describes the API that is served: routes, auth, error shapes. docs/openapi.json is it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.definitions import ROUTES
from local.openapi import openapi_schema

pytestmark = pytest.mark.integration
DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


@pytest.fixture(scope="module")
def spec(aws_env) -> dict:
    return openapi_schema()


def test_committed_document_is_current(spec):
    assert json.loads(DOC.read_text()) == spec, "run `make openapi` and commit docs/openapi.json"


def test_every_route_is_documented_and_nothing_else(spec):
    documented = {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}
    assert documented == {(r.method, r.path) for r in ROUTES}


def test_protected_routes_require_the_bearer_token_and_health_does_not(spec):
    assert spec["security"] == [{"bearer": []}]
    for route in ROUTES:
        operation = spec["paths"][route.path][route.method.lower()]
        assert (operation.get("security") == []) == (not route.authorized)


def test_errors_are_documented_as_problem_json(spec):
    for path, ops in spec["paths"].items():
        for method, operation in ops.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert list(response["content"]) == ["application/problem+json"], (method, path, status)
    assert "HTTPValidationError" not in json.dumps(spec)
