"""The staff dashboard in a real browser (Debian's chromium through Playwright) against `make run`'s stack (issue
#20's "Done when"), each staff member signed in through the development sign-in form as the role they need, in a
fresh browser context: front desk finds a patient by last name, takes a desk payment with the card on file and with
a new card through PayFields, sends a pay link, is shown no refund form and is refused a crafted refund; billing
refunds part of a payment, exports the aging CSV, sees a failed autopay with its next retry date in the attention
queue and a chargeback with its deadline; the idle logoff signs the screen and the server's session out; an
administrator reads the audit trail and the settings. axe-core checks every screen; screenshots of each at 1280 and
768 px go to .local/screenshots/dashboard/ (not committed), and the 1280-px Today screen to
docs/images/dashboard.png (the README's picture)."""

from __future__ import annotations

import csv
import io
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
import requests

from practicepay.staff.render import day
from tests.e2e.conftest import ROOT
from tests.e2e.screens import assert_accessible, photograph
from tests.e2e.test_pay_page_browser import Staff, browser, card, wait_until  # noqa: F401  (browser: a fixture)

pytestmark = pytest.mark.e2e

SHOTS = ROOT / ".local" / "screenshots" / "dashboard"
README_SHOT = ROOT / "docs" / "images" / "dashboard.png"
WIDTHS = (1280, 768)
PRACTICE = "prc_demo"
PAY_LINK = re.compile(r"http://127\.0\.0\.1:\d+/pay/[A-Za-z0-9_-]{32}")
VISA, SOFT_DECLINE = "4242424242424242", "4000000000009995"  # the sandbox's: its first sale is declined (NSF)
CARD_CONSENT = {
    "text_version": "2026-01",
    "accepted_at": "2026-12-01T10:00:00Z",
    "captured_by": "front-desk",
    "channel": "in_person",
}


# -- the world, made through the API with the stack's token ------------------------------------------------------


def patient(staff: Staff, first: str, last: str, card_number: str | None = VISA) -> tuple[str, str | None]:
    """A patient of prc_demo, with a card on file unless `card_number` is None: (patient id, method id)."""
    made = staff.call(
        "POST",
        "/patients",
        {
            "external_id": "ehr-" + uuid.uuid4().hex[:10],
            "first_name": first,
            "last_name": last,
            "date_of_birth": "1979-11-23",
        },
        ok=201,
    )["id"]
    if card_number is None:
        return made, None
    body = {"card": {"number": card_number, "exp_month": 12, "exp_year": 2030, "cvc": "123"}, "consent": CARD_CONSENT}
    return made, staff.call("POST", f"/patients/{made}/payment-methods", body, ok=201)["id"]


def invoice(staff: Staff, patient_id: str, amount: int) -> str:
    """An issued invoice of one line, due in 30 days."""
    body = {
        "patient_id": patient_id,
        "due_date": "2027-01-04",
        "line_items": [{"description": "Office visit, established patient", "unit_amount": amount}],
    }
    made = staff.call("POST", "/invoices", body, ok=201)["id"]
    staff.call("POST", f"/invoices/{made}/issue", ok=200)
    return made


def paid(staff: Staff, invoice_id: str, method_id: str) -> dict[str, Any]:
    payment = staff.call("POST", f"/invoices/{invoice_id}/payments", {"payment_method_id": method_id}, ok=201)
    assert payment["status"] == "succeeded", payment
    return payment


def payments(staff: Staff, invoice_id: str) -> list[dict[str, Any]]:
    return staff.call("GET", f"/payments?invoice_id={invoice_id}")["data"]


@pytest.fixture(scope="module")
def staff(stack) -> Staff:
    return Staff(stack)


# -- signing in, screens ------------------------------------------------------------------------------------------


@pytest.fixture
def signed_in(browser, stack) -> Iterator[Callable[..., Any]]:  # noqa: F811  (browser: the imported fixture)
    """A function that opens a fresh browser context and signs in through the development form as `role`."""
    contexts = []

    def sign_in(role: str, name: str, *, before: Callable[[Any], None] | None = None, screen: str | None = None):
        context = browser.new_context(viewport={"width": WIDTHS[0], "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        if before:
            before(page)
        page.goto(stack.base + "/dashboard/signin")
        if screen:
            check_screen(page, screen)
        assert page.locator("#practice_id").input_value() == PRACTICE
        page.locator("#role").select_option(role)
        page.locator("#name").fill(name)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(r".*/dashboard$"))
        return page

    yield sign_in
    for context in contexts:
        context.close()


def check_screen(page, name: str) -> None:
    assert_accessible(page, name)
    photograph(page, name, SHOTS, WIDTHS, 900)


def main_text(page) -> str:
    return page.locator("main").inner_text()


def attention(page):
    """The Today page's attention queue: the items of the section headed "Needs attention"."""
    heading = page.get_by_role("heading", name="Needs attention")
    return page.locator("section", has=heading).locator("li")


def payment_rows(page):
    """The rows of an invoice's payments table."""
    return page.locator("table", has=page.locator("caption", has_text=re.compile("^Payments$"))).locator("tbody tr")


def session_cookie(page) -> str | None:
    return next((c["value"] for c in page.context.cookies() if c["name"] == "pp_staff"), None)


def opens(base: str, path: str, cookie: str) -> requests.Response:
    """`path` with that session cookie carried by hand (it is Secure: requests will not send it over http)."""
    return requests.get(base + path, headers={"Cookie": f"pp_staff={cookie}"}, allow_redirects=False, timeout=30)


def csrf(page) -> str:
    return page.locator("input[name=csrf]").first.input_value()


def crafted_refund(page, base: str, payment_id: str):
    """A refund of $5.00 posted by hand with the page's session cookie, CSRF token and origin (no form on screen)."""
    return page.request.post(
        f"{base}/dashboard/payments/{payment_id}/refunds",
        form={"csrf": csrf(page), "amount": "5.00", "reason": "patient_request", "submit_id": uuid.uuid4().hex},
        headers={"Origin": base},
        max_redirects=0,
    )


# -- the tests ----------------------------------------------------------------------------------------------------


def test_front_desk_finds_a_patient_takes_desk_payments_sends_a_link_and_may_not_refund(signed_in, staff, stack):
    last = "Brathwaite"  # this module's own stack: the only patient of that name
    patient_id, _ = patient(staff, "Odalys", last)
    invoice_id = invoice(staff, patient_id, 18000)
    page = signed_in("front_desk", "Dana Desk", screen="signin")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Patients").click()
    page.get_by_label("Name", exact=True).fill(last)
    with page.expect_response(re.compile(r".*/dashboard/patients\?q=")) as searched:
        page.get_by_role("button", name="Search").click()
    assert searched.value.status == 200, main_text(page)
    found = page.get_by_role("link", name=f"{last}, Odalys")
    assert found.count() == 1 and "1 patient found" in main_text(page), main_text(page)
    check_screen(page, "patients")
    found.click()
    assert page.get_by_role("heading", level=1).inner_text() == f"{last}, Odalys"
    assert "$180.00" in main_text(page)
    check_screen(page, "patient")
    page.get_by_role("link", name=invoice_id).click()
    page.wait_for_url(re.compile(rf".*/dashboard/invoices/{invoice_id}$"))
    check_screen(page, "invoice")

    # $50.00 with the card on file
    page.get_by_label("Amount (dollars; blank: the whole balance)").first.fill("50.00")
    page.get_by_role("button", name="Charge", exact=True).click()
    page.wait_for_url(re.compile(r".*done=paid$"))
    assert page.get_by_role("status").first.inner_text() == "The payment went through."
    rows = payment_rows(page)
    assert rows.count() == 1 and re.search(r"Desk\s+\$50\.00\s+Succeeded", rows.first.inner_text())
    assert [(p["amount"], p["status"], p["channel"]) for p in payments(staff, invoice_id)] == [
        (5000, "succeeded", "desk")
    ]

    # $25.00 with the card the patient hands over, typed into PayFields' frames
    page.get_by_role("link", name="Enter a new card").click()
    page.frame_locator("#pf-number iframe").locator("input").wait_for()
    check_screen(page, "invoice-payfields")
    card(page, VISA)
    page.locator("#amount-new").fill("25.00")
    page.get_by_role("button", name="Charge the card").click()
    page.wait_for_url(re.compile(r".*done=paid$"))
    taken = sorted((p["amount"], p["status"], p["channel"]) for p in payments(staff, invoice_id))
    assert taken == [(2500, "succeeded", "desk"), (5000, "succeeded", "desk")]
    assert "$105.00" in page.locator(".facts").inner_text()  # owed: $180.00 - $75.00

    # front desk is shown no refund, and the API refuses one posted with the page's own session and token
    assert page.locator("form.refund").count() == 0 and page.get_by_role("button", name="Refund").count() == 0
    payment_id = payments(staff, invoice_id)[0]["id"]
    refused = crafted_refund(page, stack.base, payment_id)
    assert refused.status == 403 and "Not allowed for your role" in refused.text()
    assert all(p["amount_refunded"] == 0 for p in payments(staff, invoice_id))
    billing = signed_in("billing", "Bo Billing")  # the same post from billing's screen goes through: the role refused
    billing.goto(f"{stack.base}/dashboard/invoices/{invoice_id}")
    allowed = crafted_refund(billing, stack.base, payment_id)
    assert allowed.status == 303 and "done=refunded" in allowed.headers["location"], allowed.text()[:300]
    assert staff.call("GET", f"/payments/{payment_id}")["amount_refunded"] == 500

    page.get_by_role("button", name="Send a pay link").click()
    page.get_by_role("heading", name="Pay link ready").wait_for()
    url = page.get_by_label("Pay link", exact=True).input_value()
    assert PAY_LINK.fullmatch(url), url
    assert [link["status"] for link in staff.call("GET", f"/invoices/{invoice_id}/pay-links")["data"]] == ["active"]
    check_screen(page, "link")
    assert requests.get(url, timeout=20).status_code == 200  # the patient's link opens the pay page


def test_billing_refunds_part_of_a_payment_and_exports_the_aging_csv(signed_in, staff):
    last = "Kowalczyk"
    patient_id, method_id = patient(staff, "Teodora", last)
    owed = invoice(staff, patient_id, 15000)
    settled = invoice(staff, patient_id, 12000)
    payment = paid(staff, settled, method_id)
    page = signed_in("billing", "Bo Billing")

    page.goto(f"{page.url}/invoices/{settled}")
    page.get_by_label("Amount", exact=True).fill("30.00")
    page.get_by_label("Reason", exact=True).select_option("billing_error")
    page.get_by_role("button", name="Refund").click()
    page.wait_for_url(re.compile(r".*done=refunded$"))
    assert page.get_by_role("status").first.inner_text() == "The refund was sent."
    row = payment_rows(page).filter(has_text=payment["id"])
    assert "$30.00" in row.inner_text()  # its Refunded cell
    assert re.search(r"Refunded\s+\$30\.00", page.locator(".facts").inner_text())
    assert staff.call("GET", f"/payments/{payment['id']}")["amount_refunded"] == 3000

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").click()
    assert page.locator("figure.chart svg[role=img]").is_visible()
    aging_row = page.locator("tbody tr", has=page.get_by_role("link", name=f"{last}, Teodora"))
    assert "$150.00" in aging_row.inner_text()
    check_screen(page, "reports")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export aging CSV").click()
    text = download.value.path().read_text()
    rows = [r for r in csv.reader(io.StringIO(text)) if f"{last}, Teodora" in r]
    assert len(rows) == 1 and "150.00" in rows[0], text[:2000]
    assert "15000" not in text  # dollars, not cents
    assert owed not in text and patient_id not in rows[0]  # names, not ids


def test_billing_sees_a_failed_autopay_with_its_next_retry_date(signed_in, staff, stack):
    last = "Achterberg"
    patient_id, method_id = patient(staff, "Marisol", last, SOFT_DECLINE)
    invoice_id = invoice(staff, patient_id, 15000)
    today = datetime.now(UTC).date()
    plan = {
        "installment_count": 2,
        "frequency": "monthly",
        "first_date": today.isoformat(),
        "payment_method_id": method_id,
        "consent": {"text_version": "plan-2026-01", "accepted_at": "2026-12-01T10:00:00Z", "max_amount": 7500},
    }
    staff.call("POST", f"/invoices/{invoice_id}/payment-plan", plan, ok=201)
    ran = requests.post(f"{stack.base}/_local/billing-run", json={"run_date": today.isoformat()}, timeout=60)
    assert ran.status_code == 200, ran.text

    def failed() -> dict[str, Any] | None:
        first = staff.call("GET", f"/invoices/{invoice_id}/payment-plan")["installments"][0]
        return first if first["status"] == "failed" and first.get("next_attempt_on") else None

    installment = wait_until(failed, "the first installment declined, a retry scheduled")
    retry = day(installment["next_attempt_on"])
    assert date.fromisoformat(installment["next_attempt_on"][:10]) > today

    page = signed_in("billing", "Bo Billing")
    item = attention(page).filter(has_text="Next retry").filter(has_text=retry)
    item.first.wait_for()
    check_screen(page, "today")
    shutil.copyfile(SHOTS / "today-1280.png", README_SHOT)
    href = item.first.get_by_role("link").first.get_attribute("href") or ""
    assert invoice_id in href or patient_id in href, href
    item.first.get_by_role("link").first.click()
    assert "Next retry" in main_text(page) and retry in main_text(page)  # where it is fixed: the installments


def test_billing_opens_a_dispute_and_sees_its_deadline(signed_in, staff):
    last = "Oyelaran"
    patient_id, method_id = patient(staff, "Ximena", last)
    invoice_id = invoice(staff, patient_id, 18000)
    payment = paid(staff, invoice_id, method_id)
    requests.post(f"{staff.splash}/_sandbox/clock", json={"advance_days": 1}, timeout=10)  # the batch captures it
    opened = requests.post(f"{staff.splash}/_sandbox/chargebacks", json={"txn": payment["splash_txn_id"]}, timeout=10)
    assert opened.status_code == 201, opened.text

    ref = wait_until(lambda: staff.call("GET", f"/payments/{payment['id']}").get("dispute"), "the dispute to arrive")
    dispute = wait_until(
        lambda: (d := staff.call("GET", f"/disputes/{ref['id']}")).get("reply_by") and d, "the dispute's deadline"
    )
    assert dispute["status"] == "needs_response"

    page = signed_in("billing", "Bo Billing")
    page.goto(f"{page.url}/invoices/{invoice_id}")
    page.get_by_role("link", name=dispute["id"]).click()
    page.wait_for_url(re.compile(rf".*/dashboard/disputes/{dispute['id']}$"))
    deadline = page.locator(".deadline").inner_text()
    assert deadline.startswith(f"Respond by {day(dispute['reply_by'])}"), deadline
    check_screen(page, "dispute")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Today").click()
    item = attention(page).filter(has_text="Respond by").filter(has_text=day(dispute["reply_by"]))
    item.first.wait_for()
    assert any(dispute["id"] in (a.get_attribute("href") or "") for a in item.get_by_role("link").all())


def test_fifteen_idle_minutes_sign_the_screen_and_the_session_out(signed_in, stack):
    page = signed_in("front_desk", "Dana Desk", before=lambda p: p.clock.install())
    page.goto(stack.base + "/dashboard/patients")
    # what is left of 15 minutes since the activity the server last recorded (at most 30 s before this page)
    assert 870 <= int(page.locator("#signout").get_attribute("data-idle-seconds") or 0) <= 900
    cookie = session_cookie(page)
    assert cookie and opens(stack.base, "/dashboard/patients", cookie).status_code == 200

    page.clock.fast_forward("14:01")  # a minute before: warned
    assert page.get_by_role("alert").inner_text().startswith("You will be signed out in one minute")
    page.clock.fast_forward("01:00")  # 15 minutes: dashboard.js posts the sign-out with reason=idle
    page.wait_for_url(re.compile(r".*/dashboard/signin\?reason=idle$"))
    assert "You were signed out after 15 minutes without activity." in main_text(page)
    assert session_cookie(page) is None
    check_screen(page, "signin-idle")

    gone = opens(stack.base, "/dashboard", cookie)  # the server ended it too: the old cookie opens nothing
    assert gone.status_code == 303 and "/dashboard/signin" in gone.headers["Location"], gone.text[:300]
    assert opens(stack.base, "/dashboard/patients", cookie).status_code == 303


def test_an_administrator_reads_the_audit_trail_and_the_settings(signed_in):
    page = signed_in("admin", "Ada Admin")
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Audit trail").click()
    mine = page.locator("tbody tr", has_text="Ada Admin").filter(has_text="staff:signed_in")
    assert mine.count() >= 1 and "Admin" in mine.first.inner_text()
    # What the other tests did is on the trail, each with who did it and their role: the desk payments, the pay link,
    # the refund, the front desk's refused refund, the export, the searches and the pages read.
    rows = page.locator("tbody tr")
    for action, outcome in (
        ("payment:taken", "Done"),
        ("pay_link:sent", "Done"),
        ("refund:sent", "Done"),
        ("refunds.create", "Denied"),
        ("report:aging:exported", "Viewed"),
        ("patients:searched", "Viewed"),
        ("invoice:viewed", "Viewed"),
    ):
        assert rows.filter(has_text=action).filter(has_text=outcome).count() >= 1, action
    refused = rows.filter(has_text="refunds.create").first.inner_text()
    assert "Front desk" in refused
    check_screen(page, "audit")
    nav.get_by_role("link", name="Settings").click()
    assert page.get_by_label("Pay links last (days)").input_value().isdigit()
    check_screen(page, "settings")
