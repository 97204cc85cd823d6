"""Installment plans, memberships and the retries of failed autopay charges, over HTTP against the local stack:
the daily run (the billing function, for the sandbox's date), the charge queue and its worker, Splash alerts."""

from __future__ import annotations

import json
from datetime import date, timedelta

import boto3
import pytest

from practicepay.billing.schedule import Frequency, nth_date
from practicepay.splash.models import Txn
from practicepay.splash.search import Search
from practicepay.splash.wiring import splash_client
from tests.integration.test_money_core import add_bank, add_card, ledger_matches, new_patient, ok, open_invoice
from tests.integration.test_status_sync import events, invoice

pytestmark = pytest.mark.integration

R01, R02 = "9990000001", "9990000002"
FUNDS_LATE = "4000000000009995"  # the sandbox declines its first sale for insufficient funds, approves later
CONSENT = {"text_version": "plan-2026-01", "accepted_at": "2026-11-26T10:00:00Z", "max_amount": 100_000}


def make_plan(api, practice, inv, method, first: date, count=2, frequency="monthly", **extra) -> dict:
    body = {
        **({"installment_count": count} if count else {}),
        "frequency": frequency,
        "first_date": first.isoformat(),
        "payment_method_id": method,
        "consent": CONSENT,
        **extra,
    }
    return ok(api.call("POST", f"/invoices/{inv}/payment-plan", practice=practice, body=body), 201)


def plan_of(api, practice, inv) -> dict:
    return ok(api.call("GET", f"/invoices/{inv}/payment-plan", practice=practice))


def setup(api, boarded, practice: str, *, card: str | None = "4242424242424242", bank: str | None = None, amount=20000):
    boarded(practice)
    patient = new_patient(api, practice, f"ehr-{practice}")
    method = add_bank(api, practice, patient, account=bank) if bank else add_card(api, practice, patient, number=card)
    inv = open_invoice(api, practice, patient, unit_amount=amount)
    return patient, method["id"], inv


def txns_for(invoice_payments: list[dict]) -> list[Txn]:
    client = splash_client()
    orders = [p["id"] for p in invoice_payments]
    return client.list(Txn, search=Search().in_("order", orders), limit=100).items


def payments_of(api, practice, inv) -> list[dict]:
    return ok(api.call("GET", "/payments", practice=practice, query={"invoice_id": inv, "limit": 100}))["data"]


def kinds(aws_env, practice) -> list[str]:
    return [e["type"] for e in events(aws_env, practice)]


def test_a_six_installment_plan_is_charged_to_the_end(api, aws_env, boarded, sync_stack):
    practice = "prc_plan_six"
    _, card, inv = setup(api, boarded, practice, amount=60_001)
    first = sync_stack.sandbox.today + timedelta(days=5)
    plan = make_plan(api, practice, inv["id"], card, first, count=6)
    amounts = [i["amount"] for i in plan["installments"]]
    assert amounts == [10_000] * 5 + [10_001]  # the cents add up exactly, the remainder last
    assert [i["due_date"] for i in plan["installments"]] == [
        nth_date(first, Frequency.MONTHLY, n).isoformat() for n in range(6)
    ]
    assert invoice(api, practice, inv["id"])["status"] == "in_progress"

    sync_stack.bill(first - timedelta(days=3))  # the notice days before the first charge: announced, not charged
    assert kinds(aws_env, practice).count("installment.upcoming") == 1
    assert payments_of(api, practice, inv["id"]) == []

    for n in range(6):
        report = sync_stack.bill(nth_date(first, Frequency.MONTHLY, n))
        assert report["queued"] >= 1
        current = plan_of(api, practice, inv["id"])
        assert [i["status"] for i in current["installments"]] == ["paid"] * (n + 1) + ["scheduled"] * (5 - n)
        if n < 5:
            assert invoice(api, practice, inv["id"])["status"] == "in_progress"

    done = plan_of(api, practice, inv["id"])
    assert (done["status"], done["amount_paid"]) == ("completed", 60_001)
    after = invoice(api, practice, inv["id"])
    assert (after["status"], after["amount_paid"], after["amount_due"]) == ("paid", 60_001, 0)
    ledger_matches(aws_env, practice, after)
    seen = kinds(aws_env, practice)
    assert seen.count("installment.paid") == 6 and seen.count("invoice.paid") == 1
    assert len(payments_of(api, practice, inv["id"])) == 6
    late_cancel = api.call("POST", f"/invoices/{inv['id']}/payment-plan/cancel", practice=practice)
    assert late_cancel.status_code == 409 and "completed" in late_cancel.get_json()["detail"]


def test_a_soft_decline_is_retried_the_next_day_and_succeeds(api, aws_env, boarded, sync_stack):
    practice = "prc_plan_soft"
    _, card, inv = setup(api, boarded, practice, card=FUNDS_LATE)
    day = sync_stack.sandbox.today
    make_plan(api, practice, inv["id"], card, day, count=2, frequency="weekly")
    sync_stack.bill(day)
    first = plan_of(api, practice, inv["id"])["installments"][0]
    assert first["status"] == "failed" and first["attempts"] == 1
    assert first["failure"]["category"] == "insufficient_funds" and first["failure"]["will_retry"] is True
    assert first["next_attempt_on"] == (day + timedelta(days=1)).isoformat()  # the practice's default +1, +3, +7
    failed = next(e for e in events(aws_env, practice) if e["type"] == "installment.failed")
    assert failed["will_retry"] is True and failed["failure_category"] == "insufficient_funds"

    sync_stack.bill(day)  # the same day again: nothing is due, nothing is charged
    assert len(payments_of(api, practice, inv["id"])) == 1
    sync_stack.bill(day + timedelta(days=1))
    retried = plan_of(api, practice, inv["id"])["installments"][0]
    assert (retried["status"], retried["attempts"]) == ("paid", 2)
    statuses = sorted(p["status"] for p in payments_of(api, practice, inv["id"]))
    assert statuses == ["failed", "succeeded"]


def test_a_hard_decline_is_never_retried(api, aws_env, boarded, sync_stack):
    practice = "prc_plan_hard"
    _, card, inv = setup(api, boarded, practice, amount=24)  # two installments of 12 cents: the lost/stolen trigger
    day = sync_stack.sandbox.today
    make_plan(api, practice, inv["id"], card, day, count=2)
    sync_stack.bill(day)
    first = plan_of(api, practice, inv["id"])["installments"][0]
    assert first["status"] == "past_due" and first["failure"]["category"] == "lost_or_stolen"
    assert first["failure"]["will_retry"] is False and first["next_attempt_on"] is None
    for later in (1, 3, 7, 20):
        sync_stack.bill(day + timedelta(days=later))
    assert len(payments_of(api, practice, inv["id"])) == 1
    seen = kinds(aws_env, practice)
    assert seen.count("installment.failed") == 1 and seen.count("invoice.past_due") == 1
    past_due = next(e for e in events(aws_env, practice) if e["type"] == "invoice.past_due")
    assert past_due["invoice_id"] == inv["id"] and past_due["amount"] == 12


def test_soft_declines_stop_after_the_practice_schedule(api, aws_env, boarded, sync_stack):
    practice = "prc_plan_nsf"
    _, card, inv = setup(api, boarded, practice, amount=100_008)  # installments of $500.04: insufficient funds
    day = sync_stack.sandbox.today
    make_plan(api, practice, inv["id"], card, day, count=2)
    tried = []
    for offset in (0, 1, 3, 7, 8, 30):
        sync_stack.bill(day + timedelta(days=offset))
        tried.append(len(payments_of(api, practice, inv["id"])))
    assert tried == [1, 2, 3, 4, 4, 4]  # the first attempt, then +1, +3, +7 days, then no more
    last = plan_of(api, practice, inv["id"])["installments"][0]
    assert (last["status"], last["attempts"], last["failure"]["will_retry"]) == ("past_due", 4, False)
    assert kinds(aws_env, practice).count("invoice.past_due") == 1


def test_an_r01_return_is_re_presented_twice_then_stopped(api, aws_env, boarded, sync_stack):
    practice = "prc_plan_r01"
    _, bank, inv = setup(api, boarded, practice, bank=R01)
    day = sync_stack.sandbox.today
    make_plan(api, practice, inv["id"], bank, day, count=2, frequency="monthly")
    sync_stack.bill(day)
    for presentment in (1, 2):
        sync_stack.advance(days=2)  # settled, then returned R01
        inst = plan_of(api, practice, inv["id"])["installments"][0]
        assert inst["status"] == "failed" and inst["failure"]["code"] == "R01"
        assert inst["next_attempt_on"] == (day + timedelta(days=5 * presentment)).isoformat()
        redeposit_on = date.fromisoformat(inst["next_attempt_on"])
        sync_stack.advance_to(redeposit_on)
        sync_stack.bill(redeposit_on)
    sync_stack.advance(days=2)  # the second re-presentment is returned too: no third
    inst = plan_of(api, practice, inv["id"])["installments"][0]
    assert inst["status"] == "past_due" and inst["failure"]["will_retry"] is False
    assert inst["attempts"] == 3
    sync_stack.advance_to(day + timedelta(days=30))
    sync_stack.bill(day + timedelta(days=30))
    presented = payments_of(api, practice, inv["id"])
    assert sorted(p["status"] for p in presented) == ["returned"] * 3
    assert sorted(t.type for t in txns_for(presented)) == [7, 11, 11]  # the sale, then two Splash redeposits
    after = invoice(api, practice, inv["id"])
    assert after["amount_paid"] == 0
    ledger_matches(aws_env, practice, after)
    methods = ok(api.call("GET", f"/patients/{presented[0]['patient_id']}/payment-methods", practice=practice))
    assert methods["data"][0]["status"] == "active"  # R01 does not block the account
    seen = kinds(aws_env, practice)
    assert seen.count("payment.returned") == 3 and seen.count("invoice.past_due") == 1


def test_an_r02_return_is_never_re_presented(api, aws_env, boarded, sync_stack):
    practice = "prc_plan_r02"
    _, bank, inv = setup(api, boarded, practice, bank=R02)
    day = sync_stack.sandbox.today
    make_plan(api, practice, inv["id"], bank, day, count=2)
    sync_stack.bill(day)
    sync_stack.advance(days=1)  # settled: the installment is paid
    assert plan_of(api, practice, inv["id"])["installments"][0]["status"] == "paid"
    sync_stack.advance(days=2)  # then returned R02: account closed
    inst = plan_of(api, practice, inv["id"])["installments"][0]
    assert inst["status"] == "past_due" and inst["failure"]["code"] == "R02"
    for later in (5, 10, 40):
        sync_stack.advance_to(day + timedelta(days=later))
        sync_stack.bill(day + timedelta(days=later))
    presented = payments_of(api, practice, inv["id"])
    assert [p["status"] for p in presented] == ["returned"]
    assert [t.type for t in txns_for(presented)] == [7]
    second = plan_of(api, practice, inv["id"])["installments"][1]
    assert second["status"] == "past_due" and "R02" in second["failure"]["message"]  # the account is blocked


def test_the_daily_run_twice_in_a_day_charges_once(api, aws_env, boarded, sync_stack):
    practice = "prc_plan_twice"
    _, card, inv = setup(api, boarded, practice)
    day = sync_stack.sandbox.today
    make_plan(api, practice, inv["id"], card, day, count=2)
    triggers = sync_stack.triggers
    assert triggers.billing_run(day.isoformat())["queued"] >= 1
    assert triggers.billing_run(day.isoformat())["queued"] >= 1  # before the worker ran: queued again
    sync_stack.deliver()
    sync_stack.bill(day)  # and once more after the worker ran
    message = {
        "kind": "installment",
        "practice_id": practice,
        "id": plan_of(api, practice, inv["id"])["installments"][0]["id"],
        "attempt": 1,
        "on": day.isoformat(),
    }
    sqs = boto3.client("sqs")  # a redelivered message, as SQS may deliver one
    sqs.send_message(QueueUrl=aws_env["CHARGE_QUEUE_URL"], MessageBody=json.dumps(message))
    sync_stack.deliver()
    presented = payments_of(api, practice, inv["id"])
    assert [p["status"] for p in presented] == ["succeeded"]
    assert len(txns_for(presented)) == 1
    assert plan_of(api, practice, inv["id"])["installments"][0]["status"] == "paid"


def test_a_membership_issues_and_charges_an_invoice_each_cycle(api, aws_env, boarded, sync_stack):
    practice = "prc_membership"
    patient, card, _ = setup(api, boarded, practice)
    start = sync_stack.sandbox.today
    body = {
        "amount": 4_900,
        "frequency": "monthly",
        "start_date": start.isoformat(),
        "payment_method_id": card,
        "consent": CONSENT,
    }
    sub = ok(api.call("POST", f"/patients/{patient}/subscriptions", practice=practice, body=body), 201)
    assert (sub["status"], sub["next_charge_on"], sub["cycles"]) == ("active", start.isoformat(), [])
    sync_stack.bill(start - timedelta(days=3))  # the notice days before the first cycle: announced, not charged
    upcoming = [e for e in events(aws_env, practice) if e["type"] == "installment.upcoming"]
    assert [(e["subscription_id"], e["seq"], e["charge_on"]) for e in upcoming] == [(sub["id"], 1, start.isoformat())]
    sync_stack.bill(start)
    sync_stack.bill(start)  # twice the same day: one cycle
    second = nth_date(start, Frequency.MONTHLY, 1)
    sync_stack.bill(second)
    now = ok(api.call("GET", f"/subscriptions/{sub['id']}", practice=practice))
    assert [c["status"] for c in now["cycles"]] == ["paid", "paid"]
    upcoming = [e["seq"] for e in events(aws_env, practice) if e["type"] == "installment.upcoming"]
    assert upcoming == [1, 2]  # each cycle announced once; the third's notice date has not come
    assert now["next_charge_on"] == nth_date(start, Frequency.MONTHLY, 2).isoformat()
    for cycle in now["cycles"]:
        issued = invoice(api, practice, cycle["invoice_id"])
        assert (issued["status"], issued["total"], issued["patient_id"]) == ("paid", 4_900, patient)
        assert issued["line_items"][0]["description"] == "Membership fee"
    canceled = ok(api.call("POST", f"/subscriptions/{sub['id']}/cancel", practice=practice))
    assert (canceled["status"], canceled["next_charge_on"]) == ("canceled", None)
    sync_stack.bill(nth_date(start, Frequency.MONTHLY, 2))
    assert len(ok(api.call("GET", f"/subscriptions/{sub['id']}", practice=practice))["cycles"]) == 2
    listed = ok(api.call("GET", f"/patients/{patient}/subscriptions", practice=practice))["data"]
    assert [s["id"] for s in listed] == [sub["id"]]


def test_plan_rules_cancel_change_method_and_early_payment(api, aws_env, boarded, sync_stack):
    practice = "prc_plan_rules"
    patient, card, inv = setup(api, boarded, practice, amount=30_000)
    day = sync_stack.sandbox.today + timedelta(days=10)
    path = f"/invoices/{inv['id']}/payment-plan"
    base = {"frequency": "monthly", "first_date": day.isoformat(), "payment_method_id": card, "consent": CONSENT}
    both = api.call("POST", path, practice=practice, body={**base, "installment_count": 3, "installment_amount": 100})
    assert both.status_code == 422
    low_cap = {**base, "installment_count": 2, "consent": {**CONSENT, "max_amount": 1_000}}
    assert api.call("POST", path, practice=practice, body=low_cap).status_code == 422
    past = {**base, "installment_count": 2, "first_date": "2020-01-01"}
    assert api.call("POST", path, practice=practice, body=past).status_code == 422
    assert api.call("GET", path, practice=practice).status_code == 404

    plan = make_plan(api, practice, inv["id"], card, day, count=None, installment_amount=12_000)
    assert [i["amount"] for i in plan["installments"]] == [12_000, 12_000, 6_000]
    again = api.call("POST", path, practice=practice, body={**base, "installment_count": 2})
    assert again.status_code == 409  # one plan at a time

    other_card = add_card(api, practice, patient, number="5555555555554444")["id"]
    changed = ok(api.call("PATCH", path, practice=practice, body={"payment_method_id": other_card}))
    assert changed["payment_method_id"] == other_card

    early = api.call("POST", f"{path}/installments/1/pay", practice=practice, body={})
    assert early.status_code == 201, early.get_data(as_text=True)
    assert early.get_json()["payment_method_id"] == other_card
    assert plan_of(api, practice, inv["id"])["installments"][0]["status"] == "paid"

    canceled = ok(api.call("POST", f"{path}/cancel", practice=practice))
    assert canceled["status"] == "canceled"
    assert [i["status"] for i in canceled["installments"]] == ["paid", "canceled", "canceled"]
    reopened = invoice(api, practice, inv["id"])
    assert (reopened["status"], reopened["amount_due"], reopened["payment_plan_id"]) == ("partially_paid", 18_000, None)
    sync_stack.bill(day + timedelta(days=62))
    assert len(payments_of(api, practice, inv["id"])) == 1  # nothing charged after the cancel

    draft = ok(
        api.call(
            "POST",
            "/invoices",
            practice=practice,
            body={**api.visit(practice), "patient_id": patient},
        ),
        201,
    )
    refused = api.call(
        "POST", f"/invoices/{draft['id']}/payment-plan", practice=practice, body={**base, "installment_count": 2}
    )
    assert refused.status_code == 409 and "draft" in refused.get_json()["detail"]


def test_a_balance_paid_another_way_is_never_collected_twice(api, aws_env, boarded, sync_stack):
    practice = "prc_plan_covered"
    _, card, inv = setup(api, boarded, practice)
    day = sync_stack.sandbox.today
    make_plan(api, practice, inv["id"], card, day, count=2)  # 2 × 10,000
    paid = api.call(
        "POST", f"/invoices/{inv['id']}/payments", practice=practice, body={"payment_method_id": card, "amount": 15_000}
    )
    assert paid.status_code == 201
    sync_stack.bill(day)  # the first installment collects only the 5,000 left
    sync_stack.bill(nth_date(day, Frequency.MONTHLY, 1))  # the second has nothing left to collect
    amounts = sorted(p["amount"] for p in payments_of(api, practice, inv["id"]))
    assert amounts == [5_000, 15_000]
    plan = plan_of(api, practice, inv["id"])
    assert [i["status"] for i in plan["installments"]] == ["paid", "canceled"]
    after = invoice(api, practice, inv["id"])
    assert (after["status"], after["amount_paid"], after["amount_due"]) == ("paid", 20_000, 0)
    ledger_matches(aws_env, practice, after)


def test_an_autopay_charge_whose_answer_was_lost_is_settled_by_the_reconciler(api, aws_env, boarded, sync_stack):
    practice = "prc_plan_lost"
    _, card, inv = setup(api, boarded, practice)
    day = sync_stack.sandbox.today
    make_plan(api, practice, inv["id"], card, day, count=2)
    sync_stack.fault(
        {"kind": "timeout_after_commit", "count": 3, "path": "/txns", "method": "POST", "delay_seconds": 1.3}
    )
    sync_stack.triggers.billing_run(day.isoformat())
    sync_stack.triggers.drain_all()  # the charge: Splash charged the card but its answer was lost
    sync_stack.clear_faults()
    assert [p["status"] for p in payments_of(api, practice, inv["id"])] == ["unknown"]
    assert plan_of(api, practice, inv["id"])["installments"][0]["status"] == "processing"
    sync_stack.deliver()  # the reconciler (and the alert) find the txn at Splash
    assert [p["status"] for p in payments_of(api, practice, inv["id"])] == ["succeeded"]
    assert plan_of(api, practice, inv["id"])["installments"][0]["status"] == "paid"
    sync_stack.bill(day)  # nothing more is charged
    assert len(txns_for(payments_of(api, practice, inv["id"]))) == 1
