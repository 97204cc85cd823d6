"""Money movement ledger: the `entries` a captured card sale makes, and the `fees` configurations they cite.

Issue #19 contract (ADR 0004, "Ledger entries"): entries are made as money moves, at the midnight batch that
captures a card sale, settles a card refund or an eCheck, or books a bank return. Each midnight then pays
out the entries of the days before in one disbursement per entity. Chargebacks book their own entries
(local/sandbox/disputes.py)."""

from __future__ import annotations

from local.sandbox.settings import SandboxSettings
from local.sandbox.store import Record, Store, stamp
from local.sandbox.tables import TxnType

CAPTURE_EVENT = 7  # [S EntryEvent] 7 CAPTURE; also the card processing fee's schedule
REFUND_EVENT = 8  # [S EntryEvent] 8 REFUND
ECSALE_EVENT, ECREFUND_EVENT, ECRETURN_EVENT = 21, 22, 23  # [S EntryEvent]
CARD_FEE, ECHECK_FEE = "card", "echeck"


def card_captured(store: Store, settings: SandboxSettings, txn: Record) -> None:
    """A card sale or capture just captured: +approved to the merchant and its processing fee, −(bps + fixed)."""
    entity = _entity(store, txn)
    approved = int(txn["approved"] or 0)
    _entry(store, entity, txn, CAPTURE_EVENT, approved, "Capture")
    fee = round(settings.card_fee_bps * approved / 10000) + settings.card_fee_fixed
    fee_id = _fee_config(store, settings, entity, CARD_FEE)["id"]
    _entry(store, entity, txn, CAPTURE_EVENT, -fee, "Card processing fee", fee=fee_id)


def card_refund_settled(store: Store, txn: Record) -> None:
    """[contract #19] A card refund debits the merchant, event 8 REFUND. A refund is answered already captured
    (recorded), so the sandbox books it at the midnight batch that settles it; no fee on it (sandbox choice)."""
    _entry(store, _entity(store, txn), txn, REFUND_EVENT, -int(txn["approved"] or 0), "Refund")


def echeck_settled(store: Store, settings: SandboxSettings, txn: Record) -> None:
    """[contract #19] An eCheck sale settled: event 21 ECSALE +amount and its fee, −bps capped at
    `echeck_fee_cap` cents; an eCheck refund settled: event 22 ECREFUND −amount, no fee (sandbox choice).
    A redeposit (type 11) books nothing yet: the contract names no event for it."""
    entity = _entity(store, txn)
    amount = int(txn["approved"] or 0)
    if txn["type"] == TxnType.ECHECK_REFUND:
        _entry(store, entity, txn, ECREFUND_EVENT, -amount, "eCheck refund")
    elif txn["type"] == TxnType.ECHECK_SALE:
        _entry(store, entity, txn, ECSALE_EVENT, amount, "eCheck sale")
        fee = min(round(settings.echeck_fee_bps * amount / 10000), settings.echeck_fee_cap)
        fee_id = _fee_config(store, settings, entity, ECHECK_FEE)["id"]
        _entry(store, entity, txn, ECSALE_EVENT, -fee, "eCheck processing fee", fee=fee_id)


def echeck_returned(store: Store, txn: Record) -> None:
    """[contract #19] A bank return takes the settled sale back: event 23 ECRETURN −amount, txn = the sale."""
    _entry(store, _entity(store, txn), txn, ECRETURN_EVENT, -int(txn["approved"] or 0), "eCheck return")


def _entity(store: Store, txn: Record) -> str | None:
    return (store.get("merchants", txn["merchant"]) or {}).get("entity")


def _entry(
    store: Store, entity: str | None, txn: Record, event: int, cents: int, text: str, fee: str | None = None
) -> Record:
    """[S entries-response] `amount` is a float of cents (as recorded for disbursementEntries), signed for the
    merchant: + credits, − debits ([contract #19]; shapes.md marks the sign an inference)."""
    return store.insert(
        "entries",
        {
            "entity": entity,
            "onentity": entity,
            "fromentity": None,
            "txn": txn["id"],
            "chargeback": None,
            "fee": fee,
            "disbursement": None,
            "event": event,
            "eventId": txn["id"],
            "description": text,
            "amount": float(cents),
            "isFee": int(fee is not None),
            "pending": 0,
            "opposingEntry": None,
            "fund": None,
            "_day": store.today,
        },
    )


def _fee_config(store: Store, settings: SandboxSettings, entity: str | None, kind: str) -> Record:
    """The merchant's fee configuration of a kind, made on first use [S fees-response]: um 1 (bps), the
    schedule being the entry event it charges on (7 card capture, 21 eCheck sale)."""
    found = next((f for f in store.rows("fees") if f["forentity"] == entity and f["_kind"] == kind), None)
    if found:
        return found
    if kind == CARD_FEE:
        name, schedule, bps = "Card processing", CAPTURE_EVENT, settings.card_fee_bps
        text = f"{bps} bps + {settings.card_fee_fixed} cents per card capture"
    else:
        name, schedule, bps = "eCheck processing", ECSALE_EVENT, settings.echeck_fee_bps
        text = f"{bps} bps per eCheck sale, at most {settings.echeck_fee_cap} cents"
    return store.insert(
        "fees",
        {
            "entity": entity,
            "forentity": entity,
            "type": 1,
            "name": name,
            "description": text,
            "schedule": schedule,
            "um": 1,
            "amount": float(bps),
            "currency": "USD",
            "collection": 1,
            "txnFee": 1,
            "_kind": kind,
        },
    )


def chargeback_fee_config(store: Store, entity: str | None, cents: int) -> Record:
    """The merchant's chargeback fee configuration (schedule 11 CHARGEBACK, um 2: actual cents), on first use."""
    found = next((f for f in store.rows("fees") if f["forentity"] == entity and f["_kind"] == "chargeback"), None)
    return found or store.insert(
        "fees",
        {
            "entity": entity,
            "forentity": entity,
            "type": 1,
            "name": "Chargeback",
            "description": f"{cents} cents per chargeback",
            "schedule": 11,
            "um": 2,
            "amount": float(cents),
            "currency": "USD",
            "collection": 1,
            "txnFee": 0,
            "_kind": "chargeback",
        },
    )


def disburse(store: Store) -> None:
    """[contract #19] The end of a midnight: move earlier disbursements on (1 requested → 2 processing →
    3 processed), then pay out each entity's undisbursed entries made before today in one disbursement whose
    amount is their sum. A zero sum makes none; a negative one debits the bank account."""
    for record in store.rows("disbursements"):
        if record["status"] == 1:
            store.update("disbursements", record, {"status": 2})
        elif record["status"] == 2:
            done = {"status": 3, "processed": stamp(store.clock.now)[:19], "fundingStatus": "processed"}
            store.update("disbursements", record, done)
    owed: dict[str | None, list[Record]] = {}
    for entry in store.rows("entries"):
        if entry["disbursement"] is None and not entry["pending"] and entry["_day"] < store.today:
            owed.setdefault(entry["entity"], []).append(entry)
    for entity, entries in owed.items():
        total = round(sum(e["amount"] for e in entries))
        if total:
            _disbursement(store, entity, entries, total)


def _disbursement(store: Store, entity: str | None, entries: list[Record], total: int) -> None:
    payout = _payout(store, entity)
    account = next((a for a in store.rows("accounts") if a["entity"] == entity and a["primary"]), None)
    record = store.insert(
        "disbursements",
        {
            "entity": entity,
            "account": account["id"] if account else None,
            "payout": payout["id"],
            "description": f"Disbursement for payout {payout['id']}",
            "amount": total,
            "returnedAmount": 0,
            "status": 1,
            "currency": "USD",
            "fundingStatus": "pending",
            "disbursementEntriesStatus": "processed",
            "processed": None,
            "sameDay": 0,
        },
    )
    for entry in entries:
        store.update("entries", entry, {"disbursement": record["id"]})
        store.insert(
            "disbursementEntries",
            {
                "disbursement": record["id"],
                "entry": entry["id"],
                "event": entry["event"],
                "eventId": entry["eventId"],
                "amount": entry["amount"],
                "amountUsed": entry["amount"],
                "description": entry["description"],
            },
        )


def _payout(store: Store, entity: str | None) -> Record:
    """The entity's daily payout schedule (schedule 1), made on its first disbursement (sandbox choice)."""
    found = next((p for p in store.rows("payouts") if p["entity"] == entity), None)
    return found or store.insert("payouts", {"entity": entity, "account": None, "schedule": 1, "currency": "USD"})
