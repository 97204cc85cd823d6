"""Idempotency-Key handling for every POST that creates a record or moves money (Powertools idempotency).

The record is keyed on (operation, practice, key) and validated against the request body: a repeat returns
the first response; the same key with another body → 422; while the first is still running → 409."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer, IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from practicepay.errors import IdempotencyInProgress, IdempotencyKeyReused

M = TypeVar("M", bound=BaseModel)


class Created(BaseModel):
    """What a creating request remembers under its Idempotency-Key: the id only. The idempotency table is not
    sealed, so a response carrying PHI is rebuilt from the (sealed) record on a replay, never stored there."""

    id: str


def run_once(
    persistence: BasePersistenceLayer,
    *,
    operation: str,
    practice_id: str,
    idempotency_key: str,
    body: BaseModel | None,
    output: type[M],
    run: Callable[[], M],
    ttl_seconds: int = 24 * 3600,
    lambda_context: LambdaContext | None = None,
) -> M:
    config = IdempotencyConfig(
        event_key_jmespath="[operation, practice_id, idempotency_key]",
        payload_validation_jmespath="body",
        expires_after_seconds=ttl_seconds,
    )
    if lambda_context is not None:
        config.register_lambda_context(lambda_context)  # an in-progress record expires with the invocation

    @idempotent_function(
        data_keyword_argument="request",
        persistence_store=persistence,
        config=config,
        output_serializer=PydanticSerializer(output),
    )
    def once(request: dict) -> M:
        return run()

    request = {
        "operation": operation,
        "practice_id": practice_id,
        "idempotency_key": idempotency_key,
        "body": body.model_dump(mode="json") if body is not None else {},
    }
    try:
        return once(request=request)
    except IdempotencyValidationError as exc:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used with a different request body. Use a new key for a new request."
        ) from exc
    except IdempotencyAlreadyInProgressError as exc:
        raise IdempotencyInProgress("Retry in a few seconds; the first request is still being processed.") from exc
