"""The pay page over real HTTP (ADR 0015), with `requests` and no browser: the local API Gateway front served on a
port (the pay page function, DynamoDB and KMS on moto, the practice boarded in the stack's Splash sandbox), the
`pp_session` cookie carried by hand (it is Secure: requests will not send it over http). What a link shows before
and after identity, the CSRF / Origin / content-type refusals, wrong answers counted (locked at 5 with its event,
the address refused after 20), sessions bound to their link, ended and closed links, and paying by card (a token
minted as the PayFields frames mint it), replayed, refused, declined, and by a bank account that fails
verification; nothing of the patient reaches Splash. The browser flows are tests/e2e/test_pay_page_browser.py."""

from __future__ import annotations

import html
import itertools
import json
import random
import re
import uuid
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from practicepay.auth.tokens import issue_hs256
from tests.event_schemas import validate_detail
from tests.helpers import TEST_SECRET
from tests.integration.test_pay_links_api import _events, _published_detail

pytestmark = pytest.mark.integration

FORM = "application/x-www-form-urlencoded"
PUBLIC_KEY = "sandbox-public-key"
VISA = "4242424242424242"
DOB = "1984-03-09"
SECURITY = {
    "Strict-Transport-Security": re.compile(r"^max-age=\d{8,}; includeSubDomains$"),
    "Referrer-Policy": re.compile(r"^same-origin$"),
    "Cache-Control": re.compile(r"^no-store$"),
    "X-Content-Type-Options": re.compile(r"^nosniff$"),
    "X-Frame-Options": re.compile(r"^DENY$"),
    "Content-Security-Policy": re.compile(r"^default-src 'none'; .*frame-ancestors 'none'"),
}
_ADDRESSES = itertools.count(2)


# -- the stack over HTTP --------------------------------------------------------------------------------------


class Staff:
    """The practice's staff on the JSON API (a Bearer token of the practice)."""

    def __init__(self, base: str, practice: str) -> None:
        self.base = base
        self.practice = practice
        self.headers = {"Authorization": f"Bearer {issue_hs256(TEST_SECRET, practice)}"}

    def call(self, method: str, path: str, body: Any = None, ok: int | None = 200) -> Any:
        headers = dict(self.headers)
        if method == "POST":
            headers["Idempotency-Key"] = uuid.uuid4().hex
        resp = requests.request(method, self.base + path, json=body, headers=headers, timeout=30)
        if ok is not None:
            assert resp.status_code == ok, f"{method} {path}: {resp.status_code} {resp.text}"
        return resp.json() if resp.content else None

    def patient(self, **changes: Any) -> dict[str, Any]:
        body = {
            "external_id": "ehr-pp-" + uuid.uuid4().hex[:10],
            "first_name": "Ximena",
            "last_name": "Peña-O'Neil",
            "date_of_birth": DOB,
            "address": {"line1": "1 Main St", "city": "Chicago", "state": "IL", "postal_code": "60607"},
            **changes,
        }
        return self.call("POST", "/patients", body, ok=201)

    def bill(
        self, amounts: tuple[int, ...] = (18000, 3500), patient: dict | None = None, **link: Any
    ) -> dict[str, Any]:
        """An issued invoice (line texts unique to it) for a patient, and a pay link: what the test needs."""
        patient = patient or self.patient()
        mark = uuid.uuid4().hex[:8]
        lines = [{"description": f"Office visit {mark} #{i}", "unit_amount": a} for i, a in enumerate(amounts)]
        body = {"patient_id": patient["id"], "due_date": "2027-01-04", "line_items": lines}
        invoice = self.call("POST", "/invoices", body, ok=201)
        self.call("POST", f"/invoices/{invoice['id']}/issue")
        made = self.call("POST", f"/invoices/{invoice['id']}/pay-links", link, ok=201)
        secret = made["url"].rsplit("/pay/", 1)[1]
        return {
            "patient": patient,
            "invoice": invoice,
            "link": made,
            "secret": secret,
            "path": f"/pay/{secret}",
            "lines": [line["description"] for line in lines],
        }

    def link(self, invoice_id: str, link_id: str) -> dict[str, Any]:
        found = self.call("GET", f"/invoices/{invoice_id}/pay-links")["data"]
        return next(link for link in found if link["id"] == link_id)

    def payments(self, invoice_id: str) -> list[dict[str, Any]]:
        return self.call("GET", f"/payments?invoice_id={invoice_id}")["data"]


class _From(HTTPAdapter):
    """Connections from one loopback address: the pay page counts wrong answers per source address."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


class Patient:
    """A browser without a browser: one address, the session cookie carried by hand, no redirects followed."""

    def __init__(self, base: str, address: str | None = None) -> None:
        self.base = base
        self.address = address or f"127.0.{random.randint(1, 250)}.{next(_ADDRESSES) % 250 + 2}"  # noqa: S311
        self.http = requests.Session()
        self.http.mount("http://", _From(self.address))
        self.cookie: str | None = None

    def _send(self, method: str, path: str, headers: dict[str, str], **kwargs: Any) -> requests.Response:
        if self.cookie:
            headers = {**headers, "Cookie": f"pp_session={self.cookie}"}
        resp = self.http.request(method, self.base + path, headers=headers, allow_redirects=False, timeout=30, **kwargs)
        for raw in resp.raw.headers.getlist("Set-Cookie"):
            name, _, rest = raw.partition("=")
            if name == "pp_session":
                self.cookie = rest.split(";", 1)[0]
        return resp

    def get(self, path: str, **params: str) -> requests.Response:
        return self._send("GET", path, {}, params=params or None)

    def post(
        self, path: str, form: dict[str, str], *, origin: str | None = "same", **headers: str
    ) -> requests.Response:
        sent = {"Content-Type": FORM, **headers}
        if origin is not None:
            sent["Origin"] = self.base if origin == "same" else origin
        return self._send("POST", path, sent, data=form)

    def identify(self, bill: dict[str, Any], dob: str = DOB, status: int = 303) -> requests.Response:
        """Open the link (a new session unless one is held) and answer its date-of-birth question."""
        page = self.get(bill["path"])
        csrf = fields(page.text)["csrf"]
        year, month, day = dob.split("-")
        form = {"csrf": csrf, "lang": "en", "dob_month": month, "dob_day": day, "dob_year": year}
        resp = self.post(bill["path"] + "/identity", form)
        assert resp.status_code == status, resp.text
        return resp


def fields(page: str) -> dict[str, str]:
    """The page's hidden inputs (the first of each name: the pay form comes before the plan form)."""
    found: dict[str, str] = {}
    for name, value in re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', page):
        found.setdefault(name, html.unescape(value))
    return found


def text(page: str) -> str:
    """What the page says, tags dropped."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def payfields_config(page: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="payfields-config">(.*?)</script>', page, re.S)
    assert found, "no payfields-config on the page"
    return json.loads(found.group(1))


def tokenize(config: dict[str, Any], payment: dict[str, Any], expiration: str | None = "1230") -> str:
    """What the PayFields frames do on submit: POST /payFields/tokenize at the PayFields origin with the page's
    public API key and txnSession key, for the page's merchant and customer (local/sandbox/payfields_frame.js)."""
    cfg = config["config"]
    assert cfg["apiKey"] == PUBLIC_KEY and cfg["mode"] == "token"
    body: dict[str, Any] = {"merchant": cfg["merchant"], "customer": cfg["customer"], "payment": payment}
    if expiration:
        body["expiration"] = expiration
    resp = requests.post(
        config["origin"] + "/payFields/tokenize",
        json=body,
        headers={"APIKEY": cfg["apiKey"], "TXNSESSIONKEY": cfg["txnSessionKey"]},
        timeout=10,
    )
    answer = resp.json()["response"]
    assert resp.status_code == 200 and not answer["errors"], answer
    return answer["data"][0]["token"]


def card_form(page: str, number: str = VISA, **changes: str) -> dict[str, str]:
    """The bill's pay form as pay.js submits it, with a token for `number` minted at PayFields."""
    hidden = fields(page)
    token = tokenize(payfields_config(page), {"number": number, "cvv": "123"})
    form = {k: hidden[k] for k in ("csrf", "lang", "submit_id", "started")}
    return {**form, "method": "card", "amount_choice": "full", "token": token, **changes}


def assert_security_headers(resp: requests.Response) -> None:
    for name, pattern in SECURITY.items():
        assert pattern.search(resp.headers.get(name, "")), (name, resp.headers.get(name))
    assert "unsafe-inline" not in resp.headers["Content-Security-Policy"]
    assert resp.headers["Content-Type"] == "text/html; charset=utf-8"


@pytest.fixture(scope="module")
def staff(front, boarded) -> Staff:
    return Staff(front, boarded(f"prc_pp_{uuid.uuid4().hex[:8]}"))


@pytest.fixture
def patient(front) -> Patient:
    return Patient(front)


# -- before identity ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("secret", ["A" * 32, "short", "A" * 31 + "!", "A" * 33])
def test_an_unknown_or_malformed_secret_is_a_404_page_with_the_security_headers(patient, secret):
    resp = patient.get(f"/pay/{secret}")
    assert resp.status_code == 404, resp.text
    assert "Link not found" in resp.text
    assert_security_headers(resp)
    assert "frame-src 'none'" in resp.headers["Content-Security-Policy"]
    assert "Set-Cookie" not in resp.headers


def test_the_first_screen_shows_only_the_practices_name_and_sets_a_strict_cookie(staff, patient):
    bill = staff.bill()
    resp = patient.get(bill["path"])
    assert resp.status_code == 200, resp.text
    assert_security_headers(resp)
    assert "frame-src 'none'" in resp.headers["Content-Security-Policy"]  # no PayFields before identity
    said = text(resp.text)
    assert f"A bill from Practice {staff.practice}" in said
    assert "$" not in said and "215" not in said
    for line in bill["lines"]:
        assert line not in resp.text
    assert "Ximena" not in resp.text and "Peña" not in resp.text and DOB not in resp.text
    (cookie,) = resp.raw.headers.getlist("Set-Cookie")
    flags = {f.strip() for f in cookie.split(";")[1:]}
    assert {"HttpOnly", "Secure", "SameSite=Strict", f"Path=/pay/{bill['secret']}"} <= flags
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", patient.cookie or "")
    assert staff.link(bill["invoice"]["id"], bill["link"]["id"])["opened"] == 1


def test_identity_without_the_csrf_token_is_403_and_counts_nothing(staff, patient):
    bill = staff.bill()
    patient.get(bill["path"])
    first_cookie = patient.cookie
    form = {"lang": "en", "dob_month": "1", "dob_day": "1", "dob_year": "1990"}
    resp = patient.post(bill["path"] + "/identity", form)
    assert resp.status_code == 403, resp.text
    assert "Your session expired" in resp.text
    assert patient.cookie != first_cookie  # a fresh session, with its own token
    resp = patient.post(bill["path"] + "/identity", {**form, "csrf": "x" * 32})
    assert resp.status_code == 403
    assert staff.link(bill["invoice"]["id"], bill["link"]["id"])["identity_failures"] == 0


def test_identity_from_another_origin_is_403_and_a_json_body_415(staff, patient):
    bill = staff.bill()
    csrf = fields(patient.get(bill["path"]).text)["csrf"]
    form = {"csrf": csrf, "dob_month": "3", "dob_day": "9", "dob_year": "1984"}
    resp = patient.post(bill["path"] + "/identity", form, origin="https://evil.example")
    assert resp.status_code == 403 and "Please start again" in resp.text
    assert_security_headers(resp)
    resp = patient.post(bill["path"] + "/identity", form, origin="null")
    assert resp.status_code == 403
    resp = patient._send(
        "POST", bill["path"] + "/identity", {"Content-Type": "application/json", "Origin": patient.base}, json=form
    )
    assert resp.status_code == 415, resp.text
    assert staff.link(bill["invoice"]["id"], bill["link"]["id"])["identity_failures"] == 0
    # the same form, as the page posts it, still works: nothing above used the session up
    assert patient.post(bill["path"] + "/identity", form).status_code == 303


def test_a_wrong_date_of_birth_is_422_and_counted_then_the_right_one_shows_the_bill(staff, patient):
    bill = staff.bill()
    resp = patient.identify(bill, "1984-03-08", status=422)
    assert "Those details do not match our records" in resp.text
    assert bill["lines"][0] not in resp.text
    assert staff.link(bill["invoice"]["id"], bill["link"]["id"])["identity_failures"] == 1

    resp = patient.identify(bill)
    assert resp.headers["Location"] == f"{bill['path']}?lang=en"
    assert_security_headers(resp)
    page = patient.get(bill["path"], lang="en")
    assert page.status_code == 200, page.text
    assert re.search(r'id="amount-due">\$215\.00<', page.text)
    for line in bill["lines"]:
        assert line in page.text
    assert "$180.00" in page.text and "$35.00" in page.text
    csp = page.headers["Content-Security-Policy"]
    origin = payfields_config(page.text)["origin"]
    assert f"script-src 'self' {origin};" in csp and f"frame-src {origin};" in csp
    link = staff.link(bill["invoice"]["id"], bill["link"]["id"])
    assert (link["uses"], link["identity_failures"]) == (1, 1)


def test_the_last_name_and_zip_mode(front, boarded):
    staff = Staff(front, boarded(f"prc_ppzip_{uuid.uuid4().hex[:8]}"))  # fresh: no cached settings anywhere
    staff.call("PATCH", f"/practices/{staff.practice}/settings", {"pay_page_identity": "last_name_zip"})
    bill = staff.bill()
    patient = Patient(front)
    page = patient.get(bill["path"])
    assert 'name="last_name"' in page.text and 'name="postal_code"' in page.text and "dob_month" not in page.text
    csrf = fields(page.text)["csrf"]
    wrong = patient.post(bill["path"] + "/identity", {"csrf": csrf, "last_name": "Pena-ONeill", "postal_code": "60607"})
    assert wrong.status_code == 422
    wrong = patient.post(bill["path"] + "/identity", {"csrf": csrf, "last_name": "Pena O'Neil", "postal_code": "60608"})
    assert wrong.status_code == 422
    dob = patient.post(bill["path"] + "/identity", {"csrf": csrf, "dob_month": "3", "dob_day": "9", "dob_year": "1984"})
    assert dob.status_code == 422  # this practice asks the name and ZIP: a date of birth alone is no answer (uncounted)
    right = patient.post(
        bill["path"] + "/identity", {"csrf": csrf, "last_name": "pena oneil", "postal_code": "60607-1234"}
    )
    assert right.status_code == 303, right.text
    assert "amount-due" in patient.get(bill["path"]).text
    assert staff.link(bill["invoice"]["id"], bill["link"]["id"])["identity_failures"] == 2  # the right one taken back


# -- sessions, receipts and links that ended ------------------------------------------------------------------


def test_a_session_of_one_link_is_not_verified_on_another(staff, patient):
    patient_record = staff.patient()
    a = staff.bill(patient=patient_record)
    b = staff.bill(patient=patient_record)  # the same patient even
    patient.identify(a)
    verified = patient.cookie
    assert "amount-due" in patient.get(a["path"]).text

    page = patient.get(b["path"])
    assert page.status_code == 200 and "amount-due" not in page.text and 'name="dob_month"' in page.text
    for line in b["lines"]:
        assert line not in page.text
    patient.cookie = verified  # the first link's session, sent to the second link's forms
    csrf = fields(patient.get(a["path"]).text)["csrf"]
    form = {"csrf": csrf, "submit_id": "s" * 22, "started": "2026-01-01T00:00:00Z", "token": "0" * 32}
    resp = patient.post(b["path"] + "/payments", {**form, "method": "card", "amount_choice": "full"})
    assert resp.status_code == 303 and resp.headers["Location"] == f"{b['path']}?lang=en"
    assert staff.payments(b["invoice"]["id"]) == []
    resp = patient.get(b["path"] + "/receipts/rc_" + "0" * 26)
    assert resp.status_code == 303


def test_a_receipt_of_another_link_is_404(staff):
    a, b = staff.bill(), staff.bill()
    payer = Patient(staff.base)
    payer.identify(a)
    paid = payer.post(a["path"] + "/payments", card_form(payer.get(a["path"]).text))
    assert paid.status_code == 303, paid.text
    receipt = paid.headers["Location"].split("?")[0].rsplit("/", 1)[1]
    assert payer.get(f"{a['path']}/receipts/{receipt}").status_code == 200

    other = Patient(staff.base)
    other.identify(b)
    resp = other.get(f"{b['path']}/receipts/{receipt}")
    assert resp.status_code == 404, resp.text
    assert "$215.00" not in resp.text and "Payment received" not in resp.text and "ending in 4242" not in resp.text
    assert other.get(f"{b['path']}/receipts/rc_{'f' * 26}").status_code == 404


def test_a_used_up_link_is_410(staff):
    bill = staff.bill(max_uses=1)
    Patient(staff.base).identify(bill)
    again = Patient(staff.base)
    resp = again.get(bill["path"])
    assert resp.status_code == 410, resp.text
    assert "This payment link has been used as many times as allowed." in text(resp.text)
    assert_security_headers(resp)
    assert staff.link(bill["invoice"]["id"], bill["link"]["id"])["status"] == "used_up"


def test_a_used_up_link_refuses_a_second_session_that_was_opened_before(staff):
    """Two tabs opened before either answered: the second right answer finds no use left."""
    bill = staff.bill(max_uses=1)
    first, second = Patient(staff.base), Patient(staff.base)
    csrf = fields(second.get(bill["path"]).text)["csrf"]
    first.identify(bill)
    resp = second.post(bill["path"] + "/identity", {"csrf": csrf, "dob_month": "3", "dob_day": "9", "dob_year": "1984"})
    assert resp.status_code == 410 and "used as many times as allowed" in resp.text


def test_a_revoked_link_is_410(staff, patient):
    bill = staff.bill()
    staff.call("POST", f"/pay-links/{bill['link']['id']}/revoke")
    resp = patient.get(bill["path"])
    assert resp.status_code == 410, resp.text
    assert "This payment link was canceled." in text(resp.text)
    assert_security_headers(resp)
    assert staff.link(bill["invoice"]["id"], bill["link"]["id"])["status"] == "revoked"


def test_a_revoked_link_stops_a_verified_session_from_paying(staff, patient):
    bill = staff.bill()
    patient.identify(bill)
    form = card_form(patient.get(bill["path"]).text)
    staff.call("POST", f"/pay-links/{bill['link']['id']}/revoke")
    resp = patient.post(bill["path"] + "/payments", form)
    assert resp.status_code == 410 and "This payment link was canceled." in text(resp.text)
    assert staff.payments(bill["invoice"]["id"]) == []


def test_a_revoked_link_no_longer_shows_the_bill_to_a_verified_session(staff, patient):
    bill = staff.bill()
    patient.identify(bill)
    staff.call("POST", f"/pay-links/{bill['link']['id']}/revoke")
    resp = patient.get(bill["path"])
    assert resp.status_code == 410 and bill["lines"][0] not in resp.text


def test_a_canceled_invoices_link_says_so(staff, patient):
    bill = staff.bill()
    staff.call("POST", f"/invoices/{bill['invoice']['id']}/cancel")
    resp = patient.get(bill["path"])
    assert resp.status_code == 200, resp.text
    said = text(resp.text)
    assert "This bill was canceled" in said and "<form" not in resp.text
    assert bill["lines"][0] not in resp.text


# -- paying ---------------------------------------------------------------------------------------------------


def test_a_card_payment_redirects_to_its_receipt_and_a_replay_pays_once(staff, aws_env, stack_sandbox):
    before = len(stack_sandbox.sandbox.requests)
    bill = staff.bill()
    patient = Patient(staff.base)
    patient.identify(bill)
    page = patient.get(bill["path"])
    config = payfields_config(page.text)
    assert config["config"]["merchant"].startswith("t1_mer_") and config["config"]["customer"].startswith("t1_cus_")
    form = card_form(page.text, amount_choice="other", amount="150.00")
    resp = patient.post(bill["path"] + "/payments", form)
    assert resp.status_code == 303, resp.text
    location = resp.headers["Location"]
    assert re.fullmatch(rf"{re.escape(bill['path'])}/receipts/rc_[0-9a-f]{{26}}\?lang=en", location)

    receipt = patient.get(location.split("?")[0], lang="en")
    assert receipt.status_code == 200, receipt.text
    said = text(receipt.text)
    assert "Payment received" in said and "Visa ending in 4242" in said and "$150.00" in said
    assert_security_headers(receipt)

    again = patient.post(bill["path"] + "/payments", form)  # a refresh of the POST, a double click
    assert again.status_code == 303 and again.headers["Location"] == location
    payments = staff.payments(bill["invoice"]["id"])
    assert [(p["amount"], p["status"], p["channel"]) for p in payments] == [(15000, "succeeded", "pay_page")]
    link = staff.link(bill["invoice"]["id"], bill["link"]["id"])
    assert link["payment_ids"] == [payments[0]["id"]]
    methods = staff.call("GET", f"/patients/{bill['patient']['id']}/payment-methods")["data"]
    assert [m["status"] for m in methods] == ["inactive"]  # not saved: removed once paid
    assert re.search(r'id="amount-due">\$65\.00<', patient.get(bill["path"]).text)

    # the PHI firewall: nothing of the patient or the bill's lines went to Splash
    sent = json.dumps(stack_sandbox.sandbox.requests[before:], ensure_ascii=False)
    assert "/txns" in sent  # the charge is in the log looked at
    for secret in (
        *bill["lines"],
        "Office visit",
        "Ximena",
        "Peña",
        "Pe\\u00f1a",
        "O'Neil",
        "Neil",
        DOB,
        "1984",
        "03/09",
        "1 Main St",
        bill["secret"],
    ):
        assert secret not in sent, secret


@pytest.mark.parametrize(("choice", "amount"), [("full", ""), ("other", "150.00")])
def test_a_resubmit_after_the_balance_changed_is_still_its_receipt(staff, choice, amount):
    bill = staff.bill((10000, 10000))
    patient = Patient(staff.base)
    patient.identify(bill)
    form = card_form(patient.get(bill["path"]).text, amount_choice=choice, **({"amount": amount} if amount else {}))
    first = patient.post(bill["path"] + "/payments", form)
    assert first.status_code == 303, first.text
    again = patient.post(bill["path"] + "/payments", form)
    assert len(staff.payments(bill["invoice"]["id"])) == 1
    assert (again.status_code, again.headers.get("Location")) == (303, first.headers["Location"]), again.text


def test_an_amount_below_the_minimum_is_422_and_pays_nothing(staff, patient):
    bill = staff.bill()
    patient.identify(bill)
    for amount in ("1.00", "4.99", "215.01", "abc"):
        page = patient.get(bill["path"]).text  # a new page: a txnSession tokenizes 3 times at most
        resp = patient.post(bill["path"] + "/payments", card_form(page, amount_choice="other", amount=amount))
        assert resp.status_code == 422, (amount, resp.text)
        assert "Enter an amount between $5.00 and $215.00." in text(resp.text), amount
        assert 'id="pay-form"' in resp.text
    assert staff.payments(bill["invoice"]["id"]) == []


def test_a_decline_is_402_with_what_the_patient_can_do(staff, patient):
    bill = staff.bill((60000,))
    patient.identify(bill)
    page = patient.get(bill["path"]).text
    resp = patient.post(bill["path"] + "/payments", card_form(page, amount_choice="other", amount="500.04"))
    assert resp.status_code == 402, resp.text
    said = text(resp.text)
    assert "Payment not completed" in said
    assert "Your bank declined this payment for insufficient funds. Try another card or a smaller amount." in said
    assert_security_headers(resp)
    payments = staff.payments(bill["invoice"]["id"])
    assert [(p["amount"], p["status"]) for p in payments] == [(50004, "failed")]
    invoice = staff.call("GET", f"/invoices/{bill['invoice']['id']}")
    assert invoice["amount_due"] == 60000  # the balance is released
    assert "amount-due" in patient.get(bill["path"]).text  # try again: the bill, still verified


def test_a_bank_account_that_fails_verification_shows_the_bill_with_the_error(staff, patient):
    bill = staff.bill()
    patient.identify(bill)
    page = patient.get(bill["path"], method="bank")
    assert 'id="pf-routing"' in page.text and 'name="ach_consent"' in page.text
    config = payfields_config(page.text)
    assert [f["type"] for f in config["fields"]] == ["routing", "account_number"]
    token = tokenize(config, {"method": 8, "number": "9992000004", "routing": "021000021"}, expiration=None)
    hidden = fields(page.text)
    form = {k: hidden[k] for k in ("csrf", "lang", "submit_id", "started")}
    form.update(method="bank", amount_choice="full", token=token, ach_consent="on")
    resp = patient.post(bill["path"] + "/payments", form)
    assert resp.status_code == 422, resp.text
    assert "We could not verify this bank account." in text(resp.text)
    assert 'id="pf-routing"' in resp.text  # still on the bank tab
    assert staff.payments(bill["invoice"]["id"]) == []
    methods = staff.call("GET", f"/patients/{bill['patient']['id']}/payment-methods")["data"]
    assert [(m["kind"], m["status"]) for m in methods] == [("bank_account", "inactive")]

    without = {**form, "submit_id": "t" * 22}
    without.pop("ach_consent")
    resp = patient.post(bill["path"] + "/payments", without)
    assert resp.status_code == 422 and staff.payments(bill["invoice"]["id"]) == []


# -- wrong answers --------------------------------------------------------------------------------------------


def _wrong(patient: Patient, bill: dict[str, Any], csrf: str) -> requests.Response:
    return patient.post(
        bill["path"] + "/identity", {"csrf": csrf, "dob_month": "1", "dob_day": "1", "dob_year": "1990"}
    )


def test_five_wrong_answers_lock_the_link_and_tell_the_bus(staff, aws_env, patient):
    bill = staff.bill()
    csrf = fields(patient.get(bill["path"]).text)["csrf"]
    for _ in range(4):
        assert _wrong(patient, bill, csrf).status_code == 422
    resp = _wrong(patient, bill, csrf)
    assert resp.status_code == 423, resp.text
    assert "Too many attempts" in resp.text and "locked until" in resp.text
    link = staff.link(bill["invoice"]["id"], bill["link"]["id"])
    assert (link["status"], link["identity_failures"]) == ("locked", 5) and link["locked_until"]
    right = patient.post(
        bill["path"] + "/identity", {"csrf": csrf, "dob_month": "3", "dob_day": "9", "dob_year": "1984"}
    )
    assert right.status_code == 423  # the right answer waits out the lock, uncounted
    assert staff.link(bill["invoice"]["id"], bill["link"]["id"])["identity_failures"] == 5

    rows = [r for r in _events(aws_env, staff.practice, "pay_link.locked") if r["detail"]["link_id"] == link["id"]]
    assert len(rows) == 1
    detail = _published_detail(rows[0])
    validate_detail("pay_link.locked", detail)
    assert detail["identity_failures"] == 5 and detail["locked_until"] == link["locked_until"]
    assert bill["secret"] not in json.dumps(detail, default=str)


def test_the_21st_wrong_answer_from_one_address_is_429(staff):
    patient = Patient(staff.base, address=f"127.1.{random.randint(1, 250)}.{random.randint(2, 250)}")  # noqa: S311
    bills = [staff.bill() for _ in range(5)]
    answered = []
    for bill in bills[:4]:  # 5 wrong answers each (the 5th locks the link): 20 from this address
        patient.cookie = None
        csrf = fields(patient.get(bill["path"]).text)["csrf"]
        answered += [_wrong(patient, bill, csrf).status_code for _ in range(5)]
    assert answered == [422, 422, 422, 422, 423] * 4
    patient.cookie = None
    csrf = fields(patient.get(bills[4]["path"]).text)["csrf"]
    resp = _wrong(patient, bills[4], csrf)
    assert resp.status_code == 429, resp.text
    assert "please wait 15 minutes" in resp.text
    assert staff.link(bills[4]["invoice"]["id"], bills[4]["link"]["id"])["identity_failures"] == 0
    right = patient.post(
        bills[4]["path"] + "/identity", {"csrf": csrf, "dob_month": "3", "dob_day": "9", "dob_year": "1984"}
    )
    assert right.status_code == 429  # even the right answer, from this address, for now

    elsewhere = Patient(staff.base)  # another address is not refused
    elsewhere.identify(bills[4])


# -- a balance link -------------------------------------------------------------------------------------------


def test_a_balance_link_pays_the_oldest_invoice_first_one_payment_each(front, boarded):
    staff = Staff(front, boarded(f"prc_pp_bal_{uuid.uuid4().hex[:6]}"))
    staff.call("PATCH", f"/practices/{staff.practice}/settings", {"balance_links": True})
    person = staff.patient()
    invoices = []
    for due, amount in (("2027-02-01", 7000), ("2027-01-04", 5000)):  # the second is due first
        body = {
            "patient_id": person["id"],
            "due_date": due,
            "line_items": [{"description": "Visit", "unit_amount": amount}],
        }
        invoice = staff.call("POST", "/invoices", body, ok=201)
        staff.call("POST", f"/invoices/{invoice['id']}/issue")
        invoices.append(invoice)
    later, sooner = invoices
    made = staff.call("POST", f"/patients/{person['id']}/pay-links", {}, ok=201)
    assert made["scope"] == "balance" and made["invoice_id"] is None
    bill = {"path": "/pay/" + made["url"].rsplit("/pay/", 1)[1]}
    patient = Patient(front)
    patient.identify(bill)
    page = patient.get(bill["path"]).text
    assert re.search(r'id="amount-due">\$120\.00<', page)
    assert 'id="plan-form"' not in page  # plans are for one invoice

    form = card_form(page, amount_choice="other", amount="80.00")
    paid = patient.post(bill["path"] + "/payments", form)
    assert paid.status_code == 303, paid.text
    assert [(p["amount"], p["status"]) for p in staff.payments(sooner["id"])] == [(5000, "succeeded")]
    assert [(p["amount"], p["status"]) for p in staff.payments(later["id"])] == [(3000, "succeeded")]
    receipt = text(patient.get(paid.headers["Location"].split("?")[0]).text)
    assert "$50.00" in receipt and "$30.00" in receipt and "Total $80.00" in receipt
    again = patient.post(bill["path"] + "/payments", form)
    assert again.headers["Location"] == paid.headers["Location"]
    assert len(staff.payments(sooner["id"]) + staff.payments(later["id"])) == 2
    assert staff.call("GET", f"/invoices/{sooner['id']}")["status"] == "paid"
    assert staff.call("GET", f"/invoices/{later['id']}")["amount_due"] == 4000


def test_identity_gives_a_new_session_and_ends_the_one_the_form_was_posted_under(staff):
    bill = staff.bill()
    patient = Patient(staff.base)
    page = patient.get(bill["path"])
    before = patient.cookie
    assert patient.get(bill["path"]).status_code == 200 and patient.cookie == before  # kept while not verified
    assert staff.link(bill["invoice"]["id"], bill["link"]["id"])["opened"] == 1  # one browser, a reload
    form = {"csrf": fields(page.text)["csrf"], "lang": "en", "dob_month": "03", "dob_day": "09", "dob_year": "1984"}
    assert patient.post(bill["path"] + "/identity", form).status_code == 303
    assert patient.cookie and patient.cookie != before  # rotated when identity was shown
    assert re.search(r'id="amount-due"', patient.get(bill["path"]).text)
    planted = Patient(staff.base)
    planted.cookie = before  # the cookie handed out before identity no longer opens anything
    page = planted.get(bill["path"])
    assert page.status_code == 200 and 'id="amount-due"' not in page.text and "Date of birth" in text(page.text)


def test_an_empty_or_impossible_answer_is_said_and_not_counted(staff, patient):
    bill = staff.bill()
    page = patient.get(bill["path"])
    csrf = fields(page.text)["csrf"]
    for answer in ({}, {"dob_month": "2", "dob_day": "30", "dob_year": "1984"}, {"dob_month": "3"}):
        resp = patient.post(bill["path"] + "/identity", {"csrf": csrf, "lang": "en", **answer})
        assert resp.status_code == 422 and "Please check the form" in text(resp.text)
    assert staff.link(bill["invoice"]["id"], bill["link"]["id"])["identity_failures"] == 0


def test_a_patient_with_no_date_of_birth_gets_no_link_and_one_removed_later_is_sent_to_the_practice(staff, patient):
    person = staff.patient(date_of_birth=None)
    body = {
        "patient_id": person["id"],
        "due_date": "2027-01-04",
        "line_items": [{"description": "V", "unit_amount": 900}],
    }
    invoice = staff.call("POST", "/invoices", body, ok=201)
    staff.call("POST", f"/invoices/{invoice['id']}/issue")
    refused = staff.call("POST", f"/invoices/{invoice['id']}/pay-links", {}, ok=409)
    assert "date of birth is not on file" in refused["detail"]
    bill = staff.bill()  # a link made while the date of birth was on file, which was removed since
    staff.call("PATCH", f"/patients/{bill['patient']['id']}", {"date_of_birth": None})
    page = patient.get(bill["path"])
    form = {"csrf": fields(page.text)["csrf"], "lang": "en", "dob_month": "3", "dob_day": "9", "dob_year": "1984"}
    resp = patient.post(bill["path"] + "/identity", form)
    assert resp.status_code == 409 and "Please contact the practice" in text(resp.text)
    assert staff.link(bill["invoice"]["id"], bill["link"]["id"])["identity_failures"] == 0


def test_a_bank_token_posted_as_a_card_is_refused_and_a_bank_account_is_never_kept_on_file(staff, patient):
    bill = staff.bill()
    patient.identify(bill)
    bank = patient.get(bill["path"], method="bank").text
    token = tokenize(payfields_config(bank), {"method": 8, "number": "123456789", "routing": "021000021"}, None)
    hidden = fields(bank)
    form = {k: hidden[k] for k in ("csrf", "lang", "submit_id", "started")}
    as_card = {**form, "method": "card", "amount_choice": "full", "token": token}  # no ACH authorization shown
    resp = patient.post(bill["path"] + "/payments", as_card)
    assert resp.status_code == 422 and staff.payments(bill["invoice"]["id"]) == []
    bank = patient.get(bill["path"], method="bank").text
    token = tokenize(payfields_config(bank), {"method": 8, "number": "123456789", "routing": "021000021"}, None)
    form = {k: fields(bank)[k] for k in ("csrf", "lang", "submit_id", "started")}
    form.update(method="bank", amount_choice="full", token=token, ach_consent="on", save="on")
    assert patient.post(bill["path"] + "/payments", form).status_code == 303
    methods = staff.call("GET", f"/patients/{bill['patient']['id']}/payment-methods")["data"]
    assert all(m["status"] == "inactive" for m in methods)  # a single debit's consent: not a method on file


def test_a_plan_form_posted_again_shows_the_plan_and_an_impossible_date_is_the_form_error(staff, patient):
    bill = staff.bill((30000,))
    patient.identify(bill)
    page = patient.get(bill["path"]).text
    hidden = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', page)[5:10])  # the plan form
    plan = {
        **{k: hidden[k] for k in ("csrf", "lang", "submit_id", "started")},
        "token": tokenize(payfields_config(page), {"number": VISA, "cvv": "123"}),
        "installments": "3",
        "first": "2025-13-45",
        "plan_consent": "on",
    }
    resp = patient.post(bill["path"] + "/plan", plan)
    assert resp.status_code == 422 and "Please check the form" in text(resp.text)
    plan["first"] = re.search(r'name="first" value="([0-9-]+)"', page).group(1)
    made = patient.post(bill["path"] + "/plan", plan)
    assert made.status_code == 201 and "Your payment plan is set up" in text(made.text)
    again = patient.post(bill["path"] + "/plan", plan)
    assert again.status_code == 200 and "Your payment plan is set up" in text(again.text)
    assert text(again.text).count("$100.00") == 3


def test_a_balance_link_for_a_patient_who_owes_nothing_is_409(front, boarded):
    staff = Staff(front, boarded(f"prc_pp_bal0_{uuid.uuid4().hex[:6]}"))
    staff.call("PATCH", f"/practices/{staff.practice}/settings", {"balance_links": True})
    person = staff.patient()
    staff.call("POST", f"/patients/{person['id']}/pay-links", {}, ok=409)


def test_a_payment_the_money_core_refuses_is_the_bill_with_the_error_never_a_500(staff, patient, monkeypatch):
    """Paid in another tab between the bill and this post (or any refusal of the money core): nothing is charged and
    the page says so; the same form posted again says the same."""
    from practicepay.errors import Conflict
    from practicepay.payments.service import PaymentService

    bill = staff.bill()
    patient.identify(bill)
    form = card_form(patient.get(bill["path"]).text)

    def refuse(*args, **kwargs):
        raise Conflict("A record changed while this request ran; retry.")

    monkeypatch.setattr(PaymentService, "pay", refuse)
    resp = patient.post(bill["path"] + "/payments", form)
    assert resp.status_code == 422 and "We could not take this payment" in text(resp.text)
    again = patient.post(bill["path"] + "/payments", form)
    assert again.status_code == 422 and "We could not take this payment" in text(again.text)
    assert staff.payments(bill["invoice"]["id"]) == []
