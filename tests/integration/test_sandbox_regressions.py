"""Sandbox behaviours found missing in review: each once let a client bug or a stuck sandbox go unnoticed."""

from __future__ import annotations

import socket
import time

import pytest

from tests.integration import sandbox_kit as kit
from tests.integration.sandbox_kit import ROUTING, SplashApi, error_codes

pytestmark = pytest.mark.integration
splash, sandbox = kit.splash, kit.sandbox


def test_a_slow_client_does_not_stall_everyone_else(splash: SplashApi, sandbox):
    _, base = sandbox
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as slow:
        slow.sendall(
            b"POST /customers HTTP/1.1\r\nHost: x\r\nAPIKEY: sandbox-private-key\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
        )
        time.sleep(0.2)
        started = time.monotonic()
        assert splash.call("GET", "/txns", timeout=1.0)["errors"] == []
        assert time.monotonic() - started < 1.0


def test_text_fields_must_be_text(splash: SplashApi):
    body = {
        "name": 5,
        "type": 2,
        "address1": "1 Main St",
        "city": "Austin",
        "state": "TX",
        "zip": "78701",
        "country": "USA",
        "email": "o@a.example",
        "phone": "5125550100",
        "merchant": {"mcc": "8011", "status": 1, "members": [{"first": "A", "last": "B", "ownership": 10000}]},
        "accounts": [{"primary": 1, "account": {"method": 8, "number": "123456789", "routing": ROUTING}}],
    }
    assert ("name", "invalid_field") in error_codes(splash.refused("POST", "/entities", body=body))
    splash.advance(days=3)  # and the clock still moves


def test_expanding_a_tokens_payment_works(splash: SplashApi):
    payer = splash.payer()
    rows = splash.ok("GET", "/tokens", params={"expand[payment][]": ""})
    assert rows and payer.card in {r["token"] for r in rows}


def test_a_token_cannot_be_charged_through_another_merchant(splash: SplashApi):
    payer = splash.payer()
    other = splash.entity("Other Clinic")["merchant"]["id"]
    refused = splash.refused(
        "POST", "/txns", body={"origin": 2, "type": 1, "merchant": other, "token": payer.card, "total": 1000}
    )
    assert ("token", "invalid_field") in error_codes(refused)


def test_a_refunded_echeck_is_never_redeposited(splash: SplashApi):
    payer = splash.payer()
    sale = payer.echeck(number="9990000001", total=5000)
    splash.advance(days=1)
    payer.then(8, sale["id"], total=5000)
    splash.advance(days=2)
    assert splash.get("txns", sale["id"])["status"] == 5
    refused = payer.refused(11, sale["id"])
    assert ("fortxn", "invalid_status") in error_codes(refused)


def test_a_draft_merchant_can_be_submitted_and_then_boards(splash: SplashApi):
    merchant = splash.entity(status=0)["merchant"]
    assert ("status", "field_restricted") in error_codes(
        splash.refused("PUT", f"/merchants/{merchant['id']}", body={"status": 2})
    )
    splash.ok("PUT", f"/merchants/{merchant['id']}", body={"status": 1})
    splash.advance(days=2)
    assert splash.get("merchants", merchant["id"])["status"] == 2
