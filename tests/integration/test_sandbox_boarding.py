"""The Splash sandbox's boarding and plain records over real HTTP: entities with nested merchant, members and
accounts, the merchant's progress at day boundaries, customers."""

from __future__ import annotations

import pytest

from tests.integration import sandbox_kit as kit
from tests.integration.sandbox_kit import ROUTING, SplashApi, error_codes

pytestmark = pytest.mark.integration
splash, sandbox = kit.splash, kit.sandbox  # the kit's fixtures


def test_an_entity_post_creates_entity_merchant_members_and_accounts(splash: SplashApi):
    entity = splash.entity()
    merchant, (member,), (account,) = entity["merchant"], entity["merchant"]["members"], entity["accounts"]
    assert entity["id"].startswith("t1_ent_") and merchant["id"].startswith("t1_mer_")
    assert (merchant["entity"], merchant["status"], member["merchant"], account["entity"]) == (
        entity["id"],
        "1",
        merchant["id"],
        entity["id"],
    )
    assert account["account"] == {"method": 8, "number": "6789", "routing": ROUTING}
    assert splash.get("members", member["id"])["ownership"] == 10000
    assert splash.get("accounts", account["id"])["account"]["number"] == "6789"
    got = splash.get("entities", entity["id"])
    assert "merchant" not in got and got["type"] == 2 and got["address2"] is None


def test_a_ready_merchant_goes_pending_then_boarded_at_day_boundaries(splash: SplashApi):
    ready = splash.entity()["merchant"]["id"]
    draft = splash.entity("Draft Clinic", status=0)["merchant"]["id"]
    declined = splash.entity("DECLINE Test Clinic")["merchant"]["id"]
    splash.advance(days=1)
    assert [splash.get("merchants", m)["status"] for m in (ready, draft, declined)] == [6, 0, 6]
    events = splash.advance(days=1)["events"]
    assert [e for e in events if e.startswith("merchant.")] == ["merchant.boarded", "merchant.failed"]
    assert [splash.get("merchants", m)["status"] for m in (ready, draft, declined)] == [2, 0, 4]
    assert splash.get("merchants", ready)["boarded"] == 20250305


def test_an_invalid_boarding_request_reports_every_problem_and_stores_nothing(splash: SplashApi):
    body = {
        "name": "Half Done Clinic",
        "type": 9,
        "country": "MEX",
        "merchant": {
            "status": 2,
            "members": [{"first": "A", "ownership": 6000}, {"first": "B", "last": "C", "ownership": 5000}],
        },
        "accounts": [
            {"account": {"method": 8, "number": "123456789", "routing": "123456789"}},
            {"account": {"method": 2}},
        ],
    }
    errors = splash.refused("POST", "/entities", body=body)
    assert error_codes(errors) == {
        *{(f, "required_field") for f in ("address1", "city", "state", "zip", "email", "phone")},
        *{(f, "required_field") for f in ("clientIp", "timezone", "tcVersion", "tcAcceptDate", "tcAcceptIp")},
        *{(f"merchant.members[{i}].{f}", "required_field") for i in (0, 1) for f in ("dob", "timezone")},
        ("type", "invalid_field"),
        ("country", "invalid_field"),
        ("merchant.mcc", "required_field"),
        ("merchant.status", "invalid_field"),
        ("merchant.members[0].last", "required_field"),
        ("merchant.members", "invalid_field"),
        ("accounts[0].account.routing", "invalid_field"),
        ("accounts[1].account.method", "invalid_field"),
    }
    assert all(splash.rows(r) == [] for r in ("entities", "merchants", "members", "accounts"))


def test_a_merchants_status_is_read_only(splash: SplashApi):
    merchant = splash.entity()["merchant"]["id"]
    assert error_codes(splash.refused("PUT", f"/merchants/{merchant}", body={"status": 2})) == {
        ("status", "field_restricted")
    }
    assert splash.one("PUT", f"/merchants/{merchant}", body={"dba": "Acme Kids"})["dba"] == "Acme Kids"
    assert splash.get("merchants", merchant)["status"] == 1
    assert error_codes(splash.refused("PUT", "/merchants/t1_mer_00000000000000000000000", body={"dba": "x"})) == {
        ("id", "no_such_record")
    }


def test_customers_belong_to_an_existing_merchant_and_can_be_changed_and_deleted(splash: SplashApi):
    errors = splash.refused("POST", "/customers", body={"merchant": "t1_mer_00000000000000000000000", "nickname": "x"})
    assert error_codes(errors) == {("merchant", "no_such_record"), ("nickname", "invalid_field")}
    merchant = splash.entity()["merchant"]["id"]
    customer = splash.customer(merchant, custom="pp:cus_123")
    assert splash.rows("customers", "custom[equals]=pp:cus_123")[0]["id"] == customer
    changed = splash.one("PUT", f"/customers/{customer}", body={"email": "pat@example.com"})
    assert (changed["email"], changed["custom"]) == ("pat@example.com", "pp:cus_123")
    assert error_codes(splash.refused("PUT", f"/customers/{customer}", body={"id": "t1_cus_x"})) == {
        ("id", "field_restricted")
    }
    splash.one("DELETE", f"/customers/{customer}")
    assert splash.call("GET", f"/customers/{customer}")["data"] == []
