"""The messaging function: staff's view of a patient's messages and preferences (STOP and consent included), an
invoice's messages, and the public unsubscribe page an email's link opens (its token is the only key). Thin:
validate, call the service."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Path as PathParam
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from practicepay.api.problems import responses
from practicepay.api.resolver import build_resolver, resolve
from practicepay.auth.context import practice_id
from practicepay.messages.models import MessageList, Messaging, MessagingChange
from practicepay.messages.render import unsubscribe_page
from practicepay.messages.wiring import messaging_service
from practicepay.observability import entrypoint, logger
from practicepay.paypage.render import security_headers

app = build_resolver()
Id = Annotated[str, PathParam(max_length=64)]


@app.get(
    "/patients/<patient_id>/messages",
    summary="A patient's messages and their delivery status (newest first)",
    tags=["messages"],
    responses=responses((200, "Messages", MessageList), 401, 404),
)
def patient_messages(patient_id: Id) -> MessageList:
    return messaging_service().for_patient(practice_id(app), patient_id)


@app.get(
    "/invoices/<invoice_id>/messages",
    summary="The messages sent about an invoice (statement, reminders, notices, receipts)",
    tags=["messages"],
    responses=responses((200, "Messages", MessageList), 401, 404),
)
def invoice_messages(invoice_id: Id) -> MessageList:
    return messaging_service().for_invoice(practice_id(app), invoice_id)


@app.get(
    "/patients/<patient_id>/messaging",
    summary="A patient's messaging preferences, consent to texts and opt-outs",
    tags=["messages"],
    responses=responses((200, "Messaging preferences", Messaging), 401, 404),
)
def get_messaging(patient_id: Id) -> Messaging:
    return messaging_service().messaging(practice_id(app), patient_id)


@app.post(
    "/patients/<patient_id>/messaging",
    summary="Change a patient's messaging: language, channels, time zone, consent to texts, or STOP",
    tags=["messages"],
    responses=responses((200, "Messaging preferences", Messaging), 400, 401, 404, 409, 415, 422),
)
def change_messaging(patient_id: Id, body: MessagingChange) -> Messaging:
    return messaging_service().change_messaging(practice_id(app), patient_id, body)


def _unsubscribe_page(event: dict[str, Any]) -> dict[str, Any]:
    """GET asks (a mail scanner following links must not unsubscribe anyone); POST, from the page's button or a
    mail client's RFC 8058 one-click, unsubscribes."""
    token = (event.get("pathParameters") or {}).get("token") or ""
    service = messaging_service()
    try:
        post = event.get("httpMethod") == "POST"
        found = service.unsubscribe(token) if post else service.unsubscribe_known(token)
        if found is None:
            status, html = 404, unsubscribe_page("gone")
        else:
            practice, language = found
            status, html = 200, unsubscribe_page("done" if post else "ask", practice, language)
    except Exception:
        logger.exception("unsubscribe failed")  # never the token
        status, html = 500, unsubscribe_page("error")
    headers = {**security_headers(None), "Content-Type": "text/html; charset=utf-8"}
    headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"
    return {"statusCode": status, "headers": headers, "body": html}


@entrypoint(correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    if (event.get("resource") or "") == "/unsubscribe/{token}":
        return _unsubscribe_page(event)
    return resolve(app, event, context)
