"""Parsing of real Payrix bodies (tests/fixtures/splash/recorded, each naming its source): every recorded variant
of a record parses to one type, and a body no variant explains is a typed client error, never pydantic's.

Where a test changes a recorded value (an int where the recording has a string, an id where it has an object)
it says so: the flip is one splash-api.md §1 documents, applied to a recorded record."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from practicepay.splash.client import parse_envelope, parse_record
from practicepay.splash.errors import (
    SplashOutcomeUnknown,
    SplashUnavailable,
    SplashUnexpectedReadRecord,
    SplashUnexpectedRecord,
    SplashUnexpectedWriteRecord,
)
from practicepay.splash.models import Customer, Entity, Member, Merchant, Token, Txn, TxnResult, TxnStatus

pytestmark = pytest.mark.unit
RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "splash" / "recorded"
FIXTURES = RECORDED.parent


def recorded(name: str) -> dict[str, Any]:
    fixture = json.loads((RECORDED / f"{name}.json").read_text())
    assert {"repo", "path", "commit"} <= set(fixture["_source"]), name
    return fixture


def record(name: str, index: int = 0) -> dict[str, Any]:
    """One recorded record, through the client's envelope parser (a fresh copy each time)."""
    fixture = recorded(name)
    return copy.deepcopy(parse_envelope(fixture["status"], fixture["body"]).data[index])


# The fixtures this file relies on (the folder is shared with other suites' recorded fixtures).
OURS = (
    "customer_expanded_tokens",
    "entity_get",
    "member_dob_year_only",
    "merchant_get_malformed_id_404",
    "merchant_mcc_string",
    "merchants_search_mcc_leading_zero",
    "token_get_payment_object",
    "token_get_unknown_id",
    "txn_expanded_token_and_payment",
    "txn_get_settled",
    "txn_post_reverse_stringified",
    "txn_post_sale_stringified",
    "txn_unexpanded",
)


@pytest.mark.parametrize("name", OURS)
def test_every_recorded_fixture_names_its_source(name):
    source = recorded(name)["_source"]
    assert source["repo"] in ("Printavo/activemerchant_payrix", "outlawpractice/payrix-rs"), name
    assert len(source["commit"]) == 40, name


# -- tokens: payment as an object or as its id, customer as an id or expanded ------------------------------------


def test_token_with_payment_expanded_as_recorded():
    token = Token.model_validate(record("token_get_payment_object"))
    assert token.customer == "t1_cus_6244d08bb21962aaf1455ad"
    assert token.payment is not None
    assert (token.payment.id, token.payment.number, token.payment.bin, token.payment.method) == (
        "g157968b6df1534",
        "4242",
        "424242",
        2,
    )
    assert token.expiration == "1133" and token.status == "ready"


def test_token_with_payment_as_its_record_id():
    raw = record("token_get_payment_object")
    # The recorded txns of this instrument carry it unexpanded: "payment": "g157968b6df1534".
    assert record("txn_post_sale_stringified")["payment"] == raw["payment"]["id"]
    raw["payment"] = raw["payment"]["id"]
    token = Token.model_validate(raw)
    assert token.payment is not None
    assert token.payment.id == "g157968b6df1534" and token.payment.method is None and token.payment.number is None


def test_token_with_customer_expanded_becomes_the_customer_id():
    customer = record("customer_expanded_tokens")
    raw = record("token_get_payment_object")
    raw["customer"] = {k: v for k, v in customer.items() if k != "tokens"}  # `expand[customer][]`
    token = Token.model_validate(raw)
    assert token.customer == customer["id"] == "t1_cus_6941bb1b38049844a30901e"
    assert Customer.model_validate(customer).merchant == "t1_mer_65f097a2848a4ceae39b6ee"


@pytest.mark.parametrize(
    "expiration, expected", [("1133", "1133"), (1133, "1133"), (125, "0125")], ids=["str", "int", "int-padded"]
)
def test_token_expiration_keeps_mmyy(expiration, expected):
    raw = record("token_get_payment_object")
    raw["expiration"] = expiration
    assert Token.model_validate(raw).expiration == expected


# -- txns: POST answers stringify, GET gives ints; token and payment expanded or not ----------------------------


def test_txn_post_answer_with_stringified_numbers():
    raw = record("txn_post_sale_stringified")
    assert (raw["status"], raw["approved"], raw["order"]) == ("1", "400", "1234567")
    txn = Txn.model_validate(raw)
    assert txn.txn_status is TxnStatus.APPROVED and txn.approved == 400 and txn.total == 400
    assert txn.order == "1234567"
    assert txn.token == "4da838f0da85bdcd0c906c68c8ab7995"
    assert txn.payment is not None and txn.payment.id == "g157968b6df1534"


def test_txn_reverse_answer_mixes_string_status_and_int_approved():
    txn = Txn.model_validate(record("txn_post_reverse_stringified"))
    assert (txn.status, txn.approved, txn.order, txn.fortxn) == (1, 18802, "2", "t1_txn_62a384a224b7d6d03864126")


def test_txn_get_with_int_dates():
    txn = Txn.model_validate(record("txn_get_settled"))
    assert txn.txn_status is TxnStatus.SETTLED
    assert (txn.captured, txn.settled, txn.funded) == ("2022-05-10 16:31:12", "20220510", "20220510")
    assert txn.order == "" and txn.token is None
    assert txn.payment is not None and txn.payment.id == "g157b215cd94669"


def test_txn_with_token_and_payment_expanded():
    raw = record("txn_expanded_token_and_payment")
    assert isinstance(raw["token"], dict) and isinstance(raw["payment"], dict)
    txn = Txn.model_validate(raw)
    assert txn.token == "be39ae1fd3c097dd74ca3a14bf89620b"  # the token string, not the token record's id
    assert txn.payment is not None and (txn.payment.id, txn.payment.bin, txn.payment.number) == (
        "g157b215cd94669",
        "411111",
        "1111",
    )
    assert txn.settled == "20251216"


def test_txn_unexpanded_as_recorded():
    txn = Txn.model_validate(record("txn_unexpanded"))
    assert txn.token == "e95f59f37e8c52edc9840c2b675fb05b"
    assert txn.payment is not None and txn.payment.id == "g157968b6df1534"


# -- int/str flips (splash-api.md §1): each normalized to one type --------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        ("1234567", "1234567"),
        (1234567, "1234567"),
        ("pay_01m8d3e71x1f54advrsjttapa5", "pay_01m8d3e71x1f54advrsjttapa5"),
    ],
    ids=["str", "int", "ours"],
)
def test_txn_order_is_text(value, expected):
    raw = record("txn_post_sale_stringified")
    raw["order"] = value
    assert Txn.model_validate(raw).order == expected


@pytest.mark.parametrize(
    "value, expected",
    [("0763", "0763"), (763, "0763"), ("8111", "8111"), (8111, "8111")],
    ids=["str-zero", "int-padded", "str", "int"],
)
def test_merchant_mcc_is_four_digit_text(value, expected):
    assert record("merchants_search_mcc_leading_zero")["mcc"] == "0763"  # recorded with its leading zero
    raw = record("merchant_mcc_string")
    raw["mcc"] = value
    merchant = Merchant.model_validate(raw)
    assert merchant.mcc == expected
    assert merchant.status == 0  # recorded: a boarded, processing merchant with status 0 (splash-api.md §10)


@pytest.mark.parametrize(
    "value, expected", [("1973", "1973"), (1973, "1973"), (19730412, "19730412")], ids=["str-year", "int-year", "int"]
)
def test_member_dob_is_text(value, expected):
    assert record("member_dob_year_only")["dob"] == "1973"
    raw = record("member_dob_year_only")
    raw["dob"] = value
    assert Member.model_validate(raw).dob == expected


@pytest.mark.parametrize(
    "value, expected", [(None, None), (20240115, "20240115"), ("20240115", "20240115")], ids=["null", "int", "str"]
)
def test_entity_tc_accept_date_is_text(value, expected):
    assert record("entity_get")["tcAcceptDate"] is None
    raw = record("entity_get")
    raw["tcAcceptDate"] = value
    assert Entity.model_validate(raw).tcAcceptDate == expected


@pytest.mark.parametrize(
    "value, expected",
    [("110", "110"), (110, "110"), (10, "010"), ("010", "010")],
    ids=["str", "int", "int-padded", "str-zero"],
)
def test_txn_result_original_code_is_three_digit_text(value, expected):
    raw = json.loads((FIXTURES / "txn_results_declined.json").read_text())["response"]["data"][0]
    raw["originalCode"] = value
    assert TxnResult.model_validate(raw).originalCode == expected


# -- a shape never recorded: a typed client error, never pydantic's, and no values in it ------------------------


def test_an_unreadable_read_is_a_typed_error_without_values():
    raw = record("txn_unexpanded")
    raw["status"] = "settled"  # no recording explains this
    raw["type"] = [1]
    with pytest.raises(SplashUnexpectedReadRecord) as caught:
        parse_record(Txn, raw, method="GET", path="txns/t1_txn_68fff2f40c20d4182c620b5")
    error = caught.value
    assert isinstance(error, SplashUnexpectedRecord) and isinstance(error, SplashUnavailable)
    assert not isinstance(error, ValidationError) and error.__cause__ is None and error.__suppress_context__
    assert {p.split(":")[0] for p in error.problems} == {"status", "type"}
    assert "settled" not in str(error) and raw["token"] not in str(error)
    assert "t1_txn_68fff2f40c20d4182c620b5" in str(error)


def test_an_unreadable_write_answer_is_an_outcome_unknown():
    raw = record("txn_post_sale_stringified")
    del raw["status"]
    with pytest.raises(SplashUnexpectedWriteRecord) as caught:
        parse_record(Txn, raw, method="POST")
    assert isinstance(caught.value, SplashOutcomeUnknown)  # the charge may have run: look it up, never fail it
    assert raw["token"] not in str(caught.value)
