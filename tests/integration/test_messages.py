"""Patient messages on the moto server (ADR 0016): the MessageService with the real stores, vault and fingerprint
key, and fake email and SMS adapters that record what they were asked to send, under a clock the test moves.
Statements with working pay links, one message per cause and channel however often it comes, consent, STOP /
START / HELP, staff stops, bounces, complaints and deliveries, the unsubscribe link, quiet hours, the reminder
cadence until paid, autopay notices, failed-payment notices, receipts, returns, message events, and a PHI scan of
everything sent and stored."""

from __future__ import annotations

import itertools
import json
import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
from boto3.dynamodb.conditions import Key

from practicepay.adapters.dynamo import plain
from practicepay.adapters.vault import PhiVault
from practicepay.billing.models import PlanRecord
from practicepay.billing.store import ScheduleStore
from practicepay.clock import from_iso, iso
from practicepay.events.publish import detail_of
from practicepay.ids import new_id
from practicepay.invoices.models import InvoiceRecord
from practicepay.invoices.service import LINE_ITEMS_PURPOSE
from practicepay.invoices.store import InvoiceStore
from practicepay.messages.channels import Fingerprints, normalize
from practicepay.messages.models import Channel, MessageRecord, MessagingChange, reminder_at
from practicepay.messages.service import MessageService
from practicepay.messages.store import MessageStore
from practicepay.patients.models import DEMOGRAPHICS, Demographics
from practicepay.patients.store import MethodRecord, PatientRecord, PatientStore
from practicepay.paylinks.models import secret_hash
from practicepay.paylinks.store import PayLinkStore
from practicepay.practices import Practice, PracticeStore
from practicepay.practices.models import PracticeSettings
from tests.event_schemas import validate_detail

pytestmark = pytest.mark.integration

NY = ZoneInfo("America/New_York")
DAYTIME = datetime(2026, 12, 1, 14, 0, tzinfo=NY)
PUBLIC = "https://api.practicepay.test"
PAY_LINK = re.compile(r"https://api\.practicepay\.test/pay/([A-Za-z0-9_-]{32})")
UNSUBSCRIBE = re.compile(r"https://api\.practicepay\.test/unsubscribe/([A-Za-z0-9_-]{32})")
CONSENT = {
    "text_version": "sms-billing-2026-01",
    "accepted_at": "2026-12-01T15:30:00Z",
    "captured_by": "front-desk-jdoe",
    "channel": "in_person",
}
_NUMBERS = itertools.count(int(uuid.uuid4().int % 9_000_000))


# -- fakes: the channels record what they are asked to send ------------------------------------------------------


@dataclass
class FakeEmail:
    available: bool = True
    sent: list[dict[str, Any]] = field(default_factory=list)

    def send(
        self,
        *,
        to: str,
        sender_name: str,
        reply_to: str | None,
        subject: str,
        text: str,
        html: str,
        unsubscribe_url: str | None,
        kind: str,
    ) -> str:
        provider_id = f"ses-{uuid.uuid4().hex}"
        self.sent.append(
            {
                "to": to,
                "sender_name": sender_name,
                "reply_to": reply_to,
                "subject": subject,
                "text": text,
                "html": html,
                "unsubscribe_url": unsubscribe_url,
                "kind": kind,
                "provider_id": provider_id,
            }
        )
        return provider_id


@dataclass
class FakeSms:
    available: bool = True
    sent: list[dict[str, Any]] = field(default_factory=list)

    def send(self, *, to: str, body: str) -> str:
        provider_id = f"sns-{uuid.uuid4().hex}"
        self.sent.append({"to": to, "body": body, "provider_id": provider_id})
        return provider_id


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


# -- the world: a practice, its patients, invoices and plans, written through the stores -------------------------


@dataclass
class Patient:
    id: str
    email: str
    phone: str
    demographics: Demographics


@dataclass
class World:
    env: dict[str, str]
    practice_id: str
    service: MessageService
    email: FakeEmail
    sms: FakeSms
    clock: Clock

    @property
    def store(self) -> MessageStore:
        return self.service.store

    def patient(self, *, consent: bool = False, **changes: Any) -> Patient:
        number = next(_NUMBERS)
        mark = uuid.uuid4().hex[:8]
        demo = Demographics.model_validate(
            {
                "first_name": "Pat",
                "last_name": f"Doe{mark}",
                "email": f"pt.{mark}@example.org",
                "phone": f"+1{312 + number % 500:03d}{5_000_000 + number % 4_999_999:07d}",
                **changes,
            }
        )
        now = iso(self.clock())
        record = PatientRecord(
            practice_id=self.practice_id,
            id=new_id("pat"),
            external_id=f"ehr-msg-{mark}",
            phi_sealed=self.service.vault.seal(
                demo.model_dump(mode="json"), practice_id=self.practice_id, purpose=DEMOGRAPHICS
            ),
            created_at=now,
            updated_at=now,
        )
        self.service.patients.create(record)
        patient = Patient(record.id, demo.email or "", demo.phone or "", demo)
        if consent:
            self.consent(patient)
        return patient

    def consent(self, patient: Patient) -> None:
        change = MessagingChange.model_validate({"sms_consent": CONSENT})
        assert self.service.change_messaging(self.practice_id, patient.id, change).sms == "active"

    def invoice(
        self, patient: Patient, total: int = 18000, due_in_days: int = 10, lines: list[dict] | None = None
    ) -> InvoiceRecord:
        now = self.clock()
        lines = lines or [{"description": "Office visit", "quantity": 1, "unit_amount": total, "amount": total}]
        record = InvoiceRecord(
            practice_id=self.practice_id,
            id=new_id("inv"),
            patient_id=patient.id,
            status="open",
            currency="usd",
            due_date=(now.astimezone(NY).date() + timedelta(days=due_in_days)).isoformat(),
            line_items_sealed=self.service.vault.seal(lines, practice_id=self.practice_id, purpose=LINE_ITEMS_PURPOSE),
            line_item_count=len(lines),
            subtotal=total,
            total=total,
            amount_paid=0,
            created_at=iso(now),
            updated_at=iso(now),
        )
        self.service.invoices.put_new(record, patients_table=self.env["PATIENTS_TABLE"])
        return record

    def paid(self, invoice: InvoiceRecord) -> None:
        current = self.service.invoices.get(self.practice_id, invoice.id)
        done = replace(
            current, status="paid", amount_paid=current.total, version=current.version + 1, updated_at=iso(self.clock())
        )
        self.service.invoices.replace(done, current.version)

    def card(self, patient: Patient, brand: str = "visa", last4: str = "4242") -> MethodRecord:
        method = MethodRecord(
            practice_id=self.practice_id,
            id=new_id("pm"),
            patient_id=patient.id,
            kind="card",
            last4=last4,
            token_sealed="sealed-token",
            splash_token_id=f"tok_{uuid.uuid4().hex[:12]}",
            consent=CONSENT,
            created_at=iso(self.clock()),
            brand=brand,
        )
        self.service.patients.put_method(method)
        return method

    def plan(self, invoice: InvoiceRecord, method: MethodRecord) -> PlanRecord:
        now = iso(self.clock())
        plan = PlanRecord(
            practice_id=self.practice_id,
            id=new_id("pln"),
            invoice_id=invoice.id,
            patient_id=invoice.patient_id,
            payment_method_id=method.id,
            frequency="monthly",
            first_date=invoice.due_date,
            installment_count=3,
            total=invoice.total,
            status="active",
            consent=CONSENT,
            policy={"card_retry_days": [1, 3, 7], "ach_redeposit_delay_days": 5, "notice_days": 3},
            created_at=now,
            updated_at=now,
        )
        schedules = self.service.schedules
        boto3.resource("dynamodb").Table(schedules.table_name).put_item(Item=schedules.plan_item(plan))
        return plan

    # -- event details as our bus carries them

    def detail(self, patient: Patient, **fields: Any) -> dict[str, Any]:
        return {
            "event_id": new_id("evt"),
            "occurred_at": iso(self.clock()),
            "practice_id": self.practice_id,
            "patient_id": patient.id,
            **fields,
        }

    def issue(self, patient: Patient, invoice: InvoiceRecord, **extra: Any) -> tuple[dict[str, Any], list[str]]:
        detail = self.detail(
            patient,
            invoice_id=invoice.id,
            status="open",
            currency="usd",
            total=invoice.total,
            amount_due=invoice.total,
            due_date=invoice.due_date,
            **extra,
        )
        return detail, self.service.on_event("invoice.issued", detail)

    def payment(self, patient: Patient, invoice: InvoiceRecord, detail_type: str, **fields: Any) -> list[str]:
        detail = self.detail(
            patient,
            payment_id=fields.pop("payment_id", new_id("pay")),
            invoice_id=invoice.id,
            method_kind="card",
            amount=fields.pop("amount", 5000),
            amount_refunded=0,
            status={"payment.succeeded": "succeeded", "payment.failed": "failed"}.get(detail_type, "returned"),
            channel=fields.pop("channel", "staff"),
            **fields,
        )
        return self.service.on_event(detail_type, detail)

    # -- what happened

    def emails(self, patient: Patient, kind: str | None = None) -> list[dict[str, Any]]:
        return [m for m in self.email.sent if m["to"] == patient.email and kind in (None, m["kind"])]

    def texts(self, patient: Patient) -> list[dict[str, Any]]:
        return [m for m in self.sms.sent if m["to"] == normalize(Channel.SMS, patient.phone)]

    def records(self, patient: Patient, kind: str | None = None, channel: str | None = None) -> list[MessageRecord]:
        return [
            r
            for r in self.store.for_patient(self.practice_id, patient.id)
            if kind in (None, r.kind) and channel in (None, r.channel)
        ]

    def record(self, patient: Patient, kind: str, channel: str) -> MessageRecord:
        [found] = self.records(patient, kind, channel)
        return found

    def events(self) -> list[tuple[str, dict[str, Any]]]:
        table = boto3.resource("dynamodb").Table(self.env["EVENTS_TABLE"])
        rows = table.query(KeyConditionExpression=Key("pk").eq(f"PRACTICE#{self.practice_id}"))["Items"]
        return [(row["detail_type"], detail_of(plain(dict(row)))) for row in rows]


@pytest.fixture
def world(aws_env) -> World:
    return make_world(aws_env)


def make_world(env: dict[str, str], **settings: Any) -> World:
    practice_id = f"prc_msg_{uuid.uuid4().hex[:8]}"
    practices = PracticeStore(env["PRACTICES_TABLE"])
    practices.put(
        Practice(
            practice_id=practice_id,
            name="Lakeview Pediatrics",
            settings=PracticeSettings(contact_phone="3125550100", **settings),
            created_at=iso(DAYTIME),
            updated_at=iso(DAYTIME),
        )
    )
    clock = Clock(DAYTIME)
    email, sms = FakeEmail(), FakeSms()
    service = MessageService(
        store=MessageStore(env["MESSAGES_TABLE"]),
        invoices=InvoiceStore(env["INVOICES_TABLE"]),
        patients=PatientStore(env["PATIENTS_TABLE"]),
        practices=practices,
        schedules=ScheduleStore(env["SCHEDULES_TABLE"]),
        links=PayLinkStore(env["PAY_LINKS_TABLE"]),
        vault=PhiVault(env["DATA_KEY_ARN"]),
        fingerprints=Fingerprints(env["FINGERPRINT_KEY_ARN"]),
        email=email,
        sms=sms,
        events_table=env["EVENTS_TABLE"],
        public_url=PUBLIC,
        clock=clock,
    )
    return World(env, practice_id, service, email, sms, clock)


# -- statements and dedupe ---------------------------------------------------------------------------------------


def test_an_issued_invoice_sends_a_statement_by_email_and_text_each_with_a_live_pay_link(world):
    patient = world.patient(consent=True)
    invoice = world.invoice(patient, total=18000)
    _, outcomes = world.issue(patient, invoice)
    assert sorted(outcomes) == ["sent", "sent"]

    [email] = world.emails(patient, "statement")
    [text] = world.texts(patient)
    assert "$180.00" in email["subject"] + email["text"] and "$180.00" in text["body"]
    assert email["sender_name"] == "Lakeview Pediatrics" and email["unsubscribe_url"] is None  # transactional
    links = world.service.links
    secrets = {PAY_LINK.search(email["text"]).group(1), PAY_LINK.search(text["body"]).group(1)}
    assert PAY_LINK.search(email["html"]).group(1) in secrets
    assert len(secrets) == 2  # one link per message
    for secret in secrets:
        link = links.get(secret_hash(secret))
        assert link is not None and (link.invoice_id, link.patient_id) == (invoice.id, patient.id)
        assert from_iso(link.expires_at) == DAYTIME + timedelta(days=30)  # the practice's pay_link_days

    by_channel = {r.channel: r for r in world.records(patient, "statement")}
    assert by_channel["email"].status == by_channel["sms"].status == "sent"
    assert by_channel["email"].link_id and by_channel["sms"].link_id
    assert by_channel["sms"].to_hint == "•••" + patient.phone[-4:]
    assert [r.id for r in world.service.for_invoice(world.practice_id, invoice.id).data]


def test_the_same_event_twice_or_the_same_cause_again_sends_one_message_per_channel(world):
    patient = world.patient(consent=True)
    invoice = world.invoice(patient)
    detail, first = world.issue(patient, invoice)
    assert sorted(first) == ["sent", "sent"]
    assert world.service.on_event("invoice.issued", detail) == []  # redelivered
    assert world.service.on_event("invoice.issued", {**detail, "event_id": new_id("evt")}) == []  # re-issued
    assert len(world.emails(patient)) == 1 and len(world.texts(patient)) == 1
    assert len(world.records(patient, "statement")) == 2
    sent_events = [d for t, d in world.events() if t == "message.sent"]
    assert len(sent_events) == 2


def test_no_consent_means_no_text(world):
    patient = world.patient()
    invoice = world.invoice(patient)
    _, outcomes = world.issue(patient, invoice)
    assert sorted(outcomes) == ["sent", "suppressed"]
    sms = world.record(patient, "statement", "sms")
    assert (sms.status, sms.status_reason) == ("suppressed", "no_consent")
    assert world.texts(patient) == [] and len(world.emails(patient)) == 1
    assert world.service.messaging(world.practice_id, patient.id).sms == "no_consent"


# -- STOP / START / HELP and staff's stop -------------------------------------------------------------------------


def test_inbound_stop_suppresses_texts_start_resumes_them_and_help_replies(world):
    patient = world.patient(consent=True)
    invoice = world.invoice(patient)
    number = normalize(Channel.SMS, patient.phone)

    assert world.service.on_inbound_sms({"originationNumber": number, "messageBody": "STOP"}) == "stopped"
    assert "START" in world.texts(patient)[-1]["body"]  # the carrier-required reply
    world.issue(patient, invoice)
    sms = world.record(patient, "statement", "sms")
    assert (sms.status, sms.status_reason) == ("suppressed", "stopped")
    assert world.service.messaging(world.practice_id, patient.id).sms == "stopped"
    assert len(world.texts(patient)) == 1  # the reply only

    assert world.service.on_inbound_sms({"originationNumber": number, "messageBody": " start "}) == "started"
    assert "STOP" in world.texts(patient)[-1]["body"]
    assert world.payment(patient, invoice, "payment.succeeded") == ["sent", "sent"]
    assert world.texts(patient)[-1]["body"].startswith("Lakeview Pediatrics: we received")

    assert world.service.on_inbound_sms({"originationNumber": number, "messageBody": "HELP"}) == "help"
    assert "Reply STOP" in world.texts(patient)[-1]["body"]
    assert world.service.on_inbound_sms({"originationNumber": number, "messageBody": "thanks!"}) == "ignored"
    assert world.service.on_inbound_sms({"originationNumber": "not a number", "messageBody": "STOP"}) == "ignored"


def test_staff_record_a_stop_and_texts_end_until_new_consent(world):
    patient = world.patient(consent=True)
    invoice = world.invoice(patient)
    view = world.service.change_messaging(world.practice_id, patient.id, MessagingChange(sms="stop"))
    assert view.sms == "stopped"
    world.issue(patient, invoice)
    sms = world.record(patient, "statement", "sms")
    assert (sms.status, sms.status_reason) == ("suppressed", "stopped")
    assert world.texts(patient) == []
    world.consent(patient)
    assert world.payment(patient, invoice, "payment.succeeded") == ["sent", "sent"]
    assert len(world.texts(patient)) == 1


# -- SES feedback ----------------------------------------------------------------------------------------------


def test_a_permanent_bounce_marks_the_message_and_suppresses_the_address(world):
    patient = world.patient()
    invoice = world.invoice(patient)
    world.issue(patient, invoice)
    [statement] = world.emails(patient)
    notice = {
        "eventType": "Bounce",
        "mail": {"messageId": statement["provider_id"]},
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": patient.email.upper()}],
        },
    }
    assert world.service.on_email_feedback(notice) == "bounced"
    record = world.record(patient, "statement", "email")
    assert (record.status, record.status_reason) == ("bounced", "bounce:General")
    assert world.service.messaging(world.practice_id, patient.id).email == "suppressed"
    world.payment(patient, invoice, "payment.succeeded")
    receipt = world.record(patient, "receipt", "email")
    assert (receipt.status, receipt.status_reason) == ("suppressed", "bounced")
    assert len(world.emails(patient)) == 1
    # a delivery notice arriving after the bounce does not undo it
    assert world.service.on_email_feedback({"eventType": "Delivery", "mail": {"messageId": statement["provider_id"]}})
    assert world.record(patient, "statement", "email").status == "bounced"


def test_a_transient_bounce_changes_nothing(world):
    patient = world.patient()
    world.issue(patient, world.invoice(patient))
    [statement] = world.emails(patient)
    notice = {
        "eventType": "Bounce",
        "mail": {"messageId": statement["provider_id"]},
        "bounce": {"bounceType": "Transient", "bouncedRecipients": [{"emailAddress": patient.email}]},
    }
    assert world.service.on_email_feedback(notice) == "transient_bounce"
    assert world.record(patient, "statement", "email").status == "sent"
    assert world.service.messaging(world.practice_id, patient.id).email == "active"


def test_a_complaint_suppresses_later_email(world):
    patient = world.patient()
    invoice = world.invoice(patient)
    world.issue(patient, invoice)
    [statement] = world.emails(patient)
    notice = {
        "eventType": "Complaint",
        "mail": {"messageId": statement["provider_id"]},
        "complaint": {"complainedRecipients": [{"emailAddress": patient.email}]},
    }
    assert world.service.on_email_feedback(notice) == "complained"
    world.payment(patient, invoice, "payment.succeeded")
    receipt = world.record(patient, "receipt", "email")
    assert (receipt.status, receipt.status_reason) == ("suppressed", "complained")
    assert len(world.emails(patient)) == 1


def test_a_delivery_notice_marks_the_email_delivered(world):
    patient = world.patient()
    world.issue(patient, world.invoice(patient))
    [statement] = world.emails(patient)
    world.clock.now = DAYTIME + timedelta(minutes=2)
    notice = {"eventType": "Delivery", "mail": {"messageId": statement["provider_id"]}}
    assert world.service.on_email_feedback(notice) == "delivered"
    record = world.record(patient, "statement", "email")
    assert record.status == "delivered" and from_iso(record.delivered_at) == DAYTIME + timedelta(minutes=2)
    assert world.service.on_email_feedback({"eventType": "Delivery", "mail": {"messageId": "nope"}}) == (
        "unknown_message"
    )


# -- reminders, unsubscribe ---------------------------------------------------------------------------------------


def _at(invoice: InvoiceRecord, offset: int) -> datetime:
    return reminder_at(invoice.due_date, offset, NY)


def test_reminders_go_on_the_cadence_once_each_and_stop_when_paid(world):
    patient = world.patient(consent=True)
    invoice = world.invoice(patient, total=9900, due_in_days=10)
    world.issue(patient, invoice)
    assert world.emails(patient, "reminder") == []

    world.service.sweep(_at(invoice, -3) - timedelta(minutes=1))
    assert world.emails(patient, "reminder") == []  # not yet
    for done, offset in enumerate((-3, 7), start=1):
        world.clock.now = _at(invoice, offset)
        world.service.sweep(_at(invoice, offset))
        world.service.sweep(_at(invoice, offset) + timedelta(minutes=15))  # the next sweep sends nothing again
        assert len(world.emails(patient, "reminder")) == done
        assert len([t for t in world.texts(patient) if "reminder" in t["body"]]) == done
        assert {r.cause for r in world.records(patient, "reminder", "email")} == {
            f"reminder:{invoice.id}:{o}" for o in (-3, 7)[:done]
        }
    early, late = world.emails(patient, "reminder")
    assert " is due " in early["text"] and " was due " in late["text"]  # overdue after the due date
    assert early["unsubscribe_url"] and PAY_LINK.search(early["text"])

    world.paid(invoice)
    world.service.sweep(_at(invoice, 30))
    world.service.sweep(_at(invoice, 60))
    assert len(world.emails(patient, "reminder")) == 2
    assert len(world.records(patient, "reminder")) == 4  # 2 offsets × 2 channels, nothing after the payment
    assert world.store._table.get_item(Key=world.store.reminder_key(world.practice_id, invoice.id)).get("Item") is None


def test_unsubscribe_stops_reminder_emails_but_receipts_still_go(world):
    patient = world.patient()
    invoice = world.invoice(patient, due_in_days=10)
    world.issue(patient, invoice)
    world.service.sweep(_at(invoice, -3))
    [reminder] = world.emails(patient, "reminder")
    token = UNSUBSCRIBE.search(reminder["unsubscribe_url"]).group(1)
    assert UNSUBSCRIBE.search(reminder["text"]).group(1) == token
    assert world.service.unsubscribe_known(token) == ("Lakeview Pediatrics", "en")
    assert world.service.messaging(world.practice_id, patient.id).email_reminders is True  # asking changes nothing
    assert world.service.unsubscribe(token) == ("Lakeview Pediatrics", "en")
    assert world.service.unsubscribe("x" * 32) is None
    assert world.service.messaging(world.practice_id, patient.id).email_reminders is False

    world.service.sweep(_at(invoice, 7))
    later = [r for r in world.records(patient, "reminder", "email") if r.cause.endswith(":7")]
    assert [(r.status, r.status_reason) for r in later] == [("suppressed", "unsubscribed")]
    assert len(world.emails(patient, "reminder")) == 1
    assert world.payment(patient, invoice, "payment.succeeded")[0] == "sent"
    assert len(world.emails(patient, "receipt")) == 1


# -- quiet hours ---------------------------------------------------------------------------------------------------


def test_a_text_at_2230_patient_time_is_held_until_0800_and_sent_once(world):
    patient = world.patient(consent=True)
    world.clock.now = datetime(2026, 12, 1, 22, 30, tzinfo=NY)
    invoice = world.invoice(patient)
    _, outcomes = world.issue(patient, invoice)
    assert sorted(outcomes) == ["held", "sent"]  # email goes at any hour
    assert len(world.emails(patient)) == 1 and world.texts(patient) == []
    held = world.record(patient, "statement", "sms")
    eight = datetime(2026, 12, 2, 8, 0, tzinfo=NY)
    assert held.status == "held" and from_iso(held.send_at) == eight
    assert world.service.for_patient(world.practice_id, patient.id).data  # listed while held

    world.service.sweep(eight - timedelta(minutes=1))
    assert world.texts(patient) == []
    world.service.sweep(eight)
    [text] = world.texts(patient)
    assert PAY_LINK.search(text["body"]) and world.service.links.get(secret_hash(PAY_LINK.search(text["body"])[1]))
    world.service.sweep(eight + timedelta(minutes=15))
    assert len(world.texts(patient)) == 1
    sent = world.record(patient, "statement", "sms")
    assert sent.status == "sent" and sent.body_sealed is None and from_iso(sent.sent_at) == eight


def test_a_held_text_is_not_sent_if_the_patient_stops_meanwhile(world):
    patient = world.patient(consent=True)
    world.clock.now = datetime(2026, 12, 1, 23, 0, tzinfo=NY)
    world.issue(patient, world.invoice(patient))
    assert world.record(patient, "statement", "sms").status == "held"
    world.service.on_inbound_sms({"originationNumber": patient.phone, "messageBody": "STOP"})
    world.service.sweep(datetime(2026, 12, 2, 8, 0, tzinfo=NY))
    record = world.record(patient, "statement", "sms")
    assert (record.status, record.status_reason) == ("suppressed", "stopped")
    assert [t["body"] for t in world.texts(patient) if "Lakeview" in t["body"]] == []


# -- autopay, failures, receipts, returns -------------------------------------------------------------------------


def test_an_autopay_notice_names_the_card(world):
    patient = world.patient(consent=True)
    invoice = world.invoice(patient, total=30000)
    method = world.card(patient, brand="mastercard", last4="4444")
    plan = world.plan(invoice, method)
    detail = world.detail(
        patient,
        installment_id=f"{plan.id}.1",
        plan_id=plan.id,
        seq=1,
        invoice_id=invoice.id,
        amount=10000,
        due_on="2026-12-04",
        status="scheduled",
        attempts=0,
        charge_on="2026-12-04",
    )
    assert world.service.on_event("installment.upcoming", detail) == ["sent", "sent"]
    [email] = world.emails(patient, "autopay_notice")
    assert "Mastercard ending in 4444" in email["text"] and "$100.00" in email["text"]
    assert "December 4, 2026" in email["text"] and "312-555-0100" in email["text"]  # how to change or cancel
    assert PAY_LINK.search(email["text"]) is None  # a notice carries no link
    [text] = world.texts(patient)
    assert "Mastercard *4444" in text["body"] and "Dec 4" in text["body"]
    assert world.service.on_event("installment.upcoming", {**detail, "event_id": new_id("evt")}) == []


def test_an_installment_failure_and_its_payment_failure_send_one_notice(world):
    patient = world.patient(consent=True)
    invoice = world.invoice(patient, total=30000)
    payment_id = new_id("pay")
    installment = world.detail(
        patient,
        installment_id=f"pln_x.{uuid.uuid4().hex[:4]}",
        seq=1,
        invoice_id=invoice.id,
        amount=10000,
        due_on="2026-12-04",
        status="failed",
        attempts=1,
        payment_id=payment_id,
        failure_category="insufficient_funds",
        will_retry=True,
    )
    assert world.service.on_event("installment.failed", installment) == ["sent", "sent"]
    assert world.payment(
        patient, invoice, "payment.failed", payment_id=payment_id, amount=10000, channel="autopay",
        installment_id=installment["installment_id"], failure_category="insufficient_funds",
    ) == []  # fmt: skip
    [email] = world.emails(patient, "payment_failed")
    assert "$100.00" in email["text"] and PAY_LINK.search(email["text"])
    assert len([t for t in world.texts(patient) if "failed" in t["body"]]) == 1
    # a staff payment that failed is not an autopay: no notice
    assert world.payment(patient, invoice, "payment.failed", channel="staff", failure_category="declined") == []


def test_a_payment_sends_a_receipt_and_a_return_sends_its_notice(world):
    patient = world.patient(consent=True)
    invoice = world.invoice(patient)
    payment_id = new_id("pay")
    assert world.payment(patient, invoice, "payment.succeeded", payment_id=payment_id, amount=4550) == ["sent"] * 2
    [receipt] = world.emails(patient, "receipt")
    assert "$45.50" in receipt["text"] and "December 1, 2026" in receipt["text"]
    assert PAY_LINK.search(receipt["text"]) is None and receipt["unsubscribe_url"] is None
    assert world.payment(
        patient, invoice, "payment.returned", payment_id=payment_id, amount=4550, return_code="R01",
        return_category="insufficient_funds",
    ) == ["sent", "sent"]  # fmt: skip
    [returned] = world.emails(patient, "payment_returned")
    assert "$45.50" in returned["text"] and PAY_LINK.search(returned["text"])
    assert len(world.texts(patient)) == 2


def test_message_events_are_written_without_any_address(world):
    patient = world.patient(consent=True)
    invoice = world.invoice(patient)
    detail, _ = world.issue(patient, invoice)
    events = [(t, d) for t, d in world.events() if t.startswith("message.")]
    assert sorted(d["channel"] for _, d in events) == ["email", "sms"]
    for detail_type, event in events:
        validate_detail(detail_type, event)
        assert event["cause_event_id"] == detail["event_id"] and event["invoice_id"] == invoice.id
        raw = json.dumps(event).lower()
        for address in (patient.email, patient.phone, patient.phone[-10:], patient.email.split("@")[0]):
            assert address.lower() not in raw
        assert "/pay/" not in raw


# -- minimum necessary: a PHI scan of everything sent and stored ---------------------------------------------------

PHI = {
    "first_name": "Quillonia",
    "last_name": "Zarathustrova",
    "date_of_birth": "1931-07-19",
    "line1": "4417 Wexbury Crescent",
    "city": "Ostrandervale",
    "local": "quill.zara.8812",
    "line": "Cryotherapy of verruca plantaris",
    "cpt": "0517T",
}


def test_no_phi_in_any_message_sent_or_stored(world, aws_env):
    email = f"{PHI['local']}.{uuid.uuid4().hex[:4]}@example.org"
    patient = world.patient(
        consent=True,
        first_name=PHI["first_name"],
        last_name=PHI["last_name"],
        date_of_birth=PHI["date_of_birth"],
        email=email,
        address={"line1": PHI["line1"], "city": PHI["city"], "state": "IL", "postal_code": "60607"},
    )
    lines = [{"description": PHI["line"], "cpt_code": PHI["cpt"], "quantity": 1, "unit_amount": 21000, "amount": 21000}]
    invoice = world.invoice(patient, total=21000, lines=lines, due_in_days=10)
    method = world.card(patient)
    plan = world.plan(invoice, method)
    payment_id = new_id("pay")

    world.issue(patient, invoice)
    for offset in (-3, 7):
        world.service.sweep(_at(invoice, offset))
    world.service.on_event(
        "installment.upcoming",
        world.detail(patient, installment_id=f"{plan.id}.1", plan_id=plan.id, seq=1, invoice_id=invoice.id,
                     amount=7000, due_on="2026-12-20", status="scheduled", attempts=0, charge_on="2026-12-20"),
    )  # fmt: skip
    world.service.on_event(
        "installment.failed",
        world.detail(patient, installment_id=f"{plan.id}.1", plan_id=plan.id, seq=1, invoice_id=invoice.id,
                     amount=7000, due_on="2026-12-20", status="failed", attempts=1, payment_id=new_id("pay"),
                     failure_category="declined", will_retry=False),
    )  # fmt: skip
    world.payment(patient, invoice, "payment.succeeded", payment_id=payment_id)
    world.payment(patient, invoice, "payment.returned", payment_id=payment_id, return_code="R01")
    world.clock.now = datetime(2026, 12, 1, 23, 0, tzinfo=NY)  # a held text: its sealed body is stored
    world.payment(patient, invoice, "payment.succeeded")

    kinds = {m["kind"] for m in world.emails(patient)}
    assert kinds == {"statement", "reminder", "autopay_notice", "payment_failed", "receipt", "payment_returned"}
    assert len(world.texts(patient)) == 7  # statement, 2 reminders, notice, failure, receipt, return (1 held)
    captured = [m[part] for m in world.emails(patient) for part in ("subject", "text", "html", "sender_name")]
    captured += [t["body"] for t in world.texts(patient)]
    for words in captured:
        for name, value in PHI.items():
            assert value.lower() not in words.lower(), f"{name} in a message: {words}"
        assert email.lower() not in words.lower()

    table = boto3.resource("dynamodb").Table(aws_env["MESSAGES_TABLE"])
    items = table.scan()["Items"]  # the whole table: records, preferences, opt-outs, schedules, tokens
    mine = [i for i in items if world.practice_id in json.dumps(i, default=str)]
    assert len(mine) > 10
    dump = json.dumps(items, default=str).lower()
    for name, value in PHI.items():
        assert value.lower() not in dump, f"{name} in the messages table"
    for address in (email, patient.phone, patient.phone[-10:]):
        assert address.lower() not in dump, "a full address in the messages table"
    statuses = {(r.kind, r.channel): r.status for r in world.records(patient)}
    assert statuses[("statement", "sms")] == "sent"
    assert "held" in {r.status for r in world.records(patient, "receipt", "sms")}

    events = json.dumps(world.events(), default=str).lower()
    for name, value in PHI.items():
        assert value.lower() not in events, f"{name} in the events table"
    assert email.lower() not in events and patient.phone not in events


def test_a_practices_sms_switch_and_email_switch_suppress(aws_env):
    world = make_world(aws_env, messages_sms=False, messages_email=False)
    patient = world.patient()
    change = MessagingChange.model_validate({"sms_consent": CONSENT})
    assert world.service.change_messaging(world.practice_id, patient.id, change).sms == "off"
    _, outcomes = world.issue(patient, world.invoice(patient))
    assert outcomes == ["suppressed", "suppressed"]
    assert {r.status_reason for r in world.records(patient)} == {"channel_off"}
    assert world.emails(patient) == [] and world.texts(patient) == []


def test_a_patients_zone_overrides_the_practices(aws_env):
    world = make_world(aws_env, time_zone="America/New_York")
    patient = world.patient(consent=True)
    change = MessagingChange(time_zone="America/Los_Angeles")
    world.service.change_messaging(world.practice_id, patient.id, change)
    world.clock.now = datetime(2026, 12, 1, 22, 30, tzinfo=NY)  # 19:30 in Los Angeles
    _, outcomes = world.issue(patient, world.invoice(patient))
    assert sorted(outcomes) == ["sent", "sent"]
    assert world.clock.now.astimezone(UTC).hour == 3


def test_a_returned_payment_restarts_the_invoices_reminders_from_the_offsets_still_ahead(world):
    patient = world.patient(consent=True)
    invoice = world.invoice(patient, total=9900, due_in_days=10)
    world.issue(patient, invoice)
    world.paid(invoice)
    world.service.sweep(_at(invoice, -3))  # paid: the schedule ends without a reminder
    key = world.store.reminder_key(world.practice_id, invoice.id)
    assert world.store._table.get_item(Key=key).get("Item") is None

    world.clock.now = _at(invoice, 7) + timedelta(days=1)  # the bank returns the payment after the +7 moment
    current = world.service.invoices.get(world.practice_id, invoice.id)
    stamp = iso(world.clock())
    reopened = replace(current, status="open", amount_paid=0, version=current.version + 1, updated_at=stamp)
    world.service.invoices.replace(reopened, current.version)
    world.payment(patient, invoice, "payment.returned", amount=9900, return_code="R01")
    assert world.store._table.get_item(Key=key)["Item"]["send_at"] == iso(_at(invoice, 30))  # +30 next, not -3 or +7
    world.service.sweep(_at(invoice, 30))
    assert {r.cause for r in world.records(patient, "reminder", "email")} == {f"reminder:{invoice.id}:30"}


def test_the_unsubscribe_page_asks_in_the_patients_language_then_unsubscribes(world):
    from local.front import LambdaContext, load_handler
    from practicepay.messages.models import MessagingChange

    patient = world.patient()
    world.service.change_messaging(world.practice_id, patient.id, MessagingChange(language="es"))
    invoice = world.invoice(patient, due_in_days=10)
    world.issue(patient, invoice)
    world.service.sweep(_at(invoice, -3))
    [reminder] = world.emails(patient, "reminder")
    token = UNSUBSCRIBE.search(reminder["unsubscribe_url"]).group(1)
    handler = load_handler("messaging").lambda_handler

    def page(method: str, key: str) -> dict:
        event = {"resource": "/unsubscribe/{token}", "httpMethod": method, "pathParameters": {"token": key}}
        return handler(event, LambdaContext("messaging"))

    asked = page("GET", token)
    assert asked["statusCode"] == 200 and 'lang="es"' in asked["body"] and "<form" in asked["body"]
    assert world.service.messaging(world.practice_id, patient.id).email_reminders is True
    done = page("POST", token)
    assert done["statusCode"] == 200 and "Ya no recibirá recordatorios" in done["body"]
    assert world.service.messaging(world.practice_id, patient.id).email_reminders is False
    assert page("GET", "y" * 32)["statusCode"] == 404
