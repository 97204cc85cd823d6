"""Splash web alerts (POST /webhooks/splash): authenticate the static header, keep the alert, queue it, answer
200. Thin: the intake does the work (practicepay.sync.intake); no JWT (Splash cannot send one)."""

from __future__ import annotations

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from practicepay.api.body import received as received_body
from practicepay.api.problems import responses
from practicepay.api.resolver import build_resolver
from practicepay.observability import entrypoint, metrics
from practicepay.sync.wiring import alert_intake

app = build_resolver(declared_inputs_only=False)


class AlertAccepted(BaseModel):
    received: bool = True
    alert_id: str


@app.post(
    "/webhooks/splash",
    summary="Receive a Splash web alert (authenticated by the alert action's static header, not a JWT)",
    tags=["webhooks"],
    responses=responses(
        (200, "Kept and queued; the record is fetched from Splash", AlertAccepted), 400, 401, guarded=False
    ),
)
def receive_alert() -> AlertAccepted:
    event = app.current_event
    raw = received_body(event.raw_event)
    received = alert_intake().receive(event.headers or {}, raw, event.request_context.identity.source_ip)
    metrics.add_metric(name="SplashAlertReceived", unit=MetricUnit.Count, value=1)
    return AlertAccepted(alert_id=received.alert_id)


@entrypoint(correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)  # no body guards before the header check: a forged request learns nothing
