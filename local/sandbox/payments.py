"""Card and bank account validation: Luhn, the ABA routing check digit, brand from BIN, MMYY expiry.

An `Instrument` holds the full number for the sandbox's own decisions (test bank accounts); only its
`public()` view (last four, BIN or routing) is ever serialized."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from local.sandbox.errors import Problems
from local.sandbox.tables import BANK_METHODS, CARD_METHODS

AMEX, VISA, MASTERCARD, DISCOVER = 1, 2, 3, 5


def as_int(value: Any) -> int | None:
    """An int from an int or a numeric string (Splash accepts `"type": "1"`); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def digits(value: Any) -> str | None:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    return text if isinstance(text, str) and text.isdigit() else None


def luhn_ok(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def aba_ok(routing: str) -> bool:
    """The ABA routing number check: 3·(d1+d4+d7) + 7·(d2+d5+d8) + (d3+d6+d9) ≡ 0 (mod 10)."""
    if len(routing) != 9 or not routing.isdigit():
        return False
    d = [int(c) for c in routing]
    return (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + d[2] + d[5] + d[8]) % 10 == 0


def card_brand(number: str) -> int | None:
    """The payment `method` a card number's BIN implies (Visa, Mastercard, Amex, Discover), else None."""
    if number.startswith("4"):
        return VISA
    if 51 <= int(number[:2]) <= 55 or 2221 <= int(number[:4]) <= 2720:
        return MASTERCARD
    if number[:2] in ("34", "37"):
        return AMEX
    if number.startswith(("6011", "65")):
        return DISCOVER
    return None


def expiry_month(mmyy: Any) -> tuple[int, int] | None:
    """(year, month) of an MMYY expiration, or None when it is not one."""
    if not isinstance(mmyy, str) or len(mmyy) != 4 or not mmyy.isdigit() or not 1 <= int(mmyy[:2]) <= 12:
        return None
    return 2000 + int(mmyy[2:]), int(mmyy[:2])


def is_expired(mmyy: str, today: date) -> bool:
    month = expiry_month(mmyy)
    return month is not None and month < (today.year, today.month)


@dataclass(frozen=True)
class Instrument:
    method: int
    number: str
    routing: str | None = None
    expiration: str | None = None

    @property
    def is_bank(self) -> bool:
        return self.method in BANK_METHODS

    def public(self, payment_id: str) -> dict[str, Any]:
        view: dict[str, Any] = {"id": payment_id, "method": self.method, "number": self.number[-4:]}
        if self.is_bank:
            view["routing"] = self.routing
        else:
            view["bin"] = self.number[:6]
        return view


def parse_instrument(
    payment: Any, expiration: Any, today: date, problems: Problems, *, reject_expired: bool, prefix: str = "payment"
) -> Instrument | None:
    """Validate a `payment` object (and the card's MMYY `expiration`), reporting every problem found."""
    if not isinstance(payment, dict):
        problems.add("required_field" if payment is None else "invalid_field", prefix)
        return None
    before = len(problems.errors)
    number = digits(payment.get("number"))
    if number is None:
        problems.add("required_field" if payment.get("number") is None else "invalid_field", f"{prefix}.number")
    method = as_int(payment.get("method"))
    if payment.get("method") is not None and method is None:
        problems.add("invalid_field", f"{prefix}.method")
    routing = payment.get("routing")
    if method in BANK_METHODS or (method is None and routing is not None):
        instrument = _bank(number, method, routing, problems, prefix)
    else:
        instrument = _card(number, method, payment.get("cvv"), expiration, today, problems, prefix, reject_expired)
    return instrument if len(problems.errors) == before else None


def _bank(number: str | None, method: int | None, routing: Any, problems: Problems, prefix: str) -> Instrument | None:
    if method is None:
        problems.add("required_field", f"{prefix}.method", "A bank account needs method 8-11")
    if number is not None and not 4 <= len(number) <= 17:
        problems.add("invalid_field", f"{prefix}.number", "A bank account number has 4 to 17 digits")
    if routing is None:
        problems.add("required_field", f"{prefix}.routing")
    elif not aba_ok(str(routing)):
        problems.add("invalid_field", f"{prefix}.routing", "The routing number fails the ABA check digit")
    if number is None or method is None or routing is None:
        return None
    return Instrument(method, number, str(routing))


def _card(
    number: str | None,
    method: int | None,
    cvv: Any,
    expiration: Any,
    today: date,
    problems: Problems,
    prefix: str,
    reject_expired: bool,
) -> Instrument | None:
    brand = None
    if method is not None and method not in CARD_METHODS:
        problems.add("invalid_field", f"{prefix}.method", "Unknown payment method")
    if number is not None:
        if not 12 <= len(number) <= 19 or not luhn_ok(number):
            problems.add("invalid_field", f"{prefix}.number", "The card number fails the Luhn check")
        else:
            brand = card_brand(number)
            if brand is None and method is None:
                problems.add("invalid_field", f"{prefix}.number", "The card brand cannot be told from the number")
            elif brand is not None and method is not None and method != brand:
                problems.add("txn_type_payment_method_mismatch", f"{prefix}.method")
    if cvv is not None and not (digits(cvv) and 3 <= len(str(cvv)) <= 4):
        problems.add("invalid_field", f"{prefix}.cvv", "A CVV has 3 or 4 digits")
    if expiration is None:
        problems.add("required_field", "expiration")
    elif expiry_month(expiration) is None:
        problems.add("invalid_field", "expiration", "The expiration is MMYY")
    elif reject_expired and is_expired(expiration, today):
        problems.add("invalid_field", "expiration", "The card has expired")
    resolved = method if method is not None else brand
    if number is None or resolved is None or expiration is None:
        return None
    return Instrument(resolved, number, None, str(expiration))
