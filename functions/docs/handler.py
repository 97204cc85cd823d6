"""GET /openapi.json: the API's OpenAPI document, without authentication. Thin: it serves, as stored, the document
`make openapi` generated (local.openapi) and wrote beside this file, so it ships in the function's asset; it never
generates it (that imports every function's handler). Read once per execution environment, at its first request."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from practicepay.api.problems import responses
from practicepay.api.resolver import build_resolver, resolve
from practicepay.observability import entrypoint

app = build_resolver()
DOCUMENT = Path(__file__).with_name("openapi.json")
CACHE_CONTROL = "public, max-age=300"
"""The document changes only with a deploy: clients and proxies may keep it five minutes."""

_ANSWERS = responses((200, "This OpenAPI 3.1 document", dict[str, Any]))
_ANSWERS[200]["content"]["application/json"] = {
    "schema": {"type": "object", "required": ["openapi", "info", "paths"], "description": "OpenAPI 3.1"}
}
_ANSWERS[200]["headers"] = {"Cache-Control": {"description": f"`{CACHE_CONTROL}`", "schema": {"type": "string"}}}


@cache
def _document() -> str:
    return DOCUMENT.read_text(encoding="utf-8")


@app.get(
    "/openapi.json",
    summary="This API's OpenAPI document (no authentication)",
    description="The OpenAPI 3.1 document of every route, as generated from the functions' resolvers at build time.",
    operation_id="openapi",
    tags=["docs"],
    responses=_ANSWERS,
)
def openapi_document():  # no return annotation: the body is the stored JSON text, sent as it is
    return Response(
        status_code=200,
        content_type="application/json",
        body=_document(),
        headers={"Cache-Control": CACHE_CONTROL},
    )


@entrypoint(correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return resolve(app, event, context)
