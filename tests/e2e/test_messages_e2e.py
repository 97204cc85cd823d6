"""Patient messages over HTTP against `make run`'s stack (issue #18's "Done when"): an issued invoice sends one
statement by email and text with a working pay link; STOP stops texts and START resumes them; a bounce suppresses
email; a text caused at 22:xx patient time is held to 08:00 and goes once when the local clock gets there;
reminders go on the practice's cadence and stop when paid; an autopay plan's notice names the card, a declined
autopay charge sends one failed-payment notice and a payment its receipt.

The local clock is the stack's `POST /_local/messages-run {"now": ...}`; the hour a patient is in is chosen by
giving them a fixed-offset time zone (Etc/GMT±N) where it is that hour now, so the tests hold at any time of day."""

from __future__ import annotations

import re
import time as clock
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from tests.e2e.conftest import environment, up
from tests.e2e.test_pay_page_browser import Staff

pytestmark = pytest.mark.e2e

PRACTICE = "Demo Family Practice"
PAY_LINK = re.compile(r"http://127\.0\.0\.1:\d+/pay/[A-Za-z0-9_-]{32}")
CONSENT = {
    "text_version": "sms-billing-2026-01",
    "accepted_at": "2026-11-26T10:00:00Z",
    "captured_by": "front-desk-e2e",
    "channel": "in_person",
}
CARD_CONSENT = {
    "text_version": "2026-01",
    "accepted_at": "2026-11-26T10:00:00Z",
    "captured_by": "front-desk",
    "channel": "in_person",
}
CADENCE = [-3, 7, 30]
"""The practice's reminder days in this module (set before any message; the default is -3, 7, 30, 60)."""
DAYTIME = 14
"""The patient's local hour for every test but the quiet-hours one: far from 21:00 and 08:00."""


# -- the patient, their bill, their outbox ----------------------------------------------------------------------


def zone_at(hour: int) -> ZoneInfo:
    """A fixed-offset IANA zone where the local hour is `hour` now (Etc/GMT-N is UTC+N)."""
    offset = (hour - datetime.now(UTC).hour) % 24
    if offset > 14:
        offset -= 24
    return ZoneInfo("Etc/GMT" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}")


@dataclass
class Patient:
    id: str
    email: str
    phone: str
    zone: ZoneInfo


@dataclass
class Box:
    emails: list[dict[str, Any]]
    texts: list[dict[str, Any]]

    def subjects(self) -> list[str]:
        return [e["subject"] for e in self.emails]


def new_patient(staff: Staff, *, hour: int = DAYTIME, consent: bool = True) -> Patient:
    tag = uuid.uuid4().hex[:10]
    email = f"pat-{tag}@example.com"
    phone = "+1312555" + str(int(tag, 16) % 10_000).zfill(4)
    made = staff.call(
        "POST",
        "/patients",
        {
            "external_id": "ehr-" + tag,
            "first_name": "Rosa",
            "last_name": "Quintero",
            "date_of_birth": "1984-03-09",
            "email": email,
            "phone": phone,
        },
        ok=201,
    )
    zone = zone_at(hour)
    change: dict[str, Any] = {"time_zone": zone.key}
    if consent:
        change["sms_consent"] = CONSENT
    staff.call("POST", f"/patients/{made['id']}/messaging", change, ok=200)
    return Patient(made["id"], email, phone, zone)


def issue(staff: Staff, patient: Patient, amount: int = 12000, due: date | None = None) -> str:
    due = due or datetime.now(UTC).date() + timedelta(days=30)
    invoice = staff.call(
        "POST",
        "/invoices",
        {
            "patient_id": patient.id,
            "due_date": due.isoformat(),
            "line_items": [
                {"description": "Office visit, established patient", "cpt_code": "99213", "unit_amount": amount}
            ],
        },
        ok=201,
    )["id"]
    staff.call("POST", f"/invoices/{invoice}/issue", ok=200)
    return invoice


def add_card(staff: Staff, patient: Patient, number: str = "4242424242424242") -> str:
    body = {"card": {"number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123"}, "consent": CARD_CONSENT}
    return staff.call("POST", f"/patients/{patient.id}/payment-methods", body, ok=201)["id"]


def pay(staff: Staff, invoice: str, method: str, amount: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"payment_method_id": method, **({"amount": amount} if amount else {})}
    paid = staff.call("POST", f"/invoices/{invoice}/payments", body, ok=201)
    assert paid["status"] == "succeeded", paid
    return paid


def box(staff: Staff, patient: Patient) -> Box:
    found = requests.get(staff.base + "/_local/messages", timeout=10).json()
    return Box(
        [e for e in found["emails"] if patient.email in e["to"]],
        [t for t in found["texts"] if t["to"] == patient.phone],
    )


def records(staff: Staff, patient: Patient) -> list[dict[str, Any]]:
    return staff.call("GET", f"/patients/{patient.id}/messages")["data"]


def record(staff: Staff, patient: Patient, kind: str, channel: str) -> list[dict[str, Any]]:
    return [m for m in records(staff, patient) if m["kind"] == kind and m["channel"] == channel]


def settled(staff: Staff, patient: Patient, kind: str, channel: str, status: str, count: int = 1) -> list[dict]:
    """Wait for `count` messages of that kind and channel, all in `status`."""

    def check() -> list[dict] | None:
        found = record(staff, patient, kind, channel)
        return found if len(found) == count and all(m["status"] == status for m in found) else None

    return wait_until(check, f"{count} {kind} {channel} {status}: {record(staff, patient, kind, channel)}")


def statement_sent(staff: Staff, patient: Patient) -> Box:
    return box_when(staff, patient, lambda b: len(b.emails) == 1 and len(b.texts) == 1, "the statement sent")


def box_when(staff: Staff, patient: Patient, check: Any, what: str) -> Box:
    """The patient's outbox once `check(box)` holds."""

    def ready() -> Box | None:
        found = box(staff, patient)
        return found if check(found) else None

    return wait_until(ready, f"{what}: {box(staff, patient)}")


def sweep(staff: Staff, now: datetime) -> dict[str, Any]:
    resp = requests.post(staff.base + "/_local/messages-run", json={"now": now.isoformat()}, timeout=60)
    assert resp.status_code == 200, resp.text
    return resp.json()


def billing_run(staff: Staff, run_date: date) -> dict[str, Any]:
    resp = requests.post(staff.base + "/_local/billing-run", json={"run_date": run_date.isoformat()}, timeout=60)
    assert resp.status_code == 200, resp.text
    return resp.json()


def inbound(staff: Staff, patient: Patient, body: str) -> Any:
    resp = requests.post(staff.base + "/_local/sms-inbound", json={"from": patient.phone, "body": body}, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()


def practice_settings(staff: Staff) -> dict[str, Any]:
    return staff.call("GET", "/practices/prc_demo", ok=200)["settings"]


STDERR: dict[str, list[str]] = {"lines": []}
"""The stack's stderr, shown when a wait times out (a function's traceback says why a message never settled)."""


def wait_until(check: Any, what: str, timeout: float = 30) -> Any:
    deadline = clock.monotonic() + timeout
    while clock.monotonic() < deadline:
        value = check()
        if value:
            return value
        clock.sleep(0.5)
    tail = "".join(STDERR["lines"])[-4000:]
    pytest.fail(f"timed out waiting for {what}\n-- the stack's stderr, last lines --\n{tail}")


@pytest.fixture(scope="module")
def staff(stack) -> Staff:
    STDERR["lines"] = stack.err
    staff = Staff(stack)
    # Before any message: the messages function caches a practice for up to 60 s (PracticeStore.cache_seconds)
    staff.call(
        "PATCH", "/practices/prc_demo/settings", {"contact_phone": "3125550100", "reminder_days": CADENCE}, ok=200
    )
    return staff


# -- 1. the statement -------------------------------------------------------------------------------------------


def test_an_issued_invoice_sends_one_statement_by_email_and_text_with_a_working_pay_link(staff):
    patient = new_patient(staff)
    invoice = issue(staff, patient)
    sent = statement_sent(staff, patient)

    email, text = sent.emails[0], sent.texts[0]
    assert email["subject"] == f"Your statement from {PRACTICE}"
    assert PRACTICE in email["from"] and email["list_unsubscribe"] is None  # a statement is transactional
    assert "$120.00" in email["text"] and "$120.00" in email["html"] and "$120.00" in text["body"]
    links = {m.group(0) for m in PAY_LINK.finditer(email["text"] + email["html"] + text["body"])}
    assert len(links) == 2, links  # one link per message (each channel gets its own)
    assert len(text["body"]) <= 160, text["body"]
    for shown in (email["text"], email["html"], text["body"], email["subject"]):  # minimum necessary
        assert "Office visit" not in shown and "99213" not in shown and "1984" not in shown and "Rosa" not in shown

    # the records: both sent, on the patient and on the invoice
    by_patient = settled(staff, patient, "statement", "email", "sent") + settled(
        staff, patient, "statement", "sms", "sent"
    )
    on_invoice = staff.call("GET", f"/invoices/{invoice}/messages")["data"]
    assert sorted(m["id"] for m in on_invoice) == sorted(m["id"] for m in by_patient)
    assert all(m["status"] == "sent" and m["sent_at"] and m["invoice_id"] == invoice for m in on_invoice)
    assert all(patient.email not in str(m) and patient.phone not in str(m) for m in on_invoice)  # hints only

    # the link works: the pay page asks for the date of birth
    page = requests.get(next(iter(links)), timeout=20)
    assert page.status_code == 200 and PRACTICE in page.text and "$120.00" not in page.text

    # once, whatever comes again: issuing again is refused, sweeps find nothing to send
    again = requests.post(f"{staff.base}/invoices/{invoice}/issue", headers=staff.headers, timeout=20)
    assert again.status_code == 409, again.text
    sweep(staff, datetime.now(UTC))
    events = staff.events("invoice.issued")
    assert len([e for e in events if e["detail"].get("invoice_id") == invoice]) == 1
    later = box(staff, patient)
    assert (len(later.emails), len(later.texts)) == (1, 1)
    assert len(records(staff, patient)) == 2


# -- 4. STOP and START ------------------------------------------------------------------------------------------


def test_stop_stops_texts_and_start_resumes_them(staff):
    patient = new_patient(staff)
    invoice = issue(staff, patient, 20000)
    statement_sent(staff, patient)
    method = add_card(staff, patient)

    inbound(staff, patient, "STOP")
    reply = wait_until(lambda: box(staff, patient).texts[1:], "the STOP reply")
    assert [t["body"] for t in reply] == ["You will not get more texts from this number. Reply START to opt back in."]
    assert staff.call("GET", f"/patients/{patient.id}/messaging")["sms"] == "stopped"

    pay(staff, invoice, method, 5000)  # its receipt: by email, not by text
    wait_until(lambda: len(box(staff, patient).emails) == 2, "the receipt email")
    assert settled(staff, patient, "receipt", "email", "sent")
    text = settled(staff, patient, "receipt", "sms", "suppressed")[0]
    assert text["status_reason"], text
    assert len(box(staff, patient).texts) == 2  # the statement and the STOP reply, nothing since

    inbound(staff, patient, "start")
    wait_until(lambda: len(box(staff, patient).texts) == 3, "the START reply")
    assert box(staff, patient).texts[2]["body"].startswith("You will get billing texts again.")
    assert staff.call("GET", f"/patients/{patient.id}/messaging")["sms"] == "active"

    pay(staff, invoice, method, 5000)
    got = box_when(staff, patient, lambda b: len(b.texts) == 4, "the second receipt's text")
    assert got.texts[3]["body"].startswith(f"{PRACTICE}: we received your payment of $50.00")
    assert [m["status"] for m in record(staff, patient, "receipt", "sms")].count("sent") == 1


def test_staff_record_a_stop_and_texts_end_until_new_consent(staff):
    patient = new_patient(staff)
    staff.call("POST", f"/patients/{patient.id}/messaging", {"sms": "stop"}, ok=200)
    assert staff.call("GET", f"/patients/{patient.id}/messaging")["sms"] == "stopped"
    issue(staff, patient)
    settled(staff, patient, "statement", "email", "sent")
    assert settled(staff, patient, "statement", "sms", "suppressed")[0]["status_reason"] == "stopped"
    assert box(staff, patient).texts == []


# -- 5. a bounce ------------------------------------------------------------------------------------------------


def test_a_bounce_suppresses_the_address(staff):
    patient = new_patient(staff)
    invoice = issue(staff, patient, 15000)
    statement_sent(staff, patient)
    resp = requests.post(
        staff.base + "/_local/email-feedback", json={"type": "Bounce", "to": patient.email}, timeout=30
    )
    assert resp.status_code == 200, resp.text
    settled(staff, patient, "statement", "email", "bounced")
    assert staff.call("GET", f"/patients/{patient.id}/messaging")["email"] == "suppressed"

    pay(staff, invoice, add_card(staff, patient))  # the receipt: by text only
    settled(staff, patient, "receipt", "sms", "sent")
    assert settled(staff, patient, "receipt", "email", "suppressed")[0]["status_reason"]
    wait_until(lambda: len(box(staff, patient).texts) == 2, "the receipt text")
    assert len(box(staff, patient).emails) == 1


def test_a_delivery_notice_marks_the_email_delivered(staff):
    patient = new_patient(staff)
    issue(staff, patient)
    statement_sent(staff, patient)
    resp = requests.post(
        staff.base + "/_local/email-feedback", json={"type": "Delivery", "to": patient.email}, timeout=30
    )
    assert resp.status_code == 200, resp.text
    delivered = settled(staff, patient, "statement", "email", "delivered")[0]
    assert delivered["delivered_at"]


# -- 3. quiet hours ---------------------------------------------------------------------------------------------


def _held_then_sent(staff: Staff, patient: Patient, expected_at: datetime) -> None:
    """The statement's text is held to `expected_at` (the email went), and goes once when the clock gets there."""
    settled(staff, patient, "statement", "email", "sent")
    held = settled(staff, patient, "statement", "sms", "held")[0]
    send_at = datetime.fromisoformat(held["send_at"].replace("Z", "+00:00"))
    assert send_at == expected_at, (held["send_at"], expected_at.isoformat())
    assert box(staff, patient).texts == [] and len(box(staff, patient).emails) == 1

    sweep(staff, send_at - timedelta(minutes=1))
    assert box(staff, patient).texts == []
    assert record(staff, patient, "statement", "sms")[0]["status"] == "held"

    sweep(staff, send_at)
    texts = wait_until(lambda: box(staff, patient).texts, "the held text")
    assert len(texts) == 1 and PAY_LINK.search(texts[0]["body"]), texts
    sent = settled(staff, patient, "statement", "sms", "sent")[0]
    assert datetime.fromisoformat(sent["sent_at"].replace("Z", "+00:00")) == send_at  # as of the local clock
    sweep(staff, send_at + timedelta(minutes=5))  # a later tick: nothing more
    assert len(box(staff, patient).texts) == 1


def test_a_text_caused_at_22_patient_time_goes_at_08_the_next_morning(staff):
    patient = new_patient(staff, hour=22)
    settings = practice_settings(staff)  # the practice's quiet hours: the defaults, 21:00 to 08:00
    assert (settings["quiet_start_hour"], settings["quiet_end_hour"]) == (21, 8)
    issue(staff, patient)
    tomorrow = datetime.now(patient.zone).date() + timedelta(days=1)
    _held_then_sent(staff, patient, datetime.combine(tomorrow, time(8, 0), tzinfo=patient.zone))


def test_the_practices_quiet_hours_hold_a_text_to_their_end(tmp_path):
    """Quiet hours from the practice's settings, in the practice's zone (the patient has none of their own). A stack
    of its own: the practice's quiet hours are set before its messages function first reads the practice."""
    running = up(environment(tmp_path / "local"))
    try:
        STDERR["lines"] = running.err
        staff = Staff(running)
        zone = ZoneInfo(practice_settings(staff)["time_zone"])
        hour = datetime.now(zone).hour
        end = (hour + 2) % 24
        staff.call("PATCH", "/practices/prc_demo/settings", {"quiet_start_hour": hour, "quiet_end_hour": end}, ok=200)
        tag = uuid.uuid4().hex[:10]
        email, phone = f"quiet-{tag}@example.com", "+1773555" + str(int(tag, 16) % 10_000).zfill(4)
        demographics = {"first_name": "Ines", "last_name": "Quiet", "date_of_birth": "1990-01-02"}
        made = staff.call(
            "POST", "/patients", {"external_id": "ehr-" + tag, **demographics, "email": email, "phone": phone}, ok=201
        )
        staff.call("POST", f"/patients/{made['id']}/messaging", {"sms_consent": CONSENT}, ok=200)
        patient = Patient(made["id"], email, phone, zone)
        issue(staff, patient)
        local = datetime.now(zone)
        day = local.date() if local.hour < end else local.date() + timedelta(days=1)
        _held_then_sent(staff, patient, datetime.combine(day, time(end, 0), tzinfo=zone))
    finally:
        running.kill()


# -- 2. reminders -----------------------------------------------------------------------------------------------


def test_reminders_go_on_the_practices_cadence_and_stop_when_paid(staff):
    assert practice_settings(staff)["reminder_days"] == CADENCE
    patient = new_patient(staff)
    due = datetime.now(UTC).date() + timedelta(days=10)
    invoice = issue(staff, patient, 9000, due)
    statement_sent(staff, patient)

    def at(offset: int) -> datetime:
        return datetime.combine(due + timedelta(days=offset), time(10, 0), tzinfo=patient.zone)

    sweep(staff, at(-3) - timedelta(minutes=1))  # not yet
    assert record(staff, patient, "reminder", "email") == []
    for n, offset in enumerate((-3, 7), start=1):
        sweep(staff, at(offset))
        sweep(staff, at(offset) + timedelta(minutes=1))  # a second tick: nothing more
        got = box(staff, patient)
        reminders = [e for e in got.emails if e["subject"].startswith("Reminder:")]
        assert [e["subject"] for e in reminders] == [f"Reminder: $90.00 due to {PRACTICE}"] * n
        assert reminders[-1]["list_unsubscribe"], "a reminder carries List-Unsubscribe"
        assert len([t for t in got.texts if ": reminder, $90.00" in t["body"]]) == n
        settled(staff, patient, "reminder", "email", "sent", count=n)
    overdue = [t["body"] for t in box(staff, patient).texts if ": reminder," in t["body"]][-1]
    assert "$90.00 was due" in overdue and PAY_LINK.search(overdue)

    pay(staff, invoice, add_card(staff, patient))
    wait_until(lambda: staff.call("GET", f"/invoices/{invoice}")["status"] == "paid", "the invoice paid")
    sweep(staff, at(30))
    assert len(record(staff, patient, "reminder", "email")) == 2
    assert len([e for e in box(staff, patient).emails if e["subject"].startswith("Reminder:")]) == 2


# -- 6. autopay -------------------------------------------------------------------------------------------------


def plan(staff: Staff, invoice: str, method: str, first: date, count: int, max_amount: int) -> dict[str, Any]:
    body = {
        "installment_count": count,
        "frequency": "monthly",
        "first_date": first.isoformat(),
        "payment_method_id": method,
        "consent": {"text_version": "plan-2026-01", "accepted_at": "2026-11-26T10:00:00Z", "max_amount": max_amount},
    }
    return staff.call("POST", f"/invoices/{invoice}/payment-plan", body, ok=201)


def test_an_autopay_plan_sends_its_notice_before_each_charge_naming_the_card(staff):
    notice_days = practice_settings(staff)["notice_days"]
    patient = new_patient(staff)
    invoice = issue(staff, patient, 30000)
    statement_sent(staff, patient)
    method = add_card(staff, patient)
    today = datetime.now(UTC).date()
    first = today + timedelta(days=notice_days + 2)
    plan(staff, invoice, method, first, 3, 10000)

    billing_run(staff, first - timedelta(days=notice_days + 1))  # a day early: no notice yet
    assert record(staff, patient, "autopay_notice", "email") == []
    billing_run(staff, first - timedelta(days=notice_days))
    settled(staff, patient, "autopay_notice", "email", "sent")
    settled(staff, patient, "autopay_notice", "sms", "sent")
    got = box(staff, patient)
    email = next(e for e in got.emails if e["subject"] == f"Upcoming automatic payment to {PRACTICE}")
    assert "Visa ending in 4242" in email["text"] and "$100.00" in email["text"], email["text"]
    assert "Visa ending in 4242" in email["html"]
    text = next(t["body"] for t in got.texts if "autopay charges" in t["body"])
    assert "Visa *4242" in text and "$100.00" in text and "call 312-555-0100" in text
    billing_run(staff, first - timedelta(days=notice_days))  # the same day again: no second notice
    assert len(record(staff, patient, "autopay_notice", "email")) == 1


def test_a_declined_autopay_charge_sends_one_failed_payment_notice(staff):
    patient = new_patient(staff)
    invoice = issue(staff, patient, 100008)  # two installments of $500.04: the sandbox's insufficient funds
    statement_sent(staff, patient)
    method = add_card(staff, patient)
    today = datetime.now(UTC).date()
    plan(staff, invoice, method, today, 2, 50004)
    billing_run(staff, today)
    failed = settled(staff, patient, "payment_failed", "email", "sent")
    assert failed[0]["invoice_id"] == invoice
    settled(staff, patient, "payment_failed", "sms", "sent")
    got = box(staff, patient)
    email = next(e for e in got.emails if "did not go through" in e["subject"])
    assert "$500.04" in email["text"] and PAY_LINK.search(email["text"])
    billing_run(staff, today)  # the same day again: the same failure is not told twice
    assert len(record(staff, patient, "payment_failed", "email")) == 1
    assert record(staff, patient, "receipt", "email") == []
