"""Every Splash fact is in the books once, whoever learns of it first (issue "Books that always equal Splash").

Each test reproduces a double-booking path seen in an adversarial run: Splash's answer to the API is late or
lost while the status poll, an alert or the reconciler learns the outcome first. The API call runs on a thread
(the local front, in-process) while the other applier runs here; afterwards the invoice's totals equal its
ledger, the ledger holds one entry per fact, and both equal Splash (test_money_core.ledger_matches)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from typing import Any

import pytest
import requests

from infra.definitions import ALERTS, ALERTS_QUEUE
from local.front import invoke
from local.triggers import sqs_record
from practicepay.invoices.store import InvoiceStore
from practicepay.splash.models import Resource
from tests.integration.test_money_core import add_card, ledger_matches, new_patient, ok, open_invoice

pytestmark = pytest.mark.integration


class Call(threading.Thread):
    """One API call on its own thread: `response` once joined."""

    def __init__(self, api, method: str, path: str, **kwargs: Any) -> None:
        super().__init__(daemon=True)
        self.args = (api, method, path, kwargs)
        self.response = None

    def run(self) -> None:
        api, method, path, kwargs = self.args
        self.response = api.call(method, path, **kwargs)

    def result(self, timeout: float = 30.0):
        self.join(timeout)
        assert not self.is_alive(), "the API call did not finish"
        return self.response


def fault(url: str, count: int, delay: float = 1.6) -> None:
    """Splash commits each of the next `count` POST /txns and answers after `delay` s (past the client's 1 s)."""
    spec = {"kind": "timeout_after_commit", "count": count, "path": "/txns", "method": "POST", "delay_seconds": delay}
    requests.post(f"{url}/_sandbox/faults", json=spec, timeout=5).raise_for_status()


def txn_count(sandbox) -> int:
    return len(sandbox._store.rows("txns"))


def committed_txn(sandbox, before: int, timeout: float = 5.0) -> str:
    """Wait for the sandbox to store one more txn than `before`; its id."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        txns = sandbox._store.rows("txns")
        if len(txns) > before:
            return str(txns[before]["id"])
        time.sleep(0.02)
    raise AssertionError("the sandbox never stored the txn")


def deliver_alert(txn_id: str) -> None:
    """The alerts processor handles an alert for `txn_id`, as SQS would hand it over."""
    message = {
        "MessageId": str(uuid.uuid4()),
        "ReceiptHandle": "local",
        "Body": json.dumps({"resource": int(Resource.TXNS), "record_id": txn_id}),
        "Attributes": {"MessageGroupId": txn_id, "MessageDeduplicationId": str(uuid.uuid4())},
        "MD5OfBody": "",
    }
    result = invoke(ALERTS.name, {"Records": [sqs_record(ALERTS_QUEUE, message)]})
    assert not (result or {}).get("batchItemFailures"), result


def books(aws_env, api, practice: str, invoice_id: str) -> tuple[dict, Counter]:
    invoice = ok(api.call("GET", f"/invoices/{invoice_id}", practice=practice))
    entries = InvoiceStore(aws_env["INVOICES_TABLE"]).ledger(practice, invoice_id)
    ledger_matches(aws_env, practice, invoice)
    return invoice, Counter((e["type"], e.get("refund_id") or e.get("splash_txn_id")) for e in entries)


def late_payment(api, practice: str, invoice_id: str, card: str, amount: int, sandbox) -> tuple[Call, str]:
    """Start paying on a thread (a fault is set to make its answer late); the call and the txn Splash committed."""
    before = txn_count(sandbox)
    paying = Call(
        api,
        "POST",
        f"/invoices/{invoice_id}/payments",
        practice=practice,
        body={"payment_method_id": card, "amount": amount},
    )
    paying.start()
    return paying, committed_txn(sandbox, before)


@pytest.fixture
def card_invoice(api, boarded):
    def make(practice_id: str, amount: int = 10000) -> tuple[str, str, dict]:
        practice = boarded(practice_id)
        patient = new_patient(api, practice, f"ehr-{practice_id}")
        card = add_card(api, practice, patient)
        return practice, card["id"], open_invoice(api, practice, patient, unit_amount=amount)

    return make


def test_a_late_answer_after_the_poll_applied_the_charge_books_it_once(
    api, aws_env, card_invoice, sync_stack, stack_sandbox
):
    practice, card, invoice = card_invoice("prc_eo_poll")
    sync_stack.deliver()
    fault(stack_sandbox.url, count=2)  # the first two answers come too late; the third try gets the replay
    paying, txn = late_payment(api, practice, invoice["id"], card, 6000, stack_sandbox.sandbox)
    sync_stack.poll()  # the poll learns of the charge first
    answer = ok(paying.result(), 201)
    assert (answer["status"], answer["splash_txn_id"]) == ("succeeded", txn)
    sync_stack.deliver()
    sync_stack.poll()
    final, entries = books(aws_env, api, practice, invoice["id"])
    assert entries == Counter({("charge", txn): 1})
    assert (final["amount_paid"], final["amount_due"], final["status"]) == (6000, 4000, "partially_paid")


def test_a_late_answer_after_an_alert_applied_the_charge_books_it_once(
    api, aws_env, card_invoice, sync_stack, stack_sandbox
):
    practice, card, invoice = card_invoice("prc_eo_alert")
    sync_stack.deliver()
    fault(stack_sandbox.url, count=2)
    paying, txn = late_payment(api, practice, invoice["id"], card, 6000, stack_sandbox.sandbox)
    deliver_alert(txn)  # the alerts processor applies it first
    answer = ok(paying.result(), 201)
    assert answer["status"] == "succeeded"
    sync_stack.deliver()
    final, entries = books(aws_env, api, practice, invoice["id"])
    assert entries == Counter({("charge", txn): 1})
    assert (final["amount_paid"], final["amount_due"]) == (6000, 4000)


def test_all_answers_lost_after_the_poll_applied_the_charge_keeps_it_settled_and_once(
    api, aws_env, card_invoice, sync_stack, stack_sandbox
):
    practice, card, invoice = card_invoice("prc_eo_lost")
    sync_stack.deliver()
    fault(stack_sandbox.url, count=3)  # every try's answer is lost
    paying, txn = late_payment(api, practice, invoice["id"], card, 6000, stack_sandbox.sandbox)
    sync_stack.poll()
    answer = paying.result().get_json()
    # The API never heard back, but the poll had settled the payment: it is not reset to unknown.
    assert answer["status"] == "succeeded", answer
    payment = ok(api.call("GET", f"/payments/{answer['id']}", practice=practice))
    assert payment["status"] == "succeeded"
    sync_stack.deliver()  # the reconciler and the alerts find nothing left to apply
    sync_stack.poll()
    final, entries = books(aws_env, api, practice, invoice["id"])
    assert entries == Counter({("charge", txn): 1})
    assert (final["amount_paid"], final["amount_due"]) == (6000, 4000)


def test_all_answers_lost_then_the_reconciler_and_an_alert_apply_it_once(
    api, aws_env, card_invoice, sync_stack, stack_sandbox
):
    practice, card, invoice = card_invoice("prc_eo_recon")
    sync_stack.deliver()
    fault(stack_sandbox.url, count=3)
    before = txn_count(stack_sandbox.sandbox)
    answer = ok(
        api.call(
            "POST",
            f"/invoices/{invoice['id']}/payments",
            practice=practice,
            body={"payment_method_id": card, "amount": 6000},
        ),
        202,
    )
    assert answer["status"] == "unknown"
    txn = committed_txn(stack_sandbox.sandbox, before)
    deliver_alert(txn)
    deliver_alert(txn)  # a duplicated alert
    sync_stack.deliver()  # the reconciler's message too
    sync_stack.poll()
    final, entries = books(aws_env, api, practice, invoice["id"])
    assert entries == Counter({("charge", txn): 1})
    assert (final["amount_paid"], final["amount_due"]) == (6000, 4000)


def test_a_lost_refund_answer_after_the_poll_applied_it_refunds_once(
    api, aws_env, card_invoice, sync_stack, stack_sandbox
):
    practice, card, invoice = card_invoice("prc_eo_void")
    payment = ok(
        api.call("POST", f"/invoices/{invoice['id']}/payments", practice=practice, body={"payment_method_id": card}),
        201,
    )
    sync_stack.deliver()
    fault(stack_sandbox.url, count=3)  # every answer to the void is lost
    before = txn_count(stack_sandbox.sandbox)
    voiding = Call(api, "POST", f"/payments/{payment['id']}/refunds", practice=practice, body={"amount": 2500})
    voiding.start()
    void_txn = committed_txn(stack_sandbox.sandbox, before)
    sync_stack.poll()  # the refund is open: the poll finds its txn and applies it first
    answer = voiding.result().get_json()
    assert (answer["kind"], answer["status"]) == ("void", "succeeded"), answer
    sync_stack.deliver()
    sync_stack.poll()
    after = ok(api.call("GET", f"/payments/{payment['id']}", practice=practice))
    assert (after["status"], after["amount_refunded"]) == ("partially_refunded", 2500)
    final, entries = books(aws_env, api, practice, invoice["id"])
    # a partial reverse is money given back: booked as a refund, the balance stays (RefundRecord.books_as)
    assert entries == Counter({("charge", payment["splash_txn_id"]): 1, ("refund", answer["id"]): 1})
    assert (final["amount_paid"], final["amount_refunded"], final["amount_due"]) == (10000, 2500, 0)
    assert void_txn != payment["splash_txn_id"]


def test_a_second_applier_of_the_same_fact_is_refused_by_the_database(api, aws_env, card_invoice):
    """The last line of defence: even a caller that skips the rules cannot book one Splash txn twice."""
    from practicepay.payments.book import AlreadyApplied
    from practicepay.payments.models import PaymentStatus
    from practicepay.payments.wiring import payment_service
    from practicepay.sync.transitions import Kind, Move

    practice, card, invoice = card_invoice("prc_eo_db")
    paid = ok(
        api.call(
            "POST",
            f"/invoices/{invoice['id']}/payments",
            practice=practice,
            body={"payment_method_id": card, "amount": 3000},
        ),
        201,
    )
    book = payment_service().book
    record = book.payment(practice, paid["id"])
    charge_again = Move(Kind.CHARGE, PaymentStatus.SUCCEEDED, held=False, in_flight=False)
    with pytest.raises(AlreadyApplied):
        book.apply(record, charge_again, paid["splash_txn_id"])
    final, entries = books(aws_env, api, practice, invoice["id"])
    assert entries == Counter({("charge", paid["splash_txn_id"]): 1})
    assert final["amount_paid"] == 3000


def test_the_reconciler_waits_for_a_payment_not_at_splash_yet_in_one_log_line(
    api, aws_env, card_invoice, sync_stack, stack_sandbox, capfd, caplog
):
    practice, card, invoice = card_invoice("prc_eo_wait")
    sync_stack.deliver()
    spec = {"kind": "timeout_before_commit", "count": 3, "path": "/txns", "method": "POST", "delay_seconds": 1.3}
    sync_stack.fault(spec)  # nothing reaches Splash, and no answer comes back: unknown
    body = {"payment_method_id": card, "amount": 1000}
    lost = ok(api.call("POST", f"/invoices/{invoice['id']}/payments", practice=practice, body=body), 202)
    sync_stack.clear_faults()
    capfd.readouterr()
    caplog.clear()
    sync_stack.deliver()  # the reconciler finds no txn, within the grace: it waits (SQS offers it again)
    out, err = capfd.readouterr()
    waiting = [r for r in caplog.records if "not at Splash yet" in r.getMessage()]
    assert len(waiting) == 1 and waiting[0].exc_info is None
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert "Traceback" not in out + err
    assert ok(api.call("GET", f"/payments/{lost['id']}", practice=practice))["status"] == "unknown"
