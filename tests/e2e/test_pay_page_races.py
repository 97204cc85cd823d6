"""Races on the pay page against `make run`'s concurrent stack (each function in worker processes, as Lambda runs
them): the same form posted four times at once (a refresh while it ran, a double click that got through) charges
once and every answer is that payment's receipt; two tabs paying the whole bill at once charge it once; wrong
identity answers at once are judged at most five times, lock the link once and tell the bus once."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import requests

from tests.integration.test_paypage import Patient, Staff, card_form

pytestmark = pytest.mark.e2e


def at_once(count: int, fn) -> list[Any]:
    """Run `fn(i)` in `count` threads released together; their results in order."""
    gate = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        gate.wait()
        results[i] = fn(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


@pytest.fixture(scope="module")
def staff(stack) -> Staff:
    staff = Staff(stack.base, "prc_demo")
    staff.headers = {"Authorization": f"Bearer {stack.token}"}  # the stack's own signing secret
    return staff


def test_the_same_form_posted_four_times_at_once_charges_once(staff, stack):
    bill = staff.bill()
    patient = Patient(staff.base)
    patient.identify(bill)
    form = card_form(patient.get(bill["path"]).text, amount_choice="other", amount="40.00")
    # Splash takes 2 s to answer the charge: the other posts arrive while the first is still running
    slow = {"kind": "timeout_after_commit", "count": 1, "path": "/txns", "method": "POST", "delay_seconds": 2}
    requests.post(f"http://127.0.0.1:{stack.env['PRACTICEPAY_SPLASH_PORT']}/_sandbox/faults", json=slow, timeout=10)

    def post(i: int) -> requests.Response:
        time.sleep(0.4 * i)  # the first post first, then the others while it waits on Splash
        return patient.post(bill["path"] + "/payments", form)

    answers = at_once(4, post)
    assert [a.status_code for a in answers] == [303] * 4, [a.text[:300] for a in answers]
    assert len({a.headers["Location"] for a in answers}) == 1
    deadline = time.monotonic() + 20
    while True:  # a post that found the first one still running answered its receipt, which settles as it ends
        receipt = patient.get(answers[0].headers["Location"].split("?")[0])
        if "Payment received" in receipt.text or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert "Payment received" in receipt.text and "$40.00" in receipt.text
    payments = staff.payments(bill["invoice"]["id"])
    assert [(p["amount"], p["status"]) for p in payments] == [(4000, "succeeded")]


def test_two_tabs_paying_the_whole_bill_at_once_charge_it_once(staff):
    bill = staff.bill((9000,))
    tabs = [Patient(staff.base) for _ in range(2)]
    forms = []
    for tab in tabs:
        tab.identify(bill)
        forms.append(card_form(tab.get(bill["path"]).text))
    answers = at_once(2, lambda i: tabs[i].post(bill["path"] + "/payments", forms[i]))
    assert sorted(a.status_code for a in answers) in ([303, 422], [200, 303], [303, 303]), [
        a.status_code for a in answers
    ]
    succeeded = [p for p in staff.payments(bill["invoice"]["id"]) if p["status"] == "succeeded"]
    assert [p["amount"] for p in succeeded] == [9000]
    invoice = staff.call("GET", f"/invoices/{bill['invoice']['id']}")
    assert invoice["status"] == "paid" and invoice["amount_paid"] == 9000


def test_wrong_answers_at_once_lock_the_link_once(staff, stack):
    bill = staff.bill()
    guessers = [Patient(staff.base) for _ in range(8)]
    pages = [g.get(bill["path"]).text for g in guessers]
    forms = []
    for page in pages:
        csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        forms.append({"csrf": csrf, "lang": "en", "dob_month": "1", "dob_day": "1", "dob_year": "1990"})
    answers = at_once(8, lambda i: guessers[i].post(bill["path"] + "/identity", forms[i]))
    assert sorted({a.status_code for a in answers}) <= [422, 423], [a.status_code for a in answers]
    link = staff.link(bill["invoice"]["id"], bill["link"]["id"])
    # each answer is counted before it is judged: the 6th to 8th, sent with the first five, are never judged
    assert link["identity_failures"] == 5 and link["status"] == "locked"
    assert sorted(a.status_code for a in answers) == [422] * 4 + [423] * 4
    time.sleep(3)  # the outbox's stream to the bus
    events = requests.get(stack.base + "/_local/events", timeout=10).json()
    locked = [e for e in events if e["detail-type"] == "pay_link.locked" and e["detail"]["link_id"] == link["id"]]
    assert len(locked) == 1 and locked[0]["detail"]["identity_failures"] == 5
