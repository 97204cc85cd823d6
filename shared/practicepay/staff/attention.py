"""The staff dashboard's "Today" screen (issue #20): the practice's payments of its local day by channel, the
deposits on their way, and the attention queue (practicepay.staff.queue holds the records and the rules).

Every read is a Query, GetItem or BatchGetItem on the practice's own partition or index key, never a Scan. What each
kind costs (the single-partition `due` indexes of the schedules, messages and funds tables hold every practice, so
they are not used; a sparse per-practice "attention" index would make the filtered reads below cheap, but it is a
new GSI, so it is not added here):

- payments today: a key range of the practice's partition (ids are time-ordered): the day's payments only.
- expected deposits: the deposits report over EXPECTED_DAYS (ReportService.deposits: the range's payments, 1000 a
  page, and its deposits with their lines through `by_date`).
- unknown outcomes: the practice's `by_status` partition for `unknown`: those payments only.
- failed autopay and past-due installments: the practice's `INSTALLMENT#` items with a status filter (every
  installment of the practice is read, at most MAX_FILTERED_PAGES pages).
- blocked bank accounts: the practice's `METHOD#` items with a status filter (every method is read, bounded).
- expiring cards: the practice's `EXPIRING#` markers (written by the daily run), then their methods by BatchGetItem.
- disputes: the practice's `by_date` partition (DisputeStore.query) for `needs_response`.
- bounced emails and STOPs: the practice's `MESSAGE#` items with a filter (every message kept is read, bounded).
- locked pay links: the practice's events of LOCK_LOOKBACK_DAYS with a type filter, then each link by its id."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from practicepay.billing.store import ScheduleStore
from practicepay.clock import Clock, utc_now
from practicepay.disputes.models import DisputeStatus
from practicepay.disputes.store import DisputeStore
from practicepay.events import EventLog
from practicepay.messages.store import MessageStore
from practicepay.patients.store import PatientStore
from practicepay.paylinks.store import PayLinkStore
from practicepay.payments.models import PaymentStatus
from practicepay.payments.store import PaymentStore
from practicepay.practices.store import PracticeStore
from practicepay.reports.service import ReportService
from practicepay.staff import queue
from practicepay.staff.queue import CAP_PER_KIND, AttentionItem, ExpectedDeposits, Kind, PendingDeposit, Today

EXPECTED_DAYS = 30
"""The deposits on their way are looked for among those Splash made in the last 30 days (and the payments of those
days that reached none)."""
MARKERS_READ = 200
"""Expiring-card markers read (they stay after a card is updated, so more are read than items shown)."""


@dataclass
class TodayService:
    practices: PracticeStore
    payments: PaymentStore
    schedules: ScheduleStore
    patients: PatientStore
    disputes: DisputeStore
    messages: MessageStore
    links: PayLinkStore
    events: EventLog
    reports: ReportService
    clock: Clock = utc_now

    def today(self, practice_id: str) -> Today:
        now = self.clock()
        zone = self.practices.require(practice_id).settings.time_zone
        day, start, end = queue.local_day(now, zone)
        low, high = queue.payment_id_span(start, end)
        taken, more = self.payments.created_between(practice_id, low, high, queue.MAX_PAYMENTS_TODAY)
        capped: list[Kind] = []
        items: list[AttentionItem] = []
        readers: list[tuple[Kind, Callable[[str], tuple[list[AttentionItem], bool]]]] = [
            (Kind.UNKNOWN_OUTCOME, self._unknown),
            (Kind.FAILED_AUTOPAY, self._installments),
            (Kind.BLOCKED_BANK_ACCOUNT, self._blocked),
            (Kind.CARD_EXPIRING, lambda p: self._expiring(p, day)),
            (Kind.DISPUTE, self._disputes),
            (Kind.UNDELIVERABLE, self._undeliverable),
            (Kind.LOCKED_PAY_LINK, self._locked),
        ]
        for kind, read in readers:
            found, truncated = read(practice_id)
            items += found
            if truncated:
                capped.append(kind)
        return Today(
            practice_id=practice_id,
            payments=queue.by_channel(day, zone, taken, complete=not more),
            deposits=self._expected(practice_id, now.date()),
            attention=queue.ordered(items),
            capped=tuple(capped),
        )

    # -- each kind: its items, and whether more were left ----------------------------------------------------------

    def _unknown(self, practice_id: str) -> tuple[list[AttentionItem], bool]:
        found, cursor = self.payments.query(
            practice_id, invoice_id=None, status=PaymentStatus.UNKNOWN.value, limit=CAP_PER_KIND, cursor=None
        )
        return [queue.unknown_outcome(p) for p in found], cursor is not None

    def _installments(self, practice_id: str) -> tuple[list[AttentionItem], bool]:
        """Failed autopay (with its retry date) and past-due installments: one read, so one cap for both."""
        found, more = self.schedules.installments_in(practice_id, queue.INSTALLMENT_STATUSES, 2 * CAP_PER_KIND)
        items = [i for i in (queue.installment_item(inst) for inst in found) if i is not None]
        return items, more

    def _blocked(self, practice_id: str) -> tuple[list[AttentionItem], bool]:
        found, more = self.patients.methods_with_status(practice_id, "blocked", CAP_PER_KIND)
        return [queue.blocked_account(m) for m in found if m.kind == "bank_account"], more

    def _expiring(self, practice_id: str, today: date) -> tuple[list[AttentionItem], bool]:
        markers, more = self.patients.expiring_marked(practice_id, MARKERS_READ)
        methods = self.patients.methods_of([(practice_id, method_id) for method_id, _, _ in markers])
        items = []
        for (_, expiry, charge_on), method in zip(markers, methods, strict=True):
            item = queue.expiring_card(method, expiry, charge_on, today)
            if item is not None:
                items.append(item)
        return items[:CAP_PER_KIND], more or len(items) > CAP_PER_KIND

    def _disputes(self, practice_id: str) -> tuple[list[AttentionItem], bool]:
        found = self.disputes.query(practice_id, status=DisputeStatus.NEEDS_RESPONSE.value, due_before=None)
        return [queue.dispute_item(d) for d in found[:CAP_PER_KIND]], len(found) > CAP_PER_KIND

    def _undeliverable(self, practice_id: str) -> tuple[list[AttentionItem], bool]:
        found, more = self.messages.undeliverable(practice_id, queue.OPTED_OUT_REASONS, 4 * CAP_PER_KIND)
        items = queue.undeliverable(found)
        return items[:CAP_PER_KIND], more or len(items) > CAP_PER_KIND

    def _locked(self, practice_id: str) -> tuple[list[AttentionItem], bool]:
        now = self.clock()
        since = now - timedelta(days=queue.LOCK_LOOKBACK_DAYS)
        events, more = self.events.since(practice_id, queue.LOCK_EVENTS, since, 4 * CAP_PER_KIND)
        items = []
        for link_id in dict.fromkeys(e["detail"]["link_id"] for e in events):
            link = self.links.by_id(practice_id, link_id)
            item = queue.locked_link(link, now) if link else None
            if item is not None:
                items.append(item)
        return items[:CAP_PER_KIND], more or len(items) > CAP_PER_KIND

    # -- deposits ---------------------------------------------------------------------------------------------

    def _expected(self, practice_id: str, today: date) -> ExpectedDeposits:
        report = self.reports.deposits(practice_id, today - timedelta(days=EXPECTED_DAYS), today)
        pending = tuple(
            PendingDeposit(d.id, d.status.value, d.amount, d.deposited_on, queue.deposit_link(d.id))
            for d in report.data
            if d.status.value in queue.PENDING_DEPOSIT
        )
        return ExpectedDeposits(
            pending=pending,
            pending_amount=sum(d.amount for d in pending),
            undeposited_count=len(report.undeposited),
            undeposited_amount=sum(p.amount for p in report.undeposited),
            undeposited_after_days=report.undeposited_after_days,
        )
