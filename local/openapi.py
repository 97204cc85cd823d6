"""The API's OpenAPI document, merged from every function's Powertools resolver (Powertools OpenAPIMerge),
plus the gateway-only /health route and the bearer-token security scheme.

`make openapi` writes it to functions/docs/openapi.json (docs/openapi.json is a link to it): the docs function
serves that file, from its asset, at GET /openapi.json (a public route, documented by the docs function's resolver
like any other, with `security: []`). Generating it imports every function's handler, so it is done at build time,
never by a function.

The pay page (the paypage function, /pay/…) is not part of the merge: it answers HTML to patients' browsers, not
JSON to the platform, and its resolver's routes are not an API. Its routes are listed here (public, HTML, no
schema) so the document still names every route API Gateway serves."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

from infra.definitions import DASHBOARD, PAYPAGE, ROUTES, Route
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
    for function in sorted({r.function for r in ROUTES if r.function} - NOT_MERGED):
        app = load_handler(function).app
        merge.add_schema(json.loads(app.get_openapi_json_schema(title=TITLE, version=VERSION)))
    schema = json.loads(merge.get_openapi_json_schema())
    _drop_powertools_default_errors(schema)
    for route in ROUTES:
        if route.function in NOT_MERGED:
            page = _dashboard_page(route) if route.function == DASHBOARD.name else _html_page(route)
            schema["paths"].setdefault(route.path, {})[route.method.lower()] = page
            continue
        if route.path == UNSUBSCRIBE_PATH:
            schema["paths"].setdefault(route.path, {})[route.method.lower()] = _unsubscribe_page(route)
            continue
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


NOT_MERGED = frozenset({PAYPAGE.name, DASHBOARD.name})
"""Functions whose routes serve browsers (HTML), described by _html_page instead of their resolver."""
_PAGE_PARAMETERS = {
    # The link's secret (practicepay.paylinks.models.SECRET_PATTERN); the others, as the page names them.
    "secret": {"type": "string", "pattern": "^[A-Za-z0-9_-]{32}$"},
    "asset": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]*$", "maxLength": 100},
    "receipt_id": {"type": "string", "pattern": "^[A-Za-z0-9_-]+$", "maxLength": 64},
}


_PAGE_STATUSES = {
    "GET": (
        (404, "No such link (or receipt)."),
        (410, "The link expired, was used up or revoked."),
        (423, "The link is locked after wrong identity answers (15 minutes)."),
    ),
    "POST": (
        (201, "The payment plan is set up."),
        (402, "The card or account was declined: what the patient can do, and a retry."),
        (403, "The form's session or CSRF token is missing or stale, or the post came from another site."),
        (404, "No such link."),
        (410, "The link expired, was used up or revoked."),
        (415, "Not an `application/x-www-form-urlencoded` form."),
        (422, "A wrong identity answer, or the form needs a change (the page says what)."),
        (423, "The link is locked after wrong identity answers (15 minutes)."),
        (429, "Too many wrong identity answers from this address."),
    ),
}
"""What a pay-page screen may answer (each an HTML page saying why), besides 200 and 303."""


def _html_page(route: Route) -> dict[str, Any]:
    """A pay-page route: public (the page checks the link's secret, the patient's identity answer and its own
    session cookie), answering HTML (CSS or JavaScript for an asset); its forms are not part of this API."""
    names = [part[1:-1] for part in route.path.split("/") if part.startswith("{")]
    text = {"schema": {"type": "string"}}
    if "{asset}" in route.path:
        summary, content = "Pay page: a static asset", {"text/css": text, "text/javascript": text}
    else:
        summary, content = "Pay page: HTML for the patient", {"text/html": text}
    responses: dict[str, Any] = {"200": {"description": "The page.", "content": content}}
    page = {"text/html": text}
    if "{asset}" in route.path:
        responses["404"] = {"description": "No such asset.", "content": {"text/plain": text}}
    else:
        responses.update(
            {
                str(status): {"description": why, "content": page}
                for status, why in _PAGE_STATUSES[route.method]
                if not (status == 201 and not route.path.endswith("/plan"))
            }
        )
        responses["303"] = {"description": "See Other (`Location`): the next page, or the identity check again."}
    words = [part for part in route.path.split("/") if part and not part.startswith("{")]
    return {
        "summary": summary,
        "description": "For patients' browsers, not API clients: the page a pay link opens. No bearer token: the "
        "page checks the link's secret, an identity answer and its own session cookie. Forms are "
        "`application/x-www-form-urlencoded`; answers are HTML.",
        "operationId": "_".join(["paypage", *words, route.method.lower()]).replace("-", "_"),
        "tags": ["Pay page"],
        "security": [],
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": _PAGE_PARAMETERS[name]} for name in names
        ],
        "responses": responses,
    }


DASHBOARD_TAG = "Dashboard"
_DASHBOARD_PARAMETER = {"type": "string", "minLength": 1, "maxLength": 64}
_DASHBOARD_STATUSES = {
    "GET": (
        (303, "See Other (`Location`): sign in first (no session, or it ended), or on to the identity provider."),
        (400, "A query the page cannot read (a date that is not YYYY-MM-DD)."),
        (403, "The staff member's role may not see this, or the sign-in was refused."),
        (404, "No such record for this practice, or no such page."),
    ),
    "POST": (
        (201, "The pay link is ready (the page shows it)."),
        (303, "See Other (`Location`): done (the page says what), or sign in first."),
        (402, "The card or account was declined."),
        (403, "The form's CSRF token is missing or stale, the post came from another site, or the role may not."),
        (404, "No such record for this practice, or no such page."),
        (409, "The record's state forbids it (e.g. already refunded), or the same form is still in progress."),
        (415, "Not an `application/x-www-form-urlencoded` form."),
        (422, "The form needs a change (the page says which fields)."),
        (503, "The payment processor did not answer; nothing was charged."),
    ),
}


def _dashboard_page(route: Route) -> dict[str, Any]:
    """A staff dashboard route (ADR 0018): public at the gateway; the page signs staff in (OIDC) and checks its own
    session cookie, the form's CSRF token and the role's permission. HTML (CSV for an export, CSS or JavaScript for
    an asset)."""
    names = [part[1:-1] for part in route.path.split("/") if part.startswith("{")]
    text = {"schema": {"type": "string"}}
    if "{asset}" in route.path:
        content = {"text/css": text, "text/javascript": text}
        responses: dict[str, Any] = {
            "200": {"description": "The asset.", "content": content},
            "404": {"description": "No such asset.", "content": {"text/plain": text}},
        }
    else:
        ok = {"text/html": text}
        if route.path.endswith("/csv"):
            ok = {"text/csv": text}
        elif route.path.endswith("/evidence"):
            ok = {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}
        responses = {"200": {"description": "The page.", "content": ok}}
        for status, why in _DASHBOARD_STATUSES[route.method]:
            responses[str(status)] = {"description": why, **({} if status == 303 else {"content": {"text/html": text}})}
    words = [part for part in route.path.split("/") if part and not part.startswith("{")]
    return {
        "summary": f"Dashboard: {' '.join(words[1:]) or 'today'}",
        "description": "For staff's browsers, not API clients: the practice's dashboard. No bearer token: the page "
        "signs staff in and checks its session cookie, CSRF token and role. Forms are "
        "`application/x-www-form-urlencoded`; answers are HTML.",
        "operationId": "_".join(["dashboard", *words[1:], route.method.lower()]).replace("-", "_"),
        "tags": [DASHBOARD_TAG],
        "security": [],
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": _PAGE_PARAMETERS.get(name, _DASHBOARD_PARAMETER)}
            for name in names
        ],
        "responses": responses,
    }


UNSUBSCRIBE_PATH = "/unsubscribe/{token}"


def _unsubscribe_page(route: Route) -> dict[str, Any]:
    """The reminder email's unsubscribe link (the messaging function answers it as HTML, before its resolver)."""
    text = {"text/html": {"schema": {"type": "string"}}}
    post = route.method == "POST"
    return {
        "summary": "Unsubscribe from reminder emails" if post else "Unsubscribe page: asks before it unsubscribes",
        "description": "For patients' browsers and mail clients, not API clients: the link in a reminder email. The "
        "token is the only key. GET asks (a mail scanner following links unsubscribes nobody); POST, from the page's "
        "button or a mail client's RFC 8058 one-click (`List-Unsubscribe=One-Click`), stops reminder emails. "
        "Statements, receipts and autopay notices still go.",
        "operationId": f"unsubscribe_{route.method.lower()}",
        "tags": ["Unsubscribe page"],
        "security": [],
        "parameters": [
            {
                "name": "token",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{32}$"},
            }
        ],
        "responses": {
            "200": {"description": "Unsubscribed." if post else "The question, with its button.", "content": text},
            "404": {"description": "The link is unknown or older than 400 days.", "content": text},
        },
    }


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
