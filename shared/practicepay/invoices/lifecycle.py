"""The invoice lifecycle in one place (design.md §5): the actions staff take, and the status money implies.

Actions (`ACTIONS`) move an invoice between statuses explicitly; every other move is derived from its money
(`money_status`) after a payment, a refund or a return. Anything not in these tables is refused with 409."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from practicepay.errors import Conflict, ValidationFailed
from practicepay.invoices.models import InvoiceRecord
from practicepay.invoices.models import InvoiceStatus as S

# action -> {from status: to status}
ACTIONS: dict[str, dict[S, S]] = {
    "issue": {S.DRAFT: S.OPEN},
    "cancel": {S.DRAFT: S.CANCELED, S.OPEN: S.CANCELED},
    "write_off": {S.OPEN: S.UNCOLLECTIBLE, S.PARTIALLY_PAID: S.UNCOLLECTIBLE},
}
_DONE = {"issue": "issued", "cancel": "canceled", "write_off": "written off"}
# Statuses in which a patient may pay.
PAYABLE = frozenset({S.OPEN, S.PARTIALLY_PAID, S.IN_PROGRESS, S.PROCESSING})
# Statuses whose money may still change status on its own (payments, refunds, returns).
MONEY_DRIVEN = frozenset(
    {S.OPEN, S.PARTIALLY_PAID, S.IN_PROGRESS, S.PROCESSING, S.PAID, S.PARTIALLY_REFUNDED, S.REFUNDED}
)


def act(invoice: InvoiceRecord, action: str, now: str, **changes: object) -> InvoiceRecord:
    current = S(invoice.status)
    target = ACTIONS[action].get(current)
    if target is None:
        allowed = " or ".join(sorted(s.value for s in ACTIONS[action]))
        raise Conflict(f"An invoice can be {_DONE[action]} only while {allowed}; this one is {current.value}.")
    if action == "cancel" and (invoice.amount_paid or invoice.amount_pending):
        raise Conflict("An invoice with payments cannot be canceled; refund the payments or write it off instead.")
    if action == "write_off" and invoice.amount_pending:
        raise Conflict("A payment on this invoice is still in flight; write it off once that payment has settled.")
    return replace(invoice, status=target.value, updated_at=now, version=invoice.version + 1, **changes)


def money_status(invoice: InvoiceRecord) -> S:
    """The status an invoice's money implies. Refunds do not reopen a balance (they are adjustments). A balance
    being collected by a payment plan or a membership's autopay is `in_progress`."""
    current = S(invoice.status)
    if current not in MONEY_DRIVEN:
        return current
    paid, refunded = invoice.amount_paid, invoice.amount_refunded
    if invoice.amount_processing > 0:
        return S.PROCESSING
    if paid >= invoice.total:
        if refunded >= paid:
            return S.REFUNDED
        return S.PARTIALLY_REFUNDED if refunded else S.PAID
    if invoice.plan_id:
        return S.IN_PROGRESS
    return S.PARTIALLY_PAID if paid > 0 else S.OPEN


# Statuses in which a balance is owed (a payment in flight does not make an invoice past due).
OWING = frozenset({S.OPEN, S.PARTIALLY_PAID, S.IN_PROGRESS})


def past_due(invoice: InvoiceRecord, today: date) -> bool:
    """Owed after its due date: what an ACH return reopens, and what collections act on. An invoice on a plan is
    due installment by installment: each installment says whether it is past due."""
    if invoice.plan_id:
        return False
    balance = invoice.total - invoice.amount_paid - invoice.amount_written_off
    return S(invoice.status) in OWING and balance > 0 and date.fromisoformat(invoice.due_date) < today


def require_payable(invoice: InvoiceRecord, amount: int) -> None:
    if S(invoice.status) not in PAYABLE:
        raise Conflict(f"This invoice is {invoice.status}; only an issued invoice with a balance can be paid.")
    balance = invoice.total - invoice.amount_paid - invoice.amount_pending
    if amount > balance:
        raise ValidationFailed(
            f"The amount {amount} is more than the balance of {balance} cents"
            + (" (other payments are in flight)" if invoice.amount_pending else "")
            + ".",
            errors=[{"field": "amount", "message": f"amount must be at most {balance}"}],
        )
