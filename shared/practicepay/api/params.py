"""Request parameters shared by the API functions."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Header

IdempotencyKey = Annotated[
    str,
    Header(
        alias="idempotency-key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="A unique key per intended operation (e.g. a UUID). Retrying with the same key and body "
        "returns the first response; the same key with another body is refused (422).",
    ),
]
