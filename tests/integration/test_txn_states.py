"""The txn states a POST or GET can report that are not a plain success, and refunds and voids made in the
Payrix portal (issue #15, items 4 and 5), over HTTP against the local stack: the sandbox produces each state on
demand (local/sandbox/tables.py CARD_STATE_TRIGGERS), and the books are checked against Splash after each."""

from __future__ import annotations

import pytest

from practicepay.ids import new_id
from practicepay.invoices.store import InvoiceStore
from practicepay.payments.store import PaymentStore
from practicepay.splash.models import Txn, TxnType
from practicepay.splash.outbound import TxnRequest
from practicepay.splash.wiring import splash_client
from practicepay.sync.service import outside_refund_id
from tests.integration.test_money_core import add_card, ledger_matches, new_patient, ok, open_invoice
from tests.integration.test_status_sync import events, invoice, payment

pytestmark = pytest.mark.integration

FAILS_AT_CAPTURE, PENDING, RESERVED, NOT_CAPTURED, PARTIAL = 84890, 84891, 84892, 84893, 84894


def card_payment(api, boarded, practice: str, amount: int, status: int = 201) -> tuple[dict, dict]:
    """A card payment of an invoice of exactly `amount`: the invoice and the answer's body."""
    boarded(practice)
    patient = new_patient(api, practice, f"ehr-{practice}")
    card = add_card(api, practice, patient)
    inv = open_invoice(api, practice, patient, unit_amount=amount)
    resp = api.call(
        "POST", f"/invoices/{inv['id']}/payments", practice=practice, body={"payment_method_id": card["id"]}
    )
    return inv, ok(resp, status)


def ledger(aws_env, practice: str, invoice_id: str) -> list[tuple[str, int]]:
    entries = InvoiceStore(aws_env["INVOICES_TABLE"]).ledger(practice, invoice_id)
    return sorted((e["id"].split("#")[0], e["amount"]) for e in entries)


def kinds(aws_env, practice: str) -> list[str]:
    return [e["type"] for e in events(aws_env, practice)]


def test_a_card_approved_then_failed_at_capture_reverses_the_charge_once(api, aws_env, boarded, sync_stack):
    practice = "prc_state_capture"
    inv, paid = card_payment(api, boarded, practice, FAILS_AT_CAPTURE)
    assert paid["status"] == "succeeded"
    assert invoice(api, practice, inv["id"])["status"] == "paid"
    sync_stack.advance(days=1)  # the batch fails the capture; Splash alerts txn.failed
    failed = payment(api, practice, paid["id"])
    assert failed["status"] == "failed" and failed["failure"]["category"]
    after = invoice(api, practice, inv["id"])
    assert (after["status"], after["amount_paid"], after["amount_due"]) == ("open", 0, FAILS_AT_CAPTURE)
    assert ledger(aws_env, practice, inv["id"]) == [("charge", FAILS_AT_CAPTURE), ("return", -FAILS_AT_CAPTURE)]
    ledger_matches(aws_env, practice, after)
    sync_stack.poll()  # the same truth again: nothing more
    assert ledger(aws_env, practice, inv["id"]) == [("charge", FAILS_AT_CAPTURE), ("return", -FAILS_AT_CAPTURE)]
    assert kinds(aws_env, practice).count("payment.failed") == 1


def test_a_pending_answer_stays_pending_until_splash_approves_it(api, aws_env, boarded, sync_stack):
    practice = "prc_state_pending"
    inv, paid = card_payment(api, boarded, practice, PENDING, status=202)  # not decided yet
    assert paid["status"] == "pending"
    held = invoice(api, practice, inv["id"])
    assert (held["amount_paid"], held["status"]) == (0, "open")
    assert ledger(aws_env, practice, inv["id"]) == []
    sync_stack.advance(days=1)  # approved at the batch: txn.approved
    assert payment(api, practice, paid["id"])["status"] == "succeeded"
    after = invoice(api, practice, inv["id"])
    assert (after["status"], after["amount_paid"]) == ("paid", PENDING)
    ledger_matches(aws_env, practice, after)
    assert kinds(aws_env, practice).count("payment.succeeded") == 1


def test_a_risk_hold_is_not_a_success_until_released(api, aws_env, boarded, sync_stack):
    practice = "prc_state_reserved"
    inv, paid = card_payment(api, boarded, practice, RESERVED, status=202)
    assert paid["status"] == "pending"
    assert invoice(api, practice, inv["id"])["amount_paid"] == 0
    sync_stack.advance(days=1)  # released (an update, no txn.* alert): the poll learns it
    sync_stack.poll()
    assert payment(api, practice, paid["id"])["status"] == "succeeded"
    sync_stack.advance(days=1)  # captured at the next batch
    after = invoice(api, practice, inv["id"])
    assert (after["status"], after["amount_paid"]) == ("paid", RESERVED)
    ledger_matches(aws_env, practice, after)


def test_a_risk_hold_that_will_not_be_captured_fails_the_payment(api, aws_env, boarded, sync_stack):
    practice = "prc_state_notcaptured"
    inv, paid = card_payment(api, boarded, practice, NOT_CAPTURED, status=202)
    assert paid["status"] == "pending"
    sync_stack.advance(days=1)  # reserved 3: will not be captured
    sync_stack.poll()
    failed = payment(api, practice, paid["id"])
    assert (failed["status"], failed["failure"]["category"]) == ("failed", "suspected_fraud")
    after = invoice(api, practice, inv["id"])
    assert (after["status"], after["amount_paid"], after["amount_due"]) == ("open", 0, NOT_CAPTURED)
    assert ledger(aws_env, practice, inv["id"]) == []
    ledger_matches(aws_env, practice, after)
    assert kinds(aws_env, practice).count("payment.failed") == 1


def test_a_partial_approval_is_not_booked_as_paid(api, aws_env, boarded, sync_stack):
    practice = "prc_state_partial"
    inv, problem = card_payment(api, boarded, practice, PARTIAL, status=402)
    payment_id = problem["instance"].rsplit("/", 1)[1]
    declined = payment(api, practice, payment_id)
    failure = declined["failure"]
    assert (declined["status"], failure["category"], failure["processor_code"]) == ("failed", "generic_decline", "010")
    after = invoice(api, practice, inv["id"])
    assert (after["status"], after["amount_paid"], after["amount_due"]) == ("open", 0, PARTIAL)
    assert ledger(aws_env, practice, inv["id"]) == []
    sale = splash_client().get(Txn, declined["splash_txn_id"])
    assert (sale.approved or 0) == 0  # voided at Splash too: it holds no money the books do not show
    sync_stack.advance(days=1)
    sync_stack.poll()
    assert payment(api, practice, payment_id)["status"] == "failed"  # the sync agrees: never a success
    assert ledger(aws_env, practice, inv["id"]) == []


def portal(kind: TxnType, fortxn: str, total: int | None = None) -> Txn:
    """A refund or void made in the Payrix portal: straight to Splash with the API key (no `order`: the derived
    txn inherits the payment's)."""
    return splash_client().txn(TxnRequest(type=kind, fortxn=fortxn, total=total), request_token=new_id("prt"))


def test_a_refund_made_in_the_portal_is_booked_as_a_refund_once(api, aws_env, boarded, sync_stack):
    practice = "prc_state_portal_refund"
    inv, paid = card_payment(api, boarded, practice, 20000)
    sync_stack.advance(days=1)  # captured: refundable
    refund_txn = portal(TxnType.CARD_REFUND, paid["splash_txn_id"], 5000)
    assert refund_txn.order == paid["id"]  # inherited
    sync_stack.deliver()
    refunded = payment(api, practice, paid["id"])
    assert (refunded["status"], refunded["amount_refunded"]) == ("partially_refunded", 5000)
    record = PaymentStore(aws_env["PAYMENTS_TABLE"]).get_refund(practice, paid["id"], outside_refund_id(refund_txn.id))
    assert (record.kind, record.amount, record.status, record.splash_txn_id) == (
        "refund",
        5000,
        "succeeded",
        refund_txn.id,
    )
    after = invoice(api, practice, inv["id"])
    assert (after["amount_paid"], after["amount_refunded"]) == (20000, 5000)
    ledger_matches(aws_env, practice, after)
    sync_stack.poll()  # seen again: once
    assert ledger(aws_env, practice, inv["id"]) == [("charge", 20000), ("refund", -5000)]
    assert kinds(aws_env, practice).count("payment.refunded") == 1


def test_a_void_made_in_the_portal_voids_the_payment_and_reopens_the_invoice(api, aws_env, boarded, sync_stack):
    practice = "prc_state_portal_void"
    inv, paid = card_payment(api, boarded, practice, 20000)
    void_txn = portal(TxnType.CARD_REVERSE, paid["splash_txn_id"], 20000)
    sync_stack.deliver()
    sync_stack.poll()  # the voided sale (status 1, approved 0) too: never a success, never a second reversal
    voided = payment(api, practice, paid["id"])
    assert (voided["status"], voided["amount_refunded"]) == ("voided", 20000)
    after = invoice(api, practice, inv["id"])
    assert (after["status"], after["amount_paid"], after["amount_due"]) == ("open", 0, 20000)
    assert ledger(aws_env, practice, inv["id"]) == [("charge", 20000), ("void", -20000)]
    ledger_matches(aws_env, practice, after)
    assert splash_client().get(Txn, paid["splash_txn_id"]).approved == 0
    assert void_txn.order == paid["id"]
    sync_stack.advance(days=1)  # the voided sale is never captured; nothing changes
    assert payment(api, practice, paid["id"])["status"] == "voided"
    assert kinds(aws_env, practice).count("payment.refunded") == 1
