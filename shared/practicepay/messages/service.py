"""Patient messages (ADR 0016): our domain events and the reminder schedule become statements, reminders, autopay
notices, failed-payment notices, receipts and return notices, by email and by text, within the rules a patient is
owed: texts only with consent and never in quiet hours, STOP honoured from any channel, bounced addresses left
alone, reminders unsubscribable, and the minimum necessary in every message.

Each message is claimed once by its deterministic id (a digest of its cause and channel) before anything is sent,
so an event delivered twice, two sweeps or a retried batch send one message; a send that crashed is claimed again
after CLAIM_SECONDS."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import partial
from typing import Any

from practicepay.adapters.vault import PhiVault
from practicepay.billing.store import ScheduleStore
from practicepay.clock import Clock, iso, utc_now
from practicepay.errors import Conflict, NotFound
from practicepay.events import event_item
from practicepay.ids import id_pattern
from practicepay.invoices import lifecycle
from practicepay.invoices.models import InvoiceRecord
from practicepay.invoices.store import InvoiceStore
from practicepay.messages import render
from practicepay.messages.channels import Email, Fingerprints, SendFailed, Sms, normalize
from practicepay.messages.models import (
    CARRIES_LINK,
    MARKETING_LIKE,
    Channel,
    Kind,
    MessageList,
    MessageRecord,
    Messaging,
    MessagingChange,
    Preferences,
    Reminder,
    SmsConsent,
    Status,
    after_quiet_hours,
    first_reminder,
    hint,
    message_id,
)
from practicepay.messages.store import MessageStore
from practicepay.observability import logger
from practicepay.patients.models import Demographics
from practicepay.patients.store import PatientStore
from practicepay.paylinks.models import SECRET_PATTERN, PayLinkRecord, new_secret
from practicepay.paylinks.service import link_event, link_url
from practicepay.paylinks.store import PayLinkStore
from practicepay.practices import Practice, PracticeStore

PATIENT_ID = id_pattern("pat")
INVOICE_ID = id_pattern("inv")
HELD_BODY = "message-body"
"""The vault purpose of a held text's body."""
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE", "PARAR"})
START_WORDS = frozenset({"START", "UNSTOP", "YES", "SUBSCRIBE"})
HELP_WORDS = frozenset({"HELP", "INFO", "AYUDA"})


@dataclass
class MessageService:
    store: MessageStore
    invoices: InvoiceStore
    patients: PatientStore
    practices: PracticeStore
    schedules: ScheduleStore
    links: PayLinkStore
    vault: PhiVault
    fingerprints: Fingerprints
    email: Email
    sms: Sms
    events_table: str
    public_url: str
    """Where the unsubscribe page is (the API's public URL)."""
    pay_page_url: str | None = None
    """Where pay links point (a custom domain); None: `public_url`."""
    clock: Clock = utc_now

    # -- our domain events ---------------------------------------------------------------------------------------

    def on_event(self, detail_type: str, detail: dict[str, Any]) -> list[str]:
        """The messages one event causes; the statuses of those it sent or settled now (a repeat: none)."""
        practice_id, patient_id = detail["practice_id"], detail["patient_id"]
        invoice_id = detail.get("invoice_id")
        event_id = detail.get("event_id")
        if detail_type == "invoice.issued":
            self._schedule_reminders(practice_id, detail)
            return self._send(
                practice_id, patient_id, Kind.STATEMENT, f"statement:{invoice_id}", detail["amount_due"],
                day=detail["due_date"], invoice_id=invoice_id, event_id=event_id,
            )  # fmt: skip
        if detail_type == "installment.upcoming":
            return self._send(
                practice_id, patient_id, Kind.AUTOPAY_NOTICE, f"autopay_notice:{detail['installment_id']}",
                detail["amount"], day=detail["charge_on"], invoice_id=invoice_id, event_id=event_id,
                card=self._card(practice_id, detail),
            )  # fmt: skip
        autopay_failure = detail_type == "installment.failed" or (
            detail_type == "payment.failed" and (detail.get("installment_id") or detail.get("channel") == "autopay")
        )
        if autopay_failure:
            attempt = detail.get("payment_id") or f"{detail.get('installment_id')}:{detail.get('attempts')}"
            return self._send(
                practice_id, patient_id, Kind.PAYMENT_FAILED, f"autopay_failed:{attempt}", detail["amount"],
                day=None, invoice_id=invoice_id, event_id=event_id,
            )  # fmt: skip
        if detail_type == "payment.succeeded":
            return self._send(
                practice_id, patient_id, Kind.RECEIPT, f"receipt:{detail['payment_id']}", detail["amount"],
                day=detail["occurred_at"][:10], invoice_id=invoice_id, event_id=event_id,
            )  # fmt: skip
        if detail_type == "payment.returned":
            self._restart_reminders(practice_id, invoice_id)
            return self._send(
                practice_id, patient_id, Kind.PAYMENT_RETURNED, f"returned:{detail['payment_id']}", detail["amount"],
                day=None, invoice_id=invoice_id, event_id=event_id,
            )  # fmt: skip
        return []

    # -- the sweep: reminders due and texts held for quiet hours -------------------------------------------------

    def sweep(self, now: datetime | None = None) -> dict[str, int]:
        now = now or self.clock()
        held, reminders = self.store.due(now)
        counts = {"held_sent": 0, "reminders": 0, "reminders_ended": 0}
        for record in held:
            counts["held_sent"] += self._release(record, now) == Status.SENT
        for reminder in reminders:
            if self._remind(reminder, now):
                counts["reminders"] += 1
            else:
                counts["reminders_ended"] += 1
        return counts

    def _remind(self, reminder: Reminder, now: datetime) -> bool:
        invoice = self.invoices.get(reminder.practice_id, reminder.invoice_id)
        if invoice is None or not _owes(invoice):  # paid, on a plan, written off or canceled: the schedule ends
            self.store.advance_reminder(reminder, None)
            return False
        self._send(
            reminder.practice_id, reminder.patient_id, Kind.REMINDER,
            f"reminder:{reminder.invoice_id}:{reminder.offset}", invoice.payable_balance, day=invoice.due_date,
            invoice_id=invoice.id, overdue=now.date() > date.fromisoformat(invoice.due_date), now=now,
        )  # fmt: skip
        practice = self.practices.require(reminder.practice_id)
        prefs = self.store.preferences(reminder.practice_id, reminder.patient_id)
        following = first_reminder(
            reminder.practice_id, reminder.invoice_id, reminder.patient_id, reminder.due_date, reminder.offsets,
            prefs.zone(practice.settings.time_zone), now, start=reminder.next_index + 1,
        )  # fmt: skip
        self.store.advance_reminder(reminder, following)
        return True

    def _schedule_reminders(self, practice_id: str, detail: dict[str, Any]) -> None:
        settings = self.practices.require(practice_id).settings
        prefs = self.store.preferences(practice_id, detail["patient_id"])
        reminder = first_reminder(
            practice_id, detail["invoice_id"], detail["patient_id"], detail["due_date"], settings.reminder_days,
            prefs.zone(settings.time_zone), self.clock(),
        )  # fmt: skip
        if reminder is not None:
            self.store.schedule_reminders(reminder)

    def _restart_reminders(self, practice_id: str, invoice_id: str | None) -> None:
        """A returned payment makes the balance owed again: the invoice's reminders resume where the cadence is now
        (the offsets still ahead; a schedule still running is kept)."""
        invoice = self.invoices.get(practice_id, invoice_id) if invoice_id else None
        if invoice is not None:
            self._schedule_reminders(
                practice_id,
                {"invoice_id": invoice.id, "patient_id": invoice.patient_id, "due_date": invoice.due_date},
            )

    def _release(self, record: MessageRecord, now: datetime) -> Status | None:
        """Send a text held for quiet hours, unless the patient stopped texts meanwhile."""
        taken = self.store.take_held(record, now)
        if taken is None or taken.body_sealed is None:
            return None
        patient = self.patients.get(record.practice_id, record.patient_id)
        practice = self.practices.require(record.practice_id)
        demographics = Demographics.unsealed(self.vault, patient.phi_sealed, record.practice_id) if patient else None
        phone = demographics.phone if demographics else None
        prefs = self.store.preferences(record.practice_id, record.patient_id)
        reason = "no_number" if phone is None else self._blocked(Channel.SMS, Kind(record.kind), practice, prefs, phone)
        if reason or phone is None:
            self._settle(replace(taken, body_sealed=None), Status.SUPPRESSED, now, status_reason=reason)
            return Status.SUPPRESSED
        body = self.vault.open(taken.body_sealed, practice_id=record.practice_id, purpose=HELD_BODY)
        return self._deliver(replace(taken, body_sealed=None), now, partial(self.sms.send, to=_e164(phone), body=body))

    # -- sending -------------------------------------------------------------------------------------------------

    def _send(
        self,
        practice_id: str,
        patient_id: str,
        kind: Kind,
        cause: str,
        amount: int,
        *,
        day: str | None,
        invoice_id: str | None = None,
        event_id: str | None = None,
        card: tuple[str, str] | None = None,
        overdue: bool = False,
        now: datetime | None = None,
    ) -> list[str]:
        now = now or self.clock()
        patient = self.patients.get(practice_id, patient_id)
        if patient is None:
            return []
        practice = self.practices.require(practice_id)
        settings = practice.settings
        demographics = Demographics.unsealed(self.vault, patient.phi_sealed, practice_id)
        prefs = self.store.preferences(practice_id, patient_id)
        language = prefs.language or settings.pay_page_language
        outcomes: list[str] = []
        for channel, address in ((Channel.EMAIL, demographics.email), (Channel.SMS, demographics.phone)):
            if not address:
                continue
            record = MessageRecord(
                practice_id=practice_id,
                id=message_id(practice_id, cause, channel),
                cause=cause,
                kind=kind.value,
                channel=channel.value,
                patient_id=patient_id,
                invoice_id=invoice_id,
                event_id=event_id,
                status=Status.QUEUED.value,
                language=language,
                to_hint=hint(channel, address),
                created_at=iso(now),
                updated_at=iso(now),
                claimed_at=iso(now),
            )
            if not self.store.claim(record, now):
                continue  # sent (or being sent) already: this is a repeat
            reason = self._blocked(channel, kind, practice, prefs, address)
            if reason:
                outcomes.append(self._settle(record, Status.SUPPRESSED, now, status_reason=reason))
                continue
            link = self._link(practice, patient_id, invoice_id, now) if kind in CARRIES_LINK and invoice_id else None
            unsubscribe = self._unsubscribe_url(practice_id, patient_id, now) if kind in MARKETING_LIKE else None
            values = render.context(
                practice=settings.sender_name or practice.name,
                amount=amount,
                day=day,
                phone=settings.contact_phone,
                link=link[1] if link else None,
                language=language,
                card=card[0] if card else None,
                card_short=card[1] if card else None,
                overdue=overdue,
            )
            message = render.render(kind, values, logo_url=settings.logo_url, unsubscribe_url=unsubscribe)
            record = replace(record, subject=message.subject, link_id=link[0] if link else None)
            if channel is Channel.SMS:
                send_at = after_quiet_hours(
                    now, prefs.zone(settings.time_zone), settings.quiet_start_hour, settings.quiet_end_hour
                )
                if send_at is not None:
                    sealed = self.vault.seal(message.sms, practice_id=practice_id, purpose=HELD_BODY)
                    outcomes.append(self._settle(record, Status.HELD, now, send_at=iso(send_at), body_sealed=sealed))
                    continue
                outcomes.append(self._deliver(record, now, partial(self.sms.send, to=_e164(address), body=message.sms)))
            else:
                outcomes.append(
                    self._deliver(
                        record,
                        now,
                        partial(
                            self.email.send,
                            to=address,
                            sender_name=settings.sender_name or practice.name,
                            reply_to=settings.reply_to or settings.contact_email,
                            subject=message.subject,
                            text=message.text,
                            html=message.html,
                            unsubscribe_url=unsubscribe,
                            kind=kind.value,
                        ),
                    )
                )
        return outcomes

    def _deliver(self, record: MessageRecord, now: datetime, send: Any) -> Status:
        try:
            provider_id = send()
        except SendFailed as exc:
            logger.warning("message refused", message_id=record.id, channel=record.channel, reason=str(exc))
            return self._settle(record, Status.FAILED, now, status_reason=str(exc))
        return self._settle(record, Status.SENT, now, provider_id=provider_id, sent_at=iso(now), send_at=None)

    def _settle(self, record: MessageRecord, status: Status, now: datetime, **changes: Any) -> Status:
        after = record.moved(status, now, **changes)
        event = None
        if status in (Status.SENT, Status.FAILED):
            detail_type = "message.sent" if status is Status.SENT else "message.failed"
            event = event_item(record.practice_id, detail_type, after.event_detail(), now)
        self.store.settle(after, self.events_table, event)
        return status

    def _blocked(
        self, channel: Channel, kind: Kind, practice: Practice, prefs: Preferences, address: str
    ) -> str | None:
        """Why this message may not go to this address now, or None."""
        settings = practice.settings
        if channel is Channel.EMAIL:
            if not settings.messages_email:
                return "channel_off"
            if not self.email.available:
                return "email_not_configured"
            if not prefs.wants(channel):
                return "patient_prefers_sms"
            if kind in MARKETING_LIKE and not prefs.email_reminders:
                return "unsubscribed"
            return self.store.opted_out(channel, self.fingerprints.of(channel, address))
        if not settings.messages_sms:
            return "channel_off"
        if not self.sms.available:
            return "sms_not_configured"
        if not prefs.wants(channel):
            return "patient_prefers_email"
        if prefs.sms_stopped_at:
            return "stopped"
        fingerprint = self.fingerprints.of(channel, address)
        if not prefs.consents_to_texts(fingerprint):
            return "no_consent"
        return self.store.opted_out(channel, fingerprint)

    def _link(self, practice: Practice, patient_id: str, invoice_id: str, now: datetime) -> tuple[str, str]:
        """A new pay link for the invoice (the practice's lifetime and uses): its id and URL."""
        settings = practice.settings
        link, secret = PayLinkRecord.new(
            practice.practice_id, patient_id, invoice_id, now,
            days=settings.pay_link_days, max_uses=settings.pay_link_max_uses,
        )  # fmt: skip
        self.links.create(link, self.events_table, link_event(link, "pay_link.created", now))
        return link.id, link_url(self.pay_page_url or self.public_url, secret)

    def _unsubscribe_url(self, practice_id: str, patient_id: str, now: datetime) -> str:
        token = new_secret()  # as a pay link's: 192 random bits, kept only as its hash
        self.store.put_unsubscribe(token, practice_id, patient_id, now)
        return f"{self.public_url.rstrip('/')}/unsubscribe/{token}"

    def _card(self, practice_id: str, detail: dict[str, Any]) -> tuple[str, str] | None:
        """The card (or bank account) the autopay charge uses: ("Visa ending in 1111", "Visa *1111")."""
        if detail.get("plan_id"):
            owner = self.schedules.get_plan(practice_id, detail["invoice_id"], detail["plan_id"])
        elif detail.get("subscription_id"):
            owner = self.schedules.get_subscription(practice_id, detail["subscription_id"])
        else:
            owner = None
        method = self.patients.get_method(practice_id, detail["patient_id"], owner.payment_method_id) if owner else None
        if method is None:
            return None
        name = (method.brand or "card").title() if method.kind == "card" else "bank account"
        return f"{name} ending in {method.last4}", f"{name} *{method.last4}"

    # -- SES and SMS feedback ------------------------------------------------------------------------------------

    def on_email_feedback(self, notice: dict[str, Any]) -> str:
        """An SES event (configuration set → SNS): Delivery, Bounce, Complaint, Reject, Rendering Failure."""
        kind = notice.get("eventType") or notice.get("notificationType") or ""
        record = self.store.by_provider(notice.get("mail", {}).get("messageId", ""))
        now = self.clock()
        if kind == "Bounce":
            bounce = notice.get("bounce", {})
            if bounce.get("bounceType") != "Permanent":
                return "transient_bounce"  # SES retries a soft bounce itself
            for recipient in bounce.get("bouncedRecipients", []):
                fingerprint = self.fingerprints.of(Channel.EMAIL, recipient["emailAddress"])
                self.store.opt_out(Channel.EMAIL, fingerprint, "bounced", now)
            if record:
                self.store.delivery(record, Status.BOUNCED, now, reason=f"bounce:{bounce.get('bounceSubType', '')}")
            return "bounced"
        if kind == "Complaint":
            for recipient in notice.get("complaint", {}).get("complainedRecipients", []):
                fingerprint = self.fingerprints.of(Channel.EMAIL, recipient["emailAddress"])
                self.store.opt_out(Channel.EMAIL, fingerprint, "complained", now)
            return "complained"
        if record is None:
            return "unknown_message"
        if kind == "Delivery":
            self.store.delivery(record, Status.DELIVERED, now)
            return "delivered"
        if kind in ("Reject", "Rendering Failure"):
            self.store.delivery(record, Status.FAILED, now, reason=kind.lower().replace(" ", "_"))
            return "failed"
        return "ignored"

    def on_inbound_sms(self, inbound: dict[str, Any]) -> str:
        """A text a patient sent to our number (End User Messaging SMS two-way → SNS): STOP, START or HELP."""
        phone = inbound.get("originationNumber") or ""
        if not re.fullmatch(r"\+?[0-9]{10,15}", phone):
            return "ignored"
        keyword = (inbound.get("messageBody") or "").strip().split(maxsplit=1)
        word = keyword[0].upper().strip(".!") if keyword else ""
        language = "es" if word in ("PARAR", "AYUDA") else "en"
        fingerprint = self.fingerprints.of(Channel.SMS, phone)
        if word in STOP_WORDS:
            self.store.opt_out(Channel.SMS, fingerprint, "stopped", self.clock())
            reply, outcome = "stop_reply", "stopped"
        elif word in START_WORDS:
            self.store.opt_in(Channel.SMS, fingerprint)
            reply, outcome = "start_reply", "started"
        elif word in HELP_WORDS:
            reply, outcome = "help_reply", "help"
        else:
            return "ignored"
        if self.sms.available:  # the reply a carrier requires; it answers the patient's own text, at any hour
            try:
                self.sms.send(to=_e164(phone), body=render.words(language, reply))
            except SendFailed:
                logger.warning("keyword reply refused", keyword=outcome)
        return outcome

    # -- staff: a patient's messages and preferences; the unsubscribe page ---------------------------------------

    def for_patient(self, practice_id: str, patient_id: str) -> MessageList:
        self._patient(practice_id, patient_id)
        return MessageList(data=[r.view() for r in self.store.for_patient(practice_id, patient_id)])

    def for_invoice(self, practice_id: str, invoice_id: str) -> MessageList:
        if not INVOICE_ID.match(invoice_id) or self.invoices.get(practice_id, invoice_id) is None:
            raise NotFound(f"No invoice {invoice_id} exists for this practice.")
        return MessageList(data=[r.view() for r in self.store.for_invoice(practice_id, invoice_id)])

    def messaging(self, practice_id: str, patient_id: str) -> Messaging:
        demographics = self._patient(practice_id, patient_id)
        return self._view(practice_id, self.store.preferences(practice_id, patient_id), demographics)

    def change_messaging(self, practice_id: str, patient_id: str, change: MessagingChange) -> Messaging:
        demographics = self._patient(practice_id, patient_id)
        prefs = self.store.preferences(practice_id, patient_id)
        now = iso(self.clock())
        fields = change.model_dump(exclude_unset=True, exclude={"sms", "sms_consent"})
        defaults = Preferences(practice_id=practice_id, patient_id=patient_id, updated_at=now)
        # null puts a field back to its default (the practice's language and zone, both channels, reminders on)
        fields = {name: getattr(defaults, name) if value is None else value for name, value in fields.items()}
        prefs = replace(prefs, **fields, updated_at=now)
        if change.sms == "stop":
            prefs = replace(prefs, sms_stopped_at=now)
        if change.sms_consent is not None:
            if not demographics.phone:
                raise Conflict(
                    f"The patient has no phone number on file: add it (PATCH /patients/{patient_id}) before their "
                    "consent to texts."
                )
            prefs = replace(
                prefs,
                sms_consent=change.sms_consent.model_dump(mode="json"),
                sms_consent_phone=self.fingerprints.of(Channel.SMS, demographics.phone),
                sms_stopped_at=None,
            )
        self.store.put_preferences(prefs)
        return self._view(practice_id, replace(prefs, version=prefs.version + 1), demographics)

    def unsubscribe(self, token: str) -> tuple[str, str] | None:
        """Stop reminder emails for the token's patient: their practice's name and the patient's language (the page's
        words), or None for an unknown or expired token."""
        return self._unsubscribe(token, act=True)

    def unsubscribe_known(self, token: str) -> tuple[str, str] | None:
        """What the page shows before it unsubscribes (the practice's name, the patient's language), or None."""
        return self._unsubscribe(token, act=False)

    def _unsubscribe(self, token: str, *, act: bool) -> tuple[str, str] | None:
        owner = self.store.unsubscribe_owner(token, self.clock()) if re.fullmatch(SECRET_PATTERN, token) else None
        if owner is None:
            return None
        practice_id, patient_id = owner
        prefs = self.store.preferences(practice_id, patient_id)
        if act and prefs.email_reminders:
            self.store.put_preferences(replace(prefs, email_reminders=False, updated_at=iso(self.clock())))
        practice = self.practices.require(practice_id)
        return practice.settings.sender_name or practice.name, prefs.language or practice.settings.pay_page_language

    def _patient(self, practice_id: str, patient_id: str) -> Demographics:
        record = self.patients.get(practice_id, patient_id) if PATIENT_ID.match(patient_id) else None
        if record is None:
            raise NotFound(f"No patient {patient_id} exists for this practice.")
        return Demographics.unsealed(self.vault, record.phi_sealed, practice_id)

    def _view(self, practice_id: str, prefs: Preferences, demographics: Demographics) -> Messaging:
        practice = self.practices.require(practice_id)
        settings = practice.settings
        if not settings.messages_email:
            email = "off"
        elif not demographics.email:
            email = "no_address"
        else:
            out = self.store.opted_out(Channel.EMAIL, self.fingerprints.of(Channel.EMAIL, demographics.email))
            email = "suppressed" if out else "active"
        if not settings.messages_sms:
            sms = "off"
        elif not demographics.phone:
            sms = "no_number"
        else:
            fingerprint = self.fingerprints.of(Channel.SMS, demographics.phone)
            if prefs.sms_stopped_at or self.store.opted_out(Channel.SMS, fingerprint):
                sms = "stopped"
            elif not prefs.consents_to_texts(fingerprint):
                sms = "no_consent"
            else:
                sms = "active"
        return Messaging(
            patient_id=prefs.patient_id,
            language=prefs.language or settings.pay_page_language,  # type: ignore[arg-type]
            channels=prefs.channels,  # type: ignore[arg-type]
            time_zone=prefs.time_zone or settings.time_zone,
            email=email,  # type: ignore[arg-type]
            email_reminders=prefs.email_reminders,
            sms=sms,  # type: ignore[arg-type]
            sms_consent=SmsConsent.model_validate(prefs.sms_consent) if prefs.sms_consent else None,
            updated_at=prefs.updated_at or None,
        )


def _owes(invoice: InvoiceRecord) -> bool:
    """Whether a reminder is due: a balance the patient can pay now, not on a plan (a plan's autopay has its own
    notices)."""
    return invoice.status in lifecycle.PAYABLE and invoice.plan_id is None and invoice.payable_balance > 0


def _e164(phone: str) -> str:
    return normalize(Channel.SMS, phone)
