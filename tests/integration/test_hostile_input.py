"""Hostile input over HTTP through the local front, route by route: bodies that are not JSON or are JSON no parser
should be trusted with (duplicate keys, deep nesting, huge integers, NaN, bytes that are not UTF-8, lone
surrogates), bodies sent as another media type, bodies sent to routes that take none, control and bidi characters
in text, integers that are not JSON integers or exceed their maximum, timestamps that are not RFC 3339, and query
parameters a route does not take. Each refusal is problem+json, never a 5xx, and nothing is written.

Every route of infra.definitions.ROUTES (and so of the OpenAPI document, which a test checks) but the pay page's is
driven with real path parameters: a draft invoice for /issue, a plan for /payment-plan/cancel, an open invoice for
/pay-links, a link made through the API for /revoke (and prc_hostile's balance_links setting on, for a patient's
balance link), and so on, so that what answers is the body or query check, never a 404 or a 409. The pay page's
routes (the paypage function: HTML for browsers, urlencoded forms; ADR 0015) are not part of the JSON contract:
tests/integration/test_paypage.py drives them with hostile forms. "Nothing is written" is checked at the source:
every AWS write and every non-GET request to Splash the handler makes while it answers (the `writes` fixture); a
route whose request wrote (a contract failure, or an accepted `{}`) gets a new record before its next request."""

from __future__ import annotations

import copy
import json
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

from infra.definitions import DASHBOARD, PAYPAGE, ROUTES
from practicepay.api.problems import Problem
from tests.integration.test_money_core import CONSENT as METHOD_CONSENT
from tests.integration.test_money_core import PATIENT, ok
from tests.integration.test_practices import BOARDING

pytestmark = pytest.mark.integration

PRACTICE = "prc_hostile"
PROBLEM = "application/problem+json"
TODAY = datetime.now(UTC).date()  # the API's "today" (its clock is UTC)
LATER = (TODAY + timedelta(days=30)).isoformat()
PLAN_CONSENT = {"text_version": "plan-2026-01", "accepted_at": "2026-11-26T10:00:00Z", "max_amount": 100_000}
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}
ADDRESS = {"line1": "17 Apollo Way", "city": "Boston", "state": "MA", "postal_code": "02101"}


@dataclass(frozen=True)
class Op:
    method: str
    path: str

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


# The pay page's routes (/pay/…, the paypage function) answer HTML to patients' browsers and take urlencoded forms
# with a session cookie and a CSRF token, not JSON with a bearer token: they are not the JSON API this module checks
# (docs/adr/0015-pay-links-and-the-pay-page.md). Their hostile forms, media types and query parameters are
# tests/integration/test_paypage.py's. The OpenAPI document tags them "Pay page"; the coverage test below leaves out
# the same set from both sides.
PAY_PAGE = frozenset(Op(r.method, r.path) for r in ROUTES if r.function == PAYPAGE.name)
PAY_PAGE_TAG = "Pay page"
# Likewise the reminder email's unsubscribe page (HTML for browsers and mail clients, its token the only key; ADR
# 0016), driven by tests/integration/test_messages.py and tests/e2e.
UNSUBSCRIBE_PAGE = frozenset(Op(r.method, r.path) for r in ROUTES if r.path == "/unsubscribe/{token}")
UNSUBSCRIBE_TAG = "Unsubscribe page"
# And the staff dashboard (HTML for staff's browsers, its own session cookie, CSRF token and roles; ADR 0018), driven
# by tests/integration/test_dashboard.py and tests/e2e/test_dashboard_browser.py.
DASHBOARD_PAGES = frozenset(Op(r.method, r.path) for r in ROUTES if r.function == DASHBOARD.name)
DASHBOARD_TAG = "Dashboard"
OPS = [
    Op(r.method, r.path) for r in ROUTES if Op(r.method, r.path) not in PAY_PAGE | UNSUBSCRIBE_PAGE | DASHBOARD_PAGES
]


def op(name: str) -> Op:
    return next(o for o in OPS if str(o) == name)


# -- the records each route acts on, and the body it accepts ------------------------------------------------------

# What each route's path parameters name (a builder on World), and the query a GET needs to answer 200.
PARAMS: dict[str, Callable[[World], dict[str, str]]] = {
    "GET /invoices/{invoice_id}": lambda w: {"invoice_id": w.shared("draft", w.draft)["id"]},
    "POST /invoices/{invoice_id}/issue": lambda w: {"invoice_id": w.draft()["id"]},
    "POST /invoices/{invoice_id}/cancel": lambda w: {"invoice_id": w.draft()["id"]},
    "POST /invoices/{invoice_id}/write-off": lambda w: {"invoice_id": w.open_invoice()["id"]},
    "GET /patients/{patient_id}": lambda w: {"patient_id": w.patient()},
    "PATCH /patients/{patient_id}": lambda w: {"patient_id": w.new_patient()},
    "POST /patients/{patient_id}/payment-methods": lambda w: {"patient_id": w.patient()},
    "GET /patients/{patient_id}/payment-methods": lambda w: {"patient_id": w.patient()},
    "DELETE /patients/{patient_id}/payment-methods/{method_id}": lambda w: {
        "patient_id": w.patient(),
        "method_id": w.new_card(),
    },
    "POST /invoices/{invoice_id}/payments": lambda w: {"invoice_id": w.open_invoice()["id"]},
    "GET /payments/{payment_id}": lambda w: {"payment_id": w.shared("payment", w.payment)["id"]},
    "POST /payments/{payment_id}/refunds": lambda w: {"payment_id": w.payment()["id"]},
    "POST /invoices/{invoice_id}/payment-plan": lambda w: {"invoice_id": w.open_invoice()["id"]},
    "GET /invoices/{invoice_id}/payment-plan": lambda w: {"invoice_id": w.plan()},
    "PATCH /invoices/{invoice_id}/payment-plan": lambda w: {"invoice_id": w.plan()},
    "POST /invoices/{invoice_id}/payment-plan/cancel": lambda w: {"invoice_id": w.plan()},
    "POST /invoices/{invoice_id}/payment-plan/installments/{seq}/pay": lambda w: {"invoice_id": w.plan(), "seq": "1"},
    "POST /patients/{patient_id}/subscriptions": lambda w: {"patient_id": w.patient()},
    "GET /patients/{patient_id}/subscriptions": lambda w: {"patient_id": w.patient()},
    "GET /subscriptions/{subscription_id}": lambda w: {"subscription_id": w.subscription()},
    "POST /subscriptions/{subscription_id}/cancel": lambda w: {"subscription_id": w.subscription()},
    "GET /practices/{practice_id}": lambda w: {"practice_id": PRACTICE},
    "PATCH /practices/{practice_id}/settings": lambda w: {"practice_id": PRACTICE},
    "POST /invoices/{invoice_id}/pay-links": lambda w: {"invoice_id": w.open_invoice()["id"]},
    "GET /invoices/{invoice_id}/pay-links": lambda w: {"invoice_id": w.shared("linked", w.linked_invoice)},
    "POST /patients/{patient_id}/pay-links": lambda w: {"patient_id": w.patient()},  # balance_links is on (world)
    "POST /pay-links/{link_id}/revoke": lambda w: {"link_id": w.pay_link()},
    "GET /patients/{patient_id}/messages": lambda w: {"patient_id": w.patient()},
    "GET /patients/{patient_id}/messaging": lambda w: {"patient_id": w.patient()},
    "POST /patients/{patient_id}/messaging": lambda w: {"patient_id": w.patient()},
    "GET /invoices/{invoice_id}/messages": lambda w: {"invoice_id": w.shared("draft", w.draft)["id"]},
    "GET /deposits/{deposit_id}": lambda w: {"deposit_id": w.shared("deposit", w.deposit)},
    "GET /disputes/{dispute_id}": lambda w: {"dispute_id": w.shared("dispute", w.dispute)},
    "GET /disputes/{dispute_id}/evidence": lambda w: {"dispute_id": w.shared("dispute", w.dispute)},
    "POST /disputes/{dispute_id}/respond": lambda w: {"dispute_id": w.dispute()},
    "POST /disputes/{dispute_id}/accept": lambda w: {"dispute_id": w.dispute()},
}
QUERY: dict[str, dict[str, str]] = {
    "GET /reports/payments": {"from": (TODAY - timedelta(days=30)).isoformat(), "to": TODAY.isoformat()},
    "GET /reports/deposits": {"from": (TODAY - timedelta(days=30)).isoformat(), "to": TODAY.isoformat()},
}


def _invoice_body(w: World) -> dict:
    line = {"description": "Office visit, established patient", "cpt_code": "99213", "unit_amount": 12500}
    return {"patient_id": w.patient(), "due_date": LATER, "line_items": [line]}


def _patient_body(_w: World) -> dict:
    return {**copy.deepcopy(PATIENT), "external_id": f"ehr-hostile-{uuid.uuid4().hex[:12]}"}


def _boarding_body(_w: World) -> dict:
    return {**copy.deepcopy(BOARDING), "practice_id": f"prc_hostile_new_{uuid.uuid4().hex[:10]}"}


def _encounter_body(w: World) -> dict:
    charge = {"service_date": TODAY.isoformat(), "description": "Office visit, new patient", "amount": 18000}
    return {
        "encounter_id": f"enc-hostile-{uuid.uuid4().hex[:12]}",
        "revision": 1,
        "patient_external_id": w.patient_external_id,
        "charges": [charge],
    }


def _plan_body(w: World) -> dict:
    card = w.card()
    return {
        "installment_count": 2,
        "frequency": "monthly",
        "first_date": LATER,
        "payment_method_id": card,
        "consent": dict(PLAN_CONSENT),
    }


def _subscription_body(w: World) -> dict:
    card = w.card()
    return {
        "amount": 4900,
        "frequency": "monthly",
        "start_date": LATER,
        "payment_method_id": card,
        "consent": dict(PLAN_CONSENT),
    }


def _alert_body(w: World) -> dict:
    txn = w.shared("payment", w.payment)["splash_txn_id"]
    marker = uuid.uuid4().hex  # names this request's alert in what the intake keeps
    return {"response": {"data": [{"id": txn}], "alert": {"event": "txn.settled", "resource": 18, "id": marker}}}


# The body each route accepts (the baseline every defect below is injected into); routes not named take none.
BODIES: dict[str, Callable[[World], dict]] = {
    "POST /invoices": _invoice_body,
    "POST /invoices/{invoice_id}/write-off": lambda w: {"reason": "small_balance"},
    "POST /patients": _patient_body,
    "PATCH /patients/{patient_id}": lambda w: {"first_name": "Vera", "address": dict(ADDRESS)},
    "POST /patients/{patient_id}/payment-methods": lambda w: {"card": dict(CARD), "consent": dict(METHOD_CONSENT)},
    "POST /invoices/{invoice_id}/payments": lambda w: {"payment_method_id": w.card(), "amount": 100},
    "POST /payments/{payment_id}/refunds": lambda w: {"amount": 100},
    "POST /invoices/{invoice_id}/payment-plan": _plan_body,
    "PATCH /invoices/{invoice_id}/payment-plan": lambda w: {"payment_method_id": w.card()},
    "POST /invoices/{invoice_id}/payment-plan/installments/{seq}/pay": lambda w: {"payment_method_id": w.card()},
    "POST /patients/{patient_id}/subscriptions": _subscription_body,
    "POST /practices": _boarding_body,
    "PATCH /practices/{practice_id}/settings": lambda w: {"notice_days": 3, "card_retry_days": [1, 3, 7]},
    "POST /events/encounters": _encounter_body,
    "POST /webhooks/splash": _alert_body,
    # Both pay-link POSTs accept {} too (the practice's defaults; test_an_empty_pay_link_body_is_accepted): the
    # baseline names both fields so that the defects below land in a real field.
    "POST /invoices/{invoice_id}/pay-links": lambda w: {"expires_in_days": 14, "max_uses": 5},
    "POST /patients/{patient_id}/pay-links": lambda w: {"expires_in_days": 14, "max_uses": 5},
    "POST /patients/{patient_id}/messaging": lambda w: {"language": "es", "channels": "both"},
    "POST /disputes/{dispute_id}/respond": lambda w: {"note": "The cardholder authorized the card on file."},
}
# GET /health is API Gateway's mock integration: no function runs and nothing reads the request (it answers 200
# whatever it is sent), so the body and query classes leave it out.
GUARDED = [o for o in OPS if str(o) != "GET /health"]
# Splash's webhook checks its header before it reads anything, then the body as JSON (class 1); it takes whatever
# media type and query Splash sends, so classes 2 and 5 leave it out.
API_OPS = [o for o in GUARDED if str(o) != "POST /webhooks/splash"]
BODY_OPS = [o for o in OPS if str(o) in BODIES]
NO_BODY_OPS = [o for o in GUARDED if str(o) not in BODIES]


@dataclass
class Target:
    path: str
    params: dict[str, str]
    body: dict | None
    """The body this route accepts (None: it takes none)."""
    query: dict[str, str]


class World:
    """prc_hostile's records: shared ones (a patient, a card, a payment) and, per route, the record its requests
    act on, made again whenever a request to that route wrote something (so the next one finds it as it was)."""

    def __init__(self, api, writes: list[str]) -> None:
        self.api = api
        self.writes = writes
        self.wrote: list[str] = []
        """What the last `send` wrote (see the `writes` fixture)."""
        self._shared: dict[str, Any] = {}
        self._params: dict[str, dict[str, str]] = {}
        self.patient_external_id = f"ehr-hostile-{uuid.uuid4().hex[:8]}"

    # building blocks
    def call(self, method: str, path: str, body: Any = None, status: int = 200) -> dict:
        return ok(self.api.call(method, path, practice=PRACTICE, body=body), status)

    def shared(self, name: str, make: Callable[[], Any]) -> Any:
        if name not in self._shared:
            self._shared[name] = make()
        return self._shared[name]

    def patient(self) -> str:
        return self.shared("patient", lambda: self.new_patient(self.patient_external_id))

    def new_patient(self, external_id: str | None = None) -> str:
        body = {**PATIENT, "external_id": external_id or f"ehr-hostile-{uuid.uuid4().hex[:12]}"}
        return self.call("POST", "/patients", body, 201)["id"]

    def card(self) -> str:
        return self.shared("card", self.new_card)

    def new_card(self) -> str:
        body = {"card": CARD, "consent": METHOD_CONSENT}
        return self.call("POST", f"/patients/{self.patient()}/payment-methods", body, 201)["id"]

    def draft(self) -> dict:
        return self.call("POST", "/invoices", _invoice_body(self), 201)

    def open_invoice(self) -> dict:
        return self.call("POST", f"/invoices/{self.draft()['id']}/issue")

    def payment(self) -> dict:
        body = {"payment_method_id": self.card(), "amount": 5000}
        return self.call("POST", f"/invoices/{self.open_invoice()['id']}/payments", body, 201)

    def dispute(self) -> str:
        """A chargeback on a captured card payment, applied (as its alert would be)."""
        import requests

        from practicepay.disputes.models import dispute_id
        from practicepay.splash.models import Chargeback
        from practicepay.sync.wiring import status_sync

        payment, sandbox = self.payment(), os.environ["SPLASH_HOST"]
        requests.post(f"{sandbox}/_sandbox/clock", json={"advance_days": 1}, timeout=10).raise_for_status()
        opened = requests.post(f"{sandbox}/_sandbox/chargebacks", json={"txn": payment["splash_txn_id"]}, timeout=10)
        opened.raise_for_status()
        chargeback = Chargeback.model_validate(opened.json()["chargeback"])
        status_sync().disputes.apply_chargeback(chargeback)
        return dispute_id(chargeback.id)

    def deposit(self) -> str:
        """A deposit of the practice: its captured payments paid out at the next midnight, read by the poll."""
        import boto3
        import requests
        from boto3.dynamodb.conditions import Key

        from practicepay.sync.wiring import status_sync

        self.shared("dispute", self.dispute)
        sandbox = os.environ["SPLASH_HOST"]
        requests.post(f"{sandbox}/_sandbox/clock", json={"advance_days": 1}, timeout=10).raise_for_status()
        status_sync().poll()
        table = boto3.resource("dynamodb").Table(os.environ["FUNDS_TABLE"])
        key = Key("pk").eq(f"PRACTICE#{PRACTICE}") & Key("sk").begins_with("DEPOSIT#")
        return next(i["id"] for i in table.query(KeyConditionExpression=key)["Items"] if "#LINE#" not in i["sk"])

    def plan(self) -> str:
        invoice = self.open_invoice()["id"]
        self.call("POST", f"/invoices/{invoice}/payment-plan", _plan_body(self), 201)
        return invoice

    def subscription(self) -> str:
        body = _subscription_body(self)
        return self.call("POST", f"/patients/{self.patient()}/subscriptions", body, 201)["id"]

    def pay_link(self, invoice_id: str | None = None) -> str:
        invoice = invoice_id or self.open_invoice()["id"]
        return self.call("POST", f"/invoices/{invoice}/pay-links", {}, 201)["id"]

    def linked_invoice(self) -> str:
        """An open invoice with a pay link (so its list is not empty)."""
        invoice = self.open_invoice()["id"]
        self.pay_link(invoice)
        return invoice

    # a route's target
    def target(self, o: Op) -> Target:
        name = str(o)
        if name not in self._params:
            self._params[name] = PARAMS[name](self) if name in PARAMS else {}
        params = self._params[name]
        path = o.path
        for key, value in params.items():
            path = path.replace("{" + key + "}", value)
        body = BODIES[name](self) if name in BODIES else None
        return Target(path, params, body, dict(QUERY.get(name, {})))

    def send(
        self,
        o: Op,
        t: Target,
        raw: bytes | str | None,
        *,
        content_type: str | None = "application/json",
        query: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        authenticated: bool = True,
    ):
        """The request as a client sends it: the route's credentials (a practice token, the admin token for
        POST /practices, Splash's header for the webhook), an Idempotency-Key on a POST, and exactly the
        Content-Type given (None: no Content-Type header at all). What it wrote is left in `wrote`; a route
        whose request wrote gets a new record before its next request."""
        h: dict[str, str] = {}
        if str(o) == "POST /webhooks/splash":
            if authenticated:
                h.update(webhook_header())
        elif str(o) == "POST /practices":
            h["Authorization"] = f"Bearer {admin_token()}"
        else:
            h["Authorization"] = f"Bearer {self.api.token(PRACTICE)}"
        if o.method == "POST":
            h["Idempotency-Key"] = str(uuid.uuid4())
        if content_type is not None:
            h["Content-Type"] = content_type
        h.update(headers or {})
        mark = len(self.writes)
        resp = self.api.client.open(
            t.path, method=o.method, headers=h, data=raw, query_string={**t.query, **(query or {})}
        )
        self.wrote = self.writes[mark:]
        if self.wrote:
            self._params.pop(str(o), None)
        return resp


_WRITES = ("Put", "Update", "Delete", "Send", "Publish", "TransactWrite", "BatchWrite", "Create", "Start")


@pytest.fixture(scope="module")
def writes() -> Iterator[list[str]]:
    """Every write the API functions make while they answer this module's requests: AWS calls that change
    something (DynamoDB puts, updates and transactions, SQS sends, EventBridge puts...) and HTTP requests to
    Splash other than GETs. Counted in the test's own thread only (the in-process front runs the handler
    there), so the alerts Splash sends the served front meanwhile are not counted."""
    import botocore.client
    import requests

    from local.calls import CURRENT_FUNCTION

    log: list[str] = []
    me = threading.get_ident()
    make_api_call = botocore.client.BaseClient._make_api_call
    send = requests.Session.send

    def ours() -> str | None:
        return CURRENT_FUNCTION.get() if threading.get_ident() == me else None

    def recording_api_call(client: Any, operation: str, params: dict[str, Any]) -> Any:
        function = ours()
        if function and operation.startswith(_WRITES):
            where = params.get("TableName") or str(params.get("QueueUrl", "")).rsplit("/", 1)[-1]
            log.append(f"{function}: {client.meta.service_model.service_name}:{operation} {where}".rstrip())
        return make_api_call(client, operation, params)

    def recording_send(session: Any, request: Any, **kwargs: Any) -> Any:
        function = ours()
        if function and request.method not in ("GET", "HEAD"):
            log.append(f"{function}: Splash {request.method} {urlsplit(request.url).path}")
        return send(session, request, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(botocore.client.BaseClient, "_make_api_call", recording_api_call)
        mp.setattr(requests.Session, "send", recording_send)
        yield log


def admin_token() -> str:
    from practicepay.auth import ADMIN_SCOPE
    from practicepay.auth.tokens import issue_hs256
    from tests.helpers import TEST_SECRET

    return issue_hs256(TEST_SECRET, "platform-ops", scope=ADMIN_SCOPE)


def webhook_header() -> dict[str, str]:
    from practicepay.splash.wiring import splash_credentials

    creds = splash_credentials()
    return {creds.webhook_header_name: creds.webhook_header_value.get_secret_value()}


@pytest.fixture(scope="module")
def world(api, boarded, writes) -> World:
    boarded(PRACTICE)
    # POST /patients/{id}/pay-links answers 409 unless the practice allows balance links; the pay links service
    # reads the practice uncached, so the setting holds from the next request.
    settings = ok(api.call("PATCH", f"/practices/{PRACTICE}/settings", practice=PRACTICE, body={"balance_links": True}))
    assert settings["settings"]["balance_links"] is True, settings
    return World(api, writes)


def refused(resp, status: int, slug: str, wrote: list[str] = (), field: str | tuple[str, ...] | None = None) -> dict:
    """Assert an RFC 9457 refusal: the status, problem+json, the slug, the documented shape, the field named
    (one of them, for a list's item: the item or the list), and that nothing was written."""
    text = resp.get_data(as_text=True)
    assert resp.status_code == status, f"wanted {status} {slug}, got {resp.status_code}: {text[:300]}"
    assert resp.headers.get("Content-Type") == PROBLEM, resp.headers.get("Content-Type")
    body = json.loads(text)
    Problem.model_validate(body)
    assert (body["type"], body["status"]) == (f"urn:practicepay:problem:{slug}", status), body
    assert body["title"] and body["detail"], body
    assert "Traceback" not in text
    if field is not None:
        fields = [e["field"] for e in body.get("errors") or []]
        wanted = (field,) if isinstance(field, str) else field
        assert set(wanted) & set(fields), f"errors name {fields}, not {' or '.join(wanted)}"
    assert not wrote, f"the refused request wrote: {wrote}"
    return body


def accepted(resp) -> None:
    assert 200 <= resp.status_code < 300, f"wanted a 2xx, got {resp.status_code}: {resp.get_data(as_text=True)[:300]}"


def test_the_routes_driven_here_are_every_operation_of_the_openapi_document(aws_env):
    from local.openapi import openapi_schema

    paths = openapi_schema()["paths"]
    documented = {f"{m.upper()} {p}": operation for p, ops in paths.items() for m, operation in ops.items()}
    pages = {name for name, operation in documented.items() if PAY_PAGE_TAG in operation.get("tags", [])}
    assert pages == {str(o) for o in PAY_PAGE}, "the pay page's operations are not the paypage function's routes"
    unsubscribe = {name for name, operation in documented.items() if UNSUBSCRIBE_TAG in operation.get("tags", [])}
    assert unsubscribe == {str(o) for o in UNSUBSCRIBE_PAGE}
    dashboard = {name for name, operation in documented.items() if DASHBOARD_TAG in operation.get("tags", [])}
    assert dashboard == {str(o) for o in DASHBOARD_PAGES}
    pages |= unsubscribe | dashboard
    assert set(documented) - pages == {str(o) for o in OPS}
    needs = {str(o) for o in OPS if "{" in o.path}
    assert needs <= set(PARAMS), f"no record to name for {needs - set(PARAMS)}"
    for path, operations in paths.items():
        for method, operation in operations.items():
            if f"{method.upper()} {path}" in pages:
                continue
            if "requestBody" in operation:
                assert f"{method.upper()} {path}" in BODIES, f"{method.upper()} {path} takes a body: give it a baseline"


@pytest.mark.parametrize("o", BODY_OPS, ids=str)
def test_each_baseline_body_is_accepted(world, o):
    """The control for everything below: the body each defect is injected into is one the route accepts, so a
    refusal is the defect's doing."""
    t = world.target(o)
    resp = world.send(o, t, json.dumps(t.body))
    accepted(resp)
    assert world.wrote, "the write log saw none of this route's writes: its 'nothing written' checks would be vacuous"


# -- 1. bodies no parser should be trusted with: 400 malformed-request on every route -------------------------------

INT_KEYS = ("amount", "unit_amount", "quantity", "max_amount", "revision", "notice_days", "installment_count")
TEXT_KEYS = ("description", "first_name", "last_name", "legal_name", "line1", "event", "text_version")
HOLE = "__HOSTILE__"


def _leaves(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, (*path, i))
    else:
        yield path, value


def _set(body: Any, path: tuple, value: Any) -> Any:
    body = copy.deepcopy(body)
    node = body
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return body


def with_literal(body: dict | None, literal: bytes, kind: str) -> bytes:
    """`body` with one value replaced by a raw JSON `literal`: an integer field's (kind "int") or a text
    field's (kind "text"); a route that takes no body gets {"value": literal}."""
    if body is None:
        return b'{"value": ' + literal + b"}"
    leaves = list(_leaves(body))
    if kind == "int":
        picks = [p for p, v in leaves if isinstance(v, int) and not isinstance(v, bool) and p[-1] in INT_KEYS]
        picks = picks or [p for p, v in leaves if isinstance(v, int) and not isinstance(v, bool)]
    else:
        picks = [p for p, v in leaves if isinstance(v, str) and p[-1] in TEXT_KEYS]
        picks = picks or [p for p, v in leaves if isinstance(v, str)]
    path = picks[0] if picks else ("value",)
    text = json.dumps(_set(body, path, HOLE)).encode()
    return text.replace(json.dumps(HOLE).encode(), literal, 1)


def _duplicate(obj: dict) -> str:
    """`obj` as JSON with its first key sent twice, the first time with a wrong value: a parser that keeps the
    last one sees a valid body, one that keeps the first an invalid one."""
    key, value = next(iter(obj.items()))
    wrong = -5 if isinstance(value, int) else "" if isinstance(value, str) else None
    return "{" + json.dumps(key) + ": " + json.dumps(wrong) + ", " + json.dumps(obj)[1:]


def duplicate_top(body: dict | None) -> bytes:
    return (_duplicate(body) if body else '{"amount": -5, "amount": 100}').encode()


def duplicate_nested(body: dict | None) -> bytes:
    nested = [(p, v) for p, v in _nested_objects(body or {}) if v]
    if not nested:
        return b'{"value": [{"amount": -5, "amount": 100}]}'
    path, obj = nested[0]
    text = json.dumps(_set(body, path, HOLE))
    return text.replace(json.dumps(HOLE), _duplicate(obj), 1).encode()


def _nested_objects(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, dict]]:
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for k, v in items:
        if isinstance(v, dict):
            yield (*path, k), v
        yield from _nested_objects(v, (*path, k))


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def truncated(body: dict | None) -> bytes:
    return json.dumps(body or {})[:-1].encode()


BIG = b"1" + b"0" * 4300  # 4,301 digits: Python's int limit is 4,300

MALFORMED: dict[str, Callable[[dict | None], bytes]] = {
    "invalid-json": truncated,
    "duplicate-key": duplicate_top,
    "duplicate-key-nested": duplicate_nested,
    "nested-10000-deep": lambda b: nested(10_000),
    "nested-10000-deep-objects": lambda b: b'{"a": ' * 10_000 + b"1" + b"}" * 10_000,
    "nested-33-deep": lambda b: nested(33),
    "integer-4301-digits": lambda b: with_literal(b, BIG, "int"),
    "NaN": lambda b: with_literal(b, b"NaN", "int"),
    "Infinity": lambda b: with_literal(b, b"Infinity", "int"),
    "-Infinity": lambda b: with_literal(b, b"-Infinity", "int"),
    "not-utf-8": lambda b: with_literal(b, b'"\xff\xfe"', "text"),
    "lone-surrogate": lambda b: with_literal(b, b'"Office visit \\ud800"', "text"),
}


@pytest.mark.parametrize("defect", MALFORMED, ids=str)
@pytest.mark.parametrize("o", GUARDED, ids=str)
def test_a_body_no_parser_should_trust_is_400_malformed_request(world, o, defect):
    t = world.target(o)
    resp = world.send(o, t, MALFORMED[defect](t.body))
    refused(resp, 400, "malformed-request", world.wrote)


@pytest.mark.parametrize("o", [o for o in BODY_OPS if str(o) != "POST /webhooks/splash"], ids=str)
def test_32_levels_of_nesting_are_parsed(world, o):
    """The depth limit's other side: 32 nested arrays are JSON the API reads (the route then refuses the shape,
    422), not a malformed body. (Not the webhook: a body that is not an alert is its own 400.)"""
    t = world.target(o)
    resp = world.send(o, t, nested(32))
    refused(resp, 422, "validation-error", world.wrote)


@pytest.mark.parametrize("name", ["POST /invoices/{invoice_id}/pay-links", "POST /patients/{patient_id}/pay-links"])
def test_an_empty_pay_link_body_is_accepted(world, name):
    """{} asks for the practice's defaults (pay_link_days, pay_link_max_uses): a body, but an empty one."""
    o = op(name)
    resp = world.send(o, world.target(o), b"{}")
    accepted(resp)
    assert resp.status_code == 201 and world.wrote, resp.status_code


def test_a_surrogate_pair_escape_is_text_not_a_defect(world):
    """An escaped pair (U+1F600) is a real character: the lone-surrogate refusal must not catch it."""
    o = op("PATCH /patients/{patient_id}")
    t = world.target(o)
    resp = world.send(o, t, '{"first_name": "Vera \\ud83d\\ude00"}')
    accepted(resp)


# -- 2. a body that is not sent as JSON: 415 ----------------------------------------------------------------------

REFUSED_TYPES = {"no-content-type": None, "text-plain": "text/plain", "form": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize("media", REFUSED_TYPES, ids=str)
@pytest.mark.parametrize("o", API_OPS, ids=str)
def test_a_body_not_sent_as_json_is_415(world, o, media):
    t = world.target(o)
    resp = world.send(o, t, json.dumps(t.body if t.body is not None else {}), content_type=REFUSED_TYPES[media])
    refused(resp, 415, "unsupported-media-type", world.wrote)


@pytest.mark.parametrize(
    "name, content_type",
    [
        ("POST /patients", "application/json; charset=utf-8"),
        ("POST /patients", "application/merge-patch+json"),
        ("PATCH /patients/{patient_id}", "application/merge-patch+json"),
        ("PATCH /practices/{practice_id}/settings", "application/merge-patch+json; charset=utf-8"),
        ("PATCH /practices/{practice_id}/settings", "Application/JSON;charset=UTF-8"),
        ("POST /invoices/{invoice_id}/issue", "application/json; charset=utf-8"),
        ("POST /invoices/{invoice_id}/pay-links", "application/json; charset=utf-8"),
        ("POST /pay-links/{link_id}/revoke", "application/json; charset=utf-8"),
    ],
)
def test_json_media_types_are_accepted(world, name, content_type):
    o = op(name)
    t = world.target(o)
    resp = world.send(o, t, json.dumps(t.body if t.body is not None else {}), content_type=content_type)
    accepted(resp)


# -- 6. a route that takes no body: {} or nothing, else 400 and nothing done ----------------------------------------

NOT_NOTHING = {
    "invalid-json": b"{",
    "object-with-fields": b'{"due_date": "x"}',
    "array": b"[1]",
    "empty-array": b"[]",
    "null": b"null",
    "string": b'"{}"',
}


@pytest.mark.parametrize("body", NOT_NOTHING, ids=str)
@pytest.mark.parametrize("o", NO_BODY_OPS, ids=str)
def test_a_route_that_takes_no_body_refuses_one_and_does_nothing(world, o, body):
    t = world.target(o)
    resp = world.send(o, t, NOT_NOTHING[body])
    refused(resp, 400, "malformed-request", world.wrote)


@pytest.mark.parametrize("body", ["empty", "{}"], ids=str)
@pytest.mark.parametrize("o", NO_BODY_OPS, ids=str)
def test_a_route_that_takes_no_body_accepts_none_or_an_empty_object(world, o, body):
    t = world.target(o)
    resp = world.send(o, t, None, content_type=None) if body == "empty" else world.send(o, t, b"{}")
    accepted(resp)


def test_a_draft_invoice_sent_a_body_on_issue_stays_draft(world):
    o = op("POST /invoices/{invoice_id}/issue")
    t = world.target(o)
    resp = world.send(o, t, json.dumps({"due_date": "x"}))
    status = world.call("GET", f"/invoices/{t.params['invoice_id']}")["status"]
    assert status == "draft", f"the invoice is {status} after a refused issue ({resp.status_code})"
    refused(resp, 400, "malformed-request", world.wrote)


# -- 7. the webhook: Splash's header first, whatever the body --------------------------------------------------------

UNAUTHENTICATED_BODIES = {
    "a-real-alert": lambda b: json.dumps(b).encode(),
    "not-utf-8": MALFORMED["not-utf-8"],
    "nested-10000-deep": MALFORMED["nested-10000-deep"],
    "invalid-json": MALFORMED["invalid-json"],
    "duplicate-key": MALFORMED["duplicate-key"],
    "integer-4301-digits": MALFORMED["integer-4301-digits"],
    "no-body": lambda b: None,
}


@pytest.mark.parametrize("header", ["missing", "wrong"])
@pytest.mark.parametrize("body", UNAUTHENTICATED_BODIES, ids=str)
def test_an_alert_without_splashs_header_is_401_whatever_its_body(world, body, header):
    o = op("POST /webhooks/splash")
    t = world.target(o)
    name = next(iter(webhook_header()))
    wrong = {name: "x" * 43} if header == "wrong" else None
    resp = world.send(o, t, UNAUTHENTICATED_BODIES[body](t.body), headers=wrong, authenticated=False)
    refused(resp, 401, "unauthorized", world.wrote)


# -- 3. control and bidirectional-text characters in text: 422 naming the field ------------------------------------

CONTROLS = {
    "NUL": "\u0000",
    "BEL": "\u0007",
    "TAB": "\t",
    "LF": "\n",
    "ESC": "\u001b",
    "DEL": "\u007f",
    "C1-NEL": "\u0085",
    "RLO-U+202E": "\u202e",
    "LRI-U+2066": "\u2066",
    "RLM-U+200F": "\u200f",
}
TEXT_FIELDS = [
    ("POST /invoices", ("line_items", 0, "description"), "line_items[0].description"),
    ("POST /patients", ("first_name",), "first_name"),
    ("POST /patients", ("address", "line1"), "address.line1"),
    ("PATCH /patients/{patient_id}", ("first_name",), "first_name"),
    ("POST /events/encounters", ("charges", 0, "description"), "charges[0].description"),
    ("POST /practices", ("legal_name",), "legal_name"),
]


def _with_text(body: dict, path: tuple, char: str) -> dict:
    node = body
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = f"Lakeside{char}Visit"
    return body


@pytest.mark.parametrize("char", CONTROLS, ids=str)
@pytest.mark.parametrize("name, path, field", TEXT_FIELDS, ids=[f"{n} {f}" for n, _, f in TEXT_FIELDS])
def test_a_control_or_bidi_character_in_text_is_422_naming_the_field(world, name, path, field, char):
    o = op(name)
    t = world.target(o)
    if name == "POST /patients" and path == ("address", "line1"):
        t.body["address"] = dict(ADDRESS)
    body = _with_text(t.body, path, CONTROLS[char])
    resp = world.send(o, t, json.dumps(body))
    refused(resp, 422, "validation-error", world.wrote, field=field)


@pytest.mark.parametrize("name, path, field", TEXT_FIELDS, ids=[f"{n} {f}" for n, _, f in TEXT_FIELDS])
def test_the_same_text_with_a_plain_space_is_accepted(world, name, path, field):
    o = op(name)
    t = world.target(o)
    if name == "POST /patients" and path == ("address", "line1"):
        t.body["address"] = dict(ADDRESS)
    resp = world.send(o, t, json.dumps(_with_text(t.body, path, " ")))
    accepted(resp)


# -- 4. integers that are JSON integers within their maximum; RFC 3339 timestamps -----------------------------------


def dotted(path: tuple) -> str:
    """('line_items', 0, 'quantity') -> line_items[0].quantity"""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


RETRY_DAY = ("card_retry_days[2]", "card_retry_days")  # an item of a list: naming the list names it too
NOT_INTEGERS = {"string": lambda n: str(n), "bool": lambda n: True, "float": lambda n: float(n)}
INT_FIELDS = [
    ("POST /invoices", ("line_items", 0, "unit_amount"), "line_items[0].unit_amount", 100),
    ("POST /invoices", ("line_items", 0, "quantity"), "line_items[0].quantity", 2),
    ("POST /invoices/{invoice_id}/payments", ("amount",), "amount", 100),
    ("POST /payments/{payment_id}/refunds", ("amount",), "amount", 100),
    ("PATCH /practices/{practice_id}/settings", ("notice_days",), "notice_days", 3),
    ("PATCH /practices/{practice_id}/settings", ("card_retry_days", 2), RETRY_DAY, 7),
    ("POST /patients/{patient_id}/payment-methods", ("consent", "max_amount"), "consent.max_amount", 50_000),
    ("POST /patients/{patient_id}/subscriptions", ("amount",), "amount", 4900),
    ("POST /events/encounters", ("revision",), "revision", 1),
    ("POST /invoices/{invoice_id}/pay-links", ("expires_in_days",), "expires_in_days", 14),
    ("POST /invoices/{invoice_id}/pay-links", ("max_uses",), "max_uses", 5),
    ("POST /patients/{patient_id}/pay-links", ("expires_in_days",), "expires_in_days", 14),
    ("POST /patients/{patient_id}/pay-links", ("max_uses",), "max_uses", 5),
]


@pytest.mark.parametrize("kind", NOT_INTEGERS, ids=str)
@pytest.mark.parametrize("name, path, field, n", INT_FIELDS, ids=[f"{n} {dotted(p)}" for n, p, _, _ in INT_FIELDS])
def test_an_integer_sent_as_a_string_bool_or_float_is_422(world, name, path, field, n, kind):
    o = op(name)
    t = world.target(o)
    body = _set(t.body, path, NOT_INTEGERS[kind](n))
    resp = world.send(o, t, json.dumps(body))
    refused(resp, 422, "validation-error", world.wrote, field=field)


OVER_MAXIMUM = [
    ("POST /patients/{patient_id}/payment-methods", ("consent", "max_amount"), "consent.max_amount", 2**63),
    ("POST /patients/{patient_id}/payment-methods", ("consent", "max_amount"), "consent.max_amount", 10**40),
    ("POST /invoices/{invoice_id}/payment-plan", ("consent", "max_amount"), "consent.max_amount", 10**40),
    ("POST /patients/{patient_id}/subscriptions", ("amount",), "amount", 2**63),
    ("POST /invoices", ("line_items", 0, "unit_amount"), "line_items[0].unit_amount", 2**63),
    ("POST /invoices", ("line_items", 0, "quantity"), "line_items[0].quantity", 10**40),
    ("POST /payments/{payment_id}/refunds", ("amount",), "amount", 10**40),
    ("PATCH /practices/{practice_id}/settings", ("notice_days",), "notice_days", 10**40),
    ("PATCH /practices/{practice_id}/settings", ("card_retry_days", 2), RETRY_DAY, 10**40),
    ("POST /events/encounters", ("revision",), "revision", 2**63),
    ("POST /invoices/{invoice_id}/pay-links", ("expires_in_days",), "expires_in_days", 2**63),
    ("POST /invoices/{invoice_id}/pay-links", ("max_uses",), "max_uses", 10**40),
    ("POST /patients/{patient_id}/pay-links", ("expires_in_days",), "expires_in_days", 10**40),
    ("POST /patients/{patient_id}/pay-links", ("max_uses",), "max_uses", 2**63),
]


@pytest.mark.parametrize(
    "name, path, field, n",
    OVER_MAXIMUM,
    ids=[f"{n} {dotted(p)}={v if v < 10**30 else '1e40'}" for n, p, _, v in OVER_MAXIMUM],
)
def test_an_integer_over_its_maximum_is_422_and_nothing_reaches_splash(world, name, path, field, n):
    o = op(name)
    t = world.target(o)
    body = _set(t.body, path, n)
    resp = world.send(o, t, json.dumps(body))
    refused(resp, 422, "validation-error", world.wrote, field=field)


def test_a_limit_over_its_maximum_is_400(world):
    o = op("GET /invoices")
    resp = world.send(o, world.target(o), None, content_type=None, query={"limit": str(10**40)})
    refused(resp, 400, "validation-error", field="limit")


def test_every_integer_the_api_takes_has_a_documented_maximum(aws_env):
    from local.openapi import openapi_schema

    spec = openapi_schema()
    schemas = spec.get("components", {}).get("schemas", {})
    missing: list[str] = []

    def walk(schema: dict, where: str, seen: frozenset = frozenset()) -> None:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                walk(schemas[name], where, seen | {name})
            return
        if schema.get("type") == "integer" and "maximum" not in schema and "exclusiveMaximum" not in schema:
            missing.append(where)
        for key in ("anyOf", "oneOf", "allOf"):
            for sub in schema.get(key, []):
                walk(sub, where, seen)
        for name, sub in (schema.get("properties") or {}).items():
            walk(sub, f"{where}.{name}", seen)
        if isinstance(schema.get("items"), dict):
            walk(schema["items"], f"{where}[]", seen)
        if isinstance(schema.get("additionalProperties"), dict):
            walk(schema["additionalProperties"], f"{where}{{}}", seen)

    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for param in operation.get("parameters", []):
                walk(param.get("schema", {}), f"{method.upper()} {path} {param['in']} {param['name']}")
            for media in (operation.get("requestBody") or {}).get("content", {}).values():
                walk(media.get("schema", {}), f"{method.upper()} {path} body")
    assert not missing, f"integers without a maximum: {missing}"


BAD_TIMESTAMPS = {"yyyymmdd": "20261126", "epoch-integer": 1764115200, "no-offset": "2026-11-26T10:00:00"}
CONSENTS = [
    "POST /patients/{patient_id}/payment-methods",
    "POST /invoices/{invoice_id}/payment-plan",
    "POST /patients/{patient_id}/subscriptions",
]


@pytest.mark.parametrize("stamp", BAD_TIMESTAMPS, ids=str)
@pytest.mark.parametrize("name", CONSENTS, ids=str)
def test_a_consent_time_that_is_not_rfc_3339_with_an_offset_is_422(world, name, stamp):
    o = op(name)
    t = world.target(o)
    body = _set(t.body, ("consent", "accepted_at"), BAD_TIMESTAMPS[stamp])
    resp = world.send(o, t, json.dumps(body))
    refused(resp, 422, "validation-error", world.wrote, field="consent.accepted_at")


@pytest.mark.parametrize("name", CONSENTS, ids=str)
def test_a_consent_time_with_an_offset_is_accepted(world, name):
    o = op(name)
    t = world.target(o)
    body = _set(t.body, ("consent", "accepted_at"), "2026-11-26T09:30:00-05:00")
    resp = world.send(o, t, json.dumps(body))
    accepted(resp)


# -- 5. a query parameter the route does not take: 400 naming it ----------------------------------------------------


@pytest.mark.parametrize("o", API_OPS, ids=str)
def test_an_unknown_query_parameter_is_400_naming_it(world, o):
    t = world.target(o)
    raw = json.dumps(t.body) if t.body is not None else None
    resp = world.send(o, t, raw, content_type="application/json" if raw else None, query={"patientId": "x"})
    refused(resp, 400, "validation-error", world.wrote, field="patientId")


def test_a_misspelt_filter_does_not_list_everything(world):
    o = op("GET /invoices")
    resp = world.send(o, world.target(o), None, content_type=None, query={"patientId": "pat_nobody"})
    refused(resp, 400, "validation-error", field="patientId")
