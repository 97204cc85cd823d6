"""The dashboard's "Today" screen as records and pure rules (issue #20; practicepay.staff.attention reads the
stores): the day's payments by channel, the deposits on their way, and the attention queue, each item saying what
needs a person, by when, and the dashboard page where it is fixed.

No item carries a patient's name or any other PHI (not even a masked address): titles and details are built from
ids, dates, amounts, statuses, reason codes and a method's last four digits; the page fills names in by
`patient_id`. Every kind is capped at CAP_PER_KIND items (the
kinds that reached it are listed in `Today.capped`, so the page can say "and more")."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from practicepay.billing.models import InstallmentRecord
from practicepay.cards.models import expires_before
from practicepay.disputes.models import DisputeRecord
from practicepay.messages.models import MessageRecord
from practicepay.patients.store import MethodRecord
from practicepay.paylinks.models import PayLinkRecord
from practicepay.payments.models import PaymentRecord
from practicepay.reports.service import ulid_time

CAP_PER_KIND = 50
"""At most this many items of one kind in the queue (the oldest or soonest first, as each kind is read)."""
MAX_PAYMENTS_TODAY = 5000
"""The day's payments counted at most (a practice takes far fewer); `PaymentsToday.complete` says if it reached it."""
CHANNELS = ("desk", "pay_page", "autopay", "api")
"""Where a payment was asked for (PaymentRecord.channel): staff at the desk, the patient through a pay link, a
plan's or membership's scheduled charge, or the clinical platform through the API."""
TAKEN = frozenset({"succeeded", "processing", "partially_refunded", "refunded"})
"""Statuses of a payment that was taken (an eCheck approved and not yet settled included; refunds later do not
undo that it was taken today)."""
PENDING_DEPOSIT = frozenset({"requested", "processing"})
"""Deposit statuses still on their way to the practice's bank account."""
OPTED_OUT_REASONS = frozenset({"stopped", "bounced", "complained"})
"""A suppressed message's reasons that mean the address takes no messages any more (the opt-out ledger's, and staff
recording a STOP): the patient needs a new address or to text START."""
LOCK_EVENTS = ("pay_link.locked", "pay_link.revoked")
LOCK_LOOKBACK_DAYS = 7
"""A pay link revoked for wrong identity answers stays in the queue this long (a lock lasts 15 minutes)."""


class Kind(StrEnum):
    UNKNOWN_OUTCOME = "unknown_outcome"
    FAILED_AUTOPAY = "failed_autopay"
    PAST_DUE_INSTALLMENT = "past_due_installment"
    BLOCKED_BANK_ACCOUNT = "blocked_bank_account"
    CARD_EXPIRING = "card_expiring"
    DISPUTE = "dispute"
    UNDELIVERABLE = "undeliverable"
    LOCKED_PAY_LINK = "locked_pay_link"


_RANK = {kind: n for n, kind in enumerate(Kind)}


@dataclass(frozen=True)
class AttentionItem:
    kind: Kind
    title: str
    detail: str
    amount: int | None
    """Integer cents at stake, when there is an amount."""
    due: date | None
    """By when it must be handled: a retry's date, a due date, a dispute's reply-by, a card's next charge."""
    patient_id: str | None
    invoice_id: str | None
    link: str
    """The dashboard page where it is fixed."""


@dataclass(frozen=True)
class ChannelTotal:
    channel: str
    count: int
    amount: int
    """Integer cents."""


@dataclass(frozen=True)
class PaymentsToday:
    day: date
    """The practice's local day."""
    time_zone: str
    channels: tuple[ChannelTotal, ...]
    """One per CHANNELS, in that order (zeros included)."""
    count: int
    amount: int
    complete: bool = True
    """False when the day had more than MAX_PAYMENTS_TODAY payments (the totals are of the first ones)."""


@dataclass(frozen=True)
class PendingDeposit:
    id: str
    status: str
    amount: int
    deposited_on: str
    link: str


@dataclass(frozen=True)
class ExpectedDeposits:
    pending: tuple[PendingDeposit, ...]
    """Deposits Splash made that have not reached the bank yet (requested, processing)."""
    pending_amount: int
    undeposited_count: int
    undeposited_amount: int
    """Payments that succeeded more than `undeposited_after_days` ago and reached no deposit (the deposits
    report's own figure, practicepay.deposits.service.DepositService.report)."""
    undeposited_after_days: int


@dataclass(frozen=True)
class Today:
    practice_id: str
    payments: PaymentsToday
    deposits: ExpectedDeposits
    attention: list[AttentionItem]
    """Sorted by `sort_key`: unknown outcomes first, then soonest due."""
    capped: tuple[Kind, ...] = field(default=())
    """Kinds that had more than CAP_PER_KIND items (or more than a bounded read could reach)."""


# -- the day ------------------------------------------------------------------------------------------------------


def local_day(now: datetime, zone: str) -> tuple[date, datetime, datetime]:
    """The practice's day at `now` in its IANA `zone`, and its first and last instant in UTC (a day is 23 or 25
    hours when the clocks change)."""
    tz = ZoneInfo(zone)
    day = now.astimezone(tz).date()
    start = datetime.combine(day, time.min, tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time.min, tz).astimezone(UTC) - timedelta(milliseconds=1)
    return day, start, end


def payment_id_span(start: datetime, end: datetime) -> tuple[str, str]:
    """The lowest payment id possible at `start` and the highest at `end` (both included, ms precision): payment ids
    are ULIDs of their creation time (practicepay.reports.service's bounds, by the instant instead of the UTC day)."""

    def ms(moment: datetime) -> int:
        return int(moment.timestamp() * 1000)

    return f"pay_{ulid_time(ms(start))}{'0' * 16}", f"pay_{ulid_time(ms(end))}{'z' * 16}"


def by_channel(day: date, zone: str, payments: Iterable[PaymentRecord], complete: bool = True) -> PaymentsToday:
    """Counts and cents of the payments taken (TAKEN) per channel; a channel not in CHANNELS counts as `api`."""
    sums = {channel: [0, 0] for channel in CHANNELS}
    for p in payments:
        if p.status not in TAKEN:
            continue
        slot = sums[p.channel if p.channel in sums else "api"]
        slot[0] += 1
        slot[1] += p.amount
    totals = tuple(ChannelTotal(c, n, cents) for c, (n, cents) in sums.items())
    return PaymentsToday(
        day=day,
        time_zone=zone,
        channels=totals,
        count=sum(t.count for t in totals),
        amount=sum(t.amount for t in totals),
        complete=complete,
    )


# -- links ------------------------------------------------------------------------------------------------------


def invoice_link(invoice_id: str) -> str:
    return f"/dashboard/invoices/{invoice_id}"


def patient_link(patient_id: str) -> str:
    return f"/dashboard/patients/{patient_id}"


def dispute_link(dispute_id: str) -> str:
    return f"/dashboard/disputes/{dispute_id}"


def deposit_link(deposit_id: str) -> str:
    return f"/dashboard/deposits/{deposit_id}"


# -- the items (one rule per kind) -----------------------------------------------------------------------------


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value[:10]) if value else None


def _reason(failure: dict | None) -> str:
    failure = failure or {}
    return str(failure.get("code") or failure.get("category") or "declined")


def unknown_outcome(payment: PaymentRecord) -> AttentionItem:
    """A payment Splash never answered: the reconciler settles it; until then staff must not charge again."""
    return AttentionItem(
        kind=Kind.UNKNOWN_OUTCOME,
        title="Payment outcome unknown",
        detail=f"Payment {payment.id} sent {payment.created_at[:16].replace('T', ' ')} UTC; do not charge again "
        "until it is settled.",
        amount=payment.amount,
        due=None,
        patient_id=payment.patient_id,
        invoice_id=payment.invoice_id,
        link=invoice_link(payment.invoice_id),
    )


def installment_item(inst: InstallmentRecord) -> AttentionItem | None:
    """A failed autopay charge with its next retry date, or an installment past due (no retry left); None for
    any other installment."""
    what = "Membership charge" if inst.owner_id.startswith("sub_") else "Plan installment"
    reason = _reason(inst.failure)
    if inst.status == "failed" and inst.next_attempt_on:
        return AttentionItem(
            kind=Kind.FAILED_AUTOPAY,
            title="Autopay failed",  # the page shows its next retry date (`due`)
            detail=f"{what} {inst.id} (due {inst.due_on}) failed: {reason}; attempt {inst.attempts}.",
            amount=inst.amount,
            due=_day(inst.next_attempt_on),
            patient_id=inst.patient_id,
            invoice_id=inst.invoice_id,
            link=invoice_link(inst.invoice_id),
        )
    if inst.status == "past_due" or (inst.status == "failed" and not inst.next_attempt_on):
        return AttentionItem(
            kind=Kind.PAST_DUE_INSTALLMENT,
            title="Installment past due",
            detail=f"{what} {inst.id} was due {inst.due_on}; no retry is left ({reason}).",
            amount=inst.amount,
            due=_day(inst.due_on),
            patient_id=inst.patient_id,
            invoice_id=inst.invoice_id,
            link=invoice_link(inst.invoice_id),
        )
    return None


INSTALLMENT_STATUSES = ("failed", "past_due")
"""The installment statuses `installment_item` turns into an item."""


def blocked_account(method: MethodRecord) -> AttentionItem:
    return AttentionItem(
        kind=Kind.BLOCKED_BANK_ACCOUNT,
        title=f"Bank account •••{method.last4} blocked",
        detail=f"It must not be debited again ({method.blocked_reason or 'bank return'}); ask for another method.",
        amount=None,
        due=None,
        patient_id=method.patient_id,
        invoice_id=None,
        link=patient_link(method.patient_id),
    )


def expiring_card(
    method: MethodRecord | None, flagged_expiry: str, next_charge_on: str, today: date
) -> AttentionItem | None:
    """A card flagged as expiring before its next autopay charge, if it still is: the card is still active, still
    has the expiry it was flagged for (an account-updater result or a new card clears it), and the charge is today
    or later and past the card's expiry. None otherwise."""
    if method is None or method.status != "active" or method.kind != "card":
        return None
    if f"{method.exp_year or 0:04d}{method.exp_month or 0:02d}" != flagged_expiry:
        return None
    charge_on = date.fromisoformat(next_charge_on)
    if charge_on < today or not expires_before(method.exp_month, method.exp_year, charge_on):
        return None
    return AttentionItem(
        kind=Kind.CARD_EXPIRING,
        title=f"Card •••{method.last4} expires before its next charge",
        detail=f"{(method.brand or 'Card').title()} expires {method.exp_month:02d}/{method.exp_year}; autopay charges "
        f"it on {next_charge_on}.",
        amount=None,
        due=charge_on,
        patient_id=method.patient_id,
        invoice_id=None,
        link=patient_link(method.patient_id),
    )


def dispute_item(dispute: DisputeRecord) -> AttentionItem:
    reason = dispute.reason_code or "no reason code"
    return AttentionItem(
        kind=Kind.DISPUTE,
        title="Dispute needs a response",  # the page shows its reply-by date (`due`)
        detail=f"Chargeback on payment {dispute.payment_id} ({reason}).",
        amount=dispute.amount,
        due=_day(dispute.reply_by),
        patient_id=dispute.patient_id,
        invoice_id=dispute.invoice_id,
        link=dispute_link(dispute.id),
    )


def undeliverable(messages: Iterable[MessageRecord]) -> list[AttentionItem]:
    """Addresses that take no more messages, one item per patient and channel (their latest message): a bounced
    email, an email address that complained, or a patient who texted STOP."""
    latest: dict[tuple[str, str], MessageRecord] = {}
    for m in messages:
        key = (m.patient_id, m.channel)
        if key not in latest or m.updated_at > latest[key].updated_at:
            latest[key] = m
    return [_undeliverable(m) for m in latest.values()]


def _undeliverable(message: MessageRecord) -> AttentionItem:
    if message.channel == "sms":
        title, why = "Patient texted STOP", "texts stay off until the patient texts START"
    elif message.status == "bounced" or message.status_reason == "bounced":
        title, why = "Email bounced", "the address takes no mail"
    else:
        title, why = "Email refused", "the patient marked our email as spam"
    return AttentionItem(
        kind=Kind.UNDELIVERABLE,
        title=title,
        detail=f"{message.kind.replace('_', ' ').capitalize()} on {message.updated_at[:10]}: {why}; update the "
        "contact details.",
        amount=None,
        due=None,
        patient_id=message.patient_id,
        invoice_id=message.invoice_id,
        link=patient_link(message.patient_id),
    )


def locked_link(link: PayLinkRecord, now: datetime) -> AttentionItem | None:
    """A pay link locked now for wrong identity answers, or revoked after too many; None otherwise (a lock that
    ended, a link revoked by staff)."""
    state = link.status(now)
    if state == "locked":
        until = (link.locked_until or "")[11:16]
        title = "Pay link locked"
        detail = f"{link.identity_failures} wrong identity answers; locked until {until} UTC. Check with the patient."
    elif state == "revoked" and link.revoked_reason == "too_many_failures":
        title = "Pay link revoked"
        detail = f"{link.identity_failures} wrong identity answers; send a new link."
    else:
        return None
    return AttentionItem(
        kind=Kind.LOCKED_PAY_LINK,
        title=title,
        detail=f"Link {link.id}: {detail}",
        amount=None,
        due=None,
        patient_id=link.patient_id,
        invoice_id=link.invoice_id,
        link=invoice_link(link.invoice_id) if link.invoice_id else patient_link(link.patient_id),
    )


# -- order ------------------------------------------------------------------------------------------------------


def sort_key(item: AttentionItem) -> tuple:
    """Unknown outcomes first (money may have moved), then the soonest due (undated last), then kind, then title."""
    return (item.kind != Kind.UNKNOWN_OUTCOME, item.due is None, item.due or date.max, _RANK[item.kind], item.title)


def ordered(items: Iterable[AttentionItem]) -> list[AttentionItem]:
    return sorted(items, key=sort_key)
