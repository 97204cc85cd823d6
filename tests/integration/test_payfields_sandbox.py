"""PayFields against the Splash sandbox over real HTTP: txnSessions, the public-key tokenize rules (keys, session
expiry on the sandbox clock, maxTimesUse), the loader script and frames, eCheck account verification (txn type
12: approved or failed, never money), and the SplashClient methods for them."""

from __future__ import annotations

import re
from typing import Any

import pytest

from local.sandbox.tables import VERIFICATION_FAILURES
from practicepay.splash.client import SplashClient
from practicepay.splash.errors import SplashDeclined, SplashNotFound
from practicepay.splash.models import TxnSession, TxnStatus, TxnType
from practicepay.splash.outbound import TxnRequest
from tests.integration import sandbox_kit as kit
from tests.integration.sandbox_kit import KEY, ROUTING, VISA, SplashApi, error_codes

pytestmark = pytest.mark.integration
splash, sandbox = kit.splash, kit.sandbox  # the kit's fixtures

PUBLIC = "sandbox-public-key"
CARD = {"payment": {"number": VISA, "cvv": "123"}, "expiration": "1230"}


@pytest.fixture
def shop(splash: SplashApi) -> dict[str, str]:
    merchant = splash.entity()["merchant"]["id"]
    return {"merchant": merchant, "customer": splash.customer(merchant)}


def session(splash: SplashApi, merchant: str, **configurations: int) -> dict[str, Any]:
    limits = {"duration": 15, "maxTimesUse": 5, "maxTimesApproved": 3} | configurations
    return splash.one("POST", "/txnSessions", body={"merchant": merchant, "configurations": limits})


def tokenize(splash: SplashApi, shop: dict[str, str], session_key: str | None, *, key: str = PUBLIC, **body: Any):
    headers = {"TXNSESSIONKEY": session_key} if session_key is not None else {}
    sent = {"merchant": shop["merchant"], "customer": shop["customer"], **CARD} | body
    return splash.raw("POST", "/payFields/tokenize", body=sent, key=key, headers=headers)


def refused_auth(resp) -> str:
    assert resp.status_code == 401, resp.text
    response = resp.json()["response"]
    assert response["data"] == [] and [e["errorCode"] for e in response["errors"]] == ["invalid_auth"], response
    return response["errors"][0]["msg"]


# --- txnSessions --------------------------------------------------------------------------------------------------


def test_a_txn_session_has_the_recorded_shape_and_reads_back(splash: SplashApi, shop):
    created = session(splash, shop["merchant"], duration=30, maxTimesUse=3, maxTimesApproved=1)
    assert re.fullmatch(r"t1_tss_[0-9a-f]{23}", created["id"])
    assert re.fullmatch(r"[0-9a-f]{32}", created["key"])
    # as recorded live (tests/fixtures/splash/recorded/txn_session_post_live.json)
    assert (created["status"], created["durationAvailable"], created["timesUsed"], created["timesApproved"]) == (
        "created",
        30,
        0,
        0,
    )
    assert created["configurations"] == {"duration": 30, "maxTimesUse": 3, "maxTimesApproved": 1}
    assert created["merchant"] == shop["merchant"] and created["login"].startswith("t1_log_")
    assert splash.get("txnSessions", created["id"]) == created


def test_a_txn_session_needs_a_merchant_that_exists_and_sane_limits(splash: SplashApi, shop):
    errors = splash.refused("POST", "/txnSessions", body={"configurations": {"duration": 5}})
    assert ("merchant", "required_field") in error_codes(errors)
    errors = splash.refused("POST", "/txnSessions", body={"merchant": "t1_mer_" + "0" * 23})
    assert ("merchant", "no_such_record") in error_codes(errors)
    body = {"merchant": shop["merchant"], "configurations": {"duration": 0, "maxTimesUse": "x", "ttl": 5}}
    assert error_codes(splash.refused("POST", "/txnSessions", body=body)) == {
        ("configurations.duration", "invalid_field"),
        ("configurations.maxTimesUse", "invalid_field"),
        ("configurations.ttl", "invalid_field"),
    }
    default = splash.one("POST", "/txnSessions", body={"merchant": shop["merchant"]})
    assert default["durationAvailable"] == 10  # the SDK's "expires automatically after 10 minutes"


def test_the_public_key_cannot_make_sessions_or_use_the_api(splash: SplashApi, shop):
    body = {"merchant": shop["merchant"], "configurations": {"duration": 5}}
    refused_auth(splash.raw("POST", "/txnSessions", body=body, key=PUBLIC))
    refused_auth(splash.raw("GET", "/txns", key=PUBLIC))
    refused_auth(splash.raw("POST", "/tokens", body={"customer": shop["customer"], **CARD}, key=PUBLIC))
    live = session(splash, shop["merchant"])  # the same key, with a session, may only tokenize
    refused_auth(splash.raw("GET", "/tokens", key=PUBLIC, headers={"TXNSESSIONKEY": live["key"]}))
    assert tokenize(splash, shop, live["key"]).status_code == 200


# --- tokenize: keys and sessions -----------------------------------------------------------------------------------


def test_public_key_and_live_session_vault_the_card_for_the_customer(splash: SplashApi, shop):
    live = session(splash, shop["merchant"])
    resp = tokenize(splash, shop, live["key"])
    assert resp.status_code == 200, resp.text
    (token,) = resp.json()["response"]["data"]
    assert re.fullmatch(r"[0-9a-f]{32}", token["token"]) and token["customer"] == shop["customer"]
    assert token["payment"]["number"] == "1111" and token["expiration"] == "1230" and token["status"] == "ready"
    assert [t["id"] for t in splash.rows("tokens", f"customer[equals]={shop['customer']}")] == [token["id"]]
    after = splash.get("txnSessions", live["id"])
    assert (after["timesUsed"], after["timesApproved"], after["status"]) == (1, 1, "created")
    (log,) = [r for r in splash.admin("GET", "requests")["requests"] if r["path"] == "/payFields/tokenize"]
    assert VISA not in str(log) and live["key"] not in str(log) and PUBLIC not in str(log)


def test_a_bank_account_is_vaulted_the_same_way(splash: SplashApi, shop):
    live = session(splash, shop["merchant"])
    bank = {"payment": {"method": 9, "number": "123456789", "routing": ROUTING}, "expiration": None}
    resp = tokenize(splash, shop, live["key"], **bank)
    (token,) = resp.json()["response"]["data"]
    assert token["payment"]["method"] == 9 and token["payment"]["routing"] == ROUTING


def test_post_tokens_with_the_public_key_and_a_txnsessionkey_header_as_recorded(splash: SplashApi, shop):
    live = session(splash, shop["merchant"])
    headers = {"TXNSESSIONKEY": live["key"]}
    token = splash.one("POST", "/tokens", body={"customer": shop["customer"], **CARD}, key=PUBLIC, headers=headers)
    assert token["customer"] == shop["customer"]
    assert splash.get("txnSessions", live["id"])["timesUsed"] == 1


def test_a_private_key_in_the_browser_is_refused(splash: SplashApi, shop):
    live = session(splash, shop["merchant"])
    assert "public API key" in refused_auth(tokenize(splash, shop, live["key"], key=KEY))
    assert splash.get("txnSessions", live["id"])["timesUsed"] == 0
    assert splash.rows("tokens") == []


@pytest.mark.parametrize("session_key", [None, "", "0" * 32])
def test_no_session_or_an_unknown_one_is_refused(splash: SplashApi, shop, session_key):
    refused_auth(tokenize(splash, shop, session_key))
    refused_auth(tokenize(splash, shop, session_key, key="not-a-key"))
    assert splash.rows("tokens") == []
    assert tokenize(splash, shop, session(splash, shop["merchant"])["key"]).status_code == 200  # the control


def test_a_session_works_only_for_its_own_merchant_and_their_customers(splash: SplashApi, shop):
    other = splash.entity("Other Clinic")["merchant"]["id"]
    live = session(splash, shop["merchant"])
    refused_auth(tokenize(splash, shop, live["key"], merchant=other))
    stranger = splash.customer(other)
    resp = tokenize(splash, shop, live["key"], customer=stranger)
    assert error_codes(resp.json()["response"]["errors"]) == {("customer", "invalid_field")}
    assert splash.rows("tokens") == []


def test_a_session_expires_after_its_duration_on_the_sandbox_clock(splash: SplashApi, shop):
    live = session(splash, shop["merchant"], duration=5)
    splash.advance(seconds=4 * 60)
    assert splash.get("txnSessions", live["id"])["durationAvailable"] == 1
    assert tokenize(splash, shop, live["key"]).status_code == 200
    splash.advance(seconds=61)
    assert "expired" in refused_auth(tokenize(splash, shop, live["key"]))
    after = splash.get("txnSessions", live["id"])
    assert (after["status"], after["durationAvailable"], after["timesUsed"]) == ("expired", 0, 1)


def test_max_times_use_counts_every_call_and_then_refuses(splash: SplashApi, shop):
    live = session(splash, shop["merchant"], maxTimesUse=3, maxTimesApproved=3)
    assert tokenize(splash, shop, live["key"]).status_code == 200
    bad = tokenize(splash, shop, live["key"], expiration="0120")  # expired card: a use, not an approval
    assert error_codes(bad.json()["response"]["errors"]) == {("expiration", "invalid_field")}
    assert tokenize(splash, shop, live["key"]).status_code == 200
    refused_auth(tokenize(splash, shop, live["key"]))
    after = splash.get("txnSessions", live["id"])
    assert (after["timesUsed"], after["timesApproved"], after["status"]) == (3, 2, "expired")
    assert len(splash.rows("tokens")) == 2


def test_max_times_approved_caps_the_vaulted_tokens(splash: SplashApi, shop):
    live = session(splash, shop["merchant"], maxTimesUse=10, maxTimesApproved=1)
    assert tokenize(splash, shop, live["key"]).status_code == 200
    refused_auth(tokenize(splash, shop, live["key"]))
    assert len(splash.rows("tokens")) == 1


def test_the_frames_call_goes_through_the_api_pipeline_faults_included(splash: SplashApi, shop):
    live = session(splash, shop["merchant"])
    splash.admin("POST", "faults", {"kind": "http_500", "path": "/payFields/tokenize", "count": 1})
    assert tokenize(splash, shop, live["key"]).status_code == 500
    assert splash.rows("tokens") == [] and splash.get("txnSessions", live["id"])["timesUsed"] == 0
    splash.admin("POST", "faults", {"kind": "refusal", "path": "/payFields/tokenize", "count": 1})
    assert tokenize(splash, shop, live["key"]).json()["response"]["data"] == []
    assert tokenize(splash, shop, live["key"]).status_code == 200


# --- the browser side ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["", "?spa=1"])
def test_the_loader_script_needs_no_key_and_binds_its_frames_to_this_origin(splash: SplashApi, query):
    resp = splash.raw("GET", f"/payFieldsScript{query}", key=None)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("application/javascript")
    text = resp.text
    assert f'var ORIGIN = "{splash.base}";' in text and ("var SPA = true;" in text) == (query == "?spa=1")
    assert "window.PayFields = PayFields" in text


def test_a_frame_is_a_labelled_field_that_any_page_may_frame(splash: SplashApi):
    query = {"type": "number", "group": "0123456789abcdef", "parent": "http://127.0.0.1:9", "leader": "1"}
    resp = splash.raw("GET", "/payFields/frame", key=None, params=query)
    assert resp.status_code == 200 and "frame-ancestors *" in resp.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in resp.headers
    assert '<label for="pf-input">Card number</label>' in resp.text and 'autocomplete="cc-number"' in resp.text
    for bad in ({"type": "ssn"}, {"parent": "javascript:alert(1)"}, {"group": "<x>"}):
        assert splash.raw("GET", "/payFields/frame", key=None, params=query | bad).status_code == 400
    for asset in ("frame.js", "frame.css"):
        assert splash.raw("GET", f"/payFields/{asset}", key=None).status_code == 200
    assert splash.raw("GET", "/payFields/other.js", key=None).status_code == 404


# --- eCheck account verification (txn type 12) -----------------------------------------------------------------------


def verify(splash: SplashApi, shop: dict[str, str], number: str = "123456789") -> dict[str, Any]:
    token = splash.bank_token(shop["customer"], number)["token"]
    return splash.call("POST", "/txns", body={"merchant": shop["merchant"], "type": 12, "origin": 2, "token": token})


def test_a_verification_of_an_ordinary_account_is_approved_and_moves_no_money(splash: SplashApi, shop):
    (txn,) = verify(splash, shop)["data"]
    assert (txn["type"], txn["status"], txn["total"], txn["approved"]) == (12, "1", 0, "0")
    (result,) = splash.rows("txnResults", f"txn[equals]={txn['id']}")
    assert result["message"] == "Approved"
    splash.advance(days=10)
    after = splash.get("txns", txn["id"])
    assert (after["status"], after["captured"], after["settled"], after["funded"], after["returned"]) == (
        1,
        None,
        None,
        None,
        None,
    )
    assert after["fundingEnabled"] == 0 and after["settledTotal"] is None
    assert splash.rows("entityReturns") == []


@pytest.mark.parametrize("number", sorted(VERIFICATION_FAILURES))
def test_a_trigger_account_fails_verification_with_its_reason(splash: SplashApi, shop, number):
    response = verify(splash, shop, number)
    (txn,) = response["data"]
    assert txn["status"] == "2" and txn["approved"] == "0"
    reason = VERIFICATION_FAILURES[number]
    assert [e["msg"] for e in response["errors"]] == [reason.message]
    (result,) = splash.rows("txnResults", f"txn[equals]={txn['id']}")
    assert (result["code"], result["message"], result["originalCode"]) == (2, reason.message, reason.original_code)
    assert reason.message in ("Invalid Account Number", "Account Closed", "No Account on File")


def test_a_verification_takes_a_bank_token_and_no_money(splash: SplashApi, shop):
    card = splash.card_token(shop["customer"])["token"]
    body = {"merchant": shop["merchant"], "type": 12, "origin": 2, "token": card}
    assert error_codes(splash.refused("POST", "/txns", body=body)) == {("type", "txn_type_payment_method_mismatch")}
    bank = splash.bank_token(shop["customer"])["token"]
    errors = splash.refused("POST", "/txns", body=body | {"token": bank, "total": 100})
    assert error_codes(errors) == {("total", "invalid_field")}


def test_a_verification_is_no_sale_nothing_refunds_reverses_or_redeposits_it(splash: SplashApi, shop):
    (txn,) = verify(splash, shop)["data"]
    splash.advance(days=2)
    for txn_type in (8, 11, 4, 5):
        body = {"type": txn_type, "origin": 2, "fortxn": txn["id"], "total": 100}
        assert splash.refused("POST", "/txns", body=body)
    # the trigger account of a bank return still verifies (the failures are their own numbers)
    (returning,) = verify(splash, shop, "9990000003")["data"]
    assert returning["status"] == "1"
    splash.advance(days=3)
    assert splash.get("txns", returning["id"])["status"] == 1 and splash.rows("entityReturns") == []


# --- the client ------------------------------------------------------------------------------------------------------


@pytest.fixture
def client(splash: SplashApi) -> SplashClient:
    return SplashClient(splash.base, api_key=lambda: KEY, sleep=lambda _: None)


def test_client_creates_a_txn_session_and_the_page_can_use_it(splash: SplashApi, shop, client: SplashClient):
    made = client.create_txn_session(shop["merchant"], duration_minutes=20, max_times_use=4, max_times_approved=2)
    assert isinstance(made, TxnSession) and made.id.startswith("t1_tss_") and made.status == "created"
    assert (made.duration, made.configurations.maxTimesUse, made.configurations.maxTimesApproved) == (20, 4, 2)
    assert made.merchant == shop["merchant"] and made.durationAvailable == 20 and made.key not in repr(made)
    assert tokenize(splash, shop, made.key).status_code == 200
    assert client.get(TxnSession, made.id).timesUsed == 1
    sent = splash.admin("GET", "requests")["requests"][-3]
    assert sent["path"] == "/txnSessions" and sent["headers"]["Request-Token"]


def test_client_txn_session_without_approval_cap_and_with_a_request_token(splash: SplashApi, shop, client):
    first = client.create_txn_session(shop["merchant"], duration_minutes=5, max_times_use=1, request_token="tss-1")
    again = client.create_txn_session(shop["merchant"], duration_minutes=5, max_times_use=1, request_token="tss-1")
    assert first.id == again.id and first.configurations.maxTimesApproved is None
    with pytest.raises(SplashNotFound):
        client.create_txn_session("t1_mer_" + "0" * 23, duration_minutes=5, max_times_use=1)


def test_client_verifies_a_bank_account(splash: SplashApi, shop, client: SplashClient):
    good = splash.bank_token(shop["customer"])["token"]
    request = TxnRequest(merchant=shop["merchant"], type=TxnType.ECHECK_VERIFY, token=good)
    txn = client.txn(request, request_token="verify-1")
    assert (txn.type, txn.txn_status, txn.total) == (12, TxnStatus.APPROVED, 0)
    bad = splash.bank_token(shop["customer"], "9992000004")["token"]
    with pytest.raises(SplashDeclined) as declined:
        client.txn(TxnRequest(merchant=shop["merchant"], type=12, token=bad), request_token="verify-2")
    decline = declined.value.decline
    assert (decline.processor_text, decline.bank_code, decline.retryable) == (
        "Invalid Account Number",
        "invalid_account",
        False,
    )


def test_client_payfields_urls(splash: SplashApi, client: SplashClient):
    assert client.payfields_script_url == f"{splash.base}/payFieldsScript"
    assert client.payfields_origin == splash.base
    assert splash.raw("GET", client.payfields_script_url.removeprefix(splash.base), key=None).status_code == 200
