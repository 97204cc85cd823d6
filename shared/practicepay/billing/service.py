"""Payment plans and memberships: making them, reading them, changing the method, paying an installment early,
canceling. A plan and all its installments are written with the invoice's move to `in_progress` in one
transaction, so nothing is ever half-made; the daily run and the charge worker (billing.run) collect them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from practicepay.billing import seen
from practicepay.billing.models import (
    CHARGEABLE,
    ChangePlanRequest,
    CreatePlanRequest,
    CreateSubscriptionRequest,
    Installment,
    InstallmentFailure,
    InstallmentRecord,
    InstallmentStatus,
    PayInstallmentRequest,
    PaymentPlan,
    PlanRecord,
    RetryPolicyView,
    Subscription,
    SubscriptionList,
    SubscriptionRecord,
    consent_record,
    consent_view,
)
from practicepay.billing.schedule import Frequency, RetryPolicy, nth_date, split
from practicepay.billing.store import ScheduleStore
from practicepay.clock import Clock, iso, utc_now
from practicepay.errors import Conflict, NotFound, ValidationFailed
from practicepay.idempotency import Created, run_once
from practicepay.ids import id_pattern, new_id
from practicepay.invoices import lifecycle
from practicepay.invoices.models import InvoiceRecord, InvoiceStatus
from practicepay.patients.service import PATIENT_ID
from practicepay.patients.store import MethodRecord
from practicepay.payments.models import Payment
from practicepay.payments.service import AutopayAttempt, PaymentService, request_fingerprint

SUBSCRIPTION_ID = id_pattern("sub")
PLANNABLE = frozenset({InvoiceStatus.OPEN, InvoiceStatus.PARTIALLY_PAID})
STOPPABLE = CHARGEABLE | {"past_due"}
"""Installments not charged yet (or past due): what a cancel stops and an early payment may pay."""


@dataclass
class BillingService:
    store: ScheduleStore
    payments: PaymentService
    idempotency_store: BasePersistenceLayer
    idempotency_ttl_seconds: int = 24 * 3600
    clock: Clock = utc_now

    # -- plans -------------------------------------------------------------------------------------------------

    def create_plan(
        self, practice_id: str, invoice_id: str, key: str, body: CreatePlanRequest, ctx: LambdaContext | None = None
    ) -> PaymentPlan:
        """A repeat of the key answers with the plan the key made, whatever became of it (canceled, completed, or
        followed by another plan on the invoice), never with the invoice's latest plan."""
        written: list[tuple[PlanRecord, list[InstallmentRecord]]] = []

        def make() -> str:
            written.append(self._create_plan(practice_id, invoice_id, body))
            return written[0][0].id

        plan_id = self._once(f"plan:{invoice_id}", practice_id, key, body, make, ctx)
        if written:  # made just now: answer with the records as written
            return self._plan_view(*written[0])
        plan = self.store.get_plan(practice_id, invoice_id, plan_id)
        if plan is None:
            raise NotFound(f"No payment plan {plan_id} exists for invoice {invoice_id}.")
        return self._plan_view(plan, self.store.installments(practice_id, plan.id))

    def _create_plan(
        self, practice_id: str, invoice_id: str, body: CreatePlanRequest
    ) -> tuple[PlanRecord, list[InstallmentRecord]]:
        invoice = self.payments.book.invoice(practice_id, invoice_id)
        if invoice.plan_id:
            raise Conflict(f"This invoice is already on a payment plan ({invoice.plan_id}); cancel it first.")
        if InvoiceStatus(invoice.status) not in PLANNABLE:
            raise Conflict(f"This invoice is {invoice.status}; only an issued invoice with a balance can go on a plan.")
        if invoice.amount_pending:
            raise Conflict("A payment on this invoice is still in flight; make the plan once it has settled.")
        today = self.clock().date()
        self._not_past(body.first_date, today, "first_date")
        balance = invoice.total - invoice.amount_paid - invoice.amount_written_off
        try:
            amounts = split(balance, count=body.installment_count, amount=body.installment_amount)
        except ValueError as exc:
            raise ValidationFailed(f"This plan cannot be made: {exc}.", [_field("installment_count", exc)]) from exc
        if max(amounts) > body.consent.max_amount:
            raise ValidationFailed(
                f"An installment of {max(amounts)} cents exceeds the consent's max_amount.",
                [_field("consent.max_amount", f"must be at least {max(amounts)}")],
            )
        self._method(practice_id, invoice.patient_id, body.payment_method_id, max(amounts))
        policy = self.payments.practices.require(practice_id).settings.policy()
        now = iso(self.clock())
        plan = PlanRecord(
            practice_id=practice_id,
            id=new_id("pln"),
            invoice_id=invoice_id,
            patient_id=invoice.patient_id,
            payment_method_id=body.payment_method_id,
            frequency=body.frequency.value,
            first_date=body.first_date.isoformat(),
            installment_count=len(amounts),
            total=balance,
            status="active",
            consent=consent_record(body.consent),
            policy=policy.to_record(),
            created_at=now,
            updated_at=now,
        )
        installments = [
            self._installment(
                plan.id, seq, invoice, amount, nth_date(body.first_date, body.frequency, seq - 1), plan.policy, now
            )
            for seq, amount in enumerate(amounts, start=1)
        ]
        on_plan = replace(invoice, plan_id=plan.id, updated_at=now, version=invoice.version + 1)
        on_plan = replace(on_plan, status=lifecycle.money_status(on_plan).value)
        self.store.create_plan(plan, installments, on_plan, invoice.version, invoices=self.payments.invoices)
        return plan, installments

    def get_plan(self, practice_id: str, invoice_id: str) -> PaymentPlan:
        plan = self._latest_plan(practice_id, invoice_id)
        return self._plan_view(plan, self.store.installments(practice_id, plan.id))

    def change_method(self, practice_id: str, invoice_id: str, body: ChangePlanRequest) -> PaymentPlan:
        plan, installments = self._active_plan(practice_id, invoice_id)
        ahead = [i.amount for i in installments if i.status in STOPPABLE]
        self._method(practice_id, plan.patient_id, body.payment_method_id, max(ahead, default=1))
        changed = replace(
            plan, payment_method_id=body.payment_method_id, updated_at=iso(self.clock()), version=plan.version + 1
        )
        self.store.update_plan(changed, expected_version=plan.version)
        return self._plan_view(changed, installments)

    def cancel_plan(self, practice_id: str, invoice_id: str) -> PaymentPlan:
        """Stop the plan: installments not yet charged are canceled and the invoice is open again with its balance
        (installments already in flight still settle or fail on their own)."""
        plan, installments = self._active_plan(practice_id, invoice_id)
        invoice = self.payments.book.invoice(practice_id, invoice_id)
        now = iso(self.clock())
        canceled = replace(plan, status="canceled", updated_at=now, version=plan.version + 1)
        after = [_stopped(i, now) if i.status in STOPPABLE else i for i in installments]
        stopped = [(a, i.version) for a, i in zip(after, installments, strict=True) if i.status in STOPPABLE]
        self.store.cancel_plan(
            canceled,
            plan.version,
            stopped,
            _off_autopay(invoice, now),
            invoice.version,
            invoices=self.payments.invoices,
        )
        return self._plan_view(canceled, after)

    def pay_installment(
        self,
        practice_id: str,
        invoice_id: str,
        seq: int,
        key: str,
        body: PayInstallmentRequest,
    ) -> Payment:
        """Pay one installment now (early, or after a failure) with the plan's method or another on file. A replay
        of the key answers the first answer (the payment, or its decline) whatever happened since (the installment
        paid, the plan completed or canceled): the key's guard is read first, with the invoice, in one read."""
        early_key = f"early:{key}"
        fingerprint = request_fingerprint("early", body, str(seq))
        invoice, guard = self.payments.keyed(practice_id, invoice_id, early_key)
        if guard is not None:
            return self.payments.replay(practice_id, invoice_id, early_key, guard, fingerprint)
        plan, installments = self._active_plan(practice_id, invoice_id, invoice)
        inst = next((i for i in installments if i.seq == seq), None)
        if inst is None:
            raise NotFound(f"No installment {seq} exists on this plan.")
        if inst.status not in STOPPABLE:
            raise Conflict(f"Installment {seq} is {inst.status}; only a scheduled, failed or past-due one can be paid.")
        attempt = AutopayAttempt(
            installment_id=inst.id,
            number=inst.attempts + 1,
            on=self.clock().date().isoformat(),
            payment_method_id=body.payment_method_id or plan.payment_method_id,
            amount=inst.amount,
        )
        with seen.one_charge():  # the payment's installment follower starts from the installment as read here
            seen.remember(inst)
            return self.payments.autopay(practice_id, invoice_id, attempt, key=early_key, fingerprint=fingerprint)

    # -- memberships -----------------------------------------------------------------------------------------

    def create_subscription(
        self,
        practice_id: str,
        patient_id: str,
        key: str,
        body: CreateSubscriptionRequest,
        ctx: LambdaContext | None = None,
    ) -> Subscription:
        created = self._once(
            f"subscription:{patient_id}",
            practice_id,
            key,
            body,
            lambda: self._create_subscription(practice_id, patient_id, body),
            ctx,
        )
        return self.get_subscription(practice_id, created)

    def _create_subscription(self, practice_id: str, patient_id: str, body: CreateSubscriptionRequest) -> str:
        self._patient(practice_id, patient_id)
        self._not_past(body.start_date, self.clock().date(), "start_date")
        self._method(practice_id, patient_id, body.payment_method_id, body.amount)
        policy = self.payments.practices.require(practice_id).settings.policy()
        now = iso(self.clock())
        sub = SubscriptionRecord(
            practice_id=practice_id,
            id=new_id("sub"),
            patient_id=patient_id,
            payment_method_id=body.payment_method_id,
            amount=body.amount,
            frequency=body.frequency.value,
            start_date=body.start_date.isoformat(),
            end_date=body.end_date.isoformat() if body.end_date else None,
            status="active",
            consent=consent_record(body.consent),
            policy=policy.to_record(),
            next_cycle=1,
            next_cycle_on=body.start_date.isoformat(),
            created_at=now,
            updated_at=now,
        )
        self.store.create_subscription(sub)
        return sub.id

    def get_subscription(self, practice_id: str, subscription_id: str) -> Subscription:
        sub = self._subscription(practice_id, subscription_id)
        return _subscription_view(sub, self.store.installments(practice_id, sub.id))

    def list_subscriptions(self, practice_id: str, patient_id: str) -> SubscriptionList:
        self._patient(practice_id, patient_id)
        subs = self.store.subscriptions(practice_id, patient_id)
        return SubscriptionList(data=[_subscription_view(s, self.store.installments(practice_id, s.id)) for s in subs])

    def cancel_subscription(self, practice_id: str, subscription_id: str) -> Subscription:
        """No further cycles; unpaid cycles stop being retried and their invoices leave autopay (open, with their
        balance)."""
        sub = self._subscription(practice_id, subscription_id)
        if sub.status != "active":
            raise Conflict(f"This membership is already {sub.status}.")
        now = iso(self.clock())
        canceled = replace(sub, status="canceled", next_cycle_on=None, updated_at=now, version=sub.version + 1)
        cycles: list[InstallmentRecord] = []
        stopped: list[tuple[InstallmentRecord, int]] = []
        reopened: list[tuple[InvoiceRecord, int]] = []
        for inst in self.store.installments(practice_id, sub.id):
            if inst.status in STOPPABLE:
                invoice = self.payments.book.invoice(practice_id, inst.invoice_id)
                stopped.append((_stopped(inst, now), inst.version))
                reopened.append((_off_autopay(invoice, now), invoice.version))
                inst = stopped[-1][0]
            cycles.append(inst)
        self.store.cancel_subscription(canceled, sub.version, stopped, reopened, invoices=self.payments.invoices)
        return _subscription_view(canceled, cycles)

    # -- internals ---------------------------------------------------------------------------------------------

    def _once(
        self,
        operation: str,
        practice_id: str,
        key: str,
        body: BaseModel,
        make: Callable[[], str],
        ctx: LambdaContext | None,
    ) -> str:
        """Create under an Idempotency-Key (a repeat answers with the first record's id)."""
        created = run_once(
            self.idempotency_store,
            operation=operation,
            practice_id=practice_id,
            idempotency_key=key,
            body=body,
            output=Created,
            run=lambda: Created(id=make()),
            ttl_seconds=self.idempotency_ttl_seconds,
            lambda_context=ctx,
        )
        return created.id

    def _installment(
        self,
        owner_id: str,
        seq: int,
        invoice: InvoiceRecord,
        amount: int,
        due: date,
        policy: dict[str, Any],
        now: str,
    ) -> InstallmentRecord:
        notice = due - timedelta(days=RetryPolicy.from_record(policy).notice_days)
        return InstallmentRecord(
            practice_id=invoice.practice_id,
            owner_id=owner_id,
            seq=seq,
            invoice_id=invoice.id,
            patient_id=invoice.patient_id,
            amount=amount,
            due_on=due.isoformat(),
            status=InstallmentStatus.SCHEDULED.value,
            policy=policy,
            notice_on=notice.isoformat(),
            created_at=now,
            updated_at=now,
        )

    def _method(self, practice_id: str, patient_id: str, method_id: str, amount: int) -> MethodRecord:
        """The patient's method, checked chargeable for `amount` now (active, not blocked or expired, within
        the method's own consent cap)."""
        method = self.payments.patients.store.get_method(practice_id, patient_id, method_id)
        if method is None:
            raise ValidationFailed(
                f"No payment method {method_id} exists for this patient.",
                [_field("payment_method_id", "no such method for this patient")],
            )
        self.payments.patients.chargeable(method, amount)
        return method

    def _patient(self, practice_id: str, patient_id: str) -> None:
        if not PATIENT_ID.match(patient_id) or self.payments.patients.store.get(practice_id, patient_id) is None:
            raise NotFound(f"No patient {patient_id} exists for this practice.")

    def _latest_plan(self, practice_id: str, invoice_id: str, invoice: InvoiceRecord | None = None) -> PlanRecord:
        """The invoice's latest plan (`invoice`: the invoice, when already read)."""
        invoice = invoice or self.payments.book.invoice(practice_id, invoice_id)
        plan = self.store.latest_plan(practice_id, invoice.id)
        if plan is None:
            raise NotFound(f"Invoice {invoice_id} has no payment plan.")
        return plan

    def _active_plan(
        self, practice_id: str, invoice_id: str, invoice: InvoiceRecord | None = None
    ) -> tuple[PlanRecord, list[InstallmentRecord]]:
        """The invoice's plan with its installments, if it is still collecting (409 once canceled or completed)."""
        plan = self._latest_plan(practice_id, invoice_id, invoice)
        installments = self.store.installments(practice_id, plan.id)
        status = _plan_status(plan, installments)
        if status != "active":
            raise Conflict(f"This invoice's payment plan is {status}.")
        return plan, installments

    def _subscription(self, practice_id: str, subscription_id: str) -> SubscriptionRecord:
        sub = (
            self.store.get_subscription(practice_id, subscription_id)
            if SUBSCRIPTION_ID.match(subscription_id)
            else None
        )
        if sub is None:
            raise NotFound(f"No membership {subscription_id} exists for this practice.")
        return sub

    def _plan_view(self, plan: PlanRecord, installments: list[InstallmentRecord]) -> PaymentPlan:
        return PaymentPlan(
            id=plan.id,
            invoice_id=plan.invoice_id,
            patient_id=plan.patient_id,
            payment_method_id=plan.payment_method_id,
            frequency=Frequency(plan.frequency),
            status=_plan_status(plan, installments),  # type: ignore[arg-type]
            total=plan.total,
            amount_paid=sum(i.amount for i in installments if i.status == "paid"),
            installments=[installment_view(i) for i in installments],
            consent=consent_view(plan.consent),
            retry_policy=RetryPolicyView(**RetryPolicy.from_record(plan.policy).to_record()),
            created_at=plan.created_at,
            updated_at=plan.updated_at,
        )

    @staticmethod
    def _not_past(day: date, today: date, field: str) -> None:
        if day < today:
            raise ValidationFailed(f"{field} {day} is in the past.", [_field(field, f"must be {today} or later")])


def _stopped(inst: InstallmentRecord, now: str) -> InstallmentRecord:
    """An installment not yet charged, canceled."""
    return replace(inst, status="canceled", next_attempt_on=None, updated_at=now, version=inst.version + 1)


def _off_autopay(invoice: InvoiceRecord, now: str) -> InvoiceRecord:
    """The invoice leaving autopay: open (or partially paid) again with its balance."""
    reopened = replace(invoice, plan_id=None, updated_at=now, version=invoice.version + 1)
    return replace(reopened, status=lifecycle.money_status(reopened).value)


def _plan_status(plan: PlanRecord, installments: list[InstallmentRecord]) -> str:
    if plan.status == "active" and installments and all(i.status == "paid" for i in installments):
        return "completed"
    return plan.status


def installment_view(inst: InstallmentRecord) -> Installment:
    failure = None
    if inst.failure:
        failure = InstallmentFailure(
            category=inst.failure.get("category", "other"),
            code=inst.failure.get("code"),
            message=inst.failure.get("message", ""),
            will_retry=inst.failure.get("will_retry", False),
        )
    return Installment(
        id=inst.id,
        seq=inst.seq,
        invoice_id=inst.invoice_id,
        amount=inst.amount,
        due_date=date.fromisoformat(inst.due_on),
        status=InstallmentStatus(inst.status),
        attempts=inst.attempts,
        next_attempt_on=date.fromisoformat(inst.next_attempt_on) if inst.next_attempt_on else None,
        payment_id=inst.payment_id,
        failure=failure,
        paid_at=inst.paid_at,
    )


def _subscription_view(sub: SubscriptionRecord, cycles: list[InstallmentRecord]) -> Subscription:
    return Subscription(
        id=sub.id,
        patient_id=sub.patient_id,
        payment_method_id=sub.payment_method_id,
        amount=sub.amount,
        frequency=Frequency(sub.frequency),
        start_date=date.fromisoformat(sub.start_date),
        end_date=date.fromisoformat(sub.end_date) if sub.end_date else None,
        status=sub.status,  # type: ignore[arg-type]
        next_charge_on=date.fromisoformat(sub.next_cycle_on) if sub.next_cycle_on else None,
        cycles=[installment_view(c) for c in cycles],
        consent=consent_view(sub.consent),
        created_at=sub.created_at,
        updated_at=sub.updated_at,
    )


def _field(name: str, message: object) -> dict[str, str]:
    return {"field": name, "message": str(message)}
