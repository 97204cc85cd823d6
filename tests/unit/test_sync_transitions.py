"""Splash's truth → our payment's move: every (payment status, txn status, kind) pair, and the invoice totals
each move leaves."""

from __future__ import annotations

from dataclasses import replace

import pytest

from practicepay.invoices.lifecycle import money_status
from practicepay.invoices.models import InvoiceRecord
from practicepay.payments.models import PaymentRecord
from practicepay.splash.models import Txn
from practicepay.sync import returns
from practicepay.sync.transitions import Kind, move_for, on_invoice

pytestmark = pytest.mark.unit

APPROVED, FAILED, CAPTURED, SETTLED, RETURNED, PENDING = 1, 2, 3, 4, 5, 0


def payment(status: str, kind: str = "bank_account", **changes) -> PaymentRecord:
    return PaymentRecord(
        practice_id="prc_t",
        id="pay_01",
        invoice_id="inv_01",
        patient_id="pat_01",
        payment_method_id="pm_01",
        method_kind=kind,
        amount=5000,
        status=status,
        created_at="2026-11-27T00:00:00.000Z",
        updated_at="2026-11-27T00:00:00.000Z",
        **changes,
    )


def txn(status: int, kind: str = "bank_account", **fields) -> Txn:
    return Txn(
        id="t1_txn_1", type=7 if kind == "bank_account" else 1, status=status, total=5000, order="pay_01", **fields
    )


@pytest.mark.parametrize(
    ("ours", "kind", "theirs", "expected"),
    [
        ("pending", "card", APPROVED, ("charge", "succeeded")),
        ("unknown", "card", SETTLED, ("charge", "succeeded")),
        ("unknown", "card", FAILED, ("fail", "failed")),
        ("unknown", "bank_account", APPROVED, ("charge", "processing")),
        ("unknown", "bank_account", SETTLED, ("charge", "succeeded")),
        ("unknown", "bank_account", RETURNED, ("charge_and_return", "returned")),
        ("processing", "bank_account", CAPTURED, None),
        ("processing", "bank_account", SETTLED, ("settle", "succeeded")),
        ("processing", "bank_account", RETURNED, ("return", "returned")),
        ("succeeded", "bank_account", RETURNED, ("return", "returned")),
        ("partially_refunded", "bank_account", RETURNED, ("return", "returned")),  # refunded, then returned
        ("refunded", "bank_account", RETURNED, ("return", "returned")),
        ("succeeded", "bank_account", SETTLED, None),  # a repeat
        ("succeeded", "bank_account", APPROVED, None),  # never backwards
        ("returned", "bank_account", RETURNED, None),
        ("returned", "bank_account", SETTLED, None),
        ("failed", "card", APPROVED, None),  # a decline is final
        ("voided", "card", APPROVED, None),  # refunds own these
        ("refunded", "card", SETTLED, None),
        ("unknown", "card", PENDING, None),
        ("succeeded", "card", RETURNED, None),  # cards have no returns
    ],
)
def test_moves(ours, kind, theirs, expected):
    move = move_for(payment(ours, kind), txn(theirs, kind))
    assert (move.kind.value, move.status.value) == expected if expected else move is None


def test_a_payment_failed_as_not_submitted_is_charged_if_splash_has_it_after_all():
    unsent = payment("failed", "card", failure={"category": "not_submitted"})
    move = move_for(unsent, txn(APPROVED, "card"))
    assert move.kind is Kind.CHARGE and not move.held  # its hold was already released


def invoice(**money) -> InvoiceRecord:
    base = {"amount_paid": 0, "amount_pending": 0, "amount_processing": 0}
    return InvoiceRecord(
        practice_id="prc_t",
        id="inv_01",
        patient_id="pat_01",
        status="open",
        currency="usd",
        due_date="2026-12-31",
        line_items_sealed="eA==",  # base64 of b"x"
        line_item_count=1,
        subtotal=5000,
        total=5000,
        created_at="2026-11-27T00:00:00.000Z",
        updated_at="2026-11-27T00:00:00.000Z",
        **{**base, **money},
    )


def after(move_args: tuple[str, int], inv: InvoiceRecord) -> InvoiceRecord:
    ours, theirs = move_args
    changed = on_invoice(move_for(payment(ours), txn(theirs)), 5000)(inv)
    return replace(changed, status=money_status(changed).value)


def test_invoice_totals_follow_each_move():
    held = invoice(amount_pending=5000)
    charged = after(("unknown", APPROVED), held)
    assert (charged.amount_pending, charged.amount_paid, charged.amount_processing, charged.status) == (
        0,
        5000,
        5000,
        "processing",
    )
    settled = after(("processing", SETTLED), replace(charged, status="processing"))
    assert (settled.amount_paid, settled.amount_processing, settled.status) == (5000, 0, "paid")
    returned = after(("succeeded", RETURNED), replace(settled, status="paid"))
    assert (returned.amount_paid, returned.amount_processing, returned.status) == (0, 0, "open")
    both = after(("unknown", RETURNED), held)
    assert (both.amount_pending, both.amount_paid, both.status) == (0, 0, "open")


@pytest.mark.parametrize(
    ("code", "action", "category", "blocks"),
    [
        ("R01", "nsf", "nsf", False),
        ("R09", None, "nsf", False),
        ("R02", "badAccount", "bad_account", True),
        ("R03", None, "bad_account", True),
        ("R04", None, "bad_account", True),
        ("R07", None, "unauthorized", True),
        ("R08", None, "unauthorized", True),
        ("R10", "unauthorized", "unauthorized", True),
        ("R16", None, "bad_account", True),
        ("R20", None, "bad_account", True),
        ("R29", None, "unauthorized", True),
        ("R06", None, "other", True),
    ],
)
def test_return_codes(code, action, category, blocks):
    assert returns.category(code, action) == category
    assert returns.blocks_method(code) is blocks


def test_a_returned_payment_makes_an_overdue_invoice_past_due_again():
    from datetime import date

    from practicepay.invoices.lifecycle import past_due

    paid = replace(invoice(amount_paid=5000), status="paid")
    reopened = after(("succeeded", RETURNED), paid)
    assert reopened.status == "open"
    assert past_due(reopened, date(2027, 1, 1)) is True
    assert past_due(reopened, date(2026, 12, 31)) is False  # due that day: not yet past due
    assert past_due(paid, date(2027, 1, 1)) is False
    assert past_due(replace(reopened, status="processing"), date(2027, 1, 1)) is False


def test_the_rules_are_pure_they_load_without_boto3():
    """The records and their rules live in models, not in store modules: the transition table and the invoice
    lifecycle import no AWS SDK (so they are tested, and reasoned about, with no I/O)."""
    import subprocess
    import sys

    code = "import sys, practicepay.invoices.lifecycle, practicepay.sync.transitions; print('boto3' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
