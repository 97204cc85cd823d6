"""Charging a payment method on file for an invoice, and refunding, exactly once and with nothing lost.

A payment is recorded (pending) and its amount reserved on the invoice in one transaction, so two concurrent
payments can never together exceed the balance. Its id is Splash's REQUEST-TOKEN and `order`. The outcome is
then written with the invoice's new totals and an append-only ledger entry in one transaction. A timeout
leaves the payment `unknown` with its reservation held, and puts it on the reconciliation queue."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from practicepay.adapters.dynamo import batch_get
from practicepay.adapters.queues import ReconciliationQueue
from practicepay.clock import Clock, from_iso, iso, utc_now
from practicepay.errors import (
    Conflict,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    NotFound,
    ProcessorUnavailable,
    ValidationFailed,
)
from practicepay.idempotency import run_once
from practicepay.ids import digest_id, id_pattern, new_id
from practicepay.invoices import lifecycle
from practicepay.invoices.models import InvoiceRecord, InvoiceStatus
from practicepay.invoices.store import InvoiceStore
from practicepay.observability import logger
from practicepay.patients.service import PatientService
from practicepay.patients.store import MethodRecord, method_from_item
from practicepay.payments.book import AlreadyApplied, PaymentBook, Stale
from practicepay.payments.models import (
    CreatePaymentRequest,
    CreateRefundRequest,
    DisputeRef,
    Failure,
    KeyGuard,
    Payment,
    PaymentList,
    PaymentRecord,
    PaymentStatus,
    Refund,
    RefundRecord,
    ReturnInfo,
    not_submitted,
    refused,
)
from practicepay.payments.store import PaymentStore
from practicepay.practices import Practice, PracticeStore
from practicepay.splash.errors import SplashDeclined, SplashError, SplashOutcomeUnknown, SplashValidationError
from practicepay.splash.models import Txn, TxnStatus, TxnType
from practicepay.splash.outbound import TxnRequest
from practicepay.sync.transitions import PARTIAL_CODE, not_success, target

if TYPE_CHECKING:
    from practicepay.splash.client import SplashClient

INVOICE_ID = id_pattern("inv")
REFUNDABLE = frozenset({PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED})
IN_FLIGHT_SECONDS = 60
"""A pending payment younger than this is still being sent by the request that started it (a Lambda times out
after 10 s): a replay of its key answers 409, retry shortly. An older one was cut short: a replay resumes it."""
IN_PROGRESS = "Retry in a few seconds; the first request with this Idempotency-Key is still being processed."


@dataclass(frozen=True)
class AutopayAttempt:
    """An installment's charge as the charge worker (or an early payment) asks for it."""

    installment_id: str
    number: int
    """The attempt's number: with the installment, what makes the charge idempotent."""
    on: str
    """The business date (YYYY-MM-DD) the attempt belongs to: the daily run's date, or today."""
    payment_method_id: str
    amount: int
    redeposit_of: str | None = None
    """A returned eCheck payment to re-present instead of a new debit."""

    def ref(self) -> dict[str, Any]:
        return {"id": self.installment_id, "attempt": self.number, "on": self.on}


@dataclass
class PaymentService:
    book: PaymentBook
    patients: PatientService
    practices: PracticeStore
    splash: Callable[[], SplashClient]
    queue: ReconciliationQueue
    idempotency_store: BasePersistenceLayer
    idempotency_ttl_seconds: int = 24 * 3600
    clock: Clock = utc_now

    @property
    def store(self) -> PaymentStore:
        return self.book.store

    @property
    def invoices(self) -> InvoiceStore:
        return self.book.invoices

    # -- reads -------------------------------------------------------------------------------------------------

    def get(self, practice_id: str, payment_id: str) -> Payment:
        return _view(self.book.payment(practice_id, payment_id))

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
        channel: Literal["api", "pay_page", "desk"] = "api",
    ) -> Payment:
        """`channel`: api (the platform), pay_page (the patient, by a pay link) or desk (staff on the dashboard)."""
        return self._pay("pay", practice_id, invoice_id, idempotency_key, body, None, channel=channel)

    def autopay(
        self,
        practice_id: str,
        invoice_id: str,
        attempt: AutopayAttempt,
        *,
        key: str | None = None,
        fingerprint: str | None = None,
    ) -> Payment:
        """One attempt at an installment (or a membership cycle): exactly once per (installment, attempt), however
        often the daily run or SQS offers it, or per the caller's `key` (an early payment's Idempotency-Key, with
        `fingerprint`: the caller's request, which a replay of the key must repeat). A re-presentment of a
        returned eCheck is a redeposit of it."""
        body = CreatePaymentRequest(payment_method_id=attempt.payment_method_id, amount=attempt.amount)
        key = key or f"{attempt.installment_id}:{attempt.number}"
        return self._pay("autopay", practice_id, invoice_id, key, body, attempt, fingerprint)

    def keyed(self, practice_id: str, invoice_id: str, key: str) -> tuple[InvoiceRecord, KeyGuard | None]:
        """The invoice and the guard of the Idempotency-Key `key` on it (the payment the key started, if any), in
        one read: for a caller that checks more than a payment does before paying (an early installment payment),
        so that a replay of the key finds its first answer before any of those checks can refuse it."""
        if not INVOICE_ID.match(invoice_id):
            raise NotFound(f"No invoice {invoice_id} exists for this practice.")
        invoice_item, guard = batch_get(
            self.invoices.resource,
            [
                (self.invoices.table_name, self.invoices.key(practice_id, invoice_id)),
                (self.store.table_name, self._guard_key(practice_id, invoice_id, key)),
            ],
        )
        if invoice_item is None:
            raise NotFound(f"No invoice {invoice_id} exists for this practice.")
        return self.invoices.record_from_item(invoice_item), self.store.guard_from_item(guard) if guard else None

    def replay(
        self,
        practice_id: str,
        invoice_id: str,
        key: str,
        guard: KeyGuard,
        fingerprint: str,
    ) -> Payment:
        """The answer to a replay of `key` (its guard read by `keyed`): the first answer, or what became of a
        payment cut short (resumed, never charged twice); 422 when the key was used for another request."""
        return self._replay(practice_id, guard, fingerprint, None, self._guard_key(practice_id, invoice_id, key))

    def _pay(
        self,
        operation: str,
        practice_id: str,
        invoice_id: str,
        key: str,
        body: CreatePaymentRequest,
        attempt: AutopayAttempt | None = None,
        fingerprint: str | None = None,
        channel: str = "api",
    ) -> Payment:
        """Exactly once per (invoice, Idempotency-Key), in three DynamoDB calls: one read (the invoice, the method
        and the key's guard), the reservation (the payment, the guard and the invoice's hold) and the outcome
        (with the guard's first answer). A replay answers the first answer; the same key with another body is
        refused; a retry after a failure midway resumes the same payment, never a second one. `fingerprint`: the
        request a replay must repeat, when the caller's request is not `body` (an early installment payment)."""
        key_hash = digest_id("pay", invoice_id, key)
        guard_key = self._guard_key(practice_id, invoice_id, key)
        fingerprint = fingerprint or digest_id(operation, body.model_dump_json())
        invoice, method, guard = self._read_for_payment(practice_id, invoice_id, body.payment_method_id, guard_key)
        if guard is not None:
            return self._replay(practice_id, guard, fingerprint, method, guard_key)
        practice = self.practices.require(practice_id)
        practice.merchant_for_charging()  # 409 before anything is written when it cannot take payments
        balance = invoice.total - invoice.amount_paid - invoice.amount_pending
        amount, represents = body.amount or balance, None
        if attempt is not None and attempt.redeposit_of is not None:
            original = self.book.payment(practice_id, attempt.redeposit_of)
            if original.status != PaymentStatus.RETURNED or original.payment_method_id != method.id:
                raise Conflict(f"Payment {original.id} is not a returned eCheck of this method to re-present.")
            amount, represents = original.amount, original.represents or original.splash_txn_id  # the same item
        elif attempt is not None:
            amount = min(amount, balance)  # an installment never collects more than is left (paid another way)
        if amount <= 0:
            raise Conflict("Nothing is left to pay on this invoice.")
        lifecycle.require_payable(invoice, amount)
        source = self.patients.chargeable(method, amount)
        moment = self.clock()
        now = iso(moment)
        payment = PaymentRecord(
            practice_id=practice_id,
            id=new_id("pay", int(moment.timestamp() * 1000)),  # time-ordered by created_at (the payments report)
            invoice_id=invoice_id,
            patient_id=invoice.patient_id,
            payment_method_id=source.method.id,
            method_kind=source.method.kind,
            amount=amount,
            status=PaymentStatus.PENDING.value,
            created_at=now,
            updated_at=now,
            installment=attempt.ref() if attempt else None,
            represents=represents,
            channel="autopay" if attempt is not None else channel,
        )
        guard_item = self.store.key_item(practice_id, key_hash, payment.id, fingerprint)
        try:
            reserved, _ = self.book.commit(
                payment, _reserve(payment.amount), lambda p: p, new=True, extra=[guard_item], known=invoice
            )
        except AlreadyApplied:  # the same key, at the same moment, from a concurrent request
            raise IdempotencyInProgress(IN_PROGRESS) from None
        return self._send(payment, practice, source.token, reserved, guard_key)

    def _replay(
        self,
        practice_id: str,
        guard: KeyGuard,
        fingerprint: str,
        method: MethodRecord | None,
        guard_key: dict[str, str],
    ) -> Payment:
        """`method`: the payment's method when already read (else read if the payment must be resumed)."""
        if guard.fingerprint not in (None, fingerprint):
            raise IdempotencyKeyReused(
                "This Idempotency-Key was already used with a different request body. Use a new key for a new request."
            )
        if guard.answer is not None:
            return _view(guard.answer)
        payment = self.book.payment(practice_id, guard.payment_id)
        started = from_iso(payment.updated_at)
        if payment.status == PaymentStatus.PENDING and self.clock() - started < timedelta(seconds=IN_FLIGHT_SECONDS):
            raise IdempotencyInProgress(IN_PROGRESS)
        return self._resume(payment, method, guard_key)

    def _resume(self, payment: PaymentRecord, method: MethodRecord | None, guard_key: dict[str, str]) -> Payment:
        """A retry with the same Idempotency-Key after the first run failed midway: never a second charge."""
        status = PaymentStatus(payment.status)
        not_sent = status is PaymentStatus.FAILED and not_submitted(payment.failure)
        if status is not PaymentStatus.PENDING and not not_sent:
            return _view(payment)  # settled, declined or unknown: answer with what happened
        if method is None:
            method = self.patients.store.get_method(payment.practice_id, payment.patient_id, payment.payment_method_id)
            if method is None:
                raise NotFound(f"No payment method {payment.payment_method_id} exists for this payment's patient.")
        practice = self.practices.require(payment.practice_id)
        practice.merchant_for_charging()
        source = self.patients.chargeable(method, payment.amount)
        if not_sent:  # hold the amount again and send (under the same REQUEST-TOKEN, unless Splash refused it)
            again = _set(status="pending", failure=None, refusals=payment.refusals + refused(payment.failure))
            try:
                payment = self.book.commit(payment, _reserve(payment.amount), again)[1]
            except Stale:  # a txn turned up after all and was applied meanwhile: answer with it
                return _view(self.book.payment(payment.practice_id, payment.id))
        return self._send(payment, practice, source.token, None, guard_key)

    def _send(
        self,
        payment: PaymentRecord,
        practice: Practice,
        token: str,
        invoice: InvoiceRecord | None,
        guard_key: dict[str, str],
    ) -> Payment:
        """Send the payment to Splash and apply its answer through the book, which applies each outcome once
        whoever learns of it first (this call, an alert, the poll or the reconciler)."""
        card = payment.method_kind == "card"
        kind = TxnType.CARD_SALE if card else TxnType.ECHECK_SALE
        request = TxnRequest(
            merchant=practice.merchant_for_charging(),
            # a re-presentment of a returned eCheck is a redeposit of the original item, for the same amount
            type=TxnType.ECHECK_REDEPOSIT if payment.represents else kind,
            total=payment.amount,
            token=None if payment.represents else token,
            fortxn=payment.represents,
            order=payment.id,
            description="Medical services - installment" if payment.installment else "Medical services",
            descriptor=practice.settings.statement_descriptor,
            cofType=payment.stored_credential_type(),
        )
        try:
            txn = self.splash().txn(request, request_token=payment.request_token())
        except SplashDeclined as exc:
            d = exc.decline
            failure = Failure(
                category=d.category,
                processor_text=d.processor_text,
                processor_code=d.processor_code,
                retryable=d.retryable,
            )
            return self._settle(payment, PaymentStatus.FAILED, d.txn_id, invoice, failure, guard_key)
        except SplashOutcomeUnknown:
            return self._unknown(payment)
        except SplashError as exc:
            # Refused before processing or never reached Splash: nothing was charged. Record it, release the hold
            # and answer an error, so a retry with the same key sends again under the same REQUEST-TOKEN.
            rejected = isinstance(exc, SplashValidationError)
            failure = Failure(
                category="processor_refused" if rejected else "processor_unavailable",
                processor_text=str(exc),
                retryable=True,
            )
            settled = self._settle(payment, PaymentStatus.FAILED, None, invoice, failure)
            if settled.status is not PaymentStatus.FAILED:
                return settled  # Splash's answer reached us another way after all (an alert, the poll)
            if rejected:
                raise ValidationFailed(f"Splash refused the payment: {exc}") from exc
            raise ProcessorUnavailable("Splash did not answer; nothing was charged. Retry with the same key.") from exc
        except Exception:
            self._unknown(payment)  # we cannot tell what happened: the reconciler will
            raise
        try:
            # Not every answer is a success (splash-api.md §10): pending (status 0) or held for risk review
            # (`reserved`) stays pending, its amount held, until the sync learns the outcome (the poll reads every
            # open payment); a partial approval or a hold that will not be captured is failed, nothing booked.
            status = target(payment, txn)
            if status is None:
                logger.warning("payment answered but not decided yet", payment_id=payment.id, txn=txn.id)
                return _view(payment)
            if status is PaymentStatus.FAILED:
                why = not_success(txn) or {"category": "generic_decline", "processor_text": "Declined"}
                failure = Failure.model_validate(why)
                settled = self._settle(payment, status, txn.id, invoice, failure, guard_key)
                if failure.processor_code == PARTIAL_CODE:
                    self._void_partial(payment, txn)
                return settled
            return self._settle(payment, status, txn.id, invoice, remember=guard_key)
        except Exception:
            self._unknown(payment)  # charged at Splash, not written here: the reconciler will apply it
            raise

    def _void_partial(self, payment: PaymentRecord, txn: Txn) -> None:
        """A partial approval (never asked for: we send no `allowPartial`) is booked as a decline; void it at Splash
        too, so Splash holds no money the books do not show. A void that fails is logged for staff (ids only)."""
        request = TxnRequest(type=TxnType.CARD_REVERSE, fortxn=txn.id, description="Medical services - refund")
        try:
            self.splash().txn(request, request_token=f"{payment.id}.void")
        except SplashError as exc:
            logger.error(
                "partial approval not voided at Splash: void it in the portal",
                payment_id=payment.id,
                txn=txn.id,
                error=type(exc).__name__,
            )

    def _settle(
        self,
        payment: PaymentRecord,
        to: PaymentStatus,
        txn_id: str | None,
        invoice: InvoiceRecord | None,
        failure: Failure | None = None,
        remember: dict[str, str] | None = None,
    ) -> Payment:
        """Apply Splash's answer; `remember`: the guard that keeps it as the key's first answer (a refusal that
        charged nothing is not one: a retry with the key sends again)."""
        failure_ = failure.model_dump(exclude_none=True) if failure else None
        return _view(self.book.settle(payment, to, txn_id, failure=failure_, known=invoice, remember=remember))

    def _unknown(self, payment: PaymentRecord) -> Payment:
        """Splash's answer was lost: `unknown` (only from pending: an outcome another path applied meanwhile
        stands) and queued for the reconciler. Not remembered as the key's answer: a replay answers what the
        reconciler found, and resends a payment it failed as never submitted (an autopay's next-day resend)."""
        current = self.book.mark_unknown(payment)  # written only from the payment as sent; else read again
        if current.status == PaymentStatus.UNKNOWN:
            self.queue.enqueue(practice_id=payment.practice_id, kind="payment", record_id=payment.id, order=payment.id)
            logger.warning("payment outcome unknown; queued for reconciliation", payment_id=payment.id)
        return _view(current)

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
            run=lambda: self._refund(practice_id, payment_id, idempotency_key, body),
            ttl_seconds=self.idempotency_ttl_seconds,
            lambda_context=ctx,
        )

    def _refund(self, practice_id: str, payment_id: str, key: str, body: CreateRefundRequest) -> Refund:
        payment = self.book.payment(practice_id, payment_id)
        refund_id = "rfd_" + digest_id("refund", payment_id, key)
        existing = self.store.get_refund(practice_id, payment_id, refund_id)
        held: PaymentRecord | None = None
        invoice: InvoiceRecord | None = None
        if existing is not None and not (existing.status == "failed" and not_submitted(existing.failure)):
            if existing.status != "pending":
                return _refund_view(existing)
            refund = existing  # resume the one in flight under its REQUEST-TOKEN
        else:
            refund, invoice = self._new_refund(payment, refund_id, body)
            if existing is not None:  # sent again after Splash refused it or never got it
                refund = replace(refund, refusals=existing.refusals + refused(existing.failure))
            held = self.book.hold_refund(refund, payment, resumed=existing is not None)
        request = TxnRequest(
            type=_REFUND_TYPES[(payment.method_kind, refund.kind)],
            fortxn=payment.splash_txn_id,
            total=refund.amount,
            order=refund.id,
            description="Medical services - refund",
        )
        try:
            txn = self.splash().txn(request, request_token=refund.request_token())
        except SplashOutcomeUnknown:
            unknown = self.book.refund_unknown(refund)
            if unknown.status == "unknown":
                self.queue.enqueue(
                    practice_id=practice_id, kind="refund", record_id=refund.id, order=refund.id, payment_id=payment.id
                )
            return _refund_view(unknown)
        except SplashError as exc:
            failure = _refund_failure(exc)
            failed = replace(refund, status="failed", failure=failure.model_dump())
            if not self.book.refund_outcome(refund, failed, payment=held, invoice=invoice):
                return _refund_view(self._current_refund(refund))  # the outcome reached us another way first
            if isinstance(exc, SplashDeclined | SplashValidationError):
                raise Conflict(f"Splash refused the refund: {failure.processor_text}") from exc
            raise ProcessorUnavailable("Splash did not answer; nothing was refunded. Retry with the same key.") from exc
        done = replace(refund, status="succeeded", splash_txn_id=txn.id)
        if not self.book.refund_outcome(refund, done, payment=held, invoice=invoice):
            return _refund_view(self._current_refund(refund))
        return _refund_view(done)

    def _current_refund(self, refund: RefundRecord) -> RefundRecord:
        return self.store.get_refund(refund.practice_id, refund.payment_id, refund.id) or refund

    def _new_refund(
        self, payment: PaymentRecord, refund_id: str, body: CreateRefundRequest
    ) -> tuple[RefundRecord, InvoiceRecord]:
        if PaymentStatus(payment.status) is PaymentStatus.PROCESSING:
            raise Conflict("This eCheck has not settled yet; it can be refunded once it settles (usually next day).")
        if PaymentStatus(payment.status) not in REFUNDABLE:
            raise Conflict(f"A {payment.status} payment cannot be refunded.")
        remaining = payment.refundable
        if remaining <= 0:
            raise Conflict(
                "Nothing is left to refund on this payment (refunds in flight and chargebacks count)."
                if payment.amount_charged_back
                else "Nothing is left to refund on this payment (refunds in flight count)."
            )
        amount = body.amount or remaining
        if amount > remaining:
            raise ValidationFailed(
                f"At most {remaining} cents of this payment can still be refunded.",
                errors=[{"field": "amount", "message": f"amount must be at most {remaining}"}],
            )
        invoice = self.book.invoice(payment.practice_id, payment.invoice_id)
        kind = _refund_kind(payment, self.splash().get(Txn, payment.splash_txn_id or ""), invoice, amount)
        refund = RefundRecord.of(
            payment, refund_id, amount=amount, kind=kind, status="pending", created_at=iso(self.clock())
        )
        return refund, invoice

    # -- internals ---------------------------------------------------------------------------------------------

    def _read_for_payment(
        self, practice_id: str, invoice_id: str, method_id: str, guard_key: dict[str, str]
    ) -> tuple[InvoiceRecord, MethodRecord, KeyGuard | None]:
        """The invoice, the method to charge and the Idempotency-Key's guard (the payment it started, its first
        answer), read together in one round trip."""
        if not INVOICE_ID.match(invoice_id):
            raise NotFound(f"No invoice {invoice_id} exists for this practice.")
        store = self.patients.store
        invoice_item, method_item, guard = batch_get(
            self.invoices.resource,
            [
                (self.invoices.table_name, self.invoices.key(practice_id, invoice_id)),
                (store.table_name, store.method_key(practice_id, method_id)),
                (self.store.table_name, guard_key),
            ],
        )
        if invoice_item is None:
            raise NotFound(f"No invoice {invoice_id} exists for this practice.")
        invoice = self.invoices.record_from_item(invoice_item)
        method = method_from_item(method_item) if method_item else None
        if method is None or method.patient_id != invoice.patient_id:
            raise NotFound(f"No payment method {method_id} exists for this invoice's patient.")
        return invoice, method, self.store.guard_from_item(guard) if guard else None

    def _guard_key(self, practice_id: str, invoice_id: str, key: str) -> dict[str, str]:
        """The key of the guard of the Idempotency-Key `key` on the invoice (`_pay` writes it)."""
        return self.store.key_key(practice_id, digest_id("pay", invoice_id, key))


_REFUND_TYPES = {
    ("card", "void"): TxnType.CARD_REVERSE,
    ("card", "refund"): TxnType.CARD_REFUND,
    ("bank_account", "refund"): TxnType.ECHECK_REFUND,
}


def request_fingerprint(operation: str, request: BaseModel, *context: str) -> str:
    """The digest of a caller's request that a replay of its Idempotency-Key must repeat (the same key with
    another request is refused): the request's body and `context` (its path parameters)."""
    return digest_id(operation, *context, request.model_dump_json())


def _reserve(amount: int) -> Callable[[InvoiceRecord], InvoiceRecord]:
    def change(invoice: InvoiceRecord) -> InvoiceRecord:
        lifecycle.require_payable(invoice, amount)
        return replace(invoice, amount_pending=invoice.amount_pending + amount)

    return change


def _set(**changes: Any) -> Callable[[PaymentRecord], PaymentRecord]:
    return lambda payment: replace(payment, **changes)


def _refund_kind(payment: PaymentRecord, original: Txn, invoice: InvoiceRecord, amount: int) -> str:
    """How Splash carries a refund out: a reverse (`void`) while the card sale is unsettled, a refund after."""
    status = original.txn_status
    if payment.method_kind == "card" and status is TxnStatus.APPROVED:
        if amount == payment.amount and invoice.status == InvoiceStatus.UNCOLLECTIBLE.value:
            raise Conflict(
                "This invoice was written off; a void of the whole payment would reopen it. Refund part of it, "
                "or refund after settlement."
            )
        return "void"
    if status in (TxnStatus.CAPTURED, TxnStatus.SETTLED):
        return "refund"
    raise Conflict(f"The payment's transaction is {status.name.lower()} at Splash and cannot be refunded now.")


def _refund_failure(exc: SplashError) -> Failure:
    if isinstance(exc, SplashDeclined):
        d = exc.decline
        return Failure(category=d.category, processor_text=d.processor_text, processor_code=d.processor_code)
    refusal = isinstance(exc, SplashValidationError)
    return Failure(category="processor_refused" if refusal else "processor_unavailable", processor_text=str(exc))


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
        return_info=ReturnInfo.model_validate(record.return_info) if record.return_info else None,
        splash_txn_id=record.splash_txn_id,
        amount_charged_back=record.amount_charged_back,
        dispute=DisputeRef.model_validate(record.dispute) if record.dispute else None,
        installment_id=(record.installment or {}).get("id"),
        channel=record.channel,  # type: ignore[arg-type]
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
