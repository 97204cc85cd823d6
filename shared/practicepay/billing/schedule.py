"""The arithmetic of installment plans and memberships (pure: no I/O): splitting a balance into installments
whose cents add up exactly, the due dates of each frequency, and the retry policy a practice sets."""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

MAX_INSTALLMENTS = 60
"""A plan and its installments are written in one DynamoDB transaction (at most 100 items)."""


class Frequency(StrEnum):
    WEEKLY = "weekly"
    EVERY_TWO_WEEKS = "every_two_weeks"
    MONTHLY = "monthly"


def nth_date(first: date, frequency: Frequency, n: int) -> date:
    """The date of the n-th charge (0 is `first`). Monthly keeps the first date's day, or the month's last day
    when the month is shorter (Jan 31 → Feb 28 → Mar 31), never drifting."""
    if frequency is Frequency.WEEKLY:
        return first + timedelta(weeks=n)
    if frequency is Frequency.EVERY_TWO_WEEKS:
        return first + timedelta(weeks=2 * n)
    months = first.month - 1 + n
    year, month = first.year + months // 12, months % 12 + 1
    return date(year, month, min(first.day, calendar.monthrange(year, month)[1]))


def split(balance: int, *, count: int | None = None, amount: int | None = None) -> list[int]:
    """Installment amounts in cents that add up to `balance` exactly: `count` equal parts with the remainder on the
    last, or parts of `amount` with the smaller remainder last. ValueError when the plan cannot be made."""
    if balance <= 0:
        raise ValueError("nothing is left to pay on this invoice")
    if (count is None) == (amount is None):
        raise ValueError("give either installment_count or installment_amount")
    if count is not None:
        if count > balance:
            raise ValueError(f"{count} installments of a {balance}-cent balance would leave some at 0 cents")
        base = balance // count
        parts = [base] * (count - 1) + [balance - base * (count - 1)]
    else:
        assert amount is not None
        full, rest = divmod(balance, amount)
        parts = [amount] * full + ([rest] if rest else [])
    if len(parts) < 2:
        raise ValueError("a plan has at least two installments; take a single payment instead")
    if len(parts) > MAX_INSTALLMENTS:
        raise ValueError(f"a plan has at most {MAX_INSTALLMENTS} installments ({len(parts)} asked)")
    return parts


@dataclass(frozen=True)
class RetryPolicy:
    """How failed autopay charges are tried again; the practice's settings, copied onto each plan when it is made
    so a patient's schedule does not change under them."""

    card_retry_days: tuple[int, ...] = (1, 3, 7)
    """Soft card declines are tried again this many days after the first attempt; hard declines never."""
    ach_redeposit_delay_days: int = 5
    """An R01/R09 return is re-presented this many days after the returned presentment was sent."""
    ach_max_redeposits: int = 2
    ach_window_days: int = 180
    """NACHA: at most two re-presentments, within 180 days of the original entry."""
    notice_days: int = 3
    """installment.upcoming is emitted this many days before each autopay charge (the patient notice)."""

    @classmethod
    def from_record(cls, stored: Mapping[str, Any]) -> RetryPolicy:
        """The policy as copied onto a plan, a membership or an installment (defaults for what is missing)."""
        known = {k: v for k, v in stored.items() if k in cls.__dataclass_fields__}
        if "card_retry_days" in known:
            known["card_retry_days"] = tuple(known["card_retry_days"])
        return cls(**known)

    def to_record(self) -> dict[str, Any]:
        return {**asdict(self), "card_retry_days": list(self.card_retry_days)}

    def next_card_retry(self, first_attempt: date, attempts: int) -> date | None:
        """After `attempts` failed soft declines, when to try again; None when the schedule is used up."""
        if attempts > len(self.card_retry_days):
            return None
        return first_attempt + timedelta(days=self.card_retry_days[attempts - 1])

    def next_redeposit(self, first_attempt: date, presented: date, redeposits: int) -> date | None:
        """After a representable return (R01, R09) of the presentment sent on `presented`, when to re-present it;
        None after two re-presentments or beyond 180 days of the original."""
        if redeposits >= self.ach_max_redeposits:
            return None
        when = presented + timedelta(days=self.ach_redeposit_delay_days)
        return when if when <= first_attempt + timedelta(days=self.ach_window_days) else None
