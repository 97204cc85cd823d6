"""Charging a payment method on file for an invoice, and refunding, exactly once and with nothing lost.

A payment is recorded (pending) and its amount reserved on the invoice in one transaction, so two concurrent
payments can never together exceed the balance. Its id is Splash's REQUEST-TOKEN and `order`. The outcome is
then written with the invoice's new totals and an append-only ledger entry in one transaction. A timeout
leaves the payment `unknown` with its reservation held, and puts it on the reconciliation queue."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer
from aws_lambda_powertools.utilities.typing import LambdaContext

from practicepay.adapters.dynamo import Transaction, batch_get
from practicepay.adapters.queues import ReconciliationQueue
from practicepay.clock import Clock, iso, utc_now
from practicepay.errors import Conflict, NotFound, ValidationFailed
from practicepay.idempotency import run_once
from practicepay.ids import id_pattern, new_id
from practicepay.invoices import lifecycle
from practicepay.invoices.store import InvoiceRecord, InvoiceStore
from practicepay.observability import logger
from practicepay.patients.service import PatientService
from practicepay.patients.store import MethodRecord, method_from_item
from practicepay.payments.models import (
    CreatePaymentRequest,
    CreateRefundRequest,
    Failure,
    Payment,
    PaymentList,
    PaymentStatus,
    Refund,
)
from practicepay.payments.store import PaymentRecord, PaymentStore, RefundRecord
from practicepay.practices import PracticeStore
from practicepay.splash.client import SplashClient
from practicepay.splash.errors import SplashDeclined, SplashError, SplashOutcomeUnknown, SplashValidationError
from practicepay.splash.models import Txn, TxnStatus, TxnType
from practicepay.splash.outbound import TxnRequest

PAYMENT_ID = id_pattern("pay")
CONFLICT_RETRIES = 5
REFUNDABLE = frozenset({PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED})


@dataclass
class PaymentService:
    store: PaymentStore
    invoices: InvoiceStore
    patients: PatientService
    practices: PracticeStore
    splash: Callable[[], SplashClient]
    queue: ReconciliationQueue
    idempotency_store: BasePersistenceLayer
    idempotency_ttl_seconds: int = 24 * 3600
    clock: Clock = utc_now

    # -- reads -------------------------------------------------------------------------------------------------

    def get(self, practice_id: str, payment_id: str) -> Payment:
        return _view(self._payment(practice_id, payment_id))

    def list(
        self, practice_id: str, *, invoice_id: str | None, status: PaymentStatus | None, limit: int, cursor: str | None
    ) -> PaymentList:
        records, next_cursor = self.store.query(
            practice_id, invoice_id=invoice_id, status=status.value if status else None, limit=limit, cursor=cursor
        )
        return PaymentList(data=[_view(r) for r in records], has_more=next_cursor is not None, next_cursor=next_cursor)

    # -- payments ----------------------------------------------------------------------------------------------

    def pay(
        self,
        practice_id: str,
        invoice_id: str,
        idempotency_key: str,
        body: CreatePaymentRequest,
        ctx: LambdaContext | None = None,
    ) -> Payment:
        return run_once(
            self.idempotency_store,
            operation=f"pay:{invoice_id}",
            practice_id=practice_id,
            idempotency_key=idempotency_key,
            body=body,
            output=Payment,
            run=lambda: self._pay(practice_id, invoice_id, body),
            ttl_seconds=self.idempotency_ttl_seconds,
            lambda_context=ctx,
        )

    def _pay(self, practice_id: str, invoice_id: str, body: CreatePaymentRequest) -> Payment:
        invoice, method = self._invoice_and_method(practice_id, invoice_id, body.payment_method_id)
        merchant = self.practices.require(practice_id).merchant_for_charging()
        amount = body.amount or invoice.total - invoice.amount_paid - invoice.amount_pending
        if amount <= 0:
            raise Conflict("Nothing is left to pay on this invoice.")
        lifecycle.require_payable(invoice, amount)
        source = self.patients.chargeable(method, amount)
        now = iso(self.clock())
        payment = PaymentRecord(
            practice_id=practice_id,
            id=new_id("pay"),
            invoice_id=invoice_id,
            patient_id=invoice.patient_id,
            payment_method_id=source.method.id,
            method_kind=source.method.kind,
            amount=amount,
            status=PaymentStatus.PENDING.value,
            created_at=now,
            updated_at=now,
        )
        reserved = self._reserve(payment, invoice)
        card = source.method.kind == "card"
        request = TxnRequest(
            merchant=merchant,
            type=TxnType.CARD_SALE if card else TxnType.ECHECK_SALE,
            total=amount,
            token=source.token,
            order=payment.id,
            description="Medical services",
        )
        try:
            txn = self.splash().txn(request, request_token=payment.id)
        except SplashDeclined as exc:
            d = exc.decline
            failure = Failure(
                category=d.category,
                processor_text=d.processor_text,
                processor_code=d.processor_code,
                retryable=d.retryable,
            )
            return self._failed(payment, failure, d.txn_id, reserved)
        except SplashOutcomeUnknown:
            return self._unknown(payment, "payment")
        except SplashValidationError as exc:
            return self._failed(payment, Failure(category="processor_refused", processor_text=str(exc)), None, reserved)
        except SplashError as exc:  # never reached Splash, or refused before processing: nothing was charged
            failure = Failure(category="processor_unavailable", processor_text=str(exc), retryable=True)
            return self._failed(payment, failure, None, reserved)
        status = PaymentStatus.SUCCEEDED if card else PaymentStatus.PROCESSING
        return self._charged(payment, txn, status, reserved)

    def _reserve(self, payment: PaymentRecord, invoice: InvoiceRecord | None = None) -> InvoiceRecord:
        """Record the payment and hold its amount on the invoice, in one transaction."""

        def reserve(invoice: InvoiceRecord) -> InvoiceRecord:
            lifecycle.require_payable(invoice, payment.amount)
            return replace(invoice, amount_pending=invoice.amount_pending + payment.amount)

        return self._commit(
            payment.practice_id,
            payment.invoice_id,
            reserve,
            self.store.payment_item(payment),
            "attribute_not_exists(pk)",
            None,
            known=invoice,
        )

    def _charged(self, payment: PaymentRecord, txn: Txn, status: PaymentStatus, invoice: InvoiceRecord) -> Payment:
        after = self._next(payment, status=status.value, splash_txn_id=txn.id)
        processing = payment.amount if status is PaymentStatus.PROCESSING else 0

        def charge(invoice: InvoiceRecord) -> InvoiceRecord:
            return replace(
                invoice,
                amount_pending=invoice.amount_pending - payment.amount,
                amount_paid=invoice.amount_paid + payment.amount,
                amount_processing=invoice.amount_processing + processing,
            )

        ledger = {"type": "charge", "amount": payment.amount, "payment_id": payment.id, "splash_txn_id": txn.id}
        self._commit_payment(payment, after, charge, ledger, known=invoice)
        return _view(after)

    def _failed(
        self, payment: PaymentRecord, failure: Failure, txn_id: str | None, invoice: InvoiceRecord | None
    ) -> Payment:
        after = self._next(
            payment,
            status=PaymentStatus.FAILED.value,
            failure=failure.model_dump(exclude_none=True),
            splash_txn_id=txn_id,
        )

        def release(invoice: InvoiceRecord) -> InvoiceRecord:
            return replace(invoice, amount_pending=invoice.amount_pending - payment.amount)

        self._commit_payment(payment, after, release, None, known=invoice)
        return _view(after)

    def _unknown(self, payment: PaymentRecord, kind: str) -> Payment:
        after = self._next(payment, status=PaymentStatus.UNKNOWN.value)
        tx = Transaction()
        tx.put(self.store.table_name, self.store.payment_item(after), "version = :v", {":v": payment.version})
        tx.commit()
        self.queue.enqueue(practice_id=payment.practice_id, kind=kind, record_id=payment.id, order=payment.id)
        logger.warning("payment outcome unknown; queued for reconciliation", payment_id=payment.id)
        return _view(after)

    # -- refunds -----------------------------------------------------------------------------------------------

    def refund(
        self,
        practice_id: str,
        payment_id: str,
        idempotency_key: str,
        body: CreateRefundRequest,
        ctx: LambdaContext | None = None,
    ) -> Refund:
        return run_once(
            self.idempotency_store,
            operation=f"refund:{payment_id}",
            practice_id=practice_id,
            idempotency_key=idempotency_key,
            body=body,
            output=Refund,
            run=lambda: self._refund(practice_id, payment_id, body),
            ttl_seconds=self.idempotency_ttl_seconds,
            lambda_context=ctx,
        )

    def _refund(self, practice_id: str, payment_id: str, body: CreateRefundRequest) -> Refund:
        payment = self._payment(practice_id, payment_id)
        if PaymentStatus(payment.status) is PaymentStatus.PROCESSING:
            raise Conflict("This eCheck has not settled yet; it can be refunded once it settles (usually next day).")
        if PaymentStatus(payment.status) not in REFUNDABLE:
            raise Conflict(f"A {payment.status} payment cannot be refunded.")
        remaining = payment.amount - payment.amount_refunded - payment.refund_pending
        amount = body.amount or remaining
        if amount > remaining:
            raise ValidationFailed(
                f"At most {remaining} cents of this payment can still be refunded.",
                errors=[{"field": "amount", "message": f"amount must be at most {remaining}"}],
            )
        client = self.splash()
        original = client.get(Txn, payment.splash_txn_id or "")
        kind, txn_type = _refund_kind(payment, original)
        now = iso(self.clock())
        refund = RefundRecord(
            practice_id=practice_id,
            id=new_id("rfd"),
            payment_id=payment.id,
            invoice_id=payment.invoice_id,
            amount=amount,
            kind=kind,
            status="pending",
            created_at=now,
        )
        reserved = self._next(payment, refund_pending=payment.refund_pending + amount)
        tx = Transaction()
        tx.put(self.store.table_name, self.store.payment_item(reserved), "version = :v", {":v": payment.version})
        tx.put(self.store.table_name, self.store.refund_item(refund), "attribute_not_exists(pk)")
        tx.commit()
        request = TxnRequest(
            type=txn_type,
            fortxn=payment.splash_txn_id,
            total=amount,
            order=refund.id,
            description="Medical services - refund",
        )
        try:
            txn = client.txn(request, request_token=refund.id)
        except SplashOutcomeUnknown:
            unknown = replace(refund, status="unknown")
            self._put_refund(unknown)
            self.queue.enqueue(practice_id=practice_id, kind="refund", record_id=refund.id, order=refund.id)
            return _refund_view(unknown)
        except SplashError as exc:
            failure = _refund_failure(exc)
            self._release_refund(reserved, refund, failure)
            return _refund_view(replace(refund, status="failed", failure=failure.model_dump(exclude_none=True)))
        done = replace(refund, status="succeeded", splash_txn_id=txn.id)
        self._refunded(reserved, done)
        return _refund_view(done)

    def _refunded(self, payment: PaymentRecord, refund: RefundRecord) -> None:
        refunded = payment.amount_refunded + refund.amount
        if refund.kind == "void" and refunded == payment.amount:
            status = PaymentStatus.VOIDED
        else:
            status = PaymentStatus.REFUNDED if refunded == payment.amount else PaymentStatus.PARTIALLY_REFUNDED
        after = self._next(
            payment,
            amount_refunded=refunded,
            refund_pending=payment.refund_pending - refund.amount,
            status=status.value,
        )

        def apply(invoice: InvoiceRecord) -> InvoiceRecord:
            if refund.kind == "void":  # the sale never settles: it was never paid
                return replace(invoice, amount_paid=invoice.amount_paid - refund.amount)
            return replace(invoice, amount_refunded=invoice.amount_refunded + refund.amount)

        ledger = {
            "type": refund.kind,
            "amount": -refund.amount,
            "payment_id": payment.id,
            "refund_id": refund.id,
            "splash_txn_id": refund.splash_txn_id,
        }
        self._commit_payment(payment, after, apply, ledger, also_refund=refund)

    def _release_refund(self, payment: PaymentRecord, refund: RefundRecord, failure: Failure) -> None:
        after = self._next(payment, refund_pending=payment.refund_pending - refund.amount)
        tx = Transaction()
        tx.put(self.store.table_name, self.store.payment_item(after), "version = :v", {":v": payment.version})
        tx.put(
            self.store.table_name,
            self.store.refund_item(replace(refund, status="failed", failure=failure.model_dump(exclude_none=True))),
        )
        tx.commit()

    def _put_refund(self, refund: RefundRecord) -> None:
        tx = Transaction()
        tx.put(self.store.table_name, self.store.refund_item(refund))
        tx.commit()

    # -- internals ---------------------------------------------------------------------------------------------

    def _payment(self, practice_id: str, payment_id: str) -> PaymentRecord:
        record = self.store.get(practice_id, payment_id) if PAYMENT_ID.match(payment_id) else None
        if record is None:
            raise NotFound(f"No payment {payment_id} exists for this practice.")
        return record

    def _invoice_and_method(
        self, practice_id: str, invoice_id: str, method_id: str
    ) -> tuple[InvoiceRecord, MethodRecord]:
        """The invoice and the method to charge, read together in one round trip."""
        invoice_key = self.invoices.key(practice_id, invoice_id) if id_pattern("inv").match(invoice_id) else None
        if invoice_key is None:
            raise NotFound(f"No invoice {invoice_id} exists for this practice.")
        store = self.patients.store
        invoice_item, method_item = batch_get(
            self.invoices.resource,
            [(self.invoices.table_name, invoice_key), (store.table_name, store.method_key(practice_id, method_id))],
        )
        if invoice_item is None:
            raise NotFound(f"No invoice {invoice_id} exists for this practice.")
        invoice = self.invoices.record_from_item(invoice_item)
        method = method_from_item(method_item) if method_item else None
        if method is None or method.patient_id != invoice.patient_id:
            raise NotFound(f"No payment method {method_id} exists for this invoice's patient.")
        return invoice, method

    def _invoice(self, practice_id: str, invoice_id: str) -> InvoiceRecord:
        record = self.invoices.get(practice_id, invoice_id) if id_pattern("inv").match(invoice_id) else None
        if record is None:
            raise NotFound(f"No invoice {invoice_id} exists for this practice.")
        return record

    def _next(self, payment: PaymentRecord, **changes: Any) -> PaymentRecord:
        return replace(payment, version=payment.version + 1, updated_at=iso(self.clock()), **changes)

    def _commit_payment(
        self,
        before: PaymentRecord,
        after: PaymentRecord,
        change: Callable[[InvoiceRecord], InvoiceRecord],
        ledger: dict[str, Any] | None,
        also_refund: RefundRecord | None = None,
        known: InvoiceRecord | None = None,
    ) -> None:
        def extra(tx: Transaction) -> None:
            if also_refund is not None:
                tx.put(self.store.table_name, self.store.refund_item(also_refund))

        self._commit(
            before.practice_id,
            before.invoice_id,
            change,
            self.store.payment_item(after),
            "version = :v",
            {":v": before.version},
            ledger,
            extra,
            known,
        )

    def _commit(
        self,
        practice_id: str,
        invoice_id: str,
        change: Callable[[InvoiceRecord], InvoiceRecord],
        payment_item: dict[str, Any],
        condition: str,
        values: dict[str, Any] | None,
        ledger: dict[str, Any] | None = None,
        extra: Callable[[Transaction], None] | None = None,
        known: InvoiceRecord | None = None,
    ) -> InvoiceRecord:
        """Apply `change` to the invoice's state (`known`, else read) and write it with the payment (and a ledger
        entry) in one transaction; re-read and re-apply when the invoice changed meanwhile (optimistic locking)."""
        now = iso(self.clock())
        for _ in range(CONFLICT_RETRIES):
            invoice, known = known or self._invoice(practice_id, invoice_id), None
            changed = change(invoice)
            changed = replace(
                changed, status=lifecycle.money_status(changed).value, updated_at=now, version=invoice.version + 1
            )
            tx = Transaction()
            tx.put(self.store.table_name, payment_item, condition, values)
            if ledger is not None:
                entry = self.invoices.ledger_item(practice_id, invoice_id, new_id("led"), created_at=now, **ledger)
                tx.put(self.invoices.table_name, entry, "attribute_not_exists(pk)")
            if extra is not None:
                extra(tx)
            try:
                self.invoices.replace(changed, invoice.version, also=tx)
                return changed
            except Conflict:
                continue
        raise Conflict("The invoice is changing too quickly; retry with the same Idempotency-Key.")


def _refund_kind(payment: PaymentRecord, original: Txn) -> tuple[str, TxnType]:
    status = original.txn_status
    if payment.method_kind == "card":
        if status is TxnStatus.APPROVED:
            return "void", TxnType.CARD_REVERSE
        if status in (TxnStatus.CAPTURED, TxnStatus.SETTLED):
            return "refund", TxnType.CARD_REFUND
    elif status in (TxnStatus.CAPTURED, TxnStatus.SETTLED):
        return "refund", TxnType.ECHECK_REFUND
    raise Conflict(f"The payment's transaction is {status.name.lower()} at Splash and cannot be refunded now.")


def _refund_failure(exc: SplashError) -> Failure:
    if isinstance(exc, SplashDeclined):
        d = exc.decline
        return Failure(category=d.category, processor_text=d.processor_text, processor_code=d.processor_code)
    return Failure(category="processor_refused", processor_text=str(exc))


def _view(record: PaymentRecord) -> Payment:
    return Payment(
        id=record.id,
        invoice_id=record.invoice_id,
        patient_id=record.patient_id,
        payment_method_id=record.payment_method_id,
        method_kind=record.method_kind,  # type: ignore[arg-type]
        amount=record.amount,
        amount_refunded=record.amount_refunded,
        status=PaymentStatus(record.status),
        failure=Failure.model_validate(record.failure) if record.failure else None,
        splash_txn_id=record.splash_txn_id,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def _refund_view(record: RefundRecord) -> Refund:
    return Refund(
        id=record.id,
        payment_id=record.payment_id,
        invoice_id=record.invoice_id,
        amount=record.amount,
        kind=record.kind,  # type: ignore[arg-type]
        status=record.status,  # type: ignore[arg-type]
        failure=Failure.model_validate(record.failure) if record.failure else None,
        splash_txn_id=record.splash_txn_id,
        created_at=record.created_at,
    )
