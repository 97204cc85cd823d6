"""Chargebacks and the account updater (issue #19 contract, ADR 0004 "Chargebacks and account updates").

Shapes: the chargebacks, chargebackMessages, chargebackStatuses and chargebackDocuments recorded from the live
Payrix test API [RS] (tests/fixtures/splash/recorded/), the SDK's models [S] for the rest. A chargeback is opened
on demand (`POST /_sandbox/chargebacks`), as the live sandbox has no trigger for one; its money is the entries the
contract names (event 11 −total and its fee, 94 on a win, 87 on pre-arbitration). A `represent` message closes the
cycle ([RS]: a `closed` status row pointing at it) while the issuer decides (`/decide`); `acceptLiability` loses it
([RS]: a `lost` row). The document's file arrives by `POST /files/chargebackDocuments/<id>` (multipart), inferred
from Payrix's documented /files/noteDocuments/<id> pattern: unverified for chargebacks."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from local.sandbox.errors import ApiError, error_item, refuse
from local.sandbox.settings import SandboxSettings
from local.sandbox.store import Record, Store
from local.sandbox.tables import TxnStatus, TxnType

CHARGEBACK_EVENT, REVERSAL_EVENT, PREARBITRATION_EVENT = 11, 94, 87  # [S EntryEvent]
MESSAGE_TYPES = frozenset(  # [S ChargebackMessageTypeEnum]
    {
        "assign",
        "notate",
        "acceptLiability",
        "createPreArbitration",
        "requestPreArbitration",
        "requestResolutionToPreArbitration",
        "respondToPreArbitration",
        "represent",
        "respond",
        "respondToDispute",
        "requestArbitration",
        "createArbitration",
        "unaccept",
    }
)
ANSWERS = frozenset({"represent", "respond", "respondToDispute"})
DOCUMENT_TYPES = frozenset({"jpg", "jpeg", "gif", "png", "pdf", "tiff", "tif"})  # [S]
MAGIC = {"pdf": b"%PDF-", "png": b"\x89PNG", "gif": b"GIF8", "jpg": b"\xff\xd8", "jpeg": b"\xff\xd8"}
UPDATER_MESSAGES = frozenset(  # [RC account-updater]
    {
        "Account number was changed",
        "Account was closed",
        "Expiration date was changed",
        "Issuing bank does not participate in the update program",
        "Contact cardholder for updated information",
        "No match found",
        "No changes found",
    }
)
CARD_SALE_TYPES = frozenset({TxnType.SALE, TxnType.CAPTURE})
CAPTURED = frozenset({TxnStatus.CAPTURED, TxnStatus.SETTLED})


class AdminRefusal(ValueError):
    """A bad admin request (the server answers 400, or `status`, with {"error": …})."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def _day(day: date) -> int:
    return int(day.strftime("%Y%m%d"))


# -- chargebacks ------------------------------------------------------------------------------------------------


def open_chargeback(store: Store, settings: SandboxSettings, body: dict[str, Any]) -> Record:
    txn = store.get("txns", body.get("txn"))
    if txn is None:
        raise AdminRefusal("txn names no txn")
    if txn["type"] not in CARD_SALE_TYPES:
        raise AdminRefusal("only a card sale or capture can be charged back (eChecks are returned, not disputed)")
    if txn["status"] not in CAPTURED:
        raise AdminRefusal("the txn is not captured yet: advance the clock past a midnight batch")
    captured = int(txn.get("settledTotal") or txn["approved"] or 0)
    total = body.get("total", captured)
    if not isinstance(total, int) or isinstance(total, bool) or not 0 < total <= captured:
        raise AdminRefusal(f"total is a whole number of cents from 1 to the captured {captured}")
    if any(c["txn"] == txn["id"] and c["status"] == "open" for c in store.rows("chargebacks")):
        raise AdminRefusal("this txn has an open chargeback already", 409)
    cycle = body.get("cycle", "first")
    if cycle not in ("first", "retrieval"):
        raise AdminRefusal("cycle is first or retrieval")
    days = body.get("replyDays", settings.chargeback_reply_days)
    if not isinstance(days, int) or isinstance(days, bool) or days < 0:
        raise AdminRefusal("replyDays is a whole number of days")
    payment = txn.get("payment")
    method = payment.get("method") if isinstance(payment, dict) else None
    record = store.insert(
        "chargebacks",
        {
            "merchant": txn["merchant"],
            "txn": txn["id"],
            "mid": None,
            "description": "",
            "total": total,
            "representedTotal": None,
            "cycle": cycle,
            "currency": "USD",
            "ref": f"SBX{len(store.rows('chargebacks')) + 1:014d}",
            "reason": body.get("reason", "Other Fraud - Card-Absent Environment"),
            "reasonCode": body.get("reasonCode", "10.4"),
            "issued": _day(store.today),
            "received": None,
            "reply": _day(store.today + timedelta(days=days)),
            "bankRef": None,
            "chargebackRef": None,
            "status": "open",
            "lastStatusChange": None,
            "actionable": 1,
            "paymentMethod": method if isinstance(method, int) else 2,
            "shadow": 0,
            "_fee": settings.chargeback_fee,
        },
    )
    _status_row(store, record, "open", None)
    store.emit("chargeback.created", "chargebacks", record)
    store.emit("chargeback.opened", "chargebacks", record)
    if cycle != "retrieval":
        _debit(store, record, CHARGEBACK_EVENT)
    return record


def decide(store: Store, settings: SandboxSettings, chargeback: Record, outcome: Any) -> Record:
    if outcome not in ("won", "lost"):
        raise AdminRefusal("outcome is won or lost")
    if chargeback["status"] in ("won", "lost"):
        raise AdminRefusal(f"the chargeback is {chargeback['status']} already", 409)
    if outcome == "won":
        _credit(store, settings, chargeback)
    _status_row(store, chargeback, outcome, None)
    store.update("chargebacks", chargeback, {"status": outcome, "actionable": 0}, f"chargeback.{outcome}")
    return chargeback


def move_cycle(store: Store, chargeback: Record, cycle: Any) -> Record:
    if not isinstance(cycle, str) or not cycle:
        raise AdminRefusal("cycle is a chargeback cycle, e.g. first or preArbitration")
    before, status = chargeback["cycle"], chargeback["status"]
    changes: Record = {"cycle": cycle}
    if before == "retrieval" and cycle == "first":
        _debit(store, chargeback, CHARGEBACK_EVENT)
    elif status == "won" and cycle == "preArbitration":
        changes.update(status="open", actionable=1)
        _status_row(store, chargeback, "open", None)
        _debit(store, chargeback, PREARBITRATION_EVENT)
    store.update("chargebacks", chargeback, changes, "chargeback.opened" if "status" in changes else "update")
    return chargeback


def _debit(store: Store, chargeback: Record, event: int) -> None:
    entity = (store.get("merchants", chargeback["merchant"]) or {}).get("entity")
    _entry(store, entity, chargeback, event, -chargeback["total"], "Chargeback")
    _entry(store, entity, chargeback, event, -chargeback["_fee"], "Chargeback fee", fee=True)


def _credit(store: Store, settings: SandboxSettings, chargeback: Record) -> None:
    entity = (store.get("merchants", chargeback["merchant"]) or {}).get("entity")
    _entry(store, entity, chargeback, REVERSAL_EVENT, chargeback["total"], "Chargeback reversal")
    if settings.chargeback_fee_refunded_on_win:  # [sandbox choice] unknown at Payrix: configurable
        _entry(store, entity, chargeback, REVERSAL_EVENT, chargeback["_fee"], "Chargeback fee reversal", fee=True)


def _entry(store: Store, entity: Any, chargeback: Record, event: int, cents: int, text: str, fee: bool = False) -> None:
    from local.sandbox.funds import chargeback_fee_config

    store.insert(
        "entries",
        {
            "entity": entity,
            "onentity": entity,
            "fromentity": None,
            "txn": chargeback["txn"],
            "chargeback": chargeback["id"],
            "fee": chargeback_fee_config(store, entity, chargeback["_fee"])["id"] if fee else None,
            "disbursement": None,
            "event": event,
            "eventId": chargeback["id"],
            "description": text,
            "amount": float(cents),
            "isFee": int(fee),
            "pending": 0,
            "opposingEntry": None,
            "fund": None,
            "_day": store.today,
        },
    )


def _status_row(store: Store, chargeback: Record, status: str, message: str | None) -> None:
    row = store.insert(
        "chargebackStatuses", {"chargeback": chargeback["id"], "chargebackMessage": message, "status": status}
    )
    chargeback["lastStatusChange"] = row["id"]


def create_message(store: Store, body: Any) -> Record:
    """POST /chargebackMessages [S chargeback-message-post-request]: `note` carries the text."""
    if not isinstance(body, dict):
        raise refuse("invalid_field", "chargeback")
    chargeback = store.get("chargebacks", body.get("chargeback"))
    problems = []
    if body.get("chargeback") is None:
        problems.append(error_item("required_field", "chargeback"))
    elif chargeback is None:
        problems.append(error_item("no_such_record", "chargeback"))
    if body.get("type") is None:
        problems.append(error_item("required_field", "type"))
    elif body["type"] not in MESSAGE_TYPES:
        problems.append(error_item("invalid_field", "type"))
    note = body.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > 2000):
        problems.append(error_item("invalid_field", "note"))
    if not problems and chargeback["status"] in ("won", "lost"):
        problems.append(error_item("invalid_field", "chargeback", "The chargeback is decided: no more responses"))
    if not problems and body["type"] in ANSWERS and not chargeback["actionable"]:
        problems.append(error_item("invalid_field", "chargeback", "The chargeback is not actionable"))
    if problems:
        raise ApiError(problems)
    assert chargeback is not None
    message = store.insert(
        "chargebackMessages",
        {
            "chargeback": chargeback["id"],
            "type": body["type"],
            "date": body.get("date", _day(store.today)),
            "amount": body.get("amount"),
            "currency": body.get("currency", "USD"),
            "contact": body.get("contact"),
            "note": note,
            "fromQueue": body.get("fromQueue"),
            "toQueue": body.get("toQueue"),
            "status": "processed",
            "imported": 0,
        },
    )
    if body["type"] in ANSWERS:  # [RS] represent → a `closed` row pointing at the message
        _status_row(store, chargeback, "closed", message["id"])
        store.update("chargebacks", chargeback, {"status": "closed", "actionable": 0}, "chargeback.closed")
    elif body["type"] == "acceptLiability":  # [RS] a `lost` row pointing at the message
        _status_row(store, chargeback, "lost", message["id"])
        store.update("chargebacks", chargeback, {"status": "lost", "actionable": 0}, "chargeback.lost")
    return message


def create_document(store: Store, body: Any) -> Record:
    """POST /chargebackDocuments [S]: the record first (`created`); its file follows (`upload`)."""
    if not isinstance(body, dict):
        raise refuse("invalid_field", "chargeback")
    problems = []
    if store.get("chargebacks", body.get("chargeback")) is None:
        problems.append(error_item("no_such_record" if body.get("chargeback") else "required_field", "chargeback"))
    kind = str(body.get("type", "")).lower()
    if kind not in DOCUMENT_TYPES:
        problems.append(error_item("invalid_field", "type"))
    for name in ("name", "description"):
        value = body.get(name)
        if value is not None and not (isinstance(value, str) and 1 <= len(value) <= 100):
            problems.append(error_item("invalid_field", name))
    if body.get("documentSource") not in (None, "merchant", "issuer"):
        problems.append(error_item("invalid_field", "documentSource"))
    if problems:
        raise ApiError(problems)
    record = store.insert(
        "chargebackDocuments",
        {
            "chargeback": body["chargeback"],
            "type": kind,
            "name": body.get("name"),
            "description": body.get("description"),
            "documentSource": body.get("documentSource"),
            "status": "created",
            "_bytes": None,
        },
    )
    record["ref"] = f"{record['id']}.{kind.upper()}"
    return record


def upload(store: Store, settings: SandboxSettings, document_id: str, content: bytes | None) -> Record:
    """The document's file (multipart `file`): its type's magic, ≤ document_max_bytes, and the chargeback's
    documents ≤ document_total_bytes in all; then `processed`."""
    document = store.get("chargebackDocuments", document_id)
    if document is None:
        raise refuse("no_such_record", "id")
    if content is None:
        raise refuse("required_field", "file")
    if document["status"] == "processed" and document["_bytes"] == content:
        return document  # the same file again: nothing changes
    if document["status"] != "created":
        raise refuse("invalid_field", "id", "The document has its file already")
    magic = MAGIC.get(document["type"])
    if magic is not None and not content.startswith(magic):
        raise refuse("invalid_field", "file", f"The file is not a {document['type']}")
    if len(content) > settings.document_max_bytes:
        raise refuse("invalid_field", "file", f"A document may be at most {settings.document_max_bytes} bytes")
    siblings = [d for d in store.rows("chargebackDocuments") if d["chargeback"] == document["chargeback"]]
    if sum(len(d["_bytes"] or b"") for d in siblings) + len(content) > settings.document_total_bytes:
        raise refuse("invalid_field", "file", "The chargeback's documents are over the total size allowed")
    document["_bytes"] = content
    store.update("chargebackDocuments", document, {"status": "processed"})
    return document


# -- the account updater ----------------------------------------------------------------------------------------


def account_update(store: Store, body: dict[str, Any]) -> Record:
    reference = body.get("token")
    token = store.get("tokens", reference) or next(
        (t for t in store.rows("tokens") if t.get("token") == reference and isinstance(reference, str)), None
    )
    if token is None:
        raise AdminRefusal("token names no token (its t1_tok_ id or its token string)")
    message = body.get("message")
    if message not in UPDATER_MESSAGES:
        raise AdminRefusal(f"message is one of {sorted(UPDATER_MESSAGES)}")
    expiration, last4 = body.get("expiration"), body.get("last4")
    if expiration is not None and not (isinstance(expiration, str) and len(expiration) == 4 and expiration.isdigit()):
        raise AdminRefusal("expiration is MMYY")
    if last4 is not None and not (isinstance(last4, str) and len(last4) == 4 and last4.isdigit()):
        raise AdminRefusal("last4 is four digits")
    return _apply_update(store, token, message, expiration, last4)


def run_updater(store: Store, within_days: int = 30) -> list[Record]:
    """Every card token expiring before today + `within_days` gets a new expiry three years on (same month)."""
    horizon = store.today + timedelta(days=within_days)
    done = []
    for token in store.rows("tokens"):
        exp = str(token.get("expiration") or "")
        if len(exp) != 4 or not exp.isdigit() or _is_bank(store, token):
            continue
        month, year = int(exp[:2]), 2000 + int(exp[2:])
        last_day = (date(year + month // 12, month % 12 + 1, 1)) - timedelta(days=1)
        if last_day < horizon:
            done.append(
                _apply_update(store, token, "Expiration date was changed", f"{month:02d}{(year + 3) % 100:02d}", None)
            )
    return done


def _is_bank(store: Store, token: Record) -> bool:
    payment = token.get("payment")
    return isinstance(payment, dict) and payment.get("method") in (8, 9, 10, 11)


def _apply_update(store: Store, token: Record, message: str, expiration: str | None, last4: str | None) -> Record:
    changes: Record = {}
    if message in ("Expiration date was changed", "Account number was changed") and expiration:
        changes["expiration"] = expiration
    if message == "Account number was changed":
        payment = token.get("payment")
        if isinstance(payment, dict):
            number = last4 or f"{(int(payment.get('number') or 0) + 1) % 10000:04d}"
            payment["number"] = number
    if changes or message == "Account number was changed":
        store.update("tokens", token, changes)
    group = store.insert(
        "paymentUpdateGroups",
        {
            "entity": None,
            "processing": _day(store.today),
            "processed": _day(store.today),
            "numberUpdated": int(message == "Account number was changed"),
            "expirationUpdated": int("expiration" in changes),
        },
    )
    payment = token.get("payment")
    return store.insert(
        "paymentUpdates",
        {
            "token": token["id"],
            "payment": payment.get("id") if isinstance(payment, dict) else None,
            "account": None,
            "paymentUpdateGroup": group["id"],
            "status": "processed",
            "platform": "VANTIV",
            "ref": None,
            "clientRef": None,
            "message": message,
            "expiration": token.get("expiration"),
        },
    )
