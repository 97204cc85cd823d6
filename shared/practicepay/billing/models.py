"""Payment plans and memberships: their stored records (plans, memberships, installments) and their shapes at
the API edge."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictInt, model_validator

from practicepay.api.models import StrictRequest, Timestamp, examples
from practicepay.billing.schedule import MAX_INSTALLMENTS, Frequency
from practicepay.invoices.models import MAX_INVOICE_TOTAL, IsoDate

# -- stored records (the schedules table; billing.store writes and reads them) ------------------------------

CHARGEABLE = frozenset({"scheduled", "failed"})
"""Installment statuses with a charge ahead (a first attempt, or a retry)."""


@dataclass(frozen=True)
class PlanRecord:
    practice_id: str
    id: str
    invoice_id: str
    patient_id: str
    payment_method_id: str
    frequency: str
    first_date: str
    installment_count: int
    total: int
    status: str  # active, completed, canceled
    consent: dict[str, Any]
    policy: dict[str, Any]
    created_at: str
    updated_at: str
    version: int = 1


@dataclass(frozen=True)
class SubscriptionRecord:
    practice_id: str
    id: str
    patient_id: str
    payment_method_id: str
    amount: int
    frequency: str
    start_date: str
    status: str  # active, ended, canceled
    consent: dict[str, Any]
    policy: dict[str, Any]
    next_cycle: int
    """The number (1-based) of the next cycle to bill."""
    created_at: str
    updated_at: str
    next_cycle_on: str | None = None
    """Its date; None once the membership has ended or was canceled."""
    end_date: str | None = None
    noticed_cycle: int = 0
    """The latest cycle installment.upcoming has announced."""
    version: int = 1


@dataclass(frozen=True)
class InstallmentRecord:
    """One autopay charge: a plan's installment, or a membership's cycle (with the invoice it issued)."""

    practice_id: str
    owner_id: str
    """The plan (pln_…) or membership (sub_…) it belongs to."""
    seq: int
    invoice_id: str
    patient_id: str
    amount: int
    due_on: str
    status: str  # scheduled, processing, paid, failed, past_due, canceled
    policy: dict[str, Any]
    created_at: str
    updated_at: str
    version: int = 1
    attempts: int = 0
    """Charges sent (a re-presentment of a returned eCheck counts as one)."""
    first_attempt_on: str | None = None
    attempted_on: str | None = None
    next_attempt_on: str | None = None
    """When a failed installment is tried again; None when it is not."""
    payment_id: str | None = None
    """The payment of the latest attempt."""
    redeposit_of: str | None = None
    """The returned eCheck payment the next attempt re-presents (R01, R09)."""
    redeposits: int = 0
    failure: dict[str, Any] | None = None
    """Why the latest attempt failed: {category, code, message, will_retry}."""
    notice_on: str | None = None
    """When installment.upcoming announces the first charge (autopay's notice to the patient)."""
    noticed: bool = False
    paid_at: str | None = None

    @property
    def id(self) -> str:
        return installment_id(self.owner_id, self.seq)

    @property
    def next_charge_on(self) -> str | None:
        if self.status == "scheduled":
            return self.due_on
        return self.next_attempt_on if self.status == "failed" else None


def installment_id(owner_id: str, seq: int) -> str:
    return f"{owner_id}.{seq:03d}"


# -- the API's shapes ---------------------------------------------------------------------------------------

Cents = Annotated[StrictInt, Field(ge=1, le=MAX_INVOICE_TOTAL, description="Integer cents, e.g. 1050 for $10.50.")]
MethodId = Annotated[str, Field(pattern=r"^pm_[0-9a-z]{26}$")]


class InstallmentStatus(StrEnum):
    SCHEDULED = "scheduled"
    PROCESSING = "processing"
    PAID = "paid"
    FAILED = "failed"  # the latest attempt failed; another is scheduled (next_attempt_on)
    PAST_DUE = "past_due"  # failed with no retry left: staff or the patient must act
    CANCELED = "canceled"


class AutopayConsent(StrictRequest):
    """The patient's autopay authorization (NACHA and card-network recurring rules): which text they agreed to,
    when, and the most any one charge may take."""

    text_version: str = Field(pattern=r"^[A-Za-z0-9._-]{1,40}$", description="The version of the terms shown")
    accepted_at: Timestamp = Field(description="When the patient accepted (RFC 3339 with an offset)")
    max_amount: Cents = Field(description="The cap: no single charge may exceed it")


class CreatePlanRequest(StrictRequest):
    model_config = examples(
        {
            "installment_count": 3,
            "frequency": "monthly",
            "first_date": "2027-01-15",
            "payment_method_id": "pm_01m7wqrqr0pmz6h8kv6amp4h2a",
            "consent": {"text_version": "plan-2026-01", "accepted_at": "2026-12-01T15:30:00Z", "max_amount": 10000},
        },
        {
            "installment_amount": 2500,
            "frequency": "every_two_weeks",
            "first_date": "2027-01-08",
            "payment_method_id": "pm_01m7wqrqr0pmz6h8kv6amp4h2a",
            "consent": {"text_version": "plan-2026-01", "accepted_at": "2026-12-01T15:30:00Z", "max_amount": 2500},
        },
    )

    installment_count: StrictInt | None = Field(default=None, ge=2, le=MAX_INSTALLMENTS)
    installment_amount: Cents | None = Field(
        default=None, description="Instead of a count: this much per installment, the remainder last."
    )
    frequency: Frequency = Field(strict=False)  # one of the enum's values (strict would want the Python enum)
    first_date: IsoDate = Field(description="The first installment's date, today or later (YYYY-MM-DD)")
    payment_method_id: MethodId
    consent: AutopayConsent

    @model_validator(mode="after")
    def _count_or_amount(self) -> CreatePlanRequest:
        if (self.installment_count is None) == (self.installment_amount is None):
            raise ValueError("give exactly one of installment_count or installment_amount")
        return self


class ChangePlanRequest(StrictRequest):
    model_config = examples({"payment_method_id": "pm_01m84eywr08n7awm9hd20x2p7d"})

    payment_method_id: MethodId = Field(description="The method future installments charge")


class PayInstallmentRequest(StrictRequest):
    model_config = examples({}, {"payment_method_id": "pm_01m84eywr08n7awm9hd20x2p7d"})

    payment_method_id: MethodId | None = Field(default=None, description="Defaults to the plan's method")


class InstallmentFailure(BaseModel):
    category: str = Field(description="A decline category (insufficient_funds, …) or a return category (nsf, …)")
    code: str | None = Field(default=None, description="The NACHA return code (R01, …) of a returned eCheck")
    message: str = ""
    will_retry: bool


class Installment(BaseModel):
    id: str
    seq: int
    invoice_id: str
    amount: int
    due_date: date
    status: InstallmentStatus
    attempts: int
    next_attempt_on: date | None = None
    payment_id: str | None = Field(default=None, description="The latest attempt's payment")
    failure: InstallmentFailure | None = None
    paid_at: str | None = None


class RetryPolicyView(BaseModel):
    card_retry_days: list[int]
    ach_redeposit_delay_days: int
    ach_max_redeposits: int
    ach_window_days: int
    notice_days: int


class PaymentPlan(BaseModel):
    id: str
    object: Literal["payment_plan"] = "payment_plan"
    invoice_id: str
    patient_id: str
    payment_method_id: str
    frequency: Frequency
    status: Literal["active", "completed", "canceled"]
    total: int = Field(description="The balance the plan collects, in cents (the installments add up to it)")
    amount_paid: int
    installments: list[Installment]
    consent: AutopayConsent
    retry_policy: RetryPolicyView
    created_at: str
    updated_at: str


class CreateSubscriptionRequest(StrictRequest):
    model_config = examples(
        {
            "amount": 4900,
            "frequency": "monthly",
            "start_date": "2027-01-01",
            "end_date": "2027-12-31",
            "payment_method_id": "pm_01m7wqrqr0pmz6h8kv6amp4h2a",
            "consent": {"text_version": "plan-2026-01", "accepted_at": "2026-12-01T15:30:00Z", "max_amount": 4900},
        }
    )

    amount: Cents = Field(description="Charged every cycle, in cents")
    frequency: Frequency = Field(strict=False)
    start_date: IsoDate = Field(description="The first cycle, today or later")
    end_date: IsoDate | None = Field(default=None, description="No cycle after this date")
    payment_method_id: MethodId
    consent: AutopayConsent

    @model_validator(mode="after")
    def _dates(self) -> CreateSubscriptionRequest:
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        if self.amount > self.consent.max_amount:
            raise ValueError("amount exceeds the consent's max_amount")
        return self


class Subscription(BaseModel):
    id: str
    object: Literal["subscription"] = "subscription"
    patient_id: str
    payment_method_id: str
    amount: int
    frequency: Frequency
    start_date: date
    end_date: date | None = None
    status: Literal["active", "ended", "canceled"]
    next_charge_on: date | None
    cycles: list[Installment] = Field(description="Each cycle's invoice and charge, oldest first")
    consent: AutopayConsent
    created_at: str
    updated_at: str


class SubscriptionList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Subscription]


def consent_record(consent: AutopayConsent) -> dict[str, object]:
    return {
        "text_version": consent.text_version,
        "accepted_at": consent.accepted_at.isoformat(),
        "max_amount": consent.max_amount,
    }


def consent_view(stored: dict[str, object]) -> AutopayConsent:
    return AutopayConsent.model_validate(
        {**stored, "accepted_at": datetime.fromisoformat(str(stored["accepted_at"]))}, strict=False
    )
