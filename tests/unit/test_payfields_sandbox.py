"""PayFields pieces without a server: the client's txnSession model (the recorded bodies and the int/str quirks),
the txnSession and type-12 request bodies (allow-listed, no PHI), the client's PayFields URLs and request, the
credentials' public key, and the sandbox's browser documents checked for the pay page's CSP (no eval, no inline
script, no style attributes) and accessibility (a title per frame, a visible label per field)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from werkzeug.test import Client

from local.sandbox import payfields
from local.sandbox.server import SandboxSettings, SplashSandbox
from local.sandbox.tables import BANK_TXN_TYPES, ECHECK_TYPES, RETURN_ACCOUNTS, VERIFICATION_FAILURES, TxnType
from practicepay.splash.client import SplashClient, parse_envelope, parse_record
from practicepay.splash.models import TxnSession
from practicepay.splash.models import TxnType as ClientTxnType
from practicepay.splash.outbound import TxnRequest, TxnSessionConfigurations, TxnSessionRequest
from practicepay.splash.wiring import SplashCredentials

pytestmark = pytest.mark.unit
RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "splash" / "recorded"
SANDBOX = Path(__file__).resolve().parents[2] / "local" / "sandbox"
MERCHANT = "t1_mer_66312e43815957c6767000a"
TOKEN = "0123456789abcdef0123456789abcdef"


def recorded(name: str) -> dict[str, Any]:
    fixture = json.loads((RECORDED / f"{name}.json").read_text())
    assert {"repo", "path", "commit", "request", "note"} <= set(fixture["_source"]), name
    assert len(fixture["_source"]["commit"]) == 40
    return fixture


# --- the client's TxnSession --------------------------------------------------------------------------------------


def test_the_sdk_txn_session_parses():
    fixture = recorded("txn_session_post_sdk")
    data = parse_envelope(fixture["status"], fixture["body"]).data[0]
    session = parse_record(TxnSession, data, method="POST")
    assert (session.id, session.merchant, session.status) == (
        "t1_tss_67bc56867a5c6b8f7756d1z",
        "t1_mer_66312e43815957c6767000z",
        "expired",
    )
    assert (session.duration, session.configurations.maxTimesApproved, session.configurations.maxTimesUse) == (8, 2, 4)
    assert (session.durationAvailable, session.timesUsed, session.timesApproved) == (0, 0, 0)
    assert session.key == "2a5694fb2455e82322e92b4e16c79a00" and session.key not in repr(session)


def test_the_live_txn_session_parses_as_recorded_and_with_the_type_quirks():
    body = recorded("txn_session_post_live")["body"]
    session = parse_record(TxnSession, body, method="POST")
    assert (session.status, session.durationAvailable, session.timesUsed, session.configurations) == (
        "created",
        30,
        0,
        None,
    )
    # splash-api.md §1: POST answers stringify some numbers; a PHP empty array or a JSON string for an object
    quirky = copy.deepcopy(body) | {"timesUsed": "2", "durationAvailable": "29", "configurations": "[]"}
    assert (parse_record(TxnSession, quirky).timesUsed, parse_record(TxnSession, quirky).configurations) == (2, None)
    encoded = quirky | {"configurations": json.dumps({"duration": "30", "maxTimesUse": 3})}
    assert parse_record(TxnSession, encoded).configurations.duration == 30
    assert parse_record(TxnSession, quirky | {"configurations": []}).configurations is None


def test_a_txn_session_without_a_key_is_a_typed_error():
    from practicepay.splash.errors import SplashUnexpectedWriteRecord

    body = {k: v for k, v in recorded("txn_session_post_live")["body"].items() if k != "key"}
    with pytest.raises(SplashUnexpectedWriteRecord):
        parse_record(TxnSession, body, method="POST")


# --- request bodies ---------------------------------------------------------------------------------------------------


def test_the_txn_session_request_is_the_sdk_body_without_login():
    body = TxnSessionRequest(
        merchant=MERCHANT, configurations=TxnSessionConfigurations(duration=8, maxTimesUse=4, maxTimesApproved=2)
    )
    assert body.payload() == {
        "merchant": MERCHANT,
        "configurations": {"duration": 8, "maxTimesUse": 4, "maxTimesApproved": 2},
    }
    assert TxnSessionConfigurations(duration=5, maxTimesUse=1).payload() == {"duration": 5, "maxTimesUse": 1}


@pytest.mark.parametrize(
    "configurations",
    [
        {"duration": 0, "maxTimesUse": 1},
        {"duration": "5", "maxTimesUse": 1},
        {"duration": 5},
        {"duration": 5, "maxTimesUse": 1, "x": 1},
    ],
)
def test_txn_session_limits_are_strict(configurations):
    with pytest.raises(ValidationError):
        TxnSessionConfigurations(**configurations)


def test_a_txn_session_request_names_a_merchant_and_nothing_else():
    limits = TxnSessionConfigurations(duration=5, maxTimesUse=1)
    with pytest.raises(ValidationError):
        TxnSessionRequest(merchant="Dr. Smith's clinic", configurations=limits)
    with pytest.raises(ValidationError):
        TxnSessionRequest(merchant=MERCHANT, configurations=limits, email="pat@example.com")


def test_type_12_is_the_echeck_account_verification():
    assert ClientTxnType.ECHECK_VERIFY is ClientTxnType.ECHECK_VERIFICATION and ClientTxnType.ECHECK_VERIFY == 12
    request = TxnRequest(merchant=MERCHANT, type=ClientTxnType.ECHECK_VERIFY, token=TOKEN)
    assert request.payload() == {"merchant": MERCHANT, "type": 12, "origin": 2, "token": TOKEN}
    assert TOKEN not in repr(request)


@pytest.mark.parametrize(
    "fields",
    [
        {},  # no token: nothing to verify
        {"token": TOKEN, "total": 100},  # it moves no money
        {"token": TOKEN, "fortxn": "t1_txn_" + "0" * 23},
        {"token": TOKEN, "first": "Pat"},  # no PHI field exists
        {"token": TOKEN, "description": "Annual physical for Pat"},
    ],
)
def test_a_verification_request_refuses_anything_but_the_bank_token(fields):
    with pytest.raises(ValidationError):
        TxnRequest(merchant=MERCHANT, type=12, **fields)


def test_other_txn_types_are_unchanged():
    assert TxnRequest(type=1, token=TOKEN, total=100).payload()["total"] == 100
    assert TxnRequest(type=4, fortxn="t1_txn_" + "0" * 23).payload()["type"] == 4


# --- the client's PayFields side --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "script", "origin"),
    [
        ("payrix-sandbox", "https://test-api.payrix.com/payFieldsScript", "https://test-api.payrix.com"),
        ("payrix", "https://api.payrix.com/payFieldsScript", "https://api.payrix.com"),
        ("http://127.0.0.1:3001", "http://127.0.0.1:3001/payFieldsScript", "http://127.0.0.1:3001"),
        ("https://pay.partner.example/", "https://pay.partner.example/payFieldsScript", "https://pay.partner.example"),
    ],
)
def test_payfields_urls(host, script, origin):
    client = SplashClient(host, api_key=lambda: "k")
    assert (client.payfields_script_url, client.payfields_origin) == (script, origin)


class _Answer:
    status_code = 200
    headers: dict[str, str] = {}

    def __init__(self, body: dict[str, Any]):
        self._body = body

    def json(self) -> dict[str, Any]:
        return self._body


class _Session:
    def __init__(self, body: dict[str, Any]):
        self.body, self.sent = body, []

    def request(self, method, url, **kwargs):
        self.sent.append((method, url, kwargs))
        return _Answer(self.body)


def test_create_txn_session_posts_the_limits_with_a_request_token():
    session = _Session(recorded("txn_session_post_sdk")["body"])
    client = SplashClient("payrix-sandbox", api_key=lambda: "private-key", session=session)  # type: ignore[arg-type]
    made = client.create_txn_session(MERCHANT, duration_minutes=8, max_times_use=4, max_times_approved=2)
    assert made.id == "t1_tss_67bc56867a5c6b8f7756d1z"
    ((method, url, sent),) = session.sent
    assert (method, url) == ("POST", "https://test-api.payrix.com/txnSessions")
    assert json.loads(sent["data"]) == {
        "merchant": MERCHANT,
        "configurations": {"duration": 8, "maxTimesUse": 4, "maxTimesApproved": 2},
    }
    assert sent["headers"]["APIKEY"] == "private-key" and sent["headers"]["REQUEST-TOKEN"]
    client.create_txn_session(MERCHANT, duration_minutes=1, max_times_use=1, request_token="mine")
    assert session.sent[-1][2]["headers"]["REQUEST-TOKEN"] == "mine"
    assert "maxTimesApproved" not in json.loads(session.sent[-1][2]["data"])["configurations"]


def test_credentials_may_carry_the_public_key():
    base = {"api_key": "private-key-1", "webhook_header_name": "X-Hook", "webhook_header_value": "v" * 16}
    assert SplashCredentials.model_validate(base).public_api_key is None
    assert SplashCredentials.model_validate(base | {"public_api_key": "public-key-1"}).public_api_key == "public-key-1"
    with pytest.raises(ValidationError):
        SplashCredentials.model_validate(base | {"public_api_key": "short"})


# --- the sandbox's browser documents ---------------------------------------------------------------------------------

BANNED = {
    "eval": re.compile(r"\beval\s*\("),
    "Function constructor": re.compile(r"\bnew\s+Function\b|\bFunction\s*\("),
    "string timer": re.compile(r"set(Timeout|Interval)\s*\(\s*['\"]"),
    "innerHTML/outerHTML": re.compile(r"\b(inner|outer)HTML\s*="),
    "insertAdjacentHTML": re.compile(r"insertAdjacentHTML"),
    "document.write": re.compile(r"document\.write"),
    "style attribute": re.compile(r"setAttribute\(\s*['\"]style['\"]|\.style\s*=\s*['\"]|cssText"),
    "postMessage to any origin": re.compile(r"postMessage\([^)]*['\"]\*['\"]"),
}


@pytest.mark.parametrize("name", ["payfields.js", "payfields_frame.js"])
def test_the_scripts_keep_to_a_strict_csp(name):
    text = (SANDBOX / name).read_text()
    assert [rule for rule, pattern in BANNED.items() if pattern.search(text)] == []


def test_the_page_script_checks_where_messages_come_from():
    text = (SANDBOX / "payfields.js").read_text()
    assert "event.origin !== ORIGIN" in text and "postMessage(message, ORIGIN)" in text
    frame = (SANDBOX / "payfields_frame.js").read_text()
    assert "event.origin !== PARENT" in frame and "event.source !== window.parent" in frame


@pytest.fixture
def browser_side() -> Client:
    return Client(SplashSandbox(SandboxSettings()).wsgi_app)


def test_the_loader_is_bound_to_the_origin_it_was_loaded_from(browser_side: Client):
    resp = browser_side.get("/payFieldsScript", base_url="http://localhost:3001")
    assert resp.status_code == 200 and resp.mimetype == "application/javascript"
    assert 'var ORIGIN = "http://localhost:3001";' in resp.get_data(as_text=True)
    assert payfields.ORIGIN_MARK not in resp.get_data(as_text=True)
    assert resp.headers["Cross-Origin-Resource-Policy"] == "cross-origin"


@pytest.mark.parametrize("kind", [*payfields.FIELDS, "account_number"])
def test_each_frame_is_labelled_titled_and_free_of_inline_code(browser_side: Client, kind):
    query = {"type": kind, "group": "0123456789abcdef", "parent": "http://127.0.0.1:8080", "leader": "0"}
    resp = browser_side.get("/payFields/frame", query_string=query)
    page = resp.get_data(as_text=True)
    field = payfields.FIELDS[payfields.ALIASES.get(kind, kind)]
    assert resp.status_code == 200 and f"<title>{field.title}</title>" in page
    assert f'<label for="pf-input">{field.label}</label>' in page and 'id="pf-input"' in page
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/payFields/frame.js" defer>']
    assert not re.search(r"\s(style|on[a-z]+)=", page)  # no style attribute, no inline event handler
    assert "frame-ancestors *" in resp.headers["Content-Security-Policy"]
    if field.autocomplete != "off":
        assert f'autocomplete="{field.autocomplete}"' in page


def test_the_parent_script_names_the_same_field_types_as_the_frames():
    text = (SANDBOX / "payfields.js").read_text()
    for kind, field in payfields.FIELDS.items():
        assert f'{kind}: "{field.title}"' in text


# --- verification in the sandbox's tables -----------------------------------------------------------------------------


def test_verification_is_a_bank_txn_that_no_day_boundary_walks():
    assert TxnType.ECHECK_VERIFICATION == 12
    assert TxnType.ECHECK_VERIFICATION in BANK_TXN_TYPES and TxnType.ECHECK_VERIFICATION not in ECHECK_TYPES
    assert not set(VERIFICATION_FAILURES) & set(RETURN_ACCOUNTS)
    assert {r.message for r in VERIFICATION_FAILURES.values()} >= {"Invalid Account Number"}


def test_a_key_is_public_or_private_not_both():
    with pytest.raises(ValueError, match="public"):
        SandboxSettings(api_keys=("k1",), public_api_keys=("k1",))
