"""The Splash web alert PracticePay needs: which events on which resources, delivered to our webhook with the
static header. `make run` registers it with the sandbox; after a deploy, `make splash-alert URL=…` registers it
with Splash (README, "Deploy")."""

from __future__ import annotations

from practicepay.splash.models import Resource
from practicepay.splash.outbound import AlertActionRequest, AlertRequest, AlertTriggerRequest

TRIGGERS: tuple[tuple[str, Resource], ...] = (
    ("txn.approved", Resource.TXNS),
    ("txn.failed", Resource.TXNS),
    ("txn.settled", Resource.TXNS),
    ("txn.returned", Resource.TXNS),
    ("create", Resource.ENTITY_RETURNS),
    ("update", Resource.MERCHANTS),  # boarding, boarded, held, closed …
)


def alert_request(url: str, header_name: str, header_value: str, *, retries: int = 5) -> AlertRequest:
    return AlertRequest(
        name="PracticePay status hints",
        description="Txn, return and merchant changes; PracticePay fetches each record before acting on it.",
        alertTriggers=[AlertTriggerRequest(event=event, resource=resource) for event, resource in TRIGGERS],
        alertActions=[AlertActionRequest(value=url, headerName=header_name, headerValue=header_value, retries=retries)],
    )
