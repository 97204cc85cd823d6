"""The sandbox's ledger (issue #19): a card capture makes its entries and fee, they parse with our client models,
and they survive the local stack's state file."""

from __future__ import annotations

from pathlib import Path

import pytest

from local.sandbox.server import SplashSandbox
from shared.practicepay.splash.models import Disbursement, DisbursementEntry, Entry
from tests.integration.sandbox_kit import SplashApi, fast_settings, sandbox, splash

__all__ = ["sandbox", "splash"]
pytestmark = pytest.mark.integration


def test_card_capture_makes_a_capture_entry_and_its_fee(splash: SplashApi) -> None:
    payer = splash.payer()
    sale = payer.sale(total=10000)
    assert splash.rows("entries", f"txn[equals]={sale['id']}") == []
    splash.advance(days=1)
    entries = splash.rows("entries", f"txn[equals]={sale['id']}")
    by_fee = {e["isFee"]: e for e in entries}
    assert len(entries) == 2
    assert by_fee[0]["event"] == 7 and by_fee[0]["amount"] == 10000.0 and by_fee[0]["eventId"] == sale["id"]
    assert by_fee[1]["event"] == 7 and by_fee[1]["amount"] == -(290 + 30)
    assert by_fee[0]["disbursement"] is None
    fee = splash.get("fees", by_fee[1]["fee"])
    assert fee["schedule"] == 7 and fee["um"] == 1 and fee["forentity"] == by_fee[0]["entity"]
    merchant = splash.get("merchants", payer.merchant)
    assert {e["entity"] for e in entries} == {merchant["entity"]}
    parsed = [Entry.model_validate(e) for e in entries]
    assert sorted(p.amount for p in parsed) == [-320, 10000]


def test_a_second_sale_reuses_the_fee_configuration(splash: SplashApi) -> None:
    payer = splash.payer()
    payer.sale(total=1000)
    payer.sale(total=2000)
    splash.advance(days=1)
    assert len(splash.rows("fees")) == 1
    fees = sorted(e["amount"] for e in splash.rows("entries") if e["isFee"])
    assert fees == [-88.0, -59.0]  # 290 bps of 2000 = 58 + 30; of 1000 = 29 + 30


def test_entries_survive_the_state_file(tmp_path: Path) -> None:
    first = SplashSandbox(fast_settings())
    handle = first.serve("127.0.0.1", 0)
    try:
        api = SplashApi(f"http://127.0.0.1:{handle.port}")
        api.payer().sale(total=5000)
        api.advance(days=1)
        before = api.rows("entries")
        first.save_state(tmp_path)
    finally:
        handle.shutdown()
    second = SplashSandbox(fast_settings())
    assert second.load_state(tmp_path)
    handle = second.serve("127.0.0.1", 0)
    try:
        after = SplashApi(f"http://127.0.0.1:{handle.port}").rows("entries")
    finally:
        handle.shutdown()
    assert sorted(e["id"] for e in after) == sorted(e["id"] for e in before) and len(after) == 2


def test_a_captured_refund_debits_the_merchant_without_a_fee(splash: SplashApi) -> None:
    payer = splash.payer()
    sale = payer.sale(total=4000)
    splash.advance(days=1)
    refund = payer.then(5, sale["id"], total=1500)
    splash.advance(days=1)
    (entry,) = splash.rows("entries", f"txn[equals]={refund['id']}")
    assert (entry["event"], entry["amount"], entry["isFee"], entry["eventId"]) == (8, -1500.0, 0, refund["id"])
    assert Entry.model_validate(entry).amount == -1500


def test_echeck_sale_its_fee_its_refund_and_a_return(splash: SplashApi) -> None:
    payer = splash.payer()
    sale = payer.echeck(total=100000)
    returned = payer.echeck(number="9990000001", total=2500)  # R01 two days after the sale
    splash.advance(days=1)
    credit, fee = sorted(splash.rows("entries", f"txn[equals]={sale['id']}"), key=lambda e: e["isFee"])
    assert (credit["event"], credit["amount"], fee["event"], fee["isFee"]) == (21, 100000.0, 21, 1)
    assert fee["amount"] == -500.0  # 80 bps of 1000.00 is 800, capped at 500
    assert splash.get("fees", fee["fee"])["schedule"] == 21
    refund = payer.then(8, sale["id"], total=3000)
    splash.advance(days=2)
    (debit,) = splash.rows("entries", f"txn[equals]={refund['id']}")
    assert (debit["event"], debit["amount"], debit["isFee"]) == (22, -3000.0, 0)
    back = [e for e in splash.rows("entries", f"txn[equals]={returned['id']}") if e["event"] == 23]
    assert [(e["amount"], e["isFee"]) for e in back] == [(-2500.0, 0)]
    assert all(Entry.model_validate(e).amount is not None for e in splash.rows("entries"))


def test_the_next_midnight_disburses_the_entries_and_moves_the_status_on(splash: SplashApi) -> None:
    payer = splash.payer()
    sale = payer.sale(total=12345)
    splash.advance(days=1)  # captured: the entries are made at this midnight
    assert splash.rows("disbursements") == []
    splash.advance(days=1)
    (disbursement,) = splash.rows("disbursements")
    parts = splash.rows("disbursementEntries", f"disbursement[equals]={disbursement['id']}")
    entries = splash.rows("entries", f"txn[equals]={sale['id']}")
    assert disbursement["amount"] == round(sum(p["amount"] for p in parts)) == 12345 - (358 + 30)
    assert {p["entry"] for p in parts} == {e["id"] for e in entries}
    assert {e["disbursement"] for e in entries} == {disbursement["id"]}
    assert (disbursement["status"], disbursement["fundingStatus"], disbursement["processed"]) == (1, "pending", None)
    assert splash.get("payouts", disbursement["payout"])["schedule"] == 1
    Disbursement.model_validate(disbursement)
    assert all(DisbursementEntry.model_validate(p).amount is not None for p in parts)
    splash.advance(days=1)
    assert splash.get("disbursements", disbursement["id"])["status"] == 2
    splash.advance(days=1)
    done = splash.get("disbursements", disbursement["id"])
    assert (done["status"], done["fundingStatus"]) == (3, "processed") and done["processed"]
    assert len(splash.rows("disbursements")) == 1  # nothing new to pay out
