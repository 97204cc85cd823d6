"""The staff dashboard over real HTTP (ADR 0018), with `requests` and no browser: the local API Gateway front on a
port, the development sign-in, the `pp_staff` cookie carried by hand (it is Secure: requests will not send it over
http). Every signed-in route × every role: a forbidden one answers 403, changes nothing (every table but the audit
trail, the sessions and the raw Splash alerts is compared before and after) and leaves a `denied` entry. Sessions:
the idle limit, sign-out, CSRF and Origin refusals (the absolute limit is a unit test). Actions: a desk payment with
a PayFields token, a refund with its reason, a write-off, a pay link; each leaves its audit entry written with its
change. Neither the audit trail nor a log line carries a patient's name or date of birth; the blind index follows a
rename. The browser flows are tests/e2e/test_dashboard_browser.py."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import requests

from infra.definitions import AUDIT_TABLE, DASHBOARD_ROUTES, STAFF_TABLE, SYNC_TABLE, TABLES
from practicepay.staff.models import secret_hash
from practicepay.staff.roles import DASHBOARD_PERMISSIONS, PUBLIC_DASHBOARD_ROUTES, Role, allowed
from tests.integration.test_paypage import FORM, VISA, Staff, fields, payfields_config, text, tokenize

pytestmark = pytest.mark.integration

FIRST, LAST, DOB = "Rosalind", "Quennell", "1971-06-02"
STARTED = "2026-12-02T10:00:00.000Z"


class Desk:
    """A staff member's browser without a browser: the session cookie carried by hand, no redirects followed."""

    def __init__(self, base: str, practice: str, role: Role, name: str = "Dana Desk") -> None:
        self.base, self.practice, self.role = base, practice, role
        self.http = requests.Session()
        self.cookie: str | None = None
        resp = self.post("/dashboard/signin", {"practice_id": practice, "role": role.value, "name": name}, csrf=False)
        assert resp.status_code == 303, resp.text
        assert self.cookie, "no session cookie"

    def _send(self, method: str, path: str, headers: dict[str, str], **kwargs: Any) -> requests.Response:
        if self.cookie:
            headers = {**headers, "Cookie": f"pp_staff={self.cookie}"}
        resp = self.http.request(method, self.base + path, headers=headers, allow_redirects=False, timeout=30, **kwargs)
        for raw in resp.raw.headers.getlist("Set-Cookie"):
            name, _, rest = raw.partition("=")
            if name == "pp_staff":
                self.cookie = rest.split(";", 1)[0] or None
        return resp

    def get(self, path: str, **params: str) -> requests.Response:
        return self._send("GET", path, {}, params=params or None)

    def post(
        self, path: str, form: dict[str, str], *, csrf: bool = True, origin: str | None = "same"
    ) -> requests.Response:
        if csrf:
            form = {"csrf": self.csrf(), **form}
        headers = {"Content-Type": FORM}
        if origin is not None:
            headers["Origin"] = self.base if origin == "same" else origin
        return self._send("POST", path, headers, data=form)

    def csrf(self) -> str:
        return fields(self.get("/dashboard/patients").text)["csrf"]


# -- the world -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def practice(front, boarded) -> str:
    return boarded(f"prc_dash_{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
def api(front, practice) -> Staff:
    return Staff(front, practice)


@pytest.fixture(scope="module")
def world(api) -> dict[str, str]:
    """A patient with a card on file, an open invoice, a paid one (its payment refundable)."""
    patient = api.call(
        "POST",
        "/patients",
        {"external_id": f"ehr-{uuid.uuid4().hex[:6]}", "first_name": FIRST, "last_name": LAST, "date_of_birth": DOB},
        ok=201,
    )
    card = api.call(
        "POST",
        f"/patients/{patient['id']}/payment-methods",
        {
            "card": {"number": VISA, "exp_month": 12, "exp_year": 2030, "cvc": "123"},
            "consent": {
                "text_version": "v1",
                "accepted_at": "2026-12-01T10:00:00Z",
                "captured_by": "t",
                "channel": "in_person",
            },
        },
        ok=201,
    )

    def invoice() -> dict[str, Any]:
        body = {
            "patient_id": patient["id"],
            "due_date": (datetime.now(UTC).date() + timedelta(days=30)).isoformat(),
            "line_items": [{"description": "Office visit", "quantity": 1, "unit_amount": 15000}],
        }
        made = api.call("POST", "/invoices", body, ok=201)
        return api.call("POST", f"/invoices/{made['id']}/issue", ok=200)

    open_one, paid_one, another = invoice(), invoice(), invoice()
    payment = api.call("POST", f"/invoices/{paid_one['id']}/payments", {"payment_method_id": card["id"]}, ok=201)
    return {
        "patient_id": patient["id"],
        "method_id": card["id"],
        "invoice_id": open_one["id"],
        "paid_invoice_id": paid_one["id"],
        "other_invoice_id": another["id"],
        "payment_id": payment["id"],
    }


def snapshot(aws_env) -> dict[str, list]:
    """Every table's items but the audit trail's, the sessions' and the raw Splash alerts' (the sandbox posts those
    to the webhook on its own schedule), by test-only scans of the moto tables."""
    ddb = boto3.resource("dynamodb")
    skip = {AUDIT_TABLE.local_name, STAFF_TABLE.local_name, SYNC_TABLE.local_name}
    return {
        t.local_name: sorted(map(repr, ddb.Table(t.local_name).scan()["Items"]))
        for t in TABLES
        if t.local_name not in skip
    }


def audit_items(practice: str) -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb").Table(AUDIT_TABLE.local_name)
    return table.query(KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": f"PRACTICE#{practice}"})[
        "Items"
    ]


def path_of(route_path: str, world: dict[str, str]) -> str:
    values = {
        "patient_id": world["patient_id"],
        "invoice_id": world["invoice_id"],
        "payment_id": world["payment_id"],
        "dispute_id": "dsp_none",
        "deposit_id": "dep_none",
        "report": "aging",
    }
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], route_path)


FORMS = {
    "/dashboard/invoices/{invoice_id}/payments": lambda w: {
        "payment_method_id": w["method_id"],
        "submit_id": uuid.uuid4().hex,
        "started": STARTED,
    },
    "/dashboard/invoices/{invoice_id}/pay-links": lambda w: {"submit_id": uuid.uuid4().hex},
    "/dashboard/patients/{patient_id}/pay-links": lambda w: {"submit_id": uuid.uuid4().hex},
    "/dashboard/invoices/{invoice_id}/payment-plan": lambda w: {
        "installment_count": "3",
        "frequency": "monthly",
        "first_date": (datetime.now(UTC).date() + timedelta(days=7)).isoformat(),
        "payment_method_id": w["method_id"],
        "submit_id": uuid.uuid4().hex,
        "started": STARTED,
    },
    "/dashboard/invoices/{invoice_id}/write-off": lambda w: {"reason": "small_balance"},
    "/dashboard/invoices/{invoice_id}/cancel": lambda w: {"reason": "created_in_error"},
    "/dashboard/payments/{payment_id}/refunds": lambda w: {
        "amount": "1.00",
        "reason": "patient_request",
        "submit_id": uuid.uuid4().hex,
    },
    "/dashboard/disputes/{dispute_id}/accept": lambda w: {"submit_id": uuid.uuid4().hex},
    "/dashboard/disputes/{dispute_id}/respond": lambda w: {
        "note": "Authorized at the desk.",
        "submit_id": uuid.uuid4().hex,
    },
    "/dashboard/settings": lambda w: {"pay_link_days": "20"},
    "/dashboard/signout": lambda w: {},
}

SIGNED_IN = [r for r in DASHBOARD_ROUTES if (r.method, r.path) not in PUBLIC_DASHBOARD_ROUTES]


def test_every_signed_in_route_has_a_permission_and_a_form_for_its_posts():
    assert {(r.method, r.path) for r in SIGNED_IN} == set(DASHBOARD_PERMISSIONS)
    assert {r.path for r in SIGNED_IN if r.method == "POST"} == set(FORMS)


FORBIDDEN = [
    (r, role) for r in SIGNED_IN for role in Role if not allowed(role, DASHBOARD_PERMISSIONS[(r.method, r.path)])
]


@pytest.mark.parametrize(("route", "role"), FORBIDDEN, ids=[f"{r.method} {r.path} as {role}" for r, role in FORBIDDEN])
def test_a_forbidden_route_is_403_changes_nothing_and_is_audited_as_denied(
    front, practice, world, aws_env, route, role
):
    desk = Desk(front, practice, role)
    form = FORMS[route.path](world) if route.method == "POST" else None
    csrf = desk.csrf()
    before, audited = snapshot(aws_env), len(audit_items(practice))
    path = path_of(route.path, world)
    resp = (
        desk.get(path)
        if route.method == "GET"
        else desk._send("POST", path, {"Content-Type": FORM, "Origin": front}, data={"csrf": csrf, **(form or {})})
    )
    assert resp.status_code == 403, resp.text[:300]
    assert "Not allowed for your role" in resp.text
    assert snapshot(aws_env) == before, "a refused request changed a record"
    entries = audit_items(practice)
    assert len(entries) == audited + 1
    denied = max(entries, key=lambda e: e["sk"])
    assert denied["outcome"] == "denied" and denied["role"] == role.value
    assert denied["action"] == str(DASHBOARD_PERMISSIONS[(route.method, route.path)])


ALLOWED_GETS = [
    (r, role)
    for r in SIGNED_IN
    for role in Role
    if r.method == "GET" and allowed(role, DASHBOARD_PERMISSIONS[(r.method, r.path)])
]


@pytest.mark.parametrize(
    ("route", "role"), ALLOWED_GETS, ids=[f"{r.method} {r.path} as {role}" for r, role in ALLOWED_GETS]
)
def test_an_allowed_page_is_not_refused(front, practice, world, route, role):
    desk = Desk(front, practice, role)
    resp = desk.get(path_of(route.path, world))
    assert resp.status_code in (200, 404), resp.text[:500]  # 404: the test names no real dispute or deposit
    if "{dispute_id}" not in route.path and "{deposit_id}" not in route.path:
        assert resp.status_code == 200, resp.text[:500]
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["Cache-Control"] == "no-store"


def test_without_a_session_every_page_sends_to_sign_in(front, world):
    for route in SIGNED_IN:
        resp = requests.request(route.method, front + path_of(route.path, world), allow_redirects=False, timeout=30)
        assert resp.status_code == 303, (route, resp.status_code)
        assert "/dashboard/signin" in resp.headers["Location"]


def test_the_session_cookie_is_strict_and_the_table_holds_only_its_hash(front, practice):
    desk = Desk(front, practice, Role.BILLING)
    resp = requests.post(
        front + "/dashboard/signin",
        data={"practice_id": practice, "role": "billing", "name": "Bo Billing"},
        headers={"Origin": front},
        allow_redirects=False,
        timeout=30,
    )
    raw = resp.raw.headers.getlist("Set-Cookie")[0]
    for part in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/dashboard"):
        assert part in raw, raw
    items = boto3.resource("dynamodb").Table(STAFF_TABLE.local_name).scan()["Items"]
    assert not any(desk.cookie in repr(i) for i in items), "the cookie's value is stored"
    assert any(i["pk"] == f"SESSION#{secret_hash(desk.cookie)}" for i in items)


def _age_session(cookie: str, minutes: int) -> None:
    table = boto3.resource("dynamodb").Table(STAFF_TABLE.local_name)
    stamp = (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    table.update_item(
        Key={"pk": f"SESSION#{secret_hash(cookie)}", "sk": "SESSION"},
        UpdateExpression="SET last_seen = :t",
        ExpressionAttributeValues={":t": stamp},
    )


def test_fifteen_idle_minutes_end_the_session(front, practice):
    desk = Desk(front, practice, Role.FRONT_DESK)
    assert desk.get("/dashboard/patients").status_code == 200
    _age_session(desk.cookie, 14)
    assert desk.get("/dashboard/patients").status_code == 200  # 14 minutes: still on (and touched)
    _age_session(desk.cookie, 16)
    resp = desk.get("/dashboard/patients")
    assert resp.status_code == 303 and "reason=idle" in resp.headers["Location"]
    assert desk.get("/dashboard/patients").status_code == 303  # it is gone, not only refused once


def test_sign_out_ends_the_session(front, practice):
    desk = Desk(front, practice, Role.FRONT_DESK)
    cookie = desk.cookie
    resp = desk.post("/dashboard/signout", {})
    assert resp.status_code == 303 and "reason=signedout" in resp.headers["Location"]
    desk.cookie = cookie
    assert desk.get("/dashboard").status_code == 303


def test_a_post_without_the_csrf_token_or_from_another_site_changes_nothing(front, practice, world, aws_env):
    desk = Desk(front, practice, Role.BILLING)
    form = FORMS["/dashboard/payments/{payment_id}/refunds"](world)
    before = snapshot(aws_env)
    path = f"/dashboard/payments/{world['payment_id']}/refunds"
    assert desk.post(path, {**form, "csrf": "x" * 43}, csrf=False).status_code == 403
    assert desk.post(path, form, origin="https://evil.example").status_code == 403
    assert desk._send("POST", path, {"Content-Type": "application/json"}, data="{}").status_code == 415
    assert snapshot(aws_env) == before


def test_find_a_patient_by_last_name_prefix_and_date_of_birth(front, practice, world):
    desk = Desk(front, practice, Role.FRONT_DESK)
    for query in ({"q": LAST}, {"q": LAST[:4].lower()}, {"q": f"{FIRST} {LAST}"}, {"dob": DOB}):
        page = desk.get("/dashboard/patients", **query)
        assert page.status_code == 200
        assert f"{LAST}, {FIRST}" in text(page.text), query
        assert f"/dashboard/patients/{world['patient_id']}" in page.text
    assert f"{LAST}, {FIRST}" not in text(desk.get("/dashboard/patients", q="Nobodyhere").text)


def test_a_desk_payment_a_refund_and_a_write_off_each_leave_one_audit_entry(front, practice, world, api):
    desk = Desk(front, practice, Role.BILLING, name="Bea Billing")
    invoice_id = world["invoice_id"]
    page = desk.get(f"/dashboard/invoices/{invoice_id}", payfields="1")
    assert page.status_code == 200 and "$150.00" in page.text
    token = tokenize(payfields_config(page.text), {"number": VISA, "cvv": "123"})
    submit = uuid.uuid4().hex
    paid = desk.post(
        f"/dashboard/invoices/{invoice_id}/payments",
        {"token": token, "amount": "40.00", "submit_id": submit, "started": STARTED},
    )
    assert paid.status_code == 303 and "done=paid" in paid.headers["Location"], paid.text[:300]
    again = desk.post(
        f"/dashboard/invoices/{invoice_id}/payments",
        {"token": token, "amount": "40.00", "submit_id": submit, "started": STARTED},
    )
    assert again.status_code == 303, again.text[-1500:]  # the same form twice: one payment
    payments = api.call("GET", f"/payments?invoice_id={invoice_id}")["data"]
    assert [(p["amount"], p["channel"]) for p in payments] == [(4000, "desk")]
    refund = desk.post(
        f"/dashboard/payments/{payments[0]['id']}/refunds",
        {"amount": "15.00", "reason": "billing_error", "submit_id": uuid.uuid4().hex},
    )
    assert refund.status_code == 303 and "done=refunded" in refund.headers["Location"], refund.text[:300]
    wrote_off = desk.post(f"/dashboard/invoices/{invoice_id}/write-off", {"reason": "hardship"})
    assert wrote_off.status_code == 303, wrote_off.text[:300]
    assert api.call("GET", f"/invoices/{invoice_id}")["status"] == "uncollectible"

    trail = [e for e in audit_items(practice) if e.get("invoice_id") == invoice_id and e["outcome"] == "done"]
    by_action = {}
    for e in trail:
        by_action.setdefault(e["action"], []).append(e)
    assert by_action["refund:sent"][0]["reason"] == "billing_error"
    assert by_action["refund:sent"][0]["amount"] == 1500
    assert by_action["invoice:written_off"][0]["reason"] == "hardship"
    assert all(e["name"] == "Bea Billing" and e["role"] == "billing" and e["address"] for e in trail)
    assert by_action["payment:taken"], "the desk payment is not in the trail"
    page = desk.get(f"/dashboard/invoices/{invoice_id}")
    assert "refund:sent" in page.text and "Billing error" in page.text


def issued(api: Staff, world: dict[str, str], cents: int) -> tuple[str, int]:
    """A new issued invoice of the world's patient: its id and what it owes."""
    body = {
        "patient_id": world["patient_id"],
        "due_date": (datetime.now(UTC).date() + timedelta(days=30)).isoformat(),
        "line_items": [{"description": "Lab panel", "quantity": 1, "unit_amount": cents}],
    }
    invoice_id = api.call("POST", "/invoices", body, ok=201)["id"]
    return invoice_id, api.call("POST", f"/invoices/{invoice_id}/issue", ok=200)["amount_due"]


def test_a_form_its_api_request_refuses_is_a_422_that_changes_nothing(front, practice, world, api, aws_env):
    """A value the form lets through but the API's request refuses (an amount of 0, a date that is no date, a
    setting out of range) is the staff member's to fix: a 422 page naming the field, never a 500, and no card is
    added for a desk payment that was never going to be made."""
    desk = Desk(front, practice, Role.ADMIN)
    invoice_id, _ = issued(api, world, 8800)
    page = desk.get(f"/dashboard/invoices/{invoice_id}", payfields="1")
    token = tokenize(payfields_config(page.text), {"number": VISA, "cvv": "123"})
    plan = {"installment_count": "3", "frequency": "monthly", "payment_method_id": world["method_id"]}
    paying, fix = f"/dashboard/invoices/{invoice_id}/payments", "Check these fields:"
    cases = [
        (paying, {"token": token, "amount": "0.00"}, f"{fix} amount"),
        (paying, {"token": token, "amount": "9999999"}, "$9,999,999.00 is more than the balance of $88.00"),
        (f"/dashboard/payments/{world['payment_id']}/refunds", {"amount": "0", "reason": "other"}, f"{fix} amount"),
        (f"/dashboard/invoices/{invoice_id}/payment-plan", {**plan, "first_date": "2026-13-45"}, f"{fix} first_date"),
        ("/dashboard/settings", {"pay_link_days": "999"}, f"{fix} pay_link_days"),
    ]
    before = snapshot(aws_env)
    for path, form, said in cases:
        if "settings" not in path:
            form = {**form, "submit_id": uuid.uuid4().hex, **({"started": STARTED} if "refunds" not in path else {})}
        resp = desk.post(path, form)
        assert resp.status_code == 422, (path, form, resp.status_code, text(resp.text)[:300])
        assert said in text(resp.text), text(resp.text)[-400:]
    assert snapshot(aws_env) == before
    api.call("POST", f"/invoices/{invoice_id}/cancel", ok=200)  # the aging CSV's test counts what is owed


def test_a_blank_amount_is_audited_as_the_amount_charged(front, practice, world, api):
    """The desk form's amount left blank takes the whole balance: the trail says how much, not nothing."""
    desk = Desk(front, practice, Role.BILLING)
    invoice_id, owed = issued(api, world, 6400)
    form = {"payment_method_id": world["method_id"], "submit_id": uuid.uuid4().hex, "started": STARTED}
    paid = desk.post(f"/dashboard/invoices/{invoice_id}/payments", form)
    assert paid.status_code == 303, text(paid.text)[:300]
    taken = [e for e in audit_items(practice) if e.get("invoice_id") == invoice_id and e["action"] == "payment:taken"]
    assert taken and {e["amount"] for e in taken} == {owed}


def test_a_pay_link_is_shown_once_and_audited(front, practice, world):
    desk = Desk(front, practice, Role.FRONT_DESK)
    resp = desk.post(f"/dashboard/invoices/{world['other_invoice_id']}/pay-links", {"submit_id": uuid.uuid4().hex})
    assert resp.status_code == 201, resp.text[:300]
    assert re.search(r"/pay/[A-Za-z0-9_-]{32}", resp.text)
    assert any(e["action"] == "pay_link:sent" and e["outcome"] == "done" for e in audit_items(practice))


def test_neither_the_audit_trail_nor_a_log_line_holds_a_patients_name_or_birth_date(front, practice, world, capfd):
    desk = Desk(front, practice, Role.ADMIN)
    capfd.readouterr()
    assert LAST in desk.get("/dashboard/patients", q=LAST).text
    assert LAST in desk.get(f"/dashboard/patients/{world['patient_id']}").text
    assert LAST in desk.get("/dashboard/reports/aging/csv").text
    desk.get("/dashboard/patients", q=LAST, dob="not-a-date")  # a refusal: its page, and nothing logged of it
    desk.get(f"/dashboard/invoices/{world['invoice_id']}")
    logged = "".join(capfd.readouterr()).lower()
    for phi in (FIRST.lower(), LAST.lower(), DOB):
        assert phi not in logged, f"{phi} was logged"
    entries = audit_items(practice)
    assert {"patients:searched", "patient:viewed", "report:aging:exported"} <= {e["action"] for e in entries}
    blob = repr(entries).lower()
    for phi in (FIRST.lower(), LAST.lower(), DOB):
        assert phi not in blob
    csv_text = desk.get("/dashboard/audit/csv").text
    assert "patient:viewed" in csv_text and LAST not in csv_text


def test_the_audit_export_holds_the_newest_entries_and_says_when_older_were_left_out(front, practice, monkeypatch):
    import practicepay.staff.dashboard as dashboard

    monkeypatch.setattr(dashboard, "AUDIT_EXPORT_ROWS", 3)  # the practice's trail holds far more by now
    desk = Desk(front, practice, Role.BILLING)
    resp = desk.get("/dashboard/audit/csv")
    assert resp.status_code == 200 and resp.headers["X-PracticePay-Partial"] == "older entries left out"
    assert resp.headers["Content-Disposition"].endswith('-newest.csv"')
    rows = resp.text.strip().splitlines()
    assert len(rows) == 1 + 3 and "audit:exported" in rows[1]  # the header, then the newest: this export itself


def test_the_aging_csv_names_patients_and_gives_dollars(front, practice, world):
    desk = Desk(front, practice, Role.BILLING)
    resp = desk.get("/dashboard/reports/aging/csv")
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/csv")
    assert f"{LAST}, {FIRST}" in resp.text
    assert "150.00" in resp.text and "15000" not in resp.text  # invoices of $150.00 (one is written off by then)


def test_the_blind_index_follows_a_rename_keeps_practices_apart_and_stores_no_name(front, practice, boarded, aws_env):
    api = Staff(front, practice)
    other = boarded(f"prc_dash_{uuid.uuid4().hex[:8]}")
    body = {"external_id": f"ehr-{uuid.uuid4().hex[:6]}", "first_name": "Ottoline", "last_name": "Vandersloot"}
    mine = api.call("POST", "/patients", body, ok=201)
    Staff(front, other).call("POST", "/patients", {**body, "external_id": "ehr-elsewhere"}, ok=201)
    desk = Desk(front, practice, Role.FRONT_DESK)

    def found(query: str) -> list[str]:
        return re.findall(r'href="/dashboard/patients/(pat_[0-9a-z]+)"', desk.get("/dashboard/patients", q=query).text)

    assert found("vanders") == [mine["id"]]  # the other practice's Ottoline Vandersloot is not found
    api.call("PATCH", f"/patients/{mine['id']}", {"last_name": "Quillfeather"}, ok=200)
    assert found("quill otto") == [mine["id"]]
    assert found("vandersloot") == []
    items = boto3.resource("dynamodb").Table(aws_env["PATIENTS_TABLE"]).scan()["Items"]
    stale = [i for i in items if str(i["sk"]).startswith("SEARCH#") and i["patient_id"] == mine["id"]]
    (record,) = [i for i in items if i["sk"] == f"PATIENT#{mine['id']}"]
    assert {str(i["sk"]).split("#")[1] for i in stale} == set(record["search_macs"]), "old names' index items remain"
    blob = repr(items).lower()
    assert "vandersloot" not in blob and "quillfeather" not in blob and "ottoline" not in blob
