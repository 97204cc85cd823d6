"""The one writer of money: a payment's change, its invoice's new totals, the ledger entry, a refund and the
domain events it implies, all in one DynamoDB transaction. Each write is conditioned on the state it was computed
from and each ledger entry is keyed by the money fact it records, so every fact is applied exactly once, whoever
learns of it first (ADR 0010). The payments API and the status sync (alerts, poll, reconciler) both write
through it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from practicepay.adapters.dynamo import Transaction, TransactionConflict
from practicepay.clock import Clock, iso, utc_now
from practicepay.config import MoneyTables
from practicepay.errors import Conflict, NotFound
from practicepay.events import PAYMENT_EVENTS, event_item
from practicepay.ids import id_pattern
from practicepay.invoices import lifecycle
from practicepay.invoices.models import InvoiceRecord, InvoiceStatus
from practicepay.invoices.store import InvoiceStore
from practicepay.payments.models import OPEN_REFUND, PaymentRecord, PaymentStatus, RefundRecord
from practicepay.payments.store import PaymentStore
from practicepay.sync.transitions import Kind, Move, move_to, on_invoice

PAYMENT_ID = id_pattern("pay")
INVOICE_ID = id_pattern("inv")
CONFLICT_RETRIES = 5

InvoiceChange = Callable[[InvoiceRecord], InvoiceRecord]
PaymentChange = Callable[[PaymentRecord], PaymentRecord]
Emit = Callable[[str, dict[str, Any]], None]
Follower = Callable[[PaymentRecord | None, PaymentRecord, Transaction, str, Emit], None]
Also = Callable[[Transaction], "list[int] | None"]
"""Adds writes of other records to the change's transaction; returns the indexes of those that must not exist yet
(a money fact of another table, keyed by its source): a failed condition there is AlreadyApplied."""
"""Called with each payment change the book writes (before: None for a new payment), to add the consequences to
the same transaction: an installment's status (practicepay.billing.follow)."""


class AlreadyApplied(Exception):  # noqa: N818 (an outcome, not an error)
    """The money fact is in the books already: another applier (the API, an alert, the poll, the reconciler)
    wrote it first. The database said so: the fact's ledger key, or the refund's status, was taken."""


class Stale(Exception):  # noqa: N818
    """The payment moved since the change was computed from it: read it again and ask the rules again (never
    re-apply a change computed from an old state)."""


# The statuses a refund's outcome moves (a refund is only started on a succeeded or partly refunded payment).
_REFUND_MOVES = frozenset({PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED})


def fact(entry: dict[str, Any]) -> str:
    """A ledger entry's key: the kind of money fact and what Splash (or we) call its source, e.g.
    `charge#<txn id>`, `return#<txn id>`, `refund#<refund id>`, `chargeback#<chargeback id>` (and `#2` for a second
    debit of one chargeback). Each is in the books at most once."""
    if entry.get("splash_chargeback_id"):  # a chargeback's debit or restore: once per chargeback and debit
        sequence = int(entry.get("sequence") or 1)
        return f"{entry['type']}#{entry['splash_chargeback_id']}" + (f"#{sequence}" if sequence > 1 else "")
    source = entry.get("refund_id") or entry["splash_txn_id"]
    return f"{entry['type']}#{source}"


@dataclass
class PaymentBook:
    store: PaymentStore
    invoices: InvoiceStore
    events_table: str
    clock: Clock = utc_now
    followers: tuple[Follower, ...] = ()

    @classmethod
    def for_tables(cls, cfg: MoneyTables) -> PaymentBook:
        followers: tuple[Follower, ...] = ()
        if cfg.schedules_table:
            from practicepay.billing.follow import InstallmentFollower
            from practicepay.billing.store import ScheduleStore
            from practicepay.patients.store import PatientStore

            followers = (InstallmentFollower(ScheduleStore(cfg.schedules_table), PatientStore(cfg.patients_table)),)
        store, invoices = PaymentStore(cfg.payments_table), InvoiceStore(cfg.invoices_table)
        return cls(store, invoices, cfg.events_table, followers=followers)

    def payment(self, practice_id: str, payment_id: str) -> PaymentRecord:
        record = self.store.get(practice_id, payment_id) if PAYMENT_ID.match(payment_id) else None
        if record is None:
            raise NotFound(f"No payment {payment_id} exists for this practice.")
        return record

    def invoice(self, practice_id: str, invoice_id: str) -> InvoiceRecord:
        record = self.invoices.get(practice_id, invoice_id) if INVOICE_ID.match(invoice_id) else None
        if record is None:
            raise NotFound(f"No invoice {invoice_id} exists for this practice.")
        return record

    def add_event(self, tx: Transaction, practice_id: str, detail_type: str, detail: dict[str, Any]) -> None:
        """Add a domain event to `tx`, written with the change it describes (the outbox)."""
        tx.put(self.events_table, event_item(practice_id, detail_type, detail, self.clock()))

    def put_event(self, item: dict[str, Any]) -> None:
        """An event about no payment (a practice boarded): written on its own."""
        tx = Transaction()
        tx.put(self.events_table, item)
        tx.commit()

    def commit(
        self,
        payment: PaymentRecord,
        invoice_change: InvoiceChange,
        payment_change: PaymentChange,
        *,
        new: bool = False,
        pinned: bool = True,
        known: InvoiceRecord | None = None,
        ledger: list[dict[str, Any]] | dict[str, Any] | None = None,
        refund: RefundRecord | None = None,
        refund_was: frozenset[str] | None = None,
        extra: list[dict[str, Any]] | None = None,
        also: Also | None = None,
        remember: dict[str, str] | None = None,
    ) -> tuple[InvoiceRecord, PaymentRecord]:
        """Write the payment's change, the invoice's new totals, the ledger entries, the refund, `extra` items,
        whatever `also` adds and the events the change implies in one transaction, each write conditioned on
        the state it was computed from. Exactly once, by construction:

        - a ledger entry's key is its money fact (`fact`), so a fact already in the books fails the write:
          AlreadyApplied, never a second entry;
        - the payment is written only while it has the version and status the change was computed from. A
          `pinned` change (a move the rules computed from that state) is never re-applied to a newer one: Stale,
          and the caller asks the rules again. An unpinned change (a delta that another condition makes once: a
          new payment, a refund's outcome guarded by the refund's status) is re-applied to a fresh read;
        - a refund is written only while its status is one of `refund_was` (None: a new refund): a refund
          already settled by another applier is AlreadyApplied;
        - the invoice is written only at the version it was read at; on a conflict it alone is read again and
          the invoice change re-applied (the totals are sums of facts, each guarded above);
        - `extra` items (an Idempotency-Key's guard) must not exist yet: one that does is AlreadyApplied; so
          are the writes whose indexes `also` returns (a dispute's fee entry, its conditioned record).

        `remember`: the Idempotency-Key guard that keeps the payment as written as its first answer."""
        entries = [ledger] if isinstance(ledger, dict) else list(ledger or [])
        moment = self.clock()
        now = iso(moment)
        current, invoice = payment, known
        for _ in range(CONFLICT_RETRIES):
            if invoice is None:
                invoice = self.invoice(payment.practice_id, payment.invoice_id)
            after = replace(payment_change(current), version=current.version + (0 if new else 1), updated_at=now)
            changed = invoice_change(invoice)
            changed = replace(
                changed, status=lifecycle.money_status(changed).value, updated_at=now, version=invoice.version + 1
            )
            tx = Transaction()
            at_payment = self.store.put_payment(tx, after, None if new else current)
            at_ledger = [
                self.invoices.put_ledger(
                    tx, payment.practice_id, payment.invoice_id, fact(entry), created_at=now, **entry
                )
                for entry in entries
            ]
            at_refund = self.store.put_refund(tx, refund, refund_was) if refund is not None else None
            at_extra = [self.store.put_new(tx, item) for item in extra or []]
            if also is not None:
                at_extra += also(tx) or []
            if remember is not None:
                self.store.remember_answer(tx, remember, after)

            def emit(detail_type: str, detail: dict[str, Any], tx: Transaction = tx) -> None:
                tx.put(self.events_table, event_item(payment.practice_id, detail_type, detail, moment))

            for detail_type, detail in _events(None if new else current, after, invoice, changed, refund):
                emit(detail_type, detail)
            for follow in self.followers:
                follow(None if new else current, after, tx, now, emit)
            self.invoices.put_changed(tx, changed, invoice.version)
            try:
                tx.commit()
                return changed, after
            except TransactionConflict as exc:
                taken = [*at_ledger, *at_extra, *([] if at_refund is None else [at_refund])]
                if any(exc.failed(i) for i in taken):
                    raise AlreadyApplied(payment.id) from exc
                if new and exc.failed(at_payment):
                    raise AlreadyApplied(payment.id) from exc  # our own earlier write of this new payment
                if not new:
                    fresh = self.payment(payment.practice_id, payment.id)
                    if pinned and (fresh.version, fresh.status) != (current.version, current.status):
                        raise Stale(payment.id) from exc
                    current = fresh
                invoice = None
        raise Conflict("The invoice is changing too quickly; retry with the same Idempotency-Key.")

    # -- Splash's facts about a payment ----------------------------------------------------------------------

    def apply(
        self,
        payment: PaymentRecord,
        move: Move,
        txn_id: str | None,
        *,
        failure: dict[str, Any] | None = None,
        return_info: dict[str, Any] | None = None,
        known: InvoiceRecord | None = None,
        also: Also | None = None,
        remember: dict[str, str] | None = None,
    ) -> tuple[InvoiceRecord, PaymentRecord]:
        """Write one move the rules computed from `payment` as read (sync.transitions): its status, the invoice's
        totals and the ledger entries it implies, each keyed by the Splash txn (`charge#…`, `return#…`).
        Raises Stale if the payment moved meanwhile, AlreadyApplied if the fact is in the books."""
        amount = payment.amount
        ledger: list[dict[str, Any]] = []
        if move.kind in (Kind.CHARGE, Kind.CHARGE_AND_RETURN):
            ledger.append({"type": "charge", "amount": amount, "payment_id": payment.id, "splash_txn_id": txn_id})
        if move.kind is Kind.FAILED_CAPTURE:  # the charge reversed: keyed by the txn, so booked once like a return
            ledger.append(
                {
                    "type": "return",
                    "amount": -amount,
                    "payment_id": payment.id,
                    "splash_txn_id": txn_id,
                    "reason": "failed_capture",
                }
            )
        if move.kind in (Kind.RETURN, Kind.CHARGE_AND_RETURN):
            code = (return_info or {}).get("code")
            ledger.append(
                {
                    "type": "return",
                    "amount": -amount,
                    "payment_id": payment.id,
                    "splash_txn_id": txn_id,
                    **({"return_code": code} if code else {}),
                }
            )
        changes: dict[str, Any] = {"status": move.status.value, "failure": failure}
        if txn_id is not None:
            changes["splash_txn_id"] = txn_id
        if return_info is not None:
            changes["return_info"] = return_info
        return self.commit(
            payment,
            on_invoice(move, amount),
            lambda current: replace(current, **changes),
            known=known,
            ledger=ledger,
            also=also,
            remember=remember,
        )

    def settle(
        self,
        payment: PaymentRecord,
        to: PaymentStatus,
        txn_id: str | None,
        *,
        failure: dict[str, Any] | None = None,
        known: InvoiceRecord | None = None,
        remember: dict[str, str] | None = None,
    ) -> PaymentRecord:
        """Bring `payment` to what Splash answered (`to`, from txn `txn_id`), exactly once: the move is computed
        by the transition table from the payment as read and, if another applier moved it meanwhile, again from
        a fresh read (usually: no move left). The payment as it now stands."""
        for _ in range(CONFLICT_RETRIES):
            move = move_to(payment, to)
            if move is None:
                return payment
            try:
                return self.apply(payment, move, txn_id, failure=failure, known=known, remember=remember)[1]
            except (Stale, AlreadyApplied):
                payment, known = self.payment(payment.practice_id, payment.id), None
        raise Conflict(f"Payment {payment.id} kept changing while its outcome was applied; retry.")

    def mark_unknown(self, payment: PaymentRecord) -> PaymentRecord:
        """Splash's answer was lost: `unknown`, entered only from `pending` (a payment another applier settled
        meanwhile keeps its outcome). The payment as it now stands."""
        for _ in range(CONFLICT_RETRIES):
            if payment.status != PaymentStatus.PENDING:
                return payment
            after = replace(
                payment, status=PaymentStatus.UNKNOWN.value, version=payment.version + 1, updated_at=iso(self.clock())
            )
            tx = Transaction()
            self.store.put_payment(tx, after, payment)
            try:
                tx.commit()
                return after
            except TransactionConflict:
                payment = self.payment(payment.practice_id, payment.id)
        raise Conflict(f"Payment {payment.id} kept changing; retry.")

    # -- refunds ---------------------------------------------------------------------------------------------

    def hold_refund(self, refund: RefundRecord, known: PaymentRecord, *, resumed: bool) -> PaymentRecord:
        """Record the refund (pending; `resumed`: over the same refund that was never submitted) and hold its
        amount on the payment, re-reading the payment on conflict; the payment as written."""
        payment = known
        for _ in range(CONFLICT_RETRIES):
            if payment.refundable < refund.amount:
                raise Conflict("Other refunds of this payment are in flight; nothing more can be refunded now.")
            after = replace(
                payment,
                refund_pending=payment.refund_pending + refund.amount,
                version=payment.version + 1,
                updated_at=iso(self.clock()),
            )
            tx = Transaction()
            self.store.put_payment(tx, after, payment)
            at_refund = self.store.put_refund(tx, refund, frozenset({"failed"}) if resumed else None)
            try:
                tx.commit()
                return after
            except TransactionConflict as exc:
                if exc.failed(at_refund):
                    raise Conflict("This refund is already under way; retry with the same Idempotency-Key.") from exc
                payment = self.payment(refund.practice_id, refund.payment_id)
        raise Conflict("The payment is changing too quickly; retry with the same Idempotency-Key.")

    def refund_unknown(self, refund: RefundRecord) -> RefundRecord:
        """Splash's answer to a refund was lost: `unknown`, only from `pending` (an outcome applied meanwhile
        stays). The refund as it now stands."""
        unknown = replace(refund, status="unknown")
        tx = Transaction()
        self.store.put_refund(tx, unknown, frozenset({"pending"}))
        try:
            tx.commit()
        except TransactionConflict:
            return self.store.get_refund(refund.practice_id, refund.payment_id, refund.id) or refund
        return unknown

    def refund_outcome(
        self,
        before: RefundRecord,
        after: RefundRecord,
        *,
        payment: PaymentRecord | None = None,
        invoice: InvoiceRecord | None = None,
    ) -> bool:
        """Write a refund's outcome with the payment's and the invoice's new totals and the ledger entry, once:
        the refund is written only while it is still open, and its ledger key is the refund's id. False when
        another applier wrote the outcome first. The payment and invoice as last read, when the caller has
        them, save reading them again."""
        amount = before.amount
        succeeded = after.status == "succeeded"
        current = payment or self.payment(before.practice_id, before.payment_id)
        booked = before.books_as(current.amount)

        def on_payment(p: PaymentRecord) -> PaymentRecord:
            pending = replace(p, refund_pending=p.refund_pending - amount)
            return _given_back_payment(pending, before) if succeeded else pending

        try:
            self.commit(
                current,
                _given_back_invoice(booked, amount) if succeeded else (lambda invoice: invoice),
                on_payment,
                pinned=False,
                known=invoice,
                ledger=_refund_entry(before, booked, after.splash_txn_id) if succeeded else None,
                refund=after,
                refund_was=OPEN_REFUND,
            )
        except AlreadyApplied:
            return False
        return True

    def outside_refund(self, payment: PaymentRecord, refund: RefundRecord) -> bool:
        """A refund or void made outside PracticePay (the Payrix portal: a txn derived from the payment's, with
        its `order`), already succeeded at Splash: the refund record, the payment's and invoice's totals and
        the ledger entry (`refund#…`/`void#…` as `RefundRecord.books_as` says, keyed by the refund's id, which
        is derived from the Splash txn), once: the refund must not exist yet. False when another applier wrote
        it first."""
        booked = refund.books_as(payment.amount)
        ledger = {**_refund_entry(refund, booked, refund.splash_txn_id), "outside": True}
        try:
            self.commit(
                payment,
                _given_back_invoice(booked, refund.amount),
                lambda p: _given_back_payment(p, refund),
                pinned=False,
                ledger=ledger,
                refund=refund,
                refund_was=None,
            )
        except AlreadyApplied:
            return False
        return True


def _given_back_payment(p: PaymentRecord, refund: RefundRecord) -> PaymentRecord:
    """The payment once `refund` succeeded: its amount refunded, and its status (returned by the bank meanwhile:
    the return's status stands, and the refund's money is booked)."""
    refunded = p.amount_refunded + refund.amount
    status = PaymentStatus(p.status)
    if status in _REFUND_MOVES:
        if refunded < p.amount:
            status = PaymentStatus.PARTIALLY_REFUNDED
        else:
            status = PaymentStatus.VOIDED if refund.kind == "void" else PaymentStatus.REFUNDED
    return replace(p, amount_refunded=refunded, status=status.value)


def _given_back_invoice(booked: str, amount: int) -> InvoiceChange:
    """The invoice once a refund booked as `booked` (RefundRecord.books_as) succeeded: a void of the whole sale was
    never paid; anything else is money given back, the balance unchanged."""
    if booked == "void":
        return lambda invoice: replace(invoice, amount_paid=invoice.amount_paid - amount)
    return lambda invoice: replace(invoice, amount_refunded=invoice.amount_refunded + amount)


def _refund_entry(refund: RefundRecord, booked: str, splash_txn_id: str | None) -> dict[str, Any]:
    """The ledger entry of a refund that succeeded, keyed (`fact`) by its type and the refund's id."""
    return {
        "type": booked,
        "amount": -refund.amount,
        "payment_id": refund.payment_id,
        "refund_id": refund.id,
        "splash_txn_id": splash_txn_id,
    }


def _events(
    before: PaymentRecord | None,
    after: PaymentRecord,
    invoice_before: InvoiceRecord,
    invoice_after: InvoiceRecord,
    refund: RefundRecord | None,
) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    moved = before is None or before.status != after.status or (refund is not None and refund.status == "succeeded")
    detail_type = PAYMENT_EVENTS.get(after.status)
    if moved and detail_type:
        detail: dict[str, Any] = {
            "payment_id": after.id,
            "invoice_id": after.invoice_id,
            "patient_id": after.patient_id,
            "method_kind": after.method_kind,
            "amount": after.amount,
            "amount_refunded": after.amount_refunded,
            "status": after.status,
            "channel": after.channel,
        }
        if after.failure:
            detail["failure_category"] = after.failure.get("category")
        if after.return_info:
            detail["return_code"] = after.return_info.get("code")
            detail["return_category"] = after.return_info.get("category")
        if refund is not None and refund.status == "succeeded":
            detail.update(refund_id=refund.id, refund_amount=refund.amount)
        if after.installment:
            detail["installment_id"] = after.installment["id"]
        out.append((detail_type, detail))
    if invoice_after.status == InvoiceStatus.PAID and invoice_before.status != InvoiceStatus.PAID:
        out.append(
            (
                "invoice.paid",
                {
                    "invoice_id": invoice_after.id,
                    "patient_id": invoice_after.patient_id,
                    "total": invoice_after.total,
                    "amount_paid": invoice_after.amount_paid,
                },
            )
        )
    return out
