"""The txn states a POST answer or a GET can report that are not a plain success (splash-api.md §6.1, §10), over
the recorded sale body: what each means for our payment and for the invoice's totals (issue #15, item 4)."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from practicepay.invoices.lifecycle import money_status
from practicepay.invoices.models import InvoiceRecord
from practicepay.payments.models import PaymentRecord
from practicepay.splash.client import parse_envelope, parse_record
from practicepay.splash.models import Txn
from practicepay.sync.transitions import Kind, move_for, not_success, on_invoice, partial, target, voided

pytestmark = pytest.mark.unit

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "splash" / "recorded"


def recorded_sale(**changes: Any) -> Txn:
    """The recorded POST /txns sale answer (stringified as recorded), with `changes` applied and our order."""
    fixture = json.loads((RECORDED / "txn_post_sale_stringified.json").read_text())
    raw = copy.deepcopy(parse_envelope(fixture["status"], fixture["body"]).data[0])
    raw.update(order="pay_01", **changes)
    return parse_record(Txn, raw, method="GET")


def payment(status: str, **changes: Any) -> PaymentRecord:
    return PaymentRecord(
        practice_id="prc_t",
        id="pay_01",
        invoice_id="inv_01",
        patient_id="pat_01",
        payment_method_id="pm_01",
        method_kind="card",
        amount=400,
        status=status,
        created_at="2026-11-27T00:00:00.000Z",
        updated_at="2026-11-27T00:00:00.000Z",
        splash_txn_id="t1_txn_627c1db4a5c9f4df02d883d",
        **changes,
    )


def invoice(**money: int) -> InvoiceRecord:
    base = {"amount_paid": 0, "amount_pending": 0, "amount_processing": 0}
    return InvoiceRecord(
        practice_id="prc_t",
        id="inv_01",
        patient_id="pat_01",
        status="open",
        currency="usd",
        due_date="2026-12-31",
        line_items_sealed="eA==",
        line_item_count=1,
        subtotal=400,
        total=400,
        created_at="2026-11-27T00:00:00.000Z",
        updated_at="2026-11-27T00:00:00.000Z",
        **{**base, **money},
    )


def test_the_recorded_sale_is_a_plain_success():
    sale = recorded_sale()
    assert (sale.status, sale.approved, sale.total) == (1, 400, 400)
    assert target(payment("pending"), sale).value == "succeeded"
    assert not_success(sale) is None


def test_approved_then_failed_at_capture_reverses_the_charge_and_reopens_the_invoice():
    failed = recorded_sale(status="2")  # recorded: `approved` set, then status 2
    move = move_for(payment("succeeded"), failed)
    assert (move.kind, move.status.value, move.held, move.in_flight) == (Kind.FAILED_CAPTURE, "failed", False, False)
    paid = invoice(amount_paid=400)
    reopened = on_invoice(move, 400)(replace(paid, status=money_status(paid).value))
    assert (reopened.amount_paid, money_status(reopened).value) == (0, "open")
    assert move_for(payment("failed"), failed) is None  # once: a repeat is no move


def test_a_pending_answer_is_not_decided():
    pending = recorded_sale(status="0", approved="0")
    assert target(payment("pending"), pending) is None
    assert move_for(payment("pending"), pending) is None
    assert move_for(payment("unknown"), pending) is None


@pytest.mark.parametrize("ours", ["pending", "unknown"])
def test_a_partial_approval_is_failed_and_books_nothing(ours):
    half = recorded_sale(approved="200")
    assert partial(half)
    move = move_for(payment(ours), half)
    assert (move.kind, move.status.value, move.held) == (Kind.FAIL, "failed", True)
    held = invoice(amount_pending=400)
    released = on_invoice(move, 400)(held)
    assert (released.amount_pending, released.amount_paid) == (0, 0)
    assert (not_success(half)["category"], not_success(half)["processor_code"]) == ("generic_decline", "010")


def test_a_partly_voided_sale_is_not_a_partial_approval():
    partly_voided = recorded_sale(approved="150", reversed="250")
    assert not partial(partly_voided) and not voided(partly_voided)
    assert move_for(payment("succeeded"), partly_voided) is None
    assert move_for(payment("partially_refunded"), partly_voided) is None


def test_a_risk_hold_waits_until_released_and_fails_when_it_will_not_be_captured():
    held = recorded_sale(reserved=1)
    assert move_for(payment("pending"), held) is None
    released = recorded_sale(reserved=0)
    assert move_for(payment("pending"), released).status.value == "succeeded"
    never = recorded_sale(reserved=3)
    assert move_for(payment("pending"), never).kind is Kind.FAIL
    assert not_success(never)["category"] == "suspected_fraud"
    assert move_for(payment("succeeded"), never).kind is Kind.FAILED_CAPTURE  # booked by mistake: reversed


def test_a_voided_sale_is_never_a_success():
    void = recorded_sale(approved="0", reversed="400")
    assert voided(void)
    assert move_for(payment("succeeded"), void) is None  # the reverse txn carries the money fact
    assert move_for(payment("voided"), void) is None
    move = move_for(payment("unknown"), void)  # never booked: approved and voided nets to nothing
    assert (move.kind, move.status.value, move.held) == (Kind.FAIL, "failed", True)
    assert on_invoice(move, 400)(invoice(amount_pending=400)).amount_paid == 0
