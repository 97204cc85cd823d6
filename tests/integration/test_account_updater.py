"""Cards kept current (issue #19), over the moto server and the stack's Splash sandbox: a card that will have expired
by its first autopay charge is flagged ahead (payment_method.expiring), the account updater's result (a Splash
paymentUpdate, made with the sandbox's account-updater control) renews it once, and the autopay then charges it.
A closed card is marked update_required. The account updater is driven directly (it is not yet wired into the
status poll); the daily run's expiring check likewise (its function is not yet given the patients table)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import boto3
import pytest
import requests
from boto3.dynamodb.conditions import Key

from practicepay.adapters.dynamo import TransactionConflict
from practicepay.billing.run import DailyRun
from practicepay.billing.store import ScheduleStore
from practicepay.cards.service import AccountUpdater
from practicepay.patients.store import PatientStore
from practicepay.splash.models import PaymentUpdate
from practicepay.splash.wiring import splash_client
from practicepay.sync.store import SyncStore
from tests.integration.test_billing import make_plan, plan_of
from tests.integration.test_money_core import CONSENT, new_patient, ok, open_invoice
from tests.integration.test_status_sync import events

pytestmark = pytest.mark.integration


class DropQueue:
    def send(self, messages: list) -> int:
        return 0


def _card(api, practice: str, patient: str, month: int, year: int) -> dict:
    body = {"card": {"number": "4242424242424242", "exp_month": month, "exp_year": year, "cvc": "123"}}
    return ok(
        api.call("POST", f"/patients/{patient}/payment-methods", practice=practice, body={**body, "consent": CONSENT}),
        201,
    )


def _method(api, practice: str, patient: str, method_id: str) -> dict:
    listed = ok(api.call("GET", f"/patients/{patient}/payment-methods", practice=practice))["data"]
    return next(m for m in listed if m["id"] == method_id)


def _token_id(aws_env, practice: str, method_id: str) -> str:
    item = (
        boto3.resource("dynamodb")
        .Table(aws_env["PATIENTS_TABLE"])
        .get_item(Key={"pk": f"PRACTICE#{practice}", "sk": f"METHOD#{method_id}"})["Item"]
    )
    return str(item["splash_token_id"])


def _updater(aws_env) -> AccountUpdater:
    return AccountUpdater(
        PatientStore(aws_env["PATIENTS_TABLE"]),
        SyncStore(aws_env["SYNC_TABLE"]),
        events_table=aws_env["EVENTS_TABLE"],
        splash=splash_client,
    )


def _expiring_check(aws_env, day: date) -> int:
    run = DailyRun(
        ScheduleStore(aws_env["SCHEDULES_TABLE"]),
        DropQueue(),  # type: ignore[arg-type]
        events_table=aws_env["EVENTS_TABLE"],
        patients=PatientStore(aws_env["PATIENTS_TABLE"]),
    )
    return run._expiring(run.patients, day)[0]  # type: ignore[arg-type] (the check alone: no other suite's notices)


def _account_updater(stack_url: str, token_id: str, message: str, expiration: str | None = None) -> None:
    body = {"token": token_id, "message": message, **({"expiration": expiration} if expiration else {})}
    requests.post(f"{stack_url}/_sandbox/account-updater", json=body, timeout=5).raise_for_status()


def _of_type(aws_env, practice: str, kind: str) -> list[dict]:
    return [e for e in events(aws_env, practice) if e["type"] == kind]


def test_an_expiring_card_is_flagged_then_renewed_by_the_account_updater_before_its_autopay_runs(
    api, aws_env, boarded, sync_stack
):
    practice = "prc_cards_renewed"
    boarded(practice)
    today = sync_stack.sandbox.today
    patient = new_patient(api, practice, f"ehr-{practice}")
    card = _card(api, practice, patient, today.month, today.year)  # good through the end of this month
    inv = open_invoice(api, practice, patient, unit_amount=20_000)
    first = date(today.year + today.month // 12, today.month % 12 + 1, 5)  # the 5th of next month
    make_plan(api, practice, inv["id"], card["id"], first, count=2)

    _expiring_check(aws_env, first - timedelta(days=31))
    assert _of_type(aws_env, practice, "payment_method.expiring") == []  # the charge is not within 30 days yet
    _expiring_check(aws_env, first - timedelta(days=20))
    _expiring_check(aws_env, first - timedelta(days=19))  # the next day: flagged once only
    (flag,) = _of_type(aws_env, practice, "payment_method.expiring")
    assert (flag["payment_method_id"], flag["next_charge_on"]) == (card["id"], first.isoformat())
    assert (flag["exp_month"], flag["exp_year"]) == (today.month, today.year)

    token_id = _token_id(aws_env, practice, card["id"])
    renewed = f"{today.month:02d}{(today.year + 3) % 100:02d}"
    _account_updater(sync_stack.url, token_id, "Expiration date was changed", renewed)
    report = _updater(aws_env).poll(splash_client())
    assert report["outcomes"].get("expiry_changed") == 1, report
    after = _method(api, practice, patient, card["id"])
    assert (after["exp_month"], after["exp_year"], after["last4"]) == (today.month, today.year + 3, "4242")
    assert after["update_required"] is False
    (updated,) = _of_type(aws_env, practice, "payment_method.updated")
    assert (updated["outcome"], updated["exp_year"], updated["payment_method_id"]) == (
        "expiry_changed",
        today.year + 3,
        card["id"],
    )

    again = _updater(aws_env).poll(splash_client())  # the overlap reads the result again: applied once only
    assert "expiry_changed" not in again["outcomes"]
    assert len(_of_type(aws_env, practice, "payment_method.updated")) == 1
    _expiring_check(aws_env, first - timedelta(days=10))
    assert len(_of_type(aws_env, practice, "payment_method.expiring")) == 1  # renewed: not flagged again

    sync_stack.bill(first)  # the autopay charges the renewed card (an expired one the sandbox declines)
    installments = plan_of(api, practice, inv["id"])["installments"]
    assert installments[0]["status"] == "paid", installments[0]


def test_a_closed_card_is_marked_update_required_once(api, aws_env, boarded, sync_stack):
    practice = "prc_cards_closed"
    boarded(practice)
    patient = new_patient(api, practice, f"ehr-{practice}")
    card = _card(api, practice, patient, 12, 2030)
    _account_updater(sync_stack.url, _token_id(aws_env, practice, card["id"]), "Account was closed")
    assert _updater(aws_env).poll(splash_client())["outcomes"].get("closed") == 1
    after = _method(api, practice, patient, card["id"])
    assert (after["update_required"], after["update_reason"], after["status"]) == (True, "closed", "active")
    (updated,) = _of_type(aws_env, practice, "payment_method.updated")
    assert updated["outcome"] == "closed"
    _updater(aws_env).poll(splash_client())
    assert len(_of_type(aws_env, practice, "payment_method.updated")) == 1
    table = boto3.resource("dynamodb").Table(aws_env["PATIENTS_TABLE"])
    markers = table.query(
        KeyConditionExpression=Key("pk").eq(f"PRACTICE#{practice}") & Key("sk").begins_with("CARDUPDATE#")
    )["Items"]
    assert len(markers) == 1 and markers[0]["payment_method_ids"] == [card["id"]]


def test_an_update_is_applied_once_and_a_method_changed_meanwhile_is_not_overwritten(api, aws_env, boarded, sync_stack):
    """The account updater's transaction against DynamoDB (the update as Splash's GET /paymentUpdates shows it, S
    doc/models/payment-updates-response.md; the token renewed at the sandbox with PUT /tokens, then read back)."""
    practice = "prc_cards_once"
    boarded(practice)
    patient = new_patient(api, practice, f"ehr-{practice}")
    card = _card(api, practice, patient, 12, 2030)
    token_id = _token_id(aws_env, practice, card["id"])
    requests.put(
        f"{sync_stack.url}/tokens/{token_id}",
        json={"expiration": "0633"},
        headers={"APIKEY": "sandbox-private-key"},
        timeout=5,
    ).raise_for_status()
    update = PaymentUpdate.model_validate(
        {"id": "t1_pmu_6227be75a75b292bde6dbe2", "token": token_id, "status": "processed"}
        | {"message": "Expiration date was changed", "expiration": "0633", "modified": "2027-01-10 08:30:00.0000"}
    )
    updater = _updater(aws_env)
    assert updater.apply(update) == "expiry_changed"
    assert updater.apply(update) == "already_applied"
    after = _method(api, practice, patient, card["id"])
    assert (after["exp_month"], after["exp_year"]) == (6, 2033)
    assert len(_of_type(aws_env, practice, "payment_method.updated")) == 1
    patients = PatientStore(aws_env["PATIENTS_TABLE"])
    (stale,) = patients.methods_of([(practice, card["id"])])
    assert stale is not None
    closed = PaymentUpdate.model_validate(
        {**update.model_dump(), "id": "t1_pmu_6227be75a75b292bde6dbe3"} | {"message": "Account was closed"}
    )
    with pytest.raises(TransactionConflict):  # written from a stale read: refused whole, marker included
        patients.record_once(
            practice,
            f"CARDUPDATE#{closed.id}",
            {},
            changes=[(replace(stale, exp_year=2030), replace(stale, update_reason="closed"))],
            events_table=aws_env["EVENTS_TABLE"],
        )
    assert not patients.recorded(practice, f"CARDUPDATE#{closed.id}")
    assert updater.apply(closed) == "closed"
    assert _method(api, practice, patient, card["id"])["update_reason"] == "closed"
