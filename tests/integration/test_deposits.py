"""Deposits over HTTP with the Splash sandbox: a day's card payments, a refund, an eCheck return and a chargeback
settle into disbursements whose lines and net match the sandbox's entries to the cent; the payments report gains
each payment's fee and net; each deposit is a FHIR R4 PaymentReconciliation that validates."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
import requests
from fhir.resources.R4B.paymentreconciliation import PaymentReconciliation

from practicepay.splash.models import Disbursement, DisbursementEntry
from practicepay.splash.search import Search
from practicepay.splash.wiring import splash_client
from tests.integration.test_money_core import add_bank, add_card, new_patient, ok, open_invoice, pay
from tests.integration.test_status_sync import events, invoice

pytestmark = pytest.mark.integration

R01 = "9990000001"


def window(sync_stack) -> dict[str, str]:
    """From before today (payments are dated by our clock) to after the sandbox's day (deposits by Splash's)."""
    start, end = date.today() - timedelta(days=30), sync_stack.sandbox.today + timedelta(days=5)
    return {"from": start.isoformat(), "to": end.isoformat()}


def deposits(api, practice: str, sync_stack, **headers) -> object:
    return api.call("GET", "/reports/deposits", practice=practice, query=window(sync_stack), headers=headers)


def test_a_days_money_settles_into_deposits_that_match_splash_to_the_cent(api, aws_env, boarded, sync_stack):
    practice = "prc_deposits"
    boarded(practice)
    patient = new_patient(api, practice, f"ehr-{practice}")
    card = add_card(api, practice, patient)
    bank = add_bank(api, practice, patient, account=R01)
    first = open_invoice(api, practice, patient, unit_amount=18_000)
    second = open_invoice(api, practice, patient, unit_amount=12_345)
    third = open_invoice(api, practice, patient, unit_amount=5_000)
    echeck_invoice = open_invoice(api, practice, patient, unit_amount=7_700)
    paid = [pay(api, practice, inv["id"], card["id"]) for inv in (first, second, third)]
    echeck = pay(api, practice, echeck_invoice["id"], bank["id"])
    sync_stack.advance(days=1)  # the card batch captures; the eCheck settles
    refund = api.call(
        "POST", f"/payments/{paid[1]['id']}/refunds", practice=practice, body={"amount": 2_345}, key="auto"
    )
    assert refund.status_code == 201, refund.get_data(as_text=True)
    opened = requests.post(f"{sync_stack.url}/_sandbox/chargebacks", json={"txn": paid[2]["splash_txn_id"]}, timeout=5)
    assert opened.status_code == 201, opened.text
    for _ in range(6):  # refunds captured, the R01 return, daily disbursements moving to processed
        sync_stack.advance(days=1)
    sync_stack.poll()
    assert invoice(api, practice, echeck_invoice["id"])["status"] == "open"  # returned R01

    report = ok(deposits(api, practice, sync_stack))
    assert report["data"], report
    splash = splash_client()
    kinds = set()
    for deposit in report["data"]:
        at_splash = splash.get(Disbursement, deposit["splash_disbursement_id"])
        parts = list(
            splash.iterate(DisbursementEntry, search=Search().equals("disbursement", deposit["splash_disbursement_id"]))
        )
        assert deposit["amount"] == at_splash.amount
        assert {line["entry_id"]: line["amount"] for line in deposit["lines"]} == {p.entry: p.amount for p in parts}
        assert deposit["net"] + deposit["rounding"] == deposit["amount"] and deposit["rounding"] == 0
        assert deposit["unmatched"] == 0, [line for line in deposit["lines"] if not line["matched"]]
        kinds |= {line["kind"] for line in deposit["lines"]}
        fhir = api.call(
            "GET", f"/deposits/{deposit['id']}", practice=practice, headers={"Accept": "application/fhir+json"}
        )
        assert fhir.status_code == 200 and fhir.headers["Content-Type"].startswith("application/fhir+json")
        resource = PaymentReconciliation.model_validate_json(fhir.get_data(as_text=True))
        assert resource.paymentAmount.value == Decimal(deposit["amount"]) / 100
        again = ok(api.call("GET", f"/deposits/{deposit['id']}", practice=practice))
        assert again == deposit
    assert {"payment", "fee", "refund", "return", "chargeback"} <= kinds, kinds
    assert sum(d["gross"] for d in report["data"]) == 18_000 + 12_345 + 5_000 + 7_700
    assert report["totals"]["refunds"] == -2_345 and report["totals"]["returns"] == -7_700
    assert report["totals"]["chargebacks"] == -5_000 and report["undeposited"] == []

    csv_answer = deposits(api, practice, sync_stack, Accept="text/csv")
    rows = list(csv.DictReader(io.StringIO(csv_answer.get_data(as_text=True))))
    assert sum(int(r["amount"]) for r in rows) == report["totals"]["net"]

    payments = ok(api.call("GET", "/reports/payments", practice=practice, query=window(sync_stack)))
    by_id = {row["id"]: row for row in payments["data"]}
    first_row = by_id[paid[0]["id"]]
    assert first_row["fee"] == 18_000 * 290 // 10_000 + 30 and first_row["net"] == 18_000 - first_row["fee"]
    assert first_row["deposit_id"]
    second_row = by_id[paid[1]["id"]]
    assert second_row["net"] == 12_345 - 2_345 - second_row["fee"]
    assert by_id[paid[2]["id"]]["amount_charged_back"] == 5_000
    assert echeck["id"] in by_id

    sync_stack.poll()  # read everything again: nothing new is booked
    assert ok(deposits(api, practice, sync_stack)) == report
    announced = [e for e in events(aws_env, practice) if e["type"] == "deposit.updated"]
    assert {e["deposit_id"] for e in announced} == {d["id"] for d in report["data"]}
    for event in announced:  # the bus carries each deposit as a PaymentReconciliation too
        PaymentReconciliation.model_validate_json(json.dumps(event["payment_reconciliation"]))
