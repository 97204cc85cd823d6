"""Contract tests: the client against responses shaped like recorded Payrix traffic (tests/fixtures/splash):
numbers as strings, errors inside HTTP 200, empty data for unknown ids, 429 blocks with top-level errors."""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path

import pytest
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import NewConnectionError

from practicepay.splash.client import SplashClient, parse_envelope, resolve_host
from practicepay.splash.errors import (
    SplashAuthError,
    SplashDeclined,
    SplashInvalidOperation,
    SplashNotFound,
    SplashOutcomeUnknown,
    SplashRateLimited,
    SplashRequestTokenReused,
    SplashUnavailable,
    SplashValidationError,
)
from practicepay.splash.models import Txn, TxnStatus, TxnType
from practicepay.splash.outbound import TxnRequest
from practicepay.splash.search import Search

pytestmark = pytest.mark.unit
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "splash"
MERCHANT = "t1_mer_6227be75a75b292bde6dbe2"
TOKEN = "4da838f0da85bdcd0c906c68c8ab7995"
API_KEY = "test-api-key-0123456789"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


class Scripted(BaseAdapter):
    """A transport answering from a script: each entry is (status, body dict) or an exception instance."""

    def __init__(self, *answers):
        super().__init__()
        self.answers = deque(answers)
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request, **kwargs):
        self.sent.append(request)
        answer = self.answers.popleft()
        if isinstance(answer, Exception):
            raise answer
        status, body, headers = (*answer, {})[:3]
        response = requests.Response()
        response.status_code = status
        response._content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        response.headers = CaseInsensitiveDict({"Content-Type": "application/json", **headers})
        response.request = request
        response.url = request.url
        return response

    def close(self):
        pass


def client(adapter: Scripted, **kw) -> tuple[SplashClient, list[float]]:
    session = requests.Session()
    session.mount("https://", adapter)
    slept: list[float] = []
    c = SplashClient("payrix-sandbox", lambda: API_KEY, session=session, sleep=slept.append, jitter=lambda: 1.0, **kw)
    return c, slept


def sale(order: str = "pay_01m8d3e71x1f54advrsjttapa5", total: int = 400) -> TxnRequest:
    return TxnRequest(merchant=MERCHANT, type=TxnType.CARD_SALE, total=total, token=TOKEN, order=order)


def test_hosts_resolve_and_unknown_hosts_are_refused():
    assert resolve_host("payrix") == "https://api.payrix.com"
    assert resolve_host("splash-sandbox") == "https://test-api.splashpayments.com"
    assert resolve_host("http://127.0.0.1:3001/") == "http://127.0.0.1:3001"
    assert resolve_host("https://pay.whitelabel.example") == "https://pay.whitelabel.example"
    for bad in ("http://evil.example.com", "http://localhost.evil.example", "https://api.payrix.com/x", "payrix2"):
        with pytest.raises(ValueError):
            resolve_host(bad)


def test_only_known_sandbox_hosts_and_this_machine_count_as_sandbox():
    def sandbox(host: str) -> bool:
        return SplashClient(host, lambda: API_KEY).is_sandbox

    assert sandbox("payrix-sandbox") and sandbox("splash-sandbox") and sandbox("http://localhost:3001")
    assert not sandbox("payrix") and not sandbox("https://test-api.evil.example")


def test_approved_sale_with_string_numbers_is_normalized_and_sends_the_safety_headers():
    adapter = Scripted((200, fixture("txn_sale_approved")))
    c, _ = client(adapter)
    txn = c.txn(sale(), request_token="pay_01m8d3e71x1f54advrsjttapa5")
    assert txn.txn_status is TxnStatus.APPROVED and txn.approved == 400 and txn.total == 400
    sent = adapter.sent[0]
    assert sent.headers["APIKEY"] == API_KEY
    assert sent.headers["REQUEST-TOKEN"] == "pay_01m8d3e71x1f54advrsjttapa5"
    body = json.loads(sent.body)
    assert body == {
        "merchant": MERCHANT,
        "type": 1,
        "origin": 2,
        "total": 400,
        "token": TOKEN,
        "order": "pay_01m8d3e71x1f54advrsjttapa5",
    }
    assert sent.url == "https://test-api.payrix.com/txns"


def test_writes_require_a_request_token():
    c, _ = client(Scripted())
    with pytest.raises(ValueError, match="REQUEST-TOKEN"):
        c.request("POST", "txns", body=sale())


def test_errors_inside_http_200_become_typed_errors_naming_the_fields():
    c, _ = client(Scripted((200, fixture("txn_no_such_record")), (200, fixture("txn_required_field"))))
    with pytest.raises(SplashNotFound) as missing:
        c.txn(sale(), request_token="t1")
    assert [i.field for i in missing.value.items] == ["token", "merchant"]
    with pytest.raises(SplashValidationError) as invalid:
        c.txn(sale(), request_token="t2")
    assert invalid.value.fields == ["total"]


def test_processor_refusals_are_invalid_operations():
    c, _ = client(Scripted((200, fixture("txn_invalid_status"))))
    with pytest.raises(SplashInvalidOperation, match="367"):
        c.txn(sale(), request_token="t3")


def test_unknown_id_is_not_found_not_an_empty_record():
    c, _ = client(Scripted((200, fixture("txn_unknown_id"))))
    with pytest.raises(SplashNotFound):
        c.get(Txn, "t1_txn_000000000000000000000ff")


def test_decline_reads_txn_results_for_the_category_and_the_processor_text():
    adapter = Scripted((200, fixture("txn_declined")), (200, fixture("txn_results_declined")))
    c, _ = client(adapter)
    with pytest.raises(SplashDeclined) as declined:
        c.txn(sale(total=50004), request_token="t4")
    d = declined.value.decline
    assert (d.category, d.retryable, d.processor_text, d.processor_code) == (
        "insufficient_funds",
        True,
        "Insufficient Funds",
        "110",
    )
    assert adapter.sent[1].headers["SEARCH"] == "txn[equals]=t1_txn_64f0c3a1b2c3d4e5f6a7b8c"


def test_decline_without_a_txn_in_data_still_classifies_from_the_error_text():
    body = fixture("txn_declined")
    body["response"]["data"] = []
    c, _ = client(Scripted((200, body)))
    with pytest.raises(SplashDeclined) as declined:
        c.txn(sale(total=50004), request_token="t5")
    assert declined.value.decline.category == "insufficient_funds"


@pytest.mark.parametrize("status", [401, 400])
def test_bad_api_key_is_an_auth_error_whatever_the_status(status):
    c, _ = client(Scripted((status, fixture("invalid_auth"))))
    with pytest.raises(SplashAuthError):
        c.get(Txn, "t1_txn_000000000000000000000a1")


def test_a_429_block_is_waited_out_then_retried():
    adapter = Scripted((429, fixture("rate_limited")), (200, fixture("txn_unknown_id")))
    c, slept = client(adapter)
    page = c.list(Txn)
    assert page.items == [] and slept == [10.0] and len(adapter.sent) == 2


def test_a_429_beyond_the_wait_budget_raises_rate_limited():
    adapter = Scripted((429, fixture("rate_limited"), {"Retry-After": "30"}))
    c, slept = client(adapter)
    with pytest.raises(SplashRateLimited) as limited:
        c.list(Txn)
    assert limited.value.retry_after == 30 and slept == []


def test_gets_retry_5xx_and_timeouts_with_backoff_then_give_up():
    adapter = Scripted((502, {}), requests.ReadTimeout("slow"), (200, fixture("txn_unknown_id")))
    c, slept = client(adapter)
    assert c.list(Txn).items == []
    assert slept == [0.25, 0.5]  # full jitter at its cap: base 0.25 s, doubling
    adapter = Scripted((503, {}), (503, {}), (503, {}))
    c, _ = client(adapter)
    with pytest.raises(SplashUnavailable):
        c.list(Txn)
    assert len(adapter.sent) == 3


def test_a_money_post_that_times_out_is_outcome_unknown_never_a_failure():
    adapter = Scripted(requests.ReadTimeout("slow"), requests.ReadTimeout("slow"), requests.ReadTimeout("slow"))
    c, _ = client(adapter)
    with pytest.raises(SplashOutcomeUnknown):
        c.txn(sale(), request_token="pay_01m8d3e71x1f54advrsjttapa5")
    # every retry carried the same REQUEST-TOKEN, so Splash can run it at most once
    assert {r.headers["REQUEST-TOKEN"] for r in adapter.sent} == {"pay_01m8d3e71x1f54advrsjttapa5"}
    assert len(adapter.sent) == 3


def test_a_money_post_answered_5xx_is_outcome_unknown():
    c, _ = client(Scripted((500, {}), (500, {}), (500, {})))
    with pytest.raises(SplashOutcomeUnknown):
        c.txn(sale(), request_token="t6")


def test_a_create_is_retried_under_one_generated_token_then_reported_unknown():
    from practicepay.splash.models import Customer
    from practicepay.splash.outbound import CustomerRequest

    adapter = Scripted(requests.ReadTimeout("slow"), requests.ReadTimeout("slow"), requests.ReadTimeout("slow"))
    c, _ = client(adapter)
    with pytest.raises(SplashOutcomeUnknown):
        c.create(Customer, CustomerRequest(merchant=MERCHANT, custom="pat_01m8d3e71x1f54advrsjttapa5"))
    tokens = {r.headers["REQUEST-TOKEN"] for r in adapter.sent}
    assert len(adapter.sent) == 3 and len(tokens) == 1


@pytest.mark.parametrize(
    "later",
    [
        (requests.ConnectionError(NewConnectionError(None, "refused")),) * 2,
        ((429, fixture("rate_limited"), {"Retry-After": "60"}),),
        (requests.ConnectTimeout("no route"),) * 2,
    ],
    ids=["refused", "rate-limited", "connect-timeout"],
)
def test_once_a_write_may_have_landed_later_failures_cannot_hide_it(later):
    adapter = Scripted(requests.ReadTimeout("slow"), *later)
    c, _ = client(adapter)
    with pytest.raises(SplashOutcomeUnknown):
        c.txn(sale(), request_token="pay_01m8d3e71x1f54advrsjttapa5")


def test_a_refused_connection_before_anything_was_sent_is_unavailable_not_unknown():
    refused = requests.ConnectionError(NewConnectionError(None, "refused"))
    c, _ = client(Scripted(refused, refused, refused))
    with pytest.raises(SplashUnavailable):
        c.txn(sale(), request_token="pay_01m8d3e71x1f54advrsjttapa5")


def test_an_approved_txn_with_informational_notes_is_returned_not_refused():
    body = fixture("txn_sale_approved")
    body["response"]["errors"] = [{"code": 1, "severity": 1, "msg": "Field truncated", "errorCode": "field_truncated"}]
    c, _ = client(Scripted((200, body)))
    assert c.txn(sale(), request_token="t7").txn_status is TxnStatus.APPROVED


def test_unknown_field_errors_are_validation_errors_and_coded_declines_are_declines():
    unknown = {
        "response": {
            "data": [],
            "errors": [{"field": "order", "code": 15, "severity": 2, "msg": "Too long", "errorCode": "max_length"}],
        }
    }
    coded = {
        "response": {
            "data": [],
            "errors": [{"code": 31, "severity": 4, "msg": "110 Insufficient Funds", "errorCode": "txn_declined"}],
        }
    }
    c, _ = client(Scripted((200, unknown), (200, coded)))
    with pytest.raises(SplashValidationError) as invalid:
        c.txn(sale(), request_token="t8")
    assert not isinstance(invalid.value, SplashDeclined)
    with pytest.raises(SplashDeclined) as declined:
        c.txn(sale(), request_token="t9")
    assert declined.value.decline.category == "insufficient_funds"


def test_a_request_token_that_already_ran_another_operation_is_refused():
    c, _ = client(Scripted((200, fixture("txn_sale_approved"))))
    refund = TxnRequest(type=TxnType.CARD_REFUND, fortxn="t1_txn_627c1db4a5c9f4df02d883d", total=400)
    with pytest.raises(SplashRequestTokenReused, match="type"):
        c.txn(refund, request_token="pay_01m8d3e71x1f54advrsjttapa5")


def test_a_401_with_a_non_json_body_is_still_an_auth_error():
    adapter = Scripted((401, "<html>Unauthorized</html>"))
    c, _ = client(adapter)
    with pytest.raises(SplashAuthError):
        c.get(Txn, "t1_txn_000000000000000000000a1")


def test_paging_without_page_details_keeps_going_while_pages_are_full():
    full = {"response": {"data": [{"id": f"t1_txn_{n:023d}", "type": 1, "status": 1} for n in range(2)]}}
    last = {"response": {"data": [{"id": "t1_txn_" + "9" * 23, "type": 1, "status": 1}]}}
    c, _ = client(Scripted((200, full), (200, last)))
    assert len(list(c.iterate(Txn, limit=2))) == 3


def test_paging_follows_has_more_and_search_and_expand_are_sent():
    adapter = Scripted((200, fixture("txns_page1")), (200, fixture("txns_page2")))
    c, _ = client(adapter)
    txns = list(c.iterate(Txn, search=Search().equals("order", "pay_a").sort("created", "desc"), expand=["token"]))
    assert [t.id[-2:] for t in txns] == ["a1", "a2", "a3"]
    first, second = adapter.sent
    assert first.headers["SEARCH"] == "order[equals]=pay_a&created[sort]=desc"
    assert "page%5Bnumber%5D=1" in first.url and "page%5Bnumber%5D=2" in second.url
    assert "page%5Blimit%5D=100" in first.url and "expand%5Btoken%5D%5B%5D=" in first.url


def test_envelope_variants_are_normalized():
    single = parse_envelope(200, {"response": {"data": {"id": "x"}, "details": {"duplicateRequest": True}}})
    assert single.data == [{"id": "x"}] and single.duplicate
    top = parse_envelope(429, fixture("rate_limited"))
    assert top.errors[0].code == "64" and top.data == []
    with pytest.raises(SplashUnavailable):
        parse_envelope(200, ["not", "an", "object"])


def test_bodies_must_be_outbound_models():
    c, _ = client(Scripted())
    with pytest.raises(TypeError, match="PHI firewall"):
        c.request("POST", "txns", body={"total": 1, "first": "Jane"})  # type: ignore[arg-type]


def test_search_values_cannot_inject_more_conditions():
    with pytest.raises(ValueError):
        Search().equals("order", "x&merchant[equals]=other")
    assert Search().in_("status", [1, 3]).like("order", "pay%").header() == "status[in]=1,3&order[like]=pay%"
