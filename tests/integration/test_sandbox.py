"""The Splash sandbox's wire protocol over real HTTP: auth, the envelope and its string/int quirk, errors in
HTTP 200, SEARCH and paging, expand, REQUEST-TOKEN replay, the rate limit, injected faults, the request log."""

from __future__ import annotations

import json
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from werkzeug.test import Client

from local.sandbox.server import SandboxSettings, SplashSandbox
from tests.integration import sandbox_kit as kit
from tests.integration.sandbox_kit import KEY, START, VISA, SplashApi, error_codes

pytestmark = pytest.mark.integration
splash, sandbox = kit.splash, kit.sandbox  # the kit's fixtures


@pytest.mark.parametrize("key", [None, "not-the-key"])
def test_a_missing_or_wrong_key_is_invalid_auth_with_401_and_nothing_is_done(splash: SplashApi, key: str | None):
    merchant = splash.entity()["merchant"]["id"]
    resp = splash.raw("POST", "/customers", body={"merchant": merchant}, key=key)
    assert resp.status_code == 401
    response = resp.json()["response"]
    assert response["data"] == []
    assert response["errors"] == [
        {"code": 4, "severity": 3, "msg": response["errors"][0]["msg"], "errorCode": "invalid_auth"}
    ]
    assert splash.rows("customers") == []


def test_the_bad_key_status_is_a_setting():
    client = Client(SplashSandbox(SandboxSettings(bad_key_status=400)).wsgi_app)
    resp = client.get("/txns", headers={"APIKEY": "wrong"})
    assert resp.status_code == 400
    assert resp.get_json()["response"]["errors"][0]["errorCode"] == "invalid_auth"


def test_post_answers_give_numbers_as_strings_and_get_answers_give_ints(splash: SplashApi):
    payer = splash.payer()
    resp = splash.raw(
        "POST",
        "/txns",
        body={"merchant": payer.merchant, "type": "1", "origin": 2, "token": payer.card, "total": "1000"},
    )
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("application/json")
    posted = resp.json()["response"]
    assert set(posted) == {"data", "details", "errors"}
    assert set(posted["details"]) == {"requestId"}
    txn = posted["data"][0]
    assert (txn["status"], txn["total"], txn["approved"], txn["type"], txn["refunded"]) == (
        "1",
        1000,
        "1000",
        1,
        0,
    )  # only the recorded fields are strings (splash-api.md §1 Type quirk)
    assert re.fullmatch(r"t1_txn_[0-9a-f]{23}", txn["id"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{4}", txn["created"])
    assert txn["created"].startswith("2025-03-03 10:00:00")  # 15:00 UTC, stamped in US-Eastern wall time (EST)

    got = splash.call("GET", f"/txns/{txn['id']}")
    assert got["details"]["page"] == {"current": 1, "last": 1, "hasMore": False}
    (same,) = got["data"]
    assert (same["status"], same["total"], same["approved"], same["type"]) == (1, 1000, 1000, 1)
    assert (same["id"], same["login"], same["inactive"], same["frozen"]) == (txn["id"], txn["login"], 0, 0)


def test_an_unknown_id_is_empty_data_without_error(splash: SplashApi):
    response = splash.call("GET", "/txns/t1_txn_00000000000000000000000")
    assert response["data"] == [] and response["errors"] == []


def test_validation_errors_come_in_http_200_naming_every_failing_field(splash: SplashApi):
    errors = splash.refused("POST", "/txns", body={"type": 1, "token": "0" * 32, "descriptor": "x" * 51})
    assert error_codes(errors) == {
        ("origin", "required_field"),
        ("total", "required_field"),
        ("token", "no_such_record"),
        ("merchant", "no_such_record"),
        ("descriptor", "invalid_field"),
    }
    assert {(e["code"], e["severity"]) for e in errors if e["errorCode"] == "required_field"} == {(15, 2)}
    assert splash.rows("txns") == []


def test_unknown_resources_and_methods_a_resource_lacks_are_invalid_resource(splash: SplashApi):
    txn = splash.payer().sale()
    for method, path in [("GET", "/nothing"), ("DELETE", f"/txns/{txn['id']}"), ("POST", f"/txns/{txn['id']}")]:
        (error,) = splash.refused(method, path, body={} if method == "POST" else None)
        assert (error["code"], error["severity"], error["errorCode"]) == (13, 4, "invalid_resource")
    assert splash.get("txns", txn["id"])["status"] == 1


def test_a_body_that_is_not_json_is_a_400(splash: SplashApi):
    resp = splash.http.post(f"{splash.base}/customers", data="{nope", headers={"APIKEY": KEY})
    assert resp.status_code == 400
    assert resp.json()["response"]["errors"][0]["errorCode"] == "invalid_json"


def test_search_operators_sort_and_nested_fields(splash: SplashApi):
    payer = splash.payer()
    for total, order in [(1500, "inv-A1"), (2500, "inv-B2"), (3500, "inv-A3")]:
        payer.sale(total, order=order)

    def totals(search: str) -> list[int]:
        return [t["total"] for t in splash.rows("txns", search)]

    assert totals("order[equals]=INV-B2") == [2500]  # equals ignores case
    assert totals("total[greater]=1500&total[less]=3500") == [2500]
    assert totals("total[in]=1500,3500") == [1500, 3500]
    assert totals("order[like]=inv-A%") == [1500, 3500]
    assert totals("total[sort]=desc") == [3500, 2500, 1500]
    assert totals(f"merchant[equals]={payer.merchant}&order[sort]=desc") == [2500, 3500, 1500]
    entity = splash.get("merchants", payer.merchant)["entity"]
    assert totals(f"merchant[entity][equals]={entity}&total[less]=2000") == [1500]
    assert totals("merchant[entity][equals]=t1_ent_00000000000000000000000") == []
    malformed = ("total[about]=1", "nosuchfield[equals]=1", "and[0][total][equals]=1", "total[greater]=ten")
    undocumented = ("order[exact]=INV-B2", "total[notin]=1500", "order[notlike]=inv-A%", "total[diff]=2500")
    for bad in (*malformed, *undocumented):
        (error,) = splash.refused("GET", "/txns", headers={"SEARCH": bad})
        assert error["errorCode"] == "query_error", bad


def test_paging_reports_current_last_and_has_more(splash: SplashApi):
    merchant = splash.entity()["merchant"]["id"]
    ids = [splash.customer(merchant, first=f"P{i}") for i in range(5)]

    def page(number: int) -> tuple[list[str], dict]:
        response = splash.call("GET", "/customers", params={"page[number]": str(number), "page[limit]": "2"})
        return [c["id"] for c in response["data"]], response["details"]["page"]

    assert page(1) == (ids[:2], {"current": 1, "last": 3, "hasMore": True})
    assert page(3) == (ids[4:], {"current": 3, "last": 3, "hasMore": False})
    assert page(4) == ([], {"current": 4, "last": 3, "hasMore": False})
    (error,) = splash.refused("GET", "/customers", params={"page[number]": "0"})
    assert error["errorCode"] == "query_error"


def test_expand_replaces_references_with_records_nested(splash: SplashApi):
    payer = splash.payer()
    txn = payer.sale()
    (got,) = splash.ok("GET", f"/txns/{txn['id']}", params={"expand[payment][]": "", "expand[token][][customer][]": ""})
    assert got["payment"] == {"id": txn["payment"], "method": 2, "number": "1111", "bin": "411111"}
    assert got["token"]["token"] == payer.card
    assert got["token"]["customer"]["id"] == payer.customer
    assert splash.get("txns", txn["id"])["token"] == payer.card  # not expanded unless asked


def test_a_repeated_request_token_replays_the_first_answer_without_a_second_txn(splash: SplashApi):
    payer = splash.payer()
    body = {"merchant": payer.merchant, "type": 1, "origin": 2, "token": payer.card, "total": 1000}
    token = {"REQUEST-TOKEN": str(uuid.uuid4())}
    first = splash.call("POST", "/txns", body=body, headers=token)
    again = splash.call("POST", "/txns", body=body, headers=token)
    assert "duplicateRequest" not in first
    assert again.pop("duplicateRequest") is True
    assert again == first
    assert len(splash.rows("txns")) == 1

    other = splash.one("POST", "/txns", body=body, headers={"REQUEST-TOKEN": str(uuid.uuid4())})
    assert other["id"] != first["data"][0]["id"]
    splash.advance(days=2, seconds=1)  # tokens are kept 48 h
    fresh = splash.call("POST", "/txns", body=body, headers=token)
    assert "duplicateRequest" not in fresh and len(splash.rows("txns")) == 3


def test_concurrent_repeats_of_a_request_token_make_one_txn(splash: SplashApi):
    payer = splash.payer()
    body = {"merchant": payer.merchant, "type": 1, "origin": 2, "token": payer.card, "total": 1000}

    def post(_: int) -> dict:
        return splash.call("POST", "/txns", body=body, headers={"REQUEST-TOKEN": "same-charge"})

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(post, range(8)))
    assert len({a["data"][0]["id"] for a in answers}) == 1
    assert sorted(a.get("duplicateRequest", False) for a in answers) == [False] + [True] * 7
    assert len(splash.rows("txns")) == 1


def test_the_rate_limit_test_header_blocks_the_11th_request_then_lifts(splash: SplashApi):
    test_mode = {"rate-limit-test": "match"}
    for _ in range(10):
        assert splash.raw("GET", "/txns", headers=test_mode).status_code == 200
    blocked = splash.raw("GET", "/txns", headers=test_mode)
    assert blocked.status_code == 429
    assert blocked.json() == {
        "errors": [
            {
                "code": 64,
                "severity": 2,
                "msg": "C_RATE_LIMIT_EXCEEDED_TEMP_BLOCK",
                "errorCode": "C_RATE_LIMIT_EXCEEDED_TEMP_BLOCK",
            }
        ]
    }
    assert splash.raw("GET", "/txns").status_code == 429  # the path is blocked, header or not
    assert splash.raw("GET", "/customers").status_code == 200  # other paths are not
    time.sleep(0.6)  # rate_limit_block_seconds=0.5
    assert splash.raw("GET", "/txns", headers=test_mode).status_code == 200


def test_http_faults_hit_the_matching_path_the_given_number_of_times(splash: SplashApi):
    splash.admin("POST", "faults", {"kind": "http_500", "count": 2, "path": "/txns"})
    splash.admin("POST", "faults", {"kind": "http_429", "count": 1, "path": "/customers"})
    assert splash.raw("GET", "/merchants").status_code == 200
    assert [splash.raw("GET", "/txns").status_code for _ in range(3)] == [500, 500, 200]
    limited = splash.raw("GET", "/customers")
    assert limited.status_code == 429 and limited.json()["errors"][0]["code"] == 64
    assert splash.raw("GET", "/customers").status_code == 200

    splash.admin("POST", "faults", {"kind": "http_500", "count": 5})
    assert len(splash.admin("GET", "faults")["faults"]) == 1
    splash.admin("DELETE", "faults")
    assert splash.raw("GET", "/txns").status_code == 200


def test_a_timeout_after_commit_keeps_the_txn_and_the_retry_replays_it(splash: SplashApi):
    payer = splash.payer()
    splash.admin("POST", "faults", {"kind": "timeout_after_commit", "path": "/txns", "delay_seconds": 1.0})
    body = {"merchant": payer.merchant, "type": 1, "origin": 2, "token": payer.card, "total": 1234, "order": "pay-77"}
    token = {"REQUEST-TOKEN": "charge-pay-77"}
    with pytest.raises(requests.exceptions.ReadTimeout):
        splash.raw("POST", "/txns", body=body, headers=token, timeout=0.3)
    (stored,) = splash.rows("txns", "order[equals]=pay-77")
    assert stored["status"] == 1
    retried = splash.call("POST", "/txns", body=body, headers=token)
    assert retried["duplicateRequest"] is True and retried["data"][0]["id"] == stored["id"]
    assert len(splash.rows("txns")) == 1


def test_a_timeout_before_commit_answers_504_and_stores_nothing(splash: SplashApi):
    payer = splash.payer()
    splash.admin("POST", "faults", {"kind": "timeout_before_commit", "path": "/txns", "delay_seconds": 0.2})
    started = time.monotonic()
    resp = splash.raw(
        "POST", "/txns", body={"merchant": payer.merchant, "type": 1, "origin": 2, "token": payer.card, "total": 500}
    )
    assert resp.status_code == 504 and time.monotonic() - started >= 0.2
    assert splash.rows("txns") == []


def test_the_request_log_masks_the_key_and_cuts_card_numbers_to_four_digits(splash: SplashApi):
    merchant = splash.entity()["merchant"]["id"]
    splash.admin("DELETE", "requests")
    customer = splash.customer(merchant)
    splash.card_token(customer)
    splash.raw("GET", "/tokens", params={"page[limit]": "5"})
    logged = splash.admin("GET", "requests")["requests"]
    assert [(r["method"], r["path"], r["query"]) for r in logged] == [
        ("POST", "/customers", ""),
        ("POST", "/tokens", ""),
        ("GET", "/tokens", "page[limit]=5"),
    ]
    assert all(r["headers"]["Apikey"] == "***" for r in logged)
    assert logged[1]["body"]["payment"] == {"number": "************1111", "cvv": "***"}
    assert KEY not in json.dumps(logged) and VISA not in json.dumps(logged)
    splash.admin("DELETE", "requests")
    assert splash.admin("GET", "requests")["requests"] == []


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "clock", {"advance_days": -1}, 400),
        ("POST", "clock", {"advance_days": "1"}, 400),
        ("POST", "faults", {"kind": "http_503"}, 400),
        ("POST", "faults", {"kind": "alerts", "mode": "lose"}, 400),
        ("POST", "faults", {"kind": "http_500", "count": 0}, 400),
        ("POST", "faults", {"kind": "http_500", "path": "txns"}, 400),
        ("GET", "nothing", None, 404),
    ],
)
def test_sandbox_controls_refuse_bad_input(splash: SplashApi, method: str, path: str, body: dict | None, status: int):
    resp = splash.raw(method, f"/_sandbox/{path}", body=body, key=None)
    assert resp.status_code == status and resp.json()["error"]
    assert splash.admin("GET", "faults")["faults"] == []
    assert splash.admin("GET", "clock")["now"] == START.isoformat()


def test_reset_wipes_records_and_turns_the_clock_back(splash: SplashApi):
    splash.payer().sale()
    splash.advance(days=3)
    assert splash.admin("POST", "reset")["now"] == START.isoformat()
    assert splash.admin("GET", "clock")["now"] == START.isoformat()
    assert splash.rows("txns") == [] and splash.rows("entities") == []
    assert splash.admin("GET", "health") == {"status": "ok"}


def test_the_in_process_api_matches_the_http_one():
    sb = SplashSandbox(SandboxSettings(start=START))
    client = Client(sb.wsgi_app)
    assert client.get("/customers", headers={"APIKEY": KEY}).get_json()["response"]["data"] == []
    assert sb.advance(days=1)["now"] == "2025-03-04T15:00:00+00:00"
    assert [r["path"] for r in sb.requests] == ["/customers"]
    with pytest.raises(ValueError, match="forward"):
        sb.advance(days=-1)
