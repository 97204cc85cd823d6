"""Practice onboarding and settings at the API edge. Owner SSNs, the EIN and the full bank account number are
read here, passed to Splash, and never stored, echoed or logged (reprs hide them; the record keeps last4)."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from practicepay.api.models import StrictRequest, Timestamp, examples
from practicepay.billing.schedule import MAX_INSTALLMENTS, RetryPolicy
from practicepay.clock import time_zone
from practicepay.errors import Conflict
from practicepay.splash.models import MerchantStatus
from practicepay.splash.outbound import StatementDescriptor

PRACTICE_ID = r"^[A-Za-z0-9_-]{1,64}$"

# -- the practice record and its rules (stored by practices.store) ----------------------------------------------

# Splash decides these for good; until then the practice is in the sparse `onboarding` index the poll reads.
SETTLED_MERCHANT_STATUSES = frozenset({MerchantStatus.BOARDED, MerchantStatus.CLOSED})
ONBOARDING_PARTITION = "ONBOARDING"


# Each setting's bounds, once: for the settings themselves and for a change to them (models.SettingsChange).
RetryDays = Annotated[tuple[Annotated[StrictInt, Field(ge=1, le=60)], ...], Field(max_length=6, strict=False)]
RedepositDelayDays = Annotated[int, Field(ge=1, le=60)]
NoticeDays = Annotated[int, Field(ge=0, le=30)]
PaymentTermsDays = Annotated[int, Field(ge=0, le=365)]
EncounterInvoiceStatus = Literal["draft", "open"]
# The pay page's (issue #17): pay links, the identity check, partial payments and the plans patients may choose.
PayLinkDays = Annotated[int, Field(ge=1, le=120)]
PayLinkMaxUses = Annotated[int, Field(ge=1, le=20)]
PayPageIdentity = Literal["date_of_birth", "last_name_zip"]
PayPageLanguage = Literal["en", "es"]
MinimumPayment = Annotated[int, Field(ge=1, le=100_000)]
PlanMaxInstallments = Annotated[int, Field(ge=0, le=MAX_INSTALLMENTS)]
MinimumInstallment = Annotated[int, Field(ge=100, le=1_000_000)]
PlanFirstWithinDays = Annotated[int, Field(ge=0, le=60)]
ContactPhone = Annotated[str, Field(pattern=r"^[0-9]{10}$")]
ContactEmail = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]
# Patient messages' (issue #18): channels, the reminder cadence, quiet hours for texts, the sender.
ReminderDays = Annotated[tuple[Annotated[StrictInt, Field(ge=-30, le=180)], ...], Field(max_length=8, strict=False)]
Hour = Annotated[int, Field(ge=0, le=23)]
TimeZoneName = Annotated[str, Field(max_length=64)]
SenderName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^<>\"\r\n]+$")]
LogoUrl = Annotated[str, Field(pattern=r"^https://[A-Za-z0-9.:/_%~+-]{4,300}$")]


class PracticeSettings(BaseModel):
    """A practice's own settings. The autopay ones are copied onto each plan and membership when it is made, so a
    patient's agreed schedule does not change under them."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    statement_descriptor: StatementDescriptor | None = Field(
        default=None,
        description="What the patient's card or bank statement shows (2-22 letters, digits, space . & * -); "
        "sent on each charge. Unset: the merchant's name at Splash.",
    )
    card_retry_days: RetryDays = Field(
        default=(1, 3, 7),
        description="Soft card declines of autopay charges are tried again this many days after the first attempt "
        "(hard declines never are).",
    )
    ach_redeposit_delay_days: RedepositDelayDays = Field(
        default=5, description="An R01/R09 return is re-presented this many days after it (NACHA: twice at most)."
    )
    notice_days: NoticeDays = Field(
        default=3, description="Days before each autopay charge that installment.upcoming is emitted."
    )
    encounter_invoice_status: EncounterInvoiceStatus = Field(
        default="draft",
        description="Whether an invoice made from a clinical encounter waits as a draft for review, or is issued "
        "(open) at once.",
    )
    payment_terms_days: PaymentTermsDays = Field(
        default=30, description="An encounter's invoice is due this many days after it is made."
    )
    pay_link_days: PayLinkDays = Field(default=30, description="A pay link expires this many days after it is sent.")
    pay_link_max_uses: PayLinkMaxUses = Field(
        default=3, description="A pay link ends after this many verified visits (whichever comes first)."
    )
    balance_links: bool = Field(
        default=False,
        description="Staff may send one link covering all of a patient's open invoices "
        "(POST /patients/{id}/pay-links).",
    )
    pay_page_identity: PayPageIdentity = Field(
        default="date_of_birth",
        description="What the pay page asks before it shows anything: the date of birth, or the last name and "
        "ZIP code.",
    )
    pay_page_language: PayPageLanguage = Field(
        default="en", description="The pay page's language until the patient picks."
    )
    minimum_payment: MinimumPayment = Field(
        default=500, description="The least a patient may pay on the pay page when paying part of a bill, in cents."
    )
    plan_max_installments: PlanMaxInstallments = Field(
        default=6, description="The most installments a patient may choose on the pay page; 0: no self-service plans."
    )
    plan_min_installment: MinimumInstallment = Field(
        default=2500, description="The smallest installment a patient may choose on the pay page, in cents."
    )
    plan_first_within_days: PlanFirstWithinDays = Field(
        default=30, description="A plan chosen on the pay page starts within this many days."
    )
    contact_phone: ContactPhone | None = Field(default=None, description="The billing office's phone, on the pay page.")
    contact_email: ContactEmail | None = Field(default=None, description="The billing office's email, on the pay page.")
    messages_email: bool = Field(default=True, description="Patients get statements, reminders and notices by email.")
    messages_sms: bool = Field(
        default=True, description="Patients who consented to texts get them by SMS (STOP ends them)."
    )
    reminder_days: ReminderDays = Field(
        default=(-3, 7, 30, 60),
        description="Balance reminders, in days relative to the invoice's due date (-3: three days before), until it "
        "is paid, on a plan, written off or canceled.",
    )
    quiet_start_hour: Hour = Field(default=21, description="No text is sent from this hour (patient's local time).")
    quiet_end_hour: Hour = Field(default=8, description="Texts held for quiet hours go at this hour.")
    time_zone: TimeZoneName = Field(
        default="America/New_York", description="The practice's IANA time zone: a patient's unless they have one."
    )
    sender_name: SenderName | None = Field(
        default=None, description="The From name on emails; unset: the practice's name."
    )
    reply_to: ContactEmail | None = Field(default=None, description="Where patients' email replies go.")
    logo_url: LogoUrl | None = Field(default=None, description="An https image shown at the top of emails.")

    @field_validator("card_retry_days")
    @classmethod
    def _increasing(cls, days: tuple[int, ...]) -> tuple[int, ...]:
        if list(days) != sorted(set(days)):
            raise ValueError("card_retry_days are increasing day counts from 1 to 60")
        return days

    @field_validator("reminder_days")
    @classmethod
    def _reminders_increasing(cls, days: tuple[int, ...]) -> tuple[int, ...]:
        if list(days) != sorted(set(days)):
            raise ValueError("reminder_days are increasing day offsets from the due date, from -30 to 180")
        return days

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, name: str) -> str:
        time_zone(name)
        return name

    def policy(self) -> RetryPolicy:
        return RetryPolicy(
            card_retry_days=self.card_retry_days,
            ach_redeposit_delay_days=self.ach_redeposit_delay_days,
            notice_days=self.notice_days,
        )


class Practice(BaseModel):
    model_config = ConfigDict(frozen=True)
    practice_id: str
    name: str
    splash_entity_id: str | None = None
    splash_merchant_id: str | None = None
    merchant_status: int | None = None
    merchant_held: bool = False
    """Splash holds the merchant (its record is frozen or inactive): no charges until it is released."""
    bank_account_last4: str | None = None
    boarding_token: str | None = None
    """The REQUEST-TOKEN of the boarding attempt (random), reused by a retry while Splash's answer is unknown."""
    settings: PracticeSettings = PracticeSettings()
    created_at: str | None = None
    updated_at: str
    version: int = 1

    def merchant_for_charging(self) -> str:
        """The boarded merchant to charge through; Conflict (409) when the practice cannot take payments yet."""
        if self.splash_merchant_id is not None and self.merchant_status == MerchantStatus.CLOSED:
            raise Conflict("This practice cannot take payments: its Splash merchant account is closed.")
        if self.splash_merchant_id is None or self.merchant_status != MerchantStatus.BOARDED:
            raise Conflict(
                "This practice cannot take payments yet: its Splash merchant account is not boarded. "
                "Finish onboarding first."
            )
        if self.merchant_held:
            raise Conflict("This practice cannot take payments now: Splash is holding its merchant account.")
        return self.splash_merchant_id


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


class BusinessAddress(StrictRequest):
    line1: str = Field(min_length=1, max_length=100)
    city: str = Field(min_length=1, max_length=50)
    state: str = Field(pattern=r"^[A-Z]{2}$", description="Two-letter state code, e.g. IL.")
    zip: str = Field(pattern=r"^[0-9]{5}(-[0-9]{4})?$")


class Owner(StrictRequest):
    """A person owning part of the practice (KYC for the merchant account; never a patient)."""

    first_name: str = Field(min_length=1, max_length=100)
    last_name: str = Field(min_length=1, max_length=100)
    title: str | None = Field(default=None, max_length=50)
    date_of_birth: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD (Splash requires it).")
    email: str | None = Field(default=None, max_length=254)
    ssn: str = Field(pattern=r"^[0-9]{9}$", repr=False, description="9 digits; sent to Splash, never stored.")
    ownership_bp: StrictInt = Field(ge=0, le=10_000, description="Ownership in basis points: 2500 is 25%.")
    primary: bool = Field(default=False, description="The principal owner; the first owner when none is marked.")


class DepositAccount(StrictRequest):
    """The practice's bank account that Splash deposits funds into."""

    kind: Literal["checking", "savings", "corporate_checking", "corporate_savings"] = "corporate_checking"
    routing_number: str = Field(pattern=r"^[0-9]{9}$")
    account_number: str = Field(pattern=r"^[0-9]{4,17}$", repr=False, description="Sent to Splash; we keep last4.")


class SettingsChange(StrictRequest):
    """Only the fields sent change; the rest keep their values."""

    model_config = examples(
        {"statement_descriptor": "LAKESIDE FAMILY MED", "notice_days": 5},
        {"card_retry_days": [2, 5, 10], "ach_redeposit_delay_days": 3, "encounter_invoice_status": "open"},
        {"payment_terms_days": 45},
    )

    statement_descriptor: StatementDescriptor | None = None
    card_retry_days: RetryDays | None = None
    ach_redeposit_delay_days: RedepositDelayDays | None = None
    notice_days: NoticeDays | None = None
    encounter_invoice_status: EncounterInvoiceStatus | None = None
    payment_terms_days: PaymentTermsDays | None = None
    pay_link_days: PayLinkDays | None = None
    pay_link_max_uses: PayLinkMaxUses | None = None
    balance_links: bool | None = None
    pay_page_identity: PayPageIdentity | None = None
    pay_page_language: PayPageLanguage | None = None
    minimum_payment: MinimumPayment | None = None
    plan_max_installments: PlanMaxInstallments | None = None
    plan_min_installment: MinimumInstallment | None = None
    plan_first_within_days: PlanFirstWithinDays | None = None
    contact_phone: ContactPhone | None = None
    contact_email: ContactEmail | None = None
    messages_email: bool | None = None
    messages_sms: bool | None = None
    reminder_days: ReminderDays | None = None
    quiet_start_hour: Hour | None = None
    quiet_end_hour: Hour | None = None
    time_zone: TimeZoneName | None = None
    sender_name: SenderName | None = None
    reply_to: ContactEmail | None = None
    logo_url: LogoUrl | None = None


# Splash's time zone for a practice's IANA zone, by the zone's standard (January) UTC offset. Recorded values are
# "mst" and "cst"; the other names are a guess at the same scheme.
_SPLASH_ZONES = {-4.0: "ast", -5.0: "est", -6.0: "cst", -7.0: "mst", -8.0: "pst", -9.0: "akst", -10.0: "hst"}


def splash_timezone(name: str) -> str:
    """Splash's zone name for an IANA time zone; ValueError when it is no zone or one Splash has no name for."""
    zone = time_zone(name)
    offset = datetime(2025, 1, 15, 12, tzinfo=zone).utcoffset()
    hours = offset.total_seconds() / 3600 if offset is not None else None
    if hours not in _SPLASH_ZONES:
        raise ValueError("must be a US time zone (UTC-4 to UTC-10 in winter), e.g. America/Chicago")
    return _SPLASH_ZONES[hours]


def _ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError("must be an IPv4 or IPv6 address") from None


class TermsAcceptance(StrictRequest):
    """The practice's acceptance of Splash's merchant terms, as the practice's own signer gave it (sent to Splash
    as tcVersion, tcAcceptDate, tcAcceptIp and the entity's clientIp)."""

    version: str = Field(min_length=1, max_length=20, description="The terms version accepted.")
    accepted_at: Timestamp = Field(description="When the practice accepted them (RFC 3339 with an offset).")
    ip: str = Field(
        max_length=45,
        description="The IP address the practice accepted them from (not the API caller's: that is the platform).",
    )

    @field_validator("ip")
    @classmethod
    def _an_ip(cls, value: str) -> str:
        return _ip(value)


class OnboardPracticeRequest(StrictRequest):
    model_config = examples(
        {
            "practice_id": "prc_lakeside_fm",
            "legal_name": "Lakeside Family Medicine LLC",
            "business_type": "llc",
            "dba": "Lakeside Family Medicine",
            "ein": "551234567",
            "address": {"line1": "200 Lake St", "city": "Springfield", "state": "IL", "zip": "62704"},
            "phone": "2175550199",
            "email": "office@lakeside.example",
            "website": "https://lakeside.example",
            "established": "2014-06-01",
            "mcc": "8011",
            "owners": [
                {
                    "first_name": "Ada",
                    "last_name": "Lake",
                    "title": "Managing physician",
                    "date_of_birth": "1975-04-02",
                    "email": "ada.lake@lakeside.example",
                    "ssn": "123456789",
                    "ownership_bp": 6000,
                    "primary": True,
                },
                {
                    "first_name": "Ben",
                    "last_name": "Lake",
                    "date_of_birth": "1978-11-30",
                    "ssn": "223456789",
                    "ownership_bp": 4000,
                },
            ],
            "bank_account": {
                "kind": "corporate_checking",
                "routing_number": "021000021",
                "account_number": "987654321012",
            },
            "timezone": "America/Chicago",
            "terms_acceptance": {"version": "4.21", "accepted_at": "2026-11-20T15:04:00Z", "ip": "198.51.100.23"},
            "settings": {"statement_descriptor": "LAKESIDE FAMILY MED", "encounter_invoice_status": "open"},
        }
    )

    practice_id: str = Field(
        pattern=PRACTICE_ID, description="The clinical platform's id for the practice (its tokens' practice_id)."
    )
    legal_name: str = Field(min_length=1, max_length=100)
    business_type: BusinessType = "llc"
    dba: str | None = Field(default=None, min_length=1, max_length=100, description="Doing-business-as name.")
    ein: str = Field(pattern=r"^[0-9]{9}$", repr=False, description="Employer Identification Number, 9 digits.")
    address: BusinessAddress
    phone: str = Field(pattern=r"^[0-9]{10}$")
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)
    website: str | None = Field(default=None, max_length=200)
    established: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD.")
    mcc: str = Field(default="8011", pattern=r"^[0-9]{4}$", description="8011: doctors' offices.")
    owners: list[Owner] = Field(min_length=1, max_length=4)
    bank_account: DepositAccount
    timezone: str = Field(max_length=64, description="The practice's IANA time zone, e.g. America/Chicago.")
    terms_acceptance: TermsAcceptance
    settings: SettingsChange = Field(
        default_factory=SettingsChange,
        description="The practice's settings; each one left out keeps its default.",
    )

    @field_validator("timezone")
    @classmethod
    def _a_zone(cls, value: str) -> str:
        splash_timezone(value)
        return value

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
