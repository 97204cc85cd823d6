"""The sandbox's knobs: one dataclass, every field with the default the contract (ADR 0004) names."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

DeclineStyle = Literal["txn_and_errors", "errors_only"]
DECLINE_STYLES: tuple[DeclineStyle, ...] = ("txn_and_errors", "errors_only")


@dataclass
class SandboxSettings:
    """`start` is the sandbox clock's first instant (UTC; default: now). The clock only moves when advanced."""

    api_keys: tuple[str, ...] = ("sandbox-private-key",)
    public_api_keys: tuple[str, ...] = ("sandbox-public-key",)
    """PayFields' public keys (splash-api.md §7): they only tokenize, and only with a live txnSession key, through
    the PayFields frames (POST /payFields/tokenize) or POST /tokens with a TXNSESSIONKEY header. Any other use
    answers invalid_auth."""
    txn_session_minutes: int = 10
    """A txnSession's life when its `configurations` name no `duration` (the SDK: "expires automatically after
    10 minutes of inactivity or by the customizable configurations field"; the sandbox counts from creation)."""
    bad_key_status: int = 401
    decline_style: DeclineStyle = "txn_and_errors"
    rate_limit_per_10s: int = 1000
    rate_limit_test_per_10s: int = 10
    rate_limit_block_seconds: float = 10.0
    suffix_trigger_below: int = 100
    start: datetime | None = None
    alert_timeout_seconds: float = 5.0
    alert_backoff_seconds: float = 1.0
    login: str = "t1_log_sandbox000000000000000000"
    card_fee_bps: int = 290
    card_fee_fixed: int = 30
    """[contract #19] The sandbox's card processing fee on each capture: bps of the approved amount plus cents."""
    echeck_fee_bps: int = 80
    echeck_fee_cap: int = 500
    # [contract #19] chargebacks: the recorded −3000 "CHARGEBACK" fee (splash-api.md §10); whether Payrix gives it
    # back on a won dispute is undocumented (a setting); the reply deadline; Payrix's evidence limits (2 MB a PDF,
    # 10 MB in all: the dispute-management page).
    chargeback_fee: int = 3000
    chargeback_fee_refunded_on_win: bool = True
    chargeback_reply_days: int = 10
    document_max_bytes: int = 2_000_000
    document_total_bytes: int = 10_000_000
    account_updater_monthly: bool = True
    """[contract #19] On the 1st of each month, the updater renews the cards expiring within 30 days."""
    """[contract #19] The sandbox's eCheck fee on each settled eCheck sale: bps of the amount, at most the cap."""
    alert_shape: Literal["ours", "wild", "bare", "rotate"] = "ours"
    """A web alert's body (local/sandbox/alerts.py): ADR 0004's `alert` block, the wild one (splash-api.md §4:
    `alert` carries `txnStatus`/`login`, no event or resource), none, or the three in turn per record and event."""

    def __post_init__(self) -> None:
        if self.decline_style not in DECLINE_STYLES:
            raise ValueError(f"decline_style must be one of {DECLINE_STYLES}, not {self.decline_style!r}")
        if self.bad_key_status not in (400, 401):
            raise ValueError(f"bad_key_status must be 400 or 401, not {self.bad_key_status}")
        if set(self.public_api_keys) & set(self.api_keys):
            raise ValueError("a key is either private (api_keys) or public (public_api_keys), not both")
        if self.start is not None and self.start.tzinfo is None:
            self.start = self.start.replace(tzinfo=UTC)

    def first_instant(self) -> datetime:
        return (self.start or datetime.now(UTC)).astimezone(UTC)
