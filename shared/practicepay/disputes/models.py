"""Disputes (Splash chargebacks): the API's views, the stored record and the rules that move it (pure).

A Splash chargeback (`/chargebacks`, splash-api.md §3.6 and the recorded payrix-rs sandbox records) has a `status`
(open, closed, won, lost), a `cycle` (retrieval, first, representment, preArbitration, arbitration, …) and a `reply`
date (YYYYMMDD). Our dispute follows it:

- status: `needs_response` while Splash has it open and the practice has not answered, `under_review` once the
  practice answered (POST /disputes/{id}/respond) and the issuer has not decided (Splash says open, or closed:
  a `represent` message closes the chargeback's cycle, recorded), then `won`, `lost` or `closed` (closed with no
  answer: the chargeback stands, as when the deadline passes);
- money: a chargeback takes the payment's amount back from the practice, so the dispute is `debited` from the
  first cycle on and while lost or closed; a retrieval request (a question from the bank, no money moved yet) is
  not; a won dispute is `restored`. Each debit and each restore is one ledger entry on the invoice (`chargeback`
  −amount, `chargeback_reversal` +amount) and one fee entry (the chargeback fee, and its reversal), keyed by the
  chargeback and how many times it was debited, so every one is booked exactly once (PaymentBook). A dispute won
  and then lost in pre-arbitration is debited a second time, under a key of its own."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from practicepay.api.models import StrictRequest, examples
from practicepay.ids import digest_id, id_pattern

DISPUTE_ID = id_pattern("dsp")
NOTE_MAX = 2000
DUE_SOON_DAYS = 3
"""`dispute.due_soon` goes out this many days before the reply deadline (issue #19)."""


class DisputeStatus(StrEnum):
    NEEDS_RESPONSE = "needs_response"
    UNDER_REVIEW = "under_review"
    WON = "won"
    LOST = "lost"
    CLOSED = "closed"


FINAL = frozenset({DisputeStatus.WON, DisputeStatus.LOST, DisputeStatus.CLOSED})
RETRIEVAL = "retrieval"
"""A retrieval request: the issuer asks for the sales record; no money has moved yet."""


def dispute_id(chargeback_id: str) -> str:
    """One dispute per Splash chargeback, whoever learns of it first (an alert, the poll): a digest of its id."""
    return "dsp_" + digest_id("chargeback", chargeback_id)


def splash_date(value: Any) -> str | None:
    """A Splash YYYYMMDD date (int or str) as ISO `YYYY-MM-DD`; None when absent or not a date."""
    text = str(value or "").strip()
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:])).isoformat()
    except ValueError:
        return None


def status_for(splash_status: str | None, responded: bool) -> DisputeStatus:
    """Our status for Splash's: open is `needs_response` until the practice answers, `under_review` after. A
    chargeback the practice answered is `closed` at Splash while the issuer decides (recorded: a `represent`
    message made a `closed` status row), so closed is `under_review` then, and final (`closed`) only unanswered."""
    word = (splash_status or "open").strip().lower()
    if word == "won":
        return DisputeStatus.WON
    if word == "lost":
        return DisputeStatus.LOST
    if word == "closed" and not responded:
        return DisputeStatus.CLOSED
    return DisputeStatus.UNDER_REVIEW if responded else DisputeStatus.NEEDS_RESPONSE


def debits(status: DisputeStatus, cycle: str | None) -> bool:
    """Whether the practice is out of the disputed money in this state: every state but a won dispute and a
    retrieval request still open (an inquiry moves no money)."""
    if status is DisputeStatus.WON:
        return False
    return not (status not in FINAL and (cycle or "").strip() == RETRIEVAL)


@dataclass(frozen=True)
class DisputeRecord:
    practice_id: str
    id: str
    splash_chargeback_id: str
    payment_id: str
    invoice_id: str
    patient_id: str
    splash_txn_id: str
    amount: int
    """What the issuer took back, in cents (the chargeback's `total`)."""
    status: str
    splash_status: str
    created_at: str
    updated_at: str
    version: int = 1
    cycle: str | None = None
    reason_code: str | None = None
    reason: str | None = None
    reply_by: str | None = None
    """The last day to respond (ISO date; Splash's `reply`)."""
    issued_on: str | None = None
    debited: bool = False
    """Whether the practice is out of the money now (a debit booked and not restored)."""
    debit_count: int = 0
    """How many debits were booked (a dispute won and then lost later is debited twice)."""
    fees: dict[str, int] = field(default_factory=dict)
    """Splash's fee entries for this chargeback booked in the practice's fee ledger: {entry id: signed cents}
    (a fee is negative, its reversal on a won dispute positive)."""
    responded_at: str | None = None
    response: dict[str, Any] | None = None
    """What was sent to Splash: {cycle, document_id, message_id, evidence_sha256, pages, bytes, note_chars}."""
    due_soon_at: str | None = None
    """When `dispute.due_soon` went out (once)."""

    @property
    def open(self) -> bool:
        return DisputeStatus(self.status) not in FINAL

    def answered(self, cycle: str | None) -> bool:
        """Whether the practice answered this cycle (a pre-arbitration after a decision needs a new answer)."""
        return self.response is not None and self.response.get("cycle") == cycle

    def ref(self) -> dict[str, Any]:
        """What the payment keeps of it (payments.models.DisputeRef)."""
        return {"id": self.id, "status": self.status, "amount": self.amount, "reply_by": self.reply_by}

    def money_move(self, to: DisputeRecord) -> Literal["debit", "restore"] | None:
        """The money the change from this state to `to` books: a debit, a restore or nothing."""
        if to.debited and not self.debited:
            return "debit"
        if self.debited and not to.debited:
            return "restore"
        return None

    def due_soon(self, today: date) -> bool:
        """Open, not answered, its deadline within DUE_SOON_DAYS (or passed), and not announced yet."""
        if self.due_soon_at or self.status != DisputeStatus.NEEDS_RESPONSE or not self.reply_by:
            return False
        return (date.fromisoformat(self.reply_by) - today).days <= DUE_SOON_DAYS

    @property
    def fee(self) -> int:
        """The chargeback fees the practice is out of now, in cents (0 once reversed)."""
        return -sum(self.fees.values())

    def event_detail(self) -> dict[str, Any]:
        """A dispute.* event: ids, amounts, codes, dates and statuses (never the patient's data or the note)."""
        return {
            "dispute_id": self.id,
            "payment_id": self.payment_id,
            "invoice_id": self.invoice_id,
            "patient_id": self.patient_id,
            "amount": self.amount,
            "fee": self.fee,
            "status": self.status,
            "money": self.money,
            "reason_code": self.reason_code,
            "reply_by": self.reply_by,
            "splash_chargeback_id": self.splash_chargeback_id,
        }

    @property
    def money(self) -> str:
        return "debited" if self.debited else ("restored" if self.debit_count else "not_moved")

    def view(self) -> Dispute:
        return Dispute(
            id=self.id,
            payment_id=self.payment_id,
            invoice_id=self.invoice_id,
            patient_id=self.patient_id,
            amount=self.amount,
            status=DisputeStatus(self.status),
            reason_code=self.reason_code,
            reason=self.reason,
            cycle=self.cycle,
            reply_by=self.reply_by,
            issued_on=self.issued_on,
            fee=self.fee,
            money=self.money,
            splash_chargeback_id=self.splash_chargeback_id,
            splash_txn_id=self.splash_txn_id,
            responded_at=self.responded_at,
            response=DisputeResponse.model_validate(self.response) if self.response else None,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


def followed(record: DisputeRecord, chargeback: Any, now: str) -> DisputeRecord:
    """The dispute after Splash's chargeback as read now (the record's fields that Splash owns, and the status and
    money they imply). The same read twice gives the same record: applying it is a no-op."""
    cycle = chargeback.cycle or record.cycle
    status = status_for(chargeback.status, record.answered(cycle))
    if not record.open and status not in FINAL and cycle == record.cycle:
        status = DisputeStatus(record.status)  # a stale read never reopens a decided dispute; a new cycle does
    total = chargeback.total if isinstance(chargeback.total, int) and chargeback.total > 0 else record.amount
    return replace(
        record,
        status=status.value,
        splash_status=str(chargeback.status or record.splash_status),
        cycle=cycle,
        reason_code=chargeback.reasonCode or record.reason_code,
        reason=chargeback.reason or record.reason,
        reply_by=splash_date(chargeback.reply) or record.reply_by,
        issued_on=splash_date(chargeback.issued) or record.issued_on,
        amount=total if not record.debit_count else record.amount,
        debited=debits(status, cycle),
        updated_at=now,
    )


# What a note to the card networks must not carry (HIPAA minimum necessary; the PHI firewall, splash.outbound):
# diagnosis codes (ICD-10-CM: a letter, two digits, an optional dot and up to four more), procedure codes (CPT: five
# digits, or four and a letter; HCPCS: a letter and four digits), e-mail addresses and phone numbers.
_ICD10 = re.compile(r"\b[A-TV-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})\b|\b[A-TV-Z][0-9]{2}\.[0-9A-Z]{0,4}\b")
_CPT = re.compile(r"\b(?:[0-9]{4}[0-9FTU]|[A-V][0-9]{4})\b")
_EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"\(?\b[0-9]{3}\)?[-. ]?[0-9]{3}[-. ][0-9]{4}\b")


def screen_note(note: str, names: list[str]) -> str | None:
    """Why the note may not go to Splash, or None: it names the patient (a first or last name on file, as a
    word), or carries a diagnosis or procedure code, an e-mail address or a phone number."""
    words = {w.lower() for w in re.findall(r"[^\W\d_]+(?:['-][^\W\d_]+)*", note)}
    for name in names:
        parts = [p.lower() for p in re.findall(r"[^\W\d_]+(?:['-][^\W\d_]+)*", name or "") if len(p) > 1]
        if parts and all(p in words for p in parts):
            return "names the patient"
    if _ICD10.search(note):
        return "carries what looks like a diagnosis code"
    if _CPT.search(note):
        return "carries what looks like a procedure code"
    if _EMAIL.search(note):
        return "carries an e-mail address"
    if _PHONE.search(note):
        return "carries a phone number"
    return None


def same_facts(a: DisputeRecord, b: DisputeRecord) -> bool:
    """Nothing worth a write changed (the clock aside)."""
    return replace(a, updated_at="") == replace(b, updated_at="")


# -- the API's models --------------------------------------------------------------------------------------


class DisputeResponse(BaseModel):
    cycle: str | None = Field(default=None, description="The chargeback cycle answered")
    document_id: str | None = Field(default=None, description="Splash's chargebackDocuments id of the packet")
    message_id: str | None = Field(default=None, description="Splash's chargebackMessages id of the reply")
    evidence_sha256: str = Field(description="SHA-256 of the PDF packet sent")
    pages: int
    bytes: int
    note_chars: int = Field(description="Length of the practice's note (the note itself went to Splash)")


class Dispute(BaseModel):
    id: str
    object: Literal["dispute"] = "dispute"
    payment_id: str
    invoice_id: str
    patient_id: str
    amount: int = Field(description="Cents the cardholder's bank took back")
    currency: Literal["usd"] = "usd"
    status: DisputeStatus
    reason_code: str | None = Field(default=None, description="The card network's reason code, e.g. F14")
    reason: str | None = Field(default=None, description="The reason as Splash gives it, e.g. Missing Signature")
    cycle: str | None = Field(default=None, description="retrieval, first, representment, preArbitration, …")
    reply_by: str | None = Field(default=None, description="The last day to respond (YYYY-MM-DD)")
    issued_on: str | None = None
    fee: int = Field(description="The chargeback fee booked, in cents (reversed if the dispute is won)")
    money: Literal["debited", "restored", "not_moved"] = Field(
        description="debited: the practice is out of the amount (and the fee); restored: won back; not_moved: a "
        "retrieval request"
    )
    splash_chargeback_id: str
    splash_txn_id: str
    responded_at: str | None = None
    response: DisputeResponse | None = None
    created_at: str
    updated_at: str


class DisputeList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Dispute] = Field(description="Soonest reply deadline first")
    has_more: bool = False
    next_cursor: str | None = None


class RespondRequest(StrictRequest):
    model_config = examples(
        {"note": "The patient authorized this card on file for the visit on 2026-11-03 and was emailed a receipt."}
    )

    note: str = Field(
        min_length=1,
        max_length=NOTE_MAX,
        description="The practice's reply to the issuer, sent with the evidence packet. Write about the payment, "
        "not the patient's health: it goes to the card networks.",
    )
