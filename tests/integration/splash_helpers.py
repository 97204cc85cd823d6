"""Splash sandbox helpers shared by the integration suites: a client tuned for fast tests, boarding, tokens."""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter

from local.seed import practice_entity
from practicepay.ids import new_id
from practicepay.splash.client import RetryPolicy, SplashClient
from practicepay.splash.models import Txn, TxnType
from practicepay.splash.outbound import (
    CardOrBank,
    CustomerRequest,
    TokenRequest,
    TxnRequest,
)

KEY = "sandbox-private-key"
VISA = "4242424242424242"
ROUTING = "021000021"


class RecordingAdapter(HTTPAdapter):
    """Keeps every request exactly as the client sends it (headers and body, nothing redacted)."""

    def __init__(self, sent: list[requests.PreparedRequest]) -> None:
        super().__init__()
        self.sent = sent

    def send(self, request, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003 (requests' signature)
        self.sent.append(request.copy())
        return super().send(request, *args, **kwargs)


def make_client(
    base: str, key: str = KEY, sent: list[requests.PreparedRequest] | None = None, **retry: float
) -> SplashClient:
    policy = RetryPolicy(**{"base_delay": 0.01, "max_delay": 0.05, "block_seconds": 0.3, **retry})
    session = requests.Session()
    if sent is not None:
        session.mount("http://", RecordingAdapter(sent))
    return SplashClient(base, lambda: key, session=session, read_timeout=1.0, retry=policy)


def raw_traffic(sent: list[requests.PreparedRequest]) -> str:
    """Everything the client put on the wire, as one searchable text."""
    return "\n".join(
        f"{r.method} {r.url} {dict(r.headers)} {r.body.decode() if isinstance(r.body, bytes) else r.body}" for r in sent
    )


def board(client: SplashClient, name: str = "Riverside Family Practice LLC") -> str:
    _entity, merchant = client.board(practice_entity(name, ein="123456789"))
    return merchant.id


def token(client: SplashClient, merchant: str, number: str = VISA, routing: str | None = None, **kw) -> str:
    customer = client.create_customer(CustomerRequest(merchant=merchant, custom=new_id("pat")))
    payment = CardOrBank(number=number, routing=routing, method=8 if routing else None, **kw)
    expiration = None if routing else "1230"
    return client.tokenize(TokenRequest(customer=customer.id, payment=payment, expiration=expiration)).token


def sale(client: SplashClient, merchant: str, tok: str, total: int, kind: TxnType = TxnType.CARD_SALE) -> Txn:
    order = new_id("pay")
    return client.txn(
        TxnRequest(merchant=merchant, type=kind, total=total, token=tok, order=order), request_token=order
    )
