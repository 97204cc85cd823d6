"""Payment plans and memberships at the API edge."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field, StrictInt, model_validator

from practicepay.api.models import StrictRequest
from practicepay.billing.schedule import MAX_INSTALLMENTS, Frequency
from practicepay.invoices.models import MAX_INVOICE_TOTAL, IsoDate

Cents = Annotated[StrictInt, Field(ge=1, le=MAX_INVOICE_TOTAL, description="Integer cents, e.g. 1050 for $10.50.")]
MethodId = Annotated[str, Field(pattern=r"^pm_[0-9a-z]{26}$")]


class InstallmentStatus(StrEnum):
    SCHEDULED = "scheduled"
    PROCESSING = "processing"
    PAID = "paid"
    FAILED = "failed"  # the latest attempt failed; another is scheduled (next_attempt_on)
    PAST_DUE = "past_due"  # failed with no retry left: staff or the patient must act
    CANCELED = "canceled"


class Consent(StrictRequest):
    """The patient's autopay authorization (NACHA and card-network recurring rules): which text they agreed to,
    when, and the most any one charge may take."""

    text_version: str = Field(pattern=r"^[A-Za-z0-9._-]{1,40}$", description="The version of the terms shown")
    accepted_at: AwareDatetime = Field(description="When the patient accepted, with a UTC offset")
    max_amount: Cents = Field(description="The cap: no single charge may exceed it")


class CreatePlanRequest(StrictRequest):
    installment_count: StrictInt | None = Field(default=None, ge=2, le=MAX_INSTALLMENTS)
    installment_amount: Cents | None = Field(
        default=None, description="Instead of a count: this much per installment, the remainder last."
    )
    frequency: Frequency
    first_date: IsoDate = Field(description="The first installment's date, today or later (YYYY-MM-DD)")
    payment_method_id: MethodId
    consent: Consent

    @model_validator(mode="after")
    def _count_or_amount(self) -> CreatePlanRequest:
        if (self.installment_count is None) == (self.installment_amount is None):
            raise ValueError("give exactly one of installment_count or installment_amount")
        return self


class ChangePlanRequest(StrictRequest):
    payment_method_id: MethodId = Field(description="The method future installments charge")


class PayInstallmentRequest(StrictRequest):
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
    consent: Consent
    retry_policy: RetryPolicyView
    created_at: str
    updated_at: str


class CreateSubscriptionRequest(StrictRequest):
    amount: Cents = Field(description="Charged every cycle, in cents")
    frequency: Frequency
    start_date: IsoDate = Field(description="The first cycle, today or later")
    end_date: IsoDate | None = Field(default=None, description="No cycle after this date")
    payment_method_id: MethodId
    consent: Consent

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
    consent: Consent
    created_at: str
    updated_at: str


class SubscriptionList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Subscription]


def consent_record(consent: Consent) -> dict[str, object]:
    return {
        "text_version": consent.text_version,
        "accepted_at": consent.accepted_at.isoformat(),
        "max_amount": consent.max_amount,
    }


def consent_view(stored: dict[str, object]) -> Consent:
    return Consent.model_validate(
        {**stored, "accepted_at": datetime.fromisoformat(str(stored["accepted_at"]))}, strict=False
    )
