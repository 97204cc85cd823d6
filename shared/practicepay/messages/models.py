"""Patient messages (ADR 0016): what a message is, what decides whether and when it goes, and the API's shapes.

A message is caused by one domain event (a statement by `invoice.issued`, a receipt by `payment.succeeded`, ...) or
by the reminder schedule; its id is a digest of that cause and its channel, so however often the cause is
delivered, one record exists and one message goes. Messages carry the minimum necessary: the practice, an amount,
a date and a pay link; never a diagnosis, a code or a visit line (those are behind the link's identity check), and
never the patient's name (a shared phone or inbox shows it to others)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, model_validator

from practicepay.api.models import StrictRequest, Timestamp, examples
from practicepay.clock import from_iso, iso, time_zone
from practicepay.ids import digest_id


class Kind(StrEnum):
    STATEMENT = "statement"
    REMINDER = "reminder"
    AUTOPAY_NOTICE = "autopay_notice"
    PAYMENT_FAILED = "payment_failed"
    RECEIPT = "receipt"
    PAYMENT_RETURNED = "payment_returned"


MARKETING_LIKE = frozenset({Kind.REMINDER})
"""What an email unsubscribe stops. Statements, autopay notices, failed-payment notices, receipts and returns are
transactional and still go (CAN-SPAM's transactional-relationship messages)."""
CARRIES_LINK = frozenset({Kind.STATEMENT, Kind.REMINDER, Kind.PAYMENT_FAILED, Kind.PAYMENT_RETURNED})


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"


class Status(StrEnum):
    QUEUED = "queued"
    """Claimed and being sent (a send that crashed is retried after CLAIM_SECONDS)."""
    HELD = "held"
    """A text waiting for the end of quiet hours (`send_at`)."""
    SENT = "sent"
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    """Not sent, on purpose: `status_reason` says why (opted out, no consent, bounced address, channel off)."""


FINAL = frozenset({Status.SENT, Status.DELIVERED, Status.BOUNCED, Status.FAILED, Status.SUPPRESSED})
CLAIM_SECONDS = 300
"""A queued message not finished after this long (its sender crashed) may be claimed again."""
DUE_PARTITION = "DUE"
RECORD_DAYS = 6 * 366
"""How long a delivery record is kept (HIPAA keeps documentation six years); then TTL removes it."""


def message_id(practice_id: str, cause: str, channel: Channel) -> str:
    """The same id for the same cause and channel: a second delivery of an event finds the first's record."""
    return f"msg_{digest_id(practice_id, cause, channel.value)}"


@dataclass(frozen=True)
class MessageRecord:
    practice_id: str
    id: str
    cause: str
    """What made it: `<event type>:<id>` or `reminder:<invoice>:<offset>`."""
    kind: str
    channel: str
    patient_id: str
    status: str
    language: str
    created_at: str
    updated_at: str
    invoice_id: str | None = None
    event_id: str | None = None
    to_hint: str | None = None
    """The end of the address (•••0142, m•••@example.com): enough for staff to tell which, never the whole."""
    subject: str | None = None
    status_reason: str | None = None
    send_at: str | None = None
    body_sealed: str | None = None
    """A held text's body, sealed (it carries a pay link's secret); removed once sent."""
    provider_id: str | None = None
    sent_at: str | None = None
    delivered_at: str | None = None
    claimed_at: str | None = None
    link_id: str | None = None

    def claimable(self, now: datetime) -> bool:
        """Whether a sender may (re)take it: it is new to us, or a claim that never finished timed out."""
        return self.status == Status.QUEUED and (
            self.claimed_at is None or now - from_iso(self.claimed_at) >= timedelta(seconds=CLAIM_SECONDS)
        )

    def moved(self, status: Status, now: datetime, **changes: Any) -> MessageRecord:
        return replace(self, status=status.value, updated_at=iso(now), **changes)

    def event_detail(self) -> dict[str, Any]:
        """A message.* event: ids, kind, channel and status (never the address, the words or the link)."""
        return {
            "message_id": self.id,
            "patient_id": self.patient_id,
            "invoice_id": self.invoice_id,
            "kind": self.kind,
            "channel": self.channel,
            "status": self.status,
            "status_reason": self.status_reason,
            "cause_event_id": self.event_id,
        }

    def view(self) -> Message:
        return Message(
            id=self.id,
            kind=Kind(self.kind),
            channel=Channel(self.channel),
            status=Status(self.status),
            status_reason=self.status_reason,
            patient_id=self.patient_id,
            invoice_id=self.invoice_id,
            event_id=self.event_id,
            to=self.to_hint,
            subject=self.subject,
            language=self.language,
            send_at=self.send_at,
            sent_at=self.sent_at,
            delivered_at=self.delivered_at,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


@dataclass(frozen=True)
class Reminder:
    """An invoice's reminder schedule: the next offset (days from the due date) and when it goes."""

    practice_id: str
    invoice_id: str
    patient_id: str
    due_date: str
    offsets: tuple[int, ...]
    next_index: int
    send_at: str

    @property
    def offset(self) -> int:
        return self.offsets[self.next_index]


def reminder_at(due_date: str, offset: int, zone: ZoneInfo) -> datetime:
    """A reminder's moment: 10:00 in the patient's zone on the due date plus `offset` days."""
    day = date.fromisoformat(due_date) + timedelta(days=offset)
    return datetime.combine(day, time(10, 0), tzinfo=zone)


def first_reminder(
    practice_id: str,
    invoice_id: str,
    patient_id: str,
    due_date: str,
    offsets: tuple[int, ...],
    zone: ZoneInfo,
    now: datetime,
    start: int = 0,
) -> Reminder | None:
    """The schedule from offset `start` on, skipping the moments already past; None when none is left."""
    for index in range(start, len(offsets)):
        at = reminder_at(due_date, offsets[index], zone)
        if at > now:
            return Reminder(practice_id, invoice_id, patient_id, due_date, tuple(offsets), index, iso(at))
    return None


def after_quiet_hours(now: datetime, zone: ZoneInfo, start_hour: int, end_hour: int) -> datetime | None:
    """When a text may go if quiet hours hold it now (None: it may go now). Quiet hours run from `start_hour`
    to `end_hour` local time (21 to 8 by default, across midnight); a held text goes at `end_hour`."""
    local = now.astimezone(zone)
    hour = local.hour
    quiet = (hour >= start_hour or hour < end_hour) if start_hour > end_hour else start_hour <= hour < end_hour
    if not quiet:
        return None
    day = local.date() if hour < end_hour else local.date() + timedelta(days=1)
    return datetime.combine(day, time(end_hour, 0), tzinfo=zone)


# -- a patient's messaging preferences and consent --------------------------------------------------------------

Language = Literal["en", "es"]
ChannelChoice = Literal["email", "sms", "both"]


class SmsConsent(StrictRequest):
    """The patient's express consent to texts (TCPA): the text they agreed to, when, and how."""

    text_version: Annotated[str, Field(min_length=1, max_length=40, description="Version of the consent text shown")]
    accepted_at: Timestamp = Field(description="When the patient agreed (RFC 3339 with an offset)")
    captured_by: Annotated[str, Field(min_length=1, max_length=100, description="Staff member or system id")]
    channel: Literal["in_person", "phone", "online", "paper", "sms"]


@dataclass(frozen=True)
class Preferences:
    practice_id: str
    patient_id: str
    updated_at: str
    language: str | None = None
    channels: str = "both"
    time_zone: str | None = None
    sms_consent: dict[str, Any] | None = None
    sms_consent_phone: str | None = None
    """The fingerprint of the number the consent was given for: a new number needs new consent."""
    sms_stopped_at: str | None = None
    """Staff recorded the patient's request to stop texts (an inbound STOP is in the opt-out ledger instead)."""
    email_reminders: bool = True
    version: int = 0

    def zone(self, practice_zone: str) -> ZoneInfo:
        return ZoneInfo(self.time_zone or practice_zone)

    def wants(self, channel: Channel) -> bool:
        return self.channels in ("both", channel.value)

    def consents_to_texts(self, phone_fingerprint: str) -> bool:
        """A consent to texts is on file for this number (a new number needs a new one)."""
        return bool(self.sms_consent) and self.sms_consent_phone == phone_fingerprint


class MessagingChange(StrictRequest):
    """Only the fields sent change; `null` puts one back to its default (the practice's language and time zone, both
    channels, reminder emails on). `sms: "stop"` records the patient's request to stop texts; texts resume only
    with a new `sms_consent` (and, after an inbound STOP, only once the patient texts START)."""

    model_config = examples(
        {
            "sms_consent": {
                "text_version": "sms-billing-2026-01",
                "accepted_at": "2026-12-01T15:30:00Z",
                "captured_by": "front-desk-jdoe",
                "channel": "in_person",
            },
            "language": "es",
        },
        {"sms": "stop"},
        {"channels": "email", "email_reminders": False, "time_zone": "America/Chicago"},
    )

    language: Language | None = None
    channels: ChannelChoice | None = None
    time_zone: Annotated[str, Field(max_length=64)] | None = None
    sms_consent: SmsConsent | None = None
    sms: Literal["stop"] | None = None
    email_reminders: bool | None = None

    @model_validator(mode="after")
    def _checked(self) -> MessagingChange:
        if self.sms and self.sms_consent:
            raise ValueError("send either sms: stop or a new sms_consent, not both")
        if self.time_zone is not None:
            time_zone(self.time_zone)
        return self


class Messaging(BaseModel):
    object: Literal["messaging"] = "messaging"
    patient_id: str
    language: Language
    channels: ChannelChoice
    time_zone: str = Field(description="The patient's, or the practice's when the patient has none")
    email: Literal["active", "suppressed", "no_address", "off"] = Field(
        description="suppressed: the address bounced or complained; off: the practice sends no email"
    )
    email_reminders: bool = Field(description="False: the patient unsubscribed from reminders (notices still go)")
    sms: Literal["active", "no_consent", "stopped", "no_number", "off"] = Field(
        description="no_consent: no consent on file for the current number; stopped: STOP by text or by staff"
    )
    sms_consent: SmsConsent | None = None
    updated_at: str | None = None


class Message(BaseModel):
    id: str
    object: Literal["message"] = "message"
    kind: Kind
    channel: Channel
    status: Status
    status_reason: str | None = None
    patient_id: str
    invoice_id: str | None = None
    event_id: str | None = Field(default=None, description="The domain event that caused it (none for reminders)")
    to: str | None = Field(default=None, description="The address's end only, e.g. •••0142")
    subject: str | None = None
    language: str
    send_at: str | None = Field(default=None, description="Held for quiet hours until then")
    sent_at: str | None = None
    delivered_at: str | None = None
    created_at: str
    updated_at: str


class MessageList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Message]


@dataclass(frozen=True)
class Outgoing:
    """What the service asks a channel to send (the address is PHI: it lives only here, in memory)."""

    record: MessageRecord
    to: str
    subject: str | None = None
    text: str = ""
    html: str | None = None
    unsubscribe_url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def hint(channel: Channel, address: str) -> str:
    if channel is Channel.SMS:
        return "•••" + address[-4:]
    local, _, domain = address.partition("@")
    return f"{local[:1]}•••@{domain}"
