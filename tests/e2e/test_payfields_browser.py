"""The sandbox's PayFields in a real browser (Debian's chromium driven by playwright), alone: a tiny static page on
one origin (http://127.0.0.1:…) under the pay page's strict CSP loads /payFieldsScript from the sandbox on
another (http://localhost:…), a test card or bank account is typed into the frames, and submit() must hand
onSuccess a 32-hex token the sandbox holds for that customer. The page's own JavaScript must never be able to read
the numbers (they live in cross-origin frames), and nothing may break the page's CSP.

The page and its script are this file's; the sandbox is local/sandbox (served in a thread)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from local.sandbox.server import SandboxSettings, SplashSandbox
from tests.helpers import free_port
from tests.integration.sandbox_kit import SplashApi

pytestmark = pytest.mark.e2e
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
WAIT_MS = 30_000  # how long the frames and the tokenize call may take on a busy machine (a wait, not an assertion)
PRIVATE, PUBLIC = "sandbox-private-key", "sandbox-public-key"
VISA, ROUTING = "4111111111111111", "021000021"

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is absent: `make browser` installs Debian's chromium", allow_module_level=True)

from playwright.sync_api import Browser, FrameLocator, Page, expect, sync_playwright  # noqa: E402  (dev extra)

# The pay page's CSP (issue #17), the PayFields host being the sandbox; STRICT leaves the host out of connect-src:
# the page itself never calls the host, only its frames do (from their own origin).
CSP = (
    "default-src 'none'; script-src 'self' {host}; frame-src {host}; connect-src 'self' {host}; style-src 'self'; "
    "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
STRICT = CSP.replace("connect-src 'self' {host}", "connect-src 'self'")

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Pay</title><link rel="stylesheet" href="/page.css">
<script src="{host}/payFieldsScript?spa=1"></script><script src="/pay.js" defer></script></head>
<body data-api-key="{api_key}" data-merchant="{merchant}" data-session="{session}" data-customer="{customer}"
      data-kind="{kind}">
<main><h1>Pay your bill</h1>
<label for="email">Email for the receipt</label><input id="email" type="email" value="pat@example.com">
{holders}
<button id="pay" type="button">Save</button>
<output id="result" data-state="idle"></output></main>
</body></html>"""
CARD_HOLDERS = '<div id="pf-number"></div><div id="pf-expiration"></div><div id="pf-cvv"></div>'
BANK_HOLDERS = '<div id="pf-routing"></div><div id="pf-account"></div><div id="pf-account-type"></div>'
# The page's own script: the browser contract of issue #17, nothing more.
PAY_JS = """(function () {
  var d = document.body.dataset;
  var out = document.getElementById("result");
  PayFields.config.apiKey = d.apiKey;
  PayFields.config.merchant = d.merchant;
  PayFields.config.txnSessionKey = d.session;
  PayFields.config.customer = d.customer;
  PayFields.config.mode = "token";
  PayFields.fields = d.kind === "bank"
    ? [{type: "routing", element: "#pf-routing"}, {type: "account", element: "#pf-account"},
       {type: "account_type", element: "#pf-account-type"}]
    : [{type: "number", element: "#pf-number"}, {type: "expiration", element: "#pf-expiration"},
       {type: "cvv", element: "#pf-cvv"}];
  PayFields.onSuccess = function (response) {
    out.dataset.token = response.data[0].token;
    out.dataset.state = "success";
  };
  PayFields.onFailure = function (response) {
    out.dataset.errors = JSON.stringify(response.errors || []);
    out.dataset.state = "failure";
  };
  PayFields.onValidationFailure = function (problems) {
    out.dataset.fields = (problems.errors || []).map(function (e) { return e.field; }).join(",");
    out.dataset.state = "invalid";
  };
  PayFields.ready();
  document.getElementById("pay").addEventListener("click", function () {
    out.dataset.state = "busy";
    PayFields.submit();
  });
})();
"""
PAGE_CSS = "body { margin: 0; padding: 8px; font: 16px sans-serif; } input { max-width: 100%; }"


class Sandbox(SplashApi):
    """The sandbox over HTTP (tests/integration/sandbox_kit.SplashApi) and what the browser tests need of it."""

    def shop(self) -> dict[str, str]:
        merchant = self.entity()["merchant"]["id"]
        customer = self.customer(merchant)
        limits = {"duration": 15, "maxTimesUse": 5, "maxTimesApproved": 2}
        session = self.one("POST", "/txnSessions", body={"merchant": merchant, "configurations": limits})
        return {"merchant": merchant, "customer": customer, "session": session["key"], "session_id": session["id"]}

    def tokens(self, customer: str) -> list[dict[str, Any]]:
        return self.rows("tokens", f"customer[equals]={customer}")

    def tokenize_calls(self) -> list[dict[str, Any]]:
        resp = self.http.get(f"{self.base}/_sandbox/requests", timeout=10).json()["requests"]
        return [r for r in resp if r["path"] == "/payFields/tokenize"]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    sb = SplashSandbox(SandboxSettings(start=datetime(2025, 3, 3, 15, 0, tzinfo=UTC)))
    handle = sb.serve("127.0.0.1", free_port())
    yield Sandbox(f"http://localhost:{handle.port}")  # another origin than the page's 127.0.0.1
    handle.shutdown()


class Site:
    def __init__(self, base: str):
        self.base = base
        self.shops: dict[str, dict[str, str]] = {}


@pytest.fixture(scope="module")
def site(sandbox: Sandbox) -> Iterator[Site]:
    """The static test page on http://127.0.0.1:…; its query names the shop (merchant, customer, session), the
    field kind, the API key the page is given and its CSP."""
    from werkzeug.serving import WSGIRequestHandler, make_server
    from werkzeug.wrappers import Request, Response

    served: list[Site] = []

    def app(environ, start_response):
        request = Request(environ)
        if request.path == "/pay.js":
            response = Response(PAY_JS, content_type="application/javascript")
        elif request.path == "/page.css":
            response = Response(PAGE_CSS, content_type="text/css")
        elif request.path == "/favicon.ico":
            response = Response(status=204)
        else:
            shop = served[0].shops[request.args["shop"]]
            kind = request.args.get("kind", "card")
            holders = BANK_HOLDERS if kind == "bank" else CARD_HOLDERS
            fields = {
                "host": sandbox.base,
                "kind": kind,
                "holders": holders,
                "api_key": request.args.get("key", PUBLIC),
            }
            response = Response(PAGE.format(**fields, **shop), content_type="text/html; charset=utf-8")
            csp = STRICT if request.args.get("csp") == "strict" else CSP
            response.headers["Content-Security-Policy"] = csp.format(host=sandbox.base)
        return response(environ, start_response)

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args, **kwargs) -> None:
            pass

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Quiet)
    served.append(Site(f"http://127.0.0.1:{server.server_port}"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served[0]
    server.shutdown()
    thread.join()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield launched
        launched.close()


class Visit:
    def __init__(self, page: Page, shop: dict[str, str], problems: list[str]):
        self.page, self.shop, self.problems = page, shop, problems

    def field(self, holder: str) -> FrameLocator:
        return self.page.frame_locator(f"#{holder} iframe")

    def result(self, state: str) -> dict[str, str]:
        expect(self.page.locator("#result")).to_have_attribute("data-state", state, timeout=WAIT_MS)
        return self.page.evaluate("() => Object.assign({}, document.getElementById('result').dataset)")


@pytest.fixture
def visit(browser: Browser, sandbox: Sandbox, site: Site) -> Iterator[Any]:
    """Open the test page for a fresh merchant, customer and txnSession, once its frames show their fields."""
    contexts: list[Any] = []

    def open_page(kind: str = "card", *, key: str = PUBLIC, csp: str = "default", width: int = 1024) -> Visit:
        shop = sandbox.shop()
        name = f"s{len(site.shops)}"
        site.shops[name] = {k: v for k, v in shop.items() if k != "session_id"}
        context = browser.new_context(viewport={"width": width, "height": 800})
        contexts.append(context)
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.goto(f"{site.base}/?shop={name}&kind={kind}&key={key}&csp={csp}", wait_until="load")
        visit = Visit(page, shop, problems)
        holders = ("pf-routing", "pf-account", "pf-account-type") if kind == "bank" else ("pf-number", "pf-cvv")
        for holder in holders:  # every frame rendered its field (its label and control)
            expect(visit.field(holder).locator("#pf-input")).to_be_visible(timeout=WAIT_MS)
        return visit

    yield open_page
    for context in contexts:
        context.close()


def type_card(visit: Visit, number: str = VISA, expiration: str = "12/30", cvv: str = "123") -> None:
    visit.field("pf-number").locator("input").fill(number)
    visit.field("pf-expiration").locator("input").fill(expiration)
    visit.field("pf-cvv").locator("input").fill(cvv)


def parent_can_read(page: Page, secret: str) -> list[str]:
    """Every way the page's own script might reach the number, and what each gave back when it contained it."""
    found = page.evaluate(
        """(secret) => {
            const leaks = [];
            for (const input of document.querySelectorAll('input')) {
                if ((input.value || '').includes(secret)) leaks.push('input ' + input.id);
            }
            if (document.documentElement.outerHTML.includes(secret)) leaks.push('page markup');
            for (const frame of document.querySelectorAll('iframe')) {
                try {
                    const doc = frame.contentDocument;
                    if (doc && doc.documentElement.outerHTML.includes(secret)) leaks.push('frame document');
                } catch (e) {}
                try {
                    const value = frame.contentWindow.pfValue();
                    if (String(value).includes(secret)) leaks.push('frame pfValue');
                } catch (e) {}
            }
            return leaks;
        }""",
        secret,
    )
    return found


@pytest.mark.parametrize("csp", ["default", "strict"])
def test_a_card_typed_into_the_frames_becomes_a_token_the_sandbox_holds(visit, sandbox: Sandbox, csp):
    page = visit(csp=csp)
    type_card(page)
    assert parent_can_read(page.page, VISA) == []  # the number is in the frames, and the page cannot reach it
    frame_docs = page.page.evaluate("() => [...document.querySelectorAll('iframe')].map(f => f.contentDocument)")
    assert frame_docs == [None, None, None]  # cross-origin: no document for the page's script
    page.page.click("#pay")
    result = page.result("success")
    assert re.fullmatch(r"[0-9a-f]{32}", result["token"])
    (token,) = sandbox.tokens(page.shop["customer"])
    assert (token["token"], token["payment"]["number"], token["expiration"]) == (result["token"], "1111", "1230")
    assert parent_can_read(page.page, VISA) == []
    assert page.page.frame_locator("#pf-number iframe").locator("input").input_value() == ""  # cleared on success
    assert not [p for p in page.problems if "Content Security Policy" in p or "page error" in p], page.problems
    (call,) = [c for c in sandbox.tokenize_calls() if page.shop["customer"] in json.dumps(c["body"])]
    assert call["headers"]["Origin"] == sandbox.base  # the frames call the sandbox, from the sandbox's origin


def test_a_number_failing_luhn_is_a_validation_failure_and_reaches_nobody(visit, sandbox: Sandbox):
    page = visit()
    type_card(page, number="4111111111111112")
    page.page.click("#pay")
    assert page.result("invalid")["fields"] == "number"
    error = page.field("pf-number").locator("#pf-error")
    expect(error).to_have_text("Enter a valid card number.")
    assert page.field("pf-number").locator("input").get_attribute("aria-invalid") == "true"
    assert sandbox.tokens(page.shop["customer"]) == []
    assert not [c for c in sandbox.tokenize_calls() if page.shop["customer"] in json.dumps(c["body"])]


def test_a_private_key_on_the_page_is_refused_to_on_failure(visit, sandbox: Sandbox):
    page = visit(key=PRIVATE)
    type_card(page)
    page.page.click("#pay")
    errors = json.loads(page.result("failure")["errors"])
    assert [e["errorCode"] for e in errors] == ["invalid_auth"] and "public API key" in errors[0]["msg"]
    assert sandbox.tokens(page.shop["customer"]) == []


def test_an_unanswered_tokenize_call_is_a_failure_not_a_hang(visit, sandbox: Sandbox):
    page = visit()
    body = {"kind": "http_500", "path": "/payFields/tokenize", "count": 1}
    assert sandbox.http.post(f"{sandbox.base}/_sandbox/faults", json=body, timeout=10).status_code == 200
    type_card(page)
    page.page.click("#pay")
    errors = json.loads(page.result("failure")["errors"])
    assert [e["msg"] for e in errors] == ["The sandbox could not be reached"]
    assert page.field("pf-number").locator("input").input_value() == VISA  # kept for a retry
    page.page.click("#pay")
    assert re.fullmatch(r"[0-9a-f]{32}", page.result("success")["token"])


def test_a_bank_account_at_320_px(visit, sandbox: Sandbox):
    page = visit("bank", width=320)
    page.field("pf-routing").locator("input").fill(ROUTING)
    page.field("pf-account").locator("input").fill("123456789")
    page.field("pf-account-type").locator("select").select_option("9")
    assert parent_can_read(page.page, "123456789") == []
    assert page.page.evaluate("() => document.documentElement.scrollWidth") <= 320  # no sideways scrolling
    for holder in ("pf-routing", "pf-account", "pf-account-type"):
        frame = page.page.locator(f"#{holder} iframe")
        assert frame.get_attribute("title")  # each frame is named for assistive technology
        box, control = frame.bounding_box(), page.field(holder).locator("#pf-input").bounding_box()
        assert box and control and control["width"] <= box["width"] <= 320
        expect(page.field(holder).locator("label[for=pf-input]")).to_be_visible()
    page.page.click("#pay")
    result = page.result("success")
    (token,) = sandbox.tokens(page.shop["customer"])
    assert (token["token"], token["payment"]["method"], token["payment"]["routing"]) == (result["token"], 9, ROUTING)
    assert not [p for p in page.problems if "Content Security Policy" in p or "page error" in p], page.problems
