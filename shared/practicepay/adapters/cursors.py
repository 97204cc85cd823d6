"""Opaque page cursors over DynamoDB keys: base64url JSON of the last key, checked on the way back in to
belong to the listing (and so the practice) that produced it."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from practicepay.errors import MalformedRequest

KEY_ATTRIBUTES = frozenset({"pk", "sk", "gsi1pk", "gsi2pk"})


def encode_cursor(key: dict[str, Any]) -> str:
    return (
        base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":"), sort_keys=True).encode()).decode().rstrip("=")
    )


def decode_cursor(cursor: str, partition_attr: str, partition: str) -> dict[str, str]:
    """A cursor is only valid for the listing (and practice) that produced it."""
    bad = MalformedRequest(
        "The cursor is not valid for this listing; start again without `cursor` and use `next_cursor` from each page.",
        errors=[{"field": "cursor", "message": "cursor is invalid for this listing"}],
    )
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise bad from exc
    if (
        not isinstance(key, dict)
        or key.get(partition_attr) != partition
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in key.items())
        or not set(key) <= KEY_ATTRIBUTES
    ):
        raise bad
    return key
