"""API Gateway REQUEST authorizer: verifies the caller's JWT and puts its practice id (and a staff token's role, ""
for the clinical platform's own) on the request context.

A missing or bad token raises "Unauthorized", which API Gateway answers with 401 (see the UNAUTHORIZED
gateway response). The policy allows every route of this API for the token's practice, so API Gateway can
cache it per token; each handler reads the practice id from the context and never from the request.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
    APIGatewayAuthorizerResponse,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from practicepay.auth.tokens import InvalidToken
from practicepay.auth.wiring import token_verifier
from practicepay.observability import entrypoint, logger, metrics


class Unauthorized(Exception):
    """API Gateway maps exactly this message to 401."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


@entrypoint()
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    request = APIGatewayAuthorizerRequestEvent(event)
    try:
        principal = token_verifier().verify(request.get_header_value("Authorization"))
    except InvalidToken as exc:
        logger.info("token rejected", reason=exc.reason)
        metrics.add_metric(name="TokenRejected", unit=MetricUnit.Count, value=1)
        raise Unauthorized() from None
    arn = request.parsed_arn
    policy = APIGatewayAuthorizerResponse(
        principal_id=principal.subject,
        region=arn.region,
        aws_account_id=arn.aws_account_id,
        api_id=arn.api_id,
        stage=arn.stage,
        context={
            "practice_id": principal.practice_id,
            "subject": principal.subject,
            "scope": " ".join(sorted(principal.scopes)),
            "role": principal.role.value if principal.role else "",
        },
    )
    policy.allow_all_routes()
    logger.append_keys(practice_id=principal.practice_id)
    return policy.asdict()
