"""Invoice models at the API edge (request and response) and the invoice lifecycle's statuses.

Money is integer cents in USD, as Stripe's API does: `unit_amount: 1050` is $10.50; floats, strings and
booleans are refused, never rounded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field, StrictInt, model_validator

from practicepay.api.models import StrictRequest, examples

MAX_LINE_ITEMS = 100
MAX_UNIT_AMOUNT = 99_999_999  # $999,999.99
MAX_QUANTITY = 1_000
MAX_INVOICE_TOTAL = 999_999_999  # $9,999,999.99
EXTERNAL_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class InvoiceStatus(StrEnum):
    """design.md §5. Only `draft` is reachable until issuing and payments land; the rest are reserved."""

    DRAFT = "draft"
    OPEN = "open"
    PARTIALLY_PAID = "partially_paid"
    IN_PROGRESS = "in_progress"
    PROCESSING = "processing"
    PAID = "paid"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    CANCELED = "canceled"
    UNCOLLECTIBLE = "uncollectible"


def _iso_date(value: object) -> object:
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError("must be a date written YYYY-MM-DD, e.g. 2026-12-31")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError("is not a real date") from None


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
Cents = Annotated[StrictInt, Field(ge=1, le=MAX_UNIT_AMOUNT, description="Integer cents, e.g. 1050 for $10.50.")]


class LineItemInput(StrictRequest):
    description: str = Field(min_length=1, max_length=500, description="What was provided. PHI: stored encrypted.")
    cpt_code: str | None = Field(
        default=None,
        pattern=r"^[0-9]{4}[0-9A-Z]$",
        description="Optional CPT/HCPCS-style 5-character procedure code. PHI: stored encrypted.",
    )
    quantity: StrictInt = Field(default=1, ge=1, le=MAX_QUANTITY)
    unit_amount: Cents


class CreateInvoiceRequest(StrictRequest):
    model_config = examples(
        {
            "patient_id": "ehr-58213",
            "due_date": "2027-01-04",
            "currency": "usd",
            "line_items": [
                {"description": "Office visit, new patient, 30 minutes", "cpt_code": "99203", "unit_amount": 18000},
                {"description": "Flu vaccine, quadrivalent", "cpt_code": "90686", "quantity": 1, "unit_amount": 3500},
            ],
        }
    )

    patient_id: str = Field(
        pattern=EXTERNAL_ID, description="The clinical platform's opaque patient reference (no names or MRNs)."
    )
    due_date: IsoDate = Field(description="When payment is due, YYYY-MM-DD.")
    currency: Literal["usd"] = "usd"
    line_items: list[LineItemInput] = Field(min_length=1, max_length=MAX_LINE_ITEMS)

    @model_validator(mode="after")
    def _total_in_range(self) -> CreateInvoiceRequest:
        total = sum(item.quantity * item.unit_amount for item in self.line_items)
        if total > MAX_INVOICE_TOTAL:
            raise ValueError(f"the invoice total {total} cents exceeds the maximum of {MAX_INVOICE_TOTAL} cents")
        return self


class LineItem(BaseModel):
    description: str
    cpt_code: str | None = None
    quantity: int
    unit_amount: int
    amount: int = Field(description="quantity × unit_amount, in cents.")
    service_date: date | None = Field(default=None, description="When the service was provided (from an encounter).")


class Invoice(BaseModel):
    id: str
    object: Literal["invoice"] = "invoice"
    patient_id: str
    status: InvoiceStatus
    currency: Literal["usd"]
    due_date: date
    line_items: list[LineItem]
    subtotal: int = Field(description="Sum of line-item amounts, in cents.")
    total: int = Field(description="What the patient owes in all, in cents.")
    amount_paid: int = Field(description="Charged and approved, in cents (includes eChecks still in flight).")
    amount_processing: int = Field(default=0, description="Part of amount_paid in eChecks not yet settled.")
    amount_refunded: int = 0
    amount_charged_back: int = Field(
        default=0, description="Taken back by chargebacks not won (cents): already out of amount_paid, owed again"
    )
    amount_due: int = Field(description="total - amount_paid - amount_written_off: what the patient still owes.")
    amount_written_off: int = 0
    write_off_reason: str | None = None
    past_due: bool = Field(default=False, description="Open with a balance after its due date (UTC).")
    payment_plan_id: str | None = Field(
        default=None, description="The payment plan or membership collecting the balance by autopay (in_progress)."
    )
    encounter_id: str | None = Field(
        default=None, description="The clinical platform's encounter this invoice bills (POST /events/encounters)."
    )
    created_at: str
    updated_at: str


WriteOffReason = Literal["bad_debt", "bankruptcy", "patient_deceased", "small_balance", "hardship", "other"]


class WriteOffRequest(StrictRequest):
    model_config = examples({"reason": "small_balance"})

    reason: WriteOffReason = Field(description="Why the balance is uncollectible (a code: free text could be PHI).")


class InvoiceList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Invoice]
    has_more: bool
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` to get the next page.")


# -- the stored record (invoices.store keeps it; lifecycle holds its rules) -------------------------------------


@dataclass(frozen=True)
class InvoiceRecord:
    practice_id: str
    id: str
    patient_id: str
    status: str
    currency: str
    due_date: str
    line_items_sealed: str
    line_item_count: int
    subtotal: int
    total: int
    amount_paid: int
    created_at: str
    updated_at: str
    version: int = 1
    amount_pending: int = 0
    """Reserved by payments whose outcome is not known yet (sent, or unknown)."""
    amount_processing: int = 0
    """Part of amount_paid still in flight (approved eChecks not settled)."""
    amount_refunded: int = 0
    amount_charged_back: int = 0
    """Taken back by chargebacks not won: amount_paid already went down by it (the patient owes it again)."""
    amount_written_off: int = 0
    write_off_reason: str | None = None
    plan_id: str | None = None
    """The payment plan (pln_…) or membership (sub_…) collecting this invoice by autopay; it is `in_progress`."""
    encounter_id: str | None = None
    """The clinical platform's encounter this invoice bills (made from POST /events/encounters)."""
    encounter_revision: int | None = None

    @property
    def payable_balance(self) -> int:
        """What the patient can still pay now: the total less what is paid, what payments in flight hold, and what
        was written off."""
        return self.total - self.amount_paid - self.amount_pending - self.amount_written_off
