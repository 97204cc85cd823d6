"""What PracticePay sends Splash, against the official SDK's request models (eventsprout/payrix, src/Models):
every card charge carries the stored-credential indicator (txns `cofType`: single, scheduled, unscheduled,
installment; splash-api.md §3.1 and §10), and the web alert names its owner and one scope (AlertsPostRequest:
`login` is required; forlogin, team or division)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests.integration.test_billing import make_plan, setup
from tests.integration.test_money_core import add_bank, ok, pay

pytestmark = pytest.mark.integration


def sent_txns(sandbox, since: int) -> list[dict]:
    return [r["body"] for r in sandbox.requests[since:] if (r["method"], r["path"]) == ("POST", "/txns")]


def test_a_one_off_card_payment_is_a_single_stored_credential_charge_and_an_echeck_carries_none(
    api, boarded, stack_sandbox
):
    practice = "prc_cof_one_off"
    patient, card, inv = setup(api, boarded, practice, amount=20_000)
    bank = add_bank(api, practice, patient)["id"]
    since = len(stack_sandbox.sandbox.requests)
    pay(api, practice, inv["id"], card, 5_000)
    pay(api, practice, inv["id"], bank, 5_000)
    assert [body.get("cofType") for body in sent_txns(stack_sandbox.sandbox, since)] == ["single", None]


def test_a_payment_plan_charge_is_an_installment_stored_credential_charge(api, boarded, stack_sandbox):
    practice = "prc_cof_plan"
    _, card, inv = setup(api, boarded, practice, amount=20_000)
    make_plan(api, practice, inv["id"], card, datetime.now(UTC).date() + timedelta(days=10))
    since = len(stack_sandbox.sandbox.requests)
    path = f"/invoices/{inv['id']}/payment-plan/installments/1/pay"
    ok(api.call("POST", path, practice=practice, body={}, key=str(uuid.uuid4())), 201)
    assert [body.get("cofType") for body in sent_txns(stack_sandbox.sandbox, since)] == ["installment"]


def test_the_web_alert_is_owned_by_and_scoped_to_the_api_keys_login(aws_env, stack_sandbox):
    from practicepay.splash.wiring import splash_credentials
    from practicepay.sync.registration import register

    creds = splash_credentials()
    alert_id = register("http://127.0.0.1:9/webhooks/splash")
    url, headers = f"{stack_sandbox.url}/alerts/{alert_id}", {"APIKEY": creds.api_key.get_secret_value()}
    alert = requests.get(url, headers=headers, timeout=5).json()["response"]["data"][0]
    assert (alert["login"], alert["forlogin"]) == (creds.login_id, creds.login_id)
    requests.delete(url, headers=headers, timeout=5)  # deliver nothing to the made-up URL


def test_registering_without_the_login_says_what_to_add(aws_env, monkeypatch):
    from practicepay.splash import wiring
    from practicepay.sync import registration

    creds = wiring.splash_credentials().model_copy(update={"login_id": None})
    monkeypatch.setattr(wiring, "splash_credentials", lambda *_: creds)
    with pytest.raises(SystemExit, match="login_id"):
        registration.register("http://127.0.0.1:9/webhooks/splash")


def test_a_charge_splash_refused_is_sent_again_under_a_new_request_token(api, boarded, stack_sandbox):
    """Payrix answers a REQUEST-TOKEN's repeat with its first answer for 48 h, a refusal included (splash-api.md
    §10): the same Idempotency-Key sent again after a refusal must reach Splash under another token, or it could
    never succeed (after a lost answer it keeps the token: test_money_core, test_exactly_once)."""
    practice = "prc_refused_token"
    _, card, inv = setup(api, boarded, practice, amount=20_000)
    fault = {"kind": "refusal", "count": 1, "path": "/txns", "method": "POST"}
    requests.post(f"{stack_sandbox.url}/_sandbox/faults", json=fault, timeout=5).raise_for_status()
    since, key = len(stack_sandbox.sandbox.requests), str(uuid.uuid4())
    body = {"payment_method_id": card, "amount": 5_000}
    path = f"/invoices/{inv['id']}/payments"
    refused = ok(api.call("POST", path, practice=practice, body=body, key=key), 422)
    assert "refused" in refused["detail"]

    paid = ok(api.call("POST", path, practice=practice, body=body, key=key), 201)
    assert paid["status"] == "succeeded"
    tokens = [
        r["headers"].get("Request-Token")
        for r in stack_sandbox.sandbox.requests[since:]
        if (r["method"], r["path"]) == ("POST", "/txns")
    ]
    assert tokens == [paid["id"], f"{paid['id']}.1"]


def test_a_refund_splash_refused_is_sent_again_under_a_new_request_token(api, boarded, stack_sandbox):
    practice = "prc_refused_refund"
    _, card, inv = setup(api, boarded, practice, amount=20_000)
    paid = pay(api, practice, inv["id"], card, 5_000)
    fault = {"kind": "refusal", "count": 1, "path": "/txns", "method": "POST"}
    requests.post(f"{stack_sandbox.url}/_sandbox/faults", json=fault, timeout=5).raise_for_status()
    since, key, path = len(stack_sandbox.sandbox.requests), str(uuid.uuid4()), f"/payments/{paid['id']}/refunds"
    ok(api.call("POST", path, practice=practice, body={"amount": 1_000}, key=key), 409)
    refund = ok(api.call("POST", path, practice=practice, body={"amount": 1_000}, key=key), 201)
    assert refund["status"] == "succeeded"
    tokens = [
        r["headers"].get("Request-Token")
        for r in stack_sandbox.sandbox.requests[since:]
        if (r["method"], r["path"]) == ("POST", "/txns")
    ]
    assert tokens == [refund["id"], f"{refund['id']}.1"]
