"""From Splash's truth about a txn to the move our payment makes (pure: no I/O, so every pair is tested).

Splash's txn status gives what the payment is now: a card sale is `succeeded` once approved; an eCheck is
`processing` until its batch settles, `succeeded` then, and `returned` if the bank sends it back (even after
settlement). A move only goes forward: pending/unknown → failed | processing | succeeded | returned,
processing → succeeded | returned, succeeded (or partially refunded, refunded) → returned, a succeeded card →
failed (approved, then failed at capture: the charge is reversed). Anything else (a
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
    FAILED_CAPTURE = "failed_capture"  # a card sale approved (booked) then failed at capture: the charge reversed


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
    """The status the txn's truth means for this payment; None while Splash has not decided (pending, or held
    for risk review). Not a plain success (splash-api.md §10): a partial approval (we never send allowPartial:
    the payment is failed, nothing is booked), a risk hold (`reserved`: undecided until released, failed once
    3, "will not be captured")."""
    status = txn.txn_status
    card = payment.method_kind == "card"
    if status is TxnStatus.FAILED or reserved(txn) == RESERVED_NOT_CAPTURED:
        return P.FAILED
    if status is TxnStatus.RETURNED:
        return P.SUCCEEDED if card else P.RETURNED  # cards have no returns (chargebacks are disputes)
    if partial(txn):
        return P.FAILED
    if reserved(txn):
        return None
    if status is TxnStatus.SETTLED:
        return P.SUCCEEDED
    if status in (TxnStatus.APPROVED, TxnStatus.CAPTURED):
        return P.SUCCEEDED if card else P.PROCESSING
    return None


RESERVED_NOT_CAPTURED = 3
PARTIAL_CODE = "010"  # Vantiv's "partially approved" (splash-api.md §6.1): how a failure says it was a partial


def reserved(txn: Txn) -> int:
    """Splash's risk hold on a txn (`reserved`, an unmodelled field): 0 when none, 3 "will not be captured"."""
    try:
        return int(getattr(txn, "reserved", None) or 0)
    except (TypeError, ValueError):
        return 0


def voided(txn: Txn) -> bool:
    """A sale reversed in full: it stays status 1 with `approved` dropping to 0 (splash-api.md §6.1). The reverse
    txn carries the money fact, not the sale."""
    if txn.txn_status is not TxnStatus.APPROVED or txn.type not in (TxnType.CARD_SALE, TxnType.CARD_AUTH):
        return False
    return txn.approved == 0


def partial(txn: Txn) -> bool:
    """Approved for less than its total (a partial approval): what was approved, counting what a void took off
    `approved` since (`reversed`), is below the total."""
    if txn.approved is None or txn.total is None or txn.txn_status is TxnStatus.PENDING:
        return False
    return 0 < txn.approved + (txn.reversed or 0) < txn.total


def not_success(txn: Txn) -> dict[str, object] | None:
    """The failure we record for a txn Splash approved but that is not a plain success, in the event schema's
    categories: a risk hold that will not be captured (suspected_fraud), a partial approval (generic_decline with
    processor code 010); None for any other txn (a decline's reason comes from txnResults)."""
    if reserved(txn) == RESERVED_NOT_CAPTURED:
        text = "Held for risk review by the processor and will not be captured: nothing was charged."
        return {"category": "suspected_fraud", "processor_text": text, "retryable": False}
    if txn.txn_status is TxnStatus.FAILED:
        return None
    if partial(txn):
        text = (
            f"Approved for {txn.approved} of {txn.total} cents only (a partial approval, which PracticePay does "
            "not accept): not booked as paid. The partial authorization must be voided in the Payrix portal."
        )
        why = {"category": "generic_decline", "processor_text": text, "processor_code": PARTIAL_CODE}
        return {**why, "retryable": False}
    return None


# A settled eCheck, partly or wholly refunded since or not: what a bank return reverses.
_SETTLED_DEBIT = frozenset({P.SUCCEEDED, P.PARTIALLY_REFUNDED, P.REFUNDED})


def move_for(payment: PaymentRecord, txn: Txn) -> Move | None:
    if voided(txn):  # the void's own txn is the money fact (a refund); an unbooked payment nets to nothing
        current = P(payment.status)
        return Move(Kind.FAIL, P.FAILED, True, False) if current in (P.PENDING, P.UNKNOWN) else None
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
    if current is P.SUCCEEDED and to is P.FAILED and payment.method_kind == "card":
        return Move(Kind.FAILED_CAPTURE, P.FAILED, False, False)  # approved, then failed at capture
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
        elif move.kind in (Kind.RETURN, Kind.FAILED_CAPTURE):
            paid -= amount
        return replace(invoice, amount_pending=pending, amount_paid=paid, amount_processing=processing)

    return change
