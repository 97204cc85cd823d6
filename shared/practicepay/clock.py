"""The clock adapter: all domain code asks this for "now", so tests and the sandbox can travel in time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime) -> str:
    """UTC ISO-8601 with millisecond precision and a Z suffix, the API's timestamp format."""
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def from_iso(text: str) -> datetime:
    """The moment an `iso` timestamp names (an aware datetime)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def time_zone(name: str) -> ZoneInfo:
    """The IANA zone `name` names; ValueError (a message for the API) when it names none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError("must be an IANA time zone name, e.g. America/Chicago") from None
