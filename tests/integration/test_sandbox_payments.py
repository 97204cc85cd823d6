"""The Splash sandbox's payments over real HTTP: tokens, every txn type and its state rules, trigger declines
in both decline styles, eCheck settlement, funding, bank returns and the redeposit rules."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from local.sandbox.server import SplashSandbox
from local.sandbox.tables import CARD_TRIGGERS, NACHA_RETURNS, RETURN_ACCOUNTS, SUFFIX_TRIGGERS
from tests.helpers import free_port
from tests.integration import sandbox_kit as kit
from tests.integration.sandbox_kit import (
    EXPIRY,
    ROUTING,
    VISA,
    Payer,
    SplashApi,
    error_codes,
    fast_settings,
)

pytestmark = pytest.mark.integration
splash, sandbox = kit.splash, kit.sandbox  # the kit's fixtures

AUTH, CAPTURE, REVERSE, REFUND, ECHECK_REFUND, REDEPOSIT = 2, 3, 4, 5, 8, 11


@pytest.fixture
def payer(splash: SplashApi) -> Payer:
    return splash.payer()


# --- tokens ---------------------------------------------------------------------------------------------------


def test_a_card_token_shows_only_last_four_and_bin_and_never_the_number(splash: SplashApi):
    merchant = splash.entity()["merchant"]["id"]
    customer = splash.customer(merchant)
    resp = splash.raw(
        "POST", "/tokens", body={"customer": customer, "payment": {"number": VISA, "cvv": "123"}, "expiration": EXPIRY}
    )
    token = resp.json()["response"]["data"][0]
    assert token["payment"] == {"id": token["payment"]["id"], "method": 2, "number": "1111", "bin": "411111"}
    assert token["payment"]["id"].startswith("g") and len(token["payment"]["id"]) == 15
    assert re.fullmatch(r"[0-9a-f]{32}", token["token"])
    assert (token["status"], token["customer"], token["expiration"]) == ("ready", customer, EXPIRY)
    txn = Payer(splash, merchant, customer, token["token"]).sale()
    seen = [resp.text]
    seen += [
        splash.raw("GET", path).text for path in ("/tokens", f"/tokens/{token['id']}", "/txns", "/_sandbox/requests")
    ]
    seen.append(splash.raw("GET", f"/txns/{txn['id']}", params={"expand[payment][]": "", "expand[token][]": ""}).text)
    assert all(VISA not in text and '"123"' not in text for text in seen)


@pytest.mark.parametrize(
    ("number", "method"),
    [(VISA, 2), ("5555555555554444", 3), ("2223003122003222", 3), ("378282246310005", 1), ("6011111111111117", 5)],
)
def test_the_method_is_inferred_from_the_bin(splash: SplashApi, number: str, method: int):
    merchant = splash.entity()["merchant"]["id"]
    token = splash.card_token(splash.customer(merchant), number)
    assert (token["payment"]["method"], token["payment"]["number"]) == (method, number[-4:])


@pytest.mark.parametrize(
    ("payment", "expiration", "expected"),
    [
        ({"number": "4111111111111112"}, EXPIRY, ("payment.number", "invalid_field")),
        ({"number": VISA}, "0225", ("expiration", "invalid_field")),  # before the sandbox month (March 2025)
        ({"number": VISA}, None, ("expiration", "required_field")),
        ({"number": VISA}, "1325", ("expiration", "invalid_field")),
        ({"number": VISA, "method": 3}, EXPIRY, ("payment.method", "txn_type_payment_method_mismatch")),
        ({"method": 8, "number": "123456789", "routing": "021000022"}, None, ("payment.routing", "invalid_field")),
        ({"method": 8, "number": "123", "routing": ROUTING}, None, ("payment.number", "invalid_field")),
        ({"number": "123456789", "routing": ROUTING}, None, ("payment.method", "required_field")),
    ],
)
def test_invalid_payments_are_refused_and_nothing_is_vaulted(
    splash: SplashApi, payment: dict, expiration: str | None, expected
):
    customer = splash.customer(splash.entity()["merchant"]["id"])
    body = {"customer": customer, "payment": payment} | ({"expiration": expiration} if expiration else {})
    assert error_codes(splash.refused("POST", "/tokens", body=body)) == {expected}
    assert splash.rows("tokens") == []


def test_a_token_needs_an_existing_customer_or_creates_one_inline(splash: SplashApi):
    payment = {"number": VISA}
    errors = splash.refused(
        "POST", "/tokens", body={"customer": "t1_cus_00000000000000000000000", "payment": payment, "expiration": EXPIRY}
    )
    assert error_codes(errors) == {("customer", "no_such_record")}
    merchant = splash.entity()["merchant"]["id"]
    token = splash.one(
        "POST",
        "/tokens",
        body={"customer": {"merchant": merchant, "first": "Pat"}, "payment": payment, "expiration": EXPIRY},
    )
    assert splash.get("customers", token["customer"])["merchant"] == merchant


def test_a_token_update_may_change_only_its_allowed_fields(splash: SplashApi, payer: Payer):
    (token,) = splash.rows("tokens")
    errors = splash.refused("PUT", f"/tokens/{token['id']}", body={"customer": payer.customer, "status": "pending"})
    assert error_codes(errors) == {("customer", "field_restricted"), ("status", "field_restricted")}
    updated = splash.one("PUT", f"/tokens/{token['id']}", body={"description": "HSA card", "inactive": 1})
    assert (updated["description"], updated["inactive"]) == ("HSA card", 1)
    errors = splash.refused(
        "POST", "/txns", body={"merchant": payer.merchant, "type": 1, "origin": 2, "token": payer.card, "total": 100}
    )
    assert error_codes(errors) == {("token", "invalid_field")}
    splash.one("DELETE", f"/tokens/{token['id']}")
    assert splash.rows("tokens") == []


# --- card txns --------------------------------------------------------------------------------------------------


def test_a_sale_is_approved_then_captured_then_settled_at_day_boundaries(splash: SplashApi, payer: Payer):
    txn = payer.sale(1000)
    assert (txn["status"], txn["approved"], txn["platform"]) == ("1", "1000", "VANTIV")
    assert len(txn["authorization"]) == 6 and txn["payment"].startswith("g")
    (result,) = splash.rows("txnResults", f"txn[equals]={txn['id']}")
    assert {k: result[k] for k in ("type", "code", "message", "originalCode", "bankCode")} == {
        "type": 1,
        "code": 0,
        "message": "Approved",
        "originalCode": "000",
        "bankCode": "approved",
    }
    assert splash.advance(seconds=8 * 3600)["events"] == []  # 23:00, no boundary yet
    assert splash.advance(seconds=3600)["events"] == ["update", "txn.captured", "update", "merchant.boarding"]
    captured = splash.get("txns", txn["id"])
    assert (captured["status"], captured["settled"]) == (3, None)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", captured["captured"])  # a datetime string
    splash.advance(days=1)
    settled = splash.get("txns", txn["id"])
    assert (settled["status"], settled["settled"], settled["settledTotal"]) == (4, 20250305, 1000)


def test_auth_capture_and_reverse_rules(splash: SplashApi, payer: Payer):
    auth = payer.sale(5000, AUTH)
    capture = payer.then(CAPTURE, auth["id"], total=4000)
    assert (capture["type"], capture["status"], capture["approved"], capture["fortxn"]) == (
        3,
        "1",
        4000,  # an int on a txn made for another (as the recorded reverse and refund)
        auth["id"],
    )
    assert capture["authorization"] == auth["authorization"]
    assert error_codes(payer.refused(CAPTURE, auth["id"])) == {("fortxn", "invalid_status")}
    assert error_codes(payer.refused(REVERSE, auth["id"])) == {("fortxn", "invalid_status")}
    splash.advance(days=1)
    assert splash.get("txns", auth["id"])["status"] == 1  # an auth is never batched; its capture is
    assert splash.get("txns", capture["id"])["status"] == 3

    other = payer.sale(3000, AUTH)
    assert payer.then(REVERSE, other["id"], total=1000)["unauthReason"] == "customerCancelled"
    assert splash.get("txns", other["id"])["reversed"] == 1000
    assert error_codes(payer.refused(REVERSE, other["id"], total=2001)) == {("total", "invalid_status")}
    assert payer.then(REVERSE, other["id"])["total"] == 2000  # the remaining amount by default
    assert splash.get("txns", other["id"])["reversed"] == 3000
    assert error_codes(payer.refused(CAPTURE, other["id"])) == {("total", "invalid_status")}
    assert error_codes(payer.refused(CAPTURE, capture["id"])) == {("fortxn", "invalid_field")}


def test_a_reverse_needs_an_approved_original_and_a_fully_reversed_sale_is_never_captured(
    splash: SplashApi, payer: Payer
):
    batched = payer.sale(1000)
    voided = payer.sale(2000)
    payer.then(REVERSE, voided["id"])
    splash.advance(days=1)
    assert splash.get("txns", voided["id"])["status"] == 1
    assert error_codes(payer.refused(REVERSE, batched["id"])) == {("fortxn", "invalid_status")}
    assert len(splash.rows("txns", f"type[equals]={REVERSE}")) == 1


def test_refunds_need_a_capture_accumulate_and_never_exceed_the_total(splash: SplashApi, payer: Payer):
    sale = payer.sale(1000)
    assert error_codes(payer.refused(REFUND, sale["id"], total=100)) == {("fortxn", "invalid_status")}
    splash.advance(days=1)
    payer.then(REFUND, sale["id"], total=300)
    payer.then(REFUND, sale["id"], total="400")
    assert splash.get("txns", sale["id"])["refunded"] == 700
    (error,) = payer.refused(REFUND, sale["id"], total=301)
    assert (error["errorCode"], error["msg"][:3]) == ("invalid_status", "365")
    last = payer.then(REFUND, sale["id"], total=300)
    assert splash.get("txns", sale["id"])["refunded"] == 1000
    assert payer.refused(REFUND, sale["id"], total=1)[0]["errorCode"] == "invalid_status"
    splash.advance(days=2)
    assert splash.get("txns", last["id"])["status"] == 4  # refunds are batched too
    auth = payer.sale(500, AUTH)
    assert error_codes(payer.refused(REFUND, auth["id"], total=100)) == {("fortxn", "invalid_field")}


def test_a_txn_takes_the_token_string_and_a_payment_of_its_kind(splash: SplashApi, payer: Payer):
    (card,) = splash.rows("tokens")
    bank = splash.bank_token(payer.customer)["token"]
    body = {"merchant": payer.merchant, "origin": 2, "total": 1000}
    assert error_codes(splash.refused("POST", "/txns", body=body | {"type": 1, "token": card["id"]})) == {
        ("token", "no_such_record")
    }
    assert error_codes(splash.refused("POST", "/txns", body=body | {"type": 7, "token": payer.card})) == {
        ("type", "txn_type_payment_method_mismatch")
    }
    assert error_codes(splash.refused("POST", "/txns", body=body | {"type": 1, "token": bank})) == {
        ("type", "txn_type_payment_method_mismatch")
    }
    bad = body | {"type": 1, "token": payer.card, "total": 0, "merchant": "t1_mer_00000000000000000000000"}
    assert error_codes(splash.refused("POST", "/txns", body=bad)) == {
        ("total", "invalid_field"),
        ("merchant", "no_such_record"),
    }
    inline = splash.txn(
        merchant=payer.merchant, type=1, total=1000, payment={"number": "5555555555554444", "expiration": EXPIRY}
    )
    assert (inline["status"], inline["token"]) == ("1", None)
    (payment,) = splash.ok("GET", f"/txns/{inline['id']}", params={"expand[payment][]": ""})
    assert payment["payment"]["number"] == "4444" and payment["payment"]["method"] == 3
    assert splash.txn(type=1, total=800, token=payer.card)["merchant"] == payer.merchant  # inferred from the customer
    sale = payer.sale()
    assert error_codes(payer.refused(ECHECK_REFUND, sale["id"], total=100)) == {
        ("fortxn", "txn_type_payment_method_mismatch")
    }


# --- declines -------------------------------------------------------------------------------------------------


DECLINES = [(total, code) for total, code in CARD_TRIGGERS.items()] + [
    (cents, code) for cents, code in SUFFIX_TRIGGERS.items()
]


@pytest.mark.parametrize(("total", "code"), DECLINES, ids=[c.bank_code for _, c in DECLINES])
def test_trigger_amounts_decline_with_the_failed_txn_and_errors(splash: SplashApi, payer: Payer, total: int, code):
    response = splash.call(
        "POST", "/txns", body={"merchant": payer.merchant, "type": 1, "origin": 2, "token": payer.card, "total": total}
    )
    (txn,) = response["data"]
    assert (txn["status"], txn["approved"], txn["authorization"]) == ("2", "0", None)
    assert response["errors"] == [{"code": 31, "severity": 4, "msg": code.message, "errorCode": "txn_declined"}]
    (result,) = splash.rows("txnResults", f"txn[equals]={txn['id']}")
    assert (result["code"], result["message"], result["originalCode"], result["bankCode"]) == (
        2,
        code.message,
        code.original_code,
        code.bank_code,
    )
    splash.advance(days=2)
    assert splash.get("txns", txn["id"])["status"] == 2  # never batched


def test_cents_triggers_apply_only_below_the_threshold_and_auths_decline_too(splash: SplashApi, payer: Payer):
    assert payer.sale(119)["status"] == "1"
    assert payer.sale(5019)["status"] == "1"
    response = splash.call(
        "POST", "/txns", body={"merchant": payer.merchant, "type": 2, "origin": 2, "token": payer.card, "total": 50004}
    )
    assert response["data"][0]["status"] == "2" and response["errors"][0]["msg"] == "Insufficient Funds"


def test_a_token_that_has_expired_by_charge_time_declines_as_expired_card(splash: SplashApi, payer: Payer):
    (token,) = splash.rows("tokens")
    splash.one("PUT", f"/tokens/{token['id']}", body={"expiration": "0125"})
    response = splash.call(
        "POST", "/txns", body={"merchant": payer.merchant, "type": 1, "origin": 2, "token": payer.card, "total": 1000}
    )
    assert response["errors"][0]["msg"] == "Expired card"
    (result,) = splash.rows("txnResults", f"txn[equals]={response['data'][0]['id']}")
    assert (result["originalCode"], result["bankCode"]) == ("305", "expired_card")


@pytest.fixture(scope="module")
def errors_only() -> Iterator[SplashApi]:
    sb = SplashSandbox(fast_settings(decline_style="errors_only"))
    handle = sb.serve("127.0.0.1", free_port())
    yield SplashApi(f"http://127.0.0.1:{handle.port}")
    handle.shutdown()


def test_the_errors_only_style_answers_a_decline_without_data_but_keeps_the_failed_txn(errors_only: SplashApi):
    payer = errors_only.payer()
    body = {"merchant": payer.merchant, "type": 1, "origin": 2, "token": payer.card, "total": 9587}
    errors = errors_only.refused("POST", "/txns", body=body)
    assert errors == [{"code": 201, "severity": 4, "msg": "Declined"}]  # the documented decline (§6.1)
    (failed,) = errors_only.rows("txns", "status[equals]=2")
    (result,) = errors_only.rows("txnResults", f"txn[equals]={failed['id']}")
    assert (result["message"], result["originalCode"], result["bankCode"]) == ("Declined", "350", "generic_decline")


# --- eCheck ---------------------------------------------------------------------------------------------------


def test_an_echeck_settles_next_day_and_is_funded_three_business_days_later(splash: SplashApi, payer: Payer):
    txn = payer.echeck(total=2500)  # Monday
    assert (txn["status"], txn["platform"], txn["authorization"]) == ("1", "WELLSACH", None)
    assert splash.advance(days=1)["events"][:3] == ["update", "txn.captured", "txn.settled"]
    settled = splash.get("txns", txn["id"])
    assert (settled["status"], settled["settled"], settled["funded"]) == (4, 20250304, None)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", settled["captured"])  # a datetime string
    splash.advance(days=2)  # Thursday
    assert splash.get("txns", txn["id"])["funded"] is None
    assert "txn.echeck.funded" in splash.advance(days=1)["events"]  # Friday: Tue + 3 business days
    assert splash.get("txns", txn["id"])["funded"] == 20250307
    refund = payer.then(ECHECK_REFUND, txn["id"], total=500)
    assert (refund["type"], refund["platform"]) == (8, "WELLSACH")
    assert splash.get("txns", txn["id"])["refunded"] == 500


def test_funding_skips_the_weekend(splash: SplashApi, payer: Payer):
    splash.advance(days=3)  # Thursday; settles Friday
    txn = payer.echeck()
    splash.advance(days=4)  # Monday
    assert splash.get("txns", txn["id"])["funded"] is None
    splash.advance(days=2)  # Wednesday = Friday + 3 business days
    assert splash.get("txns", txn["id"])["funded"] == 20250312


def test_an_echeck_of_the_not_authorized_trigger_amount_declines(splash: SplashApi, payer: Payer):
    token = splash.bank_token(payer.customer)["token"]
    response = splash.call(
        "POST", "/txns", body={"merchant": payer.merchant, "type": 7, "origin": 2, "token": token, "total": 50013}
    )
    assert response["data"][0]["status"] == "2"
    assert response["errors"][0]["msg"] == "Corporate customer advises not authorized"


RETURNING = [(number, plan) for number, plan in RETURN_ACCOUNTS.items()]


@pytest.mark.parametrize(("number", "plan"), RETURNING, ids=[n for n, _ in RETURNING])
def test_test_bank_accounts_return_with_their_code_after_their_days(splash: SplashApi, payer: Payer, number: str, plan):
    txn = payer.echeck(number)
    splash.advance(days=plan.after_days - 1)
    assert splash.get("txns", txn["id"])["returned"] is None
    assert "txn.returned" in splash.advance(days=1)["events"]
    returned = splash.get("txns", txn["id"])
    assert (returned["status"], returned["returned"]) == (5, int(f"202503{3 + plan.after_days:02d}"))
    (row,) = splash.rows("entityReturns", f"txn[equals]={txn['id']}")
    reason = NACHA_RETURNS[plan.code]
    entity = splash.get("merchants", payer.merchant)["entity"]
    assert (row["entity"], row["code"], row["actionCode"], row["message"]) == (
        entity,
        plan.code,
        reason.action_code,
        reason.meaning,
    )
    assert row["id"].startswith("t1_ern_") and row["payment"] == txn["payment"]
    assert error_codes(payer.refused(ECHECK_REFUND, txn["id"], total=100)) == {("fortxn", "invalid_status")}


def test_a_normal_account_never_returns(splash: SplashApi, payer: Payer):
    txn = payer.echeck("123456789")
    splash.advance(days=10)
    assert splash.get("txns", txn["id"])["status"] == 4
    assert splash.rows("entityReturns") == []


def test_an_nsf_item_may_be_redeposited_twice_then_366(splash: SplashApi, payer: Payer):
    sale = payer.echeck("9990000001")
    assert "367" in payer.refused(REDEPOSIT, sale["id"])[0]["msg"]  # not returned yet
    splash.advance(days=2)
    for _ in range(2):
        redeposit = payer.then(REDEPOSIT, sale["id"])
        assert (redeposit["type"], redeposit["total"], redeposit["fortxn"]) == (11, 2500, sale["id"])
        assert "371" in payer.refused(REDEPOSIT, sale["id"])[0]["msg"]  # one presentment at a time
        splash.advance(days=2)
        assert splash.get("txns", redeposit["id"])["status"] == 5
    (error,) = payer.refused(REDEPOSIT, sale["id"])
    assert (error["errorCode"], error["msg"][:3]) == ("invalid_status", "366")
    assert len(splash.rows("entityReturns")) == 3


def test_a_bad_account_return_may_not_be_redeposited(splash: SplashApi, payer: Payer):
    sale = payer.echeck("9990000002")
    splash.advance(days=2)
    (error,) = payer.refused(REDEPOSIT, sale["id"])
    assert (error["field"], error["errorCode"], error["msg"][:3]) == ("fortxn", "invalid_status", "367")
    card = payer.sale()
    assert error_codes(payer.refused(REDEPOSIT, card["id"])) == {("fortxn", "txn_type_payment_method_mismatch")}


def test_an_account_that_returns_only_the_first_presentment_settles_on_redeposit(splash: SplashApi, payer: Payer):
    sale = payer.echeck("9991000001")
    splash.advance(days=2)
    assert splash.get("txns", sale["id"])["status"] == 5
    redeposit = payer.then(REDEPOSIT, sale["id"])  # Wednesday; settles Thursday, funded Tuesday
    splash.advance(days=6)
    assert splash.get("txns", redeposit["id"])["status"] == 4
    assert splash.get("txns", redeposit["id"])["funded"] is not None
    assert "371" in payer.refused(REDEPOSIT, sale["id"])[0]["msg"]
    assert len(splash.rows("entityReturns")) == 1
