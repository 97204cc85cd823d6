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


def _inputs(spec: dict):
    """(where, schema) for every request body and parameter schema, references followed, nested ones included."""
    components = spec["components"]["schemas"]

    def walk(schema: dict, where: str, seen: frozenset[str]):
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                yield from walk(components[name], f"{where}>{name}", seen | {name})
            return
        yield where, schema
        for key in ("anyOf", "oneOf", "allOf"):
            for i, inner in enumerate(schema.get(key, [])):
                yield from walk(inner, f"{where}|{i}", seen)
        for name, inner in schema.get("properties", {}).items():
            yield from walk(inner, f"{where}.{name}", seen)
        if isinstance(schema.get("items"), dict):
            yield from walk(schema["items"], f"{where}[]", seen)
        for i, inner in enumerate(schema.get("prefixItems", [])):
            yield from walk(inner, f"{where}[{i}]", seen)

    for path, ops in spec["paths"].items():
        for method, operation in ops.items():
            for param in operation.get("parameters", []):
                yield from walk(param["schema"], f"{method} {path} {param['in']}:{param['name']}", frozenset())
            for media in operation.get("requestBody", {}).get("content", {}).values():
                yield from walk(media["schema"], f"{method} {path} body", frozenset())


def test_every_integer_input_has_documented_bounds(spec):
    """Every integer a caller sends has a minimum and a maximum in the document (and the API enforces them: the
    hostile-input tests send one over each bound)."""
    unbounded = [
        where
        for where, schema in _inputs(spec)
        if schema.get("type") == "integer"
        and not {"minimum", "exclusiveMinimum"} & schema.keys()
        or schema.get("type") == "integer"
        and not {"maximum", "exclusiveMaximum"} & schema.keys()
    ]
    assert unbounded == []


def test_every_string_input_is_bounded(spec):
    """A string a caller sends has a length limit, a pattern, a format or a fixed set of values."""
    limits = {"maxLength", "pattern", "enum", "const", "format"}
    unbounded = [
        where for where, schema in _inputs(spec) if schema.get("type") == "string" and not limits & schema.keys()
    ]
    assert unbounded == []


def test_every_array_input_is_bounded(spec):
    unbounded = [where for where, schema in _inputs(spec) if schema.get("type") == "array" and "maxItems" not in schema]
    assert unbounded == []
