"""What a handler serving browsers (the pay page, the staff dashboard) reads from an API Gateway event: headers,
one cookie, an urlencoded form, and whether a POST came from our own origin. By hand and bounded: these pages take
no JSON and must never fail on what a browser (or an attacker) sends."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qsl

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 8 * 1024
MAX_FIELDS = 24


def header(event: dict[str, Any], name: str) -> str | None:
    """A request header by its lower-case name."""
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            return value
    return None


def cookie(event: dict[str, Any], name: str) -> str | None:
    """Cookie `name`, from every Cookie header (an HTTP/2 browser may split cookies across several)."""
    values = [v for k, vs in (event.get("multiValueHeaders") or {}).items() if k.lower() == "cookie" for v in vs]
    raw = "; ".join(values) or header(event, "cookie")
    if not raw:
        return None
    for part in raw.split(";"):  # by hand: SimpleCookie drops every cookie when another one is not RFC 2109
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value.strip() or None
    return None


def form(event: dict[str, Any]) -> dict[str, str] | None:
    """The posted form (first value of each field, blanks dropped), or None when it is not a form we take."""
    if (header(event, "content-type") or "").split(";")[0].strip().lower() != FORM_TYPE:
        return None
    body = event.get("body") or ""
    try:
        raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
    except (ValueError, TypeError):
        return None
    if len(raw) > MAX_FORM_BYTES:
        return None
    try:
        pairs = parse_qsl(raw.decode(), keep_blank_values=False, max_num_fields=MAX_FIELDS)
    except (ValueError, UnicodeDecodeError):
        return None
    fields: dict[str, str] = {}
    for key, value in pairs:
        fields.setdefault(key, value)
    return fields


def same_origin(event: dict[str, Any]) -> bool:
    """A browser's POST names its origin; one from another site is refused (the CSRF token is checked as well)."""
    origin = header(event, "origin")
    if not origin or origin == "null":
        return origin is None
    host = header(event, "host") or (event.get("requestContext") or {}).get("domainName", "")
    return origin.split("://", 1)[-1] == host
