"""Payment and refund models at the API edge, and the payment lifecycle's statuses (design.md §5)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictInt

from practicepay.api.models import StrictRequest, examples
from practicepay.api.problems import responses
from practicepay.ids import digest_id
from practicepay.invoices.models import MAX_INVOICE_TOTAL

Cents = Annotated[StrictInt, Field(ge=1, le=MAX_INVOICE_TOTAL, description="Integer cents, e.g. 1050 for $10.50.")]


class PaymentStatus(StrEnum):
    PENDING = "pending"  # recorded, being sent
    PROCESSING = "processing"  # eCheck approved, not settled
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # declined or refused, with a reason
    UNKNOWN = "unknown"  # no answer from Splash: the reconciler settles it
    RETURNED = "returned"  # ACH return after success (issue #5)
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    VOIDED = "voided"


# Failure categories meaning Splash never processed the attempt (refused it, could not be reached, or has no
# record of it after the reconciler's grace period): nothing was charged, the hold is released, and the same
# attempt may be sent again under its REQUEST-TOKEN; a txn that turns up after all is still applied.
NOT_SUBMITTED = frozenset({"processor_unavailable", "processor_refused", "not_submitted"})


def not_submitted(failure: dict[str, Any] | None) -> bool:
    return (failure or {}).get("category") in NOT_SUBMITTED


class CreatePaymentRequest(StrictRequest):
    model_config = examples(
        {"payment_method_id": "pm_01m7wqrqr0pmz6h8kv6amp4h2a", "amount": 5000},
        {"payment_method_id": "pm_01m7wqrqr0pmz6h8kv6amp4h2a"},
    )

    payment_method_id: Annotated[str, Field(pattern=r"^pm_[0-9a-z]{26}$")]
    amount: Cents | None = Field(default=None, description="Defaults to the invoice's whole open balance.")


class CreateRefundRequest(StrictRequest):
    model_config = examples({"amount": 2500}, {})

    amount: Cents | None = Field(default=None, description="Defaults to everything not yet refunded.")


class Failure(BaseModel):
    category: str = Field(description="insufficient_funds, do_not_honor, expired_card, … (see README)")
    processor_text: str = Field(description="What the processor said, safe to show to staff")
    processor_code: str | None = None
    retryable: bool = False


class ReturnInfo(BaseModel):
    code: str | None = Field(description="The NACHA return code, e.g. R01; null when Splash gave none")
    category: Literal["nsf", "bad_account", "unauthorized", "other"]
    message: str
    method_blocked: bool = Field(description="The bank account may not be debited again (every code but R01, R09)")


class DisputeRef(BaseModel):
    """A payment's chargeback, as the payment and the invoice show it (GET /disputes/{id} has the whole dispute)."""

    id: str
    status: Literal["needs_response", "under_review", "won", "lost", "closed"]
    amount: int = Field(description="Cents the cardholder's bank took back")
    reply_by: str | None = Field(default=None, description="The last day to respond (YYYY-MM-DD)")


class Payment(BaseModel):
    id: str
    object: Literal["payment"] = "payment"
    invoice_id: str
    patient_id: str
    payment_method_id: str
    method_kind: Literal["card", "bank_account"]
    amount: int
    amount_refunded: int = 0
    currency: Literal["usd"] = "usd"
    status: PaymentStatus
    failure: Failure | None = None
    return_info: ReturnInfo | None = Field(default=None, description="Set when the bank returned an eCheck")
    splash_txn_id: str | None = None
    amount_charged_back: int = Field(
        default=0, description="Taken back by a chargeback the practice has not won (cents): the invoice owes it again"
    )
    dispute: DisputeRef | None = Field(default=None, description="The chargeback on this payment, if any")
    installment_id: str | None = Field(
        default=None, description="The plan installment or membership cycle this autopay charge collects"
    )
    channel: Literal["api", "pay_page", "autopay", "desk"] = Field(
        default="api",
        description="api: the platform; desk: staff on the dashboard; pay_page: the patient, by a pay link; autopay",
    )
    created_at: str
    updated_at: str


def payment_responses() -> dict[int, dict]:
    """The answers of a route that charges (pay an invoice, pay an installment): the payment, or not decided yet
    (202), or declined (402), or Splash did not answer (503)."""
    return responses(
        (201, "The payment", Payment),
        400,
        401,
        402,
        404,
        409,
        422,
        503,
        also=[(202, "The payment, not decided yet: status unknown (Splash's answer was lost) or pending", Payment)],
    )


class PaymentList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Payment]
    has_more: bool
    next_cursor: str | None = None


class Refund(BaseModel):
    id: str
    object: Literal["refund"] = "refund"
    payment_id: str
    invoice_id: str
    amount: int
    kind: Literal["void", "refund"] = Field(description="void while a card sale is unsettled, refund after")
    status: Literal["succeeded", "failed", "unknown"]
    failure: Failure | None = None
    splash_txn_id: str | None = None
    created_at: str


# -- the stored records (payments.store keeps them; sync.transitions holds the payment's moves) --------------


@dataclass(frozen=True)
class PaymentRecord:
    practice_id: str
    id: str
    invoice_id: str
    patient_id: str
    payment_method_id: str
    method_kind: str
    amount: int
    status: str
    created_at: str
    updated_at: str
    version: int = 1
    amount_refunded: int = 0
    refund_pending: int = 0
    splash_txn_id: str | None = None
    failure: dict[str, Any] | None = None
    return_info: dict[str, Any] | None = None
    """An ACH return: {code (R01…), category (nsf, bad_account, unauthorized, other), message, returned_at}."""
    installment: dict[str, Any] | None = None
    """The autopay attempt this payment is: {id (the installment), attempt, on (the date it belongs to)}."""
    represents: str | None = None
    """For an eCheck re-presentment (redeposit): the Splash txn id of the original sale it presents again."""
    refusals: int = 0
    """How often Splash refused this attempt outright before it was sent again."""
    channel: str = "api"
    """Where the payment was asked for: `api` (the clinical platform or staff), `pay_page` (the patient, through a
    pay link) or `autopay` (a plan's or membership's scheduled charge)."""
    amount_charged_back: int = 0
    """Taken back by a chargeback not (yet) won: it cannot be refunded, and the invoice owes it again."""
    dispute: dict[str, Any] | None = None
    """The chargeback on this payment as the payment shows it: {id, status, amount, reply_by} (disputes.models)."""

    @property
    def refundable(self) -> int:
        """What may still be refunded: the amount less what was refunded, what refunds in flight hold, and what a
        chargeback took back (that money is already gone back to the cardholder)."""
        return self.amount - self.amount_refunded - self.refund_pending - self.amount_charged_back

    def request_token(self) -> str:
        return request_token(self.id, self.refusals)

    def stored_credential_type(self) -> str | None:
        """The card networks' stored-credential indicator Splash takes as a txn's `cofType`: an autopay charge is
        merchant-initiated, `installment` for a payment plan's (a fixed number of charges) and `scheduled` for a
        membership's (recurring, no end); any other charge of a card on file is a `single` one the patient asked
        for. None for a bank account (a card-network rule; NACHA has its own, in the consent)."""
        if self.method_kind != "card":
            return None
        owner = (self.installment or {}).get("id", "")
        if owner.startswith("pln_"):
            return "installment"
        return "scheduled" if owner.startswith("sub_") else "single"


@dataclass(frozen=True)
class RefundRecord:
    practice_id: str
    id: str
    payment_id: str
    invoice_id: str
    amount: int
    kind: str
    status: str
    created_at: str
    splash_txn_id: str | None = None
    failure: dict[str, Any] | None = None
    refusals: int = 0
    """How often Splash refused this refund outright before it was sent again."""

    @classmethod
    def of(
        cls,
        payment: PaymentRecord,
        refund_id: str,
        *,
        amount: int,
        kind: str,
        status: str,
        created_at: str,
        splash_txn_id: str | None = None,
    ) -> RefundRecord:
        """A refund of `payment` (asked for here, or found at Splash made outside PracticePay)."""
        return cls(
            practice_id=payment.practice_id,
            id=refund_id,
            payment_id=payment.id,
            invoice_id=payment.invoice_id,
            amount=amount,
            kind=kind,
            status=status,
            created_at=created_at,
            splash_txn_id=splash_txn_id,
        )

    def request_token(self) -> str:
        return request_token(self.id, self.refusals)

    def books_as(self, payment_amount: int) -> str:
        """What this refund is in the books, whatever Splash calls it (ADR 0014): money
        given back (`refund`: the invoice's balance stays as it was; a partial same-day reverse included), or, for a
        void of the whole payment in one step, the payment undone (`void`: nothing was ever taken, and the
        invoice owes that amount again). It depends only on facts that never change (the kind Splash used,
        this refund's amount and the payment's), so every applier books the same fact under the same key."""
        return "void" if self.kind == "void" and self.amount == payment_amount else "refund"


def request_token(record_id: str, refusals: int) -> str:
    """The REQUEST-TOKEN a payment or refund is sent under. Payrix answers a repeat of a token with its first
    answer for 48 h, refusals included (splash-api.md §10): a resend after a lost answer reuses the token (so
    Splash runs it at most once), a resend after a refusal takes the next one (or it could never succeed)."""
    return record_id if not refusals else f"{record_id}.{refusals}"


def outside_refund_id(txn_id: str) -> str:
    """The refund id of a refund made outside PracticePay (the Payrix portal): a stable function of its Splash txn,
    so every reader of that txn (the status sync, a deposit's lines) names one record."""
    return "rfd_" + digest_id("outside", txn_id)


def refused(failure: dict[str, Any] | None) -> bool:
    """Splash refused the request outright (a validation error): nothing ran, and its token replays the refusal."""
    return (failure or {}).get("category") == "processor_refused"


# Outcomes Splash may still change (the store gives these the sparse `open` index's keys, which the poll reads).
OPEN_PAYMENT = frozenset({"pending", "unknown", "processing"})
OPEN_REFUND = frozenset({"pending", "unknown"})


@dataclass(frozen=True)
class KeyGuard:
    """An Idempotency-Key's guard on a payment: the payment it started, the request it was made for (a digest:
    the same key with another body is refused) and, once the payment settled, its first answer."""

    payment_id: str
    fingerprint: str | None = None
    answer: PaymentRecord | None = None
