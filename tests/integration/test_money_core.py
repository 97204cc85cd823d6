"""The money core through the API: patients, methods on file, the invoice lifecycle, card and eCheck payments,
declines, unknown outcomes, refunds and voids, with the ledger checked against invoices and Splash."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import boto3
import pytest

from local.triggers import LocalTriggers
from practicepay.disputes.models import debits, status_for
from practicepay.invoices.store import InvoiceStore
from practicepay.splash.models import Chargeback, Txn
from practicepay.splash.search import Search
from practicepay.splash.wiring import splash_client
from tests.integration.conftest import VISIT

pytestmark = pytest.mark.integration

CONSENT = {
    "text_version": "2026-01",
    "accepted_at": "2026-11-26T10:00:00Z",
    "captured_by": "front-desk-7",
    "channel": "in_person",
}
PATIENT = {
    "external_id": "ehr-42",
    "first_name": "Margaret",
    "last_name": "Hamilton",
    "date_of_birth": "1936-08-17",
    "email": "margaret@example.org",
    "phone": "6175550199",
    "address": {"line1": "17 Apollo Way", "city": "Boston", "state": "MA", "postal_code": "02101"},
}


def ok(resp, status=200) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    return resp.get_json(force=True)


def new_patient(api, practice: str, external_id: str) -> str:
    return ok(api.call("POST", "/patients", practice=practice, body={**PATIENT, "external_id": external_id}), 201)["id"]


def add_card(api, practice: str, patient: str, number: str = "4242424242424242", **consent) -> dict:
    body = {
        "card": {"number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123"},
        "consent": {**CONSENT, **consent},
    }
    return ok(api.call("POST", f"/patients/{patient}/payment-methods", practice=practice, body=body), 201)


def add_bank(api, practice: str, patient: str, account: str = "123456789") -> dict:
    body = {"bank_account": {"routing_number": "021000021", "account_number": account}, "consent": CONSENT}
    return ok(api.call("POST", f"/patients/{patient}/payment-methods", practice=practice, body=body), 201)


def open_invoice(api, practice: str, patient_id: str, unit_amount: int = 20000) -> dict:
    body = {
        "patient_id": patient_id,
        "due_date": "2026-12-31",
        "line_items": [{"description": "Office visit", "cpt_code": "99214", "unit_amount": unit_amount}],
    }
    invoice = ok(api.call("POST", "/invoices", practice=practice, body=body), 201)
    return ok(api.call("POST", f"/invoices/{invoice['id']}/issue", practice=practice))


def pay(api, practice: str, invoice: str, method: str, amount: int | None = None, status: int = 201) -> dict:
    body = {"payment_method_id": method, **({"amount": amount} if amount else {})}
    return ok(api.call("POST", f"/invoices/{invoice}/payments", practice=practice, body=body), status)


def ledger_matches(aws_env, practice: str, invoice: dict) -> None:
    """The ledger equals the invoice's totals, and Splash agrees both ways: every ledger movement is a txn at
    Splash, and every approved txn Splash holds for the invoice's payments is in the ledger."""
    entries = InvoiceStore(aws_env["INVOICES_TABLE"]).ledger(practice, invoice["id"])
    paid_types = ("charge", "void", "return", "chargeback", "chargeback_reversal")
    paid = sum(e["amount"] for e in entries if e["type"] in paid_types)
    refunded = -sum(e["amount"] for e in entries if e["type"] == "refund")
    written_off = -sum(e["amount"] for e in entries if e["type"] == "write_off")
    assert (paid, refunded, written_off) == (
        invoice["amount_paid"],
        invoice["amount_refunded"],
        invoice.get("amount_written_off", 0),
    )
    net: dict[str, int] = {}
    for e in entries:
        if e.get("splash_txn_id") and not e.get("splash_chargeback_id"):  # chargebacks: checked per chargeback
            net[e["splash_txn_id"]] = net.get(e["splash_txn_id"], 0) + e["amount"]
    moved = {txn_id: abs(amount) for txn_id, amount in net.items() if amount}  # a charge returned nets to 0
    for txn_id, amount in moved.items():
        assert splash_client().get(Txn, txn_id).total == amount
    payments = json.loads(InvoicePayments.of(aws_env, practice, invoice["id"]))
    at_splash = {}
    for payment in payments:
        for txn in splash_client().txns_by_order(payment["id"]):
            if txn.status not in (2, 5):  # failed, or returned by the bank: no money moved
                at_splash[txn.id] = txn.total
        for refund_order in payment["refund_ids"]:
            for txn in splash_client().txns_by_order(refund_order):
                if txn.status != 2:
                    at_splash[txn.id] = txn.total
    assert at_splash == moved
    by_chargeback: dict[str, int] = {}
    for e in entries:
        if e.get("splash_chargeback_id"):
            by_chargeback[e["splash_chargeback_id"]] = by_chargeback.get(e["splash_chargeback_id"], 0) + e["amount"]
    for chargeback_id, amount in by_chargeback.items():  # debited while Splash has not decided for the practice
        chargeback = splash_client().get(Chargeback, chargeback_id)
        expected = -chargeback.total if debits(status_for(chargeback.status, True), chargeback.cycle) else 0
        assert amount == expected, (chargeback_id, amount)


class InvoicePayments:
    @staticmethod
    def of(aws_env, practice: str, invoice_id: str) -> str:
        from boto3.dynamodb.conditions import Key

        table = boto3.resource("dynamodb").Table(aws_env["PAYMENTS_TABLE"])
        items = table.query(
            IndexName="by_invoice", KeyConditionExpression=Key("gsi1pk").eq(f"PRACTICE#{practice}#INVOICE#{invoice_id}")
        )["Items"]
        out = []
        for item in items:
            refunds = table.query(
                KeyConditionExpression=Key("pk").eq(f"PRACTICE#{practice}")
                & Key("sk").begins_with(f"REFUND#{item['id']}#")
            )["Items"]
            out.append({"id": item["id"], "refund_ids": [r["id"] for r in refunds]})
        return json.dumps(out)


def test_a_patient_pays_by_card_and_echeck_then_gets_part_refunded(api, aws_env, boarded, stack_sandbox):
    practice = boarded("prc_money")
    patient = new_patient(api, practice, "ehr-money-1")
    card = add_card(api, practice, patient)
    bank = add_bank(api, practice, patient)
    assert (card["kind"], card["brand"], card["last4"], card["exp_month"], card["exp_year"]) == (
        "card",
        "visa",
        "4242",
        12,
        2030,
    )
    assert (bank["kind"], bank["account_type"], bank["last4"]) == ("bank_account", "checking", "6789")
    invoice = open_invoice(api, practice, patient)
    assert invoice["status"] == "open"

    by_card = pay(api, practice, invoice["id"], card["id"], 12000)
    assert by_card["status"] == "succeeded" and by_card["splash_txn_id"]
    after_card = ok(api.call("GET", f"/invoices/{invoice['id']}", practice=practice))
    assert (after_card["status"], after_card["amount_paid"], after_card["amount_due"]) == (
        "partially_paid",
        12000,
        8000,
    )

    by_bank = pay(api, practice, invoice["id"], bank["id"])  # the rest
    assert by_bank["status"] == "processing" and by_bank["amount"] == 8000
    assert ok(api.call("GET", f"/invoices/{invoice['id']}", practice=practice))["status"] == "processing"

    stack_sandbox.sandbox.advance(days=1)  # the card sale is captured: now a refund, not a void
    refund = ok(api.call("POST", f"/payments/{by_card['id']}/refunds", practice=practice, body={"amount": 2000}), 201)
    assert (refund["kind"], refund["status"], refund["amount"]) == ("refund", "succeeded", 2000)
    payment = ok(api.call("GET", f"/payments/{by_card['id']}", practice=practice))
    assert (payment["status"], payment["amount_refunded"]) == ("partially_refunded", 2000)
    final = ok(api.call("GET", f"/invoices/{invoice['id']}", practice=practice))
    assert (final["amount_paid"], final["amount_refunded"], final["amount_processing"]) == (20000, 2000, 8000)
    listed = ok(api.call("GET", "/payments", practice=practice, query={"invoice_id": invoice["id"]}))
    assert {p["id"] for p in listed["data"]} == {by_card["id"], by_bank["id"]}
    ledger_matches(aws_env, practice, final)

    sent = json.dumps(stack_sandbox.sandbox.requests).lower()
    for phi in ("margaret", "hamilton", "1936-08-17", "apollo", "office visit", "6175550199"):
        assert phi not in sent, f"{phi} reached Splash"


def test_a_decline_is_402_with_its_reason_and_releases_the_balance(api, aws_env, boarded):
    practice = boarded("prc_nsf")
    patient = new_patient(api, practice, "ehr-nsf")
    card = add_card(api, practice, patient)
    invoice = open_invoice(api, practice, patient, unit_amount=60000)
    problem = ok(
        api.call(
            "POST",
            f"/invoices/{invoice['id']}/payments",
            practice=practice,
            body={"payment_method_id": card["id"], "amount": 50004},
        ),
        402,
    )
    assert problem["type"].endswith("payment-declined:insufficient-funds")
    assert "Insufficient Funds" in problem["detail"]
    payment_id = problem["instance"].rsplit("/", 1)[1]
    payment = ok(api.call("GET", f"/payments/{payment_id}", practice=practice))
    assert payment["status"] == "failed" and payment["failure"]["category"] == "insufficient_funds"
    assert payment["failure"]["retryable"] is True
    after = ok(api.call("GET", f"/invoices/{invoice['id']}", practice=practice))
    assert (after["status"], after["amount_paid"], after["amount_due"]) == ("open", 0, 60000)
    assert pay(api, practice, invoice["id"], card["id"], 60000)["status"] == "succeeded"  # the balance was released
    ledger_matches(aws_env, practice, ok(api.call("GET", f"/invoices/{invoice['id']}", practice=practice)))


def test_a_lost_answer_is_unknown_queued_and_never_charged_twice(api, aws_env, boarded, stack_sandbox):
    practice = boarded("prc_unknown")
    patient = new_patient(api, practice, "ehr-unknown")
    card = add_card(api, practice, patient)
    invoice = open_invoice(api, practice, patient)
    sb = stack_sandbox.sandbox
    fault = {"kind": "timeout_after_commit", "count": 3, "path": "/txns", "delay_seconds": 1.3}
    import requests

    requests.post(f"{stack_sandbox.url}/_sandbox/faults", json=fault, timeout=5).raise_for_status()
    payment = pay(api, practice, invoice["id"], card["id"], 5000, status=202)
    assert payment["status"] == "unknown"
    sqs = boto3.client("sqs")
    messages = sqs.receive_message(QueueUrl=aws_env["RECONCILIATION_QUEUE_URL"], MaxNumberOfMessages=10)["Messages"]
    assert any(json.loads(m["Body"])["id"] == payment["id"] for m in messages)
    txns = list(splash_client().iterate(Txn, search=Search().equals("order", payment["id"])))
    assert len(txns) == 1  # three attempts, one REQUEST-TOKEN: charged once
    held = ok(api.call("GET", f"/invoices/{invoice['id']}", practice=practice))
    assert held["amount_paid"] == 0  # the reservation holds until the reconciler settles it
    problem = ok(
        api.call(
            "POST",
            f"/invoices/{invoice['id']}/payments",
            practice=practice,
            body={"payment_method_id": card["id"], "amount": 16000},
        ),
        422,
    )
    assert "in flight" in problem["detail"]
    assert sb.requests[-1]["path"] == "/txns"  # the sandbox committed the charge behind the lost answer


def test_a_payment_racing_another_never_exceeds_the_balance(api, aws_env, boarded):
    """Two payments read the same invoice; the second to write finds it changed, reads it again, and is refused.
    (Deterministic: both start from one stale read, so the re-read path runs every time.)"""
    from practicepay.errors import ValidationFailed
    from practicepay.payments.models import PaymentRecord
    from practicepay.payments.service import _reserve
    from practicepay.payments.wiring import payment_service

    practice = boarded("prc_race")
    patient = new_patient(api, practice, "ehr-race")
    card = add_card(api, practice, patient)
    invoice = open_invoice(api, practice, patient, unit_amount=10000)
    service = payment_service()
    stale = InvoiceStore(aws_env["INVOICES_TABLE"]).get(practice, invoice["id"])
    template = PaymentRecord(
        practice_id=practice,
        id="",
        invoice_id=invoice["id"],
        patient_id=patient,
        payment_method_id=card["id"],
        method_kind="card",
        amount=6000,
        status="pending",
        created_at="2026-11-26T00:00:00.000Z",
        updated_at="2026-11-26T00:00:00.000Z",
    )
    first = replace(template, id="pay_race0000000000000000000001")
    second = replace(template, id="pay_race0000000000000000000002")
    service.book.commit(first, _reserve(6000), lambda p: p, new=True, known=stale)
    with pytest.raises(ValidationFailed, match="more than the balance"):
        service.book.commit(second, _reserve(6000), lambda p: p, new=True, known=stale)
    held = InvoiceStore(aws_env["INVOICES_TABLE"]).get(practice, invoice["id"])
    assert held.amount_pending == 6000
    assert service.store.get(practice, second.id) is None  # nothing half-written


def test_threads_paying_one_invoice_at_once_never_exceed_its_balance(api, aws_env, boarded):
    """Six threads each pay 6,000 of a 10,000 invoice at the same moment, each with its own Idempotency-Key:
    exactly one is charged at Splash, the others are refused, and the invoice and ledger agree."""
    import threading

    from practicepay.errors import Conflict, ValidationFailed
    from practicepay.payments.models import CreatePaymentRequest
    from practicepay.payments.wiring import payment_service

    practice = boarded("prc_threads")
    patient = new_patient(api, practice, "ehr-threads")
    card = add_card(api, practice, patient)
    invoice = open_invoice(api, practice, patient, unit_amount=10000)
    service = payment_service()
    start = threading.Barrier(6)
    outcomes: list[str] = []

    def pay_6000(n: int) -> None:
        start.wait()
        try:
            body = CreatePaymentRequest(payment_method_id=card["id"], amount=6000)
            outcomes.append(service.pay(practice, invoice["id"], f"race-{n}", body).status.value)
        except (ValidationFailed, Conflict) as exc:
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=pay_6000, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes).count("succeeded") == 1, outcomes
    assert len(outcomes) == 6
    after = ok(api.call("GET", f"/invoices/{invoice['id']}", practice=practice))
    assert (after["amount_paid"], after["amount_due"], after["status"]) == (6000, 4000, "partially_paid")
    payments = json.loads(InvoicePayments.of(aws_env, practice, invoice["id"]))
    charged = [t for p in payments for t in splash_client().txns_by_order(p["id"]) if t.status != 2]
    assert [t.total for t in charged] == [6000]
    ledger_matches(aws_env, practice, after)


def test_payment_rules_answer_409_or_422(api, aws_env, boarded):
    practice = boarded("prc_rules")
    patient = new_patient(api, practice, "ehr-rules")
    card = add_card(api, practice, patient, max_amount=5000)
    draft = ok(api.call("POST", "/invoices", practice=practice, body={**VISIT, "patient_id": patient}), 201)
    ok(
        api.call(
            "POST", f"/invoices/{draft['id']}/payments", practice=practice, body={"payment_method_id": card["id"]}
        ),
        409,
    )  # a draft cannot be paid
    invoice = open_invoice(api, practice, patient, unit_amount=10000)
    over = ok(
        api.call(
            "POST",
            f"/invoices/{invoice['id']}/payments",
            practice=practice,
            body={"payment_method_id": card["id"], "amount": 10001},
        ),
        422,
    )
    assert over["errors"][0]["field"] == "amount"
    capped = ok(
        api.call(
            "POST",
            f"/invoices/{invoice['id']}/payments",
            practice=practice,
            body={"payment_method_id": card["id"], "amount": 6000},
        ),
        409,
    )
    assert "consent" in capped["detail"]
    ok(api.call("DELETE", f"/patients/{patient}/payment-methods/{card['id']}", practice=practice))
    removed = ok(
        api.call(
            "POST",
            f"/invoices/{invoice['id']}/payments",
            practice=practice,
            body={"payment_method_id": card["id"], "amount": 100},
        ),
        409,
    )
    assert "removed" in removed["detail"]
    methods = ok(api.call("GET", f"/patients/{patient}/payment-methods", practice=practice))["data"]
    assert methods[0]["status"] == "inactive" and "token" not in json.dumps(methods).lower().replace("token_", "")


def test_an_expired_card_cannot_be_charged(api, aws_env, boarded):
    from practicepay.payments.wiring import payment_service

    practice = boarded("prc_expired")
    patient = new_patient(api, practice, "ehr-expired")
    card = add_card(api, practice, patient)
    invoice = open_invoice(api, practice, patient)
    patients = payment_service().patients
    saved = patients.clock
    patients.clock = lambda: datetime(2031, 1, 1, tzinfo=UTC)
    try:
        problem = ok(
            api.call(
                "POST", f"/invoices/{invoice['id']}/payments", practice=practice, body={"payment_method_id": card["id"]}
            ),
            409,
        )
    finally:
        patients.clock = saved
    assert "expired" in problem["detail"]


def test_a_practice_without_a_boarded_merchant_cannot_charge(api, aws_env, boarded):
    patient = new_patient(api, "prc_unboarded", "ehr-unboarded")
    problem = ok(
        api.call(
            "POST",
            f"/patients/{patient}/payment-methods",
            practice="prc_unboarded",
            body={"bank_account": {"routing_number": "021000021", "account_number": "123456789"}, "consent": CONSENT},
        ),
        409,
    )
    assert "onboarding" in problem["detail"]


def test_void_while_unsettled_returns_the_invoice_to_open(api, aws_env, boarded):
    practice = boarded("prc_void")
    patient = new_patient(api, practice, "ehr-void")
    card = add_card(api, practice, patient)
    invoice = open_invoice(api, practice, patient, unit_amount=7000)
    payment = pay(api, practice, invoice["id"], card["id"])
    assert ok(api.call("GET", f"/invoices/{invoice['id']}", practice=practice))["status"] == "paid"
    void = ok(api.call("POST", f"/payments/{payment['id']}/refunds", practice=practice, body={}), 201)
    assert (void["kind"], void["amount"]) == ("void", 7000)
    assert ok(api.call("GET", f"/payments/{payment['id']}", practice=practice))["status"] == "voided"
    reopened = ok(api.call("GET", f"/invoices/{invoice['id']}", practice=practice))
    assert (reopened["status"], reopened["amount_paid"], reopened["amount_due"]) == ("open", 0, 7000)
    ok(api.call("POST", f"/payments/{payment['id']}/refunds", practice=practice, body={"amount": 1}), 409)
    ledger_matches(aws_env, practice, reopened)


@pytest.mark.parametrize("settled_first", [False, True], ids=["same_day_reverse", "refund_after_settlement"])
def test_a_partial_refund_leaves_the_same_balance_whatever_splash_calls_it(
    api, aws_env, boarded, stack_sandbox, settled_first
):
    """$20 back on a $70 card payment: a reverse while the sale is unsettled, a refund after. Either way the
    patient got $20 back and owes nothing more: the books say refund, the balance is unchanged."""
    practice = boarded(f"prc_rfd_{int(settled_first)}")
    patient = new_patient(api, practice, f"ehr-rfd-{int(settled_first)}")
    card = add_card(api, practice, patient)
    invoice = open_invoice(api, practice, patient, unit_amount=7000)
    payment = pay(api, practice, invoice["id"], card["id"])
    if settled_first:
        stack_sandbox.sandbox.advance(days=2)
        LocalTriggers().poll()
    refund = ok(api.call("POST", f"/payments/{payment['id']}/refunds", practice=practice, body={"amount": 2000}), 201)
    assert refund["kind"] == ("refund" if settled_first else "void")  # what Splash did
    after = ok(api.call("GET", f"/invoices/{invoice['id']}", practice=practice))
    assert (after["status"], after["amount_paid"], after["amount_refunded"], after["amount_due"]) == (
        "partially_refunded",
        7000,
        2000,
        0,
    )
    assert ok(api.call("GET", f"/payments/{payment['id']}", practice=practice))["status"] == "partially_refunded"
    entries = [e for e in InvoiceStore(aws_env["INVOICES_TABLE"]).ledger(practice, invoice["id"]) if e.get("refund_id")]
    assert [(e["type"], e["amount"]) for e in entries] == [("refund", -2000)]
    ledger_matches(aws_env, practice, after)


def test_echeck_refund_waits_for_settlement_and_refunds_cannot_exceed_the_payment(api, aws_env, boarded, stack_sandbox):
    practice = boarded("prc_refunds")
    patient = new_patient(api, practice, "ehr-refunds")
    bank = add_bank(api, practice, patient)
    invoice = open_invoice(api, practice, patient, unit_amount=9000)
    payment = pay(api, practice, invoice["id"], bank["id"])
    early = ok(api.call("POST", f"/payments/{payment['id']}/refunds", practice=practice, body={}), 409)
    assert "settle" in early["detail"]
    stack_sandbox.sandbox.advance(days=1)
    LocalTriggers().poll()  # the scheduled status poll sees the settlement
    over = ok(api.call("POST", f"/payments/{payment['id']}/refunds", practice=practice, body={"amount": 9001}), 422)
    assert over["errors"][0]["field"] == "amount"
    refund = ok(api.call("POST", f"/payments/{payment['id']}/refunds", practice=practice, body={"amount": 4000}), 201)
    assert refund["kind"] == "refund"
    rest = ok(api.call("POST", f"/payments/{payment['id']}/refunds", practice=practice, body={}), 201)
    assert rest["amount"] == 5000
    ok(api.call("POST", f"/payments/{payment['id']}/refunds", practice=practice, body={}), 409)  # nothing left
    final = ok(api.call("GET", f"/invoices/{invoice['id']}", practice=practice))
    assert (final["status"], final["amount_refunded"]) == ("refunded", 9000)
    ledger_matches(aws_env, practice, final)


def test_a_retry_after_a_failure_midway_never_charges_twice(api, aws_env, boarded, monkeypatch):
    from practicepay.payments.service import PaymentService

    practice = boarded("prc_retry")
    patient = new_patient(api, practice, "ehr-retry")
    card = add_card(api, practice, patient)
    invoice = open_invoice(api, practice, patient, unit_amount=10000)
    real_settle = PaymentService._settle
    calls = {"n": 0}

    def broken_settle(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("DynamoDB went away after Splash charged")
        return real_settle(self, *args, **kwargs)

    monkeypatch.setattr(PaymentService, "_settle", broken_settle)
    body = {"payment_method_id": card["id"], "amount": 4000}
    first = api.call("POST", f"/invoices/{invoice['id']}/payments", practice=practice, body=body, key="retry-key-1")
    assert first.status_code == 502
    second = ok(
        api.call("POST", f"/invoices/{invoice['id']}/payments", practice=practice, body=body, key="retry-key-1"), 202
    )
    assert second["status"] == "unknown"  # the reconciler applies the charge; the retry did not charge again
    orders = list(splash_client().iterate(Txn, search=Search().equals("order", second["id"])))
    assert len(orders) == 1
    payments = ok(api.call("GET", "/payments", practice=practice, query={"invoice_id": invoice["id"]}))["data"]
    assert [p["id"] for p in payments] == [second["id"]]


def test_splash_unavailable_is_503_and_a_retry_with_the_same_key_charges_once(api, aws_env, boarded, stack_sandbox):
    import requests

    practice = boarded("prc_503")
    patient = new_patient(api, practice, "ehr-503")
    card = add_card(api, practice, patient)
    invoice = open_invoice(api, practice, patient, unit_amount=10000)
    requests.post(
        f"{stack_sandbox.url}/_sandbox/faults", json={"kind": "http_429", "count": 1, "path": "/txns"}, timeout=5
    ).raise_for_status()
    body = {"payment_method_id": card["id"], "amount": 2500}
    problem = ok(
        api.call("POST", f"/invoices/{invoice['id']}/payments", practice=practice, body=body, key="k-503"), 503
    )
    assert "nothing was charged" in problem["detail"]
    held = ok(api.call("GET", f"/invoices/{invoice['id']}", practice=practice))
    assert held["amount_due"] == 10000
    paid = ok(api.call("POST", f"/invoices/{invoice['id']}/payments", practice=practice, body=body, key="k-503"), 201)
    assert paid["status"] == "succeeded"
    assert len(list(splash_client().iterate(Txn, search=Search().equals("order", paid["id"])))) == 1
    ledger_matches(aws_env, practice, ok(api.call("GET", f"/invoices/{invoice['id']}", practice=practice)))


def test_overlapping_refunds_both_count(api, aws_env, boarded, stack_sandbox):
    from practicepay.payments.models import CreateRefundRequest
    from practicepay.payments.wiring import payment_service

    practice = boarded("prc_overlap")
    patient = new_patient(api, practice, "ehr-overlap")
    card = add_card(api, practice, patient)
    invoice = open_invoice(api, practice, patient, unit_amount=10000)
    payment = pay(api, practice, invoice["id"], card["id"])
    stack_sandbox.sandbox.advance(days=1)
    service = payment_service()
    record = service.store.get(practice, payment["id"])
    a, _ = service._new_refund(record, "rfd_overlap00000000000000000a", CreateRefundRequest(amount=3000))
    b, _ = service._new_refund(record, "rfd_overlap00000000000000000b", CreateRefundRequest(amount=2000))
    service.book.hold_refund(a, record, resumed=False)
    service.book.hold_refund(
        b, record, resumed=False
    )  # both in flight at once (the second from a stale read: it reads again)
    service.book.refund_outcome(a, replace(a, status="succeeded", splash_txn_id="t1_txn_" + "a" * 23))
    service.book.refund_outcome(b, replace(b, status="succeeded", splash_txn_id="t1_txn_" + "b" * 23))
    # the same outcome learned again (from a stale record: it says pending) is not applied twice
    assert not service.book.refund_outcome(a, replace(a, status="succeeded", splash_txn_id="t1_txn_" + "a" * 23))
    after = ok(api.call("GET", f"/payments/{payment['id']}", practice=practice))
    assert (after["amount_refunded"], after["status"]) == (5000, "partially_refunded")
    final = ok(api.call("GET", f"/invoices/{invoice['id']}", practice=practice))
    assert final["amount_refunded"] == 5000
    entries = InvoiceStore(aws_env["INVOICES_TABLE"]).ledger(practice, invoice["id"])
    assert sorted(e["amount"] for e in entries if e["type"] == "refund") == [-3000, -2000]


def test_no_write_off_while_a_payment_is_in_flight_and_no_void_after(api, aws_env, boarded):
    from practicepay.payments.models import PaymentRecord
    from practicepay.payments.service import _reserve
    from practicepay.payments.wiring import payment_service

    practice = boarded("prc_wo")
    patient = new_patient(api, practice, "ehr-wo")
    card = add_card(api, practice, patient)
    invoice = open_invoice(api, practice, patient, unit_amount=10000)
    service = payment_service()
    flight = PaymentRecord(
        practice_id=practice,
        id="pay_inflight0000000000000000",
        invoice_id=invoice["id"],
        patient_id=patient,
        payment_method_id=card["id"],
        method_kind="card",
        amount=1000,
        status="pending",
        created_at="2026-11-26T00:00:00.000Z",
        updated_at="2026-11-26T00:00:00.000Z",
    )
    service.book.commit(flight, _reserve(1000), lambda p: p, new=True)
    problem = ok(
        api.call("POST", f"/invoices/{invoice['id']}/write-off", practice=practice, body={"reason": "bad_debt"}), 409
    )
    assert "in flight" in problem["detail"]

    other = open_invoice(api, practice, patient, unit_amount=10000)
    paid = pay(api, practice, other["id"], card["id"], 4000)
    written = ok(api.call("POST", f"/invoices/{other['id']}/write-off", practice=practice, body={"reason": "bad_debt"}))
    assert (written["amount_written_off"], written["amount_due"]) == (6000, 0)
    refused = ok(api.call("POST", f"/payments/{paid['id']}/refunds", practice=practice, body={}), 409)
    assert "written off" in refused["detail"]
    ledger_matches(aws_env, practice, ok(api.call("GET", f"/invoices/{other['id']}", practice=practice)))


def test_invoice_lifecycle_actions_follow_the_transition_table(api, aws_env, boarded):
    practice = boarded("prc_life")
    patient = new_patient(api, practice, "ehr-life")
    draft = ok(api.call("POST", "/invoices", practice=practice, body={**VISIT, "patient_id": patient}), 201)
    ok(api.call("POST", f"/invoices/{draft['id']}/write-off", practice=practice, body={"reason": "bad_debt"}), 409)
    ok(api.call("POST", f"/invoices/{draft['id']}/issue", practice=practice))
    ok(api.call("POST", f"/invoices/{draft['id']}/issue", practice=practice), 409)  # already open
    written = ok(
        api.call(
            "POST",
            f"/invoices/{draft['id']}/write-off",
            practice=practice,
            body={"reason": "patient_deceased"},
        )
    )
    assert (written["status"], written["write_off_reason"]) == ("uncollectible", "patient_deceased")
    assert (written["amount_written_off"], written["amount_due"]) == (written["total"], 0)
    ok(api.call("POST", f"/invoices/{draft['id']}/cancel", practice=practice), 409)

    card = add_card(api, practice, patient)
    paid = open_invoice(api, practice, patient, unit_amount=3000)
    pay(api, practice, paid["id"], card["id"], 1000)
    problem = ok(api.call("POST", f"/invoices/{paid['id']}/cancel", practice=practice), 409)
    assert "canceled only while draft or open; this one is partially_paid" in problem["detail"]
    fresh = ok(api.call("POST", "/invoices", practice=practice, body={**VISIT, "patient_id": patient}), 201)
    assert ok(api.call("POST", f"/invoices/{fresh['id']}/cancel", practice=practice))["status"] == "canceled"


def test_patients_keep_phi_encrypted_and_external_ids_unique(api, aws_env):
    created = ok(api.call("POST", "/patients", practice="prc_pat", body={**PATIENT, "external_id": "ehr-unique"}), 201)
    assert (created["first_name"], created["address"]["city"]) == ("Margaret", "Boston")
    ok(api.call("POST", "/patients", practice="prc_pat", body={**PATIENT, "external_id": "ehr-unique"}), 409)
    raw = (
        boto3.resource("dynamodb")
        .Table(aws_env["PATIENTS_TABLE"])
        .get_item(Key={"pk": "PRACTICE#prc_pat", "sk": f"PATIENT#{created['id']}"})["Item"]
    )
    assert "Margaret" not in json.dumps(raw, default=str) and "1936" not in json.dumps(raw, default=str)
    found = ok(api.call("GET", "/patients", practice="prc_pat", query={"external_id": "ehr-unique"}))["data"]
    assert [p["id"] for p in found] == [created["id"]]
    patched = ok(
        api.call("PATCH", f"/patients/{created['id']}", practice="prc_pat", body={"email": None, "phone": "6175550100"})
    )
    assert (patched["email"], patched["phone"], patched["last_name"]) == (None, "6175550100", "Hamilton")
    ok(api.call("PATCH", f"/patients/{created['id']}", practice="prc_pat", body={"first_name": None}), 422)


def test_raw_numbers_are_refused_unless_the_splash_sandbox_is_configured(api, aws_env, boarded, stack_sandbox):
    from practicepay.patients.wiring import patient_service
    from practicepay.splash.client import SplashClient

    practice = boarded("prc_prod")
    patient = new_patient(api, practice, "ehr-prod")
    service = patient_service()
    saved = service.splash
    service.splash = lambda: SplashClient("payrix", lambda: "never-used")
    before = len(stack_sandbox.sandbox.requests)
    try:
        body = {"card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030}, "consent": CONSENT}
        problem = ok(api.call("POST", f"/patients/{patient}/payment-methods", practice=practice, body=body), 400)
    finally:
        service.splash = saved
    assert "PayFields" in problem["detail"]
    assert len(stack_sandbox.sandbox.requests) == before  # nothing sent anywhere


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/patients/{patient}"),
        ("PATCH", "/patients/{patient}"),
        ("GET", "/patients/{patient}/payment-methods"),
        ("POST", "/patients/{patient}/payment-methods"),
        ("DELETE", "/patients/{patient}/payment-methods/{method}"),
        ("GET", "/payments/{payment}"),
        ("POST", "/payments/{payment}/refunds"),
        ("POST", "/invoices/{invoice}/payments"),
        ("POST", "/invoices/{invoice}/issue"),
        ("POST", "/invoices/{invoice}/cancel"),
        ("POST", "/invoices/{invoice}/write-off"),
    ],
)
def test_every_route_hides_another_practices_records(api, aws_env, boarded, method, path):
    practice = boarded("prc_owner")
    state = _owned_records(api, practice)
    url = path.format(**state)
    bodies = {"PATCH": {"phone": "6175550101"}}
    body = bodies.get(
        method,
        {"payment_method_id": state["method"], "consent": CONSENT, "reason": "other"} if method == "POST" else None,
    )
    if "refunds" in path:
        body = {}
    if "payment-methods" in path and method == "POST":
        body = {"bank_account": {"routing_number": "021000021", "account_number": "123456789"}, "consent": CONSENT}
    if "write-off" in path:
        body = {"reason": "other"}
    if path.endswith("/payments"):
        body = {"payment_method_id": state["method"]}
    if path.endswith(("/issue", "/cancel")):
        body = None  # these take no body (one sent is refused before any record is looked up)
    resp = api.call(method, url, practice="prc_intruder", body=body)
    text = resp.get_data(as_text=True)
    assert resp.status_code == 404, text
    said = json.dumps({k: v for k, v in resp.get_json().items() if k != "request_id"})  # a random uuid may hold 4242
    assert "Margaret" not in said and "4242" not in said and "amount_paid" not in said  # nothing of the owner's


_OWNED: dict[str, dict[str, str]] = {}


def _owned_records(api, practice: str) -> dict[str, str]:
    if practice not in _OWNED:
        patient = new_patient(api, practice, "ehr-owned")
        card = add_card(api, practice, patient)
        invoice = open_invoice(api, practice, patient)
        payment = pay(api, practice, invoice["id"], card["id"], 1000)
        _OWNED[practice] = {
            "patient": patient,
            "method": card["id"],
            "invoice": invoice["id"],
            "payment": payment["id"],
        }
    return _OWNED[practice]


def test_a_payment_replay_answers_the_first_answer_and_another_body_is_refused(api, aws_env, boarded, stack_sandbox):
    practice = boarded("prc_replay")
    patient = new_patient(api, practice, "ehr-replay")
    card = add_card(api, practice, patient)
    invoice = open_invoice(api, practice, patient, unit_amount=10000)
    path = f"/invoices/{invoice['id']}/payments"
    body = {"payment_method_id": card["id"], "amount": 4000}
    first = ok(api.call("POST", path, practice=practice, body=body, key="replay-1"), 201)
    ok(api.call("POST", f"/payments/{first['id']}/refunds", practice=practice, body={"amount": 1000}), 201)
    again = ok(api.call("POST", path, practice=practice, body=body, key="replay-1"), 201)
    assert again == first  # the first answer (succeeded, nothing refunded), not today's state
    assert ok(api.call("GET", f"/payments/{first['id']}", practice=practice))["amount_refunded"] == 1000
    other = {"payment_method_id": card["id"], "amount": 4001}
    problem = ok(api.call("POST", path, practice=practice, body=other, key="replay-1"), 422)
    assert "different request body" in problem["detail"]
    payments = ok(api.call("GET", "/payments", practice=practice, query={"invoice_id": invoice["id"]}))["data"]
    assert [p["id"] for p in payments] == [first["id"]]
    assert len(splash_client().txns_by_order(first["id"])) == 1
