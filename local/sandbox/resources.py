"""The resource schemas (fields, methods, what PUT may change) and the plain CRUD rules: customers, tokens,
alerts with their triggers and actions, merchant updates, deletes. Txns are in `rules`, entities in `boarding`."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from local.sandbox.errors import Problems, refuse
from local.sandbox.payments import as_int, digits, expiry_month, parse_instrument
from local.sandbox.store import Record, Store
from local.sandbox.tables import ALERT_ACTION_TYPES

GET, POST, PUT, DELETE = "GET", "POST", "PUT", "DELETE"
BASE_FIELDS = ("id", "created", "modified", "creator", "modifier", "login", "inactive", "frozen")
FLAGS = ("inactive", "frozen")
ADDRESS = ("address1", "address2", "city", "state", "zip", "country")


@dataclass(frozen=True)
class Resource:
    """`fields` a client may send on POST; `read_only` ones the sandbox sets; `put_fields` what PUT may change
    (None: every field); `nested` POST-only inputs that create other records; `references` field → resource
    that must exist; `discarded` accepted but never stored."""

    name: str
    methods: frozenset[str]
    fields: tuple[str, ...] = ()
    int_fields: frozenset[str] = frozenset()
    read_only: tuple[str, ...] = ()
    put_fields: frozenset[str] | None = None
    nested: tuple[str, ...] = ()
    references: Mapping[str, str] = field(default_factory=dict)
    discarded: tuple[str, ...] = ()

    @property
    def columns(self) -> frozenset[str]:
        """Every field a record of this resource has (what SEARCH and sort may name)."""
        return frozenset(BASE_FIELDS + self.fields + self.read_only)


_TXN_AMOUNTS = ("total", "tax", "surcharge", "shipping", "discount", "duty", "cashback", "fee")
_TXN_FLAGS = ("allowPartial", "unattended", "swiped", "pin", "signature")
RESOURCES: dict[str, Resource] = {
    r.name: r
    for r in (
        Resource(
            "entities",
            frozenset({GET, POST}),
            ("type", "name", *ADDRESS, "phone", "fax", "email", "website", "ein", "timezone", "tcVersion")
            + ("tcAcceptDate", "tcAcceptIp", "clientIp", "custom"),
            int_fields=frozenset({"type", "tcAcceptDate"}),
            nested=("merchant", "accounts"),
        ),
        Resource(
            "merchants",
            frozenset({GET, PUT}),
            ("dba", "new", "established", "annualCCSales", "avgTicket", "mcc", "environment", "status", "custom"),
            int_fields=frozenset({"new", "established", "annualCCSales", "avgTicket", "status"}),
            read_only=("entity", "boarded"),
            put_fields=frozenset(
                {"dba", "new", "established", "annualCCSales", "avgTicket", "mcc", "environment", "status"}
            )
            | frozenset({"custom", *FLAGS}),
            nested=("members",),
        ),
        Resource(
            "members",
            frozenset({GET}),
            ("first", "middle", "last", "title", "dob", "timezone", "ownership", "email", "phone", "primary", *ADDRESS),
            int_fields=frozenset({"dob", "ownership", "primary"}),
            read_only=("merchant",),
            discarded=("ssn",),
        ),
        Resource(
            "accounts",
            frozenset({GET}),
            ("primary", "status", "currency", "type", "name", "account"),
            int_fields=frozenset({"primary", "status"}),
            read_only=("entity",),
        ),
        Resource(
            "customers",
            frozenset({GET, POST, PUT, DELETE}),
            ("merchant", "entity", "first", "middle", "last", "company", "email", "phone", "fax", *ADDRESS, "custom")
            + tuple(f"shipping{f[0].upper()}{f[1:]}" for f in ("first", "last", "company", *ADDRESS, "phone")),
            references={"merchant": "merchants", "entity": "entities"},
        ),
        Resource(
            "tokens",
            frozenset({GET, POST, PUT, DELETE}),
            ("customer", "payment", "expiration", "name", "description", "custom", "origin", "entryMode"),
            int_fields=frozenset({"origin", "entryMode"}),
            read_only=("token", "status"),
            put_fields=frozenset({"expiration", "description", *FLAGS}),
        ),
        Resource(
            "txns",
            frozenset({GET, POST}),
            ("merchant", "type", "origin", "token", "payment", "expiration", "fortxn", "fromtxn", "copyReason")
            + ("order", "description", "descriptor", *_TXN_AMOUNTS, *_TXN_FLAGS, "mid", "currency", "first")
            + ("middle", "last", "company", "email", "phone", *ADDRESS, "clientIp", "cofType", "unauthReason"),
            int_fields=frozenset({"type", "origin", *_TXN_AMOUNTS, *_TXN_FLAGS}),
            read_only=("status", "approved", "originalApproved", "refunded", "reversed", "captured", "settled")
            + ("settledTotal", "funded", "returned", "authorization", "platform", "fundingEnabled", "debtRepayment"),
            references={"merchant": "merchants"},
        ),
        Resource(
            "txnSessions",  # [§7] the official SDK's TxnSessionsPostRequest and answer (local/sandbox/payfields.py)
            frozenset({GET, POST, DELETE}),
            ("login", "merchant", "configurations"),
            read_only=("status", "origin", "durationAvailable", "timesUsed", "timesApproved", "key"),
            references={"merchant": "merchants"},
        ),
        Resource(
            "txnResults",
            frozenset({GET}),
            read_only=("txn", "type", "code", "message", "originalCode", "bankCode"),
        ),
        Resource(
            "entityReturns",
            frozenset({GET}),
            read_only=("entity", "txn", "payment", "disbursement", "code", "actionCode", "message"),
        ),
        Resource(
            "entries",  # [S entries-response] made by the sandbox as money moves (local/sandbox/funds.py)
            frozenset({GET}),
            read_only=("entity", "onentity", "fromentity", "txn", "chargeback", "fee", "disbursement", "event")
            + ("eventId", "description", "amount", "isFee", "pending", "opposingEntry", "fund"),
        ),
        Resource(
            "fees",  # [S fees-response] the merchant's fee configurations, made on first use
            frozenset({GET}),
            read_only=("entity", "forentity", "type", "name", "description", "schedule", "um", "amount")
            + ("currency", "collection", "txnFee"),
        ),
        Resource(
            "disbursements",  # [S] one per entity and midnight (local/sandbox/funds.py)
            frozenset({GET}),
            read_only=("entity", "account", "payout", "description", "amount", "returnedAmount", "status")
            + ("currency", "fundingStatus", "disbursementEntriesStatus", "processed", "sameDay"),
        ),
        Resource(
            "disbursementEntries",  # [S] one per entry paid out
            frozenset({GET}),
            read_only=("disbursement", "entry", "event", "eventId", "amount", "amountUsed", "description"),
        ),
        Resource(
            "chargebacks",  # [RS] recorded fields; opened by POST /_sandbox/chargebacks (local/sandbox/disputes.py)
            frozenset({GET}),
            read_only=("merchant", "txn", "mid", "description", "total", "representedTotal", "cycle", "currency")
            + ("ref", "reason", "reasonCode", "issued", "received", "reply", "bankRef", "chargebackRef", "status")
            + ("lastStatusChange", "actionable", "paymentMethod", "shadow"),
        ),
        Resource("chargebackStatuses", frozenset({GET}), read_only=("chargeback", "chargebackMessage", "status")),
        Resource(
            "chargebackMessages",  # [S] POST only creates (disputes.create_message)
            frozenset({GET, POST}),
            read_only=("chargeback", "type", "date", "amount", "currency", "contact", "note", "fromQueue")
            + ("toQueue", "status", "imported"),
        ),
        Resource(
            "chargebackDocuments",  # [S] the record; its file: POST /files/chargebackDocuments/<id>
            frozenset({GET, POST}),
            read_only=("chargeback", "type", "name", "description", "documentSource", "ref", "status"),
        ),
        Resource(
            "paymentUpdates",  # [S] account-updater results (POST /_sandbox/account-updater)
            frozenset({GET}),
            read_only=("token", "payment", "account", "paymentUpdateGroup", "status", "platform", "ref")
            + ("clientRef", "message", "expiration"),
        ),
        Resource(
            "paymentUpdateGroups",
            frozenset({GET}),
            read_only=("entity", "processing", "processed", "numberUpdated", "expirationUpdated"),
        ),
        Resource(
            "payouts",  # [S] the entity's daily payout schedule
            frozenset({GET}),
            read_only=("entity", "account", "schedule", "currency"),
        ),
        Resource(
            "alerts",
            frozenset({GET, POST, PUT, DELETE}),
            ("login", "forlogin", "team", "division", "name", "description"),
            nested=("alertTriggers", "alertActions"),
        ),
        Resource(
            "alertTriggers",
            frozenset({GET, POST, PUT, DELETE}),
            ("alert", "event", "resource", "name", "description"),
            int_fields=frozenset({"resource"}),
            put_fields=frozenset({"event", "resource", "name", "description", *FLAGS}),
            references={"alert": "alerts"},
        ),
        Resource(
            "alertActions",
            frozenset({GET, POST, PUT, DELETE}),
            ("alert", "type", "value", "options", "headerName", "headerValue", "retries", "maxAttemptsTempDisabled"),
            int_fields=frozenset({"retries", "maxAttemptsTempDisabled"}),
            put_fields=frozenset({"type", "value", "options", "headerName", "headerValue", "retries", *FLAGS})
            | frozenset({"maxAttemptsTempDisabled"}),
            references={"alert": "alerts"},
        ),
    )
}


def clean(resource: Resource, body: Any, problems: Problems, *, put: bool = False, prefix: str = "") -> Record:
    """The body's storable fields, ints normalized; reports unknown fields (invalid_field), fields the client
    may not set (field_restricted) and non-numeric numbers (invalid_field). Nested inputs are left out."""
    if not isinstance(body, dict):
        problems.add("invalid_field", prefix.rstrip(".") or None, "Expected a JSON object")
        return {}
    values: Record = {}
    for key, value in body.items():
        name = f"{prefix}{key}"
        if key in resource.discarded or (key in resource.nested and not put):
            continue
        restricted = key in BASE_FIELDS[:5] or (key == "login" and key not in resource.fields)  # an alert names it
        if restricted or key in resource.read_only or key in resource.nested:
            problems.add("field_restricted", name)
        elif key not in resource.fields and key not in FLAGS:
            problems.add("invalid_field", name, f"Not a field of {resource.name}")
        elif put and resource.put_fields is not None and key not in resource.put_fields:
            problems.add("field_restricted", name)
        elif key in FLAGS and value not in (0, 1, "0", "1"):
            problems.add("invalid_field", name, "Expected 0 or 1")
        elif (key in resource.int_fields or key in FLAGS) and value is not None and as_int(value) is None:
            problems.add("invalid_field", name, "Expected a number")
        elif key not in resource.int_fields and key not in FLAGS and isinstance(value, int | float):
            problems.add("invalid_field", name, "Expected a string")  # text fields are text ("name": 5 is not)
        else:
            values[key] = as_int(value) if key in resource.int_fields or key in FLAGS else value
    return values


def check_references(store: Store, resource: Resource, values: Record, problems: Problems, prefix: str = "") -> None:
    for key, target in resource.references.items():
        if values.get(key) is not None and store.get(target, values[key]) is None:
            problems.add("no_such_record", f"{prefix}{key}")


def require(values: Record, names: tuple[str, ...], problems: Problems, prefix: str = "") -> None:
    for name in names:
        if values.get(name) in (None, ""):
            problems.add("required_field", f"{prefix}{name}")


# --- per-resource checks ------------------------------------------------------------------------------------


def _check_trigger(values: Record, problems: Problems, prefix: str) -> None:
    require(values, ("event", "resource"), problems, prefix)
    if values.get("event") is not None and not isinstance(values["event"], str):
        problems.add("invalid_field", f"{prefix}event", "An event name such as txn.created")


def _check_action(values: Record, problems: Problems, prefix: str) -> None:
    require(values, ("type", "value"), problems, prefix)
    if values.get("type") is not None and values["type"] not in ALERT_ACTION_TYPES:
        problems.add("invalid_field", f"{prefix}type", f"One of {sorted(ALERT_ACTION_TYPES)}")
    if values.get("type") == "web" and not str(values.get("value", "")).startswith(("http://", "https://")):
        problems.add("invalid_field", f"{prefix}value", "A web action's value is an http(s) URL")
    if values.get("options") != "JSON":
        problems.add("invalid_field", f"{prefix}options", "The sandbox delivers JSON only")
    if (values.get("retries") or 0) < 0:
        problems.add("invalid_field", f"{prefix}retries", "Expected 0 or more")
    if bool(values.get("headerName")) != bool(values.get("headerValue")):
        problems.add("required_field", f"{prefix}headerValue" if values.get("headerName") else f"{prefix}headerName")


def _check_merchant(values: Record, problems: Problems, prefix: str) -> None:
    if "mcc" in values and not (digits(values["mcc"]) and len(str(values["mcc"])) == 4):
        problems.add("invalid_field", f"{prefix}mcc", "An MCC has 4 digits")


def _check_merchant_submission(current: Record, values: Record, problems: Problems, prefix: str) -> None:
    """A merchant's status is the sandbox's to move, except submitting a draft: 0 (not ready) or 5 (incomplete)
    to 1 (ready), which starts boarding."""
    if "status" in values and not (current.get("status") in (0, 5) and values["status"] == 1):
        problems.add("field_restricted", f"{prefix}status")


def _check_token_update(values: Record, problems: Problems, prefix: str) -> None:
    if "expiration" in values and expiry_month(values["expiration"]) is None:
        problems.add("invalid_field", f"{prefix}expiration", "The expiration is MMYY")


def _check_alert(values: Record, problems: Problems, prefix: str) -> None:
    """The official SDK's AlertsPostRequest: `login` is required; the alert watches one scope."""
    require(values, ("login",), problems, prefix)
    if sum(values.get(scope) is not None for scope in ("forlogin", "team", "division")) != 1:
        problems.add("invalid_field", f"{prefix}forlogin", "Give exactly one of forlogin, team or division")


CHECKS: dict[str, Callable[[Record, Problems, str], None]] = {
    "alerts": _check_alert,
    "alertTriggers": _check_trigger,
    "alertActions": _check_action,
    "merchants": _check_merchant,
}
UPDATE_CHECKS: dict[str, Callable[[Record, Problems, str], None]] = {"tokens": _check_token_update}


DEFAULTS: dict[str, Record] = {"alertActions": {"options": "JSON", "retries": 0}}


def validated(
    store: Store, name: str, body: Any, problems: Problems, *, current: Record | None = None, prefix: str = ""
) -> Record:
    """The storable values of a POST (current is None, defaults applied) or a PUT (checked merged with current)."""
    resource = RESOURCES[name]
    values = clean(resource, body, problems, put=current is not None, prefix=prefix)
    check_references(store, resource, values, problems, prefix)
    if current is None:
        values = {**DEFAULTS.get(name, {}), **values}
    if name == "merchants" and current is not None:
        _check_merchant_submission(current, values, problems, prefix)
    checks = (CHECKS.get(name), UPDATE_CHECKS.get(name) if current is not None else None)
    for check in filter(None, checks):
        check({**(current or {}), **values}, problems, prefix)
    return values


# --- operations -----------------------------------------------------------------------------------------------


def create_customer(store: Store, body: Any) -> Record:
    problems = Problems()
    values = validated(store, "customers", body, problems)
    problems.raise_if_any()
    return store.insert("customers", values)


def create_alert_part(store: Store, body: Any, *, name: str) -> Record:
    """POST /alertTriggers or /alertActions: a trigger or action of an existing alert."""
    problems = Problems()
    values = validated(store, name, body, problems)
    require(values, ("alert",), problems)
    problems.raise_if_any()
    return store.insert(name, values)


def create_alert(store: Store, body: Any) -> Record:
    """POST /alerts, with nested `alertTriggers` and `alertActions` created alongside (returned nested)."""
    problems = Problems()
    values = validated(store, "alerts", body, problems)
    parts: dict[str, list[Record]] = {}
    for name in ("alertTriggers", "alertActions"):
        items = (body.get(name) or []) if isinstance(body, dict) else []
        if not isinstance(items, list):
            problems.add("invalid_field", name, "Expected a list")
            items = []
        parts[name] = [validated(store, name, item, problems, prefix=f"{name}[{i}].") for i, item in enumerate(items)]
    problems.raise_if_any()
    alert = store.insert("alerts", values)
    nested = {name: [store.insert(name, {**v, "alert": alert["id"]}) for v in items] for name, items in parts.items()}
    return {**alert, **nested}


def create_token(store: Store, body: Any) -> Record:
    """POST /tokens: vault a card or bank account for a customer (an id, or a customer object created inline)."""
    problems = Problems()
    values = validated(store, "tokens", body, problems)
    customer = values.get("customer")
    inline_customer = (
        validated(store, "customers", customer, problems, prefix="customer.") if isinstance(customer, dict) else None
    )
    if customer is None:
        problems.add("required_field", "customer")
    elif inline_customer is None and store.get("customers", customer) is None:
        problems.add("no_such_record", "customer")
    instrument = parse_instrument(
        values.get("payment"), values.get("expiration"), store.today, problems, reject_expired=True
    )
    problems.raise_if_any()
    assert instrument is not None
    if inline_customer is not None:
        values["customer"] = store.insert("customers", inline_customer)["id"]
    values.update(
        payment=instrument.public(store.vault(instrument)),
        expiration=instrument.expiration,
        token=secrets.token_hex(16),
        status="ready",
    )
    return store.insert("tokens", values)


def update(store: Store, name: str, record: Record, body: Any) -> Record:
    """PUT /{resource}/{id}: change the fields the resource allows (others → field_restricted)."""
    problems = Problems()
    values = validated(store, name, body, problems, current=record)
    problems.raise_if_any()
    store.update(name, record, values)
    return record


def delete(store: Store, name: str, record: Record) -> Record:
    """DELETE /{resource}/{id}; deleting an alert deletes its triggers and actions too."""
    if name == "alerts":
        for part in ("alertTriggers", "alertActions"):
            for child in [r for r in store.rows(part) if r["alert"] == record["id"]]:
                store.delete(part, child)
    store.delete(name, record)
    return record


def require_method(name: str, method: str) -> Resource:
    resource = RESOURCES.get(name)
    if resource is None or method not in resource.methods:
        raise refuse("invalid_resource")
    return resource
