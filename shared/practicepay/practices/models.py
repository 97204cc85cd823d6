"""Practice onboarding and settings at the API edge. Owner SSNs, the EIN and the full bank account number are
read here, passed to Splash, and never stored, echoed or logged (reprs hide them; the record keeps last4)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, StrictInt, model_validator

from practicepay.api.models import StrictRequest
from practicepay.practices.store import (
    EncounterInvoiceStatus,
    NoticeDays,
    PaymentTermsDays,
    PracticeSettings,
    RedepositDelayDays,
    RetryDays,
)
from practicepay.splash.outbound import StatementDescriptor

PRACTICE_ID = r"^[A-Za-z0-9_-]{1,64}$"


BusinessType = Literal[
    "sole_proprietorship",
    "corporation",
    "llc",
    "partnership",
    "association",
    "non_profit",
    "government",
    "c_corporation",
    "s_corporation",
]
"""In Splash's entity type order (0-8)."""


class Address(StrictRequest):
    line1: str = Field(min_length=1, max_length=100)
    city: str = Field(min_length=1, max_length=50)
    state: str = Field(pattern=r"^[A-Z]{2}$", description="Two-letter state code, e.g. IL.")
    zip: str = Field(pattern=r"^[0-9]{5}(-[0-9]{4})?$")


class Owner(StrictRequest):
    """A person owning part of the practice (KYC for the merchant account; never a patient)."""

    first_name: str = Field(min_length=1, max_length=100)
    last_name: str = Field(min_length=1, max_length=100)
    title: str | None = Field(default=None, max_length=50)
    date_of_birth: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    email: str | None = Field(default=None, max_length=254)
    ssn: str = Field(pattern=r"^[0-9]{9}$", repr=False, description="9 digits; sent to Splash, never stored.")
    ownership_bp: StrictInt = Field(ge=0, le=10_000, description="Ownership in basis points: 2500 is 25%.")
    primary: bool = Field(default=False, description="The principal owner; the first owner when none is marked.")


class DepositAccount(StrictRequest):
    """The practice's bank account that Splash deposits funds into."""

    kind: Literal["checking", "savings", "corporate_checking", "corporate_savings"] = "corporate_checking"
    routing_number: str = Field(pattern=r"^[0-9]{9}$")
    account_number: str = Field(pattern=r"^[0-9]{4,17}$", repr=False, description="Sent to Splash; we keep last4.")


class OnboardPracticeRequest(StrictRequest):
    practice_id: str = Field(
        pattern=PRACTICE_ID, description="The clinical platform's id for the practice (its tokens' practice_id)."
    )
    legal_name: str = Field(min_length=1, max_length=100)
    business_type: BusinessType = "llc"
    dba: str | None = Field(default=None, min_length=1, max_length=100, description="Doing-business-as name.")
    ein: str = Field(pattern=r"^[0-9]{9}$", repr=False, description="Employer Identification Number, 9 digits.")
    address: Address
    phone: str = Field(pattern=r"^[0-9]{10}$")
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)
    website: str | None = Field(default=None, max_length=200)
    established: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD.")
    mcc: str = Field(default="8011", pattern=r"^[0-9]{4}$", description="8011: doctors' offices.")
    owners: list[Owner] = Field(min_length=1, max_length=4)
    bank_account: DepositAccount
    settings: PracticeSettings = PracticeSettings()

    @model_validator(mode="after")
    def _ownership(self) -> OnboardPracticeRequest:
        if sum(o.ownership_bp for o in self.owners) > 10_000:
            raise ValueError("the owners' ownership_bp add up to more than 10000 (100%)")
        if sum(o.primary for o in self.owners) > 1:
            raise ValueError("mark at most one owner as primary")
        return self


BoardingStatus = Literal[
    "submitting", "not_ready", "submitted", "underwriting", "boarded", "manual_review", "closed", "incomplete"
]


class PracticeView(BaseModel):
    id: str
    object: Literal["practice"] = "practice"
    name: str
    boarding_status: BoardingStatus = Field(
        description="submitting (Splash has not acknowledged it yet; retry the POST), then Splash's merchant status"
    )
    can_take_payments: bool
    splash_merchant_id: str | None = None
    bank_account_last4: str | None = None
    settings: PracticeSettings
    created_at: str | None = None
    updated_at: str


class SettingsChange(StrictRequest):
    """Only the fields sent change; the rest keep their values."""

    statement_descriptor: StatementDescriptor | None = None
    card_retry_days: RetryDays | None = None
    ach_redeposit_delay_days: RedepositDelayDays | None = None
    notice_days: NoticeDays | None = None
    encounter_invoice_status: EncounterInvoiceStatus | None = None
    payment_terms_days: PaymentTermsDays | None = None
