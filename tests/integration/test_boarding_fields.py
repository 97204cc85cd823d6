"""Boarding sends what the official SDK marks required (splash-api.md §10): the entity's clientIp, timezone and
terms acceptance (tcVersion, tcAcceptDate, tcAcceptIp), and each member's dob and timezone. The onboarding API
takes them as a `terms_acceptance` object, an IANA `timezone` and each owner's `date_of_birth`; the sandbox
refuses a boarding request without them."""

from __future__ import annotations

import copy
import uuid

import pytest

from practicepay.practices.models import OnboardPracticeRequest
from practicepay.practices.service import entity_request
from tests.integration import sandbox_kit as kit
from tests.integration.sandbox_kit import ROUTING, SplashApi, error_codes
from tests.integration.test_practices import BOARDING, admin, boarding

pytestmark = pytest.mark.integration
splash, sandbox = kit.splash, kit.sandbox  # the kit's fixtures


def test_the_entity_request_carries_the_terms_the_zone_and_the_owners_birth_dates():
    body = OnboardPracticeRequest.model_validate({**copy.deepcopy(BOARDING), "practice_id": "prc_fields"})
    payload = entity_request(body).payload()
    terms = {k: payload[k] for k in ("clientIp", "timezone", "tcVersion", "tcAcceptDate", "tcAcceptIp")}
    # 2026-11-20T15:04:00Z is 10:04 US-Eastern; the client IP is where the practice accepted, not our caller.
    assert terms == {
        "clientIp": "198.51.100.23",
        "timezone": "cst",
        "tcVersion": "4.21",
        "tcAcceptDate": "202611201004",
        "tcAcceptIp": "198.51.100.23",
    }
    members = [(m["dob"], m["timezone"]) for m in payload["merchant"]["members"]]
    assert members == [(19750402, "cst"), (19781130, "cst")]


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("America/New_York", "est"),
        ("America/Phoenix", "mst"),
        ("America/Los_Angeles", "pst"),
        ("Pacific/Honolulu", "hst"),
    ],
)
def test_an_iana_zone_maps_to_splash_s_name(zone: str, expected: str):
    body = OnboardPracticeRequest.model_validate({**copy.deepcopy(BOARDING), "practice_id": "prc_z", "timezone": zone})
    assert entity_request(body).payload()["timezone"] == expected


def test_onboarding_sends_them_to_splash(api, sync_stack):
    created = admin(api, "POST", "/practices", boarding("prc_fields_sent"))
    assert created.status_code == 201, created.get_data(as_text=True)
    (entity,) = [
        r["body"]
        for r in sync_stack.sandbox.requests
        if (r["method"], r["path"]) == ("POST", "/entities") and r["body"]["name"] == BOARDING["legal_name"]
    ][-1:]
    assert (entity["clientIp"], entity["tcAcceptIp"], entity["timezone"]) == ("198.51.100.23", "198.51.100.23", "cst")
    assert (entity["tcVersion"], entity["tcAcceptDate"]) == ("4.21", "202611201004")
    assert [m["dob"] for m in entity["merchant"]["members"]] == [19750402, 19781130]


def _without(path: tuple[str | int, ...]) -> dict:
    body = boarding(f"prc_fields_{uuid.uuid4().hex[:8]}")
    node = body
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return body


def _with(change: dict) -> dict:
    return boarding(f"prc_fields_{uuid.uuid4().hex[:8]}", **change)


TERMS = BOARDING["terms_acceptance"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (lambda: _without(("terms_acceptance",)), "terms_acceptance"),
        (lambda: _without(("timezone",)), "timezone"),
        (lambda: _without(("owners", 1, "date_of_birth")), "owners[1].date_of_birth"),
        (lambda: _without(("terms_acceptance", "ip")), "terms_acceptance.ip"),
        (lambda: _with({"timezone": "Mars/Olympus_Mons"}), "timezone"),
        (lambda: _with({"timezone": "Europe/Paris"}), "timezone"),  # a real zone Splash has no name for
        (lambda: _with({"terms_acceptance": {**TERMS, "ip": "10.0.0.300"}}), "terms_acceptance.ip"),
        (lambda: _with({"terms_acceptance": {**TERMS, "accepted_at": "2026-11-20 15:04"}}), "terms_acceptance"),
        (lambda: _with({"terms_acceptance": {**TERMS, "version": "v" * 21}}), "terms_acceptance.version"),
    ],
    ids=["no-terms", "no-zone", "no-dob", "no-ip", "no-such-zone", "non-us-zone", "bad-ip", "bad-time", "long-version"],
)
def test_missing_or_bad_boarding_fields_are_refused_before_splash(api, sync_stack, body, field):
    before = len(sync_stack.sandbox.requests)
    refused = admin(api, "POST", "/practices", body())
    assert refused.status_code == 422, refused.get_data(as_text=True)
    assert any(e["field"].startswith(field) for e in refused.get_json()["errors"]), refused.get_json()
    assert len(sync_stack.sandbox.requests) == before  # Splash never asked


def test_the_sandbox_requires_what_the_sdk_marks_required(splash: SplashApi):
    body = {
        "name": "Bare Clinic",
        "type": 2,
        "address1": "1 Main St",
        "city": "Austin",
        "state": "TX",
        "zip": "78701",
        "country": "USA",
        "email": "office@bare.example",
        "phone": "5125550100",
        "merchant": {"mcc": "8011", "status": 1, "members": [{"first": "A", "last": "B", "ownership": 10000}]},
        "accounts": [{"primary": 1, "account": {"method": 8, "number": "123456789", "routing": ROUTING}}],
    }
    assert error_codes(splash.refused("POST", "/entities", body=body)) == {
        *{(f, "required_field") for f in ("clientIp", "timezone", "tcVersion", "tcAcceptDate", "tcAcceptIp")},
        ("merchant.members[0].dob", "required_field"),
        ("merchant.members[0].timezone", "required_field"),
    }
    bad = {**body, **kit.TERMS, "tcAcceptDate": "20250303", "clientIp": "not-an-ip"}
    bad["merchant"] = {**body["merchant"], "members": [{**kit.MEMBER, "first": "A", "last": "B"}]}
    assert error_codes(splash.refused("POST", "/entities", body=bad)) == {
        ("tcAcceptDate", "invalid_field"),
        ("clientIp", "invalid_field"),
    }
    good = {**bad, "tcAcceptDate": "202503031000", "clientIp": "203.0.113.10"}
    entity = splash.one("POST", "/entities", body=good)
    got = splash.get("entities", entity["id"])
    assert (got["timezone"], got["tcVersion"], got["clientIp"]) == ("cst", "1.0", "203.0.113.10")
    (member,) = splash.rows("members")
    assert (member["dob"], member["timezone"]) == (19700101, "cst")
