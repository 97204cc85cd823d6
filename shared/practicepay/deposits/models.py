"""Deposits: what reached the practice's bank. One per Splash disbursement, made of the Splash entries it paid out
(sales captured, refunds, eCheck returns, chargebacks and their reversals, fees), each matched to our payment,
refund or dispute where we have one. Money is signed integer cents: + credits the practice, − debits it.

Splash's entries arrive as floats of cents (the client rounds each to whole cents, splash.models.Entry); the
disbursement's own `amount` is an integer. Whatever the rounding of fractional entries leaves between the two is
the deposit's `rounding`, shown rather than hidden: lines + rounding = amount, always."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from practicepay.ids import digest_id, id_pattern
from practicepay.splash.models import DisbursementStatus, EntryEvent

DEPOSIT_ID = id_pattern("dep")


class DepositStatus(StrEnum):
    REQUESTED = "requested"
    PROCESSING = "processing"
    PROCESSED = "processed"
    FAILED = "failed"
    DENIED = "denied"
    RETURNED = "returned"


STATUS_BY_SPLASH: dict[int, DepositStatus] = {
    DisbursementStatus.REQUESTED: DepositStatus.REQUESTED,
    DisbursementStatus.PROCESSING: DepositStatus.PROCESSING,
    DisbursementStatus.PROCESSED: DepositStatus.PROCESSED,
    DisbursementStatus.FAILED: DepositStatus.FAILED,
    DisbursementStatus.DENIED: DepositStatus.DENIED,
    DisbursementStatus.RETURNED: DepositStatus.RETURNED,
}


class LineKind(StrEnum):
    PAYMENT = "payment"
    REFUND = "refund"
    RETURN = "return"
    CHARGEBACK = "chargeback"
    CHARGEBACK_REVERSAL = "chargeback_reversal"
    FEE = "fee"
    ADJUSTMENT = "adjustment"


_KIND_BY_EVENT: dict[int, LineKind] = {
    EntryEvent.CAPTURE: LineKind.PAYMENT,
    EntryEvent.ECSALE: LineKind.PAYMENT,
    EntryEvent.REFUND: LineKind.REFUND,
    EntryEvent.ECREFUND: LineKind.REFUND,
    EntryEvent.ECRETURN: LineKind.RETURN,
    EntryEvent.CHARGEBACK: LineKind.CHARGEBACK,
    EntryEvent.PREARBITRATION: LineKind.CHARGEBACK,
    EntryEvent.ARBITRATION: LineKind.CHARGEBACK,
    EntryEvent.REVERSAL: LineKind.CHARGEBACK_REVERSAL,
    EntryEvent.REPRESENTMENT: LineKind.CHARGEBACK_REVERSAL,
}


def line_kind(event: int | None, is_fee: bool) -> LineKind:
    """What an entry is in a deposit: a fee whenever Splash says so (`isFee`), else by its event."""
    if is_fee:
        return LineKind.FEE
    return _KIND_BY_EVENT.get(event or 0, LineKind.ADJUSTMENT)


def deposit_id(disbursement_id: str) -> str:
    """One deposit per Splash disbursement, whoever reads it first: a digest of its id."""
    return "dep_" + digest_id("disbursement", disbursement_id)


@dataclass(frozen=True)
class LineRecord:
    """One Splash entry of a deposit, matched to our records where we have them (None where we do not)."""

    entry_id: str
    kind: str
    amount: int
    event: int | None = None
    description: str | None = None
    splash_txn_id: str | None = None
    splash_chargeback_id: str | None = None
    payment_id: str | None = None
    refund_id: str | None = None
    invoice_id: str | None = None
    patient_id: str | None = None
    dispute_id: str | None = None

    @property
    def matched(self) -> bool:
        """A line is ours when it names a payment (sales, refunds, returns, their fees) or a dispute."""
        return self.payment_id is not None or self.dispute_id is not None


@dataclass(frozen=True)
class DepositRecord:
    practice_id: str
    id: str
    splash_disbursement_id: str
    status: str
    amount: int
    """What the disbursement moved, in cents (negative: taken from the practice's bank account)."""
    created_at: str
    updated_at: str
    deposited_on: str
    """The day Splash made the disbursement (its `created`, a date in Splash's time zone)."""
    version: int = 1
    returned_amount: int = 0
    processed_at: str | None = None
    lines: tuple[LineRecord, ...] = field(default_factory=tuple)

    def totals(self) -> dict[str, int]:
        """Gross (payments), refunds, returns, chargebacks (net of reversals), fees, adjustments, net (the lines'
        sum) and rounding (what the disbursement's amount differs from the lines by)."""
        sums = dict.fromkeys(LineKind, 0)
        for line in self.lines:
            sums[LineKind(line.kind)] += line.amount
        net = sum(sums.values())
        return {
            "gross": sums[LineKind.PAYMENT],
            "refunds": sums[LineKind.REFUND],
            "returns": sums[LineKind.RETURN],
            "chargebacks": sums[LineKind.CHARGEBACK] + sums[LineKind.CHARGEBACK_REVERSAL],
            "fees": sums[LineKind.FEE],
            "adjustments": sums[LineKind.ADJUSTMENT],
            "net": net,
            "rounding": self.amount - net,
        }

    def view(self) -> Deposit:
        totals = self.totals()
        return Deposit(
            id=self.id,
            splash_disbursement_id=self.splash_disbursement_id,
            status=DepositStatus(self.status),
            amount=self.amount,
            returned_amount=self.returned_amount,
            deposited_on=self.deposited_on,
            processed_at=self.processed_at,
            **totals,
            unmatched=sum(1 for line in self.lines if not line.matched),
            lines=[
                DepositLine(
                    entry_id=line.entry_id,
                    kind=LineKind(line.kind),
                    amount=line.amount,
                    description=line.description,
                    matched=line.matched,
                    splash_txn_id=line.splash_txn_id,
                    splash_chargeback_id=line.splash_chargeback_id,
                    payment_id=line.payment_id,
                    refund_id=line.refund_id,
                    invoice_id=line.invoice_id,
                    patient_id=line.patient_id,
                    dispute_id=line.dispute_id,
                )
                for line in self.lines
            ],
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


# -- the API's models --------------------------------------------------------------------------------------


class DepositLine(BaseModel):
    entry_id: str = Field(description="Splash's entry id")
    kind: LineKind
    amount: int = Field(description="Signed cents: + credits the practice, − debits it")
    description: str | None = None
    matched: bool = Field(description="Whether the line names one of our payments, refunds or disputes")
    splash_txn_id: str | None = None
    splash_chargeback_id: str | None = None
    payment_id: str | None = None
    refund_id: str | None = None
    invoice_id: str | None = None
    patient_id: str | None = None
    dispute_id: str | None = None


class Deposit(BaseModel):
    id: str
    object: Literal["deposit"] = "deposit"
    splash_disbursement_id: str
    status: DepositStatus
    currency: Literal["usd"] = "usd"
    amount: int = Field(description="What reached (or, negative, left) the bank account, in cents")
    returned_amount: int = Field(default=0, description="Cents the practice's bank sent back (a returned deposit)")
    deposited_on: str = Field(description="The day Splash made the disbursement (YYYY-MM-DD)")
    processed_at: str | None = Field(default=None, description="When the ACH transfer was processed")
    gross: int = Field(description="Payments captured, in cents")
    refunds: int = Field(description="Refunds (negative cents)")
    returns: int = Field(description="eCheck returns (negative cents)")
    chargebacks: int = Field(description="Chargebacks net of reversals won (cents)")
    fees: int = Field(description="Processing and chargeback fees (negative cents)")
    adjustments: int = Field(description="Anything else Splash booked (cents)")
    net: int = Field(description="The lines' sum, in cents")
    rounding: int = Field(description="amount − net: what rounding Splash's fractional entries to cents leaves")
    unmatched: int = Field(description="Lines naming none of our payments, refunds or disputes")
    lines: list[DepositLine]
    created_at: str
    updated_at: str


class UndepositedPayment(BaseModel):
    payment_id: str
    invoice_id: str
    patient_id: str
    amount: int
    created_at: str
    days: int = Field(description="Days since the payment succeeded without reaching a deposit")


class DepositReport(BaseModel):
    object: Literal["deposit_report"] = "deposit_report"
    from_date: str = Field(alias="from")
    to_date: str = Field(alias="to")
    totals: dict[str, int] = Field(description="amount, gross, refunds, returns, chargebacks, fees, net, rounding")
    data: list[Deposit] = Field(description="Oldest first")
    unmatched_lines: list[DepositLine] = Field(description="Lines of these deposits naming none of our records")
    undeposited: list[UndepositedPayment] = Field(
        description="Payments of the range that succeeded more than `undeposited_after_days` ago and are in no deposit"
    )
    undeposited_after_days: int

    model_config = {"populate_by_name": True, "serialize_by_alias": True}
