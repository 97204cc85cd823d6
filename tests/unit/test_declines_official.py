"""Declines classified from the official bankCode list (Payrix SDK TerminalTxnResultsBankCodeEnum), then the
processor's Vantiv code, then its text (splash-api.md §6.1); and a stop-recurring decline ending autopay."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from local.sandbox.tables import CARD_TRIGGERS
from practicepay.billing.follow import InstallmentFollower, react
from practicepay.billing.models import InstallmentRecord
from practicepay.billing.schedule import RetryPolicy
from practicepay.payments.models import NOT_SUBMITTED, PaymentRecord
from practicepay.splash import declines
from practicepay.splash.declines import classify

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = json.loads((ROOT / "tests/fixtures/splash/recorded/bank_codes.json").read_text())
SDK_CODES: list[str] = FIXTURE["bank_codes"]
SOFT = {"insufficient_funds", "over_limit", "try_again_later"}
NOW = "2027-01-10T14:00:00.000Z"


def _table() -> dict[str, Any]:
    from practicepay.splash.bank_codes import BANK_CODES

    return BANK_CODES


# -- the official list, all of it ------------------------------------------------------------------------------


def test_the_fixture_is_the_sdk_enum_and_names_its_source():
    assert "eventsprout/payrix" in FIXTURE["_source"]
    assert "src/Models/TerminalTxnResultsBankCodeEnum.php" in FIXTURE["_source"]
    assert len(SDK_CODES) == len(set(SDK_CODES)) == FIXTURE["_count"] == 389


def test_the_table_holds_exactly_the_official_bank_codes():
    from practicepay.splash.bank_codes import SOURCE

    table = _table()
    assert sorted(set(SDK_CODES) - set(table)) == []  # a code missing from the table
    assert sorted(set(table) - set(SDK_CODES)) == []  # a code the SDK does not have (invented)
    assert "eventsprout/payrix" in SOURCE and "TerminalTxnResultsBankCodeEnum.php" in SOURCE


@pytest.mark.parametrize("bank_code", SDK_CODES)
def test_every_official_bank_code_classifies(bank_code):
    mapped = _table()[bank_code]
    decline = classify("", None, bank_code)
    if mapped is None:  # not a reason to decline (approved, match, 3-D Secure success): nothing to go on
        assert (decline.category, decline.retryable) == ("generic_decline", False)
        return
    category, retryable = mapped
    assert category in declines.CATEGORIES
    assert retryable is (category in SOFT)
    assert (decline.category, decline.retryable) == (category, retryable)


def test_only_the_generic_codes_are_generic_declines():
    generic = {code for code, mapped in _table().items() if mapped and mapped[0] == "generic_decline"}
    assert generic == {
        "declined",
        "generic_decline",
        "general",
        "general_error",
        "unsuccessful",
        "testmode_decline",
        "no_action_taken",
        "inquiry_declined",
        "not_performed",
        "not_processed",
    }
    not_declines = {code for code, mapped in _table().items() if mapped is None}
    assert all(c.startswith(("approv", "3ds_authentication_successful")) or c in _INFORMATIONAL for c in not_declines)


_INFORMATIONAL = {
    "accepted_but_not_yet_processed",
    "currency_conversion_complete",
    "edit_honor",
    "hold_shipping_for_24h",
    "honor_with_authentication",
    "match",
    "merchant_has_mail_pending",
    "no_messages_pending",
    "no_reason_to_decline",
    "not_lost_or_stolen",
    "partial_reversal",
    "partially_approved",
    "reversal",
    "verification_transaction",
}

# The bankCode examples of splash-api.md §6.1, each with what it must mean.
NAMED = {
    "insufficient_funds": ("insufficient_funds", True),
    "nsf": ("insufficient_funds", True),
    "do_not_honor": ("do_not_honor", False),
    "expired_card": ("expired_card", False),
    "incorrect_cvv": ("cvv_failed", False),
    "invalid_cvv": ("cvv_failed", False),
    "cvv_declined": ("cvv_failed", False),
    "exceeds_limit": ("over_limit", True),
    "amount_limit_exceeded": ("over_limit", True),
    "closed_account": ("account_closed", False),
    "bad_account": ("invalid_card", False),
    "try_again_later": ("try_again_later", True),
    "please_retry": ("try_again_later", True),
    "system_error": ("try_again_later", True),
    "issuer_processor_or_switch_not_available": ("try_again_later", True),
    "stop_recurring_payment_requests": ("stop_recurring", False),
    "revocation_of_authorization": ("stop_recurring", False),
    "hard_capture_pickup_card": ("lost_or_stolen", False),
    "retain_card": ("lost_or_stolen", False),
    "incorrect_number": ("invalid_card", False),
    "undefined_card": ("invalid_card", False),
    "high_risk": ("suspected_fraud", False),
    "unauthorized": ("not_authorized", False),
    "card_not_active": ("restricted_card", False),
    "transaction_not_permitted": ("restricted_card", False),
    "generic_decline": ("generic_decline", False),
}


def test_the_named_examples_are_official_codes():
    assert len(NAMED) == 26 and set(NAMED) <= set(SDK_CODES)


@pytest.mark.parametrize(("bank_code", "expected"), NAMED.items())
def test_the_named_bank_codes(bank_code, expected):
    decline = classify("Declined", "350", bank_code)
    assert (decline.category, decline.retryable) == expected
    assert decline.bank_code == bank_code and decline.processor_code == "350"


def test_every_category_is_in_the_event_schemas_and_none_is_a_not_submitted_one():
    common = json.loads((ROOT / "docs/events/common.json").read_text())["$defs"]
    assert set(common["payment_failure_category"]["enum"]) == declines.CATEGORIES | NOT_SUBMITTED
    assert set(common["installment_failure_category"]["enum"]) >= declines.CATEGORIES
    # a decline Splash processed is never mistaken for an attempt it never received (sent again, same token)
    assert not declines.CATEGORIES & NOT_SUBMITTED
    assert {m[0] for m in _table().values() if m} <= declines.CATEGORIES


# -- the processor's code, then its text -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["Re-submit Transaction", "System Error", "Soft Decline - Primary Funding Source Failed"]
)
def test_the_sandbox_texts_that_were_misread_are_soft(text):
    decline = classify(text)
    assert (decline.category, decline.retryable) == ("try_again_later", True)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("328", ("stop_recurring", False)),
        ("349", ("do_not_honor", False)),
        ("361", ("invalid_request", False)),
        ("362", ("invalid_request", False)),
        ("365", ("invalid_request", False)),
        ("100", ("try_again_later", True)),
        ("101", ("try_again_later", True)),
        ("102", ("try_again_later", True)),
        ("252", ("try_again_later", True)),
        ("110", ("insufficient_funds", True)),
        ("127", ("over_limit", True)),
        ("601", ("try_again_later", True)),
    ],
)
def test_the_processor_code_decides_when_the_bank_code_says_nothing(code, expected):
    for bank in (None, "", "declined", "generic_decline", "approved", "not_a_payrix_code"):
        decline = classify("Declined", code, bank)
        assert (decline.category, decline.retryable) == expected, bank


def test_350_is_generic_and_leaves_the_text_to_speak():
    assert classify("Declined", "350", None).category == "generic_decline"
    assert classify("Corporate customer advises not authorized", "350", None).category == "not_authorized"
    assert classify("Declined", "350", "generic_decline").retryable is False


def test_a_specific_bank_code_wins_over_the_code_and_the_text():
    decline = classify("Do Not Honor", "349", "stop_recurring_payment_requests")
    assert (decline.category, decline.retryable) == ("stop_recurring", False)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("Cardholder requested that recurring or installment payment be stopped", "stop_recurring"),
        ("Stop recurring", "stop_recurring"),
        ("Insufficient Funds", "insufficient_funds"),
        ("Exceeds Approval Amount Limit", "over_limit"),
        ("Processing Network Unavailable", "try_again_later"),
        ("Issuer Unavailable", "try_again_later"),
        ("Do Not Honor", "do_not_honor"),
        ("Decline CVV2/CID Fail", "cvv_failed"),
        ("Invalid Account Number", "invalid_card"),
        ("No such issuer", "invalid_card"),
        ("Declined", "generic_decline"),
    ],
)
def test_the_text_is_the_last_resort(text, category):
    decline = classify(text)
    assert (decline.category, decline.retryable) == (category, category in SOFT)


# -- the sandbox's documented triggers --------------------------------------------------------------------------

TRIGGERS = {
    9587: "generic_decline",
    50001: "over_limit",
    50004: "insufficient_funds",
    50013: "not_authorized",
    84800: "try_again_later",
    84801: "try_again_later",
    84802: "try_again_later",
    84803: "call_issuer",
    84804: "invalid_request",
    84805: "try_again_later",
    84806: "restricted_card",
    84807: "restricted_card",
    84808: "restricted_card",
    84809: "duplicate_transaction",
    84810: "try_again_later",
    84811: "try_again_later",
    84812: "lost_or_stolen",
    84813: "expired_card",
    84814: "restricted_card",
    84815: "invalid_card",
    84816: "restricted_card",
    84817: "restricted_card",
    84818: "stop_recurring",
    84819: "do_not_honor",
    84820: "verification_failed",
    84821: "try_again_later",
    84822: "try_again_later",
}


def test_the_sandbox_has_every_documented_848_trigger():
    assert set(TRIGGERS) <= set(CARD_TRIGGERS)
    assert set(range(84800, 84823)) <= set(CARD_TRIGGERS)


@pytest.mark.parametrize(("total", "category"), TRIGGERS.items())
def test_each_sandbox_trigger_classifies_the_same_from_its_codes_and_from_its_text_alone(total, category):
    result = CARD_TRIGGERS[total]
    assert result.bank_code in SDK_CODES  # an official bankCode, never an invented one
    for decline in (classify(result.message, result.original_code, result.bank_code), classify(result.message)):
        assert (decline.category, decline.retryable) == (category, category in SOFT)


# -- a stop-recurring decline ends autopay ---------------------------------------------------------------------


def _installment(**changes: Any) -> InstallmentRecord:
    base = InstallmentRecord(
        practice_id="prc_a",
        owner_id="pln_01",
        seq=1,
        invoice_id="inv_01",
        patient_id="pat_01",
        amount=10_000,
        due_on="2027-01-10",
        status="processing",
        policy=RetryPolicy().to_record(),
        created_at=NOW,
        updated_at=NOW,
        attempts=1,
        first_attempt_on="2027-01-10",
        attempted_on="2027-01-10",
        payment_id="pay_01",
    )
    return replace(base, **changes)


def _payment(status: str, **changes: Any) -> PaymentRecord:
    base = PaymentRecord(
        practice_id="prc_a",
        id="pay_01",
        invoice_id="inv_01",
        patient_id="pat_01",
        payment_method_id="pm_01",
        method_kind="card",
        amount=10_000,
        status=status,
        created_at=NOW,
        updated_at=NOW,
        installment={"id": "pln_01.001", "attempt": 1, "on": "2027-01-10"},
    )
    return replace(base, **changes)


def _failure(decline) -> dict[str, Any]:
    return {"category": decline.category, "processor_text": decline.processor_text, "retryable": decline.retryable}


def test_a_stop_recurring_decline_is_past_due_at_once_even_if_marked_retryable():
    failure = {
        **_failure(classify("Cardholder requested that recurring or instalment payment be stopped")),
        "retryable": True,
    }
    after, events = react(_installment(), _payment("pending"), _payment("failed", failure=failure), NOW)
    assert (after.status, after.next_attempt_on, after.failure["will_retry"]) == ("past_due", None, False)
    assert after.failure["category"] == "stop_recurring"
    assert [e[0] for e in events] == ["installment.failed", "invoice.past_due"]


class _Schedules:
    def __init__(self, inst: InstallmentRecord):
        self.inst, self.put = inst, []

    def get_installment(self, practice_id: str, inst_id: str) -> InstallmentRecord:
        return self.inst

    def put_installment(self, tx, inst: InstallmentRecord, *, expected_version: int) -> None:
        self.put.append(inst)


class _Patients:
    def __init__(self):
        self.blocked: list[tuple[str, str, str]] = []

    def block_method(self, tx, practice_id: str, method_id: str, reason: str) -> None:
        self.blocked.append((practice_id, method_id, reason))


@pytest.mark.parametrize(
    ("decline", "blocks"),
    [
        (classify("Declined", "328", None), True),
        (classify("Declined", "350", "revocation_of_authorization"), True),
        (classify("Declined", "350", "stop_recurring_payment_requests"), True),
        (classify("Issuer Unavailable", "101", "issuer_not_available"), False),
        (classify("Lost/Stolen Card", "304", "lost_card"), False),
    ],
)
def test_the_follower_blocks_the_card_in_the_same_transaction_only_for_stop_recurring(decline, blocks):
    schedules, patients = _Schedules(_installment()), _Patients()
    follower = InstallmentFollower(schedules, patients)  # type: ignore[arg-type]
    follower(_payment("pending"), _payment("failed", failure=_failure(decline)), object(), NOW, lambda *_: None)
    (written,) = schedules.put
    if blocks:
        assert patients.blocked and patients.blocked[0][:2] == ("prc_a", "pm_01")
        assert patients.blocked[0][2].startswith("stop_recurring")
        assert written.status == "past_due"
    else:
        assert patients.blocked == []
