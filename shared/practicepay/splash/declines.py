"""Decline reasons → our categories, from the processor's text, its raw (Vantiv-style) code and Splash's
normalized bankCode (splash-api.md §6.1). `retryable` marks soft declines a later attempt may clear."""

from __future__ import annotations

import re

from practicepay.splash.errors import Decline

# (category, retryable, processor codes, bankCode values, text pattern), first match wins.
_RULES: tuple[tuple[str, bool, frozenset[str], frozenset[str], re.Pattern[str]], ...] = tuple(
    (category, retryable, frozenset(codes), frozenset(bank), re.compile(text, re.I))
    for category, retryable, codes, bank, text in (
        (
            "insufficient_funds",
            True,
            {"110", "112", "113", "114", "115", "116", "117", "118"},
            {"insufficient_funds"},
            r"insufficient|\bnsf\b",
        ),
        ("expired_card", False, {"305", "320"}, {"expired_card"}, r"expired|bad expiration"),
        ("cvv_failed", False, {"352"}, {"cvv_failed", "incorrect_cvc"}, r"cvv|cvc|cid fail"),
        (
            "lost_or_stolen",
            False,
            {"303", "304"},
            {"lost_card", "stolen_card", "pickup_card", "lost_or_stolen"},
            r"lost|stolen|pick ?up",
        ),
        ("suspected_fraud", False, {"555"}, {"fraudulent", "suspected_fraud"}, r"fraud"),
        (
            "invalid_card",
            False,
            {"301", "323"},
            {"invalid_account", "invalid_number", "no_such_issuer"},
            r"invalid account|invalid card|no such issuer|invalid number",
        ),
        ("restricted_card", False, {"307"}, {"restricted_card"}, r"restricted"),
        (
            "over_limit",
            True,
            {"127"},
            {"over_limit", "over_approval_limit", "card_velocity_exceeded"},
            r"over (the )?approval limit|exceeds",
        ),
        ("duplicate_transaction", False, {"251"}, {"duplicate_transaction"}, r"duplicate"),
        (
            "processor_unavailable",
            True,
            {"101"},
            {"issuer_not_available", "issuer_unavailable", "network_unavailable", "processing_error"},
            r"unavailable|timeout|try again",
        ),
        ("call_issuer", False, {"120"}, {"call_issuer"}, r"call issuer|refer"),
        ("not_authorized", False, set(), {"not_authorized"}, r"not authori[sz]ed"),
        (
            "invalid_bank_account",
            False,
            set(),
            {"invalid_bank_account", "account_closed"},
            r"account (closed|frozen|not found)|routing",
        ),
        ("do_not_honor", False, {"349"}, {"do_not_honor"}, r"do not honou?r"),
        ("stop_recurring", False, {"328"}, {"stop_recurring"}, r"stop recurring|revoked"),
    )
)


def classify(
    processor_text: str,
    processor_code: str | None = None,
    bank_code: str | None = None,
    txn_id: str | None = None,
) -> Decline:
    code = (processor_code or "").strip()
    bank = (bank_code or "").strip().lower()
    for category, retryable, codes, banks, pattern in _RULES:
        if code in codes or bank in banks or pattern.search(processor_text or ""):
            return Decline(category, retryable, processor_text, processor_code, bank_code, txn_id)
    return Decline("generic_decline", False, processor_text, processor_code, bank_code, txn_id)
