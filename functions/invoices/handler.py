"""Invoices API: POST /invoices, GET /invoices/{invoice_id}, GET /invoices. Thin: validate, call the service."""

from __future__ import annotations

import json
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from practicepay.api.params import IdempotencyKey
from practicepay.api.problems import responses
from practicepay.api.resolver import build_resolver, resolve
from practicepay.api.urls import api_base_url
from practicepay.auth.context import practice_id
from practicepay.invoices.fhir import FHIR_CONTENT_TYPE, fhir_invoice
from practicepay.invoices.models import (
    EXTERNAL_ID,
    CreateInvoiceRequest,
    Invoice,
    InvoiceList,
    InvoiceStatus,
    WriteOffRequest,
)
from practicepay.invoices.wiring import invoice_service
from practicepay.observability import entrypoint, metrics
from practicepay.paylinks.models import CreatePayLinkRequest, PayLink, PayLinkList
from practicepay.paylinks.wiring import pay_link_service

app = build_resolver()


@app.post(
    "/invoices",
    summary="Create a draft invoice",
    tags=["invoices"],
    responses=responses(
        (201, "The invoice, as created (or as first created, on a retry)", Invoice), 400, 401, 409, 413, 415, 422
    ),
)
def create_invoice(body: CreateInvoiceRequest, idempotency_key: IdempotencyKey) -> Response[Invoice]:
    invoice = invoice_service().create(practice_id(app), idempotency_key, body, app.lambda_context)
    metrics.add_metric(name="InvoiceCreated", unit=MetricUnit.Count, value=1)
    return Response(
        status_code=201,
        content_type="application/json",
        body=invoice,
        headers={"Location": f"/invoices/{invoice.id}"},
    )


_GET_RESPONSES = responses((200, "The invoice", Invoice), 401, 404)
_GET_RESPONSES[200]["content"][FHIR_CONTENT_TYPE] = {
    "schema": {"type": "object", "description": "A FHIR R4 Invoice resource (send Accept: application/fhir+json)"}
}


@app.get(
    "/invoices/<invoice_id>",
    summary="Get an invoice (as JSON, or as a FHIR R4 Invoice)",
    tags=["invoices"],
    responses=_GET_RESPONSES,
)
def get_invoice(invoice_id: Annotated[str, Path(max_length=64)]) -> Response[Invoice | str]:
    practice = practice_id(app)
    invoice = invoice_service().get(practice, invoice_id)
    if FHIR_CONTENT_TYPE in (app.current_event.get_header_value("accept", default_value="") or ""):
        body = json.dumps(fhir_invoice(invoice, practice))  # the resolver serializes only application/json bodies
        return Response(status_code=200, content_type=FHIR_CONTENT_TYPE, body=body)
    return Response(status_code=200, content_type="application/json", body=invoice)


@app.get(
    "/invoices",
    summary="List invoices, newest first",
    tags=["invoices"],
    responses=responses((200, "One page of invoices", InvoiceList), 400, 401),
)
def list_invoices(
    status: Annotated[InvoiceStatus | None, Query()] = None,
    patient_id: Annotated[str | None, Query(pattern=EXTERNAL_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> InvoiceList:
    return invoice_service().list(practice_id(app), status=status, patient_id=patient_id, limit=limit, cursor=cursor)


@app.post(
    "/invoices/<invoice_id>/issue",
    summary="Issue a draft invoice (draft → open)",
    tags=["invoices"],
    responses=responses((200, "The invoice", Invoice), 401, 404, 409),
)
def issue_invoice(invoice_id: Annotated[str, Path(max_length=64)]) -> Invoice:
    return invoice_service().act(practice_id(app), invoice_id, "issue")


@app.post(
    "/invoices/<invoice_id>/cancel",
    summary="Void an invoice with nothing paid",
    tags=["invoices"],
    responses=responses((200, "The invoice", Invoice), 401, 404, 409),
)
def cancel_invoice(invoice_id: Annotated[str, Path(max_length=64)]) -> Invoice:
    return invoice_service().act(practice_id(app), invoice_id, "cancel")


@app.post(
    "/invoices/<invoice_id>/write-off",
    summary="Write off the unpaid balance (→ uncollectible)",
    tags=["invoices"],
    responses=responses((200, "The invoice", Invoice), 401, 404, 409, 422),
)
def write_off_invoice(invoice_id: Annotated[str, Path(max_length=64)], body: WriteOffRequest) -> Invoice:
    return invoice_service().act(practice_id(app), invoice_id, "write_off", reason=body.reason)


Id = Annotated[str, Path(max_length=64)]


def _api_base() -> str:
    """The URL this request reached the API at: a link's base when the deploy names no pay_page_url."""
    return api_base_url(app.current_event.raw_event.get("requestContext") or {})


def _made(link: PayLink) -> Response[PayLink]:
    metrics.add_metric(name="PayLinkCreated", unit=MetricUnit.Count, value=1)
    return Response(201, "application/json", link)


@app.post(
    "/invoices/<invoice_id>/pay-links",
    summary="Make a pay link for an invoice, to send the patient",
    description="201 with the link and its `url` (shown only here: PracticePay keeps a hash of its secret). The link "
    "ends after `expires_in_days` or `max_uses` verified visits (the practice's settings by default). A repeat of "
    "the Idempotency-Key answers the same link and URL.",
    tags=["pay links"],
    responses=responses((201, "The pay link", PayLink), 400, 401, 404, 409, 422),
)
def create_pay_link(invoice_id: Id, body: CreatePayLinkRequest, idempotency_key: IdempotencyKey) -> Response[PayLink]:
    service = pay_link_service()
    return _made(
        service.create_for_invoice(practice_id(app), invoice_id, idempotency_key, body, _api_base(), app.lambda_context)
    )


@app.get(
    "/invoices/<invoice_id>/pay-links",
    summary="An invoice's pay links (and its patient's balance links), with what happened on each",
    tags=["pay links"],
    responses=responses(
        (200, "The links: visits, identity failures, locks, payments and plans", PayLinkList), 401, 404
    ),
)
def list_pay_links(invoice_id: Id) -> PayLinkList:
    return pay_link_service().list_for_invoice(practice_id(app), invoice_id)


@app.post(
    "/patients/<patient_id>/pay-links",
    summary="Make one pay link for all of a patient's open invoices (practice setting balance_links)",
    tags=["pay links"],
    responses=responses((201, "The pay link", PayLink), 400, 401, 404, 409, 422),
)
def create_balance_link(
    patient_id: Id, body: CreatePayLinkRequest, idempotency_key: IdempotencyKey
) -> Response[PayLink]:
    service = pay_link_service()
    return _made(
        service.create_for_patient(practice_id(app), patient_id, idempotency_key, body, _api_base(), app.lambda_context)
    )


@app.post(
    "/pay-links/<link_id>/revoke",
    summary="Revoke a pay link (a repeat changes nothing)",
    tags=["pay links"],
    responses=responses((200, "The pay link, revoked", PayLink), 401, 404),
)
def revoke_pay_link(link_id: Id) -> PayLink:
    return pay_link_service().revoke(practice_id(app), link_id)


@entrypoint(correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return resolve(app, event, context)
