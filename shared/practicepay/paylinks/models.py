"""Pay links: what staff send a patient so they can pay a bill on the pay page (ADR 0015).

A link's secret is 192 random bits in the URL and nowhere else: we keep only its SHA-256 (the key we find the link
by). The URL carries no id, no name and no amount. A link covers one invoice, or all of a patient's open invoices
("pay my balance", a practice setting). It ends at its expiry or after `max_uses` verified visits, whichever comes
first; wrong identity answers lock it for 15 minutes after 5 and revoke it after 10."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictInt

from practicepay.api.models import StrictRequest, examples
from practicepay.clock import from_iso, iso
from practicepay.ids import new_id

SECRET_BYTES = 24
"""192 bits of randomness (secrets.token_urlsafe): no guesser reaches a live link."""
SECRET_PATTERN = r"^[A-Za-z0-9_-]{32}$"  # noqa: S105 (a pattern, not a secret)
LOCK_AFTER_FAILURES = 5
LOCK_MINUTES = 15
REVOKE_AFTER_FAILURES = 10
IP_LOCK_AFTER_FAILURES = 20
"""Wrong answers from one address (any link) within IP_WINDOW_MINUTES before that address is refused: above a
link's own limits, as a clinic's or a carrier's shared address serves many patients (WAF rate-limits too)."""
IP_WINDOW_MINUTES = 15
SESSION_MINUTES = 15
"""A pay-page session (the cookie) lives this long after identity was shown, then the patient answers again."""

MaxUses = Annotated[StrictInt, Field(ge=1, le=20)]
LinkDays = Annotated[StrictInt, Field(ge=1, le=120)]

LinkStatus = Literal["active", "locked", "expired", "used_up", "revoked"]


def new_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class CreatePayLinkRequest(StrictRequest):
    model_config = examples({}, {"expires_in_days": 14, "max_uses": 5})

    expires_in_days: LinkDays | None = Field(default=None, description="Defaults to the practice's pay_link_days.")
    max_uses: MaxUses | None = Field(
        default=None, description="Verified visits allowed; defaults to the practice's pay_link_max_uses."
    )


class PayLink(BaseModel):
    id: str
    object: Literal["pay_link"] = "pay_link"
    url: str | None = Field(
        default=None,
        description="The link to send the patient. Only in the answer that made it (or a replay of that request): "
        "PracticePay keeps a hash of its secret, never the secret.",
    )
    scope: Literal["invoice", "balance"]
    invoice_id: str | None = None
    patient_id: str
    status: LinkStatus
    expires_at: str
    max_uses: int
    uses: int = Field(description="Verified visits so far (each successful identity check)")
    opened: int = Field(description="Times a browser opened the link (reloads within its session count once)")
    last_opened_at: str | None = None
    identity_failures: int = Field(description="Wrong identity answers so far (5 lock it 15 minutes, 10 revoke it)")
    locked_until: str | None = None
    revoked_reason: str | None = Field(default=None, description="staff, or too_many_failures")
    payment_ids: list[str] = Field(default_factory=list, description="Payments made through this link")
    plan_ids: list[str] = Field(default_factory=list, description="Payment plans the patient enrolled in here")
    created_at: str


class PayLinkList(BaseModel):
    object: Literal["list"] = "list"
    data: list[PayLink]


@dataclass(frozen=True)
class PayLinkRecord:
    practice_id: str
    id: str
    secret_hash: str
    scope: str
    patient_id: str
    expires_at: str
    max_uses: int
    created_at: str
    invoice_id: str | None = None
    uses: int = 0
    opened: int = 0
    last_opened_at: str | None = None
    identity_failures: int = 0
    locked_until: str | None = None
    revoked_at: str | None = None
    revoked_reason: str | None = None
    payment_ids: tuple[str, ...] = field(default_factory=tuple)
    plan_ids: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def new(
        cls, practice_id: str, patient_id: str, invoice_id: str | None, now: datetime, *, days: int, max_uses: int
    ) -> tuple[PayLinkRecord, str]:
        """A new link for an invoice (or, without one, the patient's balance) and its secret (kept nowhere else)."""
        secret = new_secret()
        link = cls(
            practice_id=practice_id,
            id=new_id("pl", int(now.timestamp() * 1000)),
            secret_hash=secret_hash(secret),
            scope="invoice" if invoice_id else "balance",
            patient_id=patient_id,
            invoice_id=invoice_id,
            expires_at=iso(now + timedelta(days=days)),
            max_uses=max_uses,
            created_at=iso(now),
        )
        return link, secret

    def status(self, now: datetime) -> LinkStatus:
        if self.revoked_at is not None:
            return "revoked"
        if now >= from_iso(self.expires_at):
            return "expired"
        if self.locked_until is not None and now < from_iso(self.locked_until):
            return "locked"
        if self.uses >= self.max_uses:
            return "used_up"
        return "active"

    def after_failure(self, failures: int, now: datetime) -> PayLinkRecord:
        """The link once its wrong answers reached `failures` (counted atomically by the store): locked at the 5th,
        revoked at the 10th."""
        if failures >= REVOKE_AFTER_FAILURES:
            return replace(self, identity_failures=failures, revoked_at=iso(now), revoked_reason="too_many_failures")
        if failures == LOCK_AFTER_FAILURES:
            return replace(self, identity_failures=failures, locked_until=iso(now + timedelta(minutes=LOCK_MINUTES)))
        return replace(self, identity_failures=failures)

    def view(self, now: datetime, url: str | None = None) -> PayLink:
        return PayLink(
            id=self.id,
            url=url,
            scope=self.scope,  # type: ignore[arg-type]
            invoice_id=self.invoice_id,
            patient_id=self.patient_id,
            status=self.status(now),
            expires_at=self.expires_at,
            max_uses=self.max_uses,
            uses=self.uses,
            opened=self.opened,
            last_opened_at=self.last_opened_at,
            identity_failures=self.identity_failures,
            locked_until=self.locked_until,
            revoked_reason=self.revoked_reason,
            payment_ids=list(self.payment_ids),
            plan_ids=list(self.plan_ids),
            created_at=self.created_at,
        )


@dataclass(frozen=True)
class Submission:
    """One submit of the pay form (its submit id): made `started` before anything is charged, so the same form posted
    again (a refresh while it ran, a double click, a replay) waits for it and answers what it did instead of paying
    again; then `paid` (the receipt: the payments that went through), `declined` (`outcome`: the decline's category)
    or `refused` (`outcome`: the error the bill shows). `invoice_ids`: the invoices it pays, oldest due first, so a
    submit cut short is read back from the payments its key made (PaymentService.keyed)."""

    id: str
    link_hash: str
    state: str
    created_at: str
    invoice_ids: tuple[str, ...] = ()
    payment_ids: tuple[str, ...] = ()
    outcome: str | None = None


@dataclass(frozen=True)
class PageSession:
    """A pay-page session: the cookie's value is random (32 bytes); we keep its SHA-256. It is made when the first
    screen is shown (so the identity form has a CSRF token) and marked verified when the patient answers."""

    id_hash: str
    link_hash: str
    csrf: str
    expires_at: str
    verified: bool = False
    language: str = "en"

    def live(self, now: datetime) -> bool:
        return now < from_iso(self.expires_at)
