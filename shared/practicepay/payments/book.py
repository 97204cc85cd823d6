"""The one writer of money: a payment's change, its invoice's new totals, the ledger entry, a refund and the
domain events it implies, all in one DynamoDB transaction with optimistic locking. The payments API and the
status sync (webhooks, poll, reconciler) both write through it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from practicepay.adapters.dynamo import Transaction
from practicepay.clock import Clock, iso, utc_now
from practicepay.config import MoneyTables
from practicepay.errors import Conflict, NotFound
from practicepay.events import PAYMENT_EVENTS, event_item
from practicepay.ids import id_pattern, new_id
from practicepay.invoices import lifecycle
from practicepay.invoices.models import InvoiceStatus
from practicepay.invoices.store import InvoiceRecord, InvoiceStore
from practicepay.payments.models import PaymentStatus
from practicepay.payments.store import PaymentRecord, PaymentStore, RefundRecord

PAYMENT_ID = id_pattern("pay")
INVOICE_ID = id_pattern("inv")
CONFLICT_RETRIES = 5

InvoiceChange = Callable[[InvoiceRecord], InvoiceRecord]
PaymentChange = Callable[[PaymentRecord], PaymentRecord]
Emit = Callable[[str, dict[str, Any]], None]
Follower = Callable[[PaymentRecord | None, PaymentRecord, Transaction, str, Emit], None]
"""Called with each payment change the book writes (before: None for a new payment), to add the consequences to
the same transaction: an installment's status (practicepay.billing.follow)."""


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

            followers = (InstallmentFollower(ScheduleStore(cfg.schedules_table)),)
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
        known: InvoiceRecord | None = None,
        ledger: list[dict[str, Any]] | dict[str, Any] | None = None,
        refund: RefundRecord | None = None,
        extra: list[dict[str, Any]] | None = None,
        also: Callable[[Transaction], None] | None = None,
    ) -> tuple[InvoiceRecord, PaymentRecord]:
        """Apply the changes to the invoice's and the payment's current state and write both (with the ledger
        entries, the refund, `extra` items, whatever `also` adds and the events the change implies) in one
        transaction. On a conflict both are read again and the changes re-applied (optimistic locking), so
        concurrent operations compose instead of overwriting."""
        entries = [ledger] if isinstance(ledger, dict) else list(ledger or [])
        moment = self.clock()
        now = iso(moment)
        current = payment
        for attempt in range(CONFLICT_RETRIES):
            if attempt == 0 and known is not None:
                invoice = known
            else:
                invoice = self.invoice(payment.practice_id, payment.invoice_id)
            if attempt and not new:
                current = self.payment(payment.practice_id, payment.id)
            after = replace(payment_change(current), version=current.version + (0 if new else 1), updated_at=now)
            changed = invoice_change(invoice)
            changed = replace(
                changed, status=lifecycle.money_status(changed).value, updated_at=now, version=invoice.version + 1
            )
            tx = Transaction()
            if new:
                tx.put(self.store.table_name, self.store.payment_item(after), "attribute_not_exists(pk)")
            else:
                tx.put(self.store.table_name, self.store.payment_item(after), "version = :v", {":v": current.version})
            for entry in entries:
                item = self.invoices.ledger_item(
                    payment.practice_id, payment.invoice_id, new_id("led"), created_at=now, **entry
                )
                tx.put(self.invoices.table_name, item, "attribute_not_exists(pk)")
            if refund is not None:
                tx.put(self.store.table_name, self.store.refund_item(refund))
            for item in extra or []:
                tx.put(self.store.table_name, item, "attribute_not_exists(pk)")
            if also is not None:
                also(tx)

            def emit(detail_type: str, detail: dict[str, Any], tx: Transaction = tx) -> None:
                tx.put(self.events_table, event_item(payment.practice_id, detail_type, detail, moment))

            for detail_type, detail in _events(None if new else current, after, invoice, changed, refund):
                emit(detail_type, detail)
            for follow in self.followers:
                follow(None if new else current, after, tx, now, emit)
            try:
                self.invoices.replace(changed, invoice.version, also=tx)
                return changed, after
            except Conflict:
                continue
        raise Conflict("The invoice is changing too quickly; retry with the same Idempotency-Key.")

    def refund_outcome(
        self,
        before: RefundRecord,
        after: RefundRecord,
        *,
        payment: PaymentRecord | None = None,
        invoice: InvoiceRecord | None = None,
    ) -> None:
        """Write a refund's outcome with the payment's and the invoice's new totals and the ledger entry. The
        payment and invoice as last read, when the caller has them, save reading them again."""
        amount = before.amount
        succeeded = after.status == "succeeded"

        def on_payment(p: PaymentRecord) -> PaymentRecord:
            refunded = p.amount_refunded + (amount if succeeded else 0)
            status = PaymentStatus(p.status)
            if succeeded and refunded < p.amount:
                status = PaymentStatus.PARTIALLY_REFUNDED
            elif succeeded:
                status = PaymentStatus.VOIDED if before.kind == "void" else PaymentStatus.REFUNDED
            return replace(p, amount_refunded=refunded, refund_pending=p.refund_pending - amount, status=status.value)

        def on_invoice(invoice: InvoiceRecord) -> InvoiceRecord:
            if not succeeded:
                return invoice
            if before.kind == "void":  # the sale never settles: it was never paid
                return replace(invoice, amount_paid=invoice.amount_paid - amount)
            return replace(invoice, amount_refunded=invoice.amount_refunded + amount)

        ledger = None
        if succeeded:
            ledger = {
                "type": before.kind,
                "amount": -amount,
                "payment_id": before.payment_id,
                "refund_id": before.id,
                "splash_txn_id": after.splash_txn_id,
            }
        current = payment or self.payment(before.practice_id, before.payment_id)
        self.commit(current, on_invoice, on_payment, known=invoice, ledger=ledger, refund=after)


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
