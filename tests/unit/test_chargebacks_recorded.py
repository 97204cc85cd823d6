"""The chargeback family as Payrix really answers it (tests/fixtures/splash/recorded/chargeback*.json: verbatim
bodies recorded from Payrix's test API, kept by outlawpractice/payrix-rs): every record parses with our models, and
our dispute rules read the recorded lifecycles as splash-api.md §10 says they must. The three recorded chargebacks:
one the merchant represented (its `represent` message made the `closed` status row: Splash's `closed` while the
issuer decides), one answered with `respondToDispute` and still `open`, one whose liability was accepted (`lost`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from practicepay.disputes.models import DisputeStatus, debits, followed, splash_date, status_for
from practicepay.splash.client import parse_envelope, parse_record
from practicepay.splash.models import Chargeback, ChargebackDocument, ChargebackMessage, ChargebackStatus, Record
from tests.unit.test_disputes import record

pytestmark = pytest.mark.unit
RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "splash" / "recorded"
FAMILY = (
    ("chargebacks", Chargeback, 3),
    ("chargebackMessages", ChargebackMessage, 4),
    ("chargebackStatuses", ChargebackStatus, 14),
    ("chargebackDocuments", ChargebackDocument, 1),
)
ANSWERS = ("represent", "respondToDispute")
"""The message types that answer a chargeback (the SDK's chargebackMessage types; `acceptLiability` concedes it)."""


def body(name: str) -> dict[str, Any]:
    fixture = json.loads((RECORDED / f"{name}.json").read_text())
    source = fixture.pop("_source")
    assert source["repo"] == "outlawpractice/payrix-rs" and len(source["commit"]) == 40, name
    assert source["path"] == f"crates/payrix/tests/mock_data/{name}.json", name
    return fixture


def records(name: str, model: type[Record]) -> list[Any]:
    envelope = parse_envelope(200, body(name))
    assert not envelope.errors, name
    return [parse_record(model, data, path=name) for data in envelope.data]


@pytest.mark.parametrize(("name", "model", "count"), FAMILY)
def test_every_recorded_record_parses_with_our_model(name, model, count):
    parsed = records(name, model)
    assert len(parsed) == count
    assert all(r.id.startswith(("t1_chb_", "t1_chm_", "t1_chs_", "t1_chd_")) for r in parsed)


def test_the_recorded_chargebacks_carry_what_a_dispute_is_made_of():
    chargebacks = {c.id: c for c in records("chargebacks", Chargeback)}
    assert sorted(c.status for c in chargebacks.values()) == ["closed", "lost", "open"]
    for c in chargebacks.values():
        assert isinstance(c.total, int) and c.total > 0  # integer cents, as recorded
        assert c.txn.startswith("t1_txn_") and c.merchant.startswith("t1_mer_")
        assert splash_date(c.reply) == "2024-12-31" and splash_date(c.issued) is not None
        assert c.cycle == "first" and c.reasonCode


def test_a_status_row_made_by_a_message_belongs_to_the_same_chargeback():
    messages = {m.id: m for m in records("chargebackMessages", ChargebackMessage)}
    made = [s for s in records("chargebackStatuses", ChargebackStatus) if s.chargebackMessage]
    assert len(made) == 3
    for status in made:
        assert messages[status.chargebackMessage].chargeback == status.chargeback
    # The §10 correction our status rule rests on: a `represent` message makes a `closed` row, not a decision.
    by_type = {messages[s.chargebackMessage].type: s.status for s in made}
    assert by_type == {"represent": "closed", "acceptLiability": "lost"}


def test_our_rules_read_each_recorded_lifecycle():
    """Each recorded chargeback, answered when a recorded message answered it, as our dispute after the read."""
    messages = records("chargebackMessages", ChargebackMessage)
    expected = {
        "closed": (DisputeStatus.UNDER_REVIEW, True),  # represented: the issuer decides; the money is still out
        "open": (DisputeStatus.UNDER_REVIEW, True),  # respondToDispute: answered, Splash still says open
        "lost": (DisputeStatus.LOST, True),  # acceptLiability: conceded, not an answer
    }
    for chargeback in records("chargebacks", Chargeback):
        answered = any(m.chargeback == chargeback.id and m.type in ANSWERS for m in messages)
        status, debited = expected[chargeback.status]
        assert status_for(chargeback.status, answered) is status, chargeback.id
        assert debits(status, chargeback.cycle) is debited
        response = {"cycle": chargeback.cycle} if answered else None
        after = followed(record(splash_chargeback_id=chargeback.id, response=response), chargeback, "2026-12-03")
        assert (after.status, after.amount, after.reply_by) == (status.value, chargeback.total, "2024-12-31")
        assert after.debited is debited and after.reason_code == chargeback.reasonCode


def test_unanswered_the_represented_chargeback_would_be_closed_and_the_open_one_needs_a_response():
    """The same recorded bodies, had the practice not answered through us: `closed` is final, `open` waits."""
    by_status = {c.status: c for c in records("chargebacks", Chargeback)}
    assert status_for(by_status["closed"].status, False) is DisputeStatus.CLOSED
    assert status_for(by_status["open"].status, False) is DisputeStatus.NEEDS_RESPONSE
