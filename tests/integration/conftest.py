from __future__ import annotations

import copy
import json
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import date
from typing import Any

import boto3
import pytest
import requests
from werkzeug.test import Client

from local.sandbox.server import SandboxSettings, SplashSandbox
from practicepay.auth.tokens import issue_hs256
from tests.helpers import TEST_SECRET, free_port

VISIT = {
    "due_date": "2026-12-31",
    "line_items": [
        {"description": "Office visit, established patient", "cpt_code": "99213", "unit_amount": 12500},
        {"description": "Comprehensive metabolic panel", "cpt_code": "80053", "quantity": 2, "unit_amount": 1450},
    ],
}


FUZZ = pytest.StashKey[dict[str, Counter]]()
"""test_api_schema's counts per operation: cases per run ("positive", "negative", "real ids"), per status, and
"server errors"; printed by pytest_terminal_summary."""


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    tally = config.stash.get(FUZZ, None)
    if not tally:
        return
    runs = ("positive", "negative", "real ids")
    total = Counter()
    for counts in tally.values():
        total.update({k: v for k, v in counts.items() if k in runs or k == "server errors"})
    cases = sum(total[r] for r in runs)
    terminalreporter.section("fuzz (schemathesis)")
    terminalreporter.write_line(
        f"fuzz: {cases} cases over {len(tally)} operations ("
        + ", ".join(f"{total[r]} {r}" for r in runs)
        + f"), {total['server errors']} server errors"
    )
    for label, counts in sorted(tally.items()):
        statuses = sorted((k.split()[1], v) for k, v in counts.items() if k.startswith("status "))
        terminalreporter.write_line(
            f"  {label}: {sum(counts[r] for r in runs)} cases ("
            + "/".join(str(counts[r]) for r in runs)
            + "), "
            + " ".join(f"{s}×{n}" for s, n in statuses)
            + (f", {counts['server errors']} SERVER ERRORS" if counts["server errors"] else "")
        )


class Api:
    """The local API Gateway front, driven in-process through WSGI: each call becomes a real REST v1 event."""

    def __init__(self) -> None:
        from local.front import LocalApiGateway

        self.client = Client(LocalApiGateway())
        self._patients: dict[str, str] = {}

    def patient(self, practice: str, external_id: str) -> str:
        body = {"external_id": external_id, "first_name": "Vera", "last_name": "Visit"}
        resp = self.call("POST", "/patients", practice=practice, body=body)
        assert resp.status_code == 201, resp.get_data(as_text=True)
        return resp.get_json()["id"]

    def visit(self, practice: str = "prc_alpha") -> dict[str, Any]:
        """An office-visit invoice body for a patient of `practice` (created once per practice)."""
        if practice not in self._patients:
            self._patients[practice] = self.patient(practice, f"ehr-visit-{practice}")
        return {**copy.deepcopy(VISIT), "patient_id": self._patients[practice]}

    def token(self, practice: str) -> str:
        return issue_hs256(TEST_SECRET, practice)

    def call(
        self,
        method: str,
        path: str,
        *,
        practice: str | None = "prc_alpha",
        body: Any = None,
        raw: str | bytes | None = None,
        key: str | None = "auto",
        headers: dict[str, str] | None = None,
        query: dict[str, Any] | None = None,
    ):
        h = {"Content-Type": "application/json"}
        if practice:
            h["Authorization"] = f"Bearer {self.token(practice)}"
        if method == "POST" and key:
            h["Idempotency-Key"] = str(uuid.uuid4()) if key == "auto" else key
        h.update(headers or {})
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        return self.client.open(path, method=method, headers=h, data=data, query_string=query)


@pytest.fixture(scope="session")
def api(aws_env) -> Api:
    return Api()


@pytest.fixture(scope="session")
def invoices_table(aws_env):
    return boto3.resource("dynamodb").Table(aws_env["INVOICES_TABLE"])


def count_items(table, practice: str) -> int:
    from boto3.dynamodb.conditions import Key

    return table.query(KeyConditionExpression=Key("pk").eq(f"PRACTICE#{practice}"), Select="COUNT")["Count"]


@pytest.fixture(scope="session")
def sandbox() -> Iterator[tuple[SplashSandbox, str]]:
    sb = SplashSandbox(SandboxSettings(rate_limit_block_seconds=0.3))
    handle = sb.serve("127.0.0.1", free_port())
    yield sb, f"http://127.0.0.1:{handle.port}"
    handle.shutdown()


@pytest.fixture
def base(sandbox) -> str:
    sb, url = sandbox
    requests.post(f"{url}/_sandbox/reset", timeout=5).raise_for_status()
    return url


@pytest.fixture(scope="session")
def boarded(aws_env, stack_sandbox):
    """Board a practice in the stack's Splash sandbox (once per practice id) so it can take payments."""
    from local.seed import seed_practice
    from practicepay.practices import PracticeStore
    from practicepay.splash.wiring import splash_client

    done: set[str] = set()

    def board(practice_id: str) -> str:
        if practice_id not in done:
            seed_practice(
                practice_id,
                f"Practice {practice_id}",
                splash_client(),
                stack_sandbox.sandbox,
                PracticeStore(aws_env["PRACTICES_TABLE"]),
            )
            done.add(practice_id)
        return practice_id

    return board


class SyncStack:
    """The stack with Splash alerts flowing: the API front served over HTTP (the sandbox POSTs alerts to it),
    PracticePay's alert registered with the stack's sandbox, and the local triggers to run queues and polls."""

    def __init__(self, sandbox: SplashSandbox, url: str) -> None:
        from local.triggers import LocalTriggers

        self.sandbox = sandbox
        self.url = url
        self.triggers = LocalTriggers()

    def deliver(self) -> int:
        """Wait for the sandbox to send every alert due, then let the processor handle what was queued."""
        assert self.sandbox.wait_for_alerts(10.0), "the sandbox still has alerts to send"
        return self.triggers.drain_all()

    def advance(self, days: float) -> int:
        self.sandbox.advance(days=days)
        return self.deliver()

    def poll(self) -> dict[str, Any]:
        return self.triggers.poll()

    def bill(self, day: date) -> dict[str, Any]:
        """The daily billing run for `day`, then its charges (the charge queue) and whatever alerts they raise."""
        report = self.triggers.billing_run(day.isoformat())
        self.deliver()
        return report

    def advance_to(self, day: date) -> int:
        """Move the sandbox clock to `day` (running every day's batches, returns and alerts on the way)."""
        gap = (day - self.sandbox.today).days
        return self.advance(days=gap) if gap > 0 else self.deliver()

    def fault(self, spec: dict[str, Any]) -> None:
        """Inject a sandbox fault (HTTP or alerts; see the README's sandbox controls)."""
        requests.post(f"{self.url}/_sandbox/faults", json=spec, timeout=5).raise_for_status()

    def clear_faults(self) -> None:
        requests.delete(f"{self.url}/_sandbox/faults", timeout=5).raise_for_status()


@pytest.fixture(scope="session")
def sync_stack(aws_env, stack_sandbox) -> Iterator[SyncStack]:
    from werkzeug.serving import make_server

    from local.front import LocalApiGateway
    from practicepay.sync.registration import register as register_alert

    server = make_server("127.0.0.1", 0, LocalApiGateway(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    register_alert(f"http://127.0.0.1:{server.server_port}/webhooks/splash")
    stack = SyncStack(stack_sandbox.sandbox, stack_sandbox.url)
    stack.deliver()  # whatever earlier suites left queued
    yield stack
    server.shutdown()


@pytest.fixture(scope="module")
def front(aws_env) -> Iterator[str]:
    """The local API Gateway on a port of 127.0.0.1 (the whole 127/8 reaches it: each patient has an address)."""
    from werkzeug.serving import make_server

    from local.front import LocalApiGateway

    server = make_server("127.0.0.1", 0, LocalApiGateway(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
