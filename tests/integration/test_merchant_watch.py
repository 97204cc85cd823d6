"""A boarded practice's merchant is watched after boarding: a closure or a hold stops its charges (even with no
alert: the poll re-reads boarded merchants in turn), a backwards status read (splash-api.md §10) does not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from practicepay.practices import Practice, PracticeStore
from practicepay.splash.models import Resource
from tests.integration.test_money_core import add_card, new_patient, open_invoice, pay

pytestmark = pytest.mark.integration


@pytest.fixture
def practices(aws_env) -> PracticeStore:
    return PracticeStore(aws_env["PRACTICES_TABLE"], cache_seconds=0)


def _ready_to_pay(api, boarded, practice: str) -> tuple[str, str]:
    boarded(practice)
    patient = new_patient(api, practice, f"ehr-{practice}")
    card = add_card(api, practice, patient)
    return card["id"], open_invoice(api, practice, patient, unit_amount=4000)["id"]


def _merchant_record(sync_stack, practices: PracticeStore, practice: str) -> dict:
    """The sandbox's own merchant record: changed in place, it changes with no event and no alert."""
    merchant_id = practices.get(practice).splash_merchant_id
    return sync_stack.sandbox._store.get("merchants", merchant_id)


def _poll_until(sync_stack, practices: PracticeStore, practice: str, done) -> Iterator[Practice]:
    """Poll until `done(practice)`: the watch re-reads 100 boarded merchants per poll, in turn."""
    for _ in range(20):
        sync_stack.poll()
        found = practices.get(practice)
        if done(found):
            return found
    raise AssertionError(f"the poll never saw the change on {practice}")


def test_a_boarded_practice_read_once_at_status_0_still_charges(api, boarded, sync_stack, practices):
    from practicepay.sync.wiring import status_sync

    practice = "prc_watch_backwards"
    card, invoice = _ready_to_pay(api, boarded, practice)
    merchant = _merchant_record(sync_stack, practices, practice)
    merchant["status"] = 0  # the recorded backwards read of a boarded, processing merchant
    try:
        assert status_sync().handle_alert(Resource.MERCHANTS, merchant["id"]) == "backwards"
        for _ in range(3):
            sync_stack.poll()
        assert practices.get(practice).merchant_status == 2
        assert pay(api, practice, invoice, card)["status"] in ("processing", "succeeded")
    finally:
        merchant["status"] = 2


def test_the_sandbox_reads_a_boarded_merchant_at_status_0_on_demand_and_the_poll_keeps_it_boarded(
    api, boarded, sync_stack, practices
):
    """The recorded backwards read, produced by the sandbox's `merchant_status_0` fault on every merchant read
    of the next polls: the practice stays boarded and still charges."""
    practice = "prc_watch_fault_0"
    card, invoice = _ready_to_pay(api, boarded, practice)
    since = len(sync_stack.sandbox.requests)
    sync_stack.fault({"kind": "merchant_status_0", "count": 5, "path": "/merchants", "method": "GET"})
    try:
        for _ in range(3):
            sync_stack.poll()
    finally:
        sync_stack.clear_faults()
    assert any(r["path"].startswith("/merchants") for r in sync_stack.sandbox.requests[since:])  # read at 0
    assert practices.get(practice).merchant_status == 2
    assert pay(api, practice, invoice, card)["status"] in ("processing", "succeeded")


def test_a_closure_no_alert_told_of_is_found_by_the_poll_and_stops_charges(api, boarded, sync_stack, practices):
    practice = "prc_watch_closed"
    card, invoice = _ready_to_pay(api, boarded, practice)
    merchant = _merchant_record(sync_stack, practices, practice)
    merchant["status"] = 4  # closed
    _poll_until(sync_stack, practices, practice, lambda p: p.merchant_status == 4)
    refused = api.call("POST", f"/invoices/{invoice}/payments", practice=practice, body={"payment_method_id": card})
    assert refused.status_code == 409 and "closed" in refused.get_json()["detail"]


def test_a_held_merchant_takes_no_charges_until_released(api, boarded, sync_stack, practices):
    practice = "prc_watch_held"
    card, invoice = _ready_to_pay(api, boarded, practice)
    merchant = _merchant_record(sync_stack, practices, practice)
    merchant["frozen"] = 1
    try:
        held = _poll_until(sync_stack, practices, practice, lambda p: p.merchant_held)
        assert held.merchant_status == 2
        refused = api.call("POST", f"/invoices/{invoice}/payments", practice=practice, body={"payment_method_id": card})
        assert refused.status_code == 409 and "holding" in refused.get_json()["detail"]
    finally:
        merchant["frozen"] = 0
    _poll_until(sync_stack, practices, practice, lambda p: not p.merchant_held)
    assert pay(api, practice, invoice, card)["status"] in ("processing", "succeeded")
