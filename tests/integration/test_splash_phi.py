"""No PHI reaches Splash: one of every kind of request the system makes goes through the client, for a patient
whose record is full of PHI, and the sandbox's request log is searched for any of it."""

from __future__ import annotations

import json

import pytest
import requests

from practicepay.ids import new_id
from practicepay.splash.models import EntityReturn, Merchant, Resource, Txn, TxnType
from practicepay.splash.outbound import (
    AlertActionRequest,
    AlertRequest,
    AlertTriggerRequest,
    CustomerRequest,
    TxnRequest,
)
from practicepay.splash.search import Search
from tests.integration.splash_helpers import ROUTING, board, make_client, token

pytestmark = pytest.mark.integration

PATIENT = {
    "id": new_id("pat"),
    "first": "Margaret",
    "last": "Hamilton",
    "dob": "1936-08-17",
    "email": "margaret.hamilton@example.org",
    "phone": "6175550199",
    "address": "17 Apollo Way",
    "diagnosis": "E11.9 Type 2 diabetes mellitus",
    "cpt": "99214",
    "line_item": "Diabetes follow-up, HbA1c panel",
}


def test_no_patient_data_in_any_request_splash_receives(sandbox):
    sb, base = sandbox
    requests.post(f"{base}/_sandbox/reset", timeout=5).raise_for_status()
    client = make_client(base)

    merchant = board(client)
    client.get(Merchant, merchant)
    customer = client.create_customer(CustomerRequest(merchant=merchant, custom=PATIENT["id"]))
    assert customer.custom == PATIENT["id"]
    card = token(client, merchant)
    bank = token(client, merchant, number="9990000001", routing=ROUTING)

    def run(body: TxnRequest) -> Txn:
        return client.txn(body, request_token=new_id("pay"))

    card_sale = run(
        TxnRequest(
            merchant=merchant,
            type=TxnType.CARD_SALE,
            total=15400,
            token=card,
            order=new_id("pay"),
            description="Medical services",
            descriptor="Riverside Family",
        )
    )
    run(TxnRequest(type=TxnType.CARD_REVERSE, fortxn=card_sale.id, total=400))
    other = run(
        TxnRequest(
            merchant=merchant,
            type=TxnType.CARD_SALE,
            total=9000,
            token=card,
            order=new_id("pay"),
            description="Medical services - installment",
        )
    )
    echeck = run(
        TxnRequest(
            merchant=merchant,
            type=TxnType.ECHECK_SALE,
            total=20000,
            token=bank,
            order=new_id("pay"),
            description="Medical services - membership",
        )
    )
    sb.advance(days=1)
    run(TxnRequest(type=TxnType.CARD_REFUND, fortxn=other.id, total=1000, description="Medical services - refund"))
    sb.advance(days=2)
    run(TxnRequest(type=TxnType.ECHECK_REDEPOSIT, fortxn=echeck.id))
    client.get(Txn, card_sale.id)
    client.txn_results(card_sale.id)
    client.txns_by_order(card_sale.order or "")
    list(client.iterate(EntityReturn, search=Search().equals("txn", echeck.id)))
    client.create_alert(
        AlertRequest(
            name="PracticePay status hints",
            alertTriggers=[AlertTriggerRequest(event="txn.returned", resource=Resource.TXNS)],
            alertActions=[
                AlertActionRequest(
                    value="https://hooks.practicepay.example/webhooks/splash",
                    headerName="X-PracticePay-Webhook",
                    headerValue="x" * 32,
                )
            ],
        )
    )

    log = requests.get(f"{base}/_sandbox/requests", timeout=5).json()["requests"]
    kinds = {(r["method"], r["path"].split("/")[1]) for r in log}
    assert {
        ("POST", "entities"),
        ("POST", "customers"),
        ("POST", "tokens"),
        ("POST", "txns"),
        ("GET", "txns"),
        ("GET", "txnResults"),
        ("GET", "entityReturns"),
        ("POST", "alerts"),
        ("GET", "merchants"),
    } <= kinds
    sent = json.dumps(log).lower()
    for key, value in PATIENT.items():
        if key != "id":
            assert value.lower() not in sent, f"patient {key} reached Splash"
