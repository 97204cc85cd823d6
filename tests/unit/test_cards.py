"""Cards kept current (issue #19): what an account-updater message means, when a card stops being good, the
account updater applying Splash's paymentUpdates to stored cards once each, and the daily run flagging a card that
will have expired by its next autopay charge. The stores and the Splash client are fakes here (the transactions'
conditions run against DynamoDB in tests/integration/test_account_updater.py); every event written is checked
against its JSON Schema (docs/events)."""

from __future__ import annotations

import calendar
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from practicepay.adapters.dynamo import TransactionConflict
from practicepay.billing.models import InstallmentRecord, PlanRecord, SubscriptionRecord
from practicepay.billing.run import DailyRun
from practicepay.billing.schedule import RetryPolicy
from practicepay.billing.store import ScheduleStore
from practicepay.cards.models import Outcome, expires_before, outcome_of, parse_expiration
from practicepay.cards.service import CURSOR, AccountUpdater
from practicepay.clock import iso
from practicepay.ids import new_id
from practicepay.patients.models import PaymentMethod
from practicepay.patients.service import _method_view
from practicepay.patients.store import CARD_FIELDS, MethodRecord
from practicepay.splash.client import Page
from practicepay.splash.errors import SplashNotFound
from practicepay.splash.models import PaymentUpdate, Token
from tests.event_schemas import validate_event

pytestmark = pytest.mark.unit

MOMENT = datetime(2027, 1, 10, 14, 0, 0, 123_000, tzinfo=UTC)
TODAY = MOMENT.date()
PRACTICE = "prc_alpha"
PATIENT = new_id("pat")
TOKEN_ID = "t1_tok_6227be75a75b292bde6dbe2"
TOKEN_STRING = "9f8c2b7e4d1a4c3b8e6f0a2d5c7b9e1f"

# The account updater's documented messages (Payrix resource center, account-updater) and their outcomes.
MESSAGES = {
    "Account number was changed": Outcome.NUMBER_CHANGED,
    "Expiration date was changed": Outcome.EXPIRY_CHANGED,
    "Account was closed": Outcome.CLOSED,
    "Contact cardholder for updated information": Outcome.CONTACT_CARDHOLDER,
    "Issuing bank does not participate in the update program": Outcome.NO_CHANGE,
    "No match found": Outcome.NO_CHANGE,
    "No changes found": Outcome.NO_CHANGE,
}


# -- the rules ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("message, outcome", MESSAGES.items())
def test_every_documented_message_names_its_outcome_whatever_its_case_spacing_or_stop(message, outcome):
    assert outcome_of(message) is outcome
    assert outcome_of(f"  {message.upper()}.  ") is outcome
    assert outcome_of(message.replace(" ", "  ")) is outcome


@pytest.mark.parametrize("message", [None, "", "Approved", "Account number was changed to 4111", "closed"])
def test_a_message_not_documented_names_no_outcome(message):
    assert outcome_of(message) is None


@pytest.mark.parametrize(
    "value, parsed",
    [("1030", (10, 2030)), ("0127", (1, 2027)), ("1200", (12, 2000)), ("1330", None), ("0030", None)]
    + [("10/30", None), ("103", None), ("", None), (None, None)],
)
def test_a_splash_expiration_is_mmyy(value, parsed):
    assert parse_expiration(value) == parsed


def test_a_card_is_good_through_the_last_day_of_its_expiry_month():
    assert not expires_before(1, 2027, date(2027, 1, 31))
    assert expires_before(1, 2027, date(2027, 2, 1))
    assert expires_before(12, 2026, date(2027, 1, 1))
    assert not expires_before(None, None, date(2099, 1, 1))  # a bank account never expires


@given(month=st.integers(1, 12), year=st.integers(2000, 2098), offset=st.integers(-400, 400))
def test_expires_before_is_after_the_expiry_months_last_day(month, year, offset):
    last = date(year, month, calendar.monthrange(year, month)[1])
    day = last + timedelta(days=offset)
    assert expires_before(month, year, day) is (day > last)


def test_the_method_view_says_when_the_card_needs_new_details():
    record = _card()
    assert (_method_view(record).update_required, _method_view(record).update_reason) == (False, None)
    view = _method_view(replace(record, update_reason="closed"))
    assert (view.update_required, view.update_reason) == (True, "closed")
    assert set(PaymentMethod.model_fields) >= {"update_required", "update_reason"}


# -- fakes -------------------------------------------------------------------------------------------------------


def _card(**changes: Any) -> MethodRecord:
    base = MethodRecord(
        practice_id=PRACTICE,
        id=new_id("pm"),
        patient_id=PATIENT,
        kind="card",
        last4="1111",
        token_sealed="sealed",
        splash_token_id=TOKEN_ID,
        consent={
            "text_version": "card-on-file-2026-01",
            "accepted_at": "2026-12-01T15:30:00Z",
            "captured_by": "front-desk-jdoe",
            "channel": "in_person",
        },
        created_at=iso(MOMENT),
        brand="visa",
        exp_month=1,
        exp_year=2027,
    )
    return replace(base, **changes)


class FakePatients:
    """The patients table's methods and once-only items, with record_once's rules: the marker must not exist and
    each changed method must still be as read (else TransactionConflict, nothing written)."""

    def __init__(self, *methods: MethodRecord) -> None:
        self.methods = {m.id: m for m in methods}
        self.markers: dict[tuple[str, str], dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.before_write: list[Any] = []  # callables run before the next record_once (a concurrent writer)

    def methods_by_token(self, token_id: str) -> list[MethodRecord]:
        return [m for m in self.methods.values() if m.splash_token_id == token_id]

    def methods_of(self, keys):
        return [
            self.methods.get(m) if self.methods.get(m) and self.methods[m].practice_id == p else None for p, m in keys
        ]

    def recorded(self, practice_id: str, sk: str) -> bool:
        return (practice_id, sk) in self.markers

    def record_once(self, practice_id, sk, marker, *, changes=(), events=(), events_table):
        while self.before_write:
            self.before_write.pop(0)()
        if (practice_id, sk) in self.markers:
            return False
        for before, _ in changes:
            current = self.methods[before.id]
            if any(getattr(current, f) != getattr(before, f) for f in (*CARD_FIELDS, "status")):
                raise TransactionConflict("changed", ["None", "ConditionalCheckFailed"])
        self.markers[(practice_id, sk)] = marker
        for _, after in changes:
            self.methods[after.id] = after
        self.events.extend(events)
        return True


class FakeSync:
    def __init__(self) -> None:
        self.cursors: dict[str, str] = {}

    def cursor(self, name: str) -> str | None:
        return self.cursors.get(name)

    def save_cursor(self, name: str, value: str, updated_at: str) -> None:
        self.cursors[name] = max(value, self.cursors.get(name, ""))


class FakeSplash:
    """paymentUpdates in one page, and tokens by id; the searches and token reads it was asked for."""

    def __init__(self, updates: list[PaymentUpdate], tokens: dict[str, Token]) -> None:
        self.updates, self.tokens = updates, tokens
        self.searches: list[str] = []
        self.token_reads = 0

    def list(self, model, *, search, limit):
        assert model is PaymentUpdate
        self.searches.append(search.header())
        return Page(items=list(self.updates), page=1, last=1, has_more=False)

    def get(self, model, record_id):
        assert model is Token
        self.token_reads += 1
        if record_id not in self.tokens:
            raise SplashNotFound(record_id)
        return self.tokens[record_id]


def _update(message: str, *, status: str = "processed", expiration: str | None = "0130", **fields: Any):
    return PaymentUpdate.model_validate(
        {
            "id": f"t1_pmu_{uuid.uuid4().hex[:23]}",
            "modified": "2027-01-10 08:30:00.0000",
            "token": TOKEN_ID,
            "payment": "t1_pmt_6227be75a75b292bde6dbe2",
            "status": status,
            "message": message,
            "expiration": expiration,
            **fields,
        }
    )


def _token(expiration: str = "0130", number: str = "1111") -> Token:
    return Token.model_validate(
        {"id": TOKEN_ID, "token": TOKEN_STRING, "expiration": expiration, "payment": {"number": number, "method": 2}}
    )


def _updater(patients: FakePatients, splash: FakeSplash | None = None, sync: FakeSync | None = None) -> AccountUpdater:
    client = splash or FakeSplash([], {})
    return AccountUpdater(patients, sync or FakeSync(), "events", splash=lambda: client, clock=lambda: MOMENT)  # type: ignore[arg-type]


def _published(row: dict[str, Any]) -> dict[str, Any]:
    """The EventBridge event the publisher makes of an outbox row."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": row["detail_type"],
        "source": "practicepay",
        "account": "123456789012",
        "time": row["occurred_at"],
        "region": "us-east-1",
        "resources": [],
        "detail": {"event_id": row["id"], "occurred_at": row["occurred_at"], **row["detail"]},
    }


# -- the account updater -----------------------------------------------------------------------------------------


def test_a_new_expiry_is_read_from_the_token_and_applied_once_with_its_event():
    card = _card()
    patients = FakePatients(card)
    splash = FakeSplash([], {TOKEN_ID: _token(expiration="0430")})
    updater = _updater(patients, splash)
    update = _update("Expiration date was changed", expiration="0130")  # the token's is the truth
    assert updater.apply(update) == "expiry_changed"
    after = patients.methods[card.id]
    assert (after.exp_month, after.exp_year, after.last4, after.update_reason) == (4, 2030, "1111", None)
    (row,) = patients.events
    assert row["detail_type"] == "payment_method.updated"
    assert row["detail"] == {
        "practice_id": PRACTICE,
        "payment_method_id": card.id,
        "patient_id": PATIENT,
        "outcome": "expiry_changed",
        "exp_month": 4,
        "exp_year": 2030,
        "last4": "1111",
        "brand": "visa",
    }
    validate_event(_published(row))
    assert TOKEN_STRING not in str(row) and TOKEN_ID not in str(row)  # never the token
    assert updater.apply(update) == "already_applied"  # seen again: no token read, nothing written
    assert (splash.token_reads, len(patients.events)) == (1, 1)


def test_a_new_number_changes_the_last_four_and_clears_an_update_required_mark():
    card = _card(update_reason="contact_cardholder")
    patients = FakePatients(card)
    splash = FakeSplash([], {TOKEN_ID: _token(expiration="0931", number="4242")})
    assert _updater(patients, splash).apply(_update("Account number was changed")) == "number_changed"
    after = patients.methods[card.id]
    assert (after.exp_month, after.exp_year, after.last4, after.update_reason) == (9, 2031, "4242", None)
    assert patients.events[0]["detail"]["outcome"] == "number_changed"
    assert _method_view(after).update_required is False


def test_the_updates_expiry_is_used_when_the_token_shows_none():
    card = _card()
    patients = FakePatients(card)
    splash = FakeSplash([], {TOKEN_ID: _token(expiration="")})
    _updater(patients, splash).apply(_update("Expiration date was changed", expiration="0529"))
    assert (patients.methods[card.id].exp_month, patients.methods[card.id].exp_year) == (5, 2029)


@pytest.mark.parametrize(
    "message, reason",
    [("Account was closed", "closed"), ("Contact cardholder for updated information", "contact_cardholder")],
)
def test_a_closed_card_or_one_only_the_cardholder_can_update_is_marked_update_required(message, reason):
    card = _card()
    patients = FakePatients(card)
    splash = FakeSplash([], {})
    assert _updater(patients, splash).apply(_update(message)) == reason
    after = patients.methods[card.id]
    assert after.update_reason == reason and (after.exp_month, after.exp_year, after.last4) == (1, 2027, "1111")
    assert _method_view(after).update_required is True
    (row,) = patients.events
    assert row["detail"]["outcome"] == reason
    validate_event(_published(row))
    assert splash.token_reads == 0  # nothing new to read


@pytest.mark.parametrize("message", [m for m, o in MESSAGES.items() if o is Outcome.NO_CHANGE] + ["Something new"])
def test_no_change_records_the_update_as_applied_and_nothing_else(message):
    card = _card()
    patients = FakePatients(card)
    updater = _updater(patients)
    update = _update(message)
    assert updater.apply(update) == "no_change"
    assert patients.methods[card.id] == card and patients.events == []
    assert (PRACTICE, f"CARDUPDATE#{update.id}") in patients.markers
    assert updater.apply(update) == "already_applied"


def test_a_card_already_as_the_update_leaves_it_gets_the_marker_only():
    card = _card(exp_month=1, exp_year=2030)
    patients = FakePatients(card)
    assert (
        _updater(patients, FakeSplash([], {TOKEN_ID: _token("0130")})).apply(_update("Expiration date was changed"))
        == "already_current"
    )
    assert patients.events == [] and len(patients.markers) == 1


@pytest.mark.parametrize("status", ["pending", "processing", "failed", None])
def test_a_result_splash_has_not_processed_changes_nothing(status):
    patients = FakePatients(_card())
    assert _updater(patients, FakeSplash([], {})).apply(_update("Account was closed", status=status)) == "not_processed"
    assert patients.markers == {} and patients.events == []


def test_a_token_of_no_method_of_ours_or_only_of_removed_ones_changes_nothing():
    patients = FakePatients(_card(status="inactive"), _card(splash_token_id="t1_tok_someoneelse00000000000"))
    splash = FakeSplash([], {TOKEN_ID: _token()})
    assert _updater(patients, splash).apply(_update("Expiration date was changed")) == "not_ours"
    assert patients.markers == {} and splash.token_reads == 0


def test_a_token_splash_no_longer_has_changes_nothing():
    patients = FakePatients(_card())
    assert _updater(patients, FakeSplash([], {})).apply(_update("Expiration date was changed")) == "token_gone"
    assert patients.markers == {}


def test_every_method_carrying_the_token_is_updated_in_one_step():
    first, second = _card(), _card()
    patients = FakePatients(first, second)
    _updater(patients, FakeSplash([], {TOKEN_ID: _token("0330")})).apply(_update("Expiration date was changed"))
    assert {(m.exp_month, m.exp_year) for m in patients.methods.values()} == {(3, 2030)}
    assert sorted(r["detail"]["payment_method_id"] for r in patients.events) == sorted([first.id, second.id])


def test_a_method_changed_meanwhile_is_read_again_and_the_update_applied_to_it():
    card = _card()
    patients = FakePatients(card)
    # another writer marks the card before this update's transaction: the first try conflicts, the second applies
    patients.before_write.append(lambda: patients.methods.update({card.id: replace(card, update_reason="closed")}))
    splash = FakeSplash([], {TOKEN_ID: _token("0230", "4444")})
    assert _updater(patients, splash).apply(_update("Account number was changed")) == "number_changed"
    after = patients.methods[card.id]
    assert (after.last4, after.update_reason, after.exp_year) == ("4444", None, 2030)
    assert len(patients.events) == 1


def test_the_poll_reads_what_changed_since_its_cursor_and_moves_the_cursor_to_the_newest():
    card = _card()
    patients, sync = FakePatients(card), FakeSync()
    updates = [
        _update("Expiration date was changed", modified="2027-01-10 08:30:00.0000"),
        _update("No match found", modified="2027-01-10 08:31:00.5000", token="t1_tok_notours0000000000000000"),
        _update("Account was closed", status="pending", modified="2027-01-10 08:32:00.0000"),
    ]
    splash = FakeSplash(updates, {TOKEN_ID: _token("0130")})
    report = _updater(patients, sync=sync).poll(splash)  # type: ignore[arg-type]
    assert report == {"outcomes": {"expiry_changed": 1, "not_ours": 1, "not_processed": 1}, "splash_calls": 2}
    assert "modified[greater]" in splash.searches[0] and "sort" in splash.searches[0].lower()
    assert sync.cursors[CURSOR] == "2027-01-10T13:32:00.000Z"  # 08:32 US-Eastern, as UTC
    again = _updater(patients, sync=sync).poll(splash)  # type: ignore[arg-type]
    assert again == {"outcomes": {"already_applied": 1, "not_ours": 1, "not_processed": 1}, "splash_calls": 1}


# -- the expiring flag in the daily run --------------------------------------------------------------------------


class _Resource:
    def Table(self, name: str) -> Any:  # noqa: N802
        return SimpleNamespace(name=name, meta=SimpleNamespace(client=None))


SCHEDULES = ScheduleStore("schedules", resource=_Resource())


def _plan(method_id: str, status: str = "active") -> PlanRecord:
    return PlanRecord(
        practice_id=PRACTICE,
        id=new_id("pln"),
        invoice_id=new_id("inv"),
        patient_id=PATIENT,
        payment_method_id=method_id,
        frequency="monthly",
        first_date="2027-01-20",
        installment_count=3,
        total=15_000,
        status=status,
        consent={},
        policy=RetryPolicy().to_record(),
        created_at=iso(MOMENT),
        updated_at=iso(MOMENT),
    )


def _inst(plan: PlanRecord, due_on: str, seq: int = 1) -> InstallmentRecord:
    return InstallmentRecord(
        practice_id=PRACTICE,
        owner_id=plan.id,
        seq=seq,
        invoice_id=plan.invoice_id,
        patient_id=PATIENT,
        amount=5_000,
        due_on=due_on,
        status="scheduled",
        policy=plan.policy,
        created_at=iso(MOMENT),
        updated_at=iso(MOMENT),
    )


def _membership(method_id: str, next_cycle_on: str) -> SubscriptionRecord:
    return SubscriptionRecord(
        practice_id=PRACTICE,
        id=new_id("sub"),
        patient_id=PATIENT,
        payment_method_id=method_id,
        amount=4_900,
        frequency="monthly",
        start_date="2026-12-01",
        status="active",
        consent={},
        policy=RetryPolicy().to_record(),
        next_cycle=2,
        created_at=iso(MOMENT),
        updated_at=iso(MOMENT),
        next_cycle_on=next_cycle_on,
        noticed_cycle=2,
    )


class FakeSchedules:
    """The `due` index (items in date order, `through` inclusive) and the plans and memberships by id."""

    def __init__(self, plans: list[PlanRecord], subs: list[SubscriptionRecord], insts: list[InstallmentRecord]):
        self.plans = {p.id: p for p in plans}
        self.subs = {s.id: s for s in subs}
        items = [SCHEDULES.installment_item(i) for i in insts] + [SCHEDULES.subscription_item(s) for s in subs]
        self.items = sorted((i for i in items if "due_sk" in i), key=lambda i: i["due_sk"])
        self.owner_reads = 0

    def due(self, through: str, cursor: Any = None):
        return [i for i in self.items if i["due_sk"] <= f"{through}#\uffff"], None

    def notices(self, through: str, cursor: Any = None):
        return [], None

    def get_plan(self, practice_id, invoice_id, plan_id):
        self.owner_reads += 1
        return self.plans.get(plan_id)

    def get_subscription(self, practice_id, subscription_id):
        self.owner_reads += 1
        return self.subs.get(subscription_id)

    installment_from_item = staticmethod(ScheduleStore.installment_from_item)
    subscription_from_item = staticmethod(ScheduleStore.subscription_from_item)


class NoQueue:
    def send(self, messages: list[dict[str, Any]]) -> int:
        return 0


def _run(schedules: FakeSchedules, patients: FakePatients) -> DailyRun:
    return DailyRun(schedules, NoQueue(), events_table="events", clock=lambda: MOMENT, patients=patients)  # type: ignore[arg-type]


def test_a_card_that_will_have_expired_by_its_next_charge_is_flagged_once_with_that_charge():
    card = _card(exp_month=1, exp_year=2027)  # good through 2027-01-31
    plan = _plan(card.id)
    first, second = _inst(plan, "2027-02-05", 1), _inst(plan, "2027-03-05", 2)
    patients = FakePatients(card)
    schedules = FakeSchedules([plan], [], [first, second])
    report = _run(schedules, patients).run(TODAY)
    assert report.expiring == 1
    (row,) = patients.events
    assert row["detail_type"] == "payment_method.expiring"
    assert row["detail"] == {
        "practice_id": PRACTICE,
        "payment_method_id": card.id,
        "patient_id": PATIENT,
        "exp_month": 1,
        "exp_year": 2027,
        "next_charge_on": "2027-02-05",
        "plan_id": plan.id,
        "installment_id": first.id,
    }
    validate_event(_published(row))
    assert (PRACTICE, f"EXPIRING#{card.id}#202701") in patients.markers
    assert _run(schedules, patients).run(TODAY + timedelta(days=1)).expiring == 0  # the next day: already flagged
    assert len(patients.events) == 1


def test_a_card_good_through_the_charge_month_or_a_charge_beyond_30_days_is_not_flagged():
    good = _card(exp_month=2, exp_year=2027)
    later = _card(exp_month=1, exp_year=2027)
    plan_good, plan_later = _plan(good.id), _plan(later.id)
    insts = [_inst(plan_good, "2027-02-05"), _inst(plan_later, "2027-02-10")]  # 2027-02-10 is 31 days ahead
    patients = FakePatients(good, later)
    assert _run(FakeSchedules([plan_good, plan_later], [], insts), patients).run(TODAY).expiring == 0
    assert (
        _run(FakeSchedules([plan_good, plan_later], [], insts), patients).run(TODAY + timedelta(days=1)).expiring == 1
    )
    assert patients.events[0]["detail"]["payment_method_id"] == later.id


def test_a_memberships_next_cycle_is_flagged_with_the_membership():
    card = _card(exp_month=12, exp_year=2026)  # already expired
    sub = _membership(card.id, "2027-01-15")
    patients = FakePatients(card)
    assert _run(FakeSchedules([], [sub], []), patients).run(TODAY).expiring == 1
    detail = patients.events[0]["detail"]
    assert (detail["subscription_id"], detail["next_charge_on"]) == (sub.id, "2027-01-15")
    assert "installment_id" not in detail and "plan_id" not in detail
    validate_event(_published(patients.events[0]))


def test_no_flag_for_a_canceled_plan_a_removed_card_or_a_bank_account_and_each_plan_is_read_once():
    removed = _card(status="inactive")
    bank = _card(kind="bank_account", exp_month=None, exp_year=None, brand=None)
    expiring = _card()
    canceled = _plan(expiring.id, status="canceled")
    plans = [canceled, _plan(removed.id), _plan(bank.id)]
    insts = [_inst(p, "2027-02-01", seq) for p in plans for seq in (1, 2)]
    schedules = FakeSchedules(plans, [], insts)
    patients = FakePatients(removed, bank, expiring)
    assert _run(schedules, patients).run(TODAY).expiring == 0
    assert patients.events == [] and schedules.owner_reads == 3


def test_without_the_patients_table_the_run_flags_nothing():
    card = _card()
    plan = _plan(card.id)
    run = DailyRun(FakeSchedules([plan], [], [_inst(plan, "2027-02-01")]), NoQueue(), "events", clock=lambda: MOMENT)  # type: ignore[arg-type]
    assert run.run(TODAY).expiring == 0
