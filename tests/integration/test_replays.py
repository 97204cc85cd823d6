"""Replays of an Idempotency-Key, over HTTP against the local stack: the same key with the same body answers the
first answer (the same status code, the same record) whatever happened since, to that record or to others; the
same key with another body is refused (422)."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import botocore.client
import pytest

from tests.integration.test_billing import CONSENT, make_plan, plan_of, setup
from tests.integration.test_money_core import CONSENT as METHOD_CONSENT
from tests.integration.test_money_core import add_card, ok

pytestmark = pytest.mark.integration


def first_day():
    """A first installment date the service takes (its clock, not the sandbox's) and no daily run reaches."""
    return datetime.now(UTC).date() + timedelta(days=10)


def early(api, practice: str, inv: str, seq: int, key: str, body: dict | None = None):
    path = f"/invoices/{inv}/payment-plan/installments/{seq}/pay"
    return api.call("POST", path, practice=practice, body=body or {}, key=key)


def plan_body(method: str, count: int = 2) -> dict:
    return {
        "installment_count": count,
        "frequency": "monthly",
        "first_date": first_day().isoformat(),
        "payment_method_id": method,
        "consent": CONSENT,
    }


@pytest.fixture
def dynamodb_calls(monkeypatch):
    """The DynamoDB operations the test's requests made (any function, in this thread: not an alert or a queue
    another suite's server thread handles meanwhile), in order."""
    calls: list[str] = []
    original = botocore.client.BaseClient._make_api_call
    mine = threading.get_ident()

    def spy(self, operation, params):
        if self.meta.service_model.service_name == "dynamodb" and threading.get_ident() == mine:
            calls.append(operation)
        return original(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", spy)
    return calls


# -- early installment payments ---------------------------------------------------------------------------------


def test_an_early_payment_replayed_after_the_installment_was_paid_answers_the_first_payment(
    api, boarded, dynamodb_calls
):
    practice = "prc_replay_early"
    _, card, inv = setup(api, boarded, practice, amount=30_000)
    make_plan(api, practice, inv["id"], card, first_day(), count=3)
    key = str(uuid.uuid4())
    dynamodb_calls.clear()
    first = ok(early(api, practice, inv["id"], 1, key), 201)
    new_calls = list(dynamodb_calls)
    assert first["status"] == "succeeded" and first["amount"] == 10_000
    assert plan_of(api, practice, inv["id"])["installments"][0]["status"] == "paid"

    dynamodb_calls.clear()
    again = early(api, practice, inv["id"], 1, key)
    assert again.status_code == 201, again.get_data(as_text=True)
    assert again.get_json() == first
    assert again.headers["Location"] == f"/payments/{first['id']}"
    assert dynamodb_calls == ["BatchGetItem"]  # the key's guard (with the invoice), read first: one call
    # a new early payment: as many calls as before the guard was read first (its read takes the invoice's place):
    # the invoice and the guard, the plan, its installments, the payment's read, its reservation and its outcome
    assert len(new_calls) == 6, new_calls

    # another installment paid meanwhile, the plan canceled: the replay still answers the first payment
    ok(early(api, practice, inv["id"], 2, str(uuid.uuid4())), 201)
    ok(api.call("POST", f"/invoices/{inv['id']}/payment-plan/cancel", practice=practice))
    assert ok(early(api, practice, inv["id"], 1, key), 201) == first
    payments = ok(api.call("GET", "/payments", practice=practice, query={"invoice_id": inv["id"]}))["data"]
    assert len(payments) == 2  # charged once per key


def test_an_early_payment_of_the_last_installment_replayed_after_the_plan_completed(api, boarded):
    practice = "prc_replay_last"
    _, card, inv = setup(api, boarded, practice, amount=20_000)
    make_plan(api, practice, inv["id"], card, first_day(), count=2)
    one, two = str(uuid.uuid4()), str(uuid.uuid4())
    paid_one = ok(early(api, practice, inv["id"], 1, one), 201)
    paid_two = ok(early(api, practice, inv["id"], 2, two), 201)
    assert plan_of(api, practice, inv["id"])["status"] == "completed"

    assert ok(early(api, practice, inv["id"], 2, two), 201) == paid_two
    assert ok(early(api, practice, inv["id"], 1, one), 201) == paid_one


def test_an_early_payment_key_with_another_request_is_refused(api, boarded):
    practice = "prc_replay_reuse"
    patient, card, inv = setup(api, boarded, practice, amount=30_000)
    make_plan(api, practice, inv["id"], card, first_day(), count=3)  # three installments of the same amount
    key = str(uuid.uuid4())
    ok(early(api, practice, inv["id"], 1, key), 201)
    other = add_card(api, practice, patient, number="5555555555554444")["id"]

    another_installment = early(api, practice, inv["id"], 2, key)  # the same body, another installment
    assert another_installment.status_code == 422, another_installment.get_data(as_text=True)
    assert "Idempotency-Key" in another_installment.get_json()["detail"]
    another_method = early(api, practice, inv["id"], 1, key, {"payment_method_id": other})
    assert another_method.status_code == 422, another_method.get_data(as_text=True)
    statuses = [i["status"] for i in plan_of(api, practice, inv["id"])["installments"]]
    assert statuses == ["paid", "scheduled", "scheduled"]  # neither refused request charged anything


def test_a_declined_early_payment_replayed_after_the_plan_was_canceled_is_declined_again(api, boarded):
    practice = "prc_replay_402"
    _, card, inv = setup(api, boarded, practice, amount=24)  # two installments of 12 cents: the lost/stolen trigger
    make_plan(api, practice, inv["id"], card, first_day(), count=2)
    key = str(uuid.uuid4())
    declined = ok(early(api, practice, inv["id"], 1, key), 402)
    assert declined["type"].endswith("lost-or-stolen")
    ok(api.call("POST", f"/invoices/{inv['id']}/payment-plan/cancel", practice=practice))

    again = ok(early(api, practice, inv["id"], 1, key), 402)
    assert (again["type"], again["instance"]) == (declined["type"], declined["instance"])


# -- plans ------------------------------------------------------------------------------------------------------


def test_a_plan_replayed_after_a_cancel_and_a_new_plan_answers_the_first_plan(api, boarded):
    practice = "prc_replay_plan"
    _, card, inv = setup(api, boarded, practice, amount=20_000)
    path = f"/invoices/{inv['id']}/payment-plan"
    key = str(uuid.uuid4())
    first = ok(api.call("POST", path, practice=practice, body=plan_body(card), key=key), 201)
    assert first["status"] == "active" and first == plan_of(api, practice, inv["id"])
    ok(api.call("POST", f"{path}/cancel", practice=practice))
    newer = ok(api.call("POST", path, practice=practice, body=plan_body(card, count=4), key=str(uuid.uuid4())), 201)
    assert newer["id"] != first["id"]

    again = api.call("POST", path, practice=practice, body=plan_body(card), key=key)
    assert again.status_code == 201, again.get_data(as_text=True)
    replayed = again.get_json()
    assert (replayed["id"], replayed["status"]) == (first["id"], "canceled")
    assert [i["id"] for i in replayed["installments"]] == [i["id"] for i in first["installments"]]
    assert plan_of(api, practice, inv["id"])["id"] == newer["id"]  # the invoice's plan is still the newer one
    reused = api.call("POST", path, practice=practice, body=plan_body(card, count=3), key=key)
    assert reused.status_code == 422


# -- the other Idempotency-Key routes: a replay answers the same record after it changed ---------------------------


def test_payment_refund_and_membership_replays_answer_the_first_record(api, boarded):
    practice = "prc_replay_others"
    patient, card, inv = setup(api, boarded, practice, amount=20_000)
    pay_body = {"payment_method_id": card}
    pay_key, refund_key = str(uuid.uuid4()), str(uuid.uuid4())
    paid = ok(api.call("POST", f"/invoices/{inv['id']}/payments", practice=practice, body=pay_body, key=pay_key), 201)
    refunds = f"/payments/{paid['id']}/refunds"
    refund = ok(api.call("POST", refunds, practice=practice, body={"amount": 5_000}, key=refund_key), 201)
    ok(api.call("POST", refunds, practice=practice, body={}, key=str(uuid.uuid4())), 201)  # the rest: nothing left
    again = api.call("POST", f"/invoices/{inv['id']}/payments", practice=practice, body=pay_body, key=pay_key)
    assert again.status_code == 201 and again.get_json() == paid
    assert ok(api.call("POST", refunds, practice=practice, body={"amount": 5_000}, key=refund_key), 201) == refund

    body = {
        "amount": 4_900,
        "frequency": "monthly",
        "start_date": first_day().isoformat(),
        "payment_method_id": card,
        "consent": CONSENT,
    }
    sub_key = str(uuid.uuid4())
    subs = f"/patients/{patient}/subscriptions"
    sub = ok(api.call("POST", subs, practice=practice, body=body, key=sub_key), 201)
    ok(api.call("POST", f"/subscriptions/{sub['id']}/cancel", practice=practice))
    ok(api.call("POST", subs, practice=practice, body=body, key=str(uuid.uuid4())), 201)
    replayed = ok(api.call("POST", subs, practice=practice, body=body, key=sub_key), 201)
    assert (replayed["id"], replayed["status"]) == (sub["id"], "canceled")


def test_a_payment_method_replayed_after_its_card_expired_answers_the_first_method(
    api, boarded, stack_sandbox, monkeypatch
):
    """The checks that refuse a new method (an expired card, a practice that cannot charge) run under the key: a
    replay answers the method the key added, and only a new key meets them."""
    from practicepay.patients.wiring import patient_service

    practice = boarded("prc_replay_method")
    patient = api.patient(practice, "ehr-replay-method")
    # a card that expires at the end of this month, for the API and for the sandbox (whose clock earlier suites
    # may have moved ahead of today)
    month = max(datetime.now(UTC).date(), stack_sandbox.sandbox.today)
    body = {
        "card": {"number": "4242424242424242", "exp_month": month.month, "exp_year": month.year},
        "consent": METHOD_CONSENT,
    }
    path, key = f"/patients/{patient}/payment-methods", str(uuid.uuid4())
    first = ok(api.call("POST", path, practice=practice, body=body, key=key), 201)

    later = datetime(month.year, month.month, 1, tzinfo=UTC) + timedelta(days=40)  # the card's month has passed
    monkeypatch.setattr(patient_service(), "clock", lambda: later)
    assert ok(api.call("POST", path, practice=practice, body=body, key=key), 201) == first
    ok(api.call("POST", path, practice=practice, body=body, key=str(uuid.uuid4())), 422)  # a new key: refused
