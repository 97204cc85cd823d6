"""Patient and payment-method models at the API edge."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, Field, StrictInt, model_validator

from practicepay.api.models import StrictRequest, Timestamp, examples
from practicepay.invoices.models import EXTERNAL_ID, MAX_INVOICE_TOTAL, IsoDate

if TYPE_CHECKING:
    from practicepay.adapters.vault import PhiVault

Text = Annotated[str, Field(min_length=1, max_length=200)]
Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]
Phone = Annotated[str, Field(pattern=r"^\+?[0-9]{10,15}$")]


class PatientAddress(StrictRequest):
    line1: Text
    line2: Text | None = None
    city: Text
    state: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    postal_code: Annotated[str, Field(pattern=r"^[0-9]{5}(-[0-9]{4})?$")]


DEMOGRAPHICS = "patient-demographics"
"""The vault purpose (KMS encryption context) of a patient's sealed demographics."""


class Demographics(StrictRequest):
    """PHI. Stored as one KMS envelope-encrypted blob; never sent to Splash, never logged."""

    first_name: Text
    last_name: Text
    date_of_birth: IsoDate | None = None
    email: Email | None = None
    phone: Phone | None = None
    address: PatientAddress | None = None

    @classmethod
    def unsealed(cls, vault: PhiVault, sealed: str, practice_id: str) -> Demographics:
        """A patient's demographics from their sealed blob (KMS envelope, the practice's context)."""
        return cls.model_validate(vault.open(sealed, practice_id=practice_id, purpose=DEMOGRAPHICS))

    def answers(self, identity: str) -> bool:
        """Whether this record holds what the pay page's identity question asks (`date_of_birth`, or
        `last_name_zip`: the last name and the address's ZIP code)."""
        if identity == "date_of_birth":
            return self.date_of_birth is not None
        return bool(self.last_name) and self.address is not None


class CreatePatientRequest(Demographics):
    model_config = examples(
        {
            "external_id": "ehr-58213",
            "first_name": "Maria",
            "last_name": "Lopez",
            "date_of_birth": "1984-03-09",
            "email": "maria.lopez@example.com",
            "phone": "+13125550142",
            "address": {
                "line1": "1200 W Harrison St",
                "line2": "Apt 4B",
                "city": "Chicago",
                "state": "IL",
                "postal_code": "60607",
            },
        },
        {"external_id": "ehr-58214", "first_name": "James", "last_name": "Okafor"},
    )

    external_id: Annotated[str, Field(pattern=EXTERNAL_ID, description="The clinical platform's patient id")]


class UpdatePatientRequest(StrictRequest):
    """Only the fields sent change; `null` clears an optional field."""

    model_config = examples({"email": "m.lopez@example.net", "phone": "+13125550199"}, {"address": None})

    first_name: Text | None = None
    last_name: Text | None = None
    date_of_birth: IsoDate | None = None
    email: Email | None = None
    phone: Phone | None = None
    address: PatientAddress | None = None


class Patient(BaseModel):
    id: str
    object: Literal["patient"] = "patient"
    external_id: str
    first_name: str
    last_name: str
    date_of_birth: date | None = None
    email: str | None = None
    phone: str | None = None
    address: PatientAddress | None = None
    created_at: str
    updated_at: str


class PatientList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Patient]
    has_more: bool
    next_cursor: str | None = None


class MethodKind(StrEnum):
    CARD = "card"
    BANK_ACCOUNT = "bank_account"


class MethodConsent(StrictRequest):
    """The patient's authorization to charge this method (NACHA requires it for eCheck debits)."""

    text_version: Annotated[str, Field(min_length=1, max_length=40, description="Version of the consent text shown")]
    accepted_at: Timestamp = Field(description="When the patient agreed (RFC 3339 with an offset)")
    captured_by: Annotated[str, Field(min_length=1, max_length=100, description="Staff member or system id")]
    channel: Literal["in_person", "phone", "online", "paper", "pay_page"] = Field(
        description="pay_page: the patient typed it on PracticePay's pay page (captured_by `patient`)"
    )
    max_amount: StrictInt | None = Field(
        default=None, ge=1, le=MAX_INVOICE_TOTAL, description="Optional cap per charge, in cents"
    )


class TestCard(StrictRequest):
    number: Annotated[str, Field(pattern=r"^[0-9]{13,19}$")]
    exp_month: Annotated[StrictInt, Field(ge=1, le=12)]
    exp_year: Annotated[StrictInt, Field(ge=2000, le=2099)]
    cvc: Annotated[str, Field(pattern=r"^[0-9]{3,4}$")] | None = None


class TestBankAccount(StrictRequest):
    routing_number: Annotated[str, Field(pattern=r"^[0-9]{9}$")]
    account_number: Annotated[str, Field(pattern=r"^[0-9]{4,17}$")]
    account_type: Literal["checking", "savings"] = "checking"


class AddPaymentMethodRequest(StrictRequest):
    """Either `token` (what Splash PayFields returns in the browser) or, only while the Splash sandbox is the
    configured host, test `card` or `bank_account` numbers the server tokenizes."""

    model_config = examples(
        {
            "token": "9f8c2b7e4d1a4c3b8e6f0a2d5c7b9e1f",
            "consent": {
                "text_version": "card-on-file-2026-01",
                "accepted_at": "2026-12-01T15:30:00Z",
                "captured_by": "front-desk-jdoe",
                "channel": "in_person",
            },
        },
        {
            "card": {"number": "4111111111111111", "exp_month": 12, "exp_year": 2029, "cvc": "123"},
            "consent": {
                "text_version": "card-on-file-2026-01",
                "accepted_at": "2026-12-01T15:30:00Z",
                "captured_by": "front-desk-jdoe",
                "channel": "in_person",
            },
        },
        {
            "bank_account": {"routing_number": "021000021", "account_number": "987654321012"},
            "consent": {
                "text_version": "ach-debit-2026-01",
                "accepted_at": "2026-12-01T15:30:00Z",
                "captured_by": "front-desk-jdoe",
                "channel": "paper",
                "max_amount": 50000,
            },
        },
    )

    token: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")] | None = None
    card: TestCard | None = None
    bank_account: TestBankAccount | None = None
    consent: MethodConsent

    @model_validator(mode="after")
    def _exactly_one_source(self) -> AddPaymentMethodRequest:
        if sum(x is not None for x in (self.token, self.card, self.bank_account)) != 1:
            raise ValueError("send exactly one of token, card or bank_account")
        return self


class PaymentMethod(BaseModel):
    id: str
    object: Literal["payment_method"] = "payment_method"
    patient_id: str
    kind: MethodKind
    brand: str | None = Field(default=None, description="Card brand, e.g. visa")
    account_type: str | None = Field(default=None, description="Bank accounts: checking or savings")
    last4: str
    exp_month: int | None = None
    exp_year: int | None = None
    status: Literal["active", "inactive", "blocked"] = Field(
        description="inactive: removed; blocked: the bank returned a debit with a code that forbids debiting again"
    )
    blocked_reason: str | None = Field(default=None, description="The return code and its meaning, e.g. R02")
    verified_at: str | None = Field(
        default=None, description="Bank accounts: when Splash validated the account (before a first WEB debit)"
    )
    update_required: bool = Field(
        default=False, description="Cards: the issuer says the card needs the patient's new details (update_reason)"
    )
    update_reason: Literal["closed", "contact_cardholder"] | None = Field(
        default=None,
        description="Why, from the card issuer's account updater: closed (the account was closed) or "
        "contact_cardholder (the issuer will only give the new details to the cardholder)",
    )
    consent: MethodConsent
    created_at: str


class PaymentMethodList(BaseModel):
    object: Literal["list"] = "list"
    data: list[PaymentMethod]
