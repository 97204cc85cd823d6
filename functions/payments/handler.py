"""Payments API: charge a payment method on file for an invoice, read payments, refund. Thin: validate, call the
service, answer a decline with 402 and an unknown outcome with 202."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from practicepay.api.params import IdempotencyKey
from practicepay.api.problems import responses
from practicepay.api.resolver import build_resolver, resolve
from practicepay.auth.context import practice_id
from practicepay.errors import Conflict, PaymentDeclined
from practicepay.observability import entrypoint, metrics
from practicepay.payments.models import (
    CreatePaymentRequest,
    CreateRefundRequest,
    Payment,
    PaymentList,
    PaymentStatus,
    Refund,
    payment_responses,
)
from practicepay.payments.wiring import payment_service

app = build_resolver()
Id = Annotated[str, Path(max_length=64)]


def _answer(payment: Payment) -> Response[Payment]:
    metrics.add_metric(name=f"Payment_{payment.status.value}", unit=MetricUnit.Count, value=1)
    if payment.status is PaymentStatus.FAILED and payment.failure is not None:
        f = payment.failure
        raise PaymentDeclined(
            f"{f.processor_text} ({f.category}). Payment {payment.id} is recorded as failed"
            + ("; it may succeed later." if f.retryable else "."),
            f.category,
            instance=f"/payments/{payment.id}",
        )
    status = 202 if payment.status in (PaymentStatus.UNKNOWN, PaymentStatus.PENDING) else 201  # not decided yet
    return Response(status, "application/json", payment, headers={"Location": f"/payments/{payment.id}"})


@app.post(
    "/invoices/<invoice_id>/payments",
    summary="Pay an invoice with a card or bank account on file",
    description="201 with the payment (card: succeeded; eCheck: processing), 402 when declined, 202 when Splash's "
    "answer was lost (status unknown; the reconciler settles it, nothing is charged twice) or Splash has not decided "
    "yet (status pending: a pending answer or a risk hold; the status poll settles it).",
    tags=["payments"],
    responses=payment_responses(),
)
def pay_invoice(invoice_id: Id, body: CreatePaymentRequest, idempotency_key: IdempotencyKey) -> Response[Payment]:
    return _answer(payment_service().pay(practice_id(app), invoice_id, idempotency_key, body))


@app.get(
    "/payments",
    summary="List payments, newest first",
    tags=["payments"],
    responses=responses((200, "Payments", PaymentList), 400, 401),
)
def list_payments(
    invoice_id: Annotated[str | None, Query(pattern=r"^inv_[0-9a-z]{26}$")] = None,
    status: Annotated[PaymentStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> PaymentList:
    return payment_service().list(practice_id(app), invoice_id=invoice_id, status=status, limit=limit, cursor=cursor)


@app.get(
    "/payments/<payment_id>",
    summary="Get a payment",
    tags=["payments"],
    responses=responses((200, "The payment", Payment), 401, 404),
)
def get_payment(payment_id: Id) -> Payment:
    return payment_service().get(practice_id(app), payment_id)


@app.post(
    "/payments/<payment_id>/refunds",
    summary="Refund a payment in whole or in part (a void while a card sale is unsettled)",
    tags=["payments"],
    responses=responses(
        (201, "The refund", Refund),
        400,
        401,
        404,
        409,
        422,
        503,
        also=[(202, "The refund, status unknown: Splash's answer was lost; the reconciler settles it", Refund)],
    ),
)
def refund_payment(payment_id: Id, body: CreateRefundRequest, idempotency_key: IdempotencyKey) -> Response[Refund]:
    refund = payment_service().refund(practice_id(app), payment_id, idempotency_key, body, app.lambda_context)
    if refund.status == "failed" and refund.failure is not None:
        raise Conflict(f"Splash refused the refund: {refund.failure.processor_text}")
    return Response(202 if refund.status == "unknown" else 201, "application/json", refund)


@entrypoint(correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return resolve(app, event, context)
