"""Request plumbing around the API: the rate limiter, injected HTTP faults, REQUEST-TOKEN replay and the
request log (secrets masked, card and account numbers cut to their last four digits)."""

from __future__ import annotations

import copy
import json
import re
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import unquote

from werkzeug.wrappers import Request

from local.sandbox.settings import SandboxSettings
from local.sandbox.tables import RATE_WINDOW_SECONDS, REQUEST_TOKEN_TTL_HOURS

HttpFaultKind = Literal[
    "http_500", "http_429", "timeout_after_commit", "timeout_before_commit", "refusal", "merchant_status_0"
]
HTTP_FAULT_KINDS: tuple[HttpFaultKind, ...] = (
    "http_500",
    "http_429",
    "timeout_after_commit",
    "timeout_before_commit",
    "refusal",  # answered 200 with an error and no data, and kept under its REQUEST-TOKEN like any answer
    "merchant_status_0",  # merchants read back at status 0 (recorded for a boarded, processing merchant)
)
SECRET_HEADERS = frozenset({"apikey", "sessionkey", "txnsessionkey", "password", "token"})
SECRET_FIELDS = frozenset({"cvv", "ssn", "track"})
NUMBER_HOLDERS = frozenset({"payment", "account"})
_LONG_DIGITS = re.compile(r"\d{9,}")


class RateLimiter:
    """Requests per scope (source IP + resource path) in a sliding 10 s window; going over blocks the scope
    for `rate_limit_block_seconds`, after which counting starts afresh."""

    def __init__(self, settings: SandboxSettings):
        self.settings = settings
        self._hits: dict[tuple[str, str], deque[float]] = {}
        self._blocked_until: dict[tuple[str, str], float] = {}

    def admit(self, scope: tuple[str, str], test_mode: bool) -> bool:
        now = time.monotonic()
        if self._blocked_until.get(scope, 0.0) > now:
            return False
        hits = self._hits.setdefault(scope, deque())
        while hits and hits[0] <= now - RATE_WINDOW_SECONDS:
            hits.popleft()
        limit = self.settings.rate_limit_test_per_10s if test_mode else self.settings.rate_limit_per_10s
        if len(hits) >= limit:
            self._blocked_until[scope] = now + self.settings.rate_limit_block_seconds
            hits.clear()
            return False
        hits.append(now)
        return True

    def reset(self) -> None:
        self._hits.clear()
        self._blocked_until.clear()


@dataclass
class HttpFault:
    kind: HttpFaultKind
    remaining: int
    path: str | None = None
    delay_seconds: float = 3.0
    method: str | None = None
    """Only requests with this method (e.g. POST: a write, not the reads before it); None: any."""

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "count": self.remaining,
            "path": self.path,
            "method": self.method,
            "delay_seconds": self.delay_seconds,
        }


class FaultPlan:
    """Injected HTTP faults, consumed in the order added by the API requests whose path they match."""

    def __init__(self) -> None:
        self._faults: list[HttpFault] = []

    def add(self, fault: HttpFault) -> None:
        self._faults.append(fault)

    def take(self, path: str, method: str = "GET") -> HttpFault | None:
        for fault in self._faults:
            if (fault.path is None or path.startswith(fault.path)) and fault.method in (None, method):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault
        return None

    def describe(self) -> list[dict[str, Any]]:
        return [f.describe() for f in self._faults]

    def clear(self) -> None:
        self._faults.clear()


@dataclass(frozen=True)
class Replay:
    status: int
    body: dict[str, Any]
    stored_at: datetime


class ReplayCache:
    """REQUEST-TOKEN answers, kept 48 sandbox hours per (API key, token)."""

    def __init__(self) -> None:
        self._answers: dict[tuple[str, str], Replay] = {}

    def get(self, key: tuple[str, str], now: datetime) -> Replay | None:
        replay = self._answers.get(key)
        if replay is None or now - replay.stored_at > timedelta(hours=REQUEST_TOKEN_TTL_HOURS):
            return None
        return replay

    def put(self, key: tuple[str, str], status: int, body: dict[str, Any], now: datetime) -> None:
        self._answers[key] = Replay(status, copy.deepcopy(body), now)

    def clear(self) -> None:
        self._answers.clear()

    def state(self) -> dict[tuple[str, str], Replay]:
        return copy.deepcopy(self._answers)

    def restore(self, answers: dict[tuple[str, str], Replay]) -> None:
        self._answers = copy.deepcopy(answers)


def redact(value: Any, holder: str | None = None) -> Any:
    """A JSON value with CVVs/SSNs masked and `payment.number`/`account.number` cut to the last four digits."""
    if isinstance(value, dict):
        return {
            k: "***"
            if k in SECRET_FIELDS
            else _last_four(v)
            if k == "number" and holder in NUMBER_HOLDERS
            else redact(v, k)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v, holder) for v in value]
    return value


def _last_four(value: Any) -> str:
    text = str(value)
    return "*" * max(0, len(text) - 4) + text[-4:]


def logged_request(request: Request) -> dict[str, Any]:
    """What GET /_sandbox/requests shows of one API request."""
    raw = request.get_data(cache=True, as_text=True)
    try:
        body: Any = redact(json.loads(raw)) if raw else None
    except ValueError:
        body = _LONG_DIGITS.sub(lambda m: _last_four(m.group()), raw)
    headers = {k: "***" if k.lower() in SECRET_HEADERS else v for k, v in request.headers.items()}
    return {
        "method": request.method,
        "path": request.path,
        "query": unquote(request.query_string.decode("latin-1")),
        "headers": headers,
        "body": body,
    }
