"""What the embedded AWS was asked to send, as the patient would see it (local only, ADR 0016): every email SES took
(its text and HTML parts, headers) and every text SNS took, at GET /_local/messages (JSON) and /_local/outbox (a
page). And what AWS would tell the messages function: a patient's text to our number (End User Messaging SMS
two-way → SNS) at POST /_local/sms-inbound, an SES event (delivery, bounce, complaint) for the newest email to an
address at POST /_local/email-feedback."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from email import message_from_string, policy
from typing import Any

from jinja2 import Environment, select_autoescape
from moto.backends import get_backend
from werkzeug.wrappers import Request, Response

from infra.definitions import MESSAGES
from local.bootstrap import LOCAL_ORIGINATION_NUMBER
from local.front import ACCOUNT, invoke

REGION = "us-east-1"


def emails() -> list[dict[str, Any]]:
    out = []
    for sent in get_backend("ses")[ACCOUNT][REGION].sent_messages:
        raw = getattr(sent, "raw_data", None)
        if raw is None:
            continue
        mime = message_from_string(raw, policy=policy.default)
        text = mime.get_body(preferencelist=("plain",))
        html = mime.get_body(preferencelist=("html",))
        out.append(
            {
                "channel": "email",
                "id": sent.id,
                "from": str(mime["From"]),
                "to": str(mime["To"]),
                "reply_to": str(mime["Reply-To"]) if mime["Reply-To"] else None,
                "subject": str(mime["Subject"]),
                "list_unsubscribe": str(mime["List-Unsubscribe"]) if mime["List-Unsubscribe"] else None,
                "text": text.get_content() if text else "",
                "html": html.get_content() if html else "",
            }
        )
    return out


def texts() -> list[dict[str, Any]]:
    sms = get_backend("sns")[ACCOUNT][REGION].sms_messages
    return [{"channel": "sms", "id": mid, "to": to, "body": body} for mid, (to, body) in sms.items()]


_PAGE = Environment(autoescape=select_autoescape(default_for_string=True)).from_string(
    """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Local outbox - PracticePay</title>
<style>
body{font-family:Arial,Helvetica,sans-serif;margin:0;background:#f4f5f7;color:#1f2933}
main{max-width:900px;margin:0 auto;padding:16px}
article{background:#fff;border-radius:8px;padding:12px 16px;margin:12px 0}
dl{display:grid;grid-template-columns:8em 1fr;gap:2px 8px;margin:0 0 8px}dt{font-weight:bold}
iframe{width:100%;height:420px;border:1px solid #cbd2d9;border-radius:4px;background:#fff}
.bubble{background:#e4f0fb;border-radius:12px;padding:10px 14px;max-width:420px;white-space:pre-wrap;
overflow-wrap:anywhere}
pre{white-space:pre-wrap;background:#f4f5f7;padding:8px;border-radius:4px}
</style></head>
<body><main>
<h1>Local outbox</h1>
<p>Every message the embedded AWS was asked to send, newest last:
{{ emails|length }} emails, {{ texts|length }} texts.</p>
<h2>Texts</h2>
{% for t in texts %}
<article aria-label="Text to {{ t.to }}"><dl><dt>To</dt><dd>{{ t.to }}</dd>
<dt>Length</dt><dd>{{ t.body|length }} characters</dd></dl>
<p class="bubble">{{ t.body }}</p></article>
{% else %}<p>No texts yet.</p>{% endfor %}
<h2>Emails</h2>
{% for e in emails %}
<article aria-label="Email: {{ e.subject }}"><dl><dt>From</dt><dd>{{ e.from }}</dd><dt>To</dt><dd>{{ e.to }}</dd>
<dt>Subject</dt><dd>{{ e.subject }}</dd>
{% if e.list_unsubscribe %}<dt>Unsubscribe</dt><dd>{{ e.list_unsubscribe }}</dd>{% endif %}</dl>
<iframe title="The email {{ e.subject }} as HTML" sandbox srcdoc="{{ e.html }}"></iframe>
<details><summary>Plain text</summary><pre>{{ e.text }}</pre></details></article>
{% else %}<p>No emails yet.</p>{% endfor %}
</main></body></html>"""
)

MESSAGES_ROUTE = "/_local/messages"
OUTBOX_ROUTE = "/_local/outbox"
SMS_INBOUND_ROUTE = "POST /_local/sms-inbound"
EMAIL_FEEDBACK_ROUTE = "POST /_local/email-feedback"


def _json(value: Any, status: int = 200) -> Response:
    return Response(json.dumps(value, indent=2), status=status, content_type="application/json")


def _sns(message: dict[str, Any]) -> dict[str, Any]:
    return {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": json.dumps(message)}}]}


def _inbound(request: Request) -> Response:
    body = json.loads(request.get_data() or b"{}")
    notice = {
        "originationNumber": body.get("from", ""),
        "destinationNumber": LOCAL_ORIGINATION_NUMBER,
        "messageKeyword": "KEYWORD_" + ACCOUNT,
        "messageBody": body.get("body", ""),
        "inboundMessageId": str(uuid.uuid4()),
    }
    return _json(invoke(MESSAGES.name, _sns(notice)))


def _email_feedback(request: Request) -> Response:
    body = json.loads(request.get_data() or b"{}")
    kind, to = body.get("type", "Bounce"), body.get("to", "")
    sent = [e for e in emails() if e["to"] == to]
    if not sent:
        return _json({"error": f"no email was sent to {to}"}, 404)
    mail = {"messageId": sent[-1]["id"], "destination": [to]}
    notice: dict[str, Any] = {"eventType": kind, "mail": mail}
    if kind == "Bounce":
        notice["bounce"] = {
            "bounceType": body.get("bounce_type", "Permanent"),
            "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": to}],
        }
    elif kind == "Complaint":
        notice["complaint"] = {"complainedRecipients": [{"emailAddress": to}]}
    return _json(invoke(MESSAGES.name, _sns(notice)))


def routes() -> dict[str, Callable[[Request], Response]]:
    return {
        MESSAGES_ROUTE: lambda _r: _json({"emails": emails(), "texts": texts()}),
        OUTBOX_ROUTE: lambda _r: Response(
            _PAGE.render(emails=emails(), texts=texts()), content_type="text/html; charset=utf-8"
        ),
        SMS_INBOUND_ROUTE: _inbound,
        EMAIL_FEEDBACK_ROUTE: _email_feedback,
    }
