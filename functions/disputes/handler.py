"""Disputes API (chargebacks): list and read disputes, get the evidence packet, answer with it or accept the
chargeback. Thin: validate, call the service."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from practicepay.api.params import IdempotencyKey
from practicepay.api.problems import responses
from practicepay.api.resolver import build_resolver, resolve
from practicepay.auth.context import practice_id
from practicepay.disputes.models import Dispute, DisputeList, DisputeStatus, RespondRequest
from practicepay.disputes.wiring import dispute_service
from practicepay.invoices.models import IsoDate
from practicepay.observability import entrypoint

app = build_resolver()
Id = Annotated[str, Path(max_length=64)]
PDF_TYPE = "application/pdf"

_EVIDENCE_RESPONSES = responses((200, "The evidence packet (PDF)", None), 401, 404)
_EVIDENCE_RESPONSES[200]["content"] = {PDF_TYPE: {"schema": {"type": "string", "format": "binary"}}}


@app.get(
    "/disputes",
    summary="List chargebacks, soonest reply deadline first",
    description="`status` filters (needs_response, under_review, won, lost, closed); `due_before` keeps the disputes "
    "whose reply deadline is on or before that day; `invoice_id`, an invoice's disputes.",
    tags=["disputes"],
    responses=responses((200, "Disputes", DisputeList), 400, 401),
)
def list_disputes(
    status: Annotated[DisputeStatus | None, Query()] = None,
    due_before: Annotated[IsoDate | None, Query(description="YYYY-MM-DD: reply deadline on or before")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
    invoice_id: Annotated[str | None, Query(pattern=r"^inv_[0-9a-z]{26}$")] = None,
) -> DisputeList:
    before = due_before.isoformat() if due_before else None
    return dispute_service().list(
        practice_id(app), status=status, due_before=before, limit=limit, invoice_id=invoice_id
    )


@app.get(
    "/disputes/<dispute_id>",
    summary="Get a dispute",
    tags=["disputes"],
    responses=responses((200, "The dispute", Dispute), 401, 404),
)
def get_dispute(dispute_id: Id) -> Dispute:
    return dispute_service().get(practice_id(app), dispute_id)


@app.get(
    "/disputes/<dispute_id>/evidence",
    summary="The evidence packet (PDF) built from PracticePay's records",
    description="What `respond` sends to Splash, without a note: the chargeback, the invoice (services named "
    "generically: no codes, no descriptions), the payment and its authorization, the messages sent with their "
    "delivery status, and the pay page's identity check.",
    tags=["disputes"],
    responses=_EVIDENCE_RESPONSES,
)
def get_evidence(dispute_id: Id):  # no return annotation: the body is a PDF
    pdf = dispute_service().evidence(practice_id(app), dispute_id)
    disposition = f'inline; filename="evidence-{dispute_id}.pdf"'
    return Response(200, PDF_TYPE, pdf, headers={"Content-Disposition": disposition})


@app.post(
    "/disputes/<dispute_id>/respond",
    summary="Answer a chargeback with the evidence packet and a note",
    description="Uploads the packet to Splash as a chargeback document and sends the note as a `represent` message, "
    "before the reply deadline. The note goes to the card networks: one naming the patient or carrying a diagnosis "
    "or procedure code, an e-mail address or a phone number is refused (422). The dispute is then under_review.",
    tags=["disputes"],
    responses=responses((200, "The dispute, under review", Dispute), 400, 401, 404, 409, 422, 503),
)
def respond(dispute_id: Id, body: RespondRequest, idempotency_key: IdempotencyKey) -> Dispute:
    return dispute_service().respond(practice_id(app), dispute_id, idempotency_key, body, app.lambda_context)


@app.post(
    "/disputes/<dispute_id>/accept",
    summary="Accept a chargeback (give it up)",
    description="Sends Splash an acceptLiability message for the whole amount; the dispute is then lost. The money "
    "was debited when the chargeback opened; the invoice stays open for the patient unless it is written off.",
    tags=["disputes"],
    responses=responses((200, "The dispute", Dispute), 401, 404, 409, 503),
)
def accept(dispute_id: Id, idempotency_key: IdempotencyKey) -> Dispute:
    return dispute_service().accept(practice_id(app), dispute_id, idempotency_key, app.lambda_context)


@entrypoint(correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return resolve(app, event, context)
