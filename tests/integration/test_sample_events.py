"""The sample events in events/ are real-shaped: each function answers them when invoked as Lambda would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local.front import LambdaContext, load_handler
from practicepay.auth.tokens import issue_hs256
from tests.helpers import TEST_SECRET

pytestmark = pytest.mark.integration
EVENTS = Path(__file__).resolve().parents[2] / "events"


def _event(name: str) -> dict:
    return json.loads((EVENTS / f"{name}.json").read_text())


def test_authorizer_allows_a_valid_token_and_rejects_the_placeholder(aws_env):
    handler = load_handler("authorizer").lambda_handler
    event = _event("authorizer_request")
    with pytest.raises(Exception, match="^Unauthorized$"):
        handler(event, LambdaContext("authorizer"))

    event["headers"]["Authorization"] = f"Bearer {issue_hs256(TEST_SECRET, 'prc_demo')}"
    policy = handler(event, LambdaContext("authorizer"))
    assert policy["context"]["practice_id"] == "prc_demo"
    (statement,) = policy["policyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Resource"] == ["arn:aws:execute-api:us-east-1:123456789012:abc123/v1/*/*"]


def test_patient_then_invoice_events_create_get_and_list(aws_env):
    patient = load_handler("patients").lambda_handler(_event("patients_create"), LambdaContext("patients"))
    assert patient["statusCode"] == 201, patient["body"]
    patient_id = json.loads(patient["body"])["id"]

    handler = load_handler("invoices").lambda_handler
    create = _event("invoices_create")
    create["body"] = create["body"].replace("<patient_id>", patient_id)
    created = handler(create, LambdaContext("invoices"))
    assert created["statusCode"] == 201, created["body"]
    invoice = json.loads(created["body"])
    assert invoice["total"] == 16700

    get = _event("invoices_get")
    get["path"] = f"/invoices/{invoice['id']}"
    get["pathParameters"]["invoice_id"] = invoice["id"]
    fetched = handler(get, LambdaContext("invoices"))
    assert fetched["statusCode"] == 200 and json.loads(fetched["body"]) == invoice

    listed = handler(_event("invoices_list"), LambdaContext("invoices"))
    assert listed["statusCode"] == 200
    assert invoice["id"] in {i["id"] for i in json.loads(listed["body"])["data"]}


def test_status_sync_events_webhook_queue_reconciler_and_schedule(api, aws_env, boarded):
    from practicepay.splash.wiring import splash_credentials
    from tests.integration.test_money_core import add_card, new_patient, open_invoice, pay

    practice = boarded("prc_demo")
    patient = new_patient(api, practice, "ehr-sample-events")
    paid = pay(api, practice, open_invoice(api, practice, patient)["id"], add_card(api, practice, patient)["id"])

    def filled(name: str) -> dict:
        text = json.dumps(_event(name))
        text = text.replace("<txn_id>", paid["splash_txn_id"]).replace("<payment_id>", paid["id"])
        header = splash_credentials().webhook_header_value.get_secret_value()
        return json.loads(text.replace("<webhook_header_value>", header))

    received = load_handler("webhook").lambda_handler(filled("webhook_alert"), LambdaContext("webhook"))
    assert received["statusCode"] == 200, received["body"]
    assert json.loads(received["body"])["received"] is True
    for function, name in (("alerts", "alerts_sqs"), ("reconciler", "reconciler_sqs")):
        result = load_handler(function).lambda_handler(filled(name), LambdaContext(function))
        assert result == {"batchItemFailures": []}, (function, result)
    report = load_handler("poll").lambda_handler(_event("poll_scheduled"), LambdaContext("poll"))
    assert report["splash_calls"] >= 1 and "changed" in report


def test_billing_events_the_daily_schedule_and_a_charge_message(api, aws_env, boarded):
    from practicepay.clock import utc_now
    from tests.integration.test_billing import make_plan
    from tests.integration.test_money_core import add_card, new_patient, open_invoice

    practice = boarded("prc_demo")
    patient = new_patient(api, practice, "ehr-sample-billing")
    today = utc_now().date()
    plan = make_plan(
        api, practice, open_invoice(api, practice, patient)["id"], add_card(api, practice, patient)["id"], today
    )
    scheduled = _event("billing_scheduled")
    scheduled["time"] = f"{today.isoformat()}T14:00:00Z"
    report = load_handler("billing").lambda_handler(scheduled, LambdaContext("billing"))
    assert report["run_date"] == today.isoformat() and report["queued"] >= 1
    text = json.dumps(_event("charger_sqs"))
    text = text.replace("<installment_id>", plan["installments"][0]["id"]).replace("<run_date>", today.isoformat())
    result = load_handler("charger").lambda_handler(json.loads(text), LambdaContext("charger"))
    assert result == {"batchItemFailures": []}
    first = api.call("GET", f"/invoices/{plan['invoice_id']}/payment-plan", practice=practice).get_json()
    assert first["installments"][0]["status"] == "paid"


def test_clinical_events_an_encounter_from_the_platforms_bus_and_an_outbox_row_for_our_bus(api, aws_env, boarded):
    from local.events import LocalEvents
    from practicepay.ids import new_id
    from tests.integration.test_money_core import new_patient

    practice = boarded("prc_demo")
    patient = new_patient(api, practice, "ehr-sample-encounter")
    event = json.loads(
        json.dumps(_event("encounters_eventbridge")).replace("<patient_external_id>", "ehr-sample-encounter")
    )
    result = load_handler("encounters").lambda_handler(event, LambdaContext("encounters"))
    assert result["result"] == "created", result
    invoice = api.call("GET", f"/invoices/{result['invoice_id']}", practice=practice).get_json()
    assert (invoice["patient_id"], invoice["total"], invoice["encounter_id"]) == (patient, 14_300, "enc-sample-1")

    event_id = new_id("evt")
    stream = json.loads(json.dumps(_event("publisher_stream")).replace("<event_id>", event_id))
    assert load_handler("publisher").lambda_handler(stream, LambdaContext("publisher")) == {"batchItemFailures": []}
    published = [e for e in LocalEvents().published() if e["detail"].get("event_id") == event_id]
    assert [(e["detail-type"], e["detail"]["practice_id"]) for e in published] == [("practice.boarded", "prc_demo")]


def test_messages_events_a_statement_from_the_bus_a_bounce_an_inbound_stop_and_the_sweep(api, aws_env, boarded):
    """The messages function answers each of its sources: our bus's event through SQS, SES's bounce and a patient's
    STOP through SNS, and its schedule."""
    practice = boarded("prc_demo")
    # The statement's text must go now, whatever the hour this runs at (CI runs at night too): no quiet hours
    # (start == end) while this test runs, then the practice's own again.
    hours = ("quiet_start_hour", "quiet_end_hour")
    kept = {k: api.call("GET", f"/practices/{practice}", practice=practice).get_json()["settings"][k] for k in hours}
    off = api.call("PATCH", f"/practices/{practice}/settings", practice=practice, body=dict.fromkeys(hours, 0))
    assert off.status_code == 200, off.get_data(as_text=True)
    try:
        _messages_sources(api, practice)
    finally:
        api.call("PATCH", f"/practices/{practice}/settings", practice=practice, body=kept)


def _messages_sources(api, practice: str) -> None:
    from local.outbox import emails, texts
    from tests.integration.test_money_core import new_patient, open_invoice

    patient = new_patient(api, practice, "ehr-sample-messages")
    # An address of its own: the opt-out ledger is keyed by address, and this test bounces and stops it.
    contact = {"email": "sample-messages@example.net", "phone": "+12025550188"}
    api.call("PATCH", f"/patients/{patient}", practice=practice, body=contact)
    consent = {"text_version": "sms-1", "accepted_at": "2026-12-01T15:30:00Z", "captured_by": "t", "channel": "paper"}
    api.call("POST", f"/patients/{patient}/messaging", practice=practice, body={"sms_consent": consent})
    invoice = open_invoice(api, practice, patient)
    handler = load_handler("messages").lambda_handler
    sent_before, texts_before = len(emails()), len(texts())
    batch = json.dumps(_event("messages_sqs"))
    for name, value in (("<event_id>", "evt_" + "0" * 26), ("<invoice_id>", invoice["id"]), ("<patient_id>", patient)):
        batch = batch.replace(name, value)
    assert handler(json.loads(batch), LambdaContext("messages")) == {"batchItemFailures": []}
    assert len(emails()) == sent_before + 1 and len(texts()) == texts_before + 1
    statement = emails()[-1]
    assert "/pay/" in statement["text"] and "Margaret" not in statement["text"] + statement["html"]

    bounce = json.dumps(_event("messages_ses_bounce"))
    bounce = bounce.replace("<message_id>", statement["id"]).replace("<to>", statement["to"])
    assert handler(json.loads(bounce), LambdaContext("messages")) == {"outcomes": ["bounced"]}
    stop = json.dumps(_event("messages_sms_inbound")).replace("<from>", texts()[-1]["to"])
    assert handler(json.loads(stop), LambdaContext("messages")) == {"outcomes": ["stopped"]}
    messaging = api.call("GET", f"/patients/{patient}/messaging", practice=practice).get_json()
    assert (messaging["email"], messaging["sms"]) == ("suppressed", "stopped")
    listed = api.call("GET", f"/invoices/{invoice['id']}/messages", practice=practice).get_json()["data"]
    assert sorted((m["channel"], m["status"]) for m in listed) == [("email", "bounced"), ("sms", "sent")]

    counts = handler(_event("messages_scheduled"), LambdaContext("messages"))
    assert set(counts) == {"held_sent", "reminders", "reminders_ended"}
