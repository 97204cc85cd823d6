"""The "Today" screen's rules (practicepay.staff.queue) and its service over fake stores (practicepay.staff.attention):
the practice's local day and its payment-id span, the totals by channel, each attention kind's rule, the cap, the
order (unknown outcomes first, then soonest due) and that no item carries a patient's name or address."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from practicepay.billing.models import InstallmentRecord
from practicepay.disputes.models import DisputeRecord
from practicepay.ids import new_id
from practicepay.messages.models import MessageRecord
from practicepay.patients.store import MethodRecord
from practicepay.paylinks.models import PayLinkRecord
from practicepay.payments.models import PaymentRecord
from practicepay.staff import queue
from practicepay.staff.attention import TodayService
from practicepay.staff.queue import CAP_PER_KIND, Kind

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # 10:00 in New York
TODAY = date(2026, 12, 2)
P = "prc_today"


def payment(status: str = "succeeded", channel: str = "api", amount: int = 1000, at: datetime = NOW, **kw: Any):
    stamp = at.isoformat().replace("+00:00", "Z")
    return PaymentRecord(
        practice_id=P,
        id=new_id("pay", int(at.timestamp() * 1000)),
        invoice_id="inv_1",
        patient_id="pat_1",
        payment_method_id="pm_1",
        method_kind="card",
        amount=amount,
        status=status,
        created_at=stamp,
        updated_at=stamp,
        channel=channel,
        **kw,
    )


def installment(status: str, seq: int = 1, **kw: Any) -> InstallmentRecord:
    base: dict[str, Any] = {
        "practice_id": P,
        "owner_id": "pln_1",
        "seq": seq,
        "invoice_id": "inv_plan",
        "patient_id": "pat_plan",
        "amount": 2500,
        "due_on": "2026-11-28",
        "status": status,
        "policy": {},
        "created_at": "2026-11-01T00:00:00.000Z",
        "updated_at": "2026-11-28T00:00:00.000Z",
    }
    return InstallmentRecord(**{**base, **kw})


def method(kind: str = "card", **kw: Any) -> MethodRecord:
    base: dict[str, Any] = {
        "practice_id": P,
        "id": "pm_card",
        "patient_id": "pat_card",
        "kind": kind,
        "last4": "4242",
        "token_sealed": "sealed",
        "splash_token_id": "tok",
        "consent": {},
        "created_at": "2026-01-01T00:00:00.000Z",
        "brand": "visa",
        "exp_month": 11,
        "exp_year": 2026,
    }
    return MethodRecord(**{**base, **kw})


def dispute(reply_by: str | None = "2026-12-10", n: int = 1) -> DisputeRecord:
    return DisputeRecord(
        practice_id=P,
        id=f"dsp_{n}",
        splash_chargeback_id=f"cb_{n}",
        payment_id="pay_1",
        invoice_id="inv_dsp",
        patient_id="pat_dsp",
        splash_txn_id="txn",
        amount=9000,
        status="needs_response",
        splash_status="open",
        created_at="2026-11-30T00:00:00.000Z",
        updated_at="2026-11-30T00:00:00.000Z",
        reply_by=reply_by,
        reason_code="10.4",
    )


def message(channel: str, status: str, reason: str | None = None, patient: str = "pat_msg", at: str = "2026-12-01"):
    return MessageRecord(
        practice_id=P,
        id=new_id("msg"),
        cause="invoice.issued:inv_1",
        kind="statement",
        channel=channel,
        patient_id=patient,
        status=status,
        language="en",
        created_at=f"{at}T09:00:00.000Z",
        updated_at=f"{at}T09:00:00.000Z",
        invoice_id="inv_msg",
        to_hint="v•••@example.com",
        status_reason=reason,
    )


def link(**kw: Any) -> PayLinkRecord:
    base: dict[str, Any] = {
        "practice_id": P,
        "id": "pl_1",
        "secret_hash": "h",
        "scope": "invoice",
        "patient_id": "pat_link",
        "invoice_id": "inv_link",
        "expires_at": "2026-12-20T00:00:00.000Z",
        "max_uses": 1,
        "created_at": "2026-12-01T00:00:00.000Z",
        "identity_failures": 5,
        "locked_until": (NOW + timedelta(minutes=10)).isoformat().replace("+00:00", "Z"),
    }
    return PayLinkRecord(**{**base, **kw})


# -- the day --------------------------------------------------------------------------------------------------


def test_the_day_is_the_practices_local_day():
    day, start, end = queue.local_day(datetime(2026, 12, 2, 3, 0, tzinfo=UTC), "America/New_York")
    assert day == date(2026, 12, 1)  # 22:00 the evening before in New York
    assert start == datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
    assert end == datetime(2026, 12, 2, 4, 59, 59, 999000, tzinfo=UTC)
    _, start, end = queue.local_day(datetime(2026, 3, 8, 12, 0, tzinfo=UTC), "America/New_York")
    assert end - start == timedelta(hours=23) - timedelta(milliseconds=1)  # clocks go forward that day


def test_the_payment_id_span_holds_the_days_payments_only():
    _, start, end = queue.local_day(NOW, "America/New_York")
    low, high = queue.payment_id_span(start, end)
    inside = [payment(at=start), payment(at=end), payment(at=NOW)]
    outside = [payment(at=start - timedelta(milliseconds=1)), payment(at=end + timedelta(milliseconds=1))]
    assert all(low <= p.id <= high for p in inside)
    assert not any(low <= p.id <= high for p in outside)


def test_payments_taken_are_counted_by_channel():
    rows = [
        payment(channel="desk", amount=1000),
        payment(channel="desk", amount=500, status="partially_refunded"),
        payment(channel="pay_page", amount=700),
        payment(channel="autopay", amount=2500, status="processing"),  # an eCheck approved: taken
        payment(channel="api", amount=300),
        payment(channel="desk", amount=9999, status="failed"),
        payment(channel="pay_page", amount=9999, status="unknown"),
    ]
    today = queue.by_channel(TODAY, "America/New_York", rows)
    assert [(c.channel, c.count, c.amount) for c in today.channels] == [
        ("desk", 2, 1500),
        ("pay_page", 1, 700),
        ("autopay", 1, 2500),
        ("api", 1, 300),
    ]
    assert (today.count, today.amount, today.complete) == (5, 5000, True)


# -- each kind's rule -----------------------------------------------------------------------------------------


def test_a_failed_autopay_shows_its_next_retry_date():
    failed = installment("failed", attempts=1, next_attempt_on="2026-12-05", failure={"code": "insufficient_funds"})
    item = queue.installment_item(failed)
    assert item is not None and item.kind is Kind.FAILED_AUTOPAY
    assert item.due == date(2026, 12, 5) and item.title == "Autopay failed"
    assert (item.amount, item.invoice_id, item.link) == (2500, "inv_plan", "/dashboard/invoices/inv_plan")


def test_an_installment_with_no_retry_left_is_past_due():
    for record in (installment("past_due"), installment("failed", next_attempt_on=None)):
        item = queue.installment_item(record)
        assert item is not None and item.kind is Kind.PAST_DUE_INSTALLMENT and item.due == date(2026, 11, 28)
    assert queue.installment_item(installment("scheduled")) is None
    assert queue.installment_item(installment("paid")) is None


def test_a_card_is_flagged_only_while_it_still_expires_before_its_charge():
    card = method(exp_month=11, exp_year=2026)
    item = queue.expiring_card(card, "202611", "2026-12-15", TODAY)
    assert item is not None and item.kind is Kind.CARD_EXPIRING and item.due == date(2026, 12, 15)
    assert item.link == "/dashboard/patients/pat_card"
    assert queue.expiring_card(replace(card, exp_year=2029), "202611", "2026-12-15", TODAY) is None  # updated
    # updated to another expiry that still falls before the charge: its own marker (202612) speaks for it
    assert queue.expiring_card(replace(card, exp_month=12), "202611", "2027-01-15", TODAY) is None
    assert queue.expiring_card(replace(card, exp_month=12), "202612", "2027-01-15", TODAY) is not None
    assert queue.expiring_card(card, "202611", "2026-12-01", TODAY) is None  # the charge is behind us
    assert queue.expiring_card(replace(card, status="inactive"), "202611", "2026-12-15", TODAY) is None
    assert queue.expiring_card(None, "202611", "2026-12-15", TODAY) is None


def test_a_pay_link_is_flagged_while_locked_or_when_revoked_for_wrong_answers():
    locked = queue.locked_link(link(), NOW)
    assert locked is not None and locked.kind is Kind.LOCKED_PAY_LINK and locked.link == "/dashboard/invoices/inv_link"
    assert queue.locked_link(link(locked_until="2026-12-02T14:00:00.000Z"), NOW) is None  # the lock ended
    revoked = link(locked_until=None, identity_failures=10, revoked_at="2026-12-02T14:00:00.000Z")
    assert queue.locked_link(replace(revoked, revoked_reason="too_many_failures"), NOW) is not None
    assert queue.locked_link(replace(revoked, revoked_reason="staff"), NOW) is None
    balance = queue.locked_link(link(invoice_id=None, scope="balance"), NOW)
    assert balance is not None and balance.link == "/dashboard/patients/pat_link"


def test_undeliverable_addresses_are_one_item_per_patient_and_channel():
    items = queue.undeliverable(
        [
            message("email", "bounced", at="2026-11-20"),
            message("email", "suppressed", "bounced", at="2026-11-25"),
            message("sms", "suppressed", "stopped"),
            message("sms", "suppressed", "stopped", patient="pat_other"),
        ]
    )
    assert sorted((i.patient_id, i.title) for i in items) == [
        ("pat_msg", "Email bounced"),
        ("pat_msg", "Patient texted STOP"),
        ("pat_other", "Patient texted STOP"),
    ]
    assert all(i.link == f"/dashboard/patients/{i.patient_id}" for i in items)


def test_unknown_outcomes_come_first_then_the_soonest_due():
    late = queue.dispute_item(dispute("2026-12-20", 1))
    soon = queue.dispute_item(dispute("2026-12-04", 2))
    undated = queue.blocked_account(method("bank_account", id="pm_bank", patient_id="pat_bank"))
    unknown = queue.unknown_outcome(payment(status="unknown"))
    assert queue.ordered([late, undated, soon, unknown]) == [unknown, soon, late, undated]


# -- the service over fakes ----------------------------------------------------------------------------------


class Fakes:
    """The stores TodayService reads, answering from lists, and recording that every read names the practice."""

    def __init__(self) -> None:
        self.asked: set[str] = set()
        self.day_payments = [payment(channel="desk"), payment(channel="autopay", amount=2500)]
        self.unknown = [payment(status="unknown")]
        self.installments = [
            installment("failed", 1, next_attempt_on="2026-12-05", attempts=1),
            installment("past_due", 2, due_on="2026-11-01"),
        ]
        self.blocked = [
            method("bank_account", id="pm_bank", patient_id="pat_bank", status="blocked", blocked_reason="R02")
        ]
        self.cards = {"pm_card": method()}
        self.markers = [("pm_card", "202611", "2026-12-15"), ("pm_gone", "202611", "2026-12-15")]
        self.disputes_found = [dispute()]
        self.messages_found = [message("sms", "suppressed", "stopped")]
        self.links_found = {"pl_1": link()}

    def _ask(self, practice_id: str) -> None:
        assert practice_id == P
        self.asked.add(practice_id)

    # PracticeStore
    def require(self, practice_id: str):
        self._ask(practice_id)
        return SimpleNamespace(settings=SimpleNamespace(time_zone="America/New_York"))

    # PaymentStore
    def created_between(self, practice_id: str, low: str, high: str, limit: int):
        self._ask(practice_id)
        return [p for p in self.day_payments if low <= p.id <= high], False

    def query(self, practice_id: str, *, invoice_id, status, limit, cursor):
        self._ask(practice_id)
        assert status == "unknown"
        return self.unknown[:limit], ("more" if len(self.unknown) > limit else None)

    # ScheduleStore
    def installments_in(self, practice_id: str, statuses, limit: int):
        self._ask(practice_id)
        return [i for i in self.installments if i.status in statuses][:limit], False

    # PatientStore
    def methods_with_status(self, practice_id: str, status: str, limit: int):
        self._ask(practice_id)
        return [m for m in self.blocked if m.status == status][:limit], False

    def expiring_marked(self, practice_id: str, limit: int):
        self._ask(practice_id)
        return self.markers[:limit], False

    def methods_of(self, keys):
        for practice_id, _ in keys:
            self._ask(practice_id)
        return [self.cards.get(m) for _, m in keys]

    # DisputeStore
    def _disputes(self, practice_id: str, *, status, due_before):
        self._ask(practice_id)
        return [d for d in self.disputes_found if d.status == status]

    # MessageStore
    def undeliverable(self, practice_id: str, reasons, limit: int):
        self._ask(practice_id)
        return self.messages_found[:limit], False

    # EventLog
    def since(self, practice_id: str, types, moment, limit: int):
        self._ask(practice_id)
        return [{"detail": {"link_id": i}} for i in self.links_found], False

    # PayLinkStore
    def by_id(self, practice_id: str, link_id: str):
        self._ask(practice_id)
        return self.links_found.get(link_id)

    # ReportService
    def deposits(self, practice_id: str, start: date, end: date):
        self._ask(practice_id)
        deposit = SimpleNamespace(id="dep_1", status=SimpleNamespace(value="processing"), amount=4000, deposited_on="x")
        done = SimpleNamespace(id="dep_0", status=SimpleNamespace(value="processed"), amount=100, deposited_on="y")
        late = SimpleNamespace(amount=1200)
        return SimpleNamespace(data=[done, deposit], undeposited=[late], undeposited_after_days=5)


def service(fakes: Fakes) -> TodayService:
    disputes = SimpleNamespace(query=fakes._disputes)
    return TodayService(
        practices=fakes,
        payments=fakes,
        schedules=fakes,
        patients=fakes,
        disputes=disputes,
        messages=fakes,
        links=fakes,
        events=fakes,
        reports=fakes,
        clock=lambda: NOW,
    )  # type: ignore[arg-type]


def test_today_holds_every_kind_in_order_with_the_days_totals():
    fakes = Fakes()
    today = service(fakes).today(P)
    assert [i.kind for i in today.attention] == [
        Kind.UNKNOWN_OUTCOME,
        Kind.PAST_DUE_INSTALLMENT,  # due 2026-11-01
        Kind.FAILED_AUTOPAY,  # retry 2026-12-05
        Kind.DISPUTE,  # reply by 2026-12-10
        Kind.CARD_EXPIRING,  # charge 2026-12-15
        Kind.BLOCKED_BANK_ACCOUNT,  # undated, in kind order
        Kind.UNDELIVERABLE,
        Kind.LOCKED_PAY_LINK,
    ]
    assert (today.payments.day, today.payments.count, today.payments.amount) == (TODAY, 2, 3500)
    assert today.deposits.pending_amount == 4000 and [d.id for d in today.deposits.pending] == ["dep_1"]
    assert (today.deposits.undeposited_count, today.deposits.undeposited_amount) == (1, 1200)
    assert today.capped == () and fakes.asked == {P}


def test_each_kind_is_capped_and_says_so():
    fakes = Fakes()
    fakes.unknown = [payment(status="unknown") for _ in range(CAP_PER_KIND + 3)]
    fakes.disputes_found = [dispute(f"2026-12-{10 + n % 9:02d}", n) for n in range(CAP_PER_KIND + 1)]
    today = service(fakes).today(P)
    assert sum(i.kind is Kind.UNKNOWN_OUTCOME for i in today.attention) == CAP_PER_KIND
    assert sum(i.kind is Kind.DISPUTE for i in today.attention) == CAP_PER_KIND
    assert set(today.capped) == {Kind.UNKNOWN_OUTCOME, Kind.DISPUTE}


def test_no_item_carries_a_patients_name_or_address():
    fakes = Fakes()
    fakes.messages_found = [message("email", "bounced")]
    for item in service(fakes).today(P).attention:
        text = " ".join(str(v) for v in asdict(item).values())
        assert "example.com" not in text and "•••@" not in text
