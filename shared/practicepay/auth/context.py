"""The tenancy context a handler reads: the practice id the authorizer put on the request."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from practicepay.auth import PRACTICE_ID_RE


class MissingPrincipal(Exception):
    """The request reached a protected handler without the authorizer's context: a wiring fault."""


def practice_id(app: APIGatewayRestResolver) -> str:
    authorizer = app.current_event.request_context.authorizer.get_context() or {}
    value = authorizer.get("practice_id")
    if not isinstance(value, str) or not PRACTICE_ID_RE.match(value):
        raise MissingPrincipal("no practice_id in the authorizer context")
    return value
