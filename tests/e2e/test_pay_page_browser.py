"""The pay page in a real browser (Debian's chromium through Playwright) against `make run`'s stack: a patient
opens a link staff made, answers the identity check (once wrong), pays part by card through the sandbox's PayFields
and saves the card, pays the rest by bank account, sees the receipts; the books match Splash. Others: a plan chosen
on the page, a link locked (then revoked) by wrong dates of birth, ended and closed links, Spanish. axe-core checks
every screen; screenshots of each at 375 and 1280 px go to .local/screenshots/pay-page/ (not committed)."""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import boto3
import pytest
import requests

from tests.e2e.conftest import ROOT
from tests.e2e.screens import assert_accessible, photograph

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"]
SHOTS = ROOT / ".local" / "screenshots" / "pay-page"
DOB = ("3", "9", "1984")


# -- the stack's API, its Splash sandbox and its tables ---------------------------------------------------------


class Staff:
    def __init__(self, stack):
        self.base = stack.base
        self.headers = {"Authorization": f"Bearer {stack.token}"}
        self.splash = f"http://127.0.0.1:{stack.env['PRACTICEPAY_SPLASH_PORT']}"
        self.dynamodb = boto3.client(
            "dynamodb",
            endpoint_url=f"http://127.0.0.1:{stack.env['PRACTICEPAY_AWS_PORT']}",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106
        )

    def call(self, method: str, path: str, body: dict | None = None, ok: int | None = None) -> Any:
        headers = {**self.headers, "Idempotency-Key": uuid.uuid4().hex} if method == "POST" else self.headers
        resp = requests.request(method, self.base + path, json=body, headers=headers, timeout=30)
        if ok is not None:
            assert resp.status_code == ok, resp.text
        return resp.json() if resp.content else None

    def bill(self, amounts: tuple[int, ...] = (18000, 3500), **link: Any) -> tuple[str, str, str]:
        """A patient (date of birth 1984-03-09), an issued invoice and a pay link: (patient, invoice, url)."""
        patient = self.call(
            "POST",
            "/patients",
            {
                "external_id": "ehr-" + uuid.uuid4().hex[:10],
                "first_name": "Maria",
                "last_name": "Peña-Lopez",
                "date_of_birth": "1984-03-09",
                "address": {"line1": "1 Main St", "city": "Chicago", "state": "IL", "postal_code": "60607"},
            },
            ok=201,
        )["id"]
        lines = [
            {"description": ["Office visit, established patient", "Flu vaccine", "Lab panel"][i], "unit_amount": a}
            for i, a in enumerate(amounts)
        ]
        invoice = self.call(
            "POST", "/invoices", {"patient_id": patient, "due_date": "2027-01-04", "line_items": lines}, ok=201
        )["id"]
        self.call("POST", f"/invoices/{invoice}/issue", ok=200)
        url = self.call("POST", f"/invoices/{invoice}/pay-links", link, ok=201)["url"]
        return patient, invoice, url

    def link(self, invoice: str) -> dict[str, Any]:
        return self.call("GET", f"/invoices/{invoice}/pay-links")["data"][0]

    def set_link(self, url: str, **attrs: str) -> None:
        """Move a link's clock-driven fields (its expiry, a lock's end) as time passing would."""
        secret = url.rsplit("/", 1)[1]
        names = {f"#a{i}": k for i, k in enumerate(attrs)}
        self.dynamodb.update_item(
            TableName="practicepay-pay-links",
            Key={"pk": {"S": f"LINK#{hashlib.sha256(secret.encode()).hexdigest()}"}, "sk": {"S": "LINK"}},
            UpdateExpression="SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(attrs))),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={f":v{i}": {"S": v} for i, v in enumerate(attrs.values())},
        )

    def splash_txns(self, order: str) -> list[dict[str, Any]]:
        resp = requests.get(
            f"{self.splash}/txns",
            headers={"APIKEY": "sandbox-private-key", "SEARCH": f"order[equals]={order}"},
            timeout=10,
        )
        return [t for t in resp.json()["response"]["data"] if t.get("order") == order]

    def events(self, detail_type: str) -> list[dict[str, Any]]:
        found = requests.get(self.base + "/_local/events", timeout=10).json()
        items = found.get("events", found) if isinstance(found, dict) else found
        return [e for e in items if e.get("detail-type", e.get("detail_type")) == detail_type]


@pytest.fixture(scope="module")
def staff(stack) -> Staff:
    staff = Staff(stack)
    staff.call("PATCH", "/practices/prc_demo/settings", {"contact_phone": "3125550100"}, ok=200)
    return staff


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: `make browser` installs it (make test does)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 375, "height": 800})
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


# -- what each screen must be -----------------------------------------------------------------------------------


def check_screen(page, name: str) -> None:
    assert_accessible(page, name)
    photograph(page, name, SHOTS, (375, 1280), 800)


def identify(page, dob: tuple[str, str, str] = DOB, lang: str = "en") -> None:
    labels = {"en": ("Month", "Day", "Year", "Continue"), "es": ("Mes", "Día", "Año", "Continuar")}[lang]
    page.get_by_label(labels[0], exact=True).fill(dob[0])
    page.get_by_label(labels[1], exact=True).fill(dob[1])
    page.get_by_label(labels[2], exact=True).fill(dob[2])
    page.get_by_role("button", name=labels[3]).click()
    page.wait_for_load_state()


def card(page, number: str = "4242424242424242") -> None:
    page.frame_locator("#pf-number iframe").locator("input").fill(number)
    page.frame_locator("#pf-expiration iframe").locator("input").fill("12/30")
    page.frame_locator("#pf-cvv iframe").locator("input").fill("123")


def post_again(page, action: str, fields: list[tuple[str, str]]) -> None:
    """Post a form's fields again from `page`, as a browser does on a refresh of a POST (its cookies, its origin)."""
    page.evaluate(
        """([action, fields]) => {
            const form = document.createElement("form");
            form.method = "post"; form.action = action;
            for (const [name, value] of fields) {
                const input = document.createElement("input");
                input.type = "hidden"; input.name = name; input.value = value; form.appendChild(input);
            }
            document.body.appendChild(form); form.submit();
        }""",
        [action, fields],
    )


def wait_until(check, what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


# -- the tests ---------------------------------------------------------------------------------------------------


def test_a_patient_pays_part_by_card_then_the_rest_by_bank_and_the_books_match_splash(page, staff):
    patient, invoice, url = staff.bill()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/pay/[A-Za-z0-9_-]{32}", url)
    first = page.goto(url)
    headers = first.all_headers()
    csp = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp and "'unsafe-inline'" not in csp
    assert "script-src 'self';" in csp and "frame-src 'none'" in csp  # no PayFields before identity
    assert headers["strict-transport-security"].startswith("max-age=")
    assert headers["cache-control"] == "no-store" and headers["x-content-type-options"] == "nosniff"
    cookie = headers["set-cookie"]
    assert all(flag in cookie for flag in ("HttpOnly", "Secure", "SameSite=Strict", f"Path=/pay/{url[-32:]}"))
    # Nothing before identity but the practice's name
    body = page.locator("body").inner_text()
    assert "Demo Family Practice" in body and "$" not in body and "Office visit" not in body
    check_screen(page, "identity")

    identify(page, ("3", "8", "1984"))  # a wrong date of birth: told, announced, counted
    assert page.get_by_role("alert").inner_text().startswith("Those details do not match")
    check_screen(page, "identity-error")
    assert staff.link(invoice)["identity_failures"] == 1
    identify(page)
    bill_csp = page.reload().headers["content-security-policy"]
    splash = staff.splash.replace("http://", r"http://")
    assert f"script-src 'self' {splash};" in bill_csp and f"frame-src {splash};" in bill_csp  # us and PayFields
    assert "connect-src 'self';" in bill_csp
    assert page.locator("#amount-due").inner_text() == "$215.00"
    assert "Office visit, established patient" in page.locator("main").inner_text()
    check_screen(page, "bill-card")

    # $50.00 by card, saved for future visits
    page.get_by_label("Pay another amount").check()
    page.get_by_label("Amount to pay, in dollars").fill("50.00")
    card(page)
    page.get_by_label("Save this card for future visits").check()
    posted: list[Any] = []
    page.on("request", lambda r: posted.append(r) if r.method == "POST" and r.url.endswith("/payments") else None)
    page.get_by_role("button", name="Pay", exact=True).click()
    page.wait_for_url(re.compile(r".*/receipts/rc_[0-9a-f]{26}\?lang=en$"))
    receipt = page.locator("main").inner_text()
    assert "Payment received" in receipt and "Visa ending in 4242" in receipt and "$50.00" in receipt
    check_screen(page, "receipt-card")
    receipt_url = page.url

    # the same submit again (a refresh of the POST, a double click that got through): the same receipt, no charge
    fields = parse_qsl(posted[0].post_data)
    post_again(page, posted[0].url, fields)
    page.wait_for_url(receipt_url)
    payments = staff.call("GET", f"/payments?invoice_id={invoice}")["data"]
    assert [(p["amount"], p["status"], p["channel"]) for p in payments] == [(5000, "succeeded", "pay_page")]

    # the rest, $165.00, by bank account (validated at Splash first: NACHA's WEB rule)
    page.get_by_role("link", name="Back to the bill").click()
    page.get_by_role("link", name="Bank account").click()
    assert page.locator("#amount-due").inner_text() == "$165.00"
    check_screen(page, "bill-bank")
    page.frame_locator("#pf-routing iframe").locator("input").fill("021000021")
    page.frame_locator("#pf-account iframe").locator("input").fill("987654321012")
    page.get_by_label(re.compile("^I authorize Demo Family Practice to debit")).check()
    page.get_by_role("button", name="Pay", exact=True).click()
    page.wait_for_url(re.compile(r".*/receipts/"))
    processing = page.locator("main").inner_text()
    assert "Payment processing" in processing and "Bank account ending in 1012" in processing
    check_screen(page, "receipt-bank-processing")

    methods = staff.call("GET", f"/patients/{patient}/payment-methods")["data"]
    saved = [m for m in methods if m["status"] == "active"]
    assert [(m["kind"], m["last4"], m["consent"]["channel"]) for m in saved] == [("card", "4242", "pay_page")]
    assert saved[0]["consent"]["text_version"] == "pay-page-card-on-file-v1-en"
    bank = next(m for m in methods if m["kind"] == "bank_account")
    assert bank["verified_at"] and bank["status"] == "inactive"  # validated, used once, not kept on file

    # the next day the eCheck settles at Splash: the invoice is paid, and every payment is what Splash holds
    requests.post(f"{staff.splash}/_sandbox/clock", json={"advance_days": 1}, timeout=10)
    paid = wait_until(
        lambda: (i := staff.call("GET", f"/invoices/{invoice}"))["status"] == "paid" and i, "the invoice paid"
    )
    assert paid["amount_paid"] == 21500 and paid["amount_due"] == 0
    payments = staff.call("GET", f"/payments?invoice_id={invoice}")["data"]
    assert sorted(p["amount"] for p in payments) == [5000, 16500]
    for payment in payments:
        txns = [t for t in staff.splash_txns(payment["id"]) if int(t["type"]) in (1, 7)]
        assert [int(t["total"]) for t in txns] == [payment["amount"]], payment
        assert payment["status"] == "succeeded" and payment["channel"] == "pay_page"
    link = staff.link(invoice)
    assert (
        link["uses"] == 1 and link["opened"] == 1 and sorted(link["payment_ids"]) == sorted(p["id"] for p in payments)
    )

    page.goto(url)  # the paid bill's link shows that, not a form
    assert "This bill is paid" in page.locator("main").inner_text()
    assert page.locator("form").count() == 0
    check_screen(page, "closed-paid")


def test_a_declined_card_says_what_to_do_and_charges_nothing(page, staff):
    _, invoice, url = staff.bill((60000,))
    page.goto(url)
    identify(page)
    page.get_by_label("Pay another amount").check()
    page.get_by_label("Amount to pay, in dollars").fill("500.04")  # the sandbox's insufficient-funds trigger
    card(page)
    page.get_by_role("button", name="Pay", exact=True).click()
    page.get_by_role("heading", name="Payment not completed").wait_for()
    assert "insufficient funds" in page.get_by_role("alert").inner_text()
    check_screen(page, "declined")
    page.get_by_role("link", name="Try again").click()
    assert page.locator("#amount-due").inner_text() == "$600.00"
    assert [p["status"] for p in staff.call("GET", f"/payments?invoice_id={invoice}")["data"]] == ["failed"]


def test_a_patient_chooses_a_payment_plan_on_the_page(page, staff, stack):
    _, invoice, url = staff.bill((30000,))
    page.goto(url)
    identify(page)
    options = page.get_by_label("Number of payments").locator("option").all_inner_texts()
    assert options[:2] == ["2 monthly payments of $150.00", "3 monthly payments of $100.00"]
    assert len(options) == 5  # the practice's policy: at most 6, none under $25.00 ... 6 × $50.00 fits
    card(page)
    page.get_by_label("Number of payments").select_option("3")
    page.get_by_label(re.compile("^I authorize Demo Family Practice to charge my card monthly")).check()
    page.get_by_role("button", name="Start my payment plan").click()
    page.wait_for_url(re.compile(r".*/plan$"))
    done = page.locator("main").inner_text()
    assert "Your payment plan is set up" in done and done.count("$100.00") == 3, "".join(stack.out)[-6000:]
    check_screen(page, "plan-done")
    plan = staff.call("GET", f"/invoices/{invoice}/payment-plan")
    assert [i["amount"] for i in plan["installments"]] == [10000, 10000, 10000]
    assert plan["consent"]["text_version"] == "pay-page-plan-v1-en" and plan["consent"]["max_amount"] == 15000
    assert staff.link(invoice)["plan_ids"] == [plan["id"]]


def test_wrong_dates_of_birth_lock_the_link_then_revoke_it(page, staff):
    _, invoice, url = staff.bill()
    page.goto(url)
    for _ in range(4):
        identify(page, ("1", "1", "1990"))
        assert page.get_by_role("alert").is_visible()
    identify(page, ("1", "1", "1990"))  # the 5th: locked for 15 minutes, staff see it
    assert "Too many attempts" in page.locator("h1").inner_text()
    check_screen(page, "locked")
    link = staff.link(invoice)
    assert link["status"] == "locked" and link["identity_failures"] == 5 and link["locked_until"]
    locked = wait_until(lambda: staff.events("pay_link.locked"), "pay_link.locked on the bus")
    assert any(e["detail"]["link_id"] == link["id"] for e in locked)
    page.goto(url)  # even the right answer waits out the lock
    assert "Too many attempts" in page.locator("h1").inner_text()

    staff.set_link(url, locked_until="2000-01-01T00:00:00.000Z")  # 15 minutes later
    page.goto(url)
    for _ in range(5):
        identify(page, ("1", "1", "1990"))
    assert "canceled after too many attempts" in page.locator("main").inner_text()
    assert staff.link(invoice)["status"] == "revoked"
    page.goto(url)
    identify_screen = page.locator("form")
    assert identify_screen.count() == 0


def test_ended_and_closed_links_say_so(page, staff):
    _, invoice, url = staff.bill()
    staff.set_link(url, expires_at="2000-01-01T00:00:00.000Z")
    page.goto(url)
    assert "This payment link has expired." in page.locator("main").inner_text()
    check_screen(page, "expired")

    _, invoice, url = staff.bill()
    staff.call("POST", f"/invoices/{invoice}/cancel", ok=200)
    page.goto(url)
    assert "This bill was canceled" in page.locator("main").inner_text()

    _, invoice, url = staff.bill()
    staff.call("POST", f"/pay-links/{staff.link(invoice)['id']}/revoke", ok=200)
    page.goto(url)
    assert "This payment link was canceled." in page.locator("main").inner_text()

    response = page.goto(url.rsplit("/", 1)[0] + "/" + "x" * 32)
    assert response.status == 404 and "Link not found" in page.locator("h1").inner_text()
    check_screen(page, "not-found")


def test_the_page_speaks_spanish(page, staff):
    _, _, url = staff.bill()
    page.goto(url)
    page.get_by_role("link", name="Español").click()
    assert page.locator("html").get_attribute("lang") == "es"
    assert "Una factura de Demo Family Practice" in page.locator("h1").inner_text()
    identify(page, lang="es")
    assert "Monto adeudado" in page.locator("main").inner_text()
    check_screen(page, "bill-es")


def test_a_second_post_while_the_first_runs_shows_the_receipt_once_splash_answers(browser, staff):
    """A refresh during a slow payment: the second tab's post answers 'Confirming your payment', and the page shows
    the receipt by itself once the first post is done (receipt.js asks again; no meta refresh)."""
    _, invoice, url = staff.bill((9000,))
    context = browser.new_context(viewport={"width": 375, "height": 800})
    first, second = context.new_page(), context.new_page()
    first.goto(url)
    identify(first)
    card(first)
    slow = {"kind": "timeout_after_commit", "count": 1, "path": "/txns", "method": "POST", "delay_seconds": 4}
    requests.post(f"{staff.splash}/_sandbox/faults", json=slow, timeout=10)
    with first.expect_request(lambda r: r.method == "POST" and r.url.endswith("/payments")) as request:
        first.get_by_role("button", name="Pay", exact=True).click()
    posted = [request.value]
    second.goto(url)
    post_again(second, posted[0].url, parse_qsl(posted[0].post_data))
    second.get_by_role("heading", name="Confirming your payment").wait_for()
    check_screen(second, "receipt-confirming")
    second.get_by_role("heading", name="Payment received").wait_for(timeout=30_000)
    assert "$90.00" in second.locator("main").inner_text()
    first.wait_for_url(re.compile(r".*/receipts/"))
    assert [p["amount"] for p in staff.call("GET", f"/payments?invoice_id={invoice}")["data"]] == [9000]
    context.close()
