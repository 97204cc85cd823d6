"""Worker mode (local.workers): the local front served over HTTP runs each invocation in a worker process of its
function, as Lambda runs one invocation per execution environment, so two invocations of one function overlap
(in-process, the resolver lock serves them one after the other). A worker's exception comes back as the
in-process one would (401 for the authorizer's "Unauthorized", 502 for the rest), a dead worker is replaced,
and the workers' AWS calls reach the call log."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from local.workers import InvocationError, WorkerPool, install, uninstall
from practicepay.auth.tokens import issue_hs256
from tests.helpers import TEST_SECRET

pytestmark = pytest.mark.integration

PRACTICE = "prc_concurrency"
DELAY = 1.5
"""Seconds the sandbox holds each payment's answer (after committing it): two payments one after the other take
at least twice this."""
CONSENT = {
    "text_version": "2026-01",
    "accepted_at": "2026-11-26T10:00:00Z",
    "captured_by": "front-desk-7",
    "channel": "in_person",
}


@dataclass
class Served:
    base: str
    pool: WorkerPool
    sandbox_url: str

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {token or issue_hs256(TEST_SECRET, PRACTICE)}"}
        if method == "POST":
            headers["Idempotency-Key"] = str(uuid.uuid4())
        return requests.request(method, self.base + path, json=body, headers=headers, timeout=30)

    def ok(self, method: str, path: str, body: Any = None, status: int = 200) -> dict[str, Any]:
        resp = self.call(method, path, body)
        assert resp.status_code == status, resp.text
        return resp.json()

    def open_invoice(self, patient: str, total: int = 12500) -> str:
        body = {
            "patient_id": patient,
            "due_date": "2026-12-31",
            "line_items": [{"description": "Office visit", "cpt_code": "99213", "unit_amount": total}],
        }
        invoice = self.ok("POST", "/invoices", body, 201)["id"]
        self.ok("POST", f"/invoices/{invoice}/issue")
        return invoice

    def slow_payments(self, count: int) -> None:
        """The next `count` payments' answers come DELAY seconds late (committed at the sandbox meanwhile)."""
        fault = {"kind": "timeout_after_commit", "path": "/txns", "method": "POST", "delay_seconds": DELAY}
        requests.post(f"{self.sandbox_url}/_sandbox/faults", json={**fault, "count": count}, timeout=5)

    def clear_faults(self) -> None:
        requests.delete(f"{self.sandbox_url}/_sandbox/faults", timeout=5).raise_for_status()


@pytest.fixture(scope="module")
def served(aws_env, stack_sandbox, boarded) -> Iterator[Served]:
    from werkzeug.serving import make_server

    from local.front import LocalApiGateway

    boarded(PRACTICE)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SPLASH_READ_TIMEOUT", "10")  # the workers start with it: the late answers arrive in time
        pool = install(WorkerPool(cap=4))
        server = make_server("127.0.0.1", 0, LocalApiGateway(), threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield Served(f"http://127.0.0.1:{server.server_port}", pool, stack_sandbox.url)
        finally:
            server.shutdown()
            server.server_close()
            pool.shutdown()
            uninstall()


@pytest.fixture(scope="module")
def card_holder(served) -> tuple[str, str]:
    """(patient, card on file) of the practice."""
    patient = served.ok(
        "POST", "/patients", {"external_id": "ehr-concurrency", "first_name": "Ada", "last_name": "Ring"}, 201
    )["id"]
    body = {"card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030}, "consent": CONSENT}
    card = served.ok("POST", f"/patients/{patient}/payment-methods", body, 201)["id"]
    return patient, card


def _at_once(calls: list) -> list[threading.Thread]:
    """Start the calls on threads released together; the threads."""
    barrier = threading.Barrier(len(calls))

    def run(call) -> None:
        barrier.wait()
        call()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    return threads


def _arrivals(sandbox, totals: set[int], seen: int, until: float) -> dict[int, float]:
    """When the sandbox first received a sale for each total (its request log from entry `seen` on, watched until
    every total arrived or `until`)."""
    first: dict[int, float] = {}
    while set(first) != totals and time.monotonic() < until:
        for entry in sandbox.requests[seen:]:
            total = (entry["body"] or {}).get("total") if entry["method"] == "POST" else None
            if entry["path"].startswith("/txns") and total in totals:
                first.setdefault(total, time.monotonic())
        time.sleep(0.02)
    return first


def test_two_payments_run_at_once(served, card_holder, stack_sandbox):
    patient, card = card_holder
    totals = {12501, 12502}
    invoices = [served.open_invoice(patient, total) for total in sorted(totals)]
    served.pool.warm("authorizer", 2)
    served.pool.warm("payments", 2)  # cold starts are not what this measures
    served.slow_payments(2)
    seen = len(stack_sandbox.sandbox.requests)
    results: list[requests.Response] = []
    try:
        clients = _at_once(
            [
                lambda inv=inv: results.append(
                    served.call("POST", f"/invoices/{inv}/payments", {"payment_method_id": card})
                )
                for inv in invoices
            ]
        )
        arrived = _arrivals(stack_sandbox.sandbox, totals, seen, until=time.monotonic() + 4 * DELAY + 10)
        for client in clients:
            client.join(timeout=30)
    finally:
        served.clear_faults()
    assert sorted(r.status_code for r in results) == [201, 201], [r.text for r in results]
    assert set(arrived) == totals, arrived
    # The sandbox holds each answer DELAY seconds (and the client gives up after SPLASH_READ_TIMEOUT, at least 1 s):
    # one payment after the other, the second sale reaches the sandbox at least a second after the first.
    gap = max(arrived.values()) - min(arrived.values())
    assert gap < 0.9, f"the second payment's sale reached Splash {gap:.2f}s after the first: they did not overlap"
    stats = served.pool.stats()["payments"]
    assert stats["max_busy"] >= 2 and stats["workers"] <= served.pool.cap


def test_an_exception_in_a_worker_comes_back_as_in_process(served):
    from local.front import invoke

    served.ok("GET", "/invoices")
    (pid,) = served.pool.pids("invoices")
    assert served.call("GET", "/invoices", token="not-a-token").status_code == 401  # the authorizer raised
    with pytest.raises(InvocationError) as raised:
        invoke("invoices", {"not": "an API Gateway event"})
    assert raised.value.type_name != "WorkerDied"
    assert "Traceback" in raised.value.remote_traceback
    assert str(raised.value.__cause__).strip().startswith("in the invoices worker:")
    served.ok("GET", "/invoices")
    assert served.pool.pids("invoices") == [pid]  # an exception is an answer: the worker stays


def test_a_worker_that_dies_gives_502_and_is_replaced(served, card_holder):
    patient, card = card_holder
    doomed, next_one = served.open_invoice(patient), served.open_invoice(patient)
    served.pool.warm("payments", 1)
    served.slow_payments(1)
    try:
        pending: dict[str, requests.Response] = {}
        paying = threading.Thread(
            target=lambda: pending.setdefault(
                "resp", served.call("POST", f"/invoices/{doomed}/payments", {"payment_method_id": card})
            )
        )
        paying.start()
        deadline = time.monotonic() + 10
        while served.pool.stats()["payments"]["busy"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # into the sandbox's delay
        killed = served.pool.pids("payments")
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        paying.join(timeout=30)
    finally:
        served.clear_faults()
    resp = pending["resp"]
    assert resp.status_code == 502, resp.text
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    paid = served.ok("POST", f"/invoices/{next_one}/payments", {"payment_method_id": card}, 201)
    assert paid["status"] == "succeeded"
    assert not set(served.pool.pids("payments")) & set(killed)


def test_the_workers_calls_reach_the_call_log(served):
    from local.calls import CallLog

    log = CallLog.current()
    assert log is not None  # installed by the aws_env fixture, before the workers started
    kept = set(log.calls)
    log.calls.difference_update({call for call in kept if call[0] == "invoices"})
    try:
        served.ok("GET", "/invoices")
        assert any(fn == "invoices" and action.startswith("dynamodb:") for fn, action, _ in log.calls), log.calls
    finally:
        log.calls.update(kept)


def test_a_payment_racing_its_alerts_and_the_poll_in_worker_processes_is_booked_once(
    aws_env, served, card_holder, stack_sandbox
):
    """The race the in-process front hid: while the payments worker waits for Splash's late answer, alerts
    workers (a duplicated alert) and the poll apply the same charge at the same moment; the late answer then
    finds it applied. One ledger entry, the invoice's totals equal to it and to Splash."""
    from local.front import invoke
    from local.triggers import _scheduled_event
    from practicepay.invoices.store import InvoiceStore
    from tests.integration.test_exactly_once import committed_txn, deliver_alert, txn_count
    from tests.integration.test_money_core import ledger_matches

    patient, card = card_holder
    invoice = served.open_invoice(patient, 10000)
    served.pool.warm("alerts", 2)
    served.slow_payments(1)
    before = txn_count(stack_sandbox.sandbox)
    answer: dict[str, requests.Response] = {}
    try:
        paying = threading.Thread(
            target=lambda: answer.setdefault(
                "resp",
                served.call("POST", f"/invoices/{invoice}/payments", {"payment_method_id": card, "amount": 6000}),
            )
        )
        paying.start()
        txn = committed_txn(stack_sandbox.sandbox, before)
        appliers = _at_once(
            [lambda: deliver_alert(txn), lambda: deliver_alert(txn), lambda: invoke("poll", _scheduled_event("poll"))]
        )
        for thread in [*appliers, paying]:
            thread.join(timeout=30)
    finally:
        served.clear_faults()
    assert answer["resp"].status_code == 201, answer["resp"].text
    assert answer["resp"].json()["status"] == "succeeded"
    assert served.pool.stats()["alerts"]["max_busy"] >= 2  # the two alerts really ran at once
    entries = InvoiceStore(aws_env["INVOICES_TABLE"]).ledger(PRACTICE, invoice)
    assert [(e["type"], e["splash_txn_id"]) for e in entries] == [("charge", txn)]
    final = served.ok("GET", f"/invoices/{invoice}")
    assert (final["amount_paid"], final["amount_due"]) == (6000, 4000)
    ledger_matches(aws_env, PRACTICE, final)
