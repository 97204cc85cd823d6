"""The Splash sandbox's web alerts over real HTTP, delivered to a local receiver: body and static header,
trigger matching, retries with backoff, and the drop/duplicate/delay/reorder faults."""

from __future__ import annotations

import time
from typing import Any

import pytest

from local.sandbox.settings import SandboxSettings
from tests.integration import sandbox_kit as kit
from tests.integration.sandbox_kit import Receiver, SplashApi, error_codes

LOGIN = SandboxSettings().login  # the sandbox's login: it owns every record, the alerts too

pytestmark = pytest.mark.integration
splash, hook, receiver, sandbox = kit.splash, kit.hook, kit.receiver, kit.sandbox  # the kit's fixtures

TXNS, MERCHANTS, ENTITY_RETURNS = 18, 9, 86


def web_alert(
    splash: SplashApi, url: str, *triggers: tuple[str, int], retries: int = 0, forlogin: str = LOGIN
) -> dict[str, Any]:
    body = {
        "login": LOGIN,
        "forlogin": forlogin,
        "name": "PracticePay",
        "alertTriggers": [{"event": event, "resource": resource} for event, resource in triggers],
        "alertActions": [
            {
                "type": "web",
                "value": url,
                "options": "JSON",
                "headerName": "X-PP-Hook",
                "headerValue": "s3cr3t",
                "retries": retries,
            }
        ],
    }
    return splash.one("POST", "/alerts", body=body)


def bodies(received: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(r["body"]["response"]["alert"]["event"], r["body"]["response"]["data"][0]["id"]) for r in received]


def test_a_matching_trigger_posts_the_record_with_the_static_header(splash: SplashApi, hook: Receiver):
    payer = splash.payer()
    alert = web_alert(splash, hook.url, ("txn.approved", TXNS), ("txn.created", MERCHANTS))
    assert [t["event"] for t in alert["alertTriggers"]] == ["txn.approved", "txn.created"]
    txn = payer.sale(1000)
    (delivery,) = hook.wait_for(1)
    assert delivery["headers"]["X-Pp-Hook"] == "s3cr3t"
    assert delivery["headers"]["Content-Type"] == "application/json"
    response = delivery["body"]["response"]
    assert response["alert"] == {"event": "txn.approved", "resource": TXNS, "id": alert["id"]}
    (record,) = response["data"]
    assert (record["id"], record["status"], record["total"]) == (txn["id"], 1, 1000)  # as GET shows it
    time.sleep(0.2)
    assert len(hook.received) == 1  # txn.created was registered for resource 9: it never fires for a txn
    (attempt,) = splash.deliveries(1)
    assert (attempt["alert"], attempt["event"], attempt["status_code"], attempt["attempt"]) == (
        alert["id"],
        "txn.approved",
        200,
        1,
    )


def test_an_alert_fires_only_on_its_scopes_activity(splash: SplashApi, hook: Receiver):
    """The SDK's AlertsPostRequest: an alert watches one login (`forlogin`), team or division; another login's
    alert hears nothing of this login's txns."""
    payer = splash.payer()
    web_alert(splash, hook.url, ("txn.approved", TXNS), forlogin="t1_log_another00000000000000000")
    payer.sale(1000)
    time.sleep(0.5)
    assert hook.received == []
    web_alert(splash, hook.url, ("txn.approved", TXNS))
    payer.sale(1000)
    assert len(hook.wait_for(1)) == 1


def test_lifecycle_events_reach_the_receiver(splash: SplashApi, hook: Receiver):
    payer = splash.payer()
    web_alert(splash, hook.url, ("merchant.boarded", MERCHANTS), ("txn.returned", TXNS), ("create", ENTITY_RETURNS))
    sale = payer.echeck("9990000003")
    splash.advance(days=2)
    received = bodies(hook.wait_for(3))
    (row,) = splash.rows("entityReturns")
    assert sorted(received) == sorted(
        [("merchant.boarded", payer.merchant), ("txn.returned", sale["id"]), ("create", row["id"])]
    )


def test_a_failing_receiver_is_retried_with_backoff_up_to_retries(splash: SplashApi, hook: Receiver):
    payer = splash.payer()
    web_alert(splash, hook.url, ("txn.created", TXNS), retries=2)
    hook.statuses.extend([500, 503])
    payer.sale()
    attempts = [(d["attempt"], d["status_code"]) for d in splash.deliveries(3)]
    assert attempts == [(1, 500), (2, 503), (3, 200)]

    hook.clear()
    splash.admin("POST", "reset")
    payer = splash.payer()
    web_alert(splash, hook.url, ("txn.created", TXNS), retries=1)
    hook.statuses.extend([500, 500, 500])
    payer.sale()
    splash.deliveries(2)
    time.sleep(0.3)  # backoff is 0.05 s: a third attempt would have come
    assert [d["status_code"] for d in splash.admin("GET", "deliveries")["deliveries"]] == [500, 500]
    assert len(hook.received) == 2


def test_an_unreachable_receiver_is_logged_as_an_error(splash: SplashApi):
    payer = splash.payer()
    web_alert(splash, "http://127.0.0.1:9/nowhere", ("txn.created", TXNS))
    payer.sale()
    (attempt,) = splash.deliveries(1)
    assert "status_code" not in attempt and "ConnectionError" in attempt["error"]


def test_drop_and_duplicate_faults(splash: SplashApi, hook: Receiver):
    payer = splash.payer()
    web_alert(splash, hook.url, ("txn.created", TXNS))
    splash.admin("POST", "faults", {"kind": "alerts", "mode": "drop", "count": 1})
    dropped, delivered = payer.sale(1001), payer.sale(1002)
    assert bodies(hook.wait_for(1)) == [("txn.created", delivered["id"])]
    assert splash.admin("GET", "deliveries")["deliveries"][0] == {
        "alert": splash.rows("alerts")[0]["id"],
        "action": splash.rows("alertActions")[0]["id"],
        "url": hook.url,
        "event": "txn.created",
        "resource": TXNS,
        "attempt": 0,
        "error": "dropped by fault",
    }
    assert dropped["id"] not in {i for _, i in bodies(hook.received)}

    hook.clear()
    splash.admin("POST", "faults", {"kind": "alerts", "mode": "duplicate", "count": 1})
    twice, once = payer.sale(1003), payer.sale(1004)
    assert sorted(bodies(hook.wait_for(3))) == sorted(
        [("txn.created", twice["id"])] * 2 + [("txn.created", once["id"])]
    )


@pytest.mark.parametrize(("mode", "reverse"), [("delay", False), ("reorder", True)])
def test_delay_and_reorder_faults_hold_deliveries_until_the_next_clock_advance(
    splash: SplashApi, hook: Receiver, mode: str, reverse: bool
):
    payer = splash.payer()
    web_alert(splash, hook.url, ("txn.created", TXNS))
    splash.admin("POST", "faults", {"kind": "alerts", "mode": mode, "count": 3})
    ids = [payer.sale(total)["id"] for total in (1001, 1002, 1003)]
    time.sleep(0.2)
    assert hook.received == []
    splash.advance(seconds=1)
    assert [i for _, i in bodies(hook.wait_for(3))] == (ids[::-1] if reverse else ids)


def test_alert_parts_are_managed_separately_and_deleted_with_their_alert(splash: SplashApi, hook: Receiver):
    errors = splash.refused(
        "POST", "/alertTriggers", body={"alert": "t1_alr_00000000000000000000000", "event": "txn.created"}
    )
    assert error_codes(errors) == {("alert", "no_such_record"), ("resource", "required_field")}
    alert = splash.one("POST", "/alerts", body={"name": "late wiring", "login": LOGIN, "forlogin": LOGIN})
    splash.one("POST", "/alertTriggers", body={"alert": alert["id"], "event": "txn.created", "resource": "18"})
    action = splash.one(
        "POST", "/alertActions", body={"alert": alert["id"], "type": "web", "value": "http://127.0.0.1:9/x"}
    )
    assert (action["options"], action["retries"]) == ("JSON", 0)
    errors = splash.refused("PUT", f"/alertActions/{action['id']}", body={"value": "ftp://x", "alert": alert["id"]})
    assert error_codes(errors) == {("alert", "field_restricted"), ("value", "invalid_field")}
    splash.one("PUT", f"/alertActions/{action['id']}", body={"value": hook.url})
    splash.payer().sale()
    assert bodies(hook.wait_for(1))[0][0] == "txn.created"
    splash.one("DELETE", f"/alerts/{alert['id']}")
    assert splash.rows("alertTriggers") == [] and splash.rows("alertActions") == []
    errors = splash.refused(
        "POST", "/alerts", body={"alertActions": [{"type": "web", "value": hook.url, "options": "XML"}]}
    )
    assert error_codes(errors) == {
        ("alertActions[0].options", "invalid_field"),
        ("login", "required_field"),  # the official SDK's AlertsPostRequest requires it
        ("forlogin", "invalid_field"),  # and one scope: forlogin, team or division
    }
