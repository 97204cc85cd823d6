"""The staff dashboard (ADR 0018): HTML for the practice's front desk, billing office and administrator. Thin: find
the route, the staff session and its role's permission (practicepay.staff.roles), check the form's CSRF token, call
one dashboard service function, render its page. Every change runs inside an audited action (its entry rides in the
change's own transaction); every read of a patient's records is audited too. Nothing here logs a path, a form, a
query or a cookie (they carry names and dates of birth)."""

from __future__ import annotations

import base64
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, get_args
from urllib.parse import quote, urlencode

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ValidationError

from practicepay.api import browser
from practicepay.api.problems import describe
from practicepay.api.urls import api_base_url, path_prefix
from practicepay.clock import iso, utc_now
from practicepay.observability import entrypoint, logger
from practicepay.paypage.render import security_headers
from practicepay.staff import models as forms
from practicepay.staff.models import (
    ABSOLUTE_HOURS,
    SESSION_COOKIE,
    SIGNIN_MINUTES,
    Actor,
    StaffSession,
    refused_fields,
)
from practicepay.staff.render import PageRenderer
from practicepay.staff.roles import DASHBOARD_PERMISSIONS, GRANTS, Permission, Role, allowed
from practicepay.staff.sessions import SignedOut
from practicepay.staff.wiring import dashboard_config, dashboard_service, session_service

HERE = Path(__file__).parent
RENDERER = PageRenderer(HERE / "templates")
ASSETS = {"dashboard.css": "text/css", "dashboard.js": "text/javascript"}
PDF = "application/pdf"
SIGNIN = "/dashboard/signin"
CALLBACK = "/dashboard/callback"
SIGNIN_COOKIE = "pp_signin"
DONE = {
    "paid": "The payment went through.",
    "declined": "The payment was declined; nothing was charged.",
    "pending": "The payment is being decided by the processor; this page shows it when it is known.",
    "refunded": "The refund was sent.",
    "written_off": "The balance was written off.",
    "canceled": "The invoice was canceled.",
    "plan": "The payment plan is set up.",
    "accepted": "The chargeback was accepted.",
    "answered": "The answer and the evidence packet were sent; the dispute is under review.",
    "settings": "The settings were saved.",
}


class Answer:
    """What a route answers: a page, a redirect, or a file."""

    def __init__(
        self,
        status: int,
        *,
        page: str | None = None,
        context: dict[str, Any] | None = None,
        location: str | None = None,
        body: str = "",
        content_type: str = "text/html; charset=utf-8",
        headers: dict[str, str] | None = None,
        cookies: list[str] | None = None,
        binary: bool = False,
    ):
        self.status, self.page, self.context, self.location = status, page, context or {}, location
        self.body, self.content_type, self.headers, self.cookies = body, content_type, headers or {}, cookies or []
        self.binary = binary
        """`body` is base64: API Gateway turns it into bytes for a client that accepts its type (a PDF)."""


@dataclass
class Request:
    event: dict[str, Any]
    method: str
    resource: str
    prefix: str
    params: dict[str, str]
    query: dict[str, str]
    session: StaffSession | None = None
    actor: Actor | None = None
    form: dict[str, str] = field(default_factory=dict)

    @property
    def practice(self) -> str:
        return self.staff.practice_id

    @property
    def staff(self) -> Actor:
        """Who is acting: set for every signed-in route before its page runs."""
        assert self.actor is not None
        return self.actor

    def url(self, path: str, **query: str | None) -> str:
        kept = {k: v for k, v in query.items() if v}
        return f"{self.prefix}{path}{'?' + urlencode(kept) if kept else ''}"


def _address(event: dict[str, Any]) -> str:
    return str(((event.get("requestContext") or {}).get("identity") or {}).get("sourceIp") or "unknown")


def _cookie(request: Request, value: str, max_age: int) -> str:
    path = f"{request.prefix}/dashboard"
    return f"{SESSION_COOKIE}={value}; Path={path}; Max-Age={max_age}; HttpOnly; Secure; SameSite=Strict"


def _signin_cookie(request: Request, value: str, max_age: int) -> str:
    """The state of a sign-in in flight, for its callback only. Lax: the provider's redirect back is a top-level
    navigation from another site, which a Strict cookie would not go with."""
    path = f"{request.prefix}{CALLBACK}"
    return f"{SIGNIN_COOKIE}={value}; Path={path}; Max-Age={max_age}; HttpOnly; Secure; SameSite=Lax"


def _parsed(model: type[BaseModel], request: Request) -> Any:
    try:
        return model.model_validate(request.form)
    except ValidationError as exc:
        raise _FormRefused(refused_fields(exc)) from None


class _FormRefused(Exception):
    pass


def _problem(request: Request, status: int, title: str, detail: str) -> Answer:
    back = request.url(request.event.get("path", "/dashboard").removeprefix(request.prefix) or "/dashboard")
    return Answer(status, page="problem", context={"title": title, "detail": detail, "back": back})


# -- public: sign-in ---------------------------------------------------------------------------------------------


_REASONS = {
    "idle": "You were signed out after 15 minutes without activity.",
    "expired": "Your session ended; sign in again.",
    "signedout": "You have signed out.",
    "none": "Sign in to continue.",
}


def _safe_next(value: str | None) -> str:
    """Only a dashboard path of ours (never another site: an open redirect)."""
    if value and value.startswith("/dashboard") and "//" not in value and "\\" not in value:
        return value
    return "/dashboard"


def signin_page(request: Request) -> Answer:
    cfg = dashboard_config()
    reason = request.query.get("reason")
    context = {
        "message": _REASONS.get(reason or ""),
        "idle_minutes": cfg.staff_idle_minutes,
        "oidc": bool(cfg.staff_oidc_issuer and cfg.staff_oidc_client_id),
        "dev": cfg.staff_dev_signin,
        "roles": list(Role),
        "next": _safe_next(request.query.get("next")),
        "start": request.query.get("start") == "1",
    }
    if context["start"] and context["oidc"]:
        location, state = session_service().begin(_redirect_uri(request), context["next"])
        return Answer(303, location=location, cookies=[_signin_cookie(request, state, SIGNIN_MINUTES * 60)])
    return Answer(200, page="signin", context=context)


def _redirect_uri(request: Request) -> str:
    base = dashboard_config().dashboard_url or api_base_url(request.event.get("requestContext") or {})
    return f"{str(base).rstrip('/')}{CALLBACK}"


def callback(request: Request) -> Answer:
    code, state = request.query.get("code"), request.query.get("state")
    if not code or not state or len(code) > 2048 or len(state) > 256:
        return _problem(request, 403, "Sign-in refused", "The identity provider's answer is incomplete; sign in again.")
    bound = browser.cookie(request.event, SIGNIN_COOKIE)
    cookie, session, next_path = session_service().finish(code, state, _redirect_uri(request), bound)
    opened = _opened(request, cookie, session, next_path)
    # A page, not a redirect: the browser came from the provider's site, and a redirect would go on in that
    # cross-site navigation, without the new SameSite=Strict session cookie. The page's own refresh is same-site.
    context = {"next": opened.location}
    cookies = [*opened.cookies, _signin_cookie(request, "", 0)]
    return Answer(200, page="signed_in", context=context, cookies=cookies)


def dev_signin(request: Request) -> Answer:
    if not dashboard_config().staff_dev_signin:
        return _problem(request, 404, "Not found", "No route matches this method and path.")
    body = _parsed(forms.DevSignInForm, request)
    cookie, session = session_service().dev(body)
    return _opened(request, cookie, session, "/dashboard")


def _opened(request: Request, cookie: str, session: StaffSession, next_path: str) -> Answer:
    actor = Actor(session.practice_id, session.subject, session.name, session.role, _address(request.event))
    dashboard_service().record(actor, "staff:signed_in", target=session.via)
    cookies = [_cookie(request, cookie, ABSOLUTE_HOURS * 3600)]  # the server ends it sooner when idle
    return Answer(303, location=f"{request.prefix}{_safe_next(next_path)}", cookies=cookies)


def signout(request: Request) -> Answer:
    body = _parsed(forms.SignOutForm, request)
    dashboard_service().record(request.staff, "staff:signed_out", target=body.reason)
    session_service().end(browser.cookie(request.event, SESSION_COOKIE))
    location = request.url(SIGNIN, reason="idle" if body.reason == "idle" else "signedout")
    return Answer(303, location=location, cookies=[_cookie(request, "", 0)])


# -- signed in: pages --------------------------------------------------------------------------------------------


def today(request: Request) -> Answer:
    from practicepay.staff.today_wiring import today_service

    summary = today_service().today(request.practice)
    service = dashboard_service()
    service.record(request.staff, "today:viewed")
    names = service.names(request.practice, [i.patient_id for i in summary.attention if i.patient_id])
    return Answer(200, page="today", context={"today": summary, "names": names})


def patients(request: Request) -> Answer:
    q = (request.query.get("q") or "").strip()[:100] or None
    dob_text = request.query.get("dob") or ""
    external = (request.query.get("external_id") or "").strip()[:64] or None
    try:
        dob = date.fromisoformat(dob_text) if dob_text else None
    except ValueError:
        return _problem(request, 400, "Check the date of birth", "Give the date of birth as YYYY-MM-DD.")
    found, more = dashboard_service().search(request.staff, q, dob, external)
    context = {"found": found, "more": more, "searched": bool(q or dob or external), "q": q or "", "dob": dob_text}
    return Answer(200, page="patients", context={**context, "external_id": external or ""})


def patient(request: Request) -> Answer:
    return Answer(200, page="patient", context=dashboard_service().patient(request.staff, request.params["patient_id"]))


def invoice(request: Request) -> Answer:
    data = dashboard_service().invoice(
        request.staff, request.params["invoice_id"], payfields="payfields" in request.query
    )
    return Answer(200, page="invoice", context={**data, "refund_reasons": get_args(forms.RefundReason)})


def disputes(request: Request) -> Answer:
    return Answer(200, page="disputes", context=dashboard_service().dispute_list(request.practice))


def dispute(request: Request) -> Answer:
    return Answer(200, page="dispute", context=dashboard_service().dispute(request.staff, request.params["dispute_id"]))


def reports(request: Request) -> Answer:
    tab = request.query.get("tab") or "aging"
    return Answer(200, page="reports", context={"tab": tab, **dashboard_service().report(request.staff, tab)})


def report_csv(request: Request) -> Answer:
    name = request.params["report"]
    return _csv(dashboard_service().export(request.staff, name), f"{name}-{date.today().isoformat()}.csv")


def _csv(text: str, filename: str) -> Answer:
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return Answer(200, body=text, content_type="text/csv; charset=utf-8", headers=headers)


def deposit(request: Request) -> Answer:
    found = dashboard_service().reports.deposit(request.practice, request.params["deposit_id"])
    return Answer(200, page="deposit", context={"deposit": found})


def audit(request: Request) -> Answer:
    invoice_id = request.query.get("invoice_id") or None
    patient_id = request.query.get("patient_id") or None
    entries, cursor = dashboard_service().audit.query(
        request.practice, invoice_id=invoice_id, patient_id=patient_id, limit=100, cursor=request.query.get("cursor")
    )
    context = {"entries": entries, "cursor": cursor, "invoice_id": invoice_id, "patient_id": patient_id}
    return Answer(200, page="audit", context=context)


def audit_csv(request: Request) -> Answer:
    invoice_id = request.query.get("invoice_id") or None
    patient_id = request.query.get("patient_id") or None
    text, partial = dashboard_service().audit_csv(request.staff, invoice_id, patient_id)
    answer = _csv(text, f"audit-{date.today().isoformat()}{'-newest' if partial else ''}.csv")
    if partial:  # the newest AUDIT_EXPORT_ROWS: the file's name and this header say older entries were left out
        answer.headers["X-PracticePay-Partial"] = "older entries left out"
    return answer


def settings(request: Request) -> Answer:
    return Answer(200, page="settings", context={"practice": dashboard_service().practices.get(request.practice)})


def users(request: Request) -> Answer:
    staff = dashboard_service().staff(request.practice)
    grants = {role: sorted(p.value for p in GRANTS[role]) for role in Role}
    return Answer(200, page="users", context={"staff": staff, "grants": grants})


def evidence(request: Request) -> Answer:
    dispute_id = request.params["dispute_id"]
    pdf = dashboard_service().evidence(request.staff, dispute_id)
    headers = {"Content-Disposition": f'inline; filename="evidence-{dispute_id}.pdf"'}
    return Answer(200, body=base64.b64encode(pdf).decode(), content_type=PDF, headers=headers, binary=True)


# -- signed in: actions (the service audits each; on success a redirect to the page, which says what was done) -------


def take_payment(request: Request) -> Answer:
    invoice_id = request.params["invoice_id"]
    payment = dashboard_service().take_payment(request.staff, invoice_id, _parsed(forms.DeskPaymentForm, request))
    done = {"failed": "declined", "succeeded": "paid"}.get(payment.status.value, "pending")
    return Answer(303, location=request.url(f"/dashboard/invoices/{invoice_id}", done=done))


def invoice_link(request: Request) -> Answer:
    body, invoice_id = _parsed(forms.PayLinkForm, request), request.params["invoice_id"]
    link = dashboard_service().send_invoice_link(request.staff, invoice_id, body.submit_id, _api_base(request))
    return Answer(201, page="link", context={"link": link, "back": request.url(f"/dashboard/invoices/{invoice_id}")})


def balance_link(request: Request) -> Answer:
    body, patient_id = _parsed(forms.PayLinkForm, request), request.params["patient_id"]
    link = dashboard_service().send_balance_link(request.staff, patient_id, body.submit_id, _api_base(request))
    return Answer(201, page="link", context={"link": link, "back": request.url(f"/dashboard/patients/{patient_id}")})


def _api_base(request: Request) -> str:
    return api_base_url(request.event.get("requestContext") or {})


def refund(request: Request) -> Answer:
    paid = dashboard_service().refund(request.staff, request.params["payment_id"], _parsed(forms.RefundForm, request))
    return Answer(303, location=request.url(f"/dashboard/invoices/{paid.invoice_id}", done="refunded"))


def write_off(request: Request) -> Answer:
    body, invoice_id = _parsed(forms.WriteOffForm, request), request.params["invoice_id"]
    dashboard_service().act(request.staff, invoice_id, "write_off", body.reason)
    return Answer(303, location=request.url(f"/dashboard/invoices/{invoice_id}", done="written_off"))


def cancel(request: Request) -> Answer:
    body, invoice_id = _parsed(forms.CancelForm, request), request.params["invoice_id"]
    dashboard_service().act(request.staff, invoice_id, "cancel", body.reason)
    return Answer(303, location=request.url(f"/dashboard/invoices/{invoice_id}", done="canceled"))


def start_plan(request: Request) -> Answer:
    invoice_id = request.params["invoice_id"]
    dashboard_service().start_plan(request.staff, invoice_id, _parsed(forms.PlanForm, request))
    return Answer(303, location=request.url(f"/dashboard/invoices/{invoice_id}", done="plan"))


def accept_dispute(request: Request) -> Answer:
    body, dispute_id = _parsed(forms.AcceptForm, request), request.params["dispute_id"]
    dashboard_service().accept_dispute(request.staff, dispute_id, body.submit_id)
    return Answer(303, location=request.url(f"/dashboard/disputes/{dispute_id}", done="accepted"))


def respond_dispute(request: Request) -> Answer:
    body, dispute_id = _parsed(forms.RespondForm, request), request.params["dispute_id"]
    dashboard_service().respond_dispute(request.staff, dispute_id, body.note, body.submit_id)
    return Answer(303, location=request.url(f"/dashboard/disputes/{dispute_id}", done="answered"))


def change_settings(request: Request) -> Answer:
    dashboard_service().change_settings(request.staff, _parsed(forms.SettingsForm, request))
    return Answer(303, location=request.url("/dashboard/settings", done="settings"))


PUBLIC: dict[tuple[str, str], Callable[[Request], Answer]] = {
    ("GET", "/dashboard/signin"): signin_page,
    ("POST", "/dashboard/signin"): dev_signin,
    ("GET", "/dashboard/callback"): callback,
}
PAGES: dict[tuple[str, str], Callable[[Request], Answer]] = {
    ("GET", "/dashboard"): today,
    ("POST", "/dashboard/signout"): signout,
    ("GET", "/dashboard/patients"): patients,
    ("GET", "/dashboard/patients/{patient_id}"): patient,
    ("POST", "/dashboard/patients/{patient_id}/pay-links"): balance_link,
    ("GET", "/dashboard/invoices/{invoice_id}"): invoice,
    ("POST", "/dashboard/invoices/{invoice_id}/payments"): take_payment,
    ("POST", "/dashboard/invoices/{invoice_id}/pay-links"): invoice_link,
    ("POST", "/dashboard/invoices/{invoice_id}/payment-plan"): start_plan,
    ("POST", "/dashboard/invoices/{invoice_id}/write-off"): write_off,
    ("POST", "/dashboard/invoices/{invoice_id}/cancel"): cancel,
    ("POST", "/dashboard/payments/{payment_id}/refunds"): refund,
    ("GET", "/dashboard/disputes"): disputes,
    ("GET", "/dashboard/disputes/{dispute_id}"): dispute,
    ("GET", "/dashboard/disputes/{dispute_id}/evidence"): evidence,
    ("POST", "/dashboard/disputes/{dispute_id}/respond"): respond_dispute,
    ("POST", "/dashboard/disputes/{dispute_id}/accept"): accept_dispute,
    ("GET", "/dashboard/reports"): reports,
    ("GET", "/dashboard/reports/{report}/csv"): report_csv,
    ("GET", "/dashboard/deposits/{deposit_id}"): deposit,
    ("GET", "/dashboard/audit"): audit,
    ("GET", "/dashboard/audit/csv"): audit_csv,
    ("GET", "/dashboard/settings"): settings,
    ("POST", "/dashboard/settings"): change_settings,
    ("GET", "/dashboard/users"): users,
}
assert set(PAGES) == set(DASHBOARD_PERMISSIONS), "every signed-in route has a page and a permission"


def _asset(name: str | None) -> dict[str, Any]:
    if name not in ASSETS:
        return {"statusCode": 404, "headers": {"Content-Type": "text/plain"}, "body": "Not found"}
    headers = {
        "Content-Type": f"{ASSETS[name]}; charset=utf-8",
        "Cache-Control": "public, max-age=3600",
        "X-Content-Type-Options": "nosniff",
    }
    return {"statusCode": 200, "headers": headers, "body": (HERE / "assets" / name).read_text()}


def _signed_in(request: Request, key: tuple[str, str]) -> Answer:
    sessions = session_service()
    try:
        session = sessions.current(browser.cookie(request.event, SESSION_COOKIE))
    except SignedOut as out:
        here = request.event.get("path", "").removeprefix(request.prefix)
        location = request.url(SIGNIN, reason=out.reason, next=here if request.method == "GET" else None)
        return Answer(303, location=location, cookies=[_cookie(request, "", 0)] if out.reason != "none" else [])
    request.session = session
    request.actor = Actor(session.practice_id, session.subject, session.name, session.role, _address(request.event))
    if request.method == "POST":
        posted = browser.form(request.event)
        if posted is None:
            return _problem(request, 415, "Not a form", "Send the page's form (application/x-www-form-urlencoded).")
        if not browser.same_origin(request.event) or not hmac.compare_digest(
            posted.get("csrf", "").encode(), session.csrf.encode()
        ):
            return _problem(request, 403, "This form has expired", "Reload the page and try again.")
        request.form = posted
    permission = DASHBOARD_PERMISSIONS[key]
    if not allowed(session.staff_role, permission):
        dashboard_service().auditor.denied(request.actor, str(permission), **_targets(request))
        return _problem(
            request,
            403,
            "Not allowed for your role",
            f"Your role ({session.staff_role.label}) may not do this ({permission}). Ask your practice's "
            "administrator.",
        )
    return PAGES[key](request)


def _targets(request: Request) -> dict[str, str]:
    out = {k: v[:64] for k, v in request.params.items() if k in ("invoice_id", "patient_id")}
    other = next((v[:64] for k, v in request.params.items() if k not in ("invoice_id", "patient_id")), None)
    return {**out, **({"target": other} if other else {})}


def _answer(request: Request, answer: Answer) -> dict[str, Any]:
    headers: dict[str, Any] = {"Content-Type": answer.content_type, **answer.headers}
    payfields = (answer.context.get("payfields") or {}).get("origin") if answer.page else None
    headers.update(security_headers(payfields))
    if answer.location is not None:
        headers["Location"] = answer.location
        return {
            "statusCode": answer.status,
            "headers": headers,
            "multiValueHeaders": {"Set-Cookie": answer.cookies},
            "body": "",
        }
    body = answer.body
    if answer.page is not None:
        body = RENDERER.render(answer.page, {**_base(request), **answer.context})
    return {
        "statusCode": answer.status,
        "headers": headers,
        "multiValueHeaders": {"Set-Cookie": answer.cookies},
        "body": body,
        "isBase64Encoded": answer.binary,
    }


def _base(request: Request) -> dict[str, Any]:
    session = request.session
    role = session.staff_role if session else None
    return {
        "prefix": request.prefix,
        "session": session,
        "role": role,
        "can": (lambda permission: role is not None and allowed(role, Permission(permission))),
        "csrf": session.csrf if session else "",
        "idle_seconds": session.idle_left(utc_now()) if session else 0,
        "done": DONE.get(request.query.get("done", "")),
        "url": request.url,
        "quote": quote,
        "submit_id": lambda: secrets.token_urlsafe(16),  # a form's own id: posted twice, it acts once
        "started": iso(utc_now()),
        "in_days": lambda n: (date.today() + timedelta(days=n)).isoformat(),
    }


@entrypoint()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    method = str(event.get("httpMethod") or "")
    resource = str(event.get("resource") or "")
    if (method, resource) == ("GET", "/dashboard/assets/{asset}"):
        return _asset((event.get("pathParameters") or {}).get("asset"))
    request = Request(
        event=event,
        method=method,
        resource=resource,
        prefix=path_prefix(event.get("requestContext") or {}),
        params={k: str(v) for k, v in (event.get("pathParameters") or {}).items()},
        query={k: str(v) for k, v in (event.get("queryStringParameters") or {}).items()},
    )
    key = (method, resource)
    try:
        if key in PUBLIC:
            if method == "POST":
                posted = browser.form(event)
                if posted is None or not browser.same_origin(event):
                    answer = _problem(request, 403 if posted is not None else 415, "Refused", "Use the sign-in page.")
                    return _answer(request, answer)
                request.form = posted
            answer = PUBLIC[key](request)
        elif key in PAGES:
            answer = _signed_in(request, key)
        else:
            answer = _problem(request, 404, "Not found", "No page matches this method and path.")
    except _FormRefused as exc:
        answer = _problem(request, 422, "Check the form", str(exc))
    except Exception as exc:
        known = describe(exc)
        if known is None:
            logger.exception("dashboard failed")  # the traceback, never the path, query, form or cookie
            answer = _problem(request, 500, "Something went wrong", "Try again; if it persists, tell support.")
        else:
            status, _slug, title, detail = known
            answer = _problem(request, status, title, detail)
    return _answer(request, answer)
