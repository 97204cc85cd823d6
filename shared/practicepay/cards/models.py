"""The rules of keeping cards current, with no I/O: what an account-updater result means, when a card stops being
good, and the details of the events that announce both (ids, dates and the card's last four digits; never a token).

Payrix's account updater answers each stored card with a free-text `message` (no code, no old/new pair) and the
card's expiration after the update, "MMYY"; the token keeps its id and its token string (Payrix's account-updater
page). The messages it documents are matched here; an unknown one changes nothing."""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Any

from practicepay.patients.store import MethodRecord

EXPIRING_AHEAD_DAYS = 30
"""How far ahead of an autopay charge a card that will have expired by then is flagged."""


class Outcome(StrEnum):
    EXPIRY_CHANGED = "expiry_changed"
    NUMBER_CHANGED = "number_changed"
    CLOSED = "closed"
    CONTACT_CARDHOLDER = "contact_cardholder"
    NO_CHANGE = "no_change"


UPDATED = frozenset({Outcome.EXPIRY_CHANGED, Outcome.NUMBER_CHANGED})
"""Outcomes whose new card details are read from the token at Splash."""
UPDATE_REQUIRED = frozenset({Outcome.CLOSED, Outcome.CONTACT_CARDHOLDER})
"""Outcomes that leave the card unusable until the patient gives a new one."""

_MESSAGES = {
    "account number was changed": Outcome.NUMBER_CHANGED,
    "expiration date was changed": Outcome.EXPIRY_CHANGED,
    "account was closed": Outcome.CLOSED,
    "contact cardholder for updated information": Outcome.CONTACT_CARDHOLDER,
    "issuing bank does not participate in the update program": Outcome.NO_CHANGE,
    "no match found": Outcome.NO_CHANGE,
    "no changes found": Outcome.NO_CHANGE,
}


def _normal(message: str) -> str:
    return re.sub(r"[^a-z ]+", "", re.sub(r"\s+", " ", message.lower())).strip()


def outcome_of(message: str | None) -> Outcome | None:
    """The outcome a message names: one of the documented messages, whatever its case, spacing or final stop.
    None for a message not documented (the caller treats it as no change and logs it)."""
    return _MESSAGES.get(_normal(message or ""))


def parse_expiration(value: str | None) -> tuple[int, int] | None:
    """(month, four-digit year) of a Splash "MMYY" expiration; None when it is not one."""
    if value is None or not re.fullmatch(r"(0[1-9]|1[0-2])[0-9]{2}", value):
        return None
    return int(value[:2]), 2000 + int(value[2:])


def expires_before(exp_month: int | None, exp_year: int | None, day: date) -> bool:
    """Whether a card can no longer be charged on `day`: it is good through the last day of its expiry month. A
    method without an expiry (a bank account) never expires."""
    if exp_month is None or exp_year is None:
        return False
    return (exp_year, exp_month) < (day.year, day.month)


def applied_sk(update_id: str) -> str:
    """The sort key of the patients-table item that records a paymentUpdate as applied (under its practice)."""
    return f"CARDUPDATE#{update_id}"


def expiring_sk(method_id: str, exp_month: int, exp_year: int) -> str:
    """The sort key of the item that records a card announced as expiring, once per (method, expiry)."""
    return f"EXPIRING#{method_id}#{exp_year:04d}{exp_month:02d}"


def updated_detail(method: MethodRecord, outcome: Outcome) -> dict[str, Any]:
    """payment_method.updated: the card as it is after the update (an update-required card as it was)."""
    return {
        "payment_method_id": method.id,
        "patient_id": method.patient_id,
        "outcome": outcome.value,
        "exp_month": method.exp_month,
        "exp_year": method.exp_year,
        "last4": method.last4,
        "brand": method.brand,
    }


def expiring_detail(method: MethodRecord, next_charge_on: str, owner_id: str, inst_id: str | None) -> dict[str, Any]:
    """payment_method.expiring: the card, and the first autopay charge it will have expired by. `owner_id` is the
    plan (pln_…) or membership (sub_…); `inst_id` the installment, when one is issued (a membership's next cycle
    has none yet)."""
    owner = "subscription_id" if owner_id.startswith("sub_") else "plan_id"
    detail: dict[str, Any] = {
        "payment_method_id": method.id,
        "patient_id": method.patient_id,
        "exp_month": method.exp_month,
        "exp_year": method.exp_year,
        "next_charge_on": next_charge_on,
        owner: owner_id,
    }
    if inst_id is not None:
        detail["installment_id"] = inst_id
    return detail
