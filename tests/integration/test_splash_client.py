"""The Splash client against the Splash sandbox over HTTP: every code path the system relies on."""

from __future__ import annotations

import pytest
import requests

from practicepay.ids import new_id
from practicepay.splash.client import SplashClient
from practicepay.splash.errors import (
    SplashAuthError,
    SplashDeclined,
    SplashInvalidOperation,
    SplashNotFound,
    SplashOutcomeUnknown,
    SplashRateLimited,
    SplashValidationError,
)
from practicepay.splash.models import EntityReturn, MerchantStatus, Txn, TxnStatus, TxnType
from practicepay.splash.outbound import (
    CardOrBank,
    CustomerRequest,
    TokenRequest,
    TxnRequest,
)
from practicepay.splash.search import Search
from tests.integration.splash_helpers import ROUTING, VISA, board, make_client, raw_traffic, sale, token

pytestmark = pytest.mark.integration


def test_boarding_progresses_with_the_sandbox_clock(base):
    client = make_client(base)
    merchant_id = board(client)
    from practicepay.splash.models import Merchant

    assert client.get(Merchant, merchant_id).merchant_status is MerchantStatus.READY
    requests.post(f"{base}/_sandbox/clock", json={"advance_days": 2}, timeout=5).raise_for_status()
    assert client.get(Merchant, merchant_id).merchant_status is MerchantStatus.BOARDED


def test_card_sale_refund_and_reverse_rules(base):
    client = make_client(base)
    merchant = board(client)
    tok = token(client, merchant)
    txn = sale(client, merchant, tok, 12500)
    assert txn.txn_status is TxnStatus.APPROVED and txn.total == 12500

    refund = TxnRequest(type=TxnType.CARD_REFUND, fortxn=txn.id, total=2500)
    with pytest.raises(SplashInvalidOperation):  # not captured yet
        client.txn(refund, request_token=new_id("rfd"))
    reverse = client.txn(TxnRequest(type=TxnType.CARD_REVERSE, fortxn=txn.id, total=12500), request_token=new_id("rev"))
    assert reverse.txn_status is TxnStatus.APPROVED

    second = sale(client, merchant, tok, 10000)
    requests.post(f"{base}/_sandbox/clock", json={"advance_days": 1}, timeout=5).raise_for_status()
    assert client.get(Txn, second.id).txn_status is TxnStatus.CAPTURED
    with pytest.raises(SplashInvalidOperation):  # reverse only while approved
        client.txn(TxnRequest(type=TxnType.CARD_REVERSE, fortxn=second.id, total=100), request_token=new_id("rev"))
    for amount in (4000, 6000):
        client.txn(TxnRequest(type=TxnType.CARD_REFUND, fortxn=second.id, total=amount), request_token=new_id("rfd"))
    assert client.get(Txn, second.id).refunded == 10000
    with pytest.raises(SplashInvalidOperation):  # nothing left to refund
        client.txn(TxnRequest(type=TxnType.CARD_REFUND, fortxn=second.id, total=1), request_token=new_id("rfd"))


@pytest.mark.parametrize(
    ("total", "category", "retryable"),
    [
        (50004, "insufficient_funds", True),
        (9587, "generic_decline", False),
        (13, "expired_card", False),
        (19, "do_not_honor", False),
        (12, "lost_or_stolen", False),
        (84800, "try_again_later", True),
    ],
)
@pytest.mark.parametrize("style", ["txn_and_errors", "errors_only"])
def test_sandbox_trigger_amounts_decline_with_their_category(sandbox, base, total, category, retryable, style):
    sb, _ = sandbox
    sb.settings.decline_style = style
    try:
        client = make_client(base)
        merchant = board(client)
        tok = token(client, merchant)
        with pytest.raises(SplashDeclined) as declined:
            sale(client, merchant, tok, total)
    finally:
        sb.settings.decline_style = "txn_and_errors"
    decline = declined.value.decline
    assert (decline.category, decline.retryable) == (category, retryable)
    assert decline.processor_text
    if style == "txn_and_errors":
        assert decline.txn_id and decline.processor_code  # read from /txnResults


def test_echeck_settles_then_a_test_account_returns_and_redeposit_rules_apply(base):
    client = make_client(base)
    merchant = board(client)
    nsf = token(client, merchant, number="9990000001", routing=ROUTING)
    txn = sale(client, merchant, nsf, 20000, TxnType.ECHECK_SALE)
    assert txn.txn_status is TxnStatus.APPROVED
    requests.post(f"{base}/_sandbox/clock", json={"advance_days": 1}, timeout=5).raise_for_status()
    assert client.get(Txn, txn.id).txn_status is TxnStatus.SETTLED
    requests.post(f"{base}/_sandbox/clock", json={"advance_days": 2}, timeout=5).raise_for_status()
    assert client.get(Txn, txn.id).txn_status is TxnStatus.RETURNED
    (ret,) = list(client.iterate(EntityReturn, search=Search().equals("txn", txn.id)))
    assert (ret.code, ret.actionCode) == ("R01", "nsf")
    for _ in range(2):  # this account returns every presentment: redeposit, see it return, again
        redeposit = client.txn(TxnRequest(type=TxnType.ECHECK_REDEPOSIT, fortxn=txn.id), request_token=new_id("rdp"))
        requests.post(f"{base}/_sandbox/clock", json={"advance_days": 3}, timeout=5).raise_for_status()
        assert client.get(Txn, redeposit.id).txn_status is TxnStatus.RETURNED
    with pytest.raises(SplashInvalidOperation, match="366"):
        client.txn(TxnRequest(type=TxnType.ECHECK_REDEPOSIT, fortxn=txn.id), request_token=new_id("rdp"))

    closed = token(client, merchant, number="9990000002", routing=ROUTING)
    bad = sale(client, merchant, closed, 5000, TxnType.ECHECK_SALE)
    requests.post(f"{base}/_sandbox/clock", json={"advance_days": 3}, timeout=5).raise_for_status()
    assert client.get(Txn, bad.id).txn_status is TxnStatus.RETURNED
    with pytest.raises(SplashInvalidOperation, match="367"):
        client.txn(TxnRequest(type=TxnType.ECHECK_REDEPOSIT, fortxn=bad.id), request_token=new_id("rdp"))


def test_validation_errors_name_the_field_and_unknown_references_are_not_found(base):
    client = make_client(base)
    merchant = board(client)
    with pytest.raises(SplashNotFound):
        client.txn(
            TxnRequest(merchant=merchant, type=TxnType.CARD_SALE, total=100, token="0" * 32, order=new_id("pay")),
            request_token=new_id("pay"),
        )
    with pytest.raises(SplashValidationError) as invalid:
        client.tokenize(
            TokenRequest(
                customer=client.create_customer(CustomerRequest(merchant=merchant, custom=new_id("pat"))).id,
                payment=CardOrBank(number="4242424242424241"),
                expiration="1230",
            )
        )
    assert invalid.value.fields
    with pytest.raises(SplashNotFound):
        client.get(Txn, "t1_txn_00000000000000000000000")


def test_a_wrong_api_key_is_an_auth_error(base):
    with pytest.raises(SplashAuthError):
        make_client(base, key="not-the-key").get(Txn, "t1_txn_00000000000000000000000")


def test_replayed_request_token_runs_once(base):
    client = make_client(base)
    merchant = board(client)
    tok = token(client, merchant)
    order = new_id("pay")
    body = TxnRequest(merchant=merchant, type=TxnType.CARD_SALE, total=4200, token=tok, order=order)
    first = client.txn(body, request_token=order)
    again = client.txn(body, request_token=order)
    assert again.id == first.id
    assert [t.id for t in client.txns_by_order(order)] == [first.id]


def _charge_after_a_stalled_commit(base: str, attempts: int) -> tuple[SplashClient, str, Txn | None]:
    """A card sale whose first answer stalls past the client's read timeout although Splash committed it."""
    client = make_client(base, max_attempts=attempts)
    merchant = board(client)
    tok = token(client, merchant)
    fault = {"kind": "timeout_after_commit", "count": 1, "path": "/txns", "delay_seconds": 1.5}
    requests.post(f"{base}/_sandbox/faults", json=fault, timeout=5).raise_for_status()
    order = new_id("pay")
    body = TxnRequest(merchant=merchant, type=TxnType.CARD_SALE, total=3000, token=tok, order=order)
    try:
        return client, order, client.txn(body, request_token=order)
    except SplashOutcomeUnknown:
        return client, order, None


def test_timeout_after_commit_is_outcome_unknown_and_the_txn_is_found_by_order(base):
    client, order, answered = _charge_after_a_stalled_commit(base, attempts=1)
    assert answered is None  # SplashOutcomeUnknown, not a failure
    (found,) = client.txns_by_order(order)
    assert found.txn_status is TxnStatus.APPROVED and found.total == 3000


def test_retry_with_the_same_token_after_a_timeout_does_not_charge_twice(base):
    client, order, answered = _charge_after_a_stalled_commit(base, attempts=3)
    assert answered is not None
    assert [t.id for t in client.txns_by_order(order)] == [answered.id]


def test_5xx_on_reads_is_retried(base):
    client = make_client(base)
    requests.post(f"{base}/_sandbox/faults", json={"kind": "http_500", "count": 2}, timeout=5).raise_for_status()
    assert client.list(Txn).items == []


def test_rate_limit_block_is_waited_out_or_reported(sandbox, base):
    sb, _ = sandbox
    sb.settings.rate_limit_per_10s = 3
    try:
        client = make_client(base)
        for _ in range(6):
            client.list(Txn)  # the 4th waits out the 0.3 s block, then carries on
        with pytest.raises(SplashRateLimited):  # the window is full again; no budget to wait
            make_client(base, rate_limit_budget=0.0).list(Txn)
    finally:
        sb.settings.rate_limit_per_10s = 1000


def test_paging_and_search_over_many_txns(base):
    client = make_client(base)
    merchant = board(client)
    tok = token(client, merchant)
    made = [sale(client, merchant, tok, 1000 + n).id for n in range(7)]
    found = list(client.iterate(Txn, search=Search().equals("merchant", merchant).sort("total", "asc"), limit=3))
    assert [t.id for t in found] == made
    big = list(client.iterate(Txn, search=Search().greater("total", 1004), limit=100))
    assert {t.total for t in big} == {1005, 1006}


def test_after_tokenizing_the_card_number_never_travels_again(base):
    sent: list = []
    client = make_client(base, sent=sent)
    merchant = board(client)
    tok = token(client, merchant)
    tokenizing = len(sent)
    assert VISA in raw_traffic(sent)  # the sandbox tokenization itself carries it (sandbox host only)
    txn = sale(client, merchant, tok, 2000)
    client.get(Txn, txn.id)
    client.txns_by_order(txn.order or "")
    later = raw_traffic(sent[tokenizing:])
    assert tok in later and VISA not in later
