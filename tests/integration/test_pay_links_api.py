"""Staff's pay-link routes through the local API Gateway front (authorizer, the invoices function, DynamoDB and KMS
on moto, the practice boarded in the stack's Splash sandbox): make a link for an open invoice or a patient's
balance, replay it, list an invoice's, revoke one; what is stored (the secret's SHA-256, never the secret) and the
events written with each (validated against docs/events)."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import timedelta

import boto3
import pytest
from boto3.dynamodb.conditions import Key

from practicepay.api.problems import Problem
from practicepay.clock import from_iso, utc_now
from tests.event_schemas import validate_detail
from tests.integration.test_money_core import add_card, new_patient, ok, open_invoice, pay

pytestmark = pytest.mark.integration

URL = re.compile(r"^https?://[^/]+(/[^/]+)*/pay/(?P<secret>[A-Za-z0-9_-]{32})$")
ID_LIKE = re.compile(r"(inv|pat|prc|pl|pay)_")


def _problem(resp, status: int) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.headers["Content-Type"] == "application/problem+json"
    body = resp.get_json(force=True)
    assert body["status"] == status and body["type"].startswith("urn:practicepay:problem:")
    Problem.model_validate(body)
    return body


def _practice(boarded, name: str) -> str:
    return boarded(f"prc_pl_{name}_{uuid.uuid4().hex[:6]}")


def _invoice(api, practice: str) -> dict:
    return open_invoice(api, practice, new_patient(api, practice, f"ehr-pl-{uuid.uuid4().hex[:8]}"))


def _make(api, practice: str, invoice_id: str, body=None, key: str = "auto"):
    return api.call("POST", f"/invoices/{invoice_id}/pay-links", practice=practice, body=body or {}, key=key)


def _table(aws_env, name: str):
    return boto3.resource("dynamodb").Table(aws_env[name])


def _scan(table) -> list[dict]:
    items, start = [], {}
    while True:
        page = table.scan(**start)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


def _text(items) -> str:
    return json.dumps(items, default=lambda v: v.value.decode("latin-1") if hasattr(v, "value") else str(v))


def _events(aws_env, practice: str, prefix: str = "pay_link.") -> list[dict]:
    rows = _table(aws_env, "EVENTS_TABLE").query(KeyConditionExpression=Key("pk").eq(f"PRACTICE#{practice}"))["Items"]
    return [r for r in rows if r["detail_type"].startswith(prefix)]


def _published_detail(row: dict) -> dict:
    """What the publisher puts on the bus (publish.detail_of over plain numbers)."""
    from practicepay.adapters.dynamo import plain
    from practicepay.events.publish import detail_of

    return detail_of(plain(dict(row)))


# -- making a link ---------------------------------------------------------------------------------------------


def test_a_link_for_an_open_invoice_is_201_with_a_url_that_names_nothing(api, aws_env, boarded):
    practice = _practice(boarded, "make")
    invoice = _invoice(api, practice)
    before = utc_now()
    resp = _make(api, practice, invoice["id"])
    link = ok(resp, 201)
    after = utc_now()
    assert "Location" not in resp.headers  # no route reads one link: the invoice lists its links
    assert re.fullmatch(r"pl_[0-9a-hjkmnp-tv-z]{26}", link["id"])
    assert (link["object"], link["scope"], link["status"]) == ("pay_link", "invoice", "active")
    assert (link["invoice_id"], link["patient_id"]) == (invoice["id"], invoice["patient_id"])
    assert (link["max_uses"], link["uses"], link["opened"], link["identity_failures"]) == (3, 0, 0, 0)
    expires = from_iso(link["expires_at"])  # the practice's pay_link_days: 30 by default
    assert before + timedelta(days=30) - timedelta(seconds=1) <= expires <= after + timedelta(days=30)

    match = URL.match(link["url"])
    assert match, link["url"]
    secret = match["secret"]
    for named in (invoice["id"], invoice["patient_id"], practice, link["id"]):
        assert named not in link["url"]
    assert not ID_LIKE.search(link["url"].split("/pay/")[1])

    # Stored: the SHA-256 as the key, never the secret (nor in the events; the idempotency record has it sealed).
    digest = hashlib.sha256(secret.encode()).hexdigest()
    items = [i for i in _scan(_table(aws_env, "PAY_LINKS_TABLE")) if i.get("link_id") == link["id"]]
    assert len(items) == 1
    assert (items[0]["pk"], items[0]["secret_hash"]) == (f"LINK#{digest}", digest)
    for table in ("PAY_LINKS_TABLE", "EVENTS_TABLE", "IDEMPOTENCY_TABLE", "INVOICES_TABLE"):
        assert secret not in _text(_scan(_table(aws_env, table))), table
    assert "url" not in items[0]


def test_the_practices_pay_link_settings_are_the_defaults_and_a_request_overrides_them(api, boarded):
    practice = _practice(boarded, "defaults")
    body = {"pay_link_days": 7, "pay_link_max_uses": 1}
    ok(api.call("PATCH", f"/practices/{practice}/settings", practice=practice, body=body))
    invoice = _invoice(api, practice)
    before = utc_now()
    link = ok(_make(api, practice, invoice["id"]), 201)
    assert link["max_uses"] == 1
    assert abs(from_iso(link["expires_at"]) - (before + timedelta(days=7))) < timedelta(seconds=30)
    chosen = ok(_make(api, practice, invoice["id"], {"expires_in_days": 120, "max_uses": 20}), 201)
    assert chosen["max_uses"] == 20
    assert abs(from_iso(chosen["expires_at"]) - (before + timedelta(days=120))) < timedelta(seconds=30)
    assert chosen["url"] != link["url"] and chosen["id"] != link["id"]


def test_a_replay_answers_the_same_link_and_url_and_another_body_is_422(api, aws_env, boarded):
    practice = _practice(boarded, "replay")
    invoice = _invoice(api, practice)
    first = ok(_make(api, practice, invoice["id"], {"max_uses": 4}, key="pl-replay-1"), 201)
    again = ok(_make(api, practice, invoice["id"], {"max_uses": 4}, key="pl-replay-1"), 201)
    assert (again["id"], again["url"]) == (first["id"], first["url"])
    assert again == first
    links = [i for i in _scan(_table(aws_env, "PAY_LINKS_TABLE")) if i.get("gsi1pk", "").endswith(invoice["id"])]
    assert len(links) == 1
    assert len(_events(aws_env, practice)) == 1  # one pay_link.created

    problem = _problem(_make(api, practice, invoice["id"], {"max_uses": 5}, key="pl-replay-1"), 422)
    assert "Idempotency-Key" in problem["detail"]
    other = ok(_make(api, practice, invoice["id"], {"max_uses": 4}, key="pl-replay-2"), 201)
    assert other["id"] != first["id"] and other["url"] != first["url"]


def test_a_replay_after_the_link_was_revoked_still_answers_it_revoked(api, boarded):
    practice = _practice(boarded, "replay_revoked")
    invoice = _invoice(api, practice)
    first = ok(_make(api, practice, invoice["id"], key="pl-replay-revoked"), 201)
    ok(api.call("POST", f"/pay-links/{first['id']}/revoke", practice=practice))
    again = ok(_make(api, practice, invoice["id"], key="pl-replay-revoked"), 201)
    assert (again["id"], again["url"], again["status"]) == (first["id"], first["url"], "revoked")


def test_a_draft_invoice_is_409(api, boarded):
    practice = _practice(boarded, "draft")
    body = {**api.visit(practice)}
    draft = ok(api.call("POST", "/invoices", practice=practice, body=body), 201)
    problem = _problem(_make(api, practice, draft["id"]), 409)
    assert "draft" in problem["detail"] and "issue" in problem["detail"]


def test_paid_and_canceled_invoices_are_409(api, boarded):
    practice = _practice(boarded, "closed")
    patient = new_patient(api, practice, "ehr-pl-closed")
    paid = open_invoice(api, practice, patient)
    pay(api, practice, paid["id"], add_card(api, practice, patient)["id"])
    assert ok(api.call("GET", f"/invoices/{paid['id']}", practice=practice))["status"] == "paid"
    assert "paid" in _problem(_make(api, practice, paid["id"]), 409)["detail"]
    canceled = open_invoice(api, practice, patient)
    ok(api.call("POST", f"/invoices/{canceled['id']}/cancel", practice=practice))
    assert "canceled" in _problem(_make(api, practice, canceled["id"]), 409)["detail"]


def test_an_unknown_or_another_practices_invoice_is_404_alike(api, aws_env, boarded):
    mine, theirs = _practice(boarded, "mine"), _practice(boarded, "theirs")
    invoice = _invoice(api, theirs)
    foreign = _problem(_make(api, mine, invoice["id"]), 404)
    unknown = _problem(_make(api, mine, "inv_00000000000000000000000000"), 404)
    malformed = _problem(_make(api, mine, "not-an-invoice"), 404)
    assert foreign["title"] == unknown["title"] == malformed["title"]
    assert invoice["id"] not in _text(_scan(_table(aws_env, "PAY_LINKS_TABLE")))
    assert _events(aws_env, mine) == []
    _problem(api.call("GET", f"/invoices/{invoice['id']}/pay-links", practice=mine), 404)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"expires_in_days": 0}, "expires_in_days"),
        ({"expires_in_days": 121}, "expires_in_days"),
        ({"expires_in_days": "14"}, "expires_in_days"),
        ({"max_uses": 0}, "max_uses"),
        ({"max_uses": 21}, "max_uses"),
        ({"max_uses": 2.5}, "max_uses"),
        ({"invoice_id": "inv_00000000000000000000000000"}, "invoice_id"),
    ],
)
def test_a_bad_body_is_a_422_problem_naming_the_field_and_makes_nothing(api, aws_env, boarded, body, field):
    practice = boarded("prc_pl_badbody")
    invoice = _invoice(api, practice)
    problem = _problem(_make(api, practice, invoice["id"], body), 422)
    assert [e["field"] for e in problem["errors"]] == [field]
    assert _events(aws_env, practice) == []


def test_no_idempotency_key_is_400_and_bad_json_is_400(api, boarded):
    practice = boarded("prc_pl_badbody")
    invoice = _invoice(api, practice)
    problem = _problem(_make(api, practice, invoice["id"], key=None), 400)
    assert problem["errors"][0]["field"] == "Idempotency-Key header"
    path = f"/invoices/{invoice['id']}/pay-links"
    _problem(api.call("POST", path, practice=practice, raw='{"max_uses": 2,'), 400)


def test_no_token_is_401(api):
    _problem(api.call("POST", "/invoices/inv_00000000000000000000000000/pay-links", practice=None, body={}), 401)
    _problem(api.call("POST", "/pay-links/pl_00000000000000000000000000/revoke", practice=None), 401)


# -- listing and revoking ----------------------------------------------------------------------------------------


def test_the_list_shows_an_invoices_links_without_urls_and_revoke_is_idempotent(api, aws_env, boarded):
    practice = _practice(boarded, "list")
    invoice = _invoice(api, practice)
    made = ok(_make(api, practice, invoice["id"]), 201)
    listed = ok(api.call("GET", f"/invoices/{invoice['id']}/pay-links", practice=practice))
    assert listed["object"] == "list"
    assert [(link["id"], link["status"], link["url"]) for link in listed["data"]] == [(made["id"], "active", None)]
    assert {k: v for k, v in listed["data"][0].items() if k != "url"} == {k: v for k, v in made.items() if k != "url"}

    revoked = ok(api.call("POST", f"/pay-links/{made['id']}/revoke", practice=practice))
    assert (revoked["id"], revoked["status"], revoked["revoked_reason"], revoked["url"]) == (
        made["id"],
        "revoked",
        "staff",
        None,
    )
    again = ok(api.call("POST", f"/pay-links/{made['id']}/revoke", practice=practice))
    assert again == revoked  # a repeat changes nothing
    listed = ok(api.call("GET", f"/invoices/{invoice['id']}/pay-links", practice=practice))
    assert [link["status"] for link in listed["data"]] == ["revoked"]
    assert [r["detail_type"] for r in _events(aws_env, practice)] == ["pay_link.created", "pay_link.revoked"]


def test_the_list_is_newest_first_and_another_invoices_links_are_not_in_it(api, boarded):
    practice = _practice(boarded, "order")
    invoice, other = _invoice(api, practice), _invoice(api, practice)
    ids = [ok(_make(api, practice, invoice["id"]), 201)["id"] for _ in range(3)]
    ok(_make(api, practice, other["id"]), 201)
    listed = ok(api.call("GET", f"/invoices/{invoice['id']}/pay-links", practice=practice))
    assert [link["id"] for link in listed["data"]] == list(reversed(ids))


def test_another_practice_cannot_revoke_or_see_a_link(api, aws_env, boarded):
    mine, theirs = _practice(boarded, "revoke_mine"), _practice(boarded, "revoke_theirs")
    invoice = _invoice(api, mine)
    made = ok(_make(api, mine, invoice["id"]), 201)
    foreign = _problem(api.call("POST", f"/pay-links/{made['id']}/revoke", practice=theirs), 404)
    unknown = _problem(api.call("POST", "/pay-links/pl_00000000000000000000000000/revoke", practice=theirs), 404)
    _problem(api.call("POST", "/pay-links/not-a-link/revoke", practice=theirs), 404)
    assert foreign["title"] == unknown["title"]
    _problem(api.call("GET", f"/invoices/{invoice['id']}/pay-links", practice=theirs), 404)
    listed = ok(api.call("GET", f"/invoices/{invoice['id']}/pay-links", practice=mine))
    assert [link["status"] for link in listed["data"]] == ["active"]  # untouched
    assert _events(aws_env, theirs) == []


# -- a patient's balance ----------------------------------------------------------------------------------------


def test_a_balance_link_is_409_until_the_practice_turns_balance_links_on(api, aws_env, boarded):
    practice = _practice(boarded, "balance_off")
    invoice = _invoice(api, practice)
    path = f"/patients/{invoice['patient_id']}/pay-links"
    problem = _problem(api.call("POST", path, practice=practice, body={}), 409)
    assert "balance_links" in problem["detail"]
    assert _events(aws_env, practice) == []


def test_with_balance_links_on_a_balance_link_is_201_and_listed_on_the_patients_invoices(api, aws_env, boarded):
    practice = _practice(boarded, "balance_on")
    on = ok(api.call("PATCH", f"/practices/{practice}/settings", practice=practice, body={"balance_links": True}))
    assert on["settings"]["balance_links"] is True
    invoice = _invoice(api, practice)
    patient = invoice["patient_id"]
    link = ok(api.call("POST", f"/patients/{patient}/pay-links", practice=practice, body={"max_uses": 2}), 201)
    assert (link["scope"], link["invoice_id"], link["patient_id"], link["max_uses"]) == ("balance", None, patient, 2)
    assert URL.match(link["url"]) and patient not in link["url"]
    listed = ok(api.call("GET", f"/invoices/{invoice['id']}/pay-links", practice=practice))
    assert [(x["id"], x["scope"]) for x in listed["data"]] == [(link["id"], "balance")]
    _problem(api.call("POST", "/patients/pat_00000000000000000000000000/pay-links", practice=practice, body={}), 404)
    other = _practice(boarded, "balance_other")
    ok(api.call("PATCH", f"/practices/{other}/settings", practice=other, body={"balance_links": True}))
    _problem(api.call("POST", f"/patients/{patient}/pay-links", practice=other, body={}), 404)


def test_turning_balance_links_on_takes_effect_at_once(api, boarded):
    practice = _practice(boarded, "balance_toggle")
    invoice = _invoice(api, practice)
    path = f"/patients/{invoice['patient_id']}/pay-links"
    _problem(api.call("POST", path, practice=practice, body={}), 409)
    ok(api.call("PATCH", f"/practices/{practice}/settings", practice=practice, body={"balance_links": True}))
    ok(api.call("POST", path, practice=practice, body={}), 201)


# -- events ------------------------------------------------------------------------------------------------------


def test_the_events_match_their_schemas_and_carry_no_secret_or_hash(api, aws_env, boarded):
    practice = _practice(boarded, "events")
    ok(api.call("PATCH", f"/practices/{practice}/settings", practice=practice, body={"balance_links": True}))
    invoice = _invoice(api, practice)
    made = ok(_make(api, practice, invoice["id"]), 201)
    balance = ok(api.call("POST", f"/patients/{invoice['patient_id']}/pay-links", practice=practice, body={}), 201)
    ok(api.call("POST", f"/pay-links/{made['id']}/revoke", practice=practice))
    ok(api.call("POST", f"/pay-links/{made['id']}/revoke", practice=practice))  # no second event

    rows = _events(aws_env, practice)
    assert [(r["detail_type"], r["detail"]["link_id"]) for r in rows] == [
        ("pay_link.created", made["id"]),
        ("pay_link.created", balance["id"]),
        ("pay_link.revoked", made["id"]),
    ]
    secrets_ = [URL.match(x["url"])["secret"] for x in (made, balance)]
    hashes = [hashlib.sha256(s.encode()).hexdigest() for s in secrets_]
    for row in rows:
        detail = _published_detail(row)
        validate_detail(row["detail_type"], detail)
        assert detail["practice_id"] == practice and detail["patient_id"] == invoice["patient_id"]
        text = json.dumps(detail)
        for value in (*secrets_, *hashes):
            assert value not in text
    created, balance_created, revoked = (_published_detail(r) for r in rows)
    assert (created["scope"], created["invoice_id"], created["max_uses"]) == ("invoice", invoice["id"], 3)
    assert created["expires_at"] == made["expires_at"]
    assert (balance_created["scope"], balance_created["invoice_id"]) == ("balance", None)
    assert revoked["reason"] == "staff" and "identity_failures" not in revoked
