"""Payment plans and memberships API: make a plan for an invoice, read it, change its method, pay an installment
early, cancel it; start, read and cancel a patient's membership. Thin: validate, call the billing service."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from practicepay.api.params import IdempotencyKey
from practicepay.api.problems import responses
from practicepay.api.resolver import build_resolver, resolve
from practicepay.auth.context import practice_id
from practicepay.billing.models import (
    ChangePlanRequest,
    CreatePlanRequest,
    CreateSubscriptionRequest,
    PayInstallmentRequest,
    PaymentPlan,
    Subscription,
    SubscriptionList,
)
from practicepay.billing.wiring import billing_service
from practicepay.errors import PaymentDeclined
from practicepay.observability import entrypoint, metrics
from practicepay.payments.models import Payment, PaymentStatus, payment_responses

app = build_resolver()
Id = Annotated[str, Path(max_length=64)]


@app.post(
    "/invoices/<invoice_id>/payment-plan",
    summary="Put an invoice's balance on a payment plan (autopay installments)",
    description="The invoice becomes in_progress; the installments' cents add up to the balance exactly (the "
    "remainder on the last). Each is charged on its date by the daily run, with the practice's retry policy.",
    tags=["payment plans"],
    responses=responses((201, "The plan", PaymentPlan), 400, 401, 404, 409, 422),
)
def create_plan(invoice_id: Id, body: CreatePlanRequest, idempotency_key: IdempotencyKey) -> Response[PaymentPlan]:
    plan = billing_service().create_plan(practice_id(app), invoice_id, idempotency_key, body, app.lambda_context)
    metrics.add_metric(name="PlanCreated", unit=MetricUnit.Count, value=1)
    location = f"/invoices/{invoice_id}/payment-plan"
    return Response(201, "application/json", plan, headers={"Location": location})


@app.get(
    "/invoices/<invoice_id>/payment-plan",
    summary="Get an invoice's payment plan (its latest, if it had several)",
    tags=["payment plans"],
    responses=responses((200, "The plan", PaymentPlan), 401, 404),
)
def get_plan(invoice_id: Id) -> PaymentPlan:
    return billing_service().get_plan(practice_id(app), invoice_id)


@app.patch(
    "/invoices/<invoice_id>/payment-plan",
    summary="Change the payment method the plan's coming installments charge",
    tags=["payment plans"],
    responses=responses((200, "The plan", PaymentPlan), 400, 401, 404, 409, 422),
)
def change_plan(invoice_id: Id, body: ChangePlanRequest) -> PaymentPlan:
    return billing_service().change_method(practice_id(app), invoice_id, body)


@app.post(
    "/invoices/<invoice_id>/payment-plan/cancel",
    summary="Cancel the plan: installments not yet charged are canceled, the invoice is open with its balance",
    tags=["payment plans"],
    responses=responses((200, "The plan", PaymentPlan), 401, 404, 409),
)
def cancel_plan(invoice_id: Id) -> PaymentPlan:
    return billing_service().cancel_plan(practice_id(app), invoice_id)


@app.post(
    "/invoices/<invoice_id>/payment-plan/installments/<seq>/pay",
    summary="Pay one installment now (early, or after a failed attempt)",
    description="201 with the payment, 402 when declined, 202 when Splash's answer was lost or is not decided yet.",
    tags=["payment plans"],
    responses=payment_responses(),
)
def pay_installment(
    invoice_id: Id,
    seq: Annotated[int, Path(ge=1, le=999)],
    body: PayInstallmentRequest,
    idempotency_key: IdempotencyKey,
) -> Response[Payment]:
    payment = billing_service().pay_installment(practice_id(app), invoice_id, seq, idempotency_key, body)
    if payment.status is PaymentStatus.FAILED and payment.failure is not None:
        f = payment.failure
        raise PaymentDeclined(
            f"{f.processor_text} ({f.category}). Payment {payment.id} is recorded as failed.",
            f.category,
            instance=f"/payments/{payment.id}",
        )
    status = 202 if payment.status in (PaymentStatus.UNKNOWN, PaymentStatus.PENDING) else 201  # not decided yet
    return Response(status, "application/json", payment, headers={"Location": f"/payments/{payment.id}"})


@app.post(
    "/patients/<patient_id>/subscriptions",
    summary="Start a membership: every cycle issues an invoice and charges it by autopay",
    tags=["memberships"],
    responses=responses((201, "The membership", Subscription), 400, 401, 404, 409, 422),
)
def create_subscription(
    patient_id: Id, body: CreateSubscriptionRequest, idempotency_key: IdempotencyKey
) -> Response[Subscription]:
    sub = billing_service().create_subscription(practice_id(app), patient_id, idempotency_key, body, app.lambda_context)
    metrics.add_metric(name="SubscriptionCreated", unit=MetricUnit.Count, value=1)
    return Response(201, "application/json", sub, headers={"Location": f"/subscriptions/{sub.id}"})


@app.get(
    "/patients/<patient_id>/subscriptions",
    summary="List a patient's memberships",
    tags=["memberships"],
    responses=responses((200, "The memberships", SubscriptionList), 401, 404),
)
def list_subscriptions(patient_id: Id) -> SubscriptionList:
    return billing_service().list_subscriptions(practice_id(app), patient_id)


@app.get(
    "/subscriptions/<subscription_id>",
    summary="Get a membership with its cycles",
    tags=["memberships"],
    responses=responses((200, "The membership", Subscription), 401, 404),
)
def get_subscription(subscription_id: Id) -> Subscription:
    return billing_service().get_subscription(practice_id(app), subscription_id)


@app.post(
    "/subscriptions/<subscription_id>/cancel",
    summary="Cancel a membership: no further cycles, retries of failed cycles stop",
    tags=["memberships"],
    responses=responses((200, "The membership", Subscription), 401, 404, 409),
)
def cancel_subscription(subscription_id: Id) -> Subscription:
    return billing_service().cancel_subscription(practice_id(app), subscription_id)


@entrypoint(correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return resolve(app, event, context)
