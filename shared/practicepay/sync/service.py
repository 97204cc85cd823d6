"""Keeping every payment's status true to Splash: web alerts (hints: the truth is fetched), the status poll
(what changed since its cursor, plus every open payment the change feed did not show) and the reconciler
(payments and refunds whose outcome was never learned). Every path ends in `apply_txn`, which moves a payment
only forward (sync.transitions), so duplicates, reordering and races change nothing wrongly."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from practicepay.clock import Clock, from_iso, iso, utc_now
from practicepay.errors import Conflict
from practicepay.events import event_item
from practicepay.observability import logger
from practicepay.patients.store import PatientStore
from practicepay.payments.book import CONFLICT_RETRIES, AlreadyApplied, PaymentBook, Stale
from practicepay.payments.models import Failure, PaymentRecord, RefundRecord, outside_refund_id
from practicepay.payments.models import PaymentStatus as P
from practicepay.practices import PracticeStore
from practicepay.splash.client import SplashClient
from practicepay.splash.errors import SplashNotFound
from practicepay.splash.models import (
    Chargeback,
    Disbursement,
    EntityReturn,
    Merchant,
    MerchantStatus,
    PaymentUpdate,
    Record,
    Resource,
    Txn,
    TxnStatus,
    TxnType,
)
from practicepay.splash.search import Search
from practicepay.sync import returns
from practicepay.sync.store import SyncStore
from practicepay.sync.transitions import PAYMENT_TXN_TYPES, Kind, Move, move_for, move_to, not_success

R = TypeVar("R", bound=Record)
TXN_CURSOR = "txns"
CHARGEBACK_CURSOR = "chargebacks"
DISBURSEMENT_CURSOR = "disbursements"
WATCH_CURSOR = "merchant-watch"
SPLASH_TIME = "%Y-%m-%d %H:%M:%S.%f"
PAGE = 100
TICK = timedelta(microseconds=100)  # Splash keeps four decimals
SPLASH_ZONE = ZoneInfo("America/New_York")
"""Payrix stamps `created`/`modified` in US-Eastern wall time (splash-api.md §1, Dates)."""
BACKWARDS = frozenset(
    {MerchantStatus.NOT_READY, MerchantStatus.READY, MerchantStatus.PENDING, MerchantStatus.INCOMPLETE}
)
"""Pre-boarding statuses: read on a boarded merchant, they are noise (a boarded, processing merchant was recorded
with status 0, splash-api.md §10), not a reason to stop charging."""
NOT_SUBMITTED = Failure(
    category="not_submitted",
    processor_text="Splash has no record of this payment: nothing was charged. It is safe to try again.",
    retryable=True,
).model_dump()


class NotYet(Exception):  # noqa: N818 (a signal, not an error)
    """Splash has no record yet, but the grace period has not passed: ask again later."""


@dataclass(frozen=True)
class PollReport:
    changed: int
    open_checked: int
    splash_calls: int
    outcomes: dict[str, int]


@dataclass
class StatusSync:
    book: PaymentBook
    practices: PracticeStore
    patients: PatientStore
    splash: Callable[[], SplashClient]
    sync: SyncStore
    clock: Clock = utc_now
    grace_seconds: int = 600
    """How long a payment may stay unknown with no txn at Splash before it is failed as not submitted."""
    overlap_seconds: int = 600
    """How far before its cursor each poll starts again (clock skew, writes landing late at Splash)."""
    lookback_seconds: int = 86400
    """Where the first poll starts."""
    splash_zone: ZoneInfo = SPLASH_ZONE
    """The zone of Splash's wall-clock `created`/`modified` stamps (SPLASH_TIMEZONE)."""
    watch_per_poll: int = PAGE
    """How many boarded (or closed) merchants each poll re-reads, in a slice that rotates through them all."""
    disputes: Any = None
    """The disputes' service (practicepay.disputes.service.DisputeService): chargebacks by alert and by poll."""
    deposits: Any = None
    """The deposits' service (practicepay.deposits.service.DepositService): disbursements by alert and by poll."""
    cards: Any = None
    """The account updater (practicepay.cards.service.AccountUpdater): paymentUpdates by alert and by poll."""

    # -- alerts --------------------------------------------------------------------------------------------

    def handle_alert(self, resource: int, record_id: str) -> str:
        """An alert is a hint that `record_id` changed: fetch it and apply what Splash says now. An alert for a
        resource not processed yet (chargebacks, disbursements, tokens, …: the intake keeps and queues them all)
        is skipped without a Splash call: logged, and counted by its outcome, "not_processed"."""
        if resource not in self._followed():
            try:
                name = Resource(resource).name.lower()
            except ValueError:
                name = "unknown"
            logger.info(
                "alert for a resource not processed yet; skipped",
                resource=resource,
                resource_name=name,
                record=record_id,
            )
            return "not_processed"
        client = self.splash()
        try:
            if resource == Resource.TXNS:
                return self.apply_txn(client.get(Txn, record_id))
            if resource == Resource.ENTITY_RETURNS:
                entity_return = client.get(EntityReturn, record_id)
                if not entity_return.txn:
                    return "not_ours"
                return self.apply_txn(client.get(Txn, entity_return.txn), returned=[entity_return])
            if resource == Resource.MERCHANTS:
                return self.apply_merchant(client.get(Merchant, record_id))
            if resource == Resource.CHARGEBACKS:
                return self.disputes.apply_chargeback(client.get(Chargeback, record_id))
            if resource == Resource.DISBURSEMENTS:
                return self.deposits.apply_disbursement(client.get(Disbursement, record_id))
            if resource == Resource.PAYMENT_UPDATES:
                return self.cards.apply(client.get(PaymentUpdate, record_id))
        except SplashNotFound:
            logger.info("alert for a record Splash does not have", resource=resource)
            return "not_found"
        return "ignored"

    def _followed(self) -> frozenset[int]:
        """The resources whose alerts are applied: txns, returns and merchants, and those of the services wired."""
        extra = {
            Resource.CHARGEBACKS: self.disputes,
            Resource.DISBURSEMENTS: self.deposits,
            Resource.PAYMENT_UPDATES: self.cards,
        }
        wired = {resource for resource, service in extra.items() if service is not None}
        return frozenset({Resource.TXNS, Resource.ENTITY_RETURNS, Resource.MERCHANTS, *wired})

    # -- applying Splash's truth -----------------------------------------------------------------------------

    def apply_txn(self, txn: Txn, *, returned: list[EntityReturn] | None = None) -> str:
        practice = self.practices.by_merchant(txn.merchant) if txn.merchant else None
        order = txn.order or ""
        if practice is None or not order.startswith("pay_"):
            logger.info("txn is not one of our payments", txn=txn.id)
            return "not_ours"
        payment = self.book.store.get(practice.practice_id, order)
        if payment is None:
            logger.info("txn is not one of our payments", txn=txn.id)
            return "not_ours"
        return self.apply_to_payment(payment, txn, returned=returned)

    def apply_to_payment(self, payment: PaymentRecord, txn: Txn, *, returned: list[EntityReturn] | None = None) -> str:
        for _ in range(CONFLICT_RETRIES):
            if _is_outside_refund_txn(payment, txn):
                return self._apply_outside_refund(payment, txn)
            if not _is_payment_txn(payment, txn):
                logger.error("txn does not match its payment; nothing applied", payment_id=payment.id, txn=txn.id)
                return "mismatch"
            move = move_for(payment, txn)
            if move is None:
                return self._complete_return(payment, txn, returned)
            try:
                self._write(payment, txn, move, returned)
                logger.info("payment moved", payment_id=payment.id, move=move.kind.value, status=move.status.value)
                return move.kind.value
            except (Stale, AlreadyApplied):  # another applier moved it: ask the rules again from a fresh read
                payment = self.book.payment(payment.practice_id, payment.id)
        raise Conflict(f"payment {payment.id} kept changing while its status was applied")

    def _write(self, payment: PaymentRecord, txn: Txn, move: Move, returned: list[EntityReturn] | None) -> None:
        failure = None
        if move.kind in (Kind.FAIL, Kind.FAILED_CAPTURE):
            failure = not_success(txn) or self._decline(txn)
        return_info, block = None, None
        if move.kind in (Kind.RETURN, Kind.CHARGE_AND_RETURN):
            return_info = self._return_info(txn, returned)
            if return_info["method_blocked"]:
                block = self._blocker(payment, return_info)
        self.book.apply(payment, move, txn.id, failure=failure, return_info=return_info, also=block)

    def _complete_return(self, payment: PaymentRecord, txn: Txn, returned: list[EntityReturn] | None) -> str:
        """A payment already `returned` whose R-code Splash had not recorded yet (the entityReturn can follow the
        txn's status): add the code, and block the account if the code says so."""
        if payment.status != P.RETURNED or (payment.return_info or {}).get("code") or not returned:
            return "unchanged"
        info = self._return_info(txn, returned)
        if info["code"] is None:
            return "unchanged"
        block = self._blocker(payment, info) if info["method_blocked"] else None
        try:
            self.book.commit(payment, lambda invoice: invoice, lambda p: replace(p, return_info=info), also=block)
        except Stale:
            return "unchanged"
        return "return_code"

    def _blocker(self, payment: PaymentRecord, info: dict[str, Any]) -> Callable[[Any], None]:
        reason = f"{info['code']}: {info['message']}"
        return lambda tx: self.patients.block_method(tx, payment.practice_id, payment.payment_method_id, reason)

    def _decline(self, txn: Txn) -> dict[str, Any]:
        d = self.splash().decline_for(txn)
        failure = Failure(
            category=d.category, processor_text=d.processor_text, processor_code=d.processor_code, retryable=d.retryable
        )
        return failure.model_dump(exclude_none=True)

    def _return_info(self, txn: Txn, returned: list[EntityReturn] | None) -> dict[str, Any]:
        found = returned if returned is not None else self.splash().returns_for(txn.id)
        entity_return = next((r for r in found if r.code), None)
        if entity_return is None or txn.txn_status is not TxnStatus.RETURNED:
            return {"code": None, "category": "other", "message": "reversed by Splash", "method_blocked": False}
        code = str(entity_return.code).upper()
        return {
            "code": code,
            "category": returns.category(code, entity_return.actionCode),
            "message": returns.meaning(code, entity_return.message),
            "method_blocked": returns.blocks_method(code),
        }

    def _apply_outside_refund(self, payment: PaymentRecord, txn: Txn) -> str:
        """A refund or void made in the Payrix portal (a txn derived from the payment's, inheriting its `order`):
        booked as a refund made outside PracticePay, once (its refund id is derived from the Splash txn)."""
        status = txn.txn_status
        if status in (TxnStatus.PENDING, TxnStatus.FAILED):
            return "unchanged"  # nothing moved (yet)
        kind = "void" if txn.type == TxnType.CARD_REVERSE else "refund"
        if payment.status == P.FAILED and kind == "void":  # e.g. a partial approval we failed, voided by staff
            logger.info("void of a payment never booked as paid; nothing to apply", payment_id=payment.id)
            return "unchanged"
        if payment.status not in (P.SUCCEEDED, P.PARTIALLY_REFUNDED):
            logger.error("outside refund of a payment that holds no money; nothing applied", payment_id=payment.id)
            return "mismatch"
        refund_id = outside_refund_id(txn.id)
        if self.book.store.get_refund(payment.practice_id, payment.id, refund_id) is not None:
            return "unchanged"
        amount = txn.total or payment.amount - payment.amount_refunded
        refund = RefundRecord.of(
            payment,
            refund_id,
            amount=amount,
            kind=kind,
            status="succeeded",
            created_at=iso(self.clock()),
            splash_txn_id=txn.id,
        )
        if not self.book.outside_refund(payment, refund):
            return "unchanged"
        logger.warning("refund made outside PracticePay applied", payment_id=payment.id, txn=txn.id, kind=kind)
        return f"outside_{kind}"

    def apply_to_refund(self, refund: RefundRecord, txn: Txn) -> str:
        if refund.status not in ("pending", "unknown"):
            return "unchanged"
        status = txn.txn_status
        if status is TxnStatus.PENDING:
            return "unchanged"
        if status is TxnStatus.FAILED:
            failed = replace(refund, status="failed", failure=self._decline(txn), splash_txn_id=txn.id)
            return "refund_failed" if self.book.refund_outcome(refund, failed) else "unchanged"
        done = replace(refund, status="succeeded", splash_txn_id=txn.id)
        return "refund_succeeded" if self.book.refund_outcome(refund, done) else "unchanged"

    def apply_merchant(self, merchant: Merchant) -> str:
        practice = self.practices.by_merchant(merchant.id)
        if practice is None:
            logger.info("merchant is not one of our practices", merchant=merchant.id)
            return "not_ours"
        moment = self.clock()
        held = _held(merchant)
        outcome = "unchanged"
        if held is not None and held != practice.merchant_held:
            practice = self.practices.set_merchant_held(practice, held, iso(moment))
            logger.warning("practice's merchant hold changed", practice_id=practice.practice_id, held=held)
            outcome = "held" if held else "released"
        if merchant.status is None or practice.merchant_status == merchant.status:
            return outcome
        if practice.merchant_status == MerchantStatus.BOARDED and merchant.status in BACKWARDS:
            # Not monotonic evidence (splash-api.md §10): closure and holds stop charges, a backwards read does not.
            logger.warning(
                "boarded merchant read with a pre-boarding status; kept boarded",
                practice_id=practice.practice_id,
                merchant=merchant.id,
                status=merchant.status,
            )
            return "backwards" if outcome == "unchanged" else outcome
        changed = self.practices.set_merchant_status(practice, merchant.status, iso(moment))
        if merchant.status == MerchantStatus.BOARDED:
            boarded = {"splash_merchant_id": merchant.id}
            self.book.put_event(event_item(practice.practice_id, "practice.boarded", boarded, moment))
        logger.info("practice boarding status changed", practice_id=changed.practice_id, status=merchant.status)
        return "boarding"

    # -- reconciler ------------------------------------------------------------------------------------------

    def reconcile(self, practice_id: str, kind: str, record_id: str, payment_id: str | None = None) -> str:
        """Settle a payment or refund whose outcome was never learned: look its `order` up at Splash. Found →
        its real status is applied; not found after the grace period → failed as not submitted (nothing was
        charged; a retry with the same Idempotency-Key sends it again under the same REQUEST-TOKEN)."""
        merchant = self.practices.require(practice_id).splash_merchant_id
        if kind == "refund":
            refund = self.book.store.get_refund(practice_id, payment_id or "", record_id)
            if refund is None or refund.status not in ("pending", "unknown"):
                return "unchanged"
            txn = _pick(self.splash().txns_by_order(refund.id, merchant=merchant), refund.id)
            return self.apply_to_refund(refund, txn) if txn else self._not_found_refund(refund)
        payment = self.book.store.get(practice_id, record_id)
        if payment is None or payment.status not in (P.PENDING, P.UNKNOWN):
            return "unchanged"
        txn = _pick(self.splash().txns_by_order(payment.id, merchant=merchant), payment.id)
        return self.apply_to_payment(payment, txn) if txn else self._not_found_payment(payment)

    def _not_found_payment(self, payment: PaymentRecord) -> str:
        if not self._grace_over(payment.updated_at):
            raise NotYet(payment.id)
        move = move_to(payment, P.FAILED)
        if move is None:
            return "unchanged"
        try:
            self.book.apply(payment, move, None, failure=NOT_SUBMITTED)
        except (Stale, AlreadyApplied):
            return "unchanged"  # something else settled it meanwhile
        logger.warning("payment never reached Splash; failed as not submitted", payment_id=payment.id)
        return "not_submitted"

    def _not_found_refund(self, refund: RefundRecord) -> str:
        if not self._grace_over(refund.created_at):
            raise NotYet(refund.id)
        failed = replace(refund, status="failed", failure=NOT_SUBMITTED)
        return "not_submitted" if self.book.refund_outcome(refund, failed) else "unchanged"

    def _grace_over(self, since: str) -> bool:
        return self.clock() - from_iso(since) >= timedelta(seconds=self.grace_seconds)

    # -- status poll -----------------------------------------------------------------------------------------

    def poll(self) -> PollReport:
        """Apply every txn Splash changed since the cursor (minus the overlap), then look up, 100 per call, the
        open payments and refunds the feed did not show. Splash calls: ⌈changed/100⌉ (plus a page where a page
        boundary falls), one more for each page with returns new to us (their R-codes), ⌈unseen open/100⌉, and the
        merchant watch (`_poll_boarding`).

        Splash's `modified` is wall time in `splash_zone`; the cursor is the UTC instant of the newest row seen,
        read as the earliest instant its wall time can name (an hour the DST fall-back repeats counts as its first
        pass). Pages are keyset pages (`_changed_txns`), so a row changed mid-poll neither shifts others off a page
        nor is applied twice in one state."""
        client = self.splash()
        now = self.clock()
        saved = self.sync.cursor(TXN_CURSOR)
        cursor = from_iso(saved) if saved else now - timedelta(seconds=self.lookback_seconds)
        since = _wall_since(cursor - timedelta(seconds=self.overlap_seconds), now, self.splash_zone)
        open_items = self._open_items()
        outcomes: Counter[str] = Counter()
        calls, ids, newest, seen = 0, set(), cursor, set()
        for page_calls, txns in _changed_txns(client, since):
            calls += page_calls + self._apply_page(txns, open_items, outcomes)
            for txn in txns:
                ids.add(txn.id)
                if txn.modified:
                    newest = max(newest, _parse_splash(txn.modified, self.splash_zone))
                seen.add(txn.order)
            if newest > cursor:  # page by page: a poll cut short keeps its progress
                self.sync.save_cursor(TXN_CURSOR, iso(newest), iso(now))
        unseen = [item for order, item in open_items.items() if order not in seen]
        for chunk in _chunks(unseen, PAGE):
            found = client.list(Txn, search=Search().in_("order", [i.id for i in chunk]), limit=PAGE).items
            calls += 1
            for item in chunk:
                txn = _pick(found, item.id)
                outcomes[self._apply_open(item, txn)] += 1
        calls += self._poll_boarding(client, outcomes)
        calls += self._poll_money_after(client, now, outcomes)
        changed = len(ids)
        report = PollReport(changed, len(unseen), calls, dict(outcomes))
        logger.info("status poll done", changed=changed, open_checked=len(unseen), splash_calls=calls)
        return report

    def _poll_money_after(self, client: SplashClient, now: datetime, outcomes: Counter[str]) -> int:
        """Chargebacks and disbursements changed since their cursors (the same keyset paging and overlap as the
        txns'), the account updater's results, and the disputes whose deadline is near. The Splash calls made."""
        calls = 0
        for cursor_name, model, service, apply in (
            (CHARGEBACK_CURSOR, Chargeback, self.disputes, "apply_chargeback"),
            (DISBURSEMENT_CURSOR, Disbursement, self.deposits, "apply_disbursement"),
        ):
            if service is None:
                continue
            saved = self.sync.cursor(cursor_name)
            cursor = from_iso(saved) if saved else now - timedelta(seconds=self.lookback_seconds)
            since = _wall_since(cursor - timedelta(seconds=self.overlap_seconds), now, self.splash_zone)
            newest = cursor
            for page_calls, records in changed_records(client, model, since):
                calls += page_calls
                for record in records:
                    outcomes[f"{model.resource}:{getattr(service, apply)(record)}"] += 1
                    if record.modified:
                        newest = max(newest, _parse_splash(record.modified, self.splash_zone))
                if newest > cursor:
                    self.sync.save_cursor(cursor_name, iso(newest), iso(now))
        if self.cards is not None:
            report = self.cards.poll(client)
            calls += int(report.get("splash_calls", 0))
            for outcome, count in report.get("outcomes", {}).items():
                outcomes[f"paymentUpdates:{outcome}"] += count
        if self.disputes is not None:
            outcomes["dispute.due_soon"] += self.disputes.announce_due()
        return calls

    def _poll_boarding(self, client: SplashClient, outcomes: Counter[str]) -> int:
        """Look up, 100 per call, the merchants of practices whose boarding Splash has not decided, in case an
        alert was lost, and a rotating slice of `watch_per_poll` boarded (or closed) ones, for a closure or a hold
        no alert told us of: every boarded merchant is re-read once per ⌈boarded/watch_per_poll⌉ polls. The
        Splash calls it made: ⌈onboarding/100⌉ + ⌈watch_per_poll/100⌉ at most."""
        onboarding = self.practices.onboarding()
        boarding = list(dict.fromkeys(p.splash_merchant_id for p in onboarding if p.splash_merchant_id))
        watched = [m for m in self._watch_slice() if m not in boarding]
        chunks = [*_chunks(boarding, PAGE), *_chunks(watched, PAGE)]
        for chunk in chunks:
            for merchant in client.list(Merchant, search=Search().in_("id", chunk), limit=PAGE).items:
                outcomes[self.apply_merchant(merchant)] += 1
        return len(chunks)

    def _watch_slice(self) -> list[str]:
        """The next `watch_per_poll` practices with a merchant after the saved position, wrapping at the end. The
        position is saved as "<poll sequence> <scan key>": the sequence keeps the forward-only cursor moving."""
        if self.watch_per_poll <= 0:
            return []
        saved = self.sync.cursor(WATCH_CURSOR) or ""
        sequence, _, start = saved.partition(" ")
        practices, after = self.practices.merchant_slice(start or None, self.watch_per_poll)
        position = f"{int(sequence or 0) + 1:015d} {after or ''}"
        self.sync.save_cursor(WATCH_CURSOR, position, iso(self.clock()))
        return list(dict.fromkeys(p.splash_merchant_id for p in practices if p.splash_merchant_id))

    def _open_items(self) -> dict[str, PaymentRecord | RefundRecord]:
        out: dict[str, PaymentRecord | RefundRecord] = {}
        cursor = None
        while True:
            items, cursor = self.book.store.open_items(cursor)
            for item in items:
                record = (
                    self.book.store.payment_from_item(item)
                    if str(item["sk"]).startswith("PAYMENT#")
                    else self.book.store.refund_from_item(item)
                )
                out[record.id] = record
            if cursor is None:
                return out

    def _apply_page(
        self, txns: list[Txn], open_items: dict[str, PaymentRecord | RefundRecord], outcomes: Counter[str]
    ) -> int:
        """Apply one page of changed txns: our payments read in one BatchGetItem, the R-codes of the returns
        they need in one Splash call. The Splash calls it made (0 or 1)."""
        wanted = []
        for txn in txns:
            practice = self.practices.by_merchant(txn.merchant) if txn.merchant else None
            if practice is not None and (txn.order or "").startswith("pay_"):
                wanted.append((txn, practice.practice_id))
        found = self.book.store.get_many([(practice_id, txn.order or "") for txn, practice_id in wanted])
        ours = {txn.id: payment for (txn, _), payment in zip(wanted, found, strict=True) if payment is not None}
        needs_code = [t.id for t in txns if t.id in ours and _needs_return_code(ours[t.id], t)]
        codes: dict[str, list[EntityReturn]] = {txn_id: [] for txn_id in needs_code}
        if needs_code:
            for entity_return in (
                self.splash().list(EntityReturn, search=Search().in_("txn", needs_code), limit=PAGE).items
            ):
                codes.setdefault(entity_return.txn or "", []).append(entity_return)
        for txn in txns:
            open_item = open_items.get(txn.order or "")
            if isinstance(open_item, RefundRecord):
                outcome = self.apply_to_refund(open_item, txn) if _is_refund_txn(open_item, txn) else "mismatch"
            elif txn.id in ours:
                outcome = self.apply_to_payment(ours[txn.id], txn, returned=codes.get(txn.id))
            else:
                outcome = "not_ours"
            outcomes[outcome] += 1
        return 1 if needs_code else 0

    def _apply_open(self, item: PaymentRecord | RefundRecord, txn: Txn | None) -> str:
        if isinstance(item, RefundRecord):
            if txn is not None:
                return self.apply_to_refund(item, txn)
            return self._settle_missing(lambda: self._not_found_refund(item))
        if txn is not None:
            return self.apply_to_payment(item, txn)
        if item.status in (P.PENDING, P.UNKNOWN):
            return self._settle_missing(lambda: self._not_found_payment(item))
        logger.error("an open payment's txn is missing at Splash", payment_id=item.id)
        return "missing"

    @staticmethod
    def _settle_missing(settle: Callable[[], str]) -> str:
        try:
            return settle()
        except NotYet:
            return "waiting"


def _is_payment_txn(payment: PaymentRecord, txn: Txn) -> bool:
    return (
        txn.order == payment.id
        and txn.type in PAYMENT_TXN_TYPES.get(payment.method_kind, set())
        and txn.total == payment.amount
        and payment.splash_txn_id in (None, txn.id)
    )


def _needs_return_code(payment: PaymentRecord, txn: Txn) -> bool:
    """The txn was returned and our payment will move to returned, or is returned without its R-code yet."""
    if txn.txn_status is not TxnStatus.RETURNED:
        return False
    move = move_for(payment, txn)
    if move is not None:
        return move.kind in (Kind.RETURN, Kind.CHARGE_AND_RETURN)
    return payment.status == P.RETURNED and not (payment.return_info or {}).get("code")


# What a refund or void of a payment of each kind is at Splash (made for the payment's txn: `fortxn`).
_OUTSIDE_REFUND_TYPES = {
    "card": {TxnType.CARD_REFUND, TxnType.CARD_REVERSE},
    "bank_account": {TxnType.ECHECK_REFUND},
}


def _is_outside_refund_txn(payment: PaymentRecord, txn: Txn) -> bool:
    """A txn derived from the payment's own (it inherits our `order`): a refund or void made in the portal."""
    return (
        txn.order == payment.id
        and payment.splash_txn_id is not None
        and txn.fortxn == payment.splash_txn_id
        and txn.type in _OUTSIDE_REFUND_TYPES.get(payment.method_kind, set())
    )


def _is_refund_txn(refund: RefundRecord, txn: Txn) -> bool:
    return txn.order == refund.id and txn.total == refund.amount


def _pick(txns: list[Txn], order: str) -> Txn | None:
    """The txn our order id names, among search results checked here on `order` (as text: it arrives as an int or
    a string; a search the API does not apply answers a merchant's whole history). Splash dedups by REQUEST-TOKEN,
    so there is one; if not, the one that moved money wins and the oddity is logged."""
    txns = [t for t in txns if t.order is not None and str(t.order) == str(order)]
    ids = {t.id for t in txns}
    txns = [t for t in txns if t.fortxn not in ids] or txns  # not the refunds and voids derived from it
    if len(txns) > 1:
        logger.error("more than one txn carries one order id", order=order, count=len(txns))
    ranked = sorted(txns, key=lambda t: t.txn_status is TxnStatus.FAILED)
    return ranked[0] if ranked else None


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _held(merchant: Merchant) -> bool | None:
    """Whether Splash holds the merchant (frozen or inactive); None when the record does not say."""
    if merchant.frozen is None and merchant.inactive is None:
        return None
    return bool(merchant.frozen) or bool(merchant.inactive)


def _changed_txns(client: SplashClient, since: str) -> Iterator[tuple[int, list[Txn]]]:
    return changed_records(client, Txn, since)


def changed_records(client: SplashClient, model: type[R], since: str) -> Iterator[tuple[int, list[R]]]:
    """Keyset pages of the `model` records (txns, chargebacks, disbursements, paymentUpdates) modified after wall
    time `since`, each with the Splash calls it took. Each next
    page starts one tick before the last row's `modified` (rows sharing it come again and are dropped by id and
    `modified`); when a whole page shares one `modified`, the rows of that instant are paged by `id` first. A row
    changed mid-poll shows again in its new state (a change to apply), never in its old one twice."""
    applied: dict[str, str | None] = {}

    def fresh(txns: list[R]) -> list[R]:
        out = [t for t in txns if t.id not in applied or applied[t.id] != t.modified]
        applied.update((t.id, t.modified) for t in out)
        return out

    def search(op: str, value: str) -> Search:
        return getattr(Search(), op)("modified", value).sort("modified", "asc").sort("id", "asc")

    current = search("greater", since)
    while True:
        result = client.list(model, search=current, limit=PAGE)
        calls, items = 1, result.items
        if not result.has_more or not items:
            yield calls, fresh(items)
            return
        last = items[-1].modified or ""
        if all(t.modified == last for t in items):  # one instant fills the page: page it by id
            tied, after_id = list(items), items[-1].id
            while True:
                more = client.list(model, search=search("equals", last).greater("id", after_id), limit=PAGE)
                calls += 1
                tied += [t for t in more.items if t.modified == last and t.id > after_id]
                if not more.has_more or not more.items:
                    break
                after_id = more.items[-1].id
            yield calls, fresh(tied)
            current = search("greater", last)
            continue
        page = fresh(items)
        yield calls, page
        current = search("greater", _splash_time_naive(_naive(last) - TICK))


def _naive(value: str) -> datetime:
    return datetime.strptime(value if "." in value else f"{value}.0", SPLASH_TIME)


def _splash_time_naive(wall: datetime) -> str:
    return wall.strftime(SPLASH_TIME)[:-2]  # Splash keeps four decimals


def _parse_splash(value: str, zone: ZoneInfo = SPLASH_ZONE) -> datetime:
    """The earliest UTC instant a Splash wall time in `zone` can name: in the hour the fall-back repeats, its
    first (daylight) pass; in the hour spring-forward skips (never written), the earlier reading."""
    wall = _naive(value)
    return min(wall.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1))


def _wall_since(start: datetime, now: datetime, zone: ZoneInfo) -> str:
    """The `modified[greater]` bound that finds every row modified after `start`: its wall time, or, when the clock
    falls back between `start` and `now`, the earliest wall time after the fall-back (the repeated hour's start)."""
    earliest = start.astimezone(zone).replace(tzinfo=None)
    step, at = timedelta(minutes=30), start
    while at < now:
        nxt = min(at + step, now)
        if nxt.astimezone(zone).utcoffset() != at.astimezone(zone).utcoffset():
            low, high, before = at, nxt, at.astimezone(zone).utcoffset()  # the first instant on the new offset
            while high - low > timedelta(seconds=1):
                mid = low + (high - low) / 2
                low, high = (mid, high) if mid.astimezone(zone).utcoffset() == before else (low, mid)
            earliest = min(earliest, high.astimezone(zone).replace(tzinfo=None) - timedelta(seconds=1))
        at = nxt
    return _splash_time_naive(earliest)
