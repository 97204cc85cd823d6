"""The base of every request body model, and the value types every edge shares.

StrictRequest: unknown fields are refused (a typo is a 422, never silently dropped), types are strict (an integer
is a JSON integer: not "100", true or 100.0), surrounding whitespace is stripped from strings, and no string may
carry a control character or a bidirectional-text control (they corrupt logs, statements and screens, and are
never part of a name, an address or a visit's description)."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, field_validator

# Bidirectional formatting characters (Unicode TR9): they can make text display differently than it reads.
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def refused_character(text: str) -> str | None:
    """The first character a text field may not hold, named for the error message, or None."""
    for ch in text:
        if ch in _BIDI_CONTROLS:
            return f"U+{ord(ch):04X} (a bidirectional-text control)"
        if unicodedata.category(ch) in ("Cc", "Cs"):
            return f"U+{ord(ch):04X} (a control character)"
    return None


def _checked(value: Any) -> Any:
    if isinstance(value, str):
        bad = refused_character(value)
        if bad is not None:
            raise ValueError(f"must not contain {bad}")
    elif isinstance(value, list | tuple):
        for item in value:
            _checked(item)
    return value


class StrictRequest(BaseModel):
    # defer_build: a cold start serves one route, so only that route's body model is built (on its first request;
    # the OpenAPI document builds them all).
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True, defer_build=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        return _checked(value)


def examples(*bodies: dict[str, Any]) -> ConfigDict:
    """A request model's `model_config` giving the OpenAPI document its example bodies (JSON Schema `examples`:
    Swagger UI's "Try it out" starts from the first). Each must be valid for the model (tests/integration/
    test_openapi.py validates them): made-up people and ids, never real ones. Merged with StrictRequest's config."""
    return ConfigDict(json_schema_extra={"examples": list(bodies)})


# RFC 3339 (a profile of ISO 8601): full date, full time with seconds, and an offset. Lax parsers also take
# "20261126" or an epoch integer (as 1970-08-23 and the like); this type takes only what RFC 3339 allows.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")


def _rfc3339(value: object) -> object:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("must carry a UTC offset")
        return value
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError("must be an RFC 3339 timestamp with an offset, e.g. 2026-11-26T14:30:00Z")
    try:
        return datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("is not a real date and time") from None


Timestamp = Annotated[datetime, BeforeValidator(_rfc3339)]
"""An RFC 3339 timestamp with an offset (`2026-11-26T14:30:00Z`, `2026-11-26T09:30:00-05:00`)."""
