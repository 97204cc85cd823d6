"""Record ids: a type prefix and a ULID (time-ordered, so a key range lists newest or oldest first)."""

from __future__ import annotations

import hashlib
import re
import secrets
import time

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def ulid(now_ms: int | None = None) -> str:
    """26 characters: 48-bit millisecond timestamp then 80 random bits."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms << 80) | secrets.randbits(80)
    out = []
    for _ in range(26):
        out.append(ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


def new_id(prefix: str, now_ms: int | None = None) -> str:
    return f"{prefix}_{ulid(now_ms)}"


def digest_id(*parts: str) -> str:
    """26 base32 characters of SHA-256 over the parts: the same id for the same parts, every time (an operation
    and its Idempotency-Key; a record derived from a Splash txn)."""
    value = int.from_bytes(hashlib.sha256("|".join(parts).encode()).digest()[:17], "big") >> 6
    return "".join(ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def id_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"^{prefix}_[0-9a-hjkmnp-tv-z]{{26}}$")
