"""The OpenAPI document describes the API that is served: routes, auth, error shapes. functions/docs/openapi.json
is it (docs/openapi.json links to it), and the docs function serves it at GET /openapi.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from werkzeug.test import Client

from infra.definitions import ROUTES
from local.openapi import openapi_schema

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "functions" / "docs" / "openapi.json"
LINK = ROOT / "docs" / "openapi.json"


@pytest.fixture(scope="module")
def spec(aws_env) -> dict:
    return openapi_schema()


def test_committed_document_is_current(spec):
    assert json.loads(DOC.read_text()) == spec, "run `make openapi` and commit functions/docs/openapi.json"


def test_docs_openapi_json_is_a_link_to_the_one_copy():
    """One copy in git: the docs function's asset holds the file, docs/ links to it (a relative symlink)."""
    assert LINK.is_symlink() and not DOC.is_symlink()
    assert LINK.readlink() == Path("../functions/docs/openapi.json")
    assert LINK.resolve() == DOC.resolve()


@pytest.mark.parametrize("pages", ["routes only", "with the local pages"])
def test_the_local_front_serves_the_committed_document_without_a_token(aws_env, pages, monkeypatch):
    """GET /openapi.json is a route like any other (ROUTES → the docs function), not a page of the local front's
    own (`make run` adds /docs): it answers the committed file byte for byte, with no Authorization header, as the
    deployed API does, and the authorizer does not run."""
    import local.front as front
    from local import docs
    from local.calls import CallLog

    log = CallLog.install()
    invoked: list[str] = []
    real = front.invoke
    monkeypatch.setattr(front, "invoke", lambda fn, event: (invoked.append(fn), real(fn, event))[1])
    app = front.LocalApiGateway(extra=docs.routes() if pages == "with the local pages" else None)
    resp = Client(app).get("/openapi.json")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.headers["Cache-Control"] == "public, max-age=300"
    assert resp.get_data() == DOC.read_bytes()
    assert invoked == ["docs"]
    assert not [call for call in log.calls if call[0] == "docs"]  # no AWS call: its policy grants none


def test_the_document_describes_its_own_route_as_public_json(spec):
    operation = spec["paths"]["/openapi.json"]["get"]
    assert operation["security"] == []
    assert list(operation["responses"]["200"]["content"]) == ["application/json"]
    assert set(operation["responses"]["200"]["content"]["application/json"]["schema"]["required"]) <= set(spec)


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
            if operation.get("tags") in (["Pay page"], ["Unsubscribe page"], ["Dashboard"]):
                # A patient's or a staff member's browser gets a page saying what went wrong (ADR 0015, 0016, 0018),
                # not problem+json
                assert all(
                    list(r["content"])[0].startswith("text/")
                    for status, r in operation["responses"].items()
                    if "content" in r and int(status) >= 400
                ), (method, path)
                continue
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


# -- request examples and the payment routes' undecided and unavailable answers ---------------------------------

PAYMENT_ROUTES = {  # (method, path): the model of its 201 and 202
    ("post", "/invoices/{invoice_id}/payments"): "Payment",
    ("post", "/invoices/{invoice_id}/payment-plan/installments/{seq}/pay"): "Payment",
    ("post", "/payments/{payment_id}/refunds"): "Refund",
}


def _bodies(spec: dict):
    """(where, component name, media type object) of every request body."""
    for path, ops in spec["paths"].items():
        for method, operation in ops.items():
            for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
                ref = media["schema"].get("$ref", "")
                yield f"{method} {path} {media_type}", ref.rsplit("/", 1)[-1] or None, media


def _examples(spec: dict, name: str | None, media: dict) -> list:
    """A request body's examples: the media type's `example`/`examples`, and its schema's JSON Schema `examples`."""
    found = [media["example"]] if "example" in media else []
    found += [e["value"] for e in media.get("examples", {}).values() if "value" in e]
    schema = spec["components"]["schemas"][name] if name else media["schema"]
    return found + list(schema.get("examples", []))


def _request_models() -> dict:
    from practicepay.api.models import StrictRequest

    models, todo = {}, [StrictRequest]
    while todo:
        cls = todo.pop()
        models[cls.__name__] = cls
        todo.extend(cls.__subclasses__())
    return models


def test_every_request_body_has_an_example(spec):
    bodies = list(_bodies(spec))
    assert len(bodies) >= 14  # every POST/PATCH that takes a body
    assert [where for where, name, media in bodies if not _examples(spec, name, media)] == []


def test_every_request_example_is_valid_for_its_model_and_its_documented_schema(spec):
    """The example is what the API takes (the pydantic model, parsing the JSON as the API does) and what the
    document says it takes (JSON Schema 2020-12, as OpenAPI 3.1 is, formats checked)."""
    import jsonschema

    models = _request_models()
    invalid, checked = [], 0
    for where, name, media in _bodies(spec):
        assert name in models, f"{where}: no request model named {name}"
        schema = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
        validator = jsonschema.Draft202012Validator(
            schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        )
        for i, example in enumerate(_examples(spec, name, media)):
            checked += 1
            try:
                models[name].model_validate_json(json.dumps(example))
            except ValueError as exc:
                invalid.append(f"{where} example {i} (model): {exc}")
            invalid += [f"{where} example {i} (schema): {e.message}" for e in validator.iter_errors(example)]
    assert checked >= 14 and invalid == []


def test_the_payment_routes_document_their_undecided_202_and_their_503(spec):
    """202: the payment (or refund) whose outcome Splash has not given yet (unknown, pending); 503: Splash did not
    answer and nothing was charged (problem+json)."""
    for (method, path), model in PAYMENT_ROUTES.items():
        answers = spec["paths"][path][method]["responses"]
        for status in ("201", "202"):
            assert answers[status]["content"]["application/json"]["schema"] == {
                "$ref": f"#/components/schemas/{model}"
            }, (path, status)
        assert "status unknown" in answers["202"]["description"], path
        assert list(answers["503"]["content"]) == ["application/problem+json"], path
        assert "Splash did not answer" in answers["503"]["description"], path
