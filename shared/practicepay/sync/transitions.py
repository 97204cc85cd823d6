"""From Splash's truth about a txn to the move our payment makes (pure: no I/O, so every pair is tested).

Splash's txn status gives what the payment is now: a card sale is `succeeded` once approved; an eCheck is
`processing` until its batch settles, `succeeded` then, and `returned` if the bank sends it back (even after
settlement). A move only goes forward: pending/unknown → failed | processing | succeeded | returned,
processing → succeeded | returned, succeeded (or partially refunded, refunded) → returned. Anything else (a
stale or repeated view, a status we already hold) is no move, so applying the same truth twice changes
nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum

from practicepay.invoices.models import InvoiceRecord
from practicepay.payments.models import PaymentRecord, not_submitted
from practicepay.payments.models import PaymentStatus as P
from practicepay.splash.models import Txn, TxnStatus, TxnType

# What a payment of each kind sends (a bank account's may re-present a returned eCheck: a redeposit).
PAYMENT_TXN_TYPES = {"card": {TxnType.CARD_SALE}, "bank_account": {TxnType.ECHECK_SALE, TxnType.ECHECK_REDEPOSIT}}


class Kind(StrEnum):
    CHARGE = "charge"  # the money moved: approved (card, eCheck) or settled
    FAIL = "fail"  # declined
    SETTLE = "settle"  # an eCheck in flight settled
    RETURN = "return"  # the bank sent a debit back
    CHARGE_AND_RETURN = "charge_and_return"  # we learned of both at once (an unknown payment, returned since)


@dataclass(frozen=True)
class Move:
    kind: Kind
    status: P
    """The payment's status after the move."""
    held: bool
    """The invoice holds the amount as pending (a payment sent but not answered): the move releases it."""
    in_flight: bool
    """Part of amount_processing before the move (an eCheck not settled)."""


def target(payment: PaymentRecord, txn: Txn) -> P | None:
    """The status the txn's truth means for this payment; None while Splash has not decided."""
    status = txn.txn_status
    card = payment.method_kind == "card"
    if status is TxnStatus.FAILED:
        return P.FAILED
    if status is TxnStatus.RETURNED:
        return P.SUCCEEDED if card else P.RETURNED  # cards have no returns (chargebacks are disputes)
    if status is TxnStatus.SETTLED:
        return P.SUCCEEDED
    if status in (TxnStatus.APPROVED, TxnStatus.CAPTURED):
        return P.SUCCEEDED if card else P.PROCESSING
    return None


# A settled eCheck, partly or wholly refunded since or not: what a bank return reverses.
_SETTLED_DEBIT = frozenset({P.SUCCEEDED, P.PARTIALLY_REFUNDED, P.REFUNDED})


def move_for(payment: PaymentRecord, txn: Txn) -> Move | None:
    to = target(payment, txn)
    return None if to is None else move_to(payment, to)


def move_to(payment: PaymentRecord, to: P) -> Move | None:
    """The move from the payment's status to `to` (what Splash says it is now), or None: no move is left (the
    outcome is applied already, or would go backwards). `unknown` is not a target: it is entered only from
    `pending`, when an answer is lost (PaymentBook.mark_unknown)."""
    current = P(payment.status)
    unsent = current is P.FAILED and not_submitted(payment.failure)
    if current in (P.PENDING, P.UNKNOWN) or unsent:
        held = not unsent
        if to is P.FAILED:
            return None if unsent else Move(Kind.FAIL, P.FAILED, held, False)
        if to is P.RETURNED:
            return Move(Kind.CHARGE_AND_RETURN, P.RETURNED, held, False)
        return Move(Kind.CHARGE, to, held, False)
    if current is P.PROCESSING:
        if to is P.SUCCEEDED:
            return Move(Kind.SETTLE, P.SUCCEEDED, False, True)
        if to in (P.RETURNED, P.FAILED):  # an approved eCheck that never settled is reversed like a return
            return Move(Kind.RETURN, P.RETURNED, False, True)
        return None
    if current in _SETTLED_DEBIT and to is P.RETURNED:  # a bank can return a debit weeks later, refunds or not
        return Move(Kind.RETURN, P.RETURNED, False, False)
    return None


def on_invoice(move: Move, amount: int) -> Callable[[InvoiceRecord], InvoiceRecord]:
    """The invoice's totals after the move (its status follows from them: lifecycle.money_status)."""

    def change(invoice: InvoiceRecord) -> InvoiceRecord:
        pending = invoice.amount_pending - (amount if move.held else 0)
        paid, processing = invoice.amount_paid, invoice.amount_processing - (amount if move.in_flight else 0)
        if move.kind is Kind.CHARGE:
            paid += amount
            processing += amount if move.status is P.PROCESSING else 0
        elif move.kind is Kind.RETURN:
            paid -= amount
        return replace(invoice, amount_pending=pending, amount_paid=paid, amount_processing=processing)

    return change
