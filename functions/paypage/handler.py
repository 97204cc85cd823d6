"""The patient's pay page (ADR 0015): HTML, no JWT. Thin: read the route, the form and the session cookie, call
the pay page service, render its screen with the page's security headers. A pay link's secret is in the path, so
nothing here logs a path, a form or a cookie."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from practicepay.api import browser
from practicepay.api.urls import path_prefix
from practicepay.observability import entrypoint, logger
from practicepay.paylinks.models import SESSION_MINUTES
from practicepay.paypage.render import Renderer, security_headers
from practicepay.paypage.service import Screen
from practicepay.paypage.wiring import pay_page_service

HERE = Path(__file__).parent
RENDERER = Renderer(HERE / "templates")
ASSETS = {"pay.css": "text/css", "pay.js": "text/javascript", "receipt.js": "text/javascript"}
COOKIE = "pp_session"


def _asset(name: str | None) -> dict[str, Any]:
    if name not in ASSETS:
        return {"statusCode": 404, "headers": {"Content-Type": "text/plain"}, "body": "Not found"}
    body = (HERE / "assets" / name).read_text()
    headers = {
        "Content-Type": f"{ASSETS[name]}; charset=utf-8",
        "Cache-Control": "public, max-age=3600",
        "X-Content-Type-Options": "nosniff",
    }
    return {"statusCode": 200, "headers": headers, "body": body}


def _screen(event: dict[str, Any], resource: str, secret: str) -> Screen:
    service = pay_page_service()
    query = event.get("queryStringParameters") or {}
    cookie = browser.cookie(event, COOKIE)
    if event.get("httpMethod") == "GET":
        if resource.endswith("/receipts/{receipt_id}"):
            receipt = (event.get("pathParameters") or {}).get("receipt_id", "")
            return service.receipt(secret, cookie, receipt, query.get("lang"))
        return service.open(secret, cookie, query.get("lang"), query.get("method", "card"))
    form = browser.form(event)
    if form is None or not browser.same_origin(event):
        return Screen("forbidden", 403 if form is not None else 415, {"practice_name": None, "language": "en"})
    if resource.endswith("/identity"):
        address = ((event.get("requestContext") or {}).get("identity") or {}).get("sourceIp") or "unknown"
        return service.verify(secret, cookie, form, address)
    if resource.endswith("/payments"):
        return service.pay(secret, cookie, form)
    return service.plan(secret, cookie, form)


@entrypoint()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    resource = event.get("resource") or ""
    params = event.get("pathParameters") or {}
    if resource == "/pay/assets/{asset}":
        return _asset(params.get("asset"))
    prefix = path_prefix(event.get("requestContext") or {})
    secret = params.get("secret") or ""
    link_path = f"{prefix}/pay/{secret}"
    try:
        screen = _screen(event, resource, secret)
    except Exception:
        logger.exception("pay page failed")  # the traceback, never the path, form or cookie
        screen = Screen("error", 500, {"practice_name": None, "language": "en"})
    headers: dict[str, Any] = {"Content-Type": "text/html; charset=utf-8"}
    multi: dict[str, list[str]] = {}
    if screen.cookie is not None:
        multi["Set-Cookie"] = [
            f"{COOKIE}={screen.cookie}; Path={link_path}; Max-Age={SESSION_MINUTES * 60}; HttpOnly; Secure; "
            "SameSite=Strict"
        ]
    if screen.redirect is not None:
        headers.update(security_headers(None), Location=f"{link_path}/{screen.redirect}".replace("/?", "?"))
        return {"statusCode": 303, "headers": headers, "multiValueHeaders": multi, "body": ""}
    here = link_path
    if resource.endswith("/receipts/{receipt_id}"):
        here = f"{link_path}/receipts/{params.get('receipt_id', '')}"
    context_ = {
        "link_path": link_path,
        "here": here if screen.context.get("practice_name") else None,
        "back": link_path if screen.name in ("receipt", "forbidden") else None,
        **screen.context,
    }
    payfields = screen.context.get("payfields") or {}
    headers.update(security_headers(payfields.get("origin")))
    try:
        body, status = RENDERER.render(screen.name, context_, prefix), screen.status
    except Exception:
        logger.exception("pay page not rendered")
        body, status = RENDERER.render("error", {"practice_name": None, "language": "en"}, prefix), 500
    return {"statusCode": status, "headers": headers, "multiValueHeaders": multi, "body": body}
