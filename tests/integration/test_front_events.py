"""The local front hands a public HTML route (the pay page's kind) the event API Gateway would, and hands its answer
back unchanged: the client's address, every header (cookies, Origin) as sent, a form body as text, the path the
client asked for, and Set-Cookie headers from multiValueHeaders. A stand-in function records the event; nothing
here depends on the real pay page."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from werkzeug.test import Client

from infra.definitions import Route

pytestmark = pytest.mark.integration

PAGE = "fakepage"
ROUTES = (
    Route("GET", "/pay/{secret}", PAGE, authorized=False),
    Route("POST", "/pay/{secret}/identity", PAGE, authorized=False),
)
SECRET = "A" * 16 + "b-_9" * 4
HTML = "<!doctype html><html lang=es><title>Pagar</title><p>Su saldo: $12.50 &mdash; ¡gracias!</p></html>"


@pytest.fixture
def page(monkeypatch) -> tuple[Client, list[dict[str, Any]]]:
    import local.front as front

    events: list[dict[str, Any]] = []

    def invoke(function: str, event: dict[str, Any]) -> dict[str, Any]:
        assert function == PAGE, function  # no authorizer on a public route
        events.append(event)
        return {
            "statusCode": 303 if event["httpMethod"] == "POST" else 200,
            "headers": {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"},
            "multiValueHeaders": {
                "Set-Cookie": [
                    "pp_session=abc; Path=/pay/; Secure; HttpOnly; SameSite=Strict; Max-Age=900",
                    "pp_lang=es; Path=/pay/; Secure; SameSite=Lax",
                ],
                "Content-Security-Policy": ["default-src 'none'; frame-ancestors 'none'"],
            },
            "body": HTML,
            "isBase64Encoded": False,
        }

    monkeypatch.setattr(front, "invoke", invoke)
    app = front.LocalApiGateway(routes=ROUTES)
    return Client(app, use_cookies=False), events  # the Cookie header exactly as sent, no cookie jar


def test_a_form_post_reaches_the_function_as_api_gateway_sends_it(page):
    client, events = page
    form = "dob=1980-02-29&submit_id=s_1&csrf=t%2Bx%3D%3D&last_name=Nu%C3%B1ez"
    resp = client.post(
        f"/pay/{SECRET}/identity",
        data=form,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": "http://127.0.0.1:3000",
            "Cookie": "pp_session=abc; pp_lang=es",
            "User-Agent": "Mozilla/5.0 (test)",
            "X-Forwarded-For": "198.51.100.7",  # the client may send one: API Gateway appends the real address
        },
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    assert resp.status_code == 303
    (event,) = events
    assert event["resource"] == "/pay/{secret}/identity" and event["httpMethod"] == "POST"
    assert event["path"] == f"/pay/{SECRET}/identity"
    assert event["pathParameters"] == {"secret": SECRET}
    assert event["body"] == form and event["isBase64Encoded"] is False  # the form's text, not decoded, not base64
    headers, multi = event["headers"], event["multiValueHeaders"]
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert headers["Cookie"] == "pp_session=abc; pp_lang=es" and multi["Cookie"] == ["pp_session=abc; pp_lang=es"]
    assert headers["Origin"] == "http://127.0.0.1:3000" and multi["Origin"] == ["http://127.0.0.1:3000"]
    assert headers["X-Forwarded-For"] == "198.51.100.7, 203.0.113.9"
    assert headers["X-Forwarded-Proto"] == "http" and headers["X-Forwarded-Port"] == "80"
    assert {k: v[-1] for k, v in multi.items()} == headers
    context = event["requestContext"]
    assert context["identity"]["sourceIp"] == "203.0.113.9"  # the TCP peer, never the header's first entry
    assert context["identity"]["userAgent"] == "Mozilla/5.0 (test)"
    assert context["identity"]["cognitoIdentityId"] is None and "accessKey" in context["identity"]
    assert "authorizer" not in context  # a public route: no authorizer ran
    assert context["resourcePath"] == "/pay/{secret}/identity" and context["httpMethod"] == "POST"
    assert context["stage"] == "local"
    # Served at the root, as a custom domain mapped to the stage: the path in the address bar, no stage prefix.
    assert context["path"] == f"/pay/{SECRET}/identity"
    assert context["domainName"] == "localhost"


def test_an_html_answer_comes_back_unchanged_with_every_set_cookie(page):
    client, events = page
    resp = client.get(f"/pay/{SECRET}", headers={"Host": "127.0.0.1:3000"})
    assert resp.status_code == 200
    assert resp.get_data(as_text=True) == HTML
    assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
    assert resp.headers.getlist("Set-Cookie") == [
        "pp_session=abc; Path=/pay/; Secure; HttpOnly; SameSite=Strict; Max-Age=900",
        "pp_lang=es; Path=/pay/; Secure; SameSite=Lax",
    ]
    assert resp.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert resp.headers["Cache-Control"] == "no-store"
    (event,) = events
    assert event["body"] is None and event["isBase64Encoded"] is False
    assert event["requestContext"]["domainName"] == "127.0.0.1:3000"
    assert event["headers"]["X-Forwarded-Port"] == "3000"


def test_headers_and_multi_value_headers_merge_as_api_gateway_merges_them(monkeypatch):
    """API Gateway: both maps are merged into one list per header; a value in both appears once."""
    import local.front as front

    answer = {
        "statusCode": 200,
        "headers": {"Set-Cookie": "a=1", "X-One": "1"},
        "multiValueHeaders": {"set-cookie": ["b=2", "a=1"]},
        "body": "{}",
    }
    monkeypatch.setattr(front, "invoke", lambda function, event: answer)
    resp = Client(front.LocalApiGateway(routes=ROUTES)).get(f"/pay/{SECRET}")
    assert sorted(resp.headers.getlist("Set-Cookie")) == ["a=1", "b=2"]
    assert resp.headers["X-One"] == "1"
    assert resp.headers["Content-Type"] == "application/json"  # API Gateway's when the function names none


def test_a_body_that_is_not_text_arrives_base64_encoded(page):
    client, events = page
    raw = b"\xff\xfe\x00binary"
    client.post(f"/pay/{SECRET}/identity", data=raw, headers={"Content-Type": "application/octet-stream"})
    (event,) = events
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == raw
