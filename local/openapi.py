"""The API's OpenAPI document, merged from every function's Powertools resolver (Powertools OpenAPIMerge),
plus the gateway-only /health route and the bearer-token security scheme.

`make openapi` writes it to functions/docs/openapi.json (docs/openapi.json is a link to it): the docs function
serves that file, from its asset, at GET /openapi.json (a public route, documented by the docs function's resolver
like any other, with `security: []`). Generating it imports every function's handler, so it is done at build time,
never by a function."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

from infra.definitions import ROUTES
from local.front import load_handler
from practicepay.api.contract import HEALTH_BODY

TITLE = "PracticePay API"
VERSION = "0.1.0"
DESCRIPTION = (
    "Payments for private medical practices. Authenticate with `Authorization: Bearer <jwt>` minted by the "
    "clinical platform for one practice; every record read or written belongs to that practice. Amounts are "
    "integer cents (USD). Errors are RFC 9457 `application/problem+json`."
)


def openapi_schema() -> dict[str, Any]:
    merge = OpenAPIMerge(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        security_schemes={"bearer": HTTPBearer(bearerFormat="JWT")},
        security=[{"bearer": []}],
        on_conflict="error",
    )
    for function in sorted({r.function for r in ROUTES if r.function}):
        app = load_handler(function).app
        merge.add_schema(json.loads(app.get_openapi_json_schema(title=TITLE, version=VERSION)))
    schema = json.loads(merge.get_openapi_json_schema())
    _drop_powertools_default_errors(schema)
    for route in ROUTES:
        # Public routes with a function: Splash's webhook (its own header) and GET /openapi.json (this document).
        if route.function is not None and not route.authorized:
            schema["paths"][route.path][route.method.lower()]["security"] = []
        if route.function is None:
            schema["paths"].setdefault(route.path, {})[route.method.lower()] = {
                "summary": "Liveness check (no authentication)",
                "operationId": "health",
                "security": [],
                "responses": {
                    "200": {
                        "description": "The API is up.",
                        "content": {"application/json": {"example": HEALTH_BODY}},
                    }
                },
            }
    return schema


_POWERTOOLS_ERROR_SCHEMAS = ("HTTPValidationError", "ValidationError", "ResponseValidationError")


def _drop_powertools_default_errors(schema: dict[str, Any]) -> None:
    """Powertools documents a 422 `HTTPValidationError` on every validated route; this API answers validation
    errors as problem+json instead (422 for body fields, 400 for headers and query), declared per route."""
    for operations in schema["paths"].values():
        for operation in operations.values():
            response = operation.get("responses", {}).get("422", {})
            if "HTTPValidationError" in json.dumps(response):
                del operation["responses"]["422"]
    for name in _POWERTOOLS_ERROR_SCHEMAS:
        schema.get("components", {}).get("schemas", {}).pop(name, None)
