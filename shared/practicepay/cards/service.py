"""The account updater: Splash's paymentUpdates (what card issuers said about stored cards) applied to our
payment methods, each exactly once.

The poll reads the results Splash changed since its cursor (kept in the sync table, like the txn poll's) in keyset
pages, and applies each one that is `processed`. A changed expiry or number is read back from the token at Splash
(the result names the token, whose id and token string stay the same; its `expiration` and last four digits are
the card's new ones). Each result is applied in one transaction: its marker item (`CARDUPDATE#<paymentUpdate id>`,
which must not exist), the methods it changes (each only if it is still as read) and their
payment_method.updated events. A result seen again (the poll's overlap, a second poller) finds its marker and
changes nothing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from practicepay.adapters.dynamo import TransactionConflict
from practicepay.cards.models import (
    UPDATE_REQUIRED,
    UPDATED,
    Outcome,
    applied_sk,
    outcome_of,
    parse_expiration,
    updated_detail,
)
from practicepay.clock import Clock, from_iso, iso, utc_now
from practicepay.errors import Conflict
from practicepay.events import event_item
from practicepay.observability import logger
from practicepay.patients.store import MethodRecord, PatientStore
from practicepay.splash.client import SplashClient
from practicepay.splash.errors import SplashNotFound
from practicepay.splash.models import PaymentUpdate, Token
from practicepay.sync.service import SPLASH_ZONE, _parse_splash, _wall_since, changed_records
from practicepay.sync.store import SyncStore

CURSOR = "payment-updates"
CONFLICT_RETRIES = 3
UPDATED_EVENT = "payment_method.updated"


@dataclass
class AccountUpdater:
    patients: PatientStore
    sync: SyncStore
    events_table: str
    splash: Callable[[], SplashClient]
    """The Splash client an alert's update (`apply`) reads its token with; the poll uses the client it is given."""
    clock: Clock = utc_now
    overlap_seconds: int = 600
    """How far before its cursor each poll starts again (clock skew, writes landing late at Splash)."""
    lookback_seconds: int = 86400
    """Where the first poll starts."""
    splash_zone: ZoneInfo = SPLASH_ZONE

    def poll(self, client: SplashClient) -> dict[str, Any]:
        """Apply every paymentUpdate Splash changed since the cursor (minus the overlap): {"outcomes": how many
        results ended each way, "splash_calls": the Splash calls made}. An outcome is an Outcome's value when
        applied, else already_applied, already_current (our methods were already as it leaves them), not_ours (no
        method of ours carries the token), not_processed (pending at Splash, or failed) or token_gone (Splash no
        longer has the token). Splash calls: the pages
        (⌈changed/100⌉, plus a page where a page boundary falls) and one token read per changed card. The cursor
        moves page by page (a poll cut short keeps its progress) to the newest `modified` seen, as the txn poll's
        does (sync.service.StatusSync.poll)."""
        now = self.clock()
        saved = self.sync.cursor(CURSOR)
        cursor = from_iso(saved) if saved else now - timedelta(seconds=self.lookback_seconds)
        since = _wall_since(cursor - timedelta(seconds=self.overlap_seconds), now, self.splash_zone)
        outcomes: Counter[str] = Counter()
        calls, newest = 0, cursor
        for page_calls, updates in changed_records(client, PaymentUpdate, since):
            calls += page_calls
            for update in updates:
                outcome, token_reads = self._apply_counted(client, update)
                outcomes[outcome] += 1
                calls += token_reads
                if update.modified:
                    newest = max(newest, _parse_splash(update.modified, self.splash_zone))
            if newest > cursor:
                self.sync.save_cursor(CURSOR, iso(newest), iso(now))
        logger.info("account updater poll done", outcomes=dict(outcomes), splash_calls=calls)
        return {"outcomes": dict(outcomes), "splash_calls": calls}

    def apply(self, update: PaymentUpdate) -> str:
        """Apply one paymentUpdate (an alert's) to the methods that carry its token, once; its outcome (`poll`)."""
        return self._apply_counted(self.splash(), update)[0]

    def _apply_counted(self, client: SplashClient, update: PaymentUpdate) -> tuple[str, int]:
        """The outcome, and the Splash calls it took (a token read). The methods are found through the `by_token`
        index, which may lag: when one changed since (the transaction's condition failed), they are read again by
        key, consistently."""
        if update.status != "processed":
            return "not_processed", 0
        outcome = outcome_of(update.message)
        if outcome is None:
            logger.warning("account updater message not understood; nothing changed", update=update.id)
            outcome = Outcome.NO_CHANGE
        methods = self._methods(update)
        token: Token | None = None
        for _ in range(CONFLICT_RETRIES):
            if not methods:
                return "not_ours", int(token is not None)
            if self.patients.recorded(methods[0].practice_id, applied_sk(update.id)):
                return "already_applied", int(token is not None)
            if outcome in UPDATED and token is None:
                try:
                    token = client.get(Token, update.token or "")
                except SplashNotFound:
                    logger.warning("account updater result for a token Splash no longer has", update=update.id)
                    return "token_gone", 1
            try:
                return self._write(update, outcome, methods, token), int(token is not None)
            except TransactionConflict:
                found = self.patients.methods_of([(m.practice_id, m.id) for m in methods])
                methods = [m for m in found if m is not None and m.status != "inactive"]
        raise Conflict(f"the methods of paymentUpdate {update.id} kept changing while it was applied")

    def _methods(self, update: PaymentUpdate) -> list[MethodRecord]:
        """The methods of one practice carrying the update's token, but removed ones (their token is deleted)."""
        if not update.token:
            return []
        found = [m for m in self.patients.methods_by_token(update.token) if m.status != "inactive"]
        practices = {m.practice_id for m in found}
        if len(practices) > 1:  # a Splash token belongs to one merchant's customer: never expected
            logger.error("one Splash token on methods of several practices; nothing changed", update=update.id)
            return []
        return found

    def _write(self, update: PaymentUpdate, outcome: Outcome, methods: list[MethodRecord], token: Token | None) -> str:
        """The marker, the changed methods and their events, together; the outcome (already_current when the
        methods already were as the update leaves them: the marker only)."""
        changes = [(m, after) for m in methods if (after := _after(m, outcome, token, update)) != m]
        moment = self.clock()
        practice_id = methods[0].practice_id
        events = [
            event_item(practice_id, UPDATED_EVENT, updated_detail(after, outcome), moment) for _, after in changes
        ]
        marker = {
            "update_id": update.id,
            "outcome": outcome.value,
            "payment_method_ids": [m.id for m in methods],
            "applied_at": iso(moment),
        }
        written = self.patients.record_once(
            practice_id,
            applied_sk(update.id),
            marker,
            changes=changes,
            events=events,
            events_table=self.events_table,
        )
        if not written:
            return "already_applied"
        logger.info("account updater result applied", update=update.id, outcome=outcome.value, changed=len(changes))
        return outcome.value if changes or outcome is Outcome.NO_CHANGE else "already_current"


def _after(method: MethodRecord, outcome: Outcome, token: Token | None, update: PaymentUpdate) -> MethodRecord:
    """The method as the update leaves it: the token's expiry and last four (the update's expiry when the token
    shows none), the update-required mark cleared; or the update-required mark set; or unchanged."""
    if outcome in UPDATED and token is not None:
        expiry = parse_expiration(token.expiration) or parse_expiration(update.expiration)
        exp_month, exp_year = expiry if expiry else (method.exp_month, method.exp_year)
        number = token.payment.number if token.payment and token.payment.number else ""
        return replace(
            method,
            exp_month=exp_month,
            exp_year=exp_year,
            last4=number[-4:] or method.last4,
            update_reason=None,
        )
    if outcome in UPDATE_REQUIRED:
        return replace(method, update_reason=outcome.value)
    return method
