"""Autopay after a decline, over HTTP against the local stack with the sandbox's documented $848.xx triggers: a
soft decline is retried on the practice's card_retry_days; a stop-recurring decline is never retried and the card
is no longer charged (splash-api.md §6.1)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from practicepay.billing.schedule import Frequency, nth_date
from tests.integration.test_billing import kinds, make_plan, payments_of, plan_of, setup
from tests.integration.test_money_core import ok
from tests.integration.test_status_sync import events

pytestmark = pytest.mark.integration

ISSUER_UNAVAILABLE = 84801  # $848.01 "Issuer Unavailable" (Vantiv 101): a soft decline
STOP_RECURRING = 84818  # $848.18 "Cardholder requested that recurring or instalment payment be stopped" (328)


def test_a_soft_decline_is_retried_on_the_practices_card_retry_days(api, aws_env, boarded, sync_stack):
    practice = boarded("prc_decl_soft")
    ok(api.call("PATCH", f"/practices/{practice}/settings", practice=practice, body={"card_retry_days": [2, 5]}))
    _, card, inv = setup(api, boarded, practice, amount=2 * ISSUER_UNAVAILABLE)
    day = sync_stack.sandbox.today
    make_plan(api, practice, inv["id"], card, day, count=2)

    tried = []
    for offset in (0, 1, 2, 4, 5, 9):
        sync_stack.bill(day + timedelta(days=offset))
        tried.append(len(payments_of(api, practice, inv["id"])))
        if offset == 0:
            first = plan_of(api, practice, inv["id"])["installments"][0]
            assert first["status"] == "failed" and first["failure"]["category"] == "try_again_later"
            assert first["failure"]["will_retry"] is True
            assert first["next_attempt_on"] == (day + timedelta(days=2)).isoformat()
    assert tried == [1, 1, 2, 2, 3, 3]  # the first attempt, then +2 and +5 days, then no more
    last = plan_of(api, practice, inv["id"])["installments"][0]
    assert (last["status"], last["attempts"], last["failure"]["will_retry"]) == ("past_due", 3, False)
    failed = [e for e in events(aws_env, practice) if e["type"] == "installment.failed"]
    assert [e["will_retry"] for e in failed] == [True, True, False]
    assert {e["failure_category"] for e in failed} == {"try_again_later"}


def test_a_stop_recurring_decline_ends_autopay_on_the_card(api, aws_env, boarded, sync_stack):
    practice = "prc_decl_stop"
    patient, card, inv = setup(api, boarded, practice, amount=2 * STOP_RECURRING)
    day = sync_stack.sandbox.today
    make_plan(api, practice, inv["id"], card, day, count=2)

    sync_stack.bill(day)
    first = plan_of(api, practice, inv["id"])["installments"][0]
    assert (first["status"], first["failure"]["category"]) == ("past_due", "stop_recurring")
    assert first["failure"]["will_retry"] is False and first["next_attempt_on"] is None
    (declined,) = payments_of(api, practice, inv["id"])
    assert declined["status"] == "failed" and declined["failure"]["category"] == "stop_recurring"
    methods = ok(api.call("GET", f"/patients/{patient}/payment-methods", practice=practice))["data"]
    (method,) = [m for m in methods if m["id"] == card]
    assert method["status"] == "blocked" and method["blocked_reason"].startswith("stop_recurring")

    for later in (1, 3, 7):  # never retried
        sync_stack.bill(day + timedelta(days=later))
    assert len(payments_of(api, practice, inv["id"])) == 1

    second_due = nth_date(day, Frequency.MONTHLY, 1)
    sync_stack.bill(second_due)  # the next installment is not charged to the card either
    second = plan_of(api, practice, inv["id"])["installments"][1]
    assert (second["status"], second["failure"]["category"]) == ("past_due", "not_chargeable")
    assert len(payments_of(api, practice, inv["id"])) == 1
    refused = api.call("POST", f"/invoices/{inv['id']}/payments", practice=practice, body={"payment_method_id": card})
    assert refused.status_code == 409  # a blocked method is refused before anything reaches Splash
    assert kinds(aws_env, practice).count("invoice.past_due") == 2
