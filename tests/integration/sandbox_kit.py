"""Shared fixtures and helpers for the Splash sandbox suites (no tests here): a sandbox served over real HTTP,
a thin raw-HTTP caller, builders for merchants, customers and tokens, and a local web alert receiver."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from local.sandbox.server import SandboxSettings, SplashSandbox
from tests.helpers import free_port

pytestmark = pytest.mark.integration

KEY = "sandbox-private-key"
START = datetime(2025, 3, 3, 15, 0, tzinfo=UTC)  # a Monday afternoon
VISA = "4111111111111111"
ROUTING = "021000021"  # passes the ABA check digit
EXPIRY = "1230"
# What the SDK marks required on a boarding request (splash-api.md §10), which the sandbox enforces.
TERMS = {
    "clientIp": "203.0.113.10",
    "timezone": "cst",
    "tcVersion": "1.0",
    "tcAcceptDate": "202503031000",
    "tcAcceptIp": "203.0.113.10",
}
MEMBER = {"dob": 19700101, "timezone": "cst", "ownership": 10000}


def fast_settings(**overrides: Any) -> SandboxSettings:
    """Settings for tests: the fixed START, and blocks, backoffs and timeouts short enough for a test run."""
    fast: dict[str, Any] = {
        "rate_limit_block_seconds": 0.5,
        "alert_backoff_seconds": 0.05,
        "alert_timeout_seconds": 2.0,
    }
    return SandboxSettings(start=START, **(fast | overrides))


class SplashApi:
    """Raw HTTP to one sandbox, exactly as a client would talk to test-api.payrix.com."""

    def __init__(self, base: str):
        self.base = base
        self.http = requests.Session()
        self.http.trust_env = False

    def raw(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        key: str | None = KEY,
        params: dict[str, str] | None = None,
        timeout: float = 5.0,
    ) -> requests.Response:
        sent = {"APIKEY": key} if key is not None else {}
        sent.update(headers or {})
        data = json.dumps(body) if body is not None else None
        if data is not None:
            sent["Content-Type"] = "application/json"
        return self.http.request(method, self.base + path, data=data, headers=sent, params=params, timeout=timeout)

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """The `response` object of an HTTP 200 answer."""
        resp = self.raw(method, path, **kwargs)
        assert resp.status_code == 200, resp.text
        return resp.json()["response"]

    def ok(self, method: str, path: str, **kwargs: Any) -> list[dict[str, Any]]:
        response = self.call(method, path, **kwargs)
        assert response["errors"] == [], response["errors"]
        return response["data"]

    def one(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        (record,) = self.ok(method, path, **kwargs)
        return record

    def refused(self, method: str, path: str, **kwargs: Any) -> list[dict[str, Any]]:
        """The errors of a refused request (HTTP 200, empty data)."""
        response = self.call(method, path, **kwargs)
        assert response["data"] == [] and response["errors"], response
        return response["errors"]

    def rows(self, resource: str, search: str = "", **params: str) -> list[dict[str, Any]]:
        return self.ok("GET", f"/{resource}", headers={"SEARCH": search} if search else None, params=params or None)

    def admin(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        resp = self.raw(method, f"/_sandbox/{path}", body=body, key=None)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def advance(self, days: float = 0, seconds: float = 0) -> dict[str, Any]:
        return self.admin("POST", "clock", {"advance_days": days, "advance_seconds": seconds})

    def deliveries(self, count: int, timeout: float = 3.0) -> list[dict[str, Any]]:
        """The alert delivery log once it has `count` entries (the worker logs after the receiver answered)."""
        deadline = time.monotonic() + timeout
        while len(found := self.admin("GET", "deliveries")["deliveries"]) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(found) >= count, found
        return found

    # --- builders ----------------------------------------------------------------------------------------------

    def entity(self, name: str = "Acme Family Practice", **merchant: Any) -> dict[str, Any]:
        body = {
            "name": name,
            "type": 2,
            "address1": "1 Main St",
            "city": "Austin",
            "state": "TX",
            "zip": "78701",
            "country": "USA",
            "email": "office@acme.example",
            "phone": "5125550100",
            **TERMS,
            "merchant": {"mcc": "8011", "status": 1, "members": [{**MEMBER, "first": "Ann", "last": "Lee"}]} | merchant,
            "accounts": [{"primary": 1, "account": {"method": 8, "number": "123456789", "routing": ROUTING}}],
        }
        return self.one("POST", "/entities", body=body)

    def customer(self, merchant: str, **fields: Any) -> str:
        return self.one("POST", "/customers", body={"merchant": merchant, **fields})["id"]

    def card_token(self, customer: str, number: str = VISA, expiration: str = EXPIRY) -> dict[str, Any]:
        body = {"customer": customer, "payment": {"number": number, "cvv": "123"}, "expiration": expiration}
        return self.one("POST", "/tokens", body=body)

    def bank_token(self, customer: str, number: str = "123456789") -> dict[str, Any]:
        body = {"customer": customer, "payment": {"method": 8, "number": number, "routing": ROUTING}}
        return self.one("POST", "/tokens", body=body)

    def payer(self) -> Payer:
        merchant = self.entity()["merchant"]["id"]
        customer = self.customer(merchant)
        return Payer(self, merchant, customer, self.card_token(customer)["token"])

    def txn(self, **fields: Any) -> dict[str, Any]:
        return self.one("POST", "/txns", body={"origin": 2, **fields})

    def get(self, resource: str, record_id: str) -> dict[str, Any]:
        return self.one("GET", f"/{resource}/{record_id}")


@dataclass
class Payer:
    splash: SplashApi
    merchant: str
    customer: str
    card: str

    def sale(self, total: int = 1000, txn_type: int = 1, **fields: Any) -> dict[str, Any]:
        return self.splash.txn(merchant=self.merchant, type=txn_type, token=self.card, total=total, **fields)

    def echeck(self, number: str = "123456789", total: int = 2500) -> dict[str, Any]:
        token = self.splash.bank_token(self.customer, number)["token"]
        return self.splash.txn(merchant=self.merchant, type=7, token=token, total=total)

    def then(self, txn_type: int, fortxn: str, **fields: Any) -> dict[str, Any]:
        return self.splash.txn(type=txn_type, fortxn=fortxn, **fields)

    def refused(self, txn_type: int, fortxn: str, **fields: Any) -> list[dict[str, Any]]:
        return self.splash.refused("POST", "/txns", body={"origin": 2, "type": txn_type, "fortxn": fortxn, **fields})


def error_codes(errors: list[dict[str, Any]]) -> set[tuple[str | None, str]]:
    return {(e.get("field"), e["errorCode"]) for e in errors}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[tuple[SplashSandbox, str]]:
    sb = SplashSandbox(fast_settings())
    handle = sb.serve("127.0.0.1", free_port())
    yield sb, f"http://127.0.0.1:{handle.port}"
    handle.shutdown()


@pytest.fixture
def splash(sandbox: tuple[SplashSandbox, str]) -> SplashApi:
    client = SplashApi(sandbox[1])
    client.admin("POST", "reset")
    return client


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """No access log lines in the test output."""


class Receiver:
    """A local web alert endpoint: records every POST and answers the queued statuses (then 200)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.statuses: deque[int] = deque()
        self._cond = threading.Condition()
        self._server = make_server("127.0.0.1", free_port(), self._app, threaded=True, request_handler=_QuietHandler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/hooks/splash"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        with self._cond:
            self.received.append({"headers": dict(request.headers), "body": request.get_json(silent=True)})
            status = self.statuses.popleft() if self.statuses else 200
            self._cond.notify_all()
        return Response("ok", status=status)(environ, start_response)

    def wait_for(self, count: int, timeout: float = 3.0) -> list[dict[str, Any]]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.received) >= count, timeout), self.received
            return list(self.received)

    def clear(self) -> None:
        with self._cond:
            self.received.clear()
            self.statuses.clear()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.close()


@pytest.fixture
def hook(receiver: Receiver) -> Receiver:
    receiver.clear()
    return receiver
