"""Onboarding over HTTP: a practice boarded as a Splash merchant through the sandbox, its status kept current by
alerts and by the poll, its settings, and what is never stored."""

from __future__ import annotations

import copy
import json
import uuid

import boto3
import pytest

from practicepay.auth import ADMIN_SCOPE
from practicepay.auth.tokens import issue_hs256
from practicepay.splash.models import Merchant
from practicepay.splash.search import Search
from practicepay.splash.wiring import splash_client
from tests.helpers import TEST_SECRET
from tests.integration.test_money_core import CONSENT

pytestmark = pytest.mark.integration

SSN, ACCOUNT, EIN = "123456789", "987654321012", "551234567"
BOARDING = {
    "legal_name": "Lakeside Family Medicine LLC",
    "dba": "Lakeside Family Medicine",
    "ein": EIN,
    "address": {"line1": "200 Lake St", "city": "Springfield", "state": "IL", "zip": "62704"},
    "phone": "2175550199",
    "email": "office@lakeside.example",
    "owners": [
        {
            "first_name": "Ada",
            "last_name": "Lake",
            "date_of_birth": "1975-04-02",
            "ssn": SSN,
            "ownership_bp": 6000,
            "primary": True,
        },
        {
            "first_name": "Ben",
            "last_name": "Lake",
            "date_of_birth": "1978-11-30",
            "ssn": "223456789",
            "ownership_bp": 4000,
        },
    ],
    "bank_account": {"kind": "corporate_checking", "routing_number": "021000021", "account_number": ACCOUNT},
    "timezone": "America/Chicago",
    "terms_acceptance": {"version": "4.21", "accepted_at": "2026-11-20T15:04:00Z", "ip": "198.51.100.23"},
    "settings": {"notice_days": 5, "encounter_invoice_status": "open"},
}


def admin(api, method: str, path: str, body=None):
    token = issue_hs256(TEST_SECRET, "platform-ops", scope=ADMIN_SCOPE)
    return api.call(method, path, practice=None, body=body, headers={"Authorization": f"Bearer {token}"})


def boarding(practice_id: str, **changes) -> dict:
    return {**copy.deepcopy(BOARDING), "practice_id": practice_id, **changes}


def entity_posts(sync_stack, dba: str) -> list[dict]:
    return [
        r
        for r in sync_stack.sandbox.requests
        if (r["method"], r["path"]) == ("POST", "/entities") and r["body"]["merchant"].get("dba") == dba
    ]


def test_a_practice_is_boarded_through_splash_and_its_status_follows_the_alerts(api, aws_env, sync_stack, capsys):
    created = admin(api, "POST", "/practices", boarding("prc_onboard_lake"))
    assert created.status_code == 201, created.get_data(as_text=True)
    practice = created.get_json()
    assert practice["boarding_status"] == "submitted"
    assert practice["can_take_payments"] is False
    assert practice["bank_account_last4"] == "1012"
    assert practice["settings"]["notice_days"] == 5
    assert practice["settings"]["card_retry_days"] == [1, 3, 7]  # the defaults for what was not sent
    assert created.headers["Location"] == "/practices/prc_onboard_lake"

    # What went to Splash, in one POST /entities: the business, both owners with their shares, the account.
    sent = [r["body"] for r in sync_stack.sandbox.requests if (r["method"], r["path"]) == ("POST", "/entities")]
    entity = next(b for b in sent if b["name"] == "Lakeside Family Medicine LLC" and b["phone"] == "2175550199")
    assert (entity["type"], entity["merchant"]["mcc"], entity["address1"]) == (2, "8011", "200 Lake St")
    owners = [(m["first"], m["ownership"], m["primary"]) for m in entity["merchant"]["members"]]
    assert owners == [("Ada", 6000, 1), ("Ben", 4000, 0)]
    assert entity["accounts"][0]["account"]["routing"] == "021000021"

    # The practice's own token sees it; it cannot charge until Splash boards it.
    assert (
        api.call("GET", "/practices/prc_onboard_lake", practice="prc_onboard_lake").get_json()["boarding_status"]
        == "submitted"
    )
    patient = api.patient("prc_onboard_lake", "ehr-lake-1")
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}
    methods = f"/patients/{patient}/payment-methods"
    body = {"card": card, "consent": CONSENT}
    early = api.call("POST", methods, practice="prc_onboard_lake", body=body)
    assert early.status_code == 409, early.get_data(as_text=True)

    sync_stack.advance(days=1)
    assert (
        api.call("GET", "/practices/prc_onboard_lake", practice="prc_onboard_lake").get_json()["boarding_status"]
        == "underwriting"
    )
    sync_stack.advance(days=1)
    boarded = api.call("GET", "/practices/prc_onboard_lake", practice="prc_onboard_lake").get_json()
    assert (boarded["boarding_status"], boarded["can_take_payments"]) == ("boarded", True)
    assert api.call("POST", methods, practice="prc_onboard_lake", body=body).status_code == 201

    # Never stored, never logged: owner SSNs, the EIN, the full account number.
    item = (
        boto3.resource("dynamodb").Table(aws_env["PRACTICES_TABLE"]).get_item(Key={"practice_id": "prc_onboard_lake"})
    )
    stored = json.dumps(item["Item"], default=str)
    logs = capsys.readouterr()
    for secret in (SSN, "223456789", ACCOUNT, EIN):
        assert secret not in stored
        assert secret not in logs.out + logs.err


def test_a_lost_boarding_alert_is_caught_up_by_the_poll(api, sync_stack):
    assert admin(api, "POST", "/practices", boarding("prc_onboard_poll")).status_code == 201
    sync_stack.fault({"kind": "alerts", "mode": "drop", "count": 50})
    sync_stack.advance(days=2)  # boarded at Splash; every alert lost
    sync_stack.clear_faults()
    assert (
        api.call("GET", "/practices/prc_onboard_poll", practice="prc_onboard_poll").get_json()["boarding_status"]
        == "submitted"
    )
    report = sync_stack.poll()
    assert report["outcomes"].get("boarding", 0) >= 1
    assert (
        api.call("GET", "/practices/prc_onboard_poll", practice="prc_onboard_poll").get_json()["boarding_status"]
        == "boarded"
    )


def test_onboarding_is_idempotent_on_the_practice_id(api, sync_stack):
    first = admin(api, "POST", "/practices", boarding("prc_onboard_twice", dba="prc_onboard_twice"))
    again = admin(api, "POST", "/practices", boarding("prc_onboard_twice", dba="prc_onboard_twice"))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["splash_merchant_id"] == first.get_json()["splash_merchant_id"]
    assert len(entity_posts(sync_stack, "prc_onboard_twice")) == 1  # Splash was asked once


def test_a_lost_splash_answer_is_resubmitted_under_the_same_request_token(api, aws_env, sync_stack):
    sync_stack.fault(
        {"kind": "timeout_after_commit", "count": 3, "path": "/entities", "method": "POST", "delay_seconds": 1.3}
    )
    lost = admin(api, "POST", "/practices", boarding("prc_onboard_lost", dba="Lost Answer Clinic"))
    sync_stack.clear_faults()
    assert lost.status_code == 503, lost.get_data(as_text=True)
    pending = api.call("GET", "/practices/prc_onboard_lost", practice="prc_onboard_lost").get_json()
    assert pending["boarding_status"] == "submitting"
    retried = admin(api, "POST", "/practices", boarding("prc_onboard_lost", dba="Lost Answer Clinic"))
    assert retried.status_code == 200 and retried.get_json()["boarding_status"] == "submitted"
    merchants = splash_client().list(Merchant, search=Search().equals("dba", "Lost Answer Clinic"), limit=10).items
    assert [m.id for m in merchants] == [retried.get_json()["splash_merchant_id"]]  # one merchant, not two


def test_splash_refusals_come_back_as_the_requests_own_fields_and_nothing_is_kept(api, aws_env, sync_stack):
    bad = boarding("prc_onboard_bad")
    bad["bank_account"]["routing_number"] = "123456789"  # fails the ABA check digit at Splash
    refused = admin(api, "POST", "/practices", bad)
    assert refused.status_code == 422
    problem = refused.get_json()
    assert refused.content_type == "application/problem+json"
    assert {e["field"] for e in problem["errors"]} == {"bank_account.routing_number"}
    assert admin(api, "GET", "/practices/prc_onboard_bad").status_code == 404  # nothing half-written
    fixed = admin(api, "POST", "/practices", boarding("prc_onboard_bad"))
    assert fixed.status_code == 201


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"owners": [{**BOARDING["owners"][0], "ownership_bp": 10001}]}, "owners[0].ownership_bp"),
        ({"ein": "12-345"}, "ein"),
        ({"owners": []}, "owners"),
        ({"settings": {"card_retry_days": [3, 1]}}, "settings.card_retry_days"),
    ],
)
def test_bad_boarding_requests_are_refused_before_splash(api, sync_stack, change, field):
    before = len(sync_stack.sandbox.requests)
    refused = admin(api, "POST", "/practices", boarding(f"prc_onboard_{uuid.uuid4().hex[:8]}", **change))
    assert refused.status_code == 422
    assert any(e["field"].startswith(field) for e in refused.get_json()["errors"]), refused.get_json()
    assert len(sync_stack.sandbox.requests) == before  # Splash never asked


def test_only_an_admin_token_onboards_and_a_practice_sees_only_itself(api, sync_stack):
    denied = api.call("POST", "/practices", practice="prc_alpha", body=boarding("prc_onboard_denied"))
    assert denied.status_code == 403
    assert denied.get_json()["type"] == "urn:practicepay:problem:forbidden"
    assert admin(api, "POST", "/practices", boarding("prc_onboard_own")).status_code == 201
    assert api.call("GET", "/practices/prc_onboard_own", practice="prc_alpha").status_code == 404
    assert (
        api.call(
            "PATCH", "/practices/prc_onboard_own/settings", practice="prc_alpha", body={"notice_days": 1}
        ).status_code
        == 404
    )


def test_a_practice_changes_its_settings_and_bad_ones_are_refused(api, sync_stack):
    assert admin(api, "POST", "/practices", boarding("prc_onboard_settings")).status_code == 201
    path = "/practices/prc_onboard_settings/settings"
    changed = api.call(
        "PATCH",
        path,
        practice="prc_onboard_settings",
        body={
            "statement_descriptor": "LAKESIDE FAM MED",
            "card_retry_days": [2, 5],
            "encounter_invoice_status": "draft",
        },
    )
    assert changed.status_code == 200, changed.get_data(as_text=True)
    settings = changed.get_json()["settings"]
    assert (settings["statement_descriptor"], settings["card_retry_days"], settings["notice_days"]) == (
        "LAKESIDE FAM MED",
        [2, 5],
        5,  # unchanged: only the fields sent change
    )
    for bad in ({"card_retry_days": [5, 2]}, {"notice_days": 31}, {"statement_descriptor": "x"}, {"colour": "blue"}):
        refused = api.call("PATCH", path, practice="prc_onboard_settings", body=bad)
        assert refused.status_code == 422, bad
    after = api.call("GET", "/practices/prc_onboard_settings", practice="prc_onboard_settings").get_json()
    assert after["settings"] == settings


def test_the_statement_descriptor_setting_goes_on_each_charge(api, boarded, stack_sandbox):
    from tests.integration.test_money_core import add_card, new_patient, open_invoice, pay

    practice = boarded("prc_onboard_descriptor")
    body = {"statement_descriptor": "LAKESIDE FAM MED"}
    assert api.call("PATCH", f"/practices/{practice}/settings", practice=practice, body=body).status_code == 200
    patient = new_patient(api, practice, "ehr-descriptor")
    paid = pay(api, practice, open_invoice(api, practice, patient)["id"], add_card(api, practice, patient)["id"])
    sent = [
        r["body"]
        for r in stack_sandbox.sandbox.requests
        if (r["method"], r["path"]) == ("POST", "/txns") and r["body"].get("order") == paid["id"]
    ]
    assert [b["descriptor"] for b in sent] == ["LAKESIDE FAM MED"]


PAY_PAGE_SETTINGS = {
    "pay_link_days": 14,
    "pay_link_max_uses": 5,
    "balance_links": True,
    "pay_page_identity": "last_name_zip",
    "pay_page_language": "es",
    "minimum_payment": 1000,
    "plan_max_installments": 12,
    "plan_min_installment": 5000,
    "plan_first_within_days": 14,
    "contact_phone": "2175550199",
    "contact_email": "billing@lakeside.example",
}


def test_the_pay_page_settings_default_round_trip_and_bad_ones_name_their_field(api, boarded):
    practice = boarded("prc_onboard_paypage")
    path = f"/practices/{practice}/settings"
    defaults = api.call("GET", f"/practices/{practice}", practice=practice).get_json()["settings"]
    assert {k: defaults[k] for k in PAY_PAGE_SETTINGS} == {
        "pay_link_days": 30,
        "pay_link_max_uses": 3,
        "balance_links": False,
        "pay_page_identity": "date_of_birth",
        "pay_page_language": "en",
        "minimum_payment": 500,
        "plan_max_installments": 6,
        "plan_min_installment": 2500,
        "plan_first_within_days": 30,
        "contact_phone": None,
        "contact_email": None,
    }
    changed = api.call("PATCH", path, practice=practice, body=PAY_PAGE_SETTINGS)
    assert changed.status_code == 200, changed.get_data(as_text=True)
    settings = changed.get_json()["settings"]
    assert {k: settings[k] for k in PAY_PAGE_SETTINGS} == PAY_PAGE_SETTINGS
    assert {k: v for k, v in settings.items() if k not in PAY_PAGE_SETTINGS} == {
        k: v for k, v in defaults.items() if k not in PAY_PAGE_SETTINGS
    }  # the others unchanged
    assert api.call("GET", f"/practices/{practice}", practice=practice).get_json()["settings"] == settings
    one = api.call("PATCH", path, practice=practice, body={"plan_max_installments": 0})  # no self-service plans
    assert one.status_code == 200 and one.get_json()["settings"] == {**settings, "plan_max_installments": 0}
    settings = one.get_json()["settings"]

    for field, value in (
        ("plan_max_installments", 1000),
        ("plan_max_installments", -1),
        ("minimum_payment", 0),
        ("minimum_payment", 10.5),
        ("contact_phone", "abc"),
        ("contact_phone", "217-555-0199"),
        ("contact_email", "not-an-email"),
        ("pay_link_days", 0),
        ("pay_link_days", 121),
        ("pay_link_max_uses", 0),
        ("pay_link_max_uses", 21),
        ("plan_min_installment", 99),
        ("plan_first_within_days", 61),
        ("pay_page_identity", "ssn"),
        ("pay_page_language", "fr"),
        ("balance_links", "yes"),
    ):
        refused = api.call("PATCH", path, practice=practice, body={field: value})
        assert refused.status_code in (400, 422), (field, value, refused.status_code)
        assert refused.content_type == "application/problem+json"
        problem = refused.get_json()
        assert [e["field"] for e in problem["errors"]] == [field], (field, value, problem)
    after = api.call("GET", f"/practices/{practice}", practice=practice).get_json()["settings"]
    assert after == settings  # nothing refused was kept
