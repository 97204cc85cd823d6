"""The PHI firewall: no patient name, birth date, contact, address, diagnosis, CPT code or line-item text can be
put into a Splash request, and credentials never reach a log line."""

from __future__ import annotations

import json
import logging
import re

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from practicepay.splash import outbound
from practicepay.splash.client import SplashClient
from practicepay.splash.models import TxnType
from practicepay.splash.outbound import CardOrBank, CustomerRequest, Outbound, TokenRequest, TxnRequest
from tests.unit.test_splash_contract import API_KEY, MERCHANT, TOKEN, Scripted, client, fixture, sale

pytestmark = pytest.mark.unit
OPAQUE = re.compile(r"[a-z]{2,4}_[0-9a-z]{10,40}")

# Every field an outbound payload may carry, per model. Adding a field means reviewing it for PHI here.
ALLOWED = {
    # A chargeback's answer: our ids, a date and amount, and the practice's note, screened for PHI before it gets
    # here (disputes.models.screen_note); the evidence document's name is ours and its description fixed.
    "ChargebackMessageRequest": {"chargeback", "type", "date", "note", "amount", "currency"},
    "ChargebackDocumentRequest": {"chargeback", "type", "name", "description", "documentSource"},
    # A PayFields txnSession: the merchant and its limits, nothing about the payer.
    "TxnSessionRequest": {"login", "merchant", "configurations"},
    "TxnSessionConfigurations": {"duration", "maxTimesUse", "maxTimesApproved"},
    # descriptor: the practice's statement descriptor setting (PracticeSettings), never patient text.
    "TxnRequest": {
        "merchant",
        "type",
        "origin",
        "total",
        "token",
        "fortxn",
        "order",
        "description",
        "descriptor",
        "cofType",
    },
    "CustomerRequest": {"merchant", "custom"},
    "CardOrBank": {"method", "number", "routing", "cvv"},
    "TokenRequest": {"customer", "payment", "expiration"},
    # Boarding carries the practice's business data and its owners' KYC data, never a patient's.
    "MemberRequest": {"first", "last", "title", "dob", "timezone", "ownership", "email", "ssn", "primary"},
    "BankAccountDetails": {"method", "number", "routing"},
    "AccountRequest": {"primary", "account", "currency"},
    "MerchantRequest": {
        "mcc",
        "dba",
        "new",
        "established",
        "annualCCSales",
        "avgTicket",
        "environment",
        "status",
        "members",
    },
    "EntityRequest": {
        "login",
        "type",
        "name",
        "address1",
        "city",
        "state",
        "zip",
        "country",
        "phone",
        "email",
        "ein",
        "website",
        "clientIp",
        "timezone",
        "tcVersion",
        "tcAcceptDate",
        "tcAcceptIp",
        "merchant",
        "accounts",
    },
    "AlertTriggerRequest": {"event", "resource"},
    "AlertActionRequest": {"type", "value", "options", "headerName", "headerValue", "retries"},
    "AlertRequest": {"login", "name", "description", "forlogin", "team", "division", "alertTriggers", "alertActions"},
}
PAYMENT_MODELS = (TxnRequest, CustomerRequest, TokenRequest, CardOrBank)
PHI_FIELDS = (
    "first",
    "last",
    "name",
    "dob",
    "birthDate",
    "email",
    "phone",
    "address1",
    "city",
    "zip",
    "company",
    "diagnosis",
    "icd10",
    "cpt",
    "cptCode",
    "lineItems",
    "memo",
    "notes",
    "custom1",
    "shippingFirst",
)


def _outbound_models() -> dict[str, type[BaseModel]]:
    return {
        name: obj
        for name, obj in vars(outbound).items()
        if isinstance(obj, type) and issubclass(obj, Outbound) and obj is not Outbound
    }


def test_every_outbound_field_is_on_the_reviewed_allow_list():
    models = _outbound_models()
    assert set(models) == set(ALLOWED)
    for name, model in models.items():
        assert set(model.model_fields) == ALLOWED[name], name
        assert model.model_config["extra"] == "forbid", name


@pytest.mark.parametrize("model", PAYMENT_MODELS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("phi_field", PHI_FIELDS)
def test_payment_payloads_have_no_place_for_patient_data(model, phi_field):
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        model.model_validate({phi_field: "Jane Doe"})


@given(text=st.text(min_size=1, max_size=60))
def test_txn_description_is_only_ever_a_generic_phrase(text):
    if text in outbound.GENERIC_DESCRIPTIONS:
        return
    with pytest.raises(ValidationError):
        TxnRequest(type=TxnType.CARD_SALE, description=text)


@given(text=st.text(alphabet=st.characters(codec="ascii"), min_size=1, max_size=40))
def test_order_and_customer_reference_accept_only_our_opaque_ids(text):
    looks_like_our_id = OPAQUE.fullmatch(text) is not None
    for build in (
        lambda: TxnRequest(type=TxnType.CARD_SALE, order=text),
        lambda: CustomerRequest(merchant=MERCHANT, custom=text),
    ):
        if looks_like_our_id:
            build()
        else:
            with pytest.raises(ValidationError):
                build()


@pytest.mark.parametrize(
    "text", ["Office visit 99213", "Jane Doe", "J45.909 asthma", "DOB 1980-01-02", "jane@example.com", "MRN 12345"]
)
def test_clinical_or_personal_text_is_refused_everywhere_it_could_go(text):
    for build in (
        lambda: TxnRequest(type=TxnType.CARD_SALE, description=text),
        lambda: TxnRequest(type=TxnType.CARD_SALE, order=text),
        lambda: CustomerRequest(merchant=MERCHANT, custom=text),
    ):
        with pytest.raises(ValidationError):
            build()


def test_credentials_and_numbers_stay_out_of_reprs():
    from practicepay.splash.models import Token

    shown = " ".join(
        [
            repr(Token(id="t1_tok_1", token=TOKEN)),
            str(Token(id="t1_tok_1", token=TOKEN)),
            repr(CardOrBank(number="4242424242424242", cvv="123")),
            repr(TxnRequest(type=TxnType.CARD_SALE, token=TOKEN)),
            repr(outbound.AlertActionRequest(value="https://h.example/x", headerName="X-Hook", headerValue="s" * 20)),
        ]
    )
    assert TOKEN not in shown and "4242424242424242" not in shown and "123" not in shown and "s" * 20 not in shown


def test_raw_numbers_are_only_sent_to_a_sandbox_host():
    production = SplashClient("payrix", lambda: API_KEY, session=requests.Session())
    body = TokenRequest(
        customer="t1_cus_0000000000000000000000a", payment=CardOrBank(number="4242424242424242"), expiration="1230"
    )
    with pytest.raises(PermissionError):
        production.tokenize(body)
    assert SplashClient("http://127.0.0.1:3001", lambda: API_KEY).is_sandbox
    assert not production.is_sandbox


def test_api_key_and_token_never_reach_the_logs(caplog):
    from practicepay.observability import logger

    adapter = Scripted((200, fixture("txn_sale_approved")))
    c, _ = client(adapter)
    previous = logger.log_level
    logger.setLevel("DEBUG")
    try:
        with caplog.at_level(logging.DEBUG):
            logger.addHandler(caplog.handler)
            c.txn(sale(), request_token="pay_01m8d3e71x1f54advrsjttapa5")
    finally:
        logger.removeHandler(caplog.handler)
        logger.setLevel(previous)
    logged = caplog.text + json.dumps([r.__dict__ for r in caplog.records], default=str)
    assert "splash call" in logged and "*****" in logged  # the body was logged, masked
    assert API_KEY not in logged
    assert TOKEN not in logged


def test_each_charge_kind_has_its_stored_credential_type():
    """The txn's `cofType` (official SDK values: single, scheduled, unscheduled, installment)."""
    from practicepay.payments.models import PaymentRecord

    def payment(kind: str, installment: str | None) -> PaymentRecord:
        ref = {"id": installment, "attempt": 1, "on": "2026-12-01"} if installment else None
        return PaymentRecord("prc", "pay_1", "inv_1", "pat_1", "pm_1", kind, 100, "pending", "t", "t", installment=ref)

    assert payment("card", None).stored_credential_type() == "single"
    assert payment("card", "pln_01m8t0qnsg00000000000000.002").stored_credential_type() == "installment"
    assert payment("card", "sub_01m8t0qnsg00000000000000.007").stored_credential_type() == "scheduled"
    assert payment("bank_account", "pln_01m8t0qnsg00000000000000.002").stored_credential_type() is None
