"""Dispute rules (pure): Splash's chargeback states → our status and money, the ledger keys that make each debit
and restore once, the due-soon rule and the note screen."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from practicepay.disputes.models import (
    DisputeRecord,
    DisputeStatus,
    debits,
    dispute_id,
    followed,
    same_facts,
    screen_note,
    splash_date,
    status_for,
)
from practicepay.payments.book import fact
from practicepay.splash.models import Chargeback

pytestmark = pytest.mark.unit

CHB = "t1_chb_6616a9de06fd751e5ae91e5"


def chargeback(**fields) -> Chargeback:
    base = {"id": CHB, "merchant": "t1_mer_65f097a2848a4ceae39b6ee", "txn": "t1_txn_6616a925e796be0ebf69dd9"}
    return Chargeback.model_validate(
        {**base, "total": 20000, "cycle": "first", "status": "open", "reply": 20241231, **fields}
    )


def record(**fields) -> DisputeRecord:
    base = DisputeRecord(
        practice_id="prac",
        id=dispute_id(CHB),
        splash_chargeback_id=CHB,
        payment_id="pay_x",
        invoice_id="inv_x",
        patient_id="pat_x",
        splash_txn_id="t1_txn_6616a925e796be0ebf69dd9",
        amount=20000,
        status="needs_response",
        splash_status="open",
        created_at="2026-12-01T00:00:00.000Z",
        updated_at="2026-12-01T00:00:00.000Z",
    )
    return replace(base, **fields)


def test_one_dispute_per_chargeback_whoever_reads_it():
    assert dispute_id(CHB) == dispute_id(CHB) != dispute_id(CHB[:-1] + "6")
    assert dispute_id(CHB).startswith("dsp_") and len(dispute_id(CHB)) == 30


@pytest.mark.parametrize(
    ("splash", "responded", "ours"),
    [
        ("open", False, DisputeStatus.NEEDS_RESPONSE),
        ("open", True, DisputeStatus.UNDER_REVIEW),
        ("closed", True, DisputeStatus.UNDER_REVIEW),  # represent → closed (recorded): awaiting the issuer
        ("closed", False, DisputeStatus.CLOSED),
        ("won", True, DisputeStatus.WON),
        ("lost", False, DisputeStatus.LOST),
        (None, False, DisputeStatus.NEEDS_RESPONSE),
    ],
)
def test_our_status_follows_splash_and_the_practice_answer(splash, responded, ours):
    assert status_for(splash, responded) is ours


@pytest.mark.parametrize(
    ("status", "cycle", "debited"),
    [
        (DisputeStatus.NEEDS_RESPONSE, "first", True),
        (DisputeStatus.NEEDS_RESPONSE, "retrieval", False),  # an inquiry moves no money
        (DisputeStatus.UNDER_REVIEW, "first", True),
        (DisputeStatus.WON, "first", False),
        (DisputeStatus.LOST, "first", True),
        (DisputeStatus.LOST, "retrieval", True),
        (DisputeStatus.CLOSED, "first", True),
    ],
)
def test_the_practice_is_out_of_the_money_in_every_state_but_won_and_an_open_retrieval(status, cycle, debited):
    assert debits(status, cycle) is debited


def test_a_new_chargeback_debits_and_a_win_restores():
    new = record(version=0)
    opened = followed(new, chargeback(), "now")
    assert opened.debited and new.money_move(opened) == "debit"
    assert opened.reply_by == "2024-12-31" and opened.cycle == "first"
    won = followed(replace(opened, debit_count=1), chargeback(status="won"), "later")
    assert won.status == "won" and not won.debited and opened.money_move(won) == "restore"


def test_reading_the_same_chargeback_again_changes_nothing():
    once = followed(record(), chargeback(), "t1")
    twice = followed(once, chargeback(), "t2")
    assert same_facts(once, twice) and once.money_move(twice) is None


def test_a_stale_open_read_never_reopens_a_decided_dispute_but_a_new_cycle_does():
    won = record(status="won", splash_status="won", cycle="first", debited=False, debit_count=1)
    stale = followed(won, chargeback(status="open"), "t")
    assert stale.status == "won" and not stale.debited
    pre_arb = followed(won, chargeback(status="open", cycle="preArbitration"), "t")
    assert pre_arb.status == "needs_response" and pre_arb.debited and won.money_move(pre_arb) == "debit"


def test_a_retrieval_request_becomes_a_debit_when_it_turns_into_a_chargeback():
    inquiry = followed(record(), chargeback(cycle="retrieval"), "t")
    assert not inquiry.debited and inquiry.status == "needs_response"
    first = followed(inquiry, chargeback(cycle="first"), "t")
    assert first.debited and inquiry.money_move(first) == "debit"


def test_an_answer_counts_for_its_own_cycle_only():
    answered = record(response={"cycle": "first"}, responded_at="t", status="under_review")
    assert followed(answered, chargeback(), "t").status == "under_review"
    assert answered.answered("first") and not answered.answered("preArbitration")


def test_each_debit_and_restore_has_its_own_ledger_key():
    entry = {"type": "chargeback", "splash_chargeback_id": CHB, "splash_txn_id": "t1_txn_x", "sequence": 1}
    assert fact(entry) == f"chargeback#{CHB}"
    assert fact({**entry, "sequence": 2}) == f"chargeback#{CHB}#2"
    assert fact({**entry, "type": "chargeback_reversal"}) == f"chargeback_reversal#{CHB}"
    assert fact({"type": "charge", "splash_txn_id": "t1_txn_x"}) == "charge#t1_txn_x"


def test_fees_are_splash_entries_signed_and_the_view_shows_what_the_practice_is_out_of():
    debited = record(fees={"t1_etr_a": -3000}, debited=True, debit_count=1)
    assert debited.fee == 3000 and debited.view().fee == 3000 and debited.view().money == "debited"
    reversed_ = replace(debited, fees={"t1_etr_a": -3000, "t1_etr_b": 3000}, debited=False)
    assert reversed_.fee == 0 and reversed_.view().money == "restored"


@pytest.mark.parametrize(
    ("reply_by", "today", "due"),
    [
        ("2026-12-10", date(2026, 12, 7), True),
        ("2026-12-10", date(2026, 12, 6), False),
        ("2026-12-01", date(2026, 12, 7), True),
    ],
)
def test_due_soon_within_three_days_of_the_deadline_once(reply_by, today, due):
    assert record(reply_by=reply_by).due_soon(today) is due
    assert not record(reply_by=reply_by, due_soon_at="x").due_soon(today)
    assert not record(reply_by=reply_by, status="under_review").due_soon(today)


@pytest.mark.parametrize(
    ("value", "iso"), [(20241231, "2024-12-31"), ("20240409", "2024-04-09"), (None, None), (20241340, None), ("", None)]
)
def test_splash_dates(value, iso):
    assert splash_date(value) == iso


@pytest.mark.parametrize(
    ("note", "problem"),
    [
        ("The cardholder authorized the card on file and received a receipt.", None),
        ("Maria authorized it.", "names the patient"),
        ("LOPEZ signed the consent.", "names the patient"),
        ("Marianne signed the consent.", None),  # a name is a whole word
        ("Visit for E11.9 follow-up.", "carries what looks like a diagnosis code"),
        ("Procedure 99213 was performed.", "carries what looks like a procedure code"),
        ("Write to billing@example.com.", "carries an e-mail address"),
        ("Call 217-555-0199.", "carries a phone number"),
        ("Receipt sent on 2026-11-03 for $180.00, card ending 4242.", None),
    ],
)
def test_a_note_that_could_carry_phi_is_refused(note, problem):
    assert screen_note(note, ["Maria", "Lopez"]) == problem
