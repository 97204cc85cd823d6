"""RFC 9457 problem+json for every error the API returns. Never a stack trace, never the caller's input echoed
back (it may be PHI): only field paths and messages a person can act on."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel, Field

from practicepay.api.contract import PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE


class FieldError(BaseModel):
    field: str = Field(description="Path of the offending field, e.g. line_items[0].unit_amount")
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, as every 4xx/5xx of this API returns them."""

    type: str = Field(description="urn:practicepay:problem:<slug>, stable per kind of problem")
    title: str
    status: int
    detail: str = Field(description="What went wrong and what to do about it")
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldError] | None = None


_DESCRIPTIONS = {
    400: "A body that is not UTF-8 JSON or is sent to a route that takes none; an unknown or bad query parameter; "
    "a missing or bad header",
    401: "Missing, expired or invalid bearer token",
    402: "The payment was declined (the problem type names the reason category)",
    403: "The token lacks the scope this route needs",
    404: "No such record for this practice",
    409: "Conflicts with the record's state, or the same Idempotency-Key is still in progress",
    413: "Body larger than 256 KB",
    415: "A body without Content-Type: application/json",
    422: "Invalid fields (see `errors`), or an Idempotency-Key reused with another body",
    503: "Splash did not answer; nothing was changed there. Retry the same request shortly (with the same "
    "Idempotency-Key where the route takes one)",
}


GUARDS = (400, 413, 415)
"""What the request guards (practicepay.api.resolver.resolve) can answer on any route, before the route runs."""


Answer = tuple[int, str, type[BaseModel]]
"""A non-problem answer of a route: (status, description, model)."""


def responses(
    success: Answer, *problems: int, also: Sequence[Answer] = (), guarded: bool = True
) -> dict[int, dict[str, Any]]:
    """OpenAPI `responses` for a route: its success (status, description, model), the problems it can answer, and
    `also` its other non-problem answers (a payment's 202 while Splash's outcome is unknown or pending);
    `guarded`: the route is behind the request guards (every route but Splash's webhook), so GUARDS too."""
    out: dict[int, dict[str, Any]] = {}
    for status, description, model in (success, *also):
        if status >= 400 or status in out:
            raise ValueError(f"{status} is not a success answer, or is declared twice")
        out[status] = {"description": description, "content": {"application/json": {"model": model}}}
    for code in sorted({*problems, *(GUARDS if guarded else ())}):
        out[code] = {"description": _DESCRIPTIONS[code], "content": {PROBLEM_CONTENT_TYPE: {"model": Problem}}}
    return out


def problem_body(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    request_id: str | None = None,
    errors: Sequence[Mapping[str, str]] = (),
) -> dict[str, Any]:
    body: dict[str, Any] = {"type": PROBLEM_TYPE_BASE + slug, "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    if request_id:
        body["request_id"] = request_id
    if errors:
        body["errors"] = list(errors)
    return body


def problem(status: int, slug: str, title: str, detail: str, **extra: Any) -> Response:
    """A Powertools Response carrying problem+json (see problem_body for the fields)."""
    return Response(
        status_code=status,
        content_type=PROBLEM_CONTENT_TYPE,
        body=json.dumps(problem_body(status, slug, title, detail, **extra)),
    )


# Messages for pydantic error types, written for the clinical-platform engineer reading the response.
_MESSAGES = {
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "int_parsing_size": "is too large",
    "missing": "is required",
    "extra_forbidden": "is not a field of this request; remove it",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "model_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "too_short": "is too short",
    "too_long": "is too long",
    "greater_than_equal": "is too small",
    "less_than_equal": "is too large",
    "string_too_short": "must not be empty",
    "enum": "is not one of the allowed values",
    "literal_error": "is not one of the allowed values",
}
_CENTS_FIELDS = {"unit_amount", "amount", "total"}


def field_path(loc: Iterable[Any]) -> str:
    """('body', 'line_items', 0, 'unit_amount') -> 'line_items[0].unit_amount';
    ('header', 'idempotency-key') -> 'Idempotency-Key header'; query parameters keep their name."""
    parts = list(loc)
    if len(parts) == 2 and parts[0] == "header":
        return "-".join(w.capitalize() for w in str(parts[1]).split("-")) + " header"
    if parts and parts[0] in ("body", "query", "header", "path"):
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def field_errors(raw: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    errors = []
    for err in raw:
        loc = tuple(err.get("loc", ()))
        path = field_path(loc)
        leaf = next((p for p in reversed(loc) if isinstance(p, str)), "")
        kind = err.get("type", "")
        message = _MESSAGES.get(kind)
        ctx = err.get("ctx") or {}
        if kind in ("int_type", "int_parsing", "int_from_float") and leaf in _CENTS_FIELDS:
            message = "must be a whole number of cents, e.g. 1050 for $10.50"
        elif kind in ("greater_than_equal", "greater_than") and ctx:
            message = f"must be at least {ctx.get('ge', ctx.get('gt'))}"
        elif kind in ("less_than_equal", "less_than") and ctx:
            message = f"must be at most {ctx.get('le', ctx.get('lt'))}"
        elif kind == "too_short" and "min_length" in ctx:
            message = f"must have at least {ctx['min_length']} item(s)"
        elif kind == "too_long" and "max_length" in ctx:
            message = f"must have at most {ctx['max_length']} item(s)"
        elif kind == "string_too_long" and "max_length" in ctx:
            message = f"must be at most {ctx['max_length']} characters"
        elif kind == "string_pattern_mismatch":
            message = "has an invalid format"
        elif kind == "value_error":
            message = str(ctx.get("error") or err.get("msg", "is invalid"))
        if message is None:
            message = str(err.get("msg", "is invalid")).rstrip(".")
        errors.append({"field": path or "body", "message": f"{path or 'body'} {message}"})
    return errors


def describe(exc: Exception) -> tuple[int, str, str, str] | None:
    """(status, slug, title, detail) of a domain or processor error, as every surface answers it (the JSON API's
    resolver, the dashboard's pages); None for anything else (a fault: 500)."""
    from practicepay.errors import PracticePayError
    from practicepay.splash.errors import SplashDeclined, SplashError, SplashInvalidOperation, SplashValidationError

    if isinstance(exc, PracticePayError):
        return exc.status, exc.slug, exc.title, exc.detail
    if isinstance(exc, SplashDeclined):
        d = exc.decline
        detail = f"{d.processor_text} ({d.category}){'; it may succeed later' if d.retryable else ''}."
        return 402, f"payment-declined:{d.category}".replace("_", "-"), "The payment was declined", detail
    if isinstance(exc, SplashValidationError):
        status = 409 if isinstance(exc, SplashInvalidOperation) else 422
        return status, "processor-refused", "The payment processor refused the request", str(exc)
    if isinstance(exc, SplashError):
        detail = "Splash did not answer; nothing was charged. Retry shortly with the same Idempotency-Key."
        return 503, "processor-unavailable", "The payment processor is unavailable", detail
    return None
