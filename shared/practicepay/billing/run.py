"""Recurring billing: the daily run (EventBridge Scheduler → finds what is due through the `due` index, announces
upcoming charges through the `notices` index, queues one message per charge) and the charge worker (SQS, one
message per installment attempt or membership cycle).

Every charge is idempotent per (installment, attempt): the message names the attempt, the worker charges only
an installment still waiting for that attempt, and the payment itself runs once per (installment, attempt) key
(practicepay.payments.service.PaymentService.autopay). So a second run the same day, a redelivered message or a
worker that died midway never charges twice. What is not charged today stays in the index for the next run."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from practicepay.adapters.queues import ChargeQueue
from practicepay.billing import seen
from practicepay.billing.follow import Event, installment_detail, past_due_event
from practicepay.billing.models import CHARGEABLE, InstallmentRecord, SubscriptionRecord, installment_id
from practicepay.billing.schedule import Frequency, nth_date
from practicepay.billing.store import ScheduleStore
from practicepay.cards.models import EXPIRING_AHEAD_DAYS, expires_before, expiring_detail, expiring_sk
from practicepay.clock import Clock, iso, utc_now
from practicepay.errors import Conflict, NotFound, PracticePayError, ProcessorUnavailable, ValidationFailed
from practicepay.events import event_item
from practicepay.invoices.models import InvoiceStatus, LineItem
from practicepay.observability import logger
from practicepay.patients.store import MethodRecord, PatientStore

if TYPE_CHECKING:  # the charge worker's stack, imported where it charges: the daily run never takes that path
    from practicepay.adapters.vault import PhiVault
    from practicepay.payments.service import PaymentService

MEMBERSHIP_LINE = "Membership fee"
EXPIRING_EVENT = "payment_method.expiring"


@dataclass(frozen=True)
class _Charge:
    """An autopay charge ahead: its date, its plan or membership, its installment (a membership's next cycle has
    none yet) and the method it takes."""

    practice_id: str
    on: str
    owner_id: str
    inst_id: str | None
    method_id: str


@dataclass(frozen=True)
class RunReport:
    run_date: str
    queued: int
    noticed: int
    sqs_calls: int
    index_pages: int
    expiring: int = 0
    """Cards announced as expiring before their next charge (payment_method.expiring)."""


@dataclass
class DailyRun:
    store: ScheduleStore
    queue: ChargeQueue
    events_table: str
    clock: Clock = utc_now
    patients: PatientStore | None = None
    """The patients table, for flagging cards that expire before their next charge; without it, none is flagged."""

    def run(self, run_date: date) -> RunReport:
        """Announce the charges coming within each practice's notice days, flag the cards that will have expired by
        a charge within EXPIRING_AHEAD_DAYS, then queue every charge due on or before `run_date` (a day the run
        missed is caught up by the next)."""
        day = run_date.isoformat()
        noticed, pages = self._notices(run_date)
        expiring = 0
        if self.patients is not None:
            expiring, expiring_pages = self._expiring(self.patients, run_date)
            pages += expiring_pages
        messages: list[dict[str, Any]] = []
        cursor = None
        while True:
            items, cursor = self.store.due(day, cursor)
            pages += 1
            messages.extend(m for m in (_message(i, day) for i in items) if m is not None)
            if cursor is None:
                break
        calls = self.queue.send(messages)
        logger.info("daily billing run", run_date=day, queued=len(messages), noticed=noticed, expiring=expiring)
        return RunReport(day, len(messages), noticed, calls, pages, expiring)

    def _notice(self, item: dict[str, Any], now: datetime) -> int:
        """Mark one charge announced and write its installment.upcoming event, together; 1 if it was."""
        noticed: InstallmentRecord | SubscriptionRecord
        if str(item["sk"]).startswith("SUB#"):
            sub = self.store.subscription_from_item(item)
            noticed = replace(sub, noticed_cycle=sub.next_cycle, version=sub.version + 1, updated_at=iso(now))
            read_version = sub.version
            detail: dict[str, Any] = {
                "subscription_id": sub.id,
                "seq": sub.next_cycle,
                "patient_id": sub.patient_id,
                "amount": sub.amount,
                "charge_on": sub.next_cycle_on,
            }
        else:
            inst = self.store.installment_from_item(item)
            noticed = replace(inst, noticed=True, version=inst.version + 1, updated_at=iso(now))
            read_version = inst.version
            detail = {**installment_detail(noticed), "charge_on": noticed.due_on}
        if not self.store.record_notice(
            noticed,
            expected_version=read_version,
            event=("installment.upcoming", detail),
            moment=now,
            events_table=self.events_table,
        ):
            logger.info("a charge changed before its notice; the next run sees it", sk=item["sk"])
            return 0
        return 1

    def _notices(self, run_date: date) -> tuple[int, int]:
        """installment.upcoming for every first charge whose notice date has come (the notice index holds the
        date: due date minus the notice days); each is marked noticed with its event, in one transaction."""
        noticed, pages, cursor = 0, 0, None
        now = self.clock()
        while True:
            items, cursor = self.store.notices(run_date.isoformat(), cursor)
            pages += 1
            for item in items:
                noticed += self._notice(item, now)
            if cursor is None:
                return noticed, pages

    def _expiring(self, patients: PatientStore, run_date: date) -> tuple[int, int]:
        """payment_method.expiring for every card that will have expired by an autopay charge due within
        EXPIRING_AHEAD_DAYS (the `due` index, in date order: the first such charge is the one announced), once per
        (method, expiry): its marker item and its event in one transaction, which the marker's existence refuses.
        Reads: the index pages, each plan or membership once, and the methods 100 per BatchGetItem."""
        through = (run_date + timedelta(days=EXPIRING_AHEAD_DAYS)).isoformat()
        flagged, pages, cursor = 0, 0, None
        owners: dict[str, str | None] = {}
        done: set[str] = set()
        now = self.clock()
        while True:
            items, cursor = self.store.due(through, cursor)
            pages += 1
            charges = [c for c in (self._charge(i, owners) for i in items) if c is not None]
            methods = patients.methods_of([(c.practice_id, c.method_id) for c in charges])
            for charge, method in zip(charges, methods, strict=True):
                if method is None or method.status == "inactive":
                    continue
                if not expires_before(method.exp_month, method.exp_year, date.fromisoformat(charge.on)):
                    continue
                sk = expiring_sk(method.id, method.exp_month or 0, method.exp_year or 0)
                if f"{method.practice_id}#{sk}" in done:
                    continue
                done.add(f"{method.practice_id}#{sk}")
                flagged += self._flag(patients, method, charge, sk, now)
            if cursor is None:
                return flagged, pages

    def _flag(self, patients: PatientStore, method: MethodRecord, charge: _Charge, sk: str, now: datetime) -> int:
        detail = expiring_detail(method, charge.on, charge.owner_id, charge.inst_id)
        marker = {"payment_method_id": method.id, "next_charge_on": charge.on, "flagged_at": iso(now)}
        row = event_item(method.practice_id, EXPIRING_EVENT, detail, now)
        if not patients.record_once(method.practice_id, sk, marker, events=[row], events_table=self.events_table):
            return 0  # announced on an earlier day
        logger.info("card expires before its next autopay charge", payment_method_id=method.id, charge_on=charge.on)
        return 1

    def _charge(self, item: dict[str, Any], owners: dict[str, str | None]) -> _Charge | None:
        """The charge a `due` index item stands for, with its method (a plan's read once per run), or None when
        nothing will be charged (a plan no longer active)."""
        practice_id = str(item["practice_id"])
        if str(item["sk"]).startswith("SUB#"):
            sub = self.store.subscription_from_item(item)
            if sub.next_cycle_on is None:
                return None
            return _Charge(practice_id, sub.next_cycle_on, sub.id, None, sub.payment_method_id)
        inst = self.store.installment_from_item(item)
        if inst.next_charge_on is None:
            return None
        if inst.owner_id not in owners:
            if inst.owner_id.startswith("sub_"):
                sub = self.store.get_subscription(practice_id, inst.owner_id)
                owners[inst.owner_id] = sub.payment_method_id if sub else None
            else:
                plan = self.store.get_plan(practice_id, inst.invoice_id, inst.owner_id)
                owners[inst.owner_id] = plan.payment_method_id if plan and plan.status == "active" else None
        method_id = owners[inst.owner_id]
        return _Charge(practice_id, inst.next_charge_on, inst.owner_id, inst.id, method_id) if method_id else None


def _message(item: dict[str, Any], day: str) -> dict[str, Any] | None:
    sk = str(item["sk"])
    practice_id = str(item["practice_id"])
    if sk.startswith("SUB#"):
        return {"kind": "cycle", "practice_id": practice_id, "id": item["id"], "cycle": item["next_cycle"], "on": day}
    if sk.startswith("INSTALLMENT#"):
        inst = ScheduleStore.installment_from_item(item)
        return {
            "kind": "installment",
            "practice_id": practice_id,
            "id": inst.id,
            "attempt": _next_attempt(inst),
            "on": day,
        }
    logger.error("unexpected item in the due index", sk=sk)
    return None


def _next_attempt(inst: InstallmentRecord) -> int:
    """The attempt a due installment makes next: a new one, or the same again when nothing reached Splash."""
    resend = bool((inst.failure or {}).get("resend"))
    return inst.attempts if resend and inst.attempts else inst.attempts + 1


@dataclass
class ChargeWorker:
    store: ScheduleStore
    payments: PaymentService
    vault: PhiVault
    clock: Clock = utc_now

    def handle(self, message: dict[str, Any]) -> str:
        """One charge. The installment as read (or issued) here is what the payment's installment follower starts
        from (billing.seen), so the payment does not read it again."""
        with seen.one_charge():
            practice_id, on = message["practice_id"], message["on"]
            owner: SubscriptionRecord | None = None
            if message["kind"] == "cycle":
                cycle = self._cycle(practice_id, message["id"], int(message["cycle"]), on)
                if cycle is None:
                    return "not_due"
                inst, owner = cycle
                attempt = 1
            else:
                found = self.store.get_installment(practice_id, message["id"])
                if found is None:
                    logger.error("charge message for an unknown installment", installment=message["id"])
                    return "unknown"
                inst, attempt = found, int(message["attempt"])
            seen.remember(inst)
            return self._charge(inst, attempt, on, owner)

    # -- an installment's attempt ------------------------------------------------------------------------------

    def _charge(
        self,
        inst: InstallmentRecord,
        attempt: int,
        on: str,
        owner: SubscriptionRecord | None = None,
    ) -> str:
        waiting = inst.status in CHARGEABLE and _next_attempt(inst) == attempt and (inst.next_charge_on or "") <= on
        resuming = inst.status == "processing" and inst.attempts == attempt  # the worker died after recording it
        if not (waiting or resuming):
            return "not_due"  # already charged, canceled, or not this attempt: nothing to do
        method_id = self._method_id(inst, owner)
        if method_id is None:
            return "not_due"
        from practicepay.payments.service import AutopayAttempt

        request = AutopayAttempt(
            installment_id=inst.id,
            number=attempt,
            on=on,
            payment_method_id=method_id,
            amount=inst.amount,
            redeposit_of=inst.redeposit_of,
        )
        try:
            payment = self.payments.autopay(inst.practice_id, inst.invoice_id, request)
        except ProcessorUnavailable:
            return "not_submitted"  # recorded; the installment tries the same attempt again tomorrow
        except (Conflict, NotFound, ValidationFailed) as exc:
            return self._cannot_charge(inst, exc)
        return f"payment_{payment.status.value}"

    def _method_id(self, inst: InstallmentRecord, owner: SubscriptionRecord | None = None) -> str | None:
        """The method the charge takes: its membership's (`owner`, when the caller just read it) or its plan's."""
        if inst.owner_id.startswith("sub_"):
            sub = owner if owner is not None and owner.id == inst.owner_id else None
            sub = sub or self.store.get_subscription(inst.practice_id, inst.owner_id)
            return sub.payment_method_id if sub else None
        plan = self.store.get_plan(inst.practice_id, inst.invoice_id, inst.owner_id)
        return plan.payment_method_id if plan and plan.status == "active" else None

    def _cannot_charge(self, inst: InstallmentRecord, exc: PracticePayError) -> str:
        """The charge was refused before it reached Splash (a blocked or expired method, the invoice paid or written
        off meanwhile, the practice not boarded): an installment with nothing left to collect is canceled, any other
        is past due with the reason staff must act on."""
        current = self.store.get_installment(inst.practice_id, inst.id)
        if current is None or current.version != inst.version:
            return "recorded"  # the payment was recorded and its outcome moved the installment (billing.follow)
        invoice = self.payments.book.invoice(inst.practice_id, inst.invoice_id)
        covered = invoice.total - invoice.amount_paid - invoice.amount_pending - invoice.amount_written_off <= 0
        now = self.clock()
        events: list[Event]
        if covered:
            after = replace(inst, status="canceled", next_attempt_on=None)
            events = []
        else:
            failure = {"category": "not_chargeable", "message": exc.detail, "will_retry": False}
            after = replace(inst, status="past_due", next_attempt_on=None, failure=failure)
            events = [("installment.failed", installment_detail(after)), past_due_event(after)]
        after = replace(after, version=inst.version + 1, updated_at=iso(now))
        self.store.update_installment(
            after,
            expected_version=inst.version,
            events=events,
            moment=now,
            events_table=self.payments.book.events_table,
        )
        logger.warning("installment could not be charged", installment=inst.id, status=after.status)
        return "canceled" if covered else "not_chargeable"

    # -- a membership's cycle ----------------------------------------------------------------------------------

    def _cycle(
        self, practice_id: str, subscription_id: str, cycle: int, on: str
    ) -> tuple[InstallmentRecord, SubscriptionRecord] | None:
        """Issue the cycle's invoice and installment, and move the membership to its next cycle, in one
        transaction; the cycle's installment (already issued, if this message came before) to charge now, with the
        membership as read."""
        sub = self.store.get_subscription(practice_id, subscription_id)
        if sub is None:
            return None
        if sub.next_cycle > cycle:  # issued by an earlier delivery of this message: charge what it issued
            issued = self.store.get_installment(practice_id, installment_id(sub.id, cycle))
            return (issued, sub) if issued else None
        if sub.status != "active" or sub.next_cycle != cycle or (sub.next_cycle_on or "9999") > on:
            return None
        cycle_on = date.fromisoformat(sub.next_cycle_on or on)
        moment = self.clock()
        now = iso(moment)
        line = LineItem(description=MEMBERSHIP_LINE, quantity=1, unit_amount=sub.amount, amount=sub.amount)
        from practicepay.invoices.service import new_invoice

        invoice = new_invoice(
            self.vault,
            practice_id=practice_id,
            patient_id=sub.patient_id,
            due_date=cycle_on,
            items=[line],
            now=moment,
            status=InvoiceStatus.IN_PROGRESS,  # collected by the membership's autopay
            plan_id=sub.id,
        )
        inst = InstallmentRecord(
            practice_id=practice_id,
            owner_id=sub.id,
            seq=cycle,
            invoice_id=invoice.id,
            patient_id=sub.patient_id,
            amount=sub.amount,
            due_on=cycle_on.isoformat(),
            status="scheduled",
            policy=sub.policy,
            noticed=True,
            created_at=now,
            updated_at=now,
        )
        following = nth_date(date.fromisoformat(sub.start_date), Frequency(sub.frequency), cycle)
        ended = sub.end_date is not None and following.isoformat() > sub.end_date
        advanced = replace(
            sub,
            next_cycle=cycle + 1,
            next_cycle_on=None if ended else following.isoformat(),
            status="ended" if ended else "active",
            updated_at=now,
            version=sub.version + 1,
        )
        if not self.store.issue_cycle(advanced, sub.version, inst, invoice, invoices=self.payments.invoices):
            issued = self.store.get_installment(practice_id, inst.id)  # a concurrent delivery issued it
            return (issued, sub) if issued else None
        return inst, advanced
