"""Report models at the API edge. Money is integer cents. No PHI: patients are named by their opaque id only, and
no line-item text appears anywhere."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from practicepay.payments.models import PaymentStatus

BUCKETS = ("current", "1_30", "31_60", "61_90", "over_90")
"""Days past due as of the report date: `current` is not yet due (due date on or after it), then 1–30 days late,
31–60, 61–90, more than 90."""

BASIS = "current_balances"
BASIS_DETAIL = (
    "Balances are the invoices' balances when the report is generated (generated_at), aged by their days past "
    "due as of as_of. Invoices created after as_of are left out, but payments, returns and write-offs recorded "
    "after as_of are already reflected: this is not a point-in-time balance as of as_of."
)


class PaymentRow(BaseModel):
    """One payment. `amount` and `amount_refunded` are cents."""

    id: str
    created_at: str = Field(description="When the payment was recorded (UTC, ISO 8601)")
    amount: int = Field(description="Cents")
    currency: Literal["usd"] = "usd"
    status: PaymentStatus
    payment_method_id: str
    method_kind: Literal["card", "bank_account"]
    method_brand: str | None = Field(default=None, description="Card brand (visa, mastercard, …); null for banks")
    method_last4: str | None = None
    failure_code: str | None = Field(default=None, description="Decline category, e.g. insufficient_funds")
    failure_message: str | None = Field(default=None, description="What the processor said (safe for staff)")
    return_code: str | None = Field(default=None, description="NACHA return code of a returned eCheck, e.g. R02")
    return_message: str | None = None
    amount_refunded: int = Field(default=0, description="Cents")
    invoice_id: str
    patient_id: str
    installment_id: str | None = Field(default=None, description="The plan installment or membership cycle")
    amount_charged_back: int = Field(default=0, description="Cents taken back by a chargeback not won")
    fee: int | None = Field(
        default=None, description="Processing fees Splash took for it, in cents; null until its deposit is read"
    )
    net: int | None = Field(
        default=None, description="What the practice kept: amount − refunded − charged back − fee (cents)"
    )
    deposit_id: str | None = Field(default=None, description="The deposit its money reached, once read")


class PaymentReport(BaseModel):
    object: Literal["payment_report"] = "payment_report"
    data: list[PaymentRow] = Field(description="Oldest first")
    has_more: bool
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor`, with the same filters, for the next page (CSV: X-Next-Cursor)."
    )


class _Aging(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    invoices: int = Field(default=0, description="Invoices with a balance owed")
    current: int = Field(default=0, description="Cents not yet due (due date on or after as_of)")
    days_1_30: int = Field(default=0, alias="1_30", description="Cents 1–30 days past due")
    days_31_60: int = Field(default=0, alias="31_60", description="Cents 31–60 days past due")
    days_61_90: int = Field(default=0, alias="61_90", description="Cents 61–90 days past due")
    over_90: int = Field(default=0, description="Cents more than 90 days past due")
    total: int = Field(default=0, description="Cents owed in all")


class _PatientRef(BaseModel):
    patient_id: str


class _PatientCount(BaseModel):
    patients: int = Field(default=0, description="Patients with a balance owed")


class PatientAging(_Aging, _PatientRef):
    """One patient's owed balances (patient_id first, then the figures)."""


class AgingTotals(_Aging, _PatientCount):
    """The practice's owed balances."""


class ReceivablesReport(BaseModel):
    """Accounts-receivable aging: what each patient owes, by days past due as of `as_of`."""

    object: Literal["receivables_report"] = "receivables_report"
    as_of: date
    generated_at: str = Field(description="When the balances were read (UTC)")
    basis: Literal["current_balances"] = Field(default=BASIS, description=BASIS_DETAIL)
    basis_detail: str = BASIS_DETAIL
    totals: AgingTotals
    patients: list[PatientAging] = Field(description="Sorted by patient_id")
