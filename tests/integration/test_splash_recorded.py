"""The Splash client over HTTP against recorded Payrix answers (tests/fixtures/splash/recorded), served by a tiny
stub that counts requests, and against the local sandbox: a malformed id's 404 is not found and not retried,
recorded record variants parse, an unreadable body is a typed error, and searches use only documented operators
and are checked client-side (a stub answering a merchant's whole history still yields only our txn)."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from practicepay.errors import ValidationFailed
from practicepay.ids import new_id
from practicepay.patients.service import PatientService
from practicepay.patients.store import PatientRecord
from practicepay.splash.client import RetryPolicy, SplashClient
from practicepay.splash.errors import (
    SplashNotFound,
    SplashOutcomeUnknown,
    SplashRequestTokenReused,
    SplashUnavailable,
    SplashUnexpectedReadRecord,
    SplashUnexpectedWriteRecord,
    SplashValidationError,
)
from practicepay.splash.models import Merchant, Token, Txn, TxnType
from practicepay.splash.outbound import TxnRequest
from practicepay.splash.search import Search
from practicepay.sync.service import _pick
from tests.integration.splash_helpers import KEY, board, make_client, sale, token

pytestmark = pytest.mark.integration
RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "splash" / "recorded"
MERCHANT = "t1_mer_6227be75a75b292bde6dbe2"  # the merchant of the recorded sale (POST /txns, VCR)
OTHER_MERCHANT = "t1_mer_65f097a2848a4ceae39b6ee"


def recorded(name: str) -> dict[str, Any]:
    return json.loads((RECORDED / f"{name}.json").read_text())


def records(name: str) -> list[dict[str, Any]]:
    return copy.deepcopy(recorded(name)["body"]["response"]["data"])


def envelope(data: list[dict[str, Any]], **details: Any) -> dict[str, Any]:
    page = {"current": 1, "last": 1, "hasMore": False}
    return {
        "response": {"data": data, "details": {"requestId": 1, "totals": [], "page": page, **details}, "errors": []}
    }


@dataclass
class Answer:
    status: int
    body: Any
    content_type: str = "application/json; charset=UTF-8"


@dataclass
class Stub:
    """Answers (method, path) from `routes`; keeps every request's method, path and headers."""

    url: str = ""
    routes: dict[tuple[str, str], Answer] = field(default_factory=dict)
    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def answer(self, method: str, path: str, fixture: str | None = None, **kw: Any) -> None:
        if fixture is not None:
            fx = recorded(fixture)
            kw = {"status": fx["status"], "body": fx["body"], "content_type": fx["content_type"]}
        self.routes[(method, path)] = Answer(**kw)

    def calls(self, method: str, path: str) -> list[dict[str, str]]:
        return [h for m, p, h in self.seen if (m, p) == (method, path)]


@pytest.fixture
def stub() -> Iterator[Stub]:
    state = Stub()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            path = self.path.split("?")[0]
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            state.seen.append((self.command, path, dict(self.headers)))
            answer = state.routes.get((self.command, path), Answer(500, ""))
            raw = answer.body if isinstance(answer.body, str) else json.dumps(answer.body)
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(raw.encode())))
            self.end_headers()
            self.wfile.write(raw.encode())

        do_GET = do_POST = do_PUT = do_DELETE = _serve  # noqa: N815 (http.server's names)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}"
    yield state
    server.shutdown()
    server.server_close()


def stub_client(stub: Stub) -> SplashClient:
    policy = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002)
    return SplashClient(stub.url, lambda: "stub-key", read_timeout=2.0, retry=policy)


# -- ids: malformed → HTTP 404 text/html (recorded) · unknown → 200 empty data (recorded) ---------------------


def test_a_malformed_id_is_not_found_and_asked_once(stub: Stub):
    stub.answer("GET", "/merchants/t1_mer_NOT-VALID", "merchant_get_malformed_id_404")
    assert recorded("merchant_get_malformed_id_404")["content_type"].startswith("text/html")
    with pytest.raises(SplashNotFound) as caught:
        stub_client(stub).get(Merchant, "t1_mer_NOT-VALID")
    assert not isinstance(caught.value, SplashUnavailable)  # callers retry "unavailable"; not this
    assert len(stub.calls("GET", "/merchants/t1_mer_NOT-VALID")) == 1


def test_an_unknown_id_is_not_found(stub: Stub):
    stub.answer("GET", "/tokens/t_failed_id", "token_get_unknown_id")
    with pytest.raises(SplashNotFound):
        stub_client(stub).get(Token, "t_failed_id")
    assert len(stub.seen) == 1


# -- record variants over HTTP -------------------------------------------------------------------------------


def test_token_with_payment_as_id_and_customer_expanded(stub: Stub):
    (raw,) = records("token_get_payment_object")
    (customer,) = records("customer_expanded_tokens")
    raw["payment"] = raw["payment"]["id"]  # as the recorded txns of this instrument carry it
    raw["customer"] = {k: v for k, v in customer.items() if k != "tokens"}  # expand[customer][]
    stub.answer("GET", f"/tokens/{raw['id']}", status=200, body=envelope([raw]))
    got = stub_client(stub).get(Token, raw["id"], expand=["customer"])
    assert got.customer == customer["id"]
    assert got.payment is not None and got.payment.id == "g157968b6df1534"


def test_recorded_post_answer_with_stringified_fields_is_a_txn(stub: Stub):
    stub.answer("POST", "/txns", "txn_post_sale_stringified")
    body = TxnRequest(
        merchant=MERCHANT,
        type=TxnType.CARD_SALE,
        total=400,
        token="4da838f0da85bdcd0c906c68c8ab7995",
        order="pay_01m8d3e71x1f54advrsjttapa5",
    )
    with pytest.raises(SplashRequestTokenReused, match="order"):  # the recording's order is "1234567", not ours
        stub_client(stub).txn(body, request_token="pay_01m8d3e71x1f54advrsjttapa5")
    (raw,) = records("txn_post_sale_stringified")
    raw["order"] = "pay_01m8d3e71x1f54advrsjttapa5"
    stub.answer("POST", "/txns", status=200, body=envelope([raw]))
    txn = stub_client(stub).txn(body, request_token="pay_01m8d3e71x1f54advrsjttapa5")
    assert (txn.status, txn.approved) == (1, 400)


def test_an_unreadable_record_is_a_typed_error(stub: Stub):
    (raw,) = records("txn_get_settled")
    raw["status"] = "settled"  # a shape no recording explains
    stub.answer("GET", f"/txns/{raw['id']}", status=200, body=envelope([raw]))
    stub.answer("GET", "/txns", status=200, body=envelope([raw]))
    stub.answer("POST", "/txns", status=200, body=envelope([raw]))
    client = stub_client(stub)
    with pytest.raises(SplashUnexpectedReadRecord):
        client.get(Txn, raw["id"])
    with pytest.raises(SplashUnexpectedReadRecord):
        client.list(Txn)
    with pytest.raises(SplashUnexpectedWriteRecord) as caught:
        client.txn(TxnRequest(type=TxnType.CARD_REVERSE, fortxn=raw["id"], total=100), request_token=new_id("rev"))
    assert isinstance(caught.value, SplashOutcomeUnknown)


# -- searches: documented operators only, results checked client-side ----------------------------------------


def whole_history() -> list[dict[str, Any]]:
    """A merchant's txns as a search the API ignored would answer them: ours (order 1234567, recorded as a
    string, here an int as other records carry it) among the recorded others."""
    ours = records("txn_post_sale_stringified")[0]
    ours["order"] = 1234567
    elsewhere = {**copy.deepcopy(ours), "id": "t1_txn_627c1db4a5c9f4df02d8800", "merchant": OTHER_MERCHANT}
    longer = {**copy.deepcopy(ours), "id": "t1_txn_627c1db4a5c9f4df02d8801", "order": "12345678"}
    return [
        *records("txn_unexpanded"),
        *records("txn_get_settled"),
        *records("txn_expanded_token_and_payment"),
        *records("txn_post_reverse_stringified"),
        longer,
        elsewhere,
        ours,
    ]


def test_txns_by_order_sends_equals_and_keeps_only_our_txn(stub: Stub):
    stub.answer("GET", "/txns", status=200, body=envelope(whole_history()))
    found = stub_client(stub).txns_by_order("1234567", merchant=MERCHANT)
    assert [t.id for t in found] == ["t1_txn_627c1db4a5c9f4df02d883d"]
    (headers,) = stub.calls("GET", "/txns")
    search = headers["SEARCH"]
    assert "[exact]" not in search
    assert set(search.split("&")) == {"order[equals]=1234567", f"merchant[equals]={MERCHANT}"}


def test_a_lookup_whose_search_the_api_ignored_stops_after_a_few_pages(stub: Stub):
    """The stub answers every page "more to come" (a merchant's whole history, the search ignored): the lookup
    reads LOOKUP_PAGES pages, not the history."""
    from practicepay.splash.client import LOOKUP_PAGES

    stub.answer("GET", "/txns", status=200, body=envelope(whole_history(), page={"current": 1, "hasMore": True}))
    found = stub_client(stub).txns_by_order("1234567")
    assert found and {str(t.order) for t in found} == {"1234567"}
    assert len(stub.calls("GET", "/txns")) == LOOKUP_PAGES


def test_pick_keeps_only_the_txn_of_our_order():
    txns = [Txn.model_validate(r) for r in whole_history() if r["merchant"] == MERCHANT]  # one merchant's
    picked = _pick(txns, "1234567")
    assert picked is not None and picked.id == "t1_txn_627c1db4a5c9f4df02d883d"
    assert _pick(txns, "pay_01m8d3e71x1f54advrsjttapa5") is None
    assert _pick([], "1234567") is None


def test_payfields_token_lookup_compares_the_token_value(stub: Stub):
    (ours,) = records("token_get_payment_object")
    other = {**copy.deepcopy(ours), "id": "t1_tok_6244d08bb29de1c1814320a", "token": "0" * 32}
    other["customer"] = "t1_cus_6244d08bb21962aaf145500"
    stub.answer("GET", "/tokens", status=200, body=envelope([other, ours]))  # the search was not applied
    patient = PatientRecord(
        practice_id="prc_alpha",
        id="pat_01m8d3e71x1f54advrsjttapa5",
        external_id="ehr-1",
        phi_sealed="-",
        created_at="2026-01-01T00:00:00Z",
        updated_at="2026-01-01T00:00:00Z",
        splash_customer_id=ours["customer"],
    )
    client = stub_client(stub)
    got = PatientService._payfields_token(client, ours["token"], MERCHANT, patient)
    assert got.id == ours["id"]
    (headers,) = stub.calls("GET", "/tokens")
    assert headers["SEARCH"] == f"token[equals]={ours['token']}"
    with pytest.raises(ValidationFailed):  # a value no record carries is unknown, whatever the search answered
        PatientService._payfields_token(client, "f" * 32, MERCHANT, patient)


def test_search_has_no_exact_operator():
    assert not hasattr(Search(), "exact")


# -- the sandbox: documented operators only ------------------------------------------------------------------


@pytest.mark.parametrize("op", ["exact", "notin", "notlike", "diff"])
def test_the_sandbox_refuses_undocumented_operators(base, op):
    client = make_client(base)
    merchant = board(client)
    txn = sale(client, merchant, token(client, merchant), 1200)
    undocumented = Search()._add("order", op, txn.order)  # what a client relying on payrix-rs's list would send
    with pytest.raises(SplashValidationError) as caught:
        client.list(Txn, search=undocumented)
    assert [i.error_code for i in caught.value.items] == ["query_error"]
    headers = {"APIKEY": KEY, "SEARCH": f"order[{op}]=x"}
    raw = requests.get(f"{base}/txns", headers=headers, timeout=5)
    assert raw.json()["response"]["errors"][0]["errorCode"] == "query_error"


def test_the_sandbox_search_is_case_insensitive_and_the_client_checks_exactly(base):
    client = make_client(base)
    merchant = board(client)
    tok = token(client, merchant)
    first, second = sale(client, merchant, tok, 1500), sale(client, merchant, tok, 2500)
    assert first.order and second.order
    assert [t.id for t in client.txns_by_order(first.order, merchant=merchant)] == [first.id]
    loose = client.list(Txn, search=Search().equals("order", first.order.upper())).items
    assert [t.id for t in loose] == [first.id]  # equals ignores case at Splash…
    assert client.txns_by_order(first.order.upper(), merchant=merchant) == []  # …our lookup does not

    def totals(search: Search) -> list[int]:
        return [t.total or 0 for t in client.list(Txn, search=search).items]

    assert totals(Search().in_("order", [first.order, second.order])) == [1500, 2500]
    assert totals(Search().like("order", "pay_%").sort("total", "desc")) == [2500, 1500]
    assert totals(Search().greater("total", 1500).less("total", 3000)) == [2500]
