"""The sandbox answers txns as the recorded test-api.payrix.com traffic shows (tests/fixtures/splash/recorded/,
splash-api.md §1 Type quirk, §6.1, §10): the same keys carry values of the same JSON types, POST answers stringify
only the recorded fields, and reverses and refunds behave as recorded."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.sandbox.server import SplashSandbox
from tests.helpers import free_port
from tests.integration import sandbox_kit as kit
from tests.integration.sandbox_kit import Payer, SplashApi, fast_settings

pytestmark = pytest.mark.integration
splash, sandbox = kit.splash, kit.sandbox  # the kit's fixtures

RECORDED = Path(__file__).parents[1] / "fixtures" / "splash" / "recorded"
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")

# POST /txns type 5 with no total (Printavo/activemerchant_payrix@7ebbb57c40c7ccb95627ba4894eb9bc4386e8501,
# spec/support/vcr_cassettes/activemerchant_billing_payrixgateway/_credit/when_the_transaction_id_is_valid/
# returns_a_successful_response.yml, recorded Wed, 11 May 2022 21:33:54 GMT). Trimmed to the non-null fields;
# every kept value is as recorded. Request: {"fortxn": ..., "type": 5, "origin": 2, "amount": null}.
RECORDED_REFUND: dict[str, Any] = {
    "id": "t1_txn_627c2bc27061a24bd3fa6a1",
    "created": "2022-05-11 17:33:54.4607",
    "modified": "2022-05-11 17:33:54.5516",
    "creator": "t1_log_620d33c79fd9b4897252a37",
    "modifier": "t1_log_620d33c79fd9b4897252a37",
    "merchant": "t1_mer_622f845e58815ff11e1ae17",
    "payment": "g157968b6df1534",
    "fortxn": "t1_txn_626aaa5e6a0749d6d715419",
    "type": 5,
    "expiration": "1224",
    "currency": "USD",
    "platform": "VANTIV",
    "captured": "2022-05-11 17:33:54",
    "allowPartial": 0,
    "order": "",
    "descriptor": "Mike D",
    "origin": 2,
    "tax": 903,
    "total": 13011,
    "approved": 13011,
    "status": "3",
    "refunded": 0,
    "unauthReason": "customerCancelled",
    "originalApproved": 13011,
    "debtRepayment": "0",
    "fundingEnabled": "1",
}


def recorded(name: str) -> dict[str, Any]:
    return json.loads((RECORDED / f"{name}.json").read_text())


def recorded_record(name: str) -> dict[str, Any]:
    (record,) = recorded(name)["body"]["response"]["data"]
    return record


def assert_same_shape(ours: dict[str, Any], theirs: dict[str, Any], required: tuple[str, ...]) -> None:
    """`required` keys are in our answer; every key both answers carry (non-null) has the same JSON type."""
    missing = [k for k in required if ours.get(k) is None]
    assert not missing, f"missing {missing}"
    ours_types = {k: type(v).__name__ for k, v in ours.items() if v is not None and theirs.get(k) is not None}
    theirs_types = {k: type(theirs[k]).__name__ for k in ours_types}
    assert ours_types == theirs_types


@pytest.fixture
def payer(splash: SplashApi) -> Payer:
    return splash.payer()


SALE_KEYS = ("id", "created", "modified", "merchant", "token", "payment", "type", "expiration", "currency")
SALE_KEYS += ("platform", "order", "origin", "tax", "total", "authorization", "approved", "status", "refunded")
SALE_KEYS += ("originalApproved", "debtRepayment", "fundingEnabled")


def test_a_sale_answer_stringifies_only_the_recorded_fields(splash: SplashApi, payer: Payer):
    fixture = recorded("txn_post_sale_stringified")
    body = {**fixture["_source"]["request_body"], "token": payer.card}  # merchant inferred from the token
    response = splash.call("POST", "/txns", body=body)
    assert set(response) == set(fixture["body"]["response"]) and set(response["details"]) == {"requestId"}
    (txn,) = response["data"]
    assert_same_shape(txn, recorded_record("txn_post_sale_stringified"), SALE_KEYS)
    assert (txn["status"], txn["approved"], txn["fundingEnabled"], txn["debtRepayment"]) == ("1", "400", "1", "0")
    assert (txn["total"], txn["type"], txn["origin"], txn["tax"]) == (400, 1, 8, 1)


def test_a_get_gives_ints_and_captured_as_a_datetime_string(splash: SplashApi, payer: Payer):
    txn = payer.sale(10000, origin=8)
    splash.advance(days=2)  # captured at the first midnight, settled at the second
    got = splash.get("txns", txn["id"])
    theirs = recorded_record("txn_get_settled")
    assert_same_shape(got, theirs, ("captured", "settled", "settledTotal", "status", "approved", "fundingEnabled"))
    assert DATETIME.match(got["captured"]) and isinstance(got["settled"], int)
    assert (got["status"], got["approved"], got["originalApproved"], got["debtRepayment"]) == (4, 10000, 10000, 0)


def test_a_reverse_inherits_the_order_and_drops_the_originals_approved(splash: SplashApi, payer: Payer):
    sale = payer.sale(18802, order="2", descriptor="PRACTICE CARE")
    fixture = recorded("txn_post_reverse_stringified")
    body = {**fixture["_source"]["request_body"], "fortxn": sale["id"]}
    reverse = splash.one("POST", "/txns", body=body)
    keys = ("id", "merchant", "payment", "fortxn", "type", "order", "origin", "total", "approved", "status")
    assert_same_shape(reverse, recorded_record("txn_post_reverse_stringified"), keys + ("unauthReason",))
    assert (reverse["status"], reverse["approved"], reverse["originalApproved"]) == ("1", 18802, 18802)
    assert (reverse["order"], reverse["descriptor"]) == ("2", "PRACTICE CARE")
    original = splash.get("txns", sale["id"])
    assert (original["status"], original["approved"], original["originalApproved"]) == (1, 0, 18802)


def test_a_refund_without_a_total_refunds_the_whole_original_captured_at_once(splash: SplashApi, payer: Payer):
    sale = payer.sale(13011, tax=903, descriptor="Mike D")
    splash.advance(days=1)  # captured: now a refund, not a reverse
    refund = splash.one("POST", "/txns", body={"fortxn": sale["id"], "type": 5, "origin": 2})
    keys = ("id", "merchant", "payment", "fortxn", "type", "captured", "descriptor", "origin", "total", "approved")
    assert_same_shape(refund, RECORDED_REFUND, keys + ("status", "originalApproved", "unauthReason"))
    assert (refund["status"], refund["total"], refund["approved"]) == ("3", 13011, 13011)
    assert DATETIME.match(refund["captured"]) and refund["descriptor"] == "Mike D"
    assert splash.get("txns", sale["id"])["refunded"] == 13011
    splash.advance(days=1)
    assert splash.get("txns", refund["id"])["status"] == 4  # batched with the next settlement


@pytest.fixture(scope="module")
def errors_only() -> Iterator[SplashApi]:
    sb = SplashSandbox(fast_settings(decline_style="errors_only"))
    handle = sb.serve("127.0.0.1", free_port())
    yield SplashApi(f"http://127.0.0.1:{handle.port}")
    handle.shutdown()


def test_the_documented_decline_style_is_empty_data_and_one_failed_error(errors_only: SplashApi):
    """No decline is recorded; splash-api.md §6.1 quotes the sandbox page: `data: []`, `{code 201, severity 4,
    msg}`. The recorded envelope of a refusal (data [], details {requestId}, errors) holds it."""
    payer = errors_only.payer()
    body = {"merchant": payer.merchant, "type": 1, "origin": 2, "token": payer.card, "total": 9587}
    response = errors_only.call("POST", "/txns", body=body)
    assert response["data"] == [] and set(response["details"]) == {"requestId"}
    assert response["errors"] == [{"code": 201, "severity": 4, "msg": "Declined"}]
    (failed,) = errors_only.rows("txns", "status[equals]=2")
    assert failed["approved"] == 0
