"""Reading a request body as JSON, strictly: one parser for every route and for Splash's alerts.

Python's json module accepts what JSON does not (NaN, Infinity, duplicate keys where the last one silently wins),
and fails with errors that are not ValueErrors (RecursionError on deep nesting). Here every such body is a
MalformedRequest (400) whose detail says what to fix, before any route runs."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from practicepay.errors import MalformedRequest

MAX_DEPTH = 32
"""Arrays and objects nested deeper than this are refused (our deepest body nests 4)."""
MAX_INTEGER_DIGITS = 4300
"""Python's own limit for converting digits to an int (sys.get_int_max_str_digits)."""


class _Refused(Exception):
    def __init__(self, detail: str) -> None:
        self.detail = detail


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _Refused(f'The key "{key[:40]}" appears twice in one object; send each field once.')
        obj[key] = value
    return obj


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number; send a number or null.")


def _integer(digits: str) -> int:
    if len(digits) > MAX_INTEGER_DIGITS:
        raise _Refused(f"A number in the body has more than {MAX_INTEGER_DIGITS} digits.")
    return int(digits)


def received(event: Mapping[str, Any]) -> bytes:
    """An API Gateway proxy event's body as the bytes the caller sent (base64 when they were not UTF-8 text)."""
    body = event.get("body") or ""
    return base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8", "surrogatepass")


def parse(raw: bytes) -> Any:
    """The body's JSON value; MalformedRequest when it is not UTF-8, not JSON, or JSON this API refuses."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedRequest("The request body is not UTF-8 text; send JSON encoded as UTF-8.") from None
    try:
        value = json.loads(text, object_pairs_hook=_object, parse_constant=_constant, parse_int=_integer)
    except _Refused as exc:
        raise MalformedRequest(exc.detail) from None
    except RecursionError:
        raise MalformedRequest(_too_deep()) from None
    except ValueError:  # JSONDecodeError included
        raise MalformedRequest(
            "The request body is not valid JSON; check for trailing commas, quotes and brackets."
        ) from None
    _check_shape(value)
    return value


def _too_deep() -> str:
    return f"The body nests arrays and objects more than {MAX_DEPTH} deep."


def _check_shape(value: Any) -> None:
    """Depth, and strings that cannot be stored as UTF-8 (an unpaired surrogate written as a \\u escape)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth >= MAX_DEPTH:
                raise MalformedRequest(_too_deep())
            for key, inner in item.items():
                _check_text(key)
                stack.append((inner, depth + 1))
        elif isinstance(item, list):
            if depth >= MAX_DEPTH:
                raise MalformedRequest(_too_deep())
            stack.extend((inner, depth + 1) for inner in item)
        elif isinstance(item, str):
            _check_text(item)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedRequest(
            "A string in the body holds an unpaired UTF-16 surrogate (a lone \\ud800-\\udfff escape)."
        ) from None
