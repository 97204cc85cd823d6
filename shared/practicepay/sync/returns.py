"""ACH returns (NACHA R-codes, splash-api.md §6.3): the category staff see, and whether the account may be
debited again. Only R01 (insufficient funds) and R09 (uncollected funds) may be re-presented; every other
return blocks the bank account until the patient gives a new one or a new authorization."""

from __future__ import annotations

REPRESENTABLE = frozenset({"R01", "R09"})

_CATEGORY_BY_ACTION = {"nsf": "nsf", "badaccount": "bad_account", "unauthorized": "unauthorized"}
_CATEGORY_BY_CODE = {
    **dict.fromkeys(("R01", "R09"), "nsf"),
    **dict.fromkeys(("R02", "R03", "R04", "R12", "R13", "R14", "R15", "R16", "R20"), "bad_account"),
    **dict.fromkeys(("R05", "R07", "R08", "R10", "R11", "R29", "R51"), "unauthorized"),
}
_MEANING = {
    "R01": "insufficient funds",
    "R02": "account closed",
    "R03": "no account / unable to locate account",
    "R04": "invalid account number",
    "R05": "unauthorized debit to consumer account",
    "R06": "returned per ODFI's request",
    "R07": "authorization revoked by customer",
    "R08": "payment stopped",
    "R09": "uncollected funds",
    "R10": "customer advises not authorized",
    "R11": "not in accordance with the authorization",
    "R12": "account sold to another bank",
    "R16": "account frozen",
    "R20": "non-transaction account",
    "R29": "corporate customer advises not authorized",
}


def category(code: str, action_code: str | None = None) -> str:
    """nsf, bad_account, unauthorized or other: Splash's actionCode when it gives one, else the code's class."""
    by_action = _CATEGORY_BY_ACTION.get((action_code or "").replace("_", "").lower())
    return by_action or _CATEGORY_BY_CODE.get(code.upper(), "other")


def blocks_method(code: str) -> bool:
    return code.upper() not in REPRESENTABLE


def meaning(code: str, message: str | None = None) -> str:
    return message or _MEANING.get(code.upper(), "returned by the bank")
