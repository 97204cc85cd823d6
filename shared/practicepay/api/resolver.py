"""The resolver every API function uses: Powertools REST resolver with validation and OpenAPI, plus one place
that maps every error to RFC 9457 problem+json."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from practicepay.api import body as json_body
from practicepay.api.contract import MAX_BODY_BYTES, PROBLEM_CONTENT_TYPE
from practicepay.api.problems import describe, field_errors, problem, problem_body
from practicepay.auth.context import MissingPrincipal, role
from practicepay.errors import (
    Forbidden,
    MalformedRequest,
    PayloadTooLarge,
    PracticePayError,
    UnknownParameter,
    UnsupportedMediaType,
)
from practicepay.observability import logger
from practicepay.splash.errors import SplashError
from practicepay.staff.roles import API_PERMISSIONS, allowed

JSON_TYPES = ("application/json", "application/merge-patch+json")


def build_resolver(*, declared_inputs_only: bool = True) -> APIGatewayRestResolver:
    """`declared_inputs_only=False` for the Splash webhook alone: it authenticates its header before it reads
    anything else of the request."""
    app = APIGatewayRestResolver(enable_validation=True)
    app.use(middlewares=[_role_permits, *([_only_declared_inputs] if declared_inputs_only else [])])

    def request_meta() -> dict[str, str]:
        event = app.current_event
        return {"instance": event.path, "request_id": event.request_context.request_id}

    @app.exception_handler(PracticePayError)
    def on_domain_error(exc: PracticePayError) -> Response:
        meta = request_meta()
        if getattr(exc, "instance", None):
            meta["instance"] = exc.instance  # type: ignore[attr-defined]
        return problem(exc.status, exc.slug, exc.title, exc.detail, errors=exc.errors, **meta)

    @app.exception_handler(RequestValidationError)
    def on_validation_error(exc: RequestValidationError) -> Response:
        raw = exc.errors()  # the body was read as JSON before the resolver ran (`resolve`), so these are fields
        errors = field_errors(raw)
        status = 400 if all(e.get("loc", ("body",))[0] in ("header", "query", "path") for e in raw) else 422
        return problem(
            status,
            "validation-error",
            "Your request has invalid fields",
            "; ".join(e["message"] for e in errors),
            errors=errors,
            **request_meta(),
        )

    @app.exception_handler(RequestUnsupportedContentType)
    def on_content_type(_exc: RequestUnsupportedContentType) -> Response:
        return problem(
            415, UnsupportedMediaType.slug, UnsupportedMediaType.title, _CONTENT_TYPE_DETAIL, **request_meta()
        )

    @app.exception_handler(MissingPrincipal)
    def on_missing_principal(_exc: MissingPrincipal) -> Response:
        logger.error("request without authorizer context reached a protected route")
        return problem(401, "unauthorized", "Unauthorized", "A valid bearer token is required.", **request_meta())

    @app.exception_handler(SplashError)
    def on_splash_error(exc: SplashError) -> Response:
        """A decline (402), a refusal (409, 422) or no answer (503): as `describe` words them for every surface."""
        status, slug, title, detail = describe(exc) or (503, "processor-unavailable", "", "")
        if status == 503:
            logger.warning("payment processor unavailable", error=type(exc).__name__)
        return problem(status, slug, title, detail, **request_meta())

    @app.not_found
    def on_not_found(_exc: Exception) -> Response:
        return problem(404, "no-such-route", "Not found", "No route matches this method and path.", **request_meta())

    return app


_CONTENT_TYPE_DETAIL = "Send the body as JSON with the header Content-Type: application/json."


def _role_permits(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response:
    """A staff token (one naming a role) reaches a route only if its role has the permission the route needs
    (practicepay.staff.roles.API_PERMISSIONS); a route the table does not name is refused to every role (fail
    closed). Checked before the handler runs, so a refused request changes nothing. A token without a role (the
    clinical platform's own) and a route without the authorizer (the webhook, the pages) carry no role: unchanged."""
    route = app.context["_route"]
    staff = role(app)
    if staff is None or getattr(route.func, "__name__", "") == "not_found_handler":
        return next_middleware(app)
    key = (route.method, route.openapi_path)  # Powertools' rule /invoices/<invoice_id> as /invoices/{invoice_id}
    who = staff.label.lower()
    if key not in API_PERMISSIONS:
        logger.warning("route without a permission refused to a staff role", route=" ".join(key), role=staff.value)
        raise Forbidden(f"Your role ({who}) may not call {' '.join(key)}: the route names no permission.")
    needed = API_PERMISSIONS[key]
    if not allowed(staff, needed):
        logger.info("staff role refused", route=" ".join(key), role=staff.value, permission=str(needed))
        raise Forbidden(f"Your role ({who}) may not {needed}.")
    return next_middleware(app)


def _only_declared_inputs(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response:
    """After Powertools validated what the route declares: refuse what it does not. A query parameter the route
    does not take is a 400 (a misspelt filter would otherwise be ignored and list everything), and so is a body
    sent to a route that takes none (other than an empty one or `{}`)."""
    route = app.context["_route"]
    if getattr(route.func, "__name__", "") == "not_found_handler":  # Powertools' stand-in route: no route matched
        return next_middleware(app)
    event = app.current_event
    known = {param.alias for param in route.dependant.query_params}
    unknown = sorted(set(event.multi_value_query_string_parameters or event.query_string_parameters or {}) - known)
    if unknown:
        accepted = ", ".join(sorted(known)) or "none"
        errors = [{"field": name, "message": f"{name} is not a parameter of this route"} for name in unknown]
        raise UnknownParameter(
            f"Unknown query parameter(s): {', '.join(unknown)}. This route accepts: {accepted}.", errors
        )
    if not route.dependant.body_params and event.body and event.json_body != {}:
        raise MalformedRequest("This route takes no request body; send none (or {}).")
    return next_middleware(app)


def resolve(app: APIGatewayRestResolver, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Run the request guards that must act before any route does, then the resolver.

    Bodies over MAX_BODY_BYTES are refused unread (413); a body without a JSON media type is refused (415); a
    body that is not UTF-8 JSON, or JSON this API refuses (practicepay.api.body), is refused (400).
    """
    try:
        checked = _checked(event)
    except PracticePayError as exc:
        return _early(event, exc)
    return app.resolve(checked, context)


def _checked(event: dict[str, Any]) -> dict[str, Any]:
    """The event with its body checked (see `resolve`) and its JSON media type written as the resolver reads it
    (Powertools takes only a lower-case `application/json`; media types are case-insensitive, RFC 9110 §8.3.1)."""
    if not event.get("body"):
        return event
    raw = json_body.received(event)
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The request body is {len(raw)} bytes; the limit is {MAX_BODY_BYTES}.")
    headers = {k: v for k, v in (event.get("headers") or {}).items() if k.lower() != "content-type"}
    given = next((v for k, v in (event.get("headers") or {}).items() if k.lower() == "content-type"), None)
    if (given or "").split(";")[0].strip().lower() not in JSON_TYPES:
        raise UnsupportedMediaType(_CONTENT_TYPE_DETAIL)
    json_body.parse(raw)
    return {**event, "headers": {**headers, "Content-Type": "application/json"}}


def _early(event: dict[str, Any], exc: PracticePayError) -> dict[str, Any]:
    """A problem response built before the resolver runs, in the API Gateway proxy shape."""
    body = problem_body(
        exc.status,
        exc.slug,
        exc.title,
        exc.detail,
        instance=event.get("path"),
        request_id=(event.get("requestContext") or {}).get("requestId"),
        errors=exc.errors or (),
    )
    return {
        "statusCode": exc.status,
        "headers": {"Content-Type": PROBLEM_CONTENT_TYPE},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }
