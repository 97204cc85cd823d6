"""The txn state machine (ADR 0004 "Sandbox state rules"): creating every txn type with its rules, the
sandbox trigger declines, and what each day boundary does: card batches, eCheck settlement and funding,
bank returns of the test accounts, and boarding."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from local.sandbox import funds
from local.sandbox.boarding import board
from local.sandbox.errors import Problems, refuse
from local.sandbox.payments import Instrument, is_expired, parse_instrument
from local.sandbox.resources import require, validated
from local.sandbox.settings import SandboxSettings
from local.sandbox.store import Record, Store, from_yyyymmdd, stamp, yyyymmdd
from local.sandbox.tables import (
    APPROVED,
    BANK_TXN_TYPES,
    CARD_STATE_TRIGGERS,
    CARD_TRIGGERS,
    CARD_TYPES,
    CREDIT_OVER_CAPTURE,
    ECHECK_TRIGGERS,
    ECHECK_TYPES,
    EXPIRED_CARD,
    FIRST_SALE_DECLINES,
    FUNDING_BUSINESS_DAYS,
    NACHA_RETURNS,
    NEW_PAYMENT_TYPES,
    REDEPOSIT_ALREADY_PROCESSED,
    REDEPOSIT_MAX,
    REDEPOSIT_NOT_NSF,
    REDEPOSIT_TOO_MANY,
    REDEPOSIT_WINDOW_DAYS,
    RESERVED_HOLD,
    RESERVED_NOT_CAPTURED,
    RETURN_ACCOUNTS,
    SUFFIX_TRIGGERS,
    TXN_ORIGINS,
    VERIFICATION_FAILURES,
    TxnResultCode,
    TxnStatus,
    TxnType,
)

TEXT_LIMITS = {"order": 1000, "description": 1000, "descriptor": 50}
BATCHED_CARD_TYPES = frozenset({TxnType.SALE, TxnType.CAPTURE, TxnType.REFUND})
DEBIT_ECHECK_TYPES = frozenset({TxnType.ECHECK_SALE, TxnType.ECHECK_REDEPOSIT})


@dataclass(frozen=True)
class Source:
    """What a new payment charges: a vaulted instrument (by token) or one given inline."""

    instrument: Instrument
    expiration: str | None
    token: str | None = None
    payment_id: str | None = None
    customer: str | None = None


@dataclass(frozen=True)
class TxnOutcome:
    txn: Record
    declined: TxnResultCode | None = None


def create_txn(store: Store, settings: SandboxSettings, body: Any) -> TxnOutcome:
    """POST /txns. Refusals raise ApiError (nothing stored); a decline stores a failed txn and says why."""
    problems = Problems()
    values = validated(store, "txns", body, problems)
    txn_type = _type(values, problems)
    _check_common(values, txn_type, problems)
    original = source = None
    if txn_type in NEW_PAYMENT_TYPES:
        source = _source(store, values, problems)
    elif txn_type is not None:
        require(values, ("fortxn",), problems)
        original = store.get("txns", values.get("fortxn"))
        if values.get("fortxn") is not None and original is None:
            problems.add("no_such_record", "fortxn")
    _merchant(store, values, original, source, problems)
    problems.raise_if_any()
    assert txn_type is not None
    if source is not None:
        return _new_payment(store, settings, txn_type, values, source)
    assert original is not None
    _check_family(txn_type, original)
    return TxnOutcome(OPERATIONS[txn_type](store, values, original))


# --- request checks -------------------------------------------------------------------------------------------


def _type(values: Record, problems: Problems) -> TxnType | None:
    require(values, ("type",), problems)
    if values.get("type") is None:
        return None
    if values["type"] not in {int(t) for t in TxnType}:
        problems.add("invalid_field", "type", f"The sandbox implements txn types {[int(t) for t in TxnType]}")
        return None
    return TxnType(values["type"])


def _check_common(values: Record, txn_type: TxnType | None, problems: Problems) -> None:
    require(values, ("origin",), problems)
    if values.get("origin") is not None and values["origin"] not in TXN_ORIGINS:
        problems.add("invalid_field", "origin", "An origin is 0-9")
    verification = txn_type == TxnType.ECHECK_VERIFICATION
    if txn_type in NEW_PAYMENT_TYPES and not verification:  # a refund's total is optional: the remaining original
        require(values, ("total",), problems)
    if txn_type in NEW_PAYMENT_TYPES and values.get("fortxn") is not None:
        problems.add("invalid_field", "fortxn", "Only captures, reverses, refunds and redeposits have a fortxn")
    if verification and values.get("total"):  # sandbox choice: absent or 0; nothing is charged
        problems.add("invalid_field", "total", "An account verification moves no money: send no total (or 0)")
    elif values.get("total") is not None and values["total"] <= 0 and not verification:
        problems.add("invalid_field", "total", "A total is a positive integer number of cents")
    for name, limit in TEXT_LIMITS.items():
        if values.get(name) is not None and (not isinstance(values[name], str) or len(values[name]) > limit):
            problems.add("invalid_field", name, f"A string of at most {limit} characters")


def _source(store: Store, values: Record, problems: Problems) -> Source | None:
    token_value, payment = values.get("token"), values.pop("payment", None)
    if token_value is None and payment is None:
        problems.add("required_field", "token")
        return None
    if token_value is None:
        inline_expiration = payment.get("expiration") if isinstance(payment, dict) else None
        expiration = inline_expiration or values.get("expiration")
        instrument = parse_instrument(payment, expiration, store.today, problems, reject_expired=False)
        return Source(instrument, instrument.expiration) if instrument else None
    token = store.token_by_value(token_value)
    if token is None:
        problems.add("no_such_record", "token")
        return None
    if token["inactive"] or token["frozen"]:
        problems.add("invalid_field", "token", "The token is inactive or frozen")
        return None
    payment_id = token["payment"]["id"]
    return Source(store.instruments[payment_id], token["expiration"], token_value, payment_id, token["customer"])


def _merchant(store: Store, values: Record, original: Record | None, source: Source | None, problems: Problems) -> None:
    """Splash infers the merchant from `fortxn` or the token's customer when it is not sent; when the txn or
    token it would come from does not exist, the merchant is reported as no_such_record too (as recorded)."""
    if values.get("merchant") is not None:
        if original is not None and original["merchant"] != values["merchant"]:
            problems.add("invalid_field", "merchant", "The merchant differs from the original txn's")
        owner = (store.get("customers", source.customer) or {}).get("merchant") if source and source.customer else None
        if owner is not None and owner != values["merchant"] and store.get("merchants", values["merchant"]):
            problems.add("invalid_field", "token", "The token belongs to another merchant's customer")
        return
    if original is not None:
        values["merchant"] = original["merchant"]
    elif source is not None and source.customer is not None:
        values["merchant"] = (store.get("customers", source.customer) or {}).get("merchant")
    if values.get("merchant") is None:
        unresolved = original is None and source is None and (values.get("fortxn") or values.get("token"))
        problems.add("no_such_record" if unresolved else "required_field", "merchant")


def _check_family(txn_type: TxnType, original: Record) -> None:
    """A card operation needs a card original and an eCheck one an eCheck original."""
    if (txn_type in CARD_TYPES) != (original["type"] in CARD_TYPES):
        raise refuse("txn_type_payment_method_mismatch", "fortxn")


# --- new payments: sale, auth, eCheck sale --------------------------------------------------------------------


def _new_payment(
    store: Store, settings: SandboxSettings, txn_type: TxnType, values: Record, source: Source
) -> TxnOutcome:
    if source.instrument.is_bank != (txn_type in BANK_TXN_TYPES):
        raise refuse("txn_type_payment_method_mismatch", "type")
    if txn_type == TxnType.ECHECK_VERIFICATION:
        return _verify(store, values, source)
    declined = _decline(settings, txn_type, values["total"], source.expiration, store.today)
    payment = source.payment_id or store.vault(source.instrument)
    soft = FIRST_SALE_DECLINES.get(source.instrument.number)
    if soft and not declined and not any(t["payment"] == payment and t["type"] == txn_type for t in store.rows("txns")):
        declined = soft  # (a pass over the txns, for this one test card only)
    approved = 0 if declined else values["total"]
    state = None if declined or txn_type == TxnType.ECHECK_SALE else CARD_STATE_TRIGGERS.get(values["total"])
    status = TxnStatus.FAILED if declined else TxnStatus.APPROVED
    if state == "pending":
        status, approved = TxnStatus.PENDING, 0
    elif state == "partial":
        approved = values["total"] // 2
    if state in ("reserved", "reserved_not_captured"):
        values = {**values, "reserved": RESERVED_HOLD}
    txn = _insert(
        store,
        {**values, "_state": state} if state else values,
        txn_type,
        status=status,
        approved=approved,
        payment=payment,
        token=source.token,
        expiration=source.expiration,
        result=declined or APPROVED,
    )
    if not declined and txn_type == TxnType.ECHECK_SALE:
        _plan_return(store, txn)
    return TxnOutcome(txn, declined)


def _verify(store: Store, values: Record, source: Source) -> TxnOutcome:
    """Type 12, eCheck account verification: approved (1) or failed (2) at once, by the account number
    (VERIFICATION_FAILURES). It moves no money: total and approved 0, no funding, and the day boundaries never
    settle, fund or return it (it is in no batch, no ECHECK_TYPES, no RETURN_ACCOUNTS plan)."""
    failed = VERIFICATION_FAILURES.get(source.instrument.number)
    txn = _insert(
        store,
        {**values, "total": 0, "fundingEnabled": 0},
        TxnType.ECHECK_VERIFICATION,
        status=TxnStatus.FAILED if failed else TxnStatus.APPROVED,
        approved=0,
        payment=source.payment_id or store.vault(source.instrument),
        token=source.token,
        expiration=None,
        result=failed or APPROVED,
    )
    return TxnOutcome(txn, failed)


def _decline(
    settings: SandboxSettings, txn_type: TxnType, total: int, expiration: str | None, today: date
) -> TxnResultCode | None:
    """The sandbox triggers: an expired card, the trigger amounts, the cents triggers below the threshold."""
    if txn_type == TxnType.ECHECK_SALE:
        return ECHECK_TRIGGERS.get(total)
    if expiration is not None and is_expired(expiration, today):
        return EXPIRED_CARD
    if total in CARD_TRIGGERS:
        return CARD_TRIGGERS[total]
    return SUFFIX_TRIGGERS.get(total % 100) if total < settings.suffix_trigger_below else None


def _plan_return(store: Store, txn: Record) -> None:
    plan = RETURN_ACCOUNTS.get(store.instruments[txn["payment"]].number)
    if plan is None or (plan.first_presentment_only and txn["type"] == TxnType.ECHECK_REDEPOSIT):
        return
    txn["_return_on"] = store.today + timedelta(days=plan.after_days)
    txn["_return_code"] = plan.code


# --- operations on an original txn ----------------------------------------------------------------------------


def _capture(store: Store, values: Record, auth: Record) -> Record:
    if auth["type"] != TxnType.AUTH:
        raise refuse("invalid_field", "fortxn", "A capture's fortxn is an auth (type 2)")
    if auth["status"] != TxnStatus.APPROVED or _children(store, auth, TxnType.CAPTURE):
        raise refuse("invalid_status", "fortxn", "Only an approved, uncaptured auth can be captured")
    total = _amount(values, auth["approved"], "The capture exceeds the auth's remaining amount")
    return _derived(store, values, TxnType.CAPTURE, auth, total, authorization=auth["authorization"])


def _reverse(store: Store, values: Record, original: Record) -> Record:
    if original["type"] not in (TxnType.SALE, TxnType.AUTH, TxnType.CAPTURE):
        raise refuse("invalid_field", "fortxn", "A reverse's fortxn is a sale, auth or capture")
    if original["status"] != TxnStatus.APPROVED or _children(store, original, TxnType.CAPTURE):
        raise refuse("invalid_status", "fortxn", "Only an approved txn that is not captured yet can be reversed")
    total = _amount(values, original["approved"], "The reverse exceeds the approved amount")
    values.setdefault("unauthReason", "customerCancelled")
    txn = _derived(store, values, TxnType.REVERSE, original, total)
    # Recorded (splash-api.md §6.1): the voided original stays status 1 and its `approved` drops (to 0 when whole).
    changes = {"approved": original["approved"] - total, "reversed": original["reversed"] + total}
    store.update("txns", original, changes)
    return txn


def _refund(store: Store, values: Record, original: Record) -> Record:
    refund_type = TxnType(values["type"])
    refundable = (TxnType.SALE, TxnType.CAPTURE) if refund_type == TxnType.REFUND else DEBIT_ECHECK_TYPES
    if original["type"] not in refundable:
        raise refuse("invalid_field", "fortxn", "A refund's fortxn is a sale, a capture or an eCheck debit")
    if original["status"] not in (TxnStatus.CAPTURED, TxnStatus.SETTLED):
        raise refuse("invalid_status", "fortxn", "Only a captured or settled txn can be refunded")
    remaining = original["approved"] - original["refunded"]
    total = _amount(values, remaining, CREDIT_OVER_CAPTURE)
    values.setdefault("unauthReason", "customerCancelled")  # as recorded on a refund
    if refund_type == TxnType.REFUND:  # recorded: a card refund is answered captured (3), `captured` set
        txn = _derived(store, values, refund_type, original, total, status=TxnStatus.CAPTURED, captured=True)
    else:
        txn = _derived(store, values, refund_type, original, total)
    store.update("txns", original, {"refunded": original["refunded"] + total})
    return txn


def _redeposit(store: Store, values: Record, original: Record) -> Record:
    """Re-present a returned eCheck: only after an R01/R09 return (367), at most twice within 180 days of the
    original's settlement (366), and never while a presentment is outstanding or has been paid (371)."""
    if original["type"] not in DEBIT_ECHECK_TYPES:
        raise refuse("invalid_field", "fortxn", "A redeposit's fortxn is an eCheck sale")
    root = original if original["type"] == TxnType.ECHECK_SALE else store.tables["txns"][original["fortxn"]]
    redeposits = _children(store, root, TxnType.ECHECK_REDEPOSIT)
    latest = redeposits[-1] if redeposits else root
    if latest["status"] != TxnStatus.RETURNED:
        raise refuse("invalid_status", "fortxn", REDEPOSIT_NOT_NSF if latest is root else REDEPOSIT_ALREADY_PROCESSED)
    if not NACHA_RETURNS[latest["_return_code"]].redepositable:
        raise refuse("invalid_status", "fortxn", REDEPOSIT_NOT_NSF)
    if root.get("refunded"):  # the payer was refunded: presenting the item again would collect it twice
        raise refuse("invalid_status", "fortxn", REDEPOSIT_ALREADY_PROCESSED)
    window_end = from_yyyymmdd(root["settled"]) + timedelta(days=REDEPOSIT_WINDOW_DAYS)
    if len(redeposits) >= REDEPOSIT_MAX or store.today > window_end:
        raise refuse("invalid_status", "fortxn", REDEPOSIT_TOO_MANY)
    if values.get("total") not in (None, root["approved"]):
        raise refuse("invalid_field", "total", "A redeposit presents the original amount")
    txn = _derived(store, values, TxnType.ECHECK_REDEPOSIT, root, root["approved"], token=root["token"])
    _plan_return(store, txn)
    return txn


OPERATIONS = {
    TxnType.CAPTURE: _capture,
    TxnType.REVERSE: _reverse,
    TxnType.REFUND: _refund,
    TxnType.ECHECK_REFUND: _refund,
    TxnType.ECHECK_REDEPOSIT: _redeposit,
}


def _children(store: Store, original: Record, txn_type: TxnType) -> list[Record]:
    """The non-failed txns of a type made for `original`, oldest first."""
    return [
        t
        for t in store.rows("txns")
        if t["fortxn"] == original["id"] and t["type"] == txn_type and t["status"] != TxnStatus.FAILED
    ]


def _amount(values: Record, available: int, too_much: str) -> int:
    total = values.get("total") or available
    if available <= 0 or total > available:
        raise refuse("invalid_status", "total", too_much)
    return total


def _derived(
    store: Store,
    values: Record,
    txn_type: TxnType,
    original: Record,
    total: int,
    *,
    token: str | None = None,
    authorization: str | None = None,
    status: TxnStatus = TxnStatus.APPROVED,
    captured: bool = False,
) -> Record:
    """An approved txn made for `original` (fortxn): same payment and expiration, its own total; `order` and
    `descriptor` inherited unless the request sets them (recorded: portal refunds and voids carry our order)."""
    inherited = {name: original[name] for name in ("order", "descriptor") if original.get(name) is not None}
    fields = {**inherited, **values, "fortxn": original["id"], "total": total}
    if captured:
        fields["captured"] = captured_stamp(store)
    return _insert(
        store,
        fields,
        txn_type,
        status=status,
        approved=total,
        payment=original["payment"],
        token=token,
        expiration=original["expiration"],
        result=APPROVED,
        authorization=authorization,
    )


def _insert(
    store: Store,
    values: Record,
    txn_type: TxnType,
    *,
    status: TxnStatus,
    approved: int,
    payment: str,
    token: str | None,
    expiration: str | None,
    result: TxnResultCode,
    authorization: str | None = None,
) -> Record:
    """Store a txn with its read-only fields (the dates stay null until the day boundaries set them), its
    txnResults row, and fire create, txn.created and txn.approved or txn.failed."""
    card = txn_type in CARD_TYPES
    if authorization is None and card and txn_type in NEW_PAYMENT_TYPES and status == TxnStatus.APPROVED:
        authorization = f"{secrets.randbelow(10**6):06d}"
    txn = store.insert(
        "txns",
        {
            "currency": "USD",
            **values,
            "type": txn_type,
            "token": token,
            "payment": payment,
            "expiration": expiration,
            "platform": "VANTIV" if card else "WELLSACH",
            "status": status,
            "approved": approved,
            "originalApproved": approved,
            "refunded": 0,
            "reversed": 0,
            "authorization": authorization,
            "fundingEnabled": values.get("fundingEnabled", 1),
            "debtRepayment": 0,
        },
    )
    store.insert("txnResults", _result(txn["id"], result))
    store.emit("txn.created", "txns", txn)
    if status != TxnStatus.PENDING:
        store.emit("txn.failed" if status == TxnStatus.FAILED else "txn.approved", "txns", txn)
    return txn


def _result(txn_id: str, result: TxnResultCode) -> Record:
    return {
        "txn": txn_id,
        "type": 1,
        "code": 0 if result is APPROVED else 2,
        "message": result.message,
        "originalCode": result.original_code,
        "bankCode": result.bank_code,
    }


# --- day boundaries -------------------------------------------------------------------------------------------


def close_day(store: Store, settings: SandboxSettings) -> None:
    """What one UTC midnight does, in order: card batches (captured → settled, approved → captured, with the
    capture's ledger entries), eCheck settlement (approved → settled), eCheck funding, due bank returns, boarding."""
    today = yyyymmdd(store.today)
    txns = store.rows("txns")
    cards = [t for t in txns if t["type"] in BATCHED_CARD_TYPES]
    to_settle = [t for t in cards if t["status"] == TxnStatus.CAPTURED]
    to_capture = [t for t in cards if t["status"] == TxnStatus.APPROVED and t["approved"] > 0 and not t.get("reserved")]
    held = [t for t in txns if t.get("_state") and t not in to_capture]
    for txn in to_settle:
        changes = {"status": TxnStatus.SETTLED, "settled": today, "settledTotal": txn["approved"]}
        store.update("txns", txn, changes, "txn.settled")
        if txn["type"] == TxnType.REFUND:
            funds.card_refund_settled(store, txn)  # [contract #19]
    for txn in to_capture:
        if txn.get("_state") == "fails_at_capture":
            _fail_capture(store, txn)
            continue
        store.update("txns", txn, {"status": TxnStatus.CAPTURED, "captured": captured_stamp(store)}, "txn.captured")
        funds.card_captured(store, settings, txn)  # [contract #19] entries are made as money moves
    for txn in held:
        _resolve_state(store, txn)
    for txn in [t for t in txns if t["type"] in ECHECK_TYPES and t["status"] == TxnStatus.APPROVED]:
        _settle_echeck(store, settings, txn, today)
    for txn in [t for t in txns if t.get("_fund_on") and t["_fund_on"] <= store.today]:
        txn["_fund_on"] = None
        if txn["status"] == TxnStatus.SETTLED:
            store.update("txns", txn, {"funded": today}, "txn.echeck.funded")
    for txn in [t for t in txns if t.get("_return_on") and t["_return_on"] <= store.today]:
        _return(store, txn, today)
    board(store)
    if settings.account_updater_monthly and store.today.day == 1:  # [contract #19] the monthly updater run
        from local.sandbox.disputes import run_updater

        run_updater(store)
    funds.disburse(store)  # [contract #19] after the batches, settlements and returns


def _fail_capture(store: Store, txn: Record) -> None:
    """A card sale approved at auth that fails at capture (§6.1): status 2, `approved` kept, a declined result."""
    txn["_state"] = None
    store.insert("txnResults", _result(txn["id"], CAPTURE_DECLINED))
    store.update("txns", txn, {"status": TxnStatus.FAILED}, "txn.failed")


CAPTURE_DECLINED = TxnResultCode("Declined at capture", "350", "generic_decline")
RISK_DECLINED = TxnResultCode("Suspected fraud", "555", "high_risk")


def _resolve_state(store: Store, txn: Record) -> None:
    """The next batch's outcome of a CARD_STATE_TRIGGERS txn that was not captured today."""
    state, txn["_state"] = txn["_state"], None
    if state == "pending" and txn["status"] == TxnStatus.PENDING:
        changes = {"status": TxnStatus.APPROVED, "approved": txn["total"], "originalApproved": txn["total"]}
        changes["authorization"] = f"{secrets.randbelow(10**6):06d}"
        store.update("txns", txn, changes, "txn.approved")
    elif state == "reserved" and txn.get("reserved"):
        store.update("txns", txn, {"reserved": 0})
    elif state == "reserved_not_captured" and txn.get("reserved"):  # sandbox choice: the hold then fails it
        store.insert("txnResults", _result(txn["id"], RISK_DECLINED))
        store.update("txns", txn, {"reserved": RESERVED_NOT_CAPTURED, "status": TxnStatus.FAILED}, "txn.failed")
    else:
        txn["_state"] = state  # (e.g. a voided fails_at_capture sale: nothing happens)


def _settle_echeck(store: Store, settings: SandboxSettings, txn: Record, today: int) -> None:
    changes: Record = {
        "status": TxnStatus.SETTLED,
        "captured": captured_stamp(store),
        "settled": today,
        "settledTotal": txn["approved"],
    }
    if txn["type"] in DEBIT_ECHECK_TYPES:
        changes["_fund_on"] = add_business_days(store.today, FUNDING_BUSINESS_DAYS)
    store.update("txns", txn, changes, "txn.captured", "txn.settled")
    funds.echeck_settled(store, settings, txn)  # [contract #19]


def _return(store: Store, txn: Record, today: int) -> None:
    code = txn["_return_code"]
    store.update("txns", txn, {"status": TxnStatus.RETURNED, "returned": today, "_return_on": None}, "txn.returned")
    funds.echeck_returned(store, txn)  # [contract #19]
    merchant = store.get("merchants", txn["merchant"]) or {}
    reason = NACHA_RETURNS[code]
    store.insert(
        "entityReturns",
        {
            "entity": merchant.get("entity"),
            "txn": txn["id"],
            "payment": txn["payment"],
            "disbursement": None,
            "code": code,
            "actionCode": reason.action_code,
            "message": reason.meaning,
        },
    )


def captured_stamp(store: Store) -> str:
    """`captured` is a datetime string without fraction (recorded "2022-05-10 16:31:12"); `settled` and `funded`
    stay int YYYYMMDD."""
    return stamp(store.clock.now)[:19]


def add_business_days(day: date, count: int) -> date:
    while count:
        day += timedelta(days=1)
        count -= day.weekday() < 5
    return day
