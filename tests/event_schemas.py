"""The domain events' JSON Schemas (docs/events, one per detail-type, Draft 2020-12) for tests: validates an event
as the publisher puts it on the EventBridge bus (the envelope, then `detail` against its detail-type's schema).

References between the files (`common.json#/$defs/…`) resolve offline, from a registry of the local files. Amounts
are integer cents: besides the schemas, the validator refuses any float where an integer is expected (JSON Schema
alone counts 1050.0 as an integer; a publisher turning DynamoDB's Decimals into floats must be caught)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SCHEMAS_DIR = Path(__file__).resolve().parents[1] / "docs" / "events"
COMMON = "common.json"
SOURCE = "practicepay"

ENVELOPE: dict[str, Any] = {
    "type": "object",
    "required": ["version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"],
    "properties": {
        "version": {"const": "0"},
        "id": {"type": "string", "minLength": 1},
        "detail-type": {"type": "string"},
        "source": {"const": SOURCE},
        "account": {"type": "string"},
        "time": {"type": "string", "format": "date-time"},
        "region": {"type": "string"},
        "resources": {"type": "array", "items": {"type": "string"}},
        "detail": {"type": "object"},
    },
}


def _strict_integer(checker: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


StrictValidator = jsonschema.validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _strict_integer),
)
"""Draft 2020-12, except that a float (even 1050.0) is not an integer."""


@cache
def schemas() -> dict[str, dict[str, Any]]:
    """Every schema file by its name without `.json` (a detail-type, or `common`)."""
    return {
        path.name.removesuffix(".json"): json.loads(path.read_text()) for path in sorted(SCHEMAS_DIR.glob("*.json"))
    }


def detail_types() -> set[str]:
    return set(schemas()) - {COMMON.removesuffix(".json")}


@cache
def registry() -> Registry:
    """The local files by their `$id`: nothing is fetched."""
    resources = [(s["$id"], Resource.from_contents(s, default_specification=DRAFT202012)) for s in schemas().values()]
    return Registry().with_resources(resources)


@cache
def validator(detail_type: str) -> Any:
    if detail_type not in detail_types():
        raise AssertionError(f"no schema for detail-type {detail_type!r} in {SCHEMAS_DIR}")
    return StrictValidator(schemas()[detail_type], registry=registry(), format_checker=FormatChecker())


def validate_detail(detail_type: str, detail: Any) -> None:
    """Raises jsonschema.ValidationError (the most relevant error) when `detail` does not match its schema."""
    error = best_match(validator(detail_type).iter_errors(detail))
    if error is not None:
        raise error


def validate_event(event: dict[str, Any]) -> None:
    """An EventBridge event as published: the envelope (source practicepay, a detail) and its detail. Raises
    jsonschema.ValidationError, or AssertionError for a detail-type with no schema."""
    Draft202012Validator(ENVELOPE, format_checker=FormatChecker()).validate(event)
    validate_detail(event["detail-type"], event["detail"])
