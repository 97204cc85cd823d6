"""What a payment's outcome means for the installment it pays (pure rules, and the follower that writes them).

The payment book calls the follower inside the transaction that moves the money, so an installment can never
say `paid` for a payment that is not, nor miss a decline: a card, an eCheck settling hours later, a bank return
days later all land here, whichever path (API, charge worker, alert, poll, reconciler) learned of them.

- a new attempt → `processing`
- succeeded → `paid` (installment.paid)
- a soft card decline → `failed` with the next try on the practice's schedule (+1, +3, +7 days from the first
  attempt by default); a hard decline, or the schedule used up → `past_due` (installment.failed, invoice.past_due)
- a stop-recurring decline (the cardholder told the issuer to stop recurring payments, or revoked the merchant's
  authorization) → `past_due` at once, and the card is blocked in the same transaction, as a bank return blocks a
  bank account: autopay never charges it again (a later installment on it is past due as not chargeable)
- an R01/R09 return → `failed` with a re-presentment (eCheck redeposit) after the configured delay, at most
  twice within 180 days; any other return → `past_due` (the sync has already blocked the bank account)
- nothing was submitted (Splash refused or never answered) → `failed`, the same attempt sent again next day"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from practicepay.billing import seen
from practicepay.billing.models import InstallmentRecord
from practicepay.billing.schedule import RetryPolicy
from practicepay.observability import logger
from practicepay.payments.models import not_submitted
from practicepay.splash.declines import STOPS_AUTOPAY
from practicepay.sync.returns import REPRESENTABLE

if TYPE_CHECKING:  # the follower is handed its store and its transaction; the rules do no I/O
    from practicepay.adapters.dynamo import Transaction
    from practicepay.billing.store import ScheduleStore
    from practicepay.patients.store import PatientStore
    from practicepay.payments.models import PaymentRecord

Event = tuple[str, dict[str, Any]]
IN_FLIGHT = frozenset({"pending", "processing", "unknown"})
MAX_RESENDS = 3
"""How many days running an attempt Splash refused or never received is sent again before it is past due."""


def react(
    inst: InstallmentRecord, before: PaymentRecord | None, after: PaymentRecord, now: str
) -> tuple[InstallmentRecord, list[Event]] | None:
    """The installment after its payment moved from `before` (None: just recorded) to `after`, and the events that
    announce it; None when the move changes nothing for the installment."""
    attempt = after.installment or {}
    if before is None:
        on = attempt.get("on") or now[:10]
        return replace(
            inst,
            status="processing",
            payment_id=after.id,
            attempts=inst.attempts + 1,
            attempted_on=on,
            first_attempt_on=inst.first_attempt_on or on,
            next_attempt_on=None,
            redeposit_of=None,
            failure=None,
        ), []
    if after.id != inst.payment_id:
        return None  # an earlier attempt's late news: the installment has moved on
    code_learned = _code_learned(before, after)
    if before.status == after.status and not code_learned:
        return None
    if after.status in IN_FLIGHT:
        return (replace(inst, status="processing"), []) if inst.status != "processing" else None
    if after.status == "succeeded":
        paid = replace(inst, status="paid", paid_at=now, failure=None, next_attempt_on=None, redeposit_of=None)
        return paid, [("installment.paid", installment_detail(paid))]
    if after.status == "failed":
        return _after_decline(inst, after)
    if after.status == "returned":
        if code_learned and inst.status != "past_due":
            return None  # the return was already acted on with its code
        return _after_return(inst, after)
    return None  # refunds and voids are adjustments, not collection outcomes


def _after_decline(inst: InstallmentRecord, payment: PaymentRecord) -> tuple[InstallmentRecord, list[Event]]:
    failure = payment.failure or {}
    category = failure.get("category", "generic_decline")
    attempted = date.fromisoformat(inst.attempted_on or inst.due_on)
    info: dict[str, Any] = {"category": category, "message": failure.get("processor_text", "")}
    if not_submitted(failure):  # nothing reached Splash: the same attempt goes again tomorrow, a few times
        resends = (inst.failure or {}).get("resends", 0) + 1
        nxt: date | None = attempted + timedelta(days=1) if resends <= MAX_RESENDS else None
        info.update(resend=True, resends=resends)
    else:
        first = date.fromisoformat(inst.first_attempt_on or inst.due_on)
        nxt = (
            RetryPolicy.from_record(inst.policy).next_card_retry(first, inst.attempts)
            if failure.get("retryable") and not stops_autopay(payment)
            else None
        )
    return _retry_or_past_due(inst, nxt, info, redeposit_of=None)


def stops_autopay(payment: PaymentRecord) -> bool:
    """Whether the payment's decline forbids charging its method by autopay again (stop recurring)."""
    return payment.status == "failed" and (payment.failure or {}).get("category") in STOPS_AUTOPAY


def _after_return(inst: InstallmentRecord, payment: PaymentRecord) -> tuple[InstallmentRecord, list[Event]]:
    info_in = payment.return_info or {}
    code = info_in.get("code")
    nxt = None
    if code in REPRESENTABLE:
        first = date.fromisoformat(inst.first_attempt_on or inst.due_on)
        presented = date.fromisoformat(inst.attempted_on or inst.due_on)
        nxt = RetryPolicy.from_record(inst.policy).next_redeposit(first, presented, inst.redeposits)
    info = {"category": info_in.get("category", "other"), "code": code, "message": info_in.get("message", "")}
    return _retry_or_past_due(inst, nxt, info, redeposit_of=payment.id if nxt else None)


def _retry_or_past_due(
    inst: InstallmentRecord, nxt: date | None, info: dict[str, Any], *, redeposit_of: str | None
) -> tuple[InstallmentRecord, list[Event]]:
    info = {k: v for k, v in {**info, "will_retry": nxt is not None}.items() if v is not None}
    if nxt is not None:
        failed = replace(
            inst,
            status="failed",
            failure=info,
            next_attempt_on=nxt.isoformat(),
            redeposit_of=redeposit_of,
            redeposits=inst.redeposits + (1 if redeposit_of else 0),
        )
        return failed, [("installment.failed", installment_detail(failed))]
    late = replace(inst, status="past_due", failure=info, next_attempt_on=None, redeposit_of=None)
    return late, [("installment.failed", installment_detail(late)), past_due_event(late)]


def past_due_event(inst: InstallmentRecord) -> Event:
    return (
        "invoice.past_due",
        {
            "invoice_id": inst.invoice_id,
            "patient_id": inst.patient_id,
            "installment_id": inst.id,
            "amount": inst.amount,
            "due_on": inst.due_on,
        },
    )


def installment_detail(inst: InstallmentRecord) -> dict[str, Any]:
    """An installment event's detail: ids, amounts, dates and reason codes, never PHI."""
    detail: dict[str, Any] = {
        "installment_id": inst.id,
        ("subscription_id" if inst.owner_id.startswith("sub_") else "plan_id"): inst.owner_id,
        "seq": inst.seq,
        "invoice_id": inst.invoice_id,
        "patient_id": inst.patient_id,
        "amount": inst.amount,
        "due_on": inst.due_on,
        "status": inst.status,
        "attempts": inst.attempts,
    }
    if inst.payment_id:
        detail["payment_id"] = inst.payment_id
    if inst.failure:
        detail.update(
            {f"failure_{k}": v for k, v in inst.failure.items() if k in ("category", "code")},
            will_retry=inst.failure.get("will_retry", False),
        )
    if inst.next_attempt_on:
        detail["next_attempt_on"] = inst.next_attempt_on
    return detail


Emit = Callable[[str, dict[str, Any]], None]
COLLECTION = IN_FLIGHT | {"succeeded", "failed", "returned"}


def _may_move(before: PaymentRecord | None, after: PaymentRecord) -> bool:
    """Whether the change can matter to the installment (refunds never do), before reading it."""
    if before is None:
        return True
    return after.status in COLLECTION and (before.status != after.status or _code_learned(before, after))


def _code_learned(before: PaymentRecord, after: PaymentRecord) -> bool:
    """A returned payment whose R-code Splash recorded only after the return (sync._complete_return)."""
    had, has = (before.return_info or {}).get("code"), (after.return_info or {}).get("code")
    return before.status == after.status == "returned" and not had and bool(has)


@dataclass
class InstallmentFollower:
    """Called by PaymentBook.commit for every payment it writes: an installment's payment moves its installment
    in the same transaction (guarded by the installment's version). During a charge the installment comes as the
    charge worker read it, or as this follower last wrote it (billing.seen), instead of being read again."""

    store: ScheduleStore
    patients: PatientStore
    """Where a stop-recurring decline blocks the card."""

    def __call__(
        self, before: PaymentRecord | None, after: PaymentRecord, tx: Transaction, now: str, emit: Emit
    ) -> None:
        ref = (after.installment or {}).get("id")
        if not ref or not _may_move(before, after):
            return
        inst = seen.recall(after.practice_id, ref, before)
        if inst is None:
            inst = self.store.get_installment(after.practice_id, ref)
            if inst is None:
                logger.error("payment names an installment that does not exist", payment_id=after.id)
                return
            seen.remember(inst)
        outcome = react(inst, before, after, now)
        if outcome is None:
            return
        changed, events = outcome
        changed = replace(changed, version=inst.version + 1, updated_at=now)
        self.store.put_installment(tx, changed, expected_version=inst.version)
        if stops_autopay(after):
            reason = f"stop_recurring: {(after.failure or {}).get('processor_text') or 'stop recurring payments'}"
            self.patients.block_method(tx, after.practice_id, after.payment_method_id, reason)
            logger.warning("card blocked for autopay: stop recurring", payment_id=after.id, installment=inst.id)
        seen.wrote(inst, changed, after)
        for detail_type, detail in events:
            emit(detail_type, detail)
