"""The local outbox in a real browser (Debian's chromium through Playwright) against `make run`'s stack: an issued
invoice's statement shows there as the patient would see it (its HTML in a sandboxed frame, with its pay button),
axe-core finds nothing serious; then the patient follows the email's pay link, answers the identity check with their
date of birth, pays by card, sees the receipt, and the receipt email arrives. Screenshots of the outbox and of the
email alone go to .local/screenshots/messages/ (not committed), as the pay page's go to .local/screenshots/pay-page/."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import ROOT
from tests.e2e.screens import assert_accessible
from tests.e2e.test_messages_e2e import PAY_LINK, PRACTICE, box_when, issue, new_patient, statement_sent
from tests.e2e.test_pay_page_browser import Staff, browser, card, identify, page  # noqa: F401 (fixtures)

pytestmark = pytest.mark.e2e

SHOTS = ROOT / ".local" / "screenshots" / "messages"


@pytest.fixture(scope="module")
def staff(stack) -> Staff:
    staff = Staff(stack)
    staff.call("PATCH", "/practices/prc_demo/settings", {"contact_phone": "3125550100"}, ok=200)
    return staff


def shot(tab, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_the_statement_in_the_outbox_and_its_pay_link_pays_the_bill(page, staff):  # noqa: F811 (fixtures)
    patient = new_patient(staff)
    invoice = issue(staff, patient, 12000)
    email = statement_sent(staff, patient).emails[0]
    subject = f"Your statement from {PRACTICE}"
    assert email["subject"] == subject

    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(staff.base + "/_local/outbox")
    assert page.title() == "Local outbox - PracticePay"
    article = page.get_by_role("article", name=f"Email: {subject}")
    assert subject in article.inner_text() and patient.email in article.inner_text()
    frame = page.frame_locator(f'iframe[title="The email {subject} as HTML"]')
    assert frame.locator("h1").inner_text() == subject
    button = frame.get_by_role("link", name="View and pay your bill")
    href = button.get_attribute("href") or ""
    assert PAY_LINK.fullmatch(href) and href in email["text"]
    assert "$120.00" in frame.locator("body").inner_text()
    text = page.get_by_role("article", name=f"Text to {patient.phone}")
    assert "STOP to end" in text.inner_text()
    assert_accessible(page, "outbox")
    shot(page, "outbox")

    page.set_viewport_size({"width": 375, "height": 800})
    page.set_content(email["html"])  # the email alone, at a phone's width
    assert page.get_by_role("heading", name=subject).is_visible()
    assert_accessible(page, "email-statement")
    shot(page, "email-statement")

    # the patient follows the email's button: the identity check, the bill, a card, the receipt
    page.goto(href)
    identify(page)  # 1984-03-09, the patient's date of birth
    assert page.locator("#amount-due").inner_text() == "$120.00"
    card(page)
    page.get_by_role("button", name="Pay", exact=True).click()
    page.wait_for_url(re.compile(r".*/receipts/rc_[0-9a-f]{26}\?lang=en$"))
    assert "Payment received" in page.locator("main").inner_text()
    assert staff.call("GET", f"/invoices/{invoice}")["amount_due"] == 0

    receipts = box_when(
        staff, patient, lambda b: f"Receipt for your payment to {PRACTICE}" in b.subjects(), "the receipt email"
    )
    receipt = next(e for e in receipts.emails if e["subject"].startswith("Receipt"))
    assert "$120.00" in receipt["text"] and "Visa" not in receipt["subject"]
