"""The HTTP contract every edge shares: API Gateway (via CDK), the local front and the Lambda handlers."""

from __future__ import annotations

MAX_BODY_BYTES = 256 * 1024

# Body of GET /health (an API Gateway mock integration: no Lambda, no data).
HEALTH_BODY = {"status": "ok", "service": "practicepay"}

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "urn:practicepay:problem:"

# API Gateway's own answers (authorizer rejections, throttling, gateway faults) as RFC 9457 problem+json.
# `$context.requestId` is filled in by API Gateway, and by the local front the same way.
GATEWAY_RESPONSES: dict[str, tuple[int, str, str]] = {
    "UNAUTHORIZED": (401, "unauthorized", "A valid bearer token is required: send Authorization: Bearer <jwt>."),
    "ACCESS_DENIED": (403, "forbidden", "This token may not call this route."),
    "MISSING_AUTHENTICATION_TOKEN": (404, "no-such-route", "No route matches this method and path; see /openapi.json."),
    "THROTTLED": (429, "rate-limited", "Too many requests; retry after a short pause."),
    "REQUEST_TOO_LARGE": (413, "payload-too-large", "The request body is larger than the gateway accepts."),
    "BAD_REQUEST_PARAMETERS": (400, "bad-request", "A required header or query parameter is missing."),
    "BAD_REQUEST_BODY": (400, "malformed-request", "The request body does not match the expected shape."),
    "AUTHORIZER_FAILURE": (500, "authorizer-failure", "The token could not be checked; retry shortly."),
    "INTEGRATION_FAILURE": (502, "gateway-error", "The service failed to answer; retry with the same Idempotency-Key."),
    "INTEGRATION_TIMEOUT": (504, "gateway-timeout", "The service took too long; retry with the same Idempotency-Key."),
}


def gateway_response_body(kind: str) -> str:
    """The body template API Gateway (and the local front) returns for one of GATEWAY_RESPONSES."""
    status, slug, detail = GATEWAY_RESPONSES[kind]
    title = slug.replace("-", " ").capitalize()
    return (
        f'{{"type":"{PROBLEM_TYPE_BASE}{slug}","title":"{title}","status":{status},'
        f'"detail":"{detail}","request_id":"$context.requestId"}}'
    )
