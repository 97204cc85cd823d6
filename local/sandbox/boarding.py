"""Boarding: `POST /entities` with a nested merchant (+ members) and bank accounts, and the merchant's progress
at day boundaries: ready (1) → pending (6) → boarded (2), or declined (4) when the entity name says DECLINE."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from local.sandbox.errors import Problems
from local.sandbox.payments import as_int, parse_instrument
from local.sandbox.resources import require, validated
from local.sandbox.store import Record, Store, yyyymmdd
from local.sandbox.tables import (
    BANK_METHODS,
    CLIENT_MERCHANT_STATUSES,
    COUNTRIES,
    DECLINE_BOARDING_MARKER,
    ENTITY_TYPES,
    MAX_OWNERSHIP,
    MerchantStatus,
)

# The official SDK also marks the terms acceptance, the client IP and the time zones required (splash-api.md §10;
# over-strict markers, enforcement unknown): the sandbox enforces them so a client that leaves them out fails here.
TERMS_REQUIRED = ("clientIp", "timezone", "tcVersion", "tcAcceptDate", "tcAcceptIp")
ENTITY_REQUIRED = ("name", "type", "address1", "city", "state", "zip", "country", "email", "phone", *TERMS_REQUIRED)
MEMBER_REQUIRED = ("first", "last", "ownership", "dob", "timezone")


def create_entity(store: Store, body: Any) -> Record:
    """Validate the whole boarding request, then create entity, merchant, members and accounts. The returned
    entity carries the created `merchant` (with `members`) and `accounts` nested, as the POST answers."""
    problems = Problems()
    entity = validated(store, "entities", body, problems)
    require(entity, ENTITY_REQUIRED, problems)
    if entity.get("type") is not None and entity["type"] not in ENTITY_TYPES:
        problems.add("invalid_field", "type", "An entity type is 0-8")
    if entity.get("country") is not None and entity["country"] not in COUNTRIES:
        problems.add("invalid_field", "country", "USA or CAN")
    _check_terms(entity, problems)
    nested = body if isinstance(body, dict) else {}
    merchant = _merchant(store, nested["merchant"], problems) if nested.get("merchant") is not None else None
    members = _members(store, nested["merchant"], problems) if merchant is not None else []
    accounts = [
        _account(store, item, problems, f"accounts[{i}].") for i, item in enumerate(_list(nested, "accounts", problems))
    ]
    problems.raise_if_any()

    created = store.insert("entities", entity)
    result = {**created, "accounts": [store.insert("accounts", {**a, "entity": created["id"]}) for a in accounts]}
    if merchant is not None:
        record = store.insert("merchants", {**merchant, "entity": created["id"]})
        store.emit("merchant.created", "merchants", record)
        result["merchant"] = {
            **record,
            "members": [store.insert("members", {**m, "merchant": record["id"]}) for m in members],
        }
    return result


def _check_terms(entity: Record, problems: Problems) -> None:
    """tcAcceptDate is YYYYMMDDHHII (SDK; recorded as the string "202204281403"), the IPs are addresses."""
    accepted = entity.get("tcAcceptDate")
    if accepted is not None and not re.fullmatch(
        r"20[0-9]{2}(0[1-9]|1[0-2])[0-3][0-9][0-2][0-9][0-5][0-9]", str(accepted)
    ):
        problems.add("invalid_field", "tcAcceptDate", "The acceptance date and time is YYYYMMDDHHII")
    for name in ("clientIp", "tcAcceptIp"):
        if entity.get(name) is not None and not _is_ip(entity[name]):
            problems.add("invalid_field", name, "An IPv4 or IPv6 address")


def _is_ip(value: Any) -> bool:
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        return False
    return True


def _list(body: Any, key: str, problems: Problems, prefix: str = "") -> list[Any]:
    items = body.get(key) if isinstance(body, dict) else None
    if items is not None and not isinstance(items, list):
        problems.add("invalid_field", f"{prefix}{key}", "Expected a list")
        return []
    return items or []


def _merchant(store: Store, body: Any, problems: Problems) -> Record:
    merchant = validated(store, "merchants", body, problems, prefix="merchant.")
    require(merchant, ("mcc",), problems, "merchant.")
    merchant.setdefault("status", MerchantStatus.NOT_READY)
    if merchant["status"] not in CLIENT_MERCHANT_STATUSES:
        allowed = ", ".join(str(int(s)) for s in sorted(CLIENT_MERCHANT_STATUSES))
        problems.add("invalid_field", "merchant.status", f"A new merchant's status is one of {allowed}")
    return merchant


def _members(store: Store, merchant: Any, problems: Problems) -> list[Record]:
    members = []
    for i, item in enumerate(_list(merchant, "members", problems, "merchant.")):
        prefix = f"merchant.members[{i}]."
        member = validated(store, "members", item, problems, prefix=prefix)
        require(member, MEMBER_REQUIRED, problems, prefix)
        if member.get("ownership") is not None and not 0 <= member["ownership"] <= MAX_OWNERSHIP:
            problems.add("invalid_field", f"{prefix}ownership", "Ownership is in basis points, 0-10000")
        members.append(member)
    if sum(m.get("ownership") or 0 for m in members) > MAX_OWNERSHIP:
        problems.add("invalid_field", "merchant.members", "The members' ownership adds up to more than 10000")
    return members


def _account(store: Store, body: Any, problems: Problems, prefix: str) -> Record:
    account = validated(store, "accounts", body, problems, prefix=prefix)
    details = account.get("account")
    if isinstance(details, dict) and as_int(details.get("method")) not in BANK_METHODS:
        problems.add("invalid_field", f"{prefix}account.method", "A bank account's method is 8-11")
        return account
    instrument = parse_instrument(details, None, store.today, problems, reject_expired=False, prefix=f"{prefix}account")
    if instrument is not None:
        account["account"] = {
            "method": instrument.method,
            "number": instrument.number[-4:],
            "routing": instrument.routing,
        }
    return account


def board(store: Store) -> None:
    """One day boundary of underwriting: pending merchants are decided, then ready ones become pending."""
    entities = store.tables["entities"]
    for merchant in [m for m in store.rows("merchants") if m["status"] == MerchantStatus.PENDING]:
        if DECLINE_BOARDING_MARKER in entities[merchant["entity"]]["name"].upper():
            store.update("merchants", merchant, {"status": MerchantStatus.DECLINED}, "merchant.failed")
        else:
            changes = {"status": MerchantStatus.BOARDED, "boarded": yyyymmdd(store.today)}
            store.update("merchants", merchant, changes, "merchant.boarded")
    for merchant in [m for m in store.rows("merchants") if m["status"] == MerchantStatus.READY]:
        store.update("merchants", merchant, {"status": MerchantStatus.PENDING}, "merchant.boarding")
