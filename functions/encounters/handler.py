"""Encounters: POST /events/encounters from the clinical platform's servers, and the same encounter as an event on
the platform's EventBridge bus (detail = the encounter plus its practice_id). Thin: validate, call the service.

On the bus there is nobody to answer: a bad or refused encounter is logged (ids and field names, never the
charges) and counted (EncounterRejected, EncounterRefused), not retried; an unexpected failure is raised, so
Lambda retries the event and then sends it to the function's dead-letter queue."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from practicepay.api.problems import responses
from practicepay.api.resolver import build_resolver, resolve
from practicepay.auth.context import practice_id
from practicepay.encounters.models import Encounter, EncounterMessage, EncounterResult
from practicepay.encounters.wiring import encounter_service
from practicepay.errors import PracticePayError
from practicepay.observability import entrypoint, logger, metrics

app = build_resolver()


@app.post(
    "/events/encounters",
    summary="Bill an encounter's charges (creates or corrects the encounter's invoice)",
    description="Idempotent on encounter_id and revision: a revision already applied answers 200 `unchanged`. A "
    "later revision replaces a draft invoice's lines; an invoice already issued is refused with 409 and the "
    "reason. The invoice starts as draft or open per the practice's `encounter_invoice_status` setting.",
    tags=["encounters"],
    responses=responses(
        (201, "The encounter's invoice: created (201), or updated or unchanged (200)", EncounterResult),
        400,
        401,
        409,
        413,
        415,
        422,
    ),
)
def post_encounter(body: Encounter) -> Response[EncounterResult]:
    result = encounter_service().apply(practice_id(app), body)
    metrics.add_metric(name=f"Encounter{result.result.capitalize()}", unit=MetricUnit.Count, value=1)
    return Response(
        status_code=201 if result.result == "created" else 200,
        content_type="application/json",
        body=result,
        headers={"Location": f"/invoices/{result.invoice.id}"},
    )


def on_bus_event(event: dict[str, Any]) -> dict[str, Any]:
    # Imported here: Powertools' parser loads every envelope (~75 ms), and an API invocation never takes this path.
    from aws_lambda_powertools.utilities.parser import envelopes, parse

    try:
        message = parse(event=event, model=EncounterMessage, envelope=envelopes.EventBridgeEnvelope)
    except ValidationError as exc:
        fields = [".".join(map(str, e["loc"])) for e in exc.errors()]
        logger.warning("encounter event rejected", event_id=event.get("id"), fields=fields)
        metrics.add_metric(name="EncounterRejected", unit=MetricUnit.Count, value=1)
        return {"result": "rejected", "fields": fields}
    logger.append_keys(practice_id=message.practice_id, encounter_id=message.encounter_id)
    try:
        result = encounter_service().apply(message.practice_id, message)  # an EncounterMessage is an Encounter
    except PracticePayError as exc:
        logger.warning("encounter event refused", status=exc.status, reason=exc.detail)
        metrics.add_metric(name="EncounterRefused", unit=MetricUnit.Count, value=1)
        return {"result": "refused", "status": exc.status}
    metrics.add_metric(name=f"Encounter{result.result.capitalize()}", unit=MetricUnit.Count, value=1)
    return {"result": result.result, "invoice_id": result.invoice.id}


@entrypoint(correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    if "detail-type" in event:  # the platform's EventBridge rule
        return on_bus_event(event)
    return resolve(app, event, context)
