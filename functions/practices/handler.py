"""Practices API: POST /practices (onboarding, admin scope), GET /practices/{practice_id},
PATCH /practices/{practice_id}/settings. Thin: check who may, validate, call the service."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from practicepay.api.problems import responses
from practicepay.api.resolver import build_resolver, resolve
from practicepay.auth import ADMIN_SCOPE
from practicepay.auth.context import is_admin, require_practice_access
from practicepay.errors import Forbidden
from practicepay.observability import entrypoint, metrics
from practicepay.practices.models import OnboardPracticeRequest, PracticeView, SettingsChange
from practicepay.practices.wiring import practice_service

app = build_resolver()
PracticeId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


@app.post(
    "/practices",
    summary="Onboard a practice: board it as a Splash merchant (admin scope)",
    description="Sends the business, its owners and its deposit account to Splash in one boarding request. Owner "
    "SSNs, the EIN and the full account number go to Splash only; the practice keeps the account's last4. "
    "Idempotent on practice_id: a repeat answers 200 with the practice as it is.",
    tags=["practices"],
    responses=responses(
        (201, "The practice, submitted for boarding", PracticeView), 400, 401, 403, 409, 413, 415, 422, 503
    ),
)
def onboard_practice(body: OnboardPracticeRequest) -> Response[PracticeView]:
    if not is_admin(app):
        raise Forbidden(f"Onboarding needs a token with the {ADMIN_SCOPE} scope.")
    practice, created = practice_service().onboard(body)
    if created:
        metrics.add_metric(name="PracticeSubmitted", unit=MetricUnit.Count, value=1)
    return Response(
        status_code=201 if created else 200,
        content_type="application/json",
        body=practice,
        headers={"Location": f"/practices/{practice.id}"},
    )


@app.get(
    "/practices/<practice_id>",
    summary="Get a practice: its boarding status and settings",
    tags=["practices"],
    responses=responses((200, "The practice", PracticeView), 401, 404),
)
def get_practice(practice_id: PracticeId) -> PracticeView:
    require_practice_access(app, practice_id)
    return practice_service().get(practice_id)


@app.patch(
    "/practices/<practice_id>/settings",
    summary="Change a practice's settings",
    description="Only the fields sent change. Plans and memberships keep the retry schedule they were made with.",
    tags=["practices"],
    responses=responses((200, "The practice", PracticeView), 400, 401, 404, 409, 415, 422),
)
def change_settings(practice_id: PracticeId, body: SettingsChange) -> PracticeView:
    require_practice_access(app, practice_id)
    return practice_service().change_settings(practice_id, body)


@entrypoint(correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return resolve(app, event, context)
