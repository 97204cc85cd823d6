"""No orphan card at Splash: a token this request created for test card numbers is deleted at Splash when the
payment method cannot be stored; a PayFields token the caller sent is left for the caller's retry."""

from __future__ import annotations

import pytest
import requests
from botocore.exceptions import ClientError

from practicepay.patients.store import PatientStore
from practicepay.practices import PracticeStore
from practicepay.splash.models import Token
from practicepay.splash.outbound import CardOrBank, CustomerRequest, TokenRequest
from practicepay.splash.search import Search
from practicepay.splash.wiring import splash_client
from tests.integration.test_money_core import CONSENT

pytestmark = pytest.mark.integration

CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}


def _refusing_writes(monkeypatch) -> None:
    """The payment method's DynamoDB write fails (throughput exceeded: a fault the SDK's retries gave up on)."""

    def put_method(self, rec) -> None:
        error = {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "rate of requests exceeded"}}
        raise ClientError(error, "PutItem")

    monkeypatch.setattr(PatientStore, "put_method", put_method)


def _customer(aws_env, practice: str, patient: str) -> str:
    record = PatientStore(aws_env["PATIENTS_TABLE"]).get(practice, patient)
    assert record is not None and record.splash_customer_id
    return record.splash_customer_id


def _tokens_of(customer: str) -> list[Token]:
    return list(splash_client().iterate(Token, search=Search().equals("customer", customer)))


def _methods(api, practice: str, patient: str) -> list[dict]:
    resp = api.call("GET", f"/patients/{patient}/payment-methods", practice=practice)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()["data"]


def test_a_card_token_is_deleted_at_splash_when_the_method_cannot_be_stored(api, aws_env, boarded, monkeypatch):
    practice = boarded("prc_orphan_card")
    patient = api.patient(practice, "ehr-orphan-card")
    path, body = f"/patients/{patient}/payment-methods", {"card": CARD, "consent": CONSENT}
    _refusing_writes(monkeypatch)

    failed = api.call("POST", path, practice=practice, body=body, key="orphan-card-1")

    assert failed.status_code == 502, failed.get_data(as_text=True)
    customer = _customer(aws_env, practice, patient)
    assert _tokens_of(customer) == [], "the token created for the card is still on file at Splash"
    assert _methods(api, practice, patient) == []

    monkeypatch.undo()  # the write works again: the caller's retry with the same key stores one method
    retried = api.call("POST", path, practice=practice, body=body, key="orphan-card-1")
    assert retried.status_code == 201, retried.get_data(as_text=True)
    assert len(_tokens_of(customer)) == 1
    assert [m["id"] for m in _methods(api, practice, patient)] == [retried.get_json()["id"]]


def test_a_bank_account_token_is_deleted_too(api, aws_env, boarded, monkeypatch):
    practice = boarded("prc_orphan_bank")
    patient = api.patient(practice, "ehr-orphan-bank")
    body = {"bank_account": {"routing_number": "021000021", "account_number": "123456789"}, "consent": CONSENT}
    _refusing_writes(monkeypatch)

    failed = api.call("POST", f"/patients/{patient}/payment-methods", practice=practice, body=body)

    assert failed.status_code == 502, failed.get_data(as_text=True)
    assert _tokens_of(_customer(aws_env, practice, patient)) == []


def test_a_payfields_token_the_caller_sent_is_left_in_place(api, aws_env, boarded, monkeypatch):
    practice = boarded("prc_orphan_payfields")
    patient = api.patient(practice, "ehr-orphan-payfields")
    client = splash_client()
    merchant = PracticeStore(aws_env["PRACTICES_TABLE"]).require(practice).merchant_for_charging()
    # what PayFields does in the patient's browser: a customer of the practice's merchant, and a token for it
    owner = client.create_customer(CustomerRequest(merchant=merchant, custom=patient))
    token = client.tokenize(
        TokenRequest(customer=owner.id, payment=CardOrBank(number=CARD["number"], cvv="123"), expiration="1230")
    )
    _refusing_writes(monkeypatch)

    failed = api.call(
        "POST",
        f"/patients/{patient}/payment-methods",
        practice=practice,
        body={"token": token.token, "consent": CONSENT},
    )

    assert failed.status_code == 502, failed.get_data(as_text=True)
    assert client.get(Token, token.id).token == token.token, "the caller's token was deleted"
    assert _methods(api, practice, patient) == []


def test_when_the_delete_fails_too_the_caller_sees_the_original_error(
    api, aws_env, boarded, monkeypatch, stack_sandbox, caplog
):
    practice = boarded("prc_orphan_stuck")
    patient = api.patient(practice, "ehr-orphan-stuck")
    _refusing_writes(monkeypatch)
    fault = {"kind": "http_500", "path": "/tokens", "method": "DELETE", "count": 10}  # every retry of the delete
    requests.post(f"{stack_sandbox.url}/_sandbox/faults", json=fault, timeout=5).raise_for_status()
    caplog.clear()
    try:
        failed = api.call(
            "POST", f"/patients/{patient}/payment-methods", practice=practice, body={"card": CARD, "consent": CONSENT}
        )
    finally:
        requests.delete(f"{stack_sandbox.url}/_sandbox/faults", timeout=5).raise_for_status()

    # the store's error (the function fails: 502), not the failed delete's processor-unavailable problem (503)
    assert failed.status_code == 502, failed.get_data(as_text=True)
    left = _tokens_of(_customer(aws_env, practice, patient))
    assert len(left) == 1
    logged = [r for r in caplog.records if r.getMessage().startswith("orphan token left at Splash")]
    assert len(logged) == 1
    fields = logged[0].__dict__
    assert (fields["practice_id"], fields["patient_id"], fields["splash_token_id"]) == (practice, patient, left[0].id)
    seen = " ".join(repr(r.__dict__) for r in caplog.records)
    assert left[0].token not in seen and CARD["number"] not in seen
    splash_client().delete(Token, left[0].id, request_token=f"cleanup-{left[0].id}")


def test_an_expired_card_is_refused_before_anything_is_created_at_splash(api, boarded, stack_sandbox):
    practice = boarded("prc_orphan_expired")
    patient = api.patient(practice, "ehr-orphan-expired")
    seen = len(stack_sandbox.sandbox.requests)
    body = {"card": {**CARD, "exp_month": 1, "exp_year": 2020}, "consent": CONSENT}

    refused = api.call("POST", f"/patients/{patient}/payment-methods", practice=practice, body=body)

    assert refused.status_code == 422, refused.get_data(as_text=True)
    assert "expired" in refused.get_json()["detail"]
    assert stack_sandbox.sandbox.requests[seen:] == [], "Splash was called for a card that had expired"
