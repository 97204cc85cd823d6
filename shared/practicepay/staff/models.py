"""Staff records and their rules: a dashboard session (idle and absolute limits), a sign-in in flight (OIDC state,
PKCE verifier, nonce), who is acting (the actor an audit entry names), an audit entry, and the dashboard's forms.

A session is known by the SHA-256 of its cookie value: the value itself is never stored, so a read of the table
cannot sign anyone in. The same goes for a sign-in's `state`."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from practicepay.clock import from_iso, iso
from practicepay.invoices.models import WriteOffReason
from practicepay.staff.roles import Role

SESSION_COOKIE = "pp_staff"
ABSOLUTE_HOURS = 12
"""A session ends this long after sign-in, however active (a shift), besides the idle limit."""
TOUCH_SECONDS = 30
"""A session's last activity is written at most this often (every request would be a write)."""
SIGNIN_MINUTES = 10
"""A sign-in started at the identity provider must come back within this."""


def secret_hash(value: str) -> str:
    """The key a cookie's or a state's value is stored under."""
    return hashlib.sha256(value.encode()).hexdigest()


def new_secret() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: BASE64URL(SHA256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class StaffSession:
    id_hash: str
    practice_id: str
    subject: str
    name: str
    """The staff member's name or e-mail from the identity provider (who did it, in the audit trail)."""
    role: str
    csrf: str
    """Every form carries it; a POST without it (or with another session's) changes nothing."""
    created_at: str
    last_seen: str
    idle_minutes: int
    via: str = "oidc"
    """oidc, or dev (the local stack's development sign-in)."""

    @classmethod
    def new(
        cls,
        cookie: str,
        practice_id: str,
        subject: str,
        name: str,
        role: Role,
        now: datetime,
        idle_minutes: int,
        via: str,
    ) -> StaffSession:
        return cls(
            id_hash=secret_hash(cookie),
            practice_id=practice_id,
            subject=subject,
            name=name,
            role=role.value,
            csrf=new_secret(),
            created_at=iso(now),
            last_seen=iso(now),
            idle_minutes=idle_minutes,
            via=via,
        )

    @property
    def staff_role(self) -> Role:
        return Role(self.role)

    def ended(self, now: datetime) -> str | None:
        """Why it has ended (idle, expired), or None while it lasts."""
        if now >= from_iso(self.created_at) + timedelta(hours=ABSOLUTE_HOURS):
            return "expired"
        if now >= from_iso(self.last_seen) + timedelta(minutes=self.idle_minutes):
            return "idle"
        return None

    def idle_left(self, now: datetime) -> int:
        """Seconds until the idle limit ends it, counted from its last recorded activity (written at most every
        TOUCH_SECONDS, so up to that much before this request): what the page's own idle timer must count down."""
        end = from_iso(self.last_seen) + timedelta(minutes=self.idle_minutes)
        return max(0, int((end - now).total_seconds()))

    def needs_touch(self, now: datetime) -> bool:
        return now - from_iso(self.last_seen) >= timedelta(seconds=TOUCH_SECONDS)

    def touched(self, now: datetime) -> StaffSession:
        return replace(self, last_seen=iso(now))

    def expiration(self) -> int:
        """The TTL (epoch seconds): DynamoDB removes it after its absolute end."""
        return int((from_iso(self.created_at) + timedelta(hours=ABSOLUTE_HOURS)).timestamp()) + 60


@dataclass(frozen=True)
class SignIn:
    """A sign-in in flight, between the redirect to the identity provider and its redirect back."""

    state_hash: str
    verifier: str
    """The PKCE code verifier: only the token request carries it, so a stolen code is useless without it."""
    nonce: str
    next_path: str
    created_at: str

    def expired(self, now: datetime) -> bool:
        return now >= from_iso(self.created_at) + timedelta(minutes=SIGNIN_MINUTES)

    def expiration(self) -> int:
        return int(from_iso(self.created_at).timestamp()) + SIGNIN_MINUTES * 60


@dataclass(frozen=True)
class Actor:
    """Who is acting, for the audit trail."""

    practice_id: str
    subject: str
    name: str
    role: str
    address: str


Outcome = Literal["done", "denied", "failed", "viewed"]


@dataclass(frozen=True)
class AuditEntry:
    """One staff action. `reason` is a code from a closed list (never free text, which could carry PHI); `detail`
    holds ids and amounts only."""

    id: str
    practice_id: str
    at: str
    subject: str
    name: str
    role: str
    address: str
    action: str
    outcome: str
    invoice_id: str | None = None
    patient_id: str | None = None
    target: str | None = None
    """The record acted on, when it is neither the invoice nor the patient (a payment, a dispute, a pay link)."""
    reason: str | None = None
    amount: int | None = None
    records: int = 0
    """How many records the change wrote (0 for a read or a refusal)."""
    error: str | None = None
    """For a refused or failed action: the problem type's slug (e.g. forbidden, payment-declined)."""


AUDIT_COLUMNS = (
    "at",
    "name",
    "subject",
    "role",
    "action",
    "outcome",
    "invoice_id",
    "patient_id",
    "target",
    "reason",
    "amount",
    "records",
    "error",
    "address",
    "id",
)


# The dashboard's forms, as posted (every value a string), checked strictly; unknown fields refused.
Csrf = Annotated[str, Field(min_length=16, max_length=64)]
Money = Annotated[str, Field(pattern=r"^\d{1,7}(\.\d{1,2})?$")]
Stamp = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")]
"""When the page with the form was shown: the moment the patient agreed to what it says (a replay is the same)."""
RefundReason = Literal["patient_request", "duplicate", "billing_error", "service_not_rendered", "other"]
CancelReason = Literal["created_in_error", "duplicate", "billed_elsewhere", "other"]


class Form(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    csrf: Csrf


def refused_fields(exc: ValidationError) -> str:
    """What to tell staff of a refused form: the fields' names (never the values typed: they may be PHI)."""
    names = sorted({str(e["loc"][0]) for e in exc.errors() if e.get("loc")})
    return f"Check these fields: {', '.join(names) or 'the form'}."


def cents(amount: str | None) -> int | None:
    """A dollar amount as typed ("12", "12.5", "12.50") in integer cents, never through a float."""
    if not amount:
        return None
    dollars, _, fraction = amount.partition(".")
    return int(dollars) * 100 + int((fraction + "00")[:2])


class DevSignInForm(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    practice_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    role: Role = Field(strict=False)  # one of the enum's values (strict would want the Python enum)
    name: Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[\w .'@-]+$")]


class DeskPaymentForm(Form):
    amount: Money | None = None
    payment_method_id: Annotated[str, Field(pattern=r"^pm_[0-9a-z]{26}$")] | None = None
    token: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")] | None = None
    """A PayFields token, for a card the patient hands over at the desk."""
    save: Literal["on"] | None = None
    submit_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{16,43}$")]
    """The form's own id, so a double submit charges once (the Idempotency-Key of the payment)."""
    started: Stamp


class PayLinkForm(Form):
    submit_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{16,43}$")]


class RefundForm(Form):
    amount: Money | None = None
    reason: RefundReason
    submit_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{16,43}$")]


class WriteOffForm(Form):
    reason: WriteOffReason


class CancelForm(Form):
    reason: CancelReason


class PlanForm(Form):
    installment_count: Annotated[str, Field(pattern=r"^([2-9]|1[0-9]|2[0-4])$")]
    frequency: Literal["weekly", "every_two_weeks", "monthly"]
    first_date: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")]
    payment_method_id: Annotated[str, Field(pattern=r"^pm_[0-9a-z]{26}$")]
    submit_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{16,43}$")]
    started: Stamp


class RespondForm(Form):
    note: Annotated[str, Field(min_length=1, max_length=2000)]
    """Screened by the disputes service: one naming the patient, or with a code, an e-mail or a phone, is refused."""
    submit_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{16,43}$")]


class AcceptForm(Form):
    submit_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{16,43}$")]


class SignOutForm(Form):
    reason: Literal["idle"] | None = None


Days = Annotated[str, Field(pattern=r"^\d{1,3}$")]


class SettingsForm(Form):
    """The settings a practice's administrator changes on the dashboard (the JSON API takes them all)."""

    pay_link_days: Days | None = None
    pay_link_max_uses: Annotated[str, Field(pattern=r"^\d{1,2}$")] | None = None
    payment_terms_days: Days | None = None
    notice_days: Annotated[str, Field(pattern=r"^\d{1,2}$")] | None = None
    minimum_payment: Money | None = None
    messages_email: Literal["on", "off"] | None = None
    messages_sms: Literal["on", "off"] | None = None

    def changed(self) -> set[str]:
        return {k for k, v in self.model_dump(exclude={"csrf"}).items() if v is not None}

    def change(self) -> Any:
        """The settings change (validated by the practice's own rules: a value out of range is refused there)."""
        from practicepay.practices.models import SettingsChange

        values: dict[str, Any] = {}
        for name in self.changed():
            raw = getattr(self, name)
            if name == "minimum_payment":
                values[name] = cents(raw)
            elif name.startswith("messages_"):
                values[name] = raw == "on"
            else:
                values[name] = int(raw)
        return SettingsChange.model_validate(values)
