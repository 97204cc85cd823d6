"""The tenancy context a handler reads: the practice id (and a staff token's role) the authorizer put on the
request."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from practicepay.auth import ADMIN_SCOPE, PRACTICE_ID_RE
from practicepay.errors import NotFound
from practicepay.staff.roles import Role


class MissingPrincipal(Exception):
    """The request reached a protected handler without the authorizer's context: a wiring fault."""


def _authorizer(app: APIGatewayRestResolver) -> dict[str, Any]:
    """What the authorizer put on the request (its context)."""
    return app.current_event.request_context.authorizer.get_context() or {}


def practice_id(app: APIGatewayRestResolver) -> str:
    value = _authorizer(app).get("practice_id")
    if not isinstance(value, str) or not PRACTICE_ID_RE.match(value):
        raise MissingPrincipal("no practice_id in the authorizer context")
    return value


def is_admin(app: APIGatewayRestResolver) -> bool:
    scope = _authorizer(app).get("scope")
    return isinstance(scope, str) and ADMIN_SCOPE in scope.split()


def role(app: APIGatewayRestResolver) -> Role | None:
    """The staff role the caller's token names, or None for a token without one (the clinical platform's own).
    A value the authorizer never writes is a wiring fault, refused as if there were no context (fail closed)."""
    value = _authorizer(app).get("role")
    if not value:
        return None
    try:
        return Role(value)
    except ValueError:
        raise MissingPrincipal("an unknown role in the authorizer context") from None


def require_practice_access(app: APIGatewayRestResolver, target: str) -> None:
    """A practice's token reaches only its own practice; an admin token any. Another practice's id answers 404,
    as if it did not exist (no hint that it does)."""
    if target != practice_id(app) and not is_admin(app):
        raise NotFound(f"No practice {target} exists.")
