"""The "Today" screen's service over the moto server (practicepay.staff.attention): each kind of record is written
through its own store (as the code that makes it writes it), for one practice and, as noise, for another; Today
finds every kind of the practice and none of the other's, counts the day's payments by channel in the practice's
time zone, lists the deposit on its way, and reads with Query, GetItem and BatchGetItem only (never a Scan)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from practicepay.adapters.dynamo import Transaction
from practicepay.billing.models import InstallmentRecord
from practicepay.billing.store import ScheduleStore
from practicepay.cards.models import expiring_sk
from practicepay.clock import iso
from practicepay.deposits.models import DepositRecord
from practicepay.deposits.store import DepositStore
from practicepay.disputes.models import DisputeRecord
from practicepay.disputes.store import DisputeStore
from practicepay.events import EventLog
from practicepay.ids import new_id
from practicepay.messages.models import MessageRecord, Status
from practicepay.messages.store import MessageStore
from practicepay.patients.store import MethodRecord, PatientStore
from practicepay.paylinks.models import PayLinkRecord
from practicepay.paylinks.service import link_event
from practicepay.paylinks.store import PayLinkStore
from practicepay.payments.models import PaymentRecord
from practicepay.payments.store import PaymentStore
from practicepay.practices.models import Practice, PracticeSettings
from practicepay.practices.store import PracticeStore
from practicepay.reports.service import ReportService
from practicepay.staff.attention import TodayService
from practicepay.staff.queue import Kind, local_day

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
ZONE = "Pacific/Honolulu"  # UTC−10 all year: "today" there is not the UTC day for ten hours of it


class World:
    """One practice's records, written through the stores, with a client that records every DynamoDB call."""

    written: list[PaymentRecord]
    """Payments made without their invoices: removed after the test, or the session's status poll (which reads the
    open ones of every practice) would find an unknown payment whose invoice does not exist."""

    def __init__(self, env: dict[str, str], calls: list[str]) -> None:
        self.written = []
        self.env = env
        self.resource = boto3.resource("dynamodb")
        self.resource.meta.client.meta.events.register(
            "before-call.dynamodb.*", lambda model, **_: calls.append(model.name)
        )
        self.payments = PaymentStore(env["PAYMENTS_TABLE"], self.resource)
        self.schedules = ScheduleStore(env["SCHEDULES_TABLE"], self.resource)
        self.patients = PatientStore(env["PATIENTS_TABLE"], self.resource)
        self.disputes = DisputeStore(env["FUNDS_TABLE"], self.resource)
        self.deposits = DepositStore(env["FUNDS_TABLE"], self.resource)
        self.messages = MessageStore(env["MESSAGES_TABLE"], self.resource)
        self.links = PayLinkStore(env["PAY_LINKS_TABLE"], self.resource)
        self.practices = PracticeStore(env["PRACTICES_TABLE"])

    def service(self) -> TodayService:
        return TodayService(
            practices=self.practices,
            payments=self.payments,
            schedules=self.schedules,
            patients=self.patients,
            disputes=self.disputes,
            messages=self.messages,
            links=self.links,
            events=EventLog(self.env["EVENTS_TABLE"], self.resource),
            reports=ReportService(
                resource=self.resource,
                client=self.resource.meta.client,
                payments_table=self.env["PAYMENTS_TABLE"],
                patients_table=self.env["PATIENTS_TABLE"],
                invoices_table=self.env["INVOICES_TABLE"],
                funds_table=self.env["FUNDS_TABLE"],
                practices_table=self.env["PRACTICES_TABLE"],
                clock=lambda: NOW,
            ),
            clock=lambda: NOW,
        )

    def practice(self) -> str:
        practice_id = f"prc_today_{uuid.uuid4().hex[:8]}"
        self.practices.put(
            Practice(
                practice_id=practice_id,
                name="Harbor Family Medicine",
                settings=PracticeSettings(time_zone=ZONE),
                updated_at=iso(NOW),
            )
        )
        return practice_id

    def payment(self, practice_id: str, at: datetime, channel: str, status: str = "succeeded", amount: int = 1000):
        rec = PaymentRecord(
            practice_id=practice_id,
            id=new_id("pay", int(at.timestamp() * 1000)),
            invoice_id=new_id("inv"),
            patient_id="pat_pay",
            payment_method_id="pm_x",
            method_kind="card",
            amount=amount,
            status=status,
            created_at=iso(at),
            updated_at=iso(at),
            channel=channel,
        )
        tx = Transaction()
        self.payments.put_payment(tx, rec, None)
        tx.commit()
        self.written.append(rec)
        return rec

    def installment(self, practice_id: str, status: str, seq: int, **kw: Any) -> InstallmentRecord:
        rec = InstallmentRecord(
            practice_id=practice_id,
            owner_id="pln_today",
            seq=seq,
            invoice_id="inv_plan",
            patient_id="pat_plan",
            amount=2500,
            due_on=(NOW - timedelta(days=3)).date().isoformat(),
            status=status,
            policy={},
            created_at=iso(NOW),
            updated_at=iso(NOW),
            **kw,
        )
        self.resource.Table(self.env["SCHEDULES_TABLE"]).put_item(Item=self.schedules.installment_item(rec))
        return rec

    def method(self, practice_id: str, method_id: str, kind: str, **kw: Any) -> MethodRecord:
        rec = MethodRecord(
            practice_id=practice_id,
            id=method_id,
            patient_id=f"pat_{method_id}",
            kind=kind,
            last4="6789",
            token_sealed="sealed",
            splash_token_id=f"tok_{method_id}",
            consent={},
            created_at=iso(NOW),
            **kw,
        )
        self.patients.put_method(rec)
        return rec

    def dispute(self, practice_id: str) -> DisputeRecord:
        rec = DisputeRecord(
            practice_id=practice_id,
            id=new_id("dsp"),
            splash_chargeback_id="cb_today",
            payment_id="pay_disputed",
            invoice_id="inv_dsp",
            patient_id="pat_dsp",
            splash_txn_id="txn_dsp",
            amount=9000,
            status="needs_response",
            splash_status="open",
            created_at=iso(NOW),
            updated_at=iso(NOW),
            reply_by=(NOW + timedelta(days=6)).date().isoformat(),
            reason_code="10.4",
        )
        tx = Transaction()
        self.disputes.put(tx, rec, None)
        tx.commit()
        return rec

    def stopped_text(self, practice_id: str) -> None:
        """A text suppressed because the patient's number texted STOP (what MessageService._settle writes)."""
        queued = MessageRecord(
            practice_id=practice_id,
            id=new_id("msg"),
            cause="invoice.issued:inv_msg",
            kind="statement",
            channel="sms",
            patient_id="pat_msg",
            status=Status.QUEUED.value,
            language="en",
            created_at=iso(NOW),
            updated_at=iso(NOW),
            claimed_at=iso(NOW),
            invoice_id="inv_msg",
        )
        assert self.messages.claim(queued, NOW)
        self.messages.settle(queued.moved(Status.SUPPRESSED, NOW, status_reason="stopped"))

    def locked_link(self, practice_id: str) -> PayLinkRecord:
        """A pay link locked by its fifth wrong identity answer, with its event (as the pay page locks it)."""
        link, _ = PayLinkRecord.new(practice_id, "pat_link", "inv_link", NOW, days=7, max_uses=1)
        events = self.env["EVENTS_TABLE"]
        self.links.create(link, events, link_event(link, "pay_link.created", NOW))
        locked = link.after_failure(5, NOW)
        event = link_event(locked, "pay_link.locked", NOW, locked_until=locked.locked_until, identity_failures=5)
        self.links.apply_failure(locked, events, event)
        return locked

    def pending_deposit(self, practice_id: str) -> DepositRecord:
        rec = DepositRecord(
            practice_id=practice_id,
            id=new_id("dep"),
            splash_disbursement_id="disb_today",
            status="processing",
            amount=4321,
            created_at=iso(NOW),
            updated_at=iso(NOW),
            deposited_on=(NOW - timedelta(days=1)).date().isoformat(),
        )
        assert self.deposits.put(rec, None, self.env["EVENTS_TABLE"], [])
        return rec

    def everything(self, practice_id: str) -> dict[str, Any]:
        """One record of every kind, plus the day's payments (one just before the local day began)."""
        _, start, _ = local_day(NOW, ZONE)
        for channel, amount in (("desk", 1500), ("pay_page", 700), ("autopay", 2500), ("api", 300)):
            self.payment(practice_id, start + timedelta(seconds=1), channel, amount=amount)
        self.payment(practice_id, start - timedelta(seconds=1), "desk", amount=99_999)  # yesterday, locally
        unknown = self.payment(practice_id, NOW - timedelta(minutes=5), "pay_page", status="unknown", amount=4200)
        retry_on = (NOW + timedelta(days=2)).date().isoformat()
        self.installment(practice_id, "failed", 1, attempts=1, next_attempt_on=retry_on, failure={"code": "nsf"})
        self.installment(practice_id, "past_due", 2)
        self.installment(practice_id, "paid", 3)
        self.method(practice_id, "pm_bank", "bank_account", status="blocked", blocked_reason="R02")
        self.method(practice_id, "pm_fine", "bank_account")
        card = self.method(practice_id, "pm_card", "card", brand="visa", exp_month=NOW.month, exp_year=NOW.year)
        charge_on = (NOW + timedelta(days=40)).date().isoformat()
        marker = {"payment_method_id": card.id, "next_charge_on": charge_on, "flagged_at": iso(NOW)}
        sk = expiring_sk(card.id, NOW.month, NOW.year)
        assert self.patients.record_once(practice_id, sk, marker, events_table=self.env["EVENTS_TABLE"])
        self.stopped_text(practice_id)
        return {
            "unknown": unknown,
            "retry_on": retry_on,
            "dispute": self.dispute(practice_id),
            "link": self.locked_link(practice_id),
            "deposit": self.pending_deposit(practice_id),
        }


@pytest.fixture
def calls() -> list[str]:
    return []


@pytest.fixture
def world(aws_env, calls) -> Iterator[World]:
    made = World(aws_env, calls)
    yield made
    table = made.resource.Table(aws_env["PAYMENTS_TABLE"])
    for rec in made.written:
        table.delete_item(Key={"pk": f"PRACTICE#{rec.practice_id}", "sk": f"PAYMENT#{rec.id}"})


def test_today_finds_every_kind_of_the_practice_and_none_of_anothers(world: World, calls: list[str]):
    practice_id, other = world.practice(), world.practice()
    made = world.everything(practice_id)
    world.everything(other)
    calls.clear()

    today = world.service().today(practice_id)

    by_kind = {item.kind: item for item in today.attention}
    assert sorted(by_kind) == sorted(Kind)
    assert len(today.attention) == len(Kind)  # one each: the paid installment, the good account: none
    assert {i.patient_id for i in today.attention} >= {"pat_plan", "pat_pm_bank", "pat_pm_card", "pat_msg"}
    assert today.attention[0].kind is Kind.UNKNOWN_OUTCOME and today.attention[0].amount == 4200
    failed = by_kind[Kind.FAILED_AUTOPAY]
    assert failed.due is not None and failed.due.isoformat() == made["retry_on"] and failed.title == "Autopay failed"
    assert by_kind[Kind.DISPUTE].link == f"/dashboard/disputes/{made['dispute'].id}"
    assert by_kind[Kind.DISPUTE].due.isoformat() == made["dispute"].reply_by
    assert by_kind[Kind.LOCKED_PAY_LINK].detail.startswith(f"Link {made['link'].id}:")
    assert by_kind[Kind.BLOCKED_BANK_ACCOUNT].link == "/dashboard/patients/pat_pm_bank"
    assert by_kind[Kind.UNDELIVERABLE].title == "Patient texted STOP"
    assert today.capped == ()

    totals = {c.channel: (c.count, c.amount) for c in today.payments.channels}
    assert totals == {"desk": (1, 1500), "pay_page": (1, 700), "autopay": (1, 2500), "api": (1, 300)}
    assert today.payments.day == local_day(NOW, ZONE)[0]
    assert [d.id for d in today.deposits.pending] == [made["deposit"].id] and today.deposits.pending_amount == 4321

    assert calls and set(calls) <= {"Query", "GetItem", "BatchGetItem"}, sorted(set(calls))


def test_a_card_updated_since_it_was_flagged_and_an_ended_lock_leave_the_queue(world: World):
    practice_id = world.practice()
    made = world.everything(practice_id)
    card = world.patients.methods(practice_id, "pat_pm_card")[0]
    # the account updater's new expiry (what PatientStore.record_once writes with its marker)
    updated = replace(card, exp_year=card.exp_year + 3)
    assert world.patients.record_once(
        practice_id, "CARDUPDATE#upd_today", {}, changes=[(card, updated)], events_table=world.env["EVENTS_TABLE"]
    )
    later = NOW + timedelta(minutes=20)  # the link's 15-minute lock is over
    service = replace(world.service(), clock=lambda: later)

    kinds = [item.kind for item in service.today(practice_id).attention]

    assert Kind.CARD_EXPIRING not in kinds and Kind.LOCKED_PAY_LINK not in kinds
    assert Kind.FAILED_AUTOPAY in kinds and made["link"].locked_until is not None
