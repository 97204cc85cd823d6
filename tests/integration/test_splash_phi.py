"""No PHI reaches Splash. Patient data is offered to every public entry point of the client (each refuses it
before anything is sent), then one of every kind of request the system makes runs for that patient, and
everything the client put on the wire, unredacted, is searched for the patient's data."""

from __future__ import annotations

import re

import pytest
import requests
from pydantic import ValidationError

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
from tests.integration.splash_helpers import ROUTING, board, make_client, raw_traffic, token

pytestmark = pytest.mark.integration

PATIENT_ID = new_id("pat")
PHI = {
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


@pytest.mark.parametrize("value", PHI.values(), ids=PHI.keys())
def test_every_text_entry_point_refuses_patient_data(value):
    merchant = "t1_mer_" + "0" * 23
    attempts = [
        lambda: CustomerRequest(merchant=merchant, custom=value),
        lambda: TxnRequest(type=TxnType.CARD_SALE, order=value),
        lambda: TxnRequest(type=TxnType.CARD_SALE, description=value),
        lambda: TxnRequest(type=TxnType.CARD_SALE, fortxn=value),
        lambda: TxnRequest(type=TxnType.CARD_SALE, token=value),
        lambda: TxnRequest(type=TxnType.CARD_SALE, merchant=value),
    ]
    for attempt in attempts:
        with pytest.raises(ValidationError):
            attempt()


def test_no_patient_data_in_anything_the_client_sends(sandbox):
    sb, base = sandbox
    requests.post(f"{base}/_sandbox/reset", timeout=5).raise_for_status()
    sent: list = []
    client = make_client(base, sent=sent)

    merchant = board(client)
    client.get(Merchant, merchant)
    customer = client.create_customer(CustomerRequest(merchant=merchant, custom=PATIENT_ID))
    assert customer.custom == PATIENT_ID
    card = token(client, merchant)
    bank = token(client, merchant, number="9990000001", routing=ROUTING)

    def run(body: TxnRequest) -> Txn:
        return client.txn(body, request_token=body.order or new_id("pay"))

    card_sale = run(
        TxnRequest(
            merchant=merchant,
            type=TxnType.CARD_SALE,
            total=15400,
            token=card,
            order=new_id("pay"),
            description="Medical services",
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
            login="t1_log_sandbox000000000000000000",
            forlogin="t1_log_sandbox000000000000000000",
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

    paths = {(r.method, r.path_url.split("?")[0].split("/")[1]) for r in sent}
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
    } <= paths
    wire = raw_traffic(sent)
    assert PATIENT_ID in wire  # the opaque reference is all Splash learns about the patient
    for key, value in PHI.items():
        assert not re.search(rf"(?<![0-9A-Za-z]){re.escape(value)}(?![0-9A-Za-z])", wire, re.I), f"{key} was sent"
