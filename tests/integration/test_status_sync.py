"""Statuses stay true to Splash after the charge: web alerts (fetched, never trusted), the status poll and the
reconciler, over HTTP against the local stack (alerts are POSTed by the sandbox to the served front)."""

from __future__ import annotations

import json

import boto3
import pytest
from boto3.dynamodb.conditions import Key

from practicepay.splash.models import Txn
from practicepay.splash.wiring import splash_client
from tests.integration.test_money_core import add_bank, add_card, ledger_matches, new_patient, ok, open_invoice, pay

pytestmark = pytest.mark.integration

R01, R02 = "9990000001", "9990000002"


def payment(api, practice: str, payment_id: str) -> dict:
    return ok(api.call("GET", f"/payments/{payment_id}", practice=practice))


def invoice(api, practice: str, invoice_id: str) -> dict:
    return ok(api.call("GET", f"/invoices/{invoice_id}", practice=practice))


def events(aws_env, practice: str) -> list[dict]:
    table = boto3.resource("dynamodb").Table(aws_env["EVENTS_TABLE"])
    items = table.query(KeyConditionExpression=Key("pk").eq(f"PRACTICE#{practice}"))["Items"]
    return [{"type": i["detail_type"], **json.loads(json.dumps(i["detail"], default=int))} for i in items]


def echeck_payment(api, boarded, practice: str, account: str = "123456789", amount: int = 20000):
    boarded(practice)
    patient = new_patient(api, practice, f"ehr-{practice}")
    bank = add_bank(api, practice, patient, account=account)
    inv = open_invoice(api, practice, patient, unit_amount=amount)
    paid = pay(api, practice, inv["id"], bank["id"])
    assert paid["status"] == "processing"
    return inv, paid, bank


def test_an_echeck_settles_through_its_alert(api, aws_env, boarded, sync_stack):
    inv, paid, _ = echeck_payment(api, boarded, "prc_sync_settle")
    sync_stack.deliver()
    assert payment(api, "prc_sync_settle", paid["id"])["status"] == "processing"  # approval alert: no change
    assert invoice(api, "prc_sync_settle", inv["id"])["status"] == "processing"
    sync_stack.advance(days=1)  # the batch settles; Splash alerts txn.settled
    assert payment(api, "prc_sync_settle", paid["id"])["status"] == "succeeded"
    after = invoice(api, "prc_sync_settle", inv["id"])
    assert (after["status"], after["amount_paid"], after["amount_due"]) == ("paid", 20000, 0)
    ledger_matches(aws_env, "prc_sync_settle", after)
    kinds = [e["type"] for e in events(aws_env, "prc_sync_settle")]
    assert kinds.count("payment.succeeded") == 1 and kinds.count("invoice.paid") == 1


def test_an_r02_return_reverses_the_payment_and_blocks_the_account(api, aws_env, boarded, sync_stack):
    practice = "prc_sync_r02"
    inv, paid, bank = echeck_payment(api, boarded, practice, account=R02)
    sync_stack.advance(days=1)  # settled
    assert payment(api, practice, paid["id"])["status"] == "succeeded"
    sync_stack.advance(days=2)  # the bank returns it: R02 account closed
    returned = payment(api, practice, paid["id"])
    assert returned["status"] == "returned"
    assert returned["return_info"] == {
        "code": "R02",
        "category": "bad_account",
        "message": returned["return_info"]["message"],
        "method_blocked": True,
    }
    after = invoice(api, practice, inv["id"])
    assert (after["status"], after["amount_paid"], after["amount_due"]) == ("open", 0, 20000)
    ledger_matches(aws_env, practice, after)
    methods = ok(api.call("GET", f"/patients/{returned['patient_id']}/payment-methods", practice=practice))["data"]
    blocked = next(m for m in methods if m["id"] == bank["id"])
    assert blocked["status"] == "blocked" and blocked["blocked_reason"].startswith("R02")
    again = api.call(
        "POST", f"/invoices/{inv['id']}/payments", practice=practice, body={"payment_method_id": bank["id"]}
    )
    assert again.status_code == 409 and "R02" in again.get_json()["detail"]
    kinds = [e["type"] for e in events(aws_env, practice)]
    assert "payment.returned" in kinds
    returned_event = next(e for e in events(aws_env, practice) if e["type"] == "payment.returned")
    assert returned_event["return_code"] == "R02" and returned_event["amount"] == 20000


def test_an_r01_return_leaves_the_account_usable(api, aws_env, boarded, sync_stack):
    practice = "prc_sync_r01"
    inv, paid, bank = echeck_payment(api, boarded, practice, account=R01)
    sync_stack.advance(days=3)
    returned = payment(api, practice, paid["id"])
    assert returned["status"] == "returned"
    assert (returned["return_info"]["code"], returned["return_info"]["category"]) == ("R01", "nsf")
    assert returned["return_info"]["method_blocked"] is False
    methods = ok(api.call("GET", f"/patients/{returned['patient_id']}/payment-methods", practice=practice))["data"]
    assert next(m for m in methods if m["id"] == bank["id"])["status"] == "active"


def test_an_echeck_refunded_in_part_then_returned_by_the_bank_is_booked_as_returned(api, aws_env, boarded, sync_stack):
    """A bank may return a debit after the practice refunded part of it: the return is booked (the books equal
    Splash), the refund stays booked."""
    practice = "prc_sync_rfd_r02"
    inv, paid, _ = echeck_payment(api, boarded, practice, account=R02)
    sync_stack.advance(days=1)  # settled
    refund = api.call("POST", f"/payments/{paid['id']}/refunds", practice=practice, body={"amount": 5000})
    assert refund.status_code == 201, refund.get_data(as_text=True)
    assert payment(api, practice, paid["id"])["status"] == "partially_refunded"
    sync_stack.advance(days=2)  # the bank returns the debit: R02
    returned = payment(api, practice, paid["id"])
    assert (returned["status"], returned["amount_refunded"]) == ("returned", 5000)
    after = invoice(api, practice, inv["id"])
    assert (after["amount_paid"], after["amount_refunded"]) == (0, 5000)
    ledger_matches(aws_env, practice, after)


def test_a_refund_that_succeeds_after_the_bank_returned_the_debit_keeps_it_returned(api, aws_env, boarded, sync_stack):
    """The refund was held before the return was booked; its outcome books its money but does not undo the
    return's status (an unpinned change re-applied to a newer payment must not move it back)."""
    from dataclasses import replace

    from practicepay.payments.models import CreateRefundRequest
    from practicepay.payments.wiring import payment_service

    practice = "prc_sync_late_rfd"
    inv, paid, _ = echeck_payment(api, boarded, practice, account=R02)
    sync_stack.advance(days=1)  # settled
    service = payment_service()
    record = service.store.get(practice, paid["id"])
    refund, _ = service._new_refund(record, "rfd_lateafterreturn00000000001", CreateRefundRequest(amount=3000))
    service.book.hold_refund(refund, record, resumed=False)
    sync_stack.advance(days=2)  # the bank returns the debit while the refund is in flight
    assert payment(api, practice, paid["id"])["status"] == "returned"
    done = replace(refund, status="succeeded", splash_txn_id="t1_txn_" + "r" * 23)
    assert service.book.refund_outcome(refund, done)
    after = payment(api, practice, paid["id"])
    assert (after["status"], after["amount_refunded"]) == ("returned", 3000)


def test_batch_reads_of_one_key_twice_answer_both(aws_env, api, boarded):
    """A poll page can hold two txns of one order: the payments are read in one BatchGetItem, which DynamoDB
    refuses when it names a key twice (the poll then failed every tick)."""
    from practicepay.payments.store import PaymentStore

    practice = "prc_sync_dupkey"
    _, paid, _ = echeck_payment(api, boarded, practice)
    found = PaymentStore(aws_env["PAYMENTS_TABLE"]).get_many([(practice, paid["id"]), (practice, paid["id"])])
    assert [p.id if p else None for p in found] == [paid["id"], paid["id"]]


def test_the_same_alert_five_times_changes_things_once(api, aws_env, boarded, sync_stack):
    practice = "prc_sync_dup"
    sync_stack.fault({"kind": "alerts", "mode": "duplicate", "count": 4})
    inv, paid, _ = echeck_payment(api, boarded, practice)
    sync_stack.advance(days=1)
    assert payment(api, practice, paid["id"])["status"] == "succeeded"
    after = invoice(api, practice, inv["id"])
    assert after["amount_paid"] == 20000
    ledger_matches(aws_env, practice, after)
    assert [e["type"] for e in events(aws_env, practice)].count("payment.succeeded") == 1


def test_a_forged_alert_is_401_and_stores_nothing(api, aws_env, sync_stack):
    table = boto3.resource("dynamodb").Table(aws_env["SYNC_TABLE"])
    before = table.scan(Select="COUNT")["Count"]  # a test may scan; the code never does
    body = {
        "response": {
            "data": [{"id": "t1_txn_forged00000000000000000"}],
            "alert": {"event": "txn.settled", "resource": 18},
        }
    }
    no_header = api.call("POST", "/webhooks/splash", practice=None, body=body)
    wrong = api.call("POST", "/webhooks/splash", practice=None, body=body, headers={"X-PracticePay-Webhook": "x" * 43})
    for resp in (no_header, wrong):
        assert resp.status_code == 401
        assert resp.headers["Content-Type"] == "application/problem+json"
    assert table.scan(Select="COUNT")["Count"] == before


def _header() -> dict[str, str]:
    from practicepay.splash.wiring import splash_credentials

    creds = splash_credentials()
    return {creds.webhook_header_name: creds.webhook_header_value.get_secret_value()}


@pytest.mark.parametrize("raw", ["{not json", "x" * (70 * 1024)])
def test_malformed_or_oversized_alerts_are_400(api, raw):
    """Not JSON, or over 64 KB. JSON of any shape is kept and answered 200 (tests/unit/test_alert_intake.py)."""
    resp = api.call("POST", "/webhooks/splash", practice=None, raw=raw, headers=_header())
    assert resp.status_code == 400, resp.get_data(as_text=True)


def test_an_alert_with_the_right_header_but_a_false_status_changes_nothing(api, aws_env, boarded, sync_stack):
    practice = "prc_sync_false"
    inv, paid, _ = echeck_payment(api, boarded, practice)
    sync_stack.deliver()
    lie = {
        "response": {
            "data": [{"id": paid["splash_txn_id"], "status": 5, "returned": 20261201}],
            "alert": {"event": "txn.returned", "resource": 18},
        }
    }
    resp = api.call("POST", "/webhooks/splash", practice=None, body=lie, headers=_header())
    assert resp.status_code == 200
    sync_stack.deliver()
    assert payment(api, practice, paid["id"])["status"] == "processing"  # Splash says approved: nothing moved
    assert invoice(api, practice, inv["id"])["amount_paid"] == 20000


def test_dropped_alerts_are_caught_up_by_the_poll(api, aws_env, boarded, sync_stack):
    practice = "prc_sync_drop"
    inv, paid, _ = echeck_payment(api, boarded, practice, account=R01)
    sync_stack.deliver()
    sync_stack.fault({"kind": "alerts", "mode": "drop", "count": 50})
    sync_stack.advance(days=3)  # settles, then R01 return: every alert dropped
    sync_stack.clear_faults()
    assert payment(api, practice, paid["id"])["status"] == "processing"
    report = sync_stack.poll()
    assert report["changed"] >= 1
    assert payment(api, practice, paid["id"])["status"] == "returned"
    ledger_matches(aws_env, practice, invoice(api, practice, inv["id"]))


def test_alerts_in_reverse_order_end_in_the_truth(api, aws_env, boarded, sync_stack):
    practice = "prc_sync_reorder"
    sync_stack.fault({"kind": "alerts", "mode": "reorder", "count": 10})
    inv, paid, _ = echeck_payment(api, boarded, practice, account=R02)
    sync_stack.sandbox.advance(days=1)  # releases the held approval alerts in reverse, holds the settlement's
    sync_stack.sandbox.advance(days=2)
    sync_stack.clear_faults()
    sync_stack.sandbox.advance(days=0, seconds=1)  # release what is still held
    sync_stack.deliver()
    assert payment(api, practice, paid["id"])["status"] == "returned"
    ledger_matches(aws_env, practice, invoice(api, practice, inv["id"]))


def test_a_timeout_after_splash_committed_is_reconciled_without_a_second_charge(api, aws_env, boarded, sync_stack):
    practice = boarded("prc_sync_timeout")
    patient = new_patient(api, practice, "ehr-timeout")
    card = add_card(api, practice, patient)
    inv = open_invoice(api, practice, patient, unit_amount=15000)
    fault = {"kind": "timeout_after_commit", "count": 3, "path": "/txns", "delay_seconds": 1.3}
    sync_stack.fault(fault)
    lost = pay(api, practice, inv["id"], card["id"], status=202)
    assert lost["status"] == "unknown"
    sync_stack.clear_faults()
    sync_stack.deliver()  # the approval alert and the reconciliation message
    settled = payment(api, practice, lost["id"])
    assert settled["status"] == "succeeded" and settled["splash_txn_id"]
    after = invoice(api, practice, inv["id"])
    assert (after["status"], after["amount_paid"], after["amount_due"]) == ("paid", 15000, 0)
    assert len(splash_client().txns_by_order(lost["id"])) == 1
    ledger_matches(aws_env, practice, after)
    assert splash_client().get(Txn, settled["splash_txn_id"]).total == 15000


def test_an_alert_without_its_alert_block_is_understood_from_the_record_id(api, aws_env, boarded, sync_stack):
    practice = "prc_sync_bare"
    inv, paid, _ = echeck_payment(api, boarded, practice)
    sync_stack.deliver()
    sync_stack.fault({"kind": "alerts", "mode": "drop", "count": 50})
    sync_stack.advance(days=1)  # settled at Splash; the alerts are lost
    sync_stack.clear_faults()
    bare = {"response": {"data": [{"id": paid["splash_txn_id"]}]}}
    assert api.call("POST", "/webhooks/splash", practice=None, body=bare, headers=_header()).status_code == 200
    sync_stack.deliver()
    assert payment(api, practice, paid["id"])["status"] == "succeeded"
    assert invoice(api, practice, inv["id"])["status"] == "paid"


def test_boarding_alerts_update_the_practice(aws_env, sync_stack):
    from local.seed import practice_entity
    from practicepay.clock import iso, utc_now
    from practicepay.practices import Practice, PracticeStore

    _, merchant = splash_client().board(practice_entity("Riverside Pediatrics"))
    store = PracticeStore(aws_env["PRACTICES_TABLE"], cache_seconds=0)
    store.put(
        Practice(
            practice_id="prc_sync_board",
            name="Riverside Pediatrics",
            splash_merchant_id=merchant.id,
            merchant_status=merchant.status,
            updated_at=iso(utc_now()),
        )
    )
    sync_stack.advance(days=1)  # ready → pending (underwriting)
    assert store.get("prc_sync_board").merchant_status == 6
    sync_stack.advance(days=1)  # pending → boarded
    assert store.get("prc_sync_board").merchant_status == 2
    boarded = [e for e in events(aws_env, "prc_sync_board") if e["type"] == "practice.boarded"]
    assert len(boarded) == 1 and boarded[0]["splash_merchant_id"] == merchant.id


def _unknown_card_payment(api, boarded, sync_stack, practice: str, fault_kind: str) -> tuple[dict, dict, dict]:
    boarded(practice)
    patient = new_patient(api, practice, f"ehr-{practice}")
    card = add_card(api, practice, patient)
    inv = open_invoice(api, practice, patient, unit_amount=9000)
    fault = {"kind": fault_kind, "count": 3, "path": "/txns", "delay_seconds": 1.3}
    sync_stack.fault(fault)
    lost = pay(api, practice, inv["id"], card["id"], status=202)
    sync_stack.clear_faults()
    assert lost["status"] == "unknown"
    return inv, lost, card


def test_a_payment_splash_never_received_is_failed_after_the_grace_period_then_safe_to_retry(
    api, aws_env, boarded, sync_stack, monkeypatch
):
    from practicepay.sync.wiring import status_sync

    practice = "prc_sync_never"
    inv, lost, card = _unknown_card_payment(api, boarded, sync_stack, practice, "timeout_before_commit")
    failed = sync_stack.triggers.failed
    sync_stack.deliver()  # the reconciler finds nothing yet: the message is left for SQS to offer again
    assert sync_stack.triggers.failed >= failed + 1  # ours (another suite's message may be offered again too)
    assert payment(api, practice, lost["id"])["status"] == "unknown"
    assert invoice(api, practice, inv["id"])["amount_due"] == 9000
    monkeypatch.setattr(status_sync(), "grace_seconds", 0)  # the grace period has passed
    report = sync_stack.poll()  # the poll's sweep of open payments settles it
    assert report["outcomes"].get("not_submitted", 0) >= 1, report  # ours (and any other suite's left open)
    failed = payment(api, practice, lost["id"])
    assert failed["status"] == "failed" and failed["failure"]["category"] == "not_submitted"
    assert failed["failure"]["retryable"] is True
    assert invoice(api, practice, inv["id"])["status"] == "open"
    assert splash_client().txns_by_order(lost["id"]) == []
    retry = pay(api, practice, inv["id"], card["id"])  # a new attempt charges once
    assert retry["status"] == "succeeded"
    assert invoice(api, practice, inv["id"])["status"] == "paid"
    ledger_matches(aws_env, practice, invoice(api, practice, inv["id"]))


def test_an_unknown_refund_is_reconciled_from_splash(api, aws_env, boarded, sync_stack):
    practice = boarded("prc_sync_refund")
    patient = new_patient(api, practice, "ehr-sync-refund")
    card = add_card(api, practice, patient)
    inv = open_invoice(api, practice, patient, unit_amount=8000)
    paid = pay(api, practice, inv["id"], card["id"])
    fault = {"kind": "timeout_after_commit", "count": 3, "path": "/txns", "method": "POST", "delay_seconds": 1.3}
    sync_stack.fault(fault)
    refund = ok(api.call("POST", f"/payments/{paid['id']}/refunds", practice=practice, body={"amount": 3000}), 202)
    sync_stack.clear_faults()
    assert refund["status"] == "unknown"
    sync_stack.deliver()  # the reconciliation message names the refund and its payment
    after = payment(api, practice, paid["id"])
    assert (after["status"], after["amount_refunded"]) == ("partially_refunded", 3000)
    ledger_matches(aws_env, practice, invoice(api, practice, inv["id"]))


def test_the_same_alert_posted_five_times_is_kept_once_and_applied_once(api, aws_env, boarded, sync_stack):
    practice = "prc_sync_five"
    inv, paid, _ = echeck_payment(api, boarded, practice)
    sync_stack.deliver()
    sync_stack.fault({"kind": "alerts", "mode": "drop", "count": 50})
    sync_stack.advance(days=1)  # settled at Splash; its own alerts are lost, ours are posted by hand
    sync_stack.clear_faults()
    alert = {"response": {"data": [{"id": paid["splash_txn_id"]}], "alert": {"event": "txn.settled", "resource": 18}}}
    answers = [api.call("POST", "/webhooks/splash", practice=None, body=alert, headers=_header()) for _ in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    assert len({a.get_json()["alert_id"] for a in answers}) == 1  # one alert, kept under one id
    assert sync_stack.deliver() == 1  # the FIFO queue deduplicated the other four
    assert payment(api, practice, paid["id"])["status"] == "succeeded"
    kinds = [e["type"] for e in events(aws_env, practice)]
    assert kinds.count("payment.succeeded") == 1 and kinds.count("invoice.paid") == 1
    ledger_matches(aws_env, practice, invoice(api, practice, inv["id"]))


def test_an_alert_about_another_merchants_txn_is_dropped(api, aws_env, sync_stack):
    from tests.integration.sandbox_kit import SplashApi

    kit = SplashApi(sync_stack.url)
    stranger = kit.payer().sale(total=4321)  # a merchant that is none of our practices
    sync_stack.sandbox.wait_for_alerts()
    assert sync_stack.deliver() >= 1
    bare = {"response": {"data": [{"id": stranger["id"]}]}}
    assert api.call("POST", "/webhooks/splash", practice=None, body=bare, headers=_header()).status_code == 200
    failed = sync_stack.triggers.failed
    assert sync_stack.deliver() == 1
    assert sync_stack.triggers.failed == failed  # dropped as not ours, not failed towards the DLQ


def test_a_return_code_that_arrives_after_the_return_is_added_and_blocks_the_account(api, aws_env, boarded, sync_stack):
    from practicepay.splash.models import EntityReturn
    from practicepay.sync.wiring import status_sync

    practice = "prc_sync_late_code"
    inv, paid, bank = echeck_payment(api, boarded, practice, account=R02)
    sync_stack.deliver()
    sync_stack.fault({"kind": "alerts", "mode": "drop", "count": 50})
    sync_stack.advance(days=3)  # settled, then returned R02; every alert lost
    sync_stack.clear_faults()
    sync = status_sync()
    txn = splash_client().get(Txn, paid["splash_txn_id"])
    record = sync.book.store.get(practice, paid["id"])
    assert sync.apply_to_payment(record, txn, returned=[]) == "return"  # Splash has no entityReturn yet
    first = payment(api, practice, paid["id"])
    assert first["status"] == "returned" and first["return_info"]["code"] is None
    (entity_return,) = splash_client().returns_for(txn.id)
    assert isinstance(entity_return, EntityReturn)
    record = sync.book.store.get(practice, paid["id"])
    assert sync.apply_to_payment(record, txn, returned=[entity_return]) == "return_code"  # its alert, later
    completed = payment(api, practice, paid["id"])
    assert completed["return_info"]["code"] == "R02" and completed["return_info"]["method_blocked"] is True
    methods = ok(api.call("GET", f"/patients/{completed['patient_id']}/payment-methods", practice=practice))["data"]
    assert next(m for m in methods if m["id"] == bank["id"])["status"] == "blocked"
    ledger_matches(aws_env, practice, invoice(api, practice, inv["id"]))


def test_a_payment_failed_as_not_submitted_is_sent_again_when_its_key_comes_back(
    api, aws_env, boarded, sync_stack, monkeypatch
):
    """A lost answer is not the key's answer: once the reconciler failed the payment as not submitted, a retry with
    the same key resumes the same payment under its REQUEST-TOKEN (one Splash never processed, like
    processor_unavailable)."""
    from practicepay.payments.models import CreatePaymentRequest
    from practicepay.payments.wiring import payment_service
    from practicepay.sync.wiring import status_sync

    practice = boarded("prc_sync_resend")
    patient = new_patient(api, practice, "ehr-sync-resend")
    card = add_card(api, practice, patient)
    inv = open_invoice(api, practice, patient, unit_amount=6000)
    fault = {"kind": "timeout_before_commit", "count": 3, "path": "/txns", "method": "POST", "delay_seconds": 1.3}
    sync_stack.fault(fault)
    body = {"payment_method_id": card["id"]}
    lost = ok(api.call("POST", f"/invoices/{inv['id']}/payments", practice=practice, body=body, key="resend-1"), 202)
    sync_stack.clear_faults()
    monkeypatch.setattr(status_sync(), "grace_seconds", 0)
    sync_stack.poll()
    assert payment(api, practice, lost["id"])["failure"]["category"] == "not_submitted"
    again = payment_service().pay(practice, inv["id"], "resend-1", CreatePaymentRequest(**body))
    assert (again.id, again.status.value) == (lost["id"], "succeeded")
    assert len(splash_client().txns_by_order(lost["id"])) == 1
    ledger_matches(aws_env, practice, invoice(api, practice, inv["id"]))
