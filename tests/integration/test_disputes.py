"""Chargebacks over HTTP with the Splash sandbox: a card payment disputed (the invoice reopened, the fee booked),
the evidence packet generated and read back page by page, the answer uploaded to Splash, the dispute won (the
money and the fee restored) and another lost; every money fact once, whoever learns of it first."""

from __future__ import annotations

import hashlib
import io

import boto3
import pytest
import requests
from boto3.dynamodb.conditions import Key
from pypdf import PdfReader

from practicepay.disputes.evidence import PAGE_TITLES
from tests.integration.test_money_core import add_card, ledger_matches, new_patient, ok, open_invoice, pay
from tests.integration.test_status_sync import events, invoice, payment

pytestmark = pytest.mark.integration

NOTE = "The cardholder authorized this card on file at the visit and was emailed a receipt the same day."


def disputed(api, boarded, sync_stack, practice: str, amount: int = 18_000, **chargeback) -> tuple[dict, dict, dict]:
    """A card payment captured (a midnight's batch), then charged back at Splash; alerts delivered."""
    boarded(practice)
    patient = new_patient(api, practice, f"ehr-{practice}")
    card = add_card(api, practice, patient)
    inv = open_invoice(api, practice, patient, unit_amount=amount)
    paid = pay(api, practice, inv["id"], card["id"])
    sync_stack.advance(days=1)
    opened = requests.post(
        f"{sync_stack.url}/_sandbox/chargebacks", json={"txn": paid["splash_txn_id"], **chargeback}, timeout=5
    )
    assert opened.status_code == 201, opened.text
    sync_stack.deliver()
    return inv, paid, opened.json()["chargeback"]


def the_dispute(api, practice: str, payment_id: str) -> dict:
    ref = payment(api, practice, payment_id)["dispute"]
    return ok(api.call("GET", f"/disputes/{ref['id']}", practice=practice))


def fees(aws_env, practice: str) -> list[dict]:
    table = boto3.resource("dynamodb").Table(aws_env["FUNDS_TABLE"])
    key = Key("pk").eq(f"PRACTICE#{practice}") & Key("sk").begins_with("FEE#")
    return table.query(KeyConditionExpression=key, ConsistentRead=True)["Items"]


def decide(sync_stack, chargeback_id: str, outcome: str) -> None:
    got = requests.post(
        f"{sync_stack.url}/_sandbox/chargebacks/{chargeback_id}/decide", json={"outcome": outcome}, timeout=5
    )
    assert got.status_code == 200, got.text
    sync_stack.deliver()


def test_a_chargeback_reopens_the_invoice_books_the_fee_and_a_win_restores_both(api, aws_env, boarded, sync_stack):
    practice = "prc_dispute_won"
    inv, paid, chargeback = disputed(api, boarded, sync_stack, practice)
    after = payment(api, practice, paid["id"])
    assert after["status"] == "succeeded" and after["amount_charged_back"] == 18_000
    owed = invoice(api, practice, inv["id"])
    assert (owed["status"], owed["amount_paid"], owed["amount_due"], owed["amount_charged_back"]) == (
        "open",
        0,
        18_000,
        18_000,
    )
    ledger_matches(aws_env, practice, owed)
    dispute = the_dispute(api, practice, paid["id"])
    assert (dispute["status"], dispute["money"], dispute["fee"], dispute["amount"]) == (
        "needs_response",
        "debited",
        3_000,
        18_000,
    )
    assert dispute["reply_by"] and dispute["splash_chargeback_id"] == chargeback["id"]
    assert [f["amount"] for f in fees(aws_env, practice)] == [-3_000]
    listed = ok(api.call("GET", "/disputes", practice=practice, query={"status": "needs_response"}))
    assert [d["id"] for d in listed["data"]] == [dispute["id"]]
    on_invoice = ok(api.call("GET", "/disputes", practice=practice, query={"invoice_id": inv["id"]}))
    assert [d["id"] for d in on_invoice["data"]] == [dispute["id"]]
    refused = api.call("POST", f"/payments/{paid['id']}/refunds", practice=practice, body={}, key="auto")
    assert refused.status_code == 409  # the money went back to the cardholder already

    pdf = api.call("GET", f"/disputes/{dispute['id']}/evidence", practice=practice)
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
    pages = PdfReader(io.BytesIO(pdf.get_data())).pages
    texts = [page.extract_text() for page in pages]
    for title in PAGE_TITLES:
        assert any(text.lstrip().startswith(title) for text in texts), title
    whole = "\n".join(texts)
    assert "$180.00" in whole and "4242" in whole and chargeback["id"] in whole
    assert "99214" not in whole and "Office visit" in whole  # a generic descriptor, never the code

    answered = ok(
        api.call("POST", f"/disputes/{dispute['id']}/respond", practice=practice, body={"note": NOTE}, key="auto")
    )
    assert answered["status"] == "under_review" and answered["response"]["pages"] >= len(PAGE_TITLES)
    document = answered["response"]["document_id"]
    uploaded = requests.get(f"{sync_stack.url}/_sandbox/chargebacks/{chargeback['id']}/documents/{document}", timeout=5)
    assert uploaded.status_code == 200
    assert hashlib.sha256(uploaded.content).hexdigest() == answered["response"]["evidence_sha256"]
    sync_stack.deliver()  # Splash closes the cycle while the issuer decides: still under review
    assert the_dispute(api, practice, paid["id"])["status"] == "under_review"

    decide(sync_stack, chargeback["id"], "won")
    won = the_dispute(api, practice, paid["id"])
    assert (won["status"], won["money"], won["fee"]) == ("won", "restored", 0)
    restored = invoice(api, practice, inv["id"])
    assert (restored["status"], restored["amount_paid"], restored["amount_due"]) == ("paid", 18_000, 0)
    assert payment(api, practice, paid["id"])["amount_charged_back"] == 0
    assert sorted(f["amount"] for f in fees(aws_env, practice)) == [-3_000, 3_000]
    ledger_matches(aws_env, practice, restored)
    sync_stack.poll()  # the poll reads the same chargebacks again: nothing is booked twice
    assert sorted(f["amount"] for f in fees(aws_env, practice)) == [-3_000, 3_000]
    ledger_matches(aws_env, practice, invoice(api, practice, inv["id"]))
    kinds = [e["type"] for e in events(aws_env, practice)]
    assert kinds.count("dispute.opened") == 1 and kinds.count("dispute.won") == 1


def test_a_lost_dispute_leaves_the_invoice_owed(api, aws_env, boarded, sync_stack):
    practice = "prc_dispute_lost"
    inv, paid, chargeback = disputed(api, boarded, sync_stack, practice, amount=9_500)
    decide(sync_stack, chargeback["id"], "lost")
    lost = the_dispute(api, practice, paid["id"])
    assert (lost["status"], lost["money"], lost["fee"]) == ("lost", "debited", 3_000)
    owed = invoice(api, practice, inv["id"])
    assert (owed["status"], owed["amount_due"]) == ("open", 9_500)
    ledger_matches(aws_env, practice, owed)
    late = api.call("POST", f"/disputes/{lost['id']}/respond", practice=practice, body={"note": NOTE}, key="auto")
    assert late.status_code == 409
    assert [e["type"] for e in events(aws_env, practice)].count("dispute.lost") == 1


def test_a_chargeback_whose_alert_was_lost_is_found_by_the_poll(api, aws_env, boarded, sync_stack):
    practice = "prc_dispute_poll"
    sync_stack.fault({"kind": "alerts", "mode": "drop", "count": 50})
    inv, paid, _ = disputed(api, boarded, sync_stack, practice, amount=7_000)
    sync_stack.clear_faults()
    sync_stack.poll()
    assert payment(api, practice, paid["id"])["amount_charged_back"] == 7_000
    sync_stack.poll()
    ledger_matches(aws_env, practice, invoice(api, practice, inv["id"]))
    assert [f["amount"] for f in fees(aws_env, practice)] == [-3_000]


def test_a_note_naming_the_patient_or_a_code_is_refused_and_nothing_reaches_splash(api, aws_env, boarded, sync_stack):
    practice = "prc_dispute_note"
    _, paid, chargeback = disputed(api, boarded, sync_stack, practice, amount=5_000)
    dispute = the_dispute(api, practice, paid["id"])
    before = len(sync_stack.sandbox.requests)
    for note in ("Margaret authorized the charge.", "Follow-up for E11.9.", "Billed 99214 as agreed."):
        got = api.call("POST", f"/disputes/{dispute['id']}/respond", practice=practice, body={"note": note}, key="auto")
        assert got.status_code == 422, got.get_data(as_text=True)
    sent = [r for r in sync_stack.sandbox.requests[before:] if r.get("path", "").startswith("/chargeback")]
    assert not [r for r in sent if r.get("method") == "POST"], sent
    assert the_dispute(api, practice, paid["id"])["status"] == "needs_response"


def test_accepting_a_chargeback_gives_it_up(api, aws_env, boarded, sync_stack):
    practice = "prc_dispute_accept"
    inv, paid, _ = disputed(api, boarded, sync_stack, practice, amount=4_000)
    dispute = the_dispute(api, practice, paid["id"])
    accepted = ok(api.call("POST", f"/disputes/{dispute['id']}/accept", practice=practice, key="auto"))
    assert accepted["status"] == "lost" and accepted["money"] == "debited"
    assert invoice(api, practice, inv["id"])["amount_due"] == 4_000
