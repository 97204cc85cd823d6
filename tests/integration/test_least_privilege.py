"""Every AWS action a function performs while the integration flows run is granted by that function's IAM
policy in the synthesized template (moto does not enforce IAM, so a missing grant would only show in AWS).
The call log (local.calls) records (function, action, resource) as the handlers run."""

from __future__ import annotations

import json
import re
import tempfile
import uuid
from datetime import timedelta

import boto3
import pytest

from infra.definitions import (
    DOCS,
    ENCOUNTER_DETAIL_TYPE,
    FUNCTIONS,
    JWT_SECRET_LOCAL_NAME,
    PLATFORM_EVENT_BUS_LOCAL_NAME,
    PLATFORM_EVENT_SOURCE,
    QUEUES,
    SPLASH_SECRET_LOCAL_NAME,
    TABLES,
)
from local.calls import CallLog
from practicepay.auth import ADMIN_SCOPE
from practicepay.auth.tokens import issue_hs256
from practicepay.clock import utc_now
from practicepay.staff.roles import Role
from tests.helpers import TEST_SECRET
from tests.integration.test_billing import CONSENT as PLAN_CONSENT
from tests.integration.test_billing import make_plan
from tests.integration.test_clinical import VISIT
from tests.integration.test_money_core import add_bank, add_card, new_patient, ok, open_invoice, pay
from tests.integration.test_paypage import Patient as PagePatient
from tests.integration.test_paypage import Staff as PageStaff
from tests.integration.test_paypage import card_form, fields, payfields_config, tokenize
from tests.integration.test_practices import BOARDING

FUNCTION_NAMES = [f.name for f in FUNCTIONS]
CALLS_NOTHING = {DOCS.name}
"""Functions that make no AWS call (the docs function reads a file of its asset): none may appear in the log."""

pytestmark = pytest.mark.integration


def _template() -> dict:
    from app import build_app
    from local.bootstrap import LOCAL_ORIGINATION_NUMBER, LOCAL_SENDER

    # The local stack sends email and texts: the stack's grants for both exist only with these options set.
    context = {
        "aws:cdk:bundling-stacks": [],
        "messages_from": LOCAL_SENDER,
        "sms_origination_number": LOCAL_ORIGINATION_NUMBER,
    }
    app, _ = build_app(outdir=tempfile.mkdtemp(), context=context, attach_nag=False)
    return app.synth().get_stack_by_name("PracticePay").template


def _logical(template: dict, kind: str, prefix: str) -> str:
    (key,) = [k for k, v in template["Resources"].items() if v["Type"] == kind and k.startswith(prefix)]
    return key


def _resource_ref(template: dict, resource: str) -> str | None:
    """How the template names a resource the call log saw (a JSON fragment); None: any resource will do."""
    table_name, _, index = resource.partition("/index/")
    for table in TABLES:
        if table.local_name == table_name:
            arn = {"Fn::GetAtt": [_logical(template, "AWS::DynamoDB::Table", f"Data{table.logical_id}"), "Arn"]}
            return json.dumps(arn if not index else {"Fn::Join": ["", [arn, f"/index/{index}"]]})
    for queue in QUEUES:
        if resource in (queue.local_name, f"{queue.local_name}.fifo"):
            return json.dumps({"Fn::GetAtt": [_logical(template, "AWS::SQS::Queue", f"Data{queue.logical_id}"), "Arn"]})
    secrets = {SPLASH_SECRET_LOCAL_NAME: "DataSplashCredentials", JWT_SECRET_LOCAL_NAME: "DataJwtSigningSecret"}
    if resource in secrets:
        return json.dumps({"Ref": _logical(template, "AWS::SecretsManager::Secret", secrets[resource])})
    return None  # KMS (the one key) and the rest: the action alone is checked


def _granted(template: dict, function: str, action: str, resource: str) -> bool:
    (policy,) = [
        v["Properties"]["PolicyDocument"]
        for v in template["Resources"].values()
        if v["Type"] == "AWS::IAM::ManagedPolicy"
        and v["Properties"].get("Description") == f"PracticePay {function} function: least privilege"
    ]
    wanted = _resource_ref(template, resource)
    for statement in policy["Statement"]:
        acts = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if action in acts and (wanted is None or wanted in {json.dumps(r) for r in resources}):
            return True
    return False


def _messages(api, practice: str, patient: str, invoice: str) -> None:
    """Patient messages: staff read them and the patient's preferences; SES's bounce and a patient's STOP reach the
    messages function through SNS; the sweep (reminders, held texts)."""
    from local.front import LambdaContext, load_handler
    from local.outbox import emails, texts

    assert ok(api.call("GET", f"/patients/{patient}/messages", practice=practice))["data"]
    ok(api.call("GET", f"/invoices/{invoice}/messages", practice=practice))
    ok(api.call("GET", f"/patients/{patient}/messaging", practice=practice))
    handler = load_handler("messages").lambda_handler
    assert emails() and texts()
    # Addresses no other test uses: the opt-out ledger is keyed by address, and the shared test patient's must stay.
    bounce = {"eventType": "Bounce", "mail": {"messageId": emails()[-1]["id"]}}
    bounce["bounce"] = {"bounceType": "Permanent", "bouncedRecipients": [{"emailAddress": "least@example.net"}]}
    stop = {"originationNumber": "+12025550177", "messageBody": "STOP"}
    for notice in (bounce, stop):
        event = {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": json.dumps(notice)}}]}
        handler(event, LambdaContext("messages"))
    handler({"detail-type": "Scheduled Event", "detail": {"sweep": True}}, LambdaContext("messages"))


def _funds(api, practice: str, day) -> None:  # noqa: ANN001
    """Deposits (the sandbox's midnight disbursements of the days advanced: the report, one deposit as JSON and as
    FHIR) and disputes (the list, by status, one that is not there). The sandbox books no chargeback yet (issue
    #19's next step), so a dispute's evidence, answer and acceptance are not exercised here."""
    window = {"from": (day - timedelta(days=30)).isoformat(), "to": day.isoformat()}
    deposits = ok(api.call("GET", "/reports/deposits", practice=practice, query=window))["data"]
    assert deposits
    ok(api.call("GET", f"/deposits/{deposits[0]['id']}", practice=practice))
    fhir = {"Accept": "application/fhir+json"}
    assert api.call("GET", f"/deposits/{deposits[0]['id']}", practice=practice, headers=fhir).status_code == 200
    ok(api.call("GET", "/disputes", practice=practice))
    ok(api.call("GET", "/disputes", practice=practice, query={"status": "needs_response"}))
    assert api.call("GET", "/disputes/dsp_least_none", practice=practice).status_code == 404


def _pay_page(front: str, practice: str) -> None:
    """Pay links (staff) and the pay page (a patient without a browser): a link, a wrong and a right answer, the
    bill (a txnSession, the Splash customer), a saved card's payment and its receipt, a bank account verified and
    debited, a plan chosen on the page, five wrong answers that lock a link (its event), a revoke."""
    staff = PageStaff(front, practice)
    bill = staff.bill((6000, 4000))
    staff.call("GET", f"/invoices/{bill['invoice']['id']}/pay-links")
    patient = PagePatient(front)
    patient.identify(bill, dob="1990-01-01", status=422)
    patient.identify(bill)
    page = patient.get(bill["path"]).text
    paid = patient.post(bill["path"] + "/payments", card_form(page, amount_choice="other", amount="50.00", save="on"))
    assert paid.status_code == 303, paid.text
    assert patient.get(paid.headers["Location"]).status_code == 200  # the receipt
    bank = patient.get(bill["path"], method="bank").text
    token = tokenize(payfields_config(bank), {"method": 8, "number": "123456789", "routing": "021000021"}, None)
    form = {k: fields(bank)[k] for k in ("csrf", "lang", "submit_id", "started")}
    form.update(method="bank", amount_choice="full", token=token, ach_consent="on")
    assert patient.post(bill["path"] + "/payments", form).status_code == 303
    plan_bill = staff.bill((30000,), patient=bill["patient"])
    planner = PagePatient(front)
    planner.identify(plan_bill)
    page = planner.get(plan_bill["path"]).text
    hidden = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', page)[5:10])  # the plan form
    plan = {
        **{k: hidden[k] for k in ("csrf", "lang", "submit_id", "started")},
        "token": tokenize(payfields_config(page), {"number": "4242424242424242", "cvv": "123"}),
        "installments": "2",
        "first": re.search(r'name="first" value="([0-9-]+)"', page).group(1),
        "plan_consent": "on",
    }
    assert planner.post(plan_bill["path"] + "/plan", plan).status_code == 201
    locked = staff.bill()
    guesser = PagePatient(front)
    for status in (422, 422, 422, 422, 423):  # the 5th locks it
        guesser.identify(locked, dob="1990-01-01", status=status)
    staff.call("POST", f"/pay-links/{locked['link']['id']}/revoke")


def _dashboard(api, front: str, practice: str, patient: str, card: str) -> None:  # noqa: ANN001
    """Staff on the dashboard: sign in, Today, search, a patient's and an invoice's pages (PayFields), a desk payment
    and its refund, a pay link, a plan, a write-off, a cancel, the reports and their CSVs, the audit trail, settings."""
    from tests.integration.test_dashboard import STARTED, Desk

    desk = Desk(front, practice, Role.ADMIN, name="Lee Least")
    invoices = [open_invoice(api, practice, patient, unit_amount=4000)["id"] for _ in range(5)]
    for path in ("/dashboard", f"/dashboard/patients/{patient}", f"/dashboard/invoices/{invoices[0]}"):
        assert desk.get(path).status_code == 200, path
    assert desk.get("/dashboard/patients", q="visit").status_code == 200
    assert desk.get(f"/dashboard/invoices/{invoices[0]}", payfields="1").status_code == 200
    form = {"payment_method_id": card, "amount": "20.00", "submit_id": uuid.uuid4().hex, "started": STARTED}
    assert desk.post(f"/dashboard/invoices/{invoices[0]}/payments", form).status_code == 303
    (payment,) = ok(api.call("GET", "/payments", practice=practice, query={"invoice_id": invoices[0]}))["data"]
    refund = {"amount": "5.00", "reason": "billing_error", "submit_id": uuid.uuid4().hex}
    assert desk.post(f"/dashboard/payments/{payment['id']}/refunds", refund).status_code == 303
    assert desk.post(f"/dashboard/invoices/{invoices[1]}/pay-links", {"submit_id": uuid.uuid4().hex}).status_code == 201
    plan = {
        "installment_count": "2",
        "frequency": "monthly",
        "first_date": (utc_now().date() + timedelta(days=3)).isoformat(),
        "payment_method_id": card,
        "submit_id": uuid.uuid4().hex,
        "started": STARTED,
    }
    assert desk.post(f"/dashboard/invoices/{invoices[2]}/payment-plan", plan).status_code == 303
    assert desk.post(f"/dashboard/invoices/{invoices[3]}/write-off", {"reason": "hardship"}).status_code == 303
    assert desk.post(f"/dashboard/invoices/{invoices[4]}/cancel", {"reason": "duplicate"}).status_code == 303
    for tab in ("aging", "payments", "deposits", "disputes"):
        assert desk.get("/dashboard/reports", tab=tab).status_code == 200, tab
        assert desk.get(f"/dashboard/reports/{tab}/csv").status_code == 200, tab
    for path in ("/dashboard/disputes", "/dashboard/audit", "/dashboard/audit/csv", "/dashboard/settings"):
        assert desk.get(path).status_code == 200, path
    assert desk.get("/dashboard/users").status_code == 200
    assert desk.post("/dashboard/settings", {"pay_link_days": "21"}).status_code == 303
    assert desk.post("/dashboard/signout", {}).status_code == 303


def test_every_aws_call_a_function_makes_is_granted_by_its_policy(api, aws_env, boarded, sync_stack, front):
    log = CallLog.install()  # installed with the embedded AWS: holds every flow the session has run so far
    practice = boarded("prc_least_privilege")
    # The flows every function runs: patients, methods, invoices, card and eCheck payments, a void, lists,
    # alerts (settlement and an R02 return that blocks the account), the poll and the reconciler.
    # Texts must go now whatever the hour this runs at: no quiet hours (start == end), or they wait for the sweep.
    quiet = {"quiet_start_hour": 0, "quiet_end_hour": 0}
    ok(api.call("PATCH", f"/practices/{practice}/settings", practice=practice, body=quiet))
    patient = new_patient(api, practice, "ehr-least-privilege")
    sms = {"text_version": "sms-1", "accepted_at": "2026-12-01T15:30:00Z", "captured_by": "t", "channel": "paper"}
    ok(api.call("POST", f"/patients/{patient}/messaging", practice=practice, body={"sms_consent": sms}))
    card = add_card(api, practice, patient)
    bank = add_bank(api, practice, patient, account="9990000002")
    ok(api.call("GET", "/patients", practice=practice, query={"external_id": "ehr-least-privilege"}))
    # a rename: the blind-index terms the new name has are put, the old name's deleted, in the patient's transaction
    ok(api.call("PATCH", f"/patients/{patient}", practice=practice, body={"last_name": "Lopez-Ruiz"}))
    ok(api.call("GET", f"/patients/{patient}/payment-methods", practice=practice))
    card_invoice = open_invoice(api, practice, patient, unit_amount=5000)
    paid = pay(api, practice, card_invoice["id"], card["id"])
    ok(api.call("POST", f"/payments/{paid['id']}/refunds", practice=practice, body={"amount": 1000}), 201)
    echeck = pay(api, practice, open_invoice(api, practice, patient, unit_amount=7000)["id"], bank["id"])
    ok(api.call("GET", "/invoices", practice=practice, query={"patient_id": patient}))
    ok(api.call("GET", "/invoices", practice=practice, query={"status": "open"}))
    ok(api.call("GET", "/payments", practice=practice, query={"invoice_id": card_invoice["id"]}))
    ok(api.call("GET", "/payments", practice=practice, query={"status": "succeeded"}))
    fault = {"kind": "timeout_after_commit", "count": 3, "path": "/txns", "method": "POST", "delay_seconds": 1.3}
    sync_stack.fault(fault)
    pay(api, practice, open_invoice(api, practice, patient, unit_amount=3000)["id"], card["id"], status=202)
    sync_stack.clear_faults()
    sync_stack.advance(days=3)  # alerts: approvals, the settlement, the R02 return; the reconciler's message
    sync_stack.poll()
    assert ok(api.call("GET", f"/payments/{echeck['id']}", practice=practice))["status"] == "returned"
    # Plans and memberships: make, read, change, pay early, cancel; the daily run and the charge worker.
    day = sync_stack.sandbox.today
    plan_invoice = open_invoice(api, practice, patient, unit_amount=9000)["id"]
    make_plan(api, practice, plan_invoice, card["id"], day, count=3)
    ok(
        api.call(
            "PATCH", f"/invoices/{plan_invoice}/payment-plan", practice=practice, body={"payment_method_id": card["id"]}
        )
    )
    ok(api.call("POST", f"/invoices/{plan_invoice}/payment-plan/installments/2/pay", practice=practice, body={}), 201)
    membership = {
        "amount": 1500,
        "frequency": "weekly",
        "start_date": day.isoformat(),
        "payment_method_id": card["id"],
        "consent": PLAN_CONSENT,
    }
    sub = ok(api.call("POST", f"/patients/{patient}/subscriptions", practice=practice, body=membership), 201)
    sync_stack.bill(day)
    ok(api.call("GET", f"/invoices/{plan_invoice}/payment-plan", practice=practice))
    ok(api.call("GET", f"/patients/{patient}/subscriptions", practice=practice))
    ok(api.call("POST", f"/subscriptions/{sub['id']}/cancel", practice=practice))
    ok(api.call("POST", f"/invoices/{plan_invoice}/payment-plan/cancel", practice=practice))
    # Onboarding and settings; encounters (the API and the platform's bus); reports; the outbox published.
    admin = {"Authorization": f"Bearer {issue_hs256(TEST_SECRET, 'platform-ops', scope=ADMIN_SCOPE)}"}
    onboard = {**BOARDING, "practice_id": "prc_least_new"}
    ok(api.call("POST", "/practices", practice=None, body=onboard, headers=admin), 201)
    ok(
        api.call(
            "PATCH", f"/practices/{practice}/settings", practice=practice, body={"encounter_invoice_status": "open"}
        )
    )
    ok(api.call("GET", f"/practices/{practice}", practice=practice))
    external = ok(api.call("GET", f"/patients/{patient}", practice=practice))["external_id"]
    visit = {**VISIT, "patient_external_id": external}
    ok(api.call("POST", "/events/encounters", practice=practice, body=visit), 201)
    ok(api.call("POST", "/events/encounters", practice=practice, body={**visit, "revision": 2}), 409)  # issued
    boto3.client("events").put_events(
        Entries=[
            {
                "Source": PLATFORM_EVENT_SOURCE,
                "DetailType": ENCOUNTER_DETAIL_TYPE,
                "Detail": json.dumps({**visit, "encounter_id": "enc-least-bus", "practice_id": practice}),
                "EventBusName": PLATFORM_EVENT_BUS_LOCAL_NAME,
            }
        ]
    )
    today = utc_now().date()  # payment ids are stamped with the real clock, not the sandbox's
    month = {"from": (today - timedelta(days=30)).isoformat(), "to": today.isoformat()}
    assert ok(api.call("GET", "/reports/payments", practice=practice, query=month))["data"]
    ok(
        api.call(
            "GET",
            "/reports/payments",
            practice=practice,
            query={**month, "status": "succeeded"},
        )
    )
    csv = api.call("GET", "/reports/receivables", practice=practice, headers={"Accept": "text/csv"})
    assert csv.status_code == 200 and csv.content_type.startswith("text/csv")
    _funds(api, practice, sync_stack.sandbox.today)
    _pay_page(front, practice)
    _dashboard(api, front, practice, patient, card["id"])
    sync_stack.deliver()  # the encounter on the bus; the outbox onto our bus
    sync_stack.deliver()  # our bus's events to the messages function (statements, receipts, notices)
    _messages(api, practice, patient, card_invoice["id"])
    assert ok(api.call("GET", "/openapi.json", practice=None))["openapi"].startswith("3.")  # public: no token

    template = _template()
    calls = sorted(log.calls)
    functions = {function for function, _, _ in calls}
    assert set(FUNCTION_NAMES) - CALLS_NOTHING <= functions
    assert not functions & CALLS_NOTHING, sorted(call for call in calls if call[0] in CALLS_NOTHING)
    missing = [call for call in calls if not _granted(template, *call)]
    assert not missing, "not granted by the function's policy: " + ", ".join(map(str, missing))
