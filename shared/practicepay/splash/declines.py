"""Decline reasons → our categories (splash-api.md §6.1). In order: Splash's normalized `bankCode`, from the
official list (practicepay.splash.bank_codes, all 389 values); then the processor's raw code (`originalCode`,
Vantiv's response codes); then the processor's text; else `generic_decline`. A generic bankCode or code
("declined", 350) lets the next source say more. `retryable` marks soft declines a later attempt may clear.

`stop_recurring` (the cardholder asked the issuer to stop recurring or installment payments, or revoked the
merchant's authorization) is hard and also ends autopay on the card (practicepay.billing.follow)."""

from __future__ import annotations

import re

from practicepay.splash.bank_codes import BANK_CODES, GENERIC, SOFT
from practicepay.splash.errors import Decline

STOPS_AUTOPAY = frozenset({"stop_recurring"})
"""Categories after which autopay must not charge the payment method again."""

# Vantiv (VAP) processor response codes, as Payrix publishes them (resource.payrix.com/docs/processor-response-codes;
# api-evangelist/payrix errors/payrix-decline-codes.yml). 350 "Generic Decline" is left to the text.
_VANTIV: dict[str, str] = {
    **dict.fromkeys(("100", "101", "102", "108", "206", "252", "258", "372", "386"), "try_again_later"),
    **dict.fromkeys(("521", "523", "560", "561", "601", "602"), "try_again_later"),
    **dict.fromkeys(("110", "112", "113", "114", "115", "116", "117", "118"), "insufficient_funds"),
    **dict.fromkeys(("120", "121", "122", "123", "124", "125", "126", "130", "140"), "call_issuer"),
    "127": "over_limit",
    **dict.fromkeys(("207", "213", "214", "303", "304"), "lost_or_stolen"),
    **dict.fromkeys(("215", "218", "229", "307", "308", "309", "312", "317", "321", "322"), "restricted_card"),
    **dict.fromkeys(("325", "327", "330", "565"), "restricted_card"),
    **dict.fromkeys(("226", "352", "358"), "cvv_failed"),
    **dict.fromkeys(("251", "316"), "duplicate_transaction"),
    **dict.fromkeys(("253", "301", "302", "323"), "invalid_card"),
    **dict.fromkeys(("148", "305", "320"), "expired_card"),
    **dict.fromkeys(("315", "318", "550", "555"), "suspected_fraud"),
    **dict.fromkeys(("131", "319", "324", "326", "351"), "verification_failed"),
    **dict.fromkeys(("219", "501"), "account_closed"),
    "328": "stop_recurring",
    **dict.fromkeys(("349", "373", "611"), "do_not_honor"),
    "364": "invalid_bank_account",
    "566": "not_authorized",
    **dict.fromkeys(
        ("103", "111", "143", "170", "192", "209", "212", "257", "340", "361", "362", "365"), "invalid_request"
    ),
    **dict.fromkeys(("366", "367", "370", "371"), "invalid_request"),
}

# (category, retryable, text pattern) for the processor's text, first match wins. Every category the module can
# answer has a rule here (docs/events/common.json enumerates them; tests/unit/test_event_schemas reads this).
_RULES: tuple[tuple[str, bool, re.Pattern[str]], ...] = tuple(
    (category, category in SOFT, re.compile(text, re.I))
    for category, text in (
        (
            "stop_recurring",
            r"stop(ped)? recurring|recurring or instal+ment payments? (be )?stopped"
            r"|revocation of (all )?authori[sz]ation|stop payment order",
        ),
        ("insufficient_funds", r"insufficient (collected )?funds|not sufficient funds|\bnsf\b"),
        ("expired_card", r"expired card|card (has )?expired|bad expiration|invalid expiration"),
        ("cvv_failed", r"cvv|cvc|cid fail|security code"),
        ("lost_or_stolen", r"lost|stolen|pick ?up card|retain card"),
        ("suspected_fraud", r"fraud"),
        ("account_closed", r"account (was |is )?closed|closed account"),
        ("invalid_bank_account", r"account (frozen|not found)|routing|(checking|savings) account"),
        ("invalid_card", r"invalid (account|card)|no such issuer|invalid number|undefined card|incorrect number"),
        ("over_limit", r"over (the )?approval limit|exceeds [\w ]*limit|limit exceeded|velocity"),
        ("duplicate_transaction", r"duplicate"),
        (
            "invalid_request",
            r"merchant not|not (certified|enabled)|format error|exceeds (the )?capture|already settled"
            r"|no longer available",
        ),
        ("restricted_card", r"restricted|not permitted|not allowed|illegal transaction|card not active"),
        (
            "try_again_later",
            r"unavailable|time ?out|timed out|try again|re-?submit|re-?enter|please retry|system error"
            r"|network error|soft decline|issuer generated error",
        ),
        ("call_issuer", r"\bcall\b|refer"),
        ("not_authorized", r"not authori[sz]ed|unauthori[sz]ed"),
        ("verification_failed", r"\bavs\b|address|\bzip\b|positive id|\bpin\b|3-?d ?secure|verification"),
        ("do_not_honor", r"do not honou?r|do not try again"),
    )
)

CATEGORIES: frozenset[str] = frozenset(rule[0] for rule in _RULES) | {"generic_decline"}


def classify(
    processor_text: str,
    processor_code: str | None = None,
    bank_code: str | None = None,
    txn_id: str | None = None,
) -> Decline:
    category, retryable = _reason(processor_text or "", (processor_code or "").strip(), (bank_code or "").strip())
    return Decline(category, retryable, processor_text, processor_code, bank_code, txn_id)


def _reason(text: str, code: str, bank: str) -> tuple[str, bool]:
    mapped = BANK_CODES.get(bank.lower())
    if mapped is not None and bank.lower() not in GENERIC:
        return mapped
    if code in _VANTIV:
        return _VANTIV[code], _VANTIV[code] in SOFT
    for category, retryable, pattern in _RULES:
        if pattern.search(text):
            return category, retryable
    return "generic_decline", False
