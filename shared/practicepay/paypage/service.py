"""The pay page's logic: what a pay link shows, the identity check, and paying or enrolling through the same money
core as the API (ADR 0015). It speaks screens (a name and what the screen shows); the handler renders them.

Nothing is shown before identity but the practice's name (and, for a closed bill, that it is closed). A verified
session is a random cookie whose hash is a short-lived item bound to the link; every form carries the session's CSRF
token and a submit id, the Idempotency-Key of what the form does, so a double click or a refresh never charges
twice."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from practicepay.adapters.vault import PhiVault
from practicepay.clock import Clock, from_iso, iso, utc_now
from practicepay.errors import PracticePayError
from practicepay.invoices import lifecycle
from practicepay.invoices.models import InvoiceRecord, InvoiceStatus
from practicepay.invoices.service import LINE_ITEMS_PURPOSE
from practicepay.observability import logger
from practicepay.patients.models import AddPaymentMethodRequest, Demographics, MethodConsent
from practicepay.paylinks.models import (
    IP_LOCK_AFTER_FAILURES,
    LOCK_AFTER_FAILURES,
    REVOKE_AFTER_FAILURES,
    SECRET_PATTERN,
    SESSION_MINUTES,
    PageSession,
    PayLinkRecord,
    Submission,
    secret_hash,
)
from practicepay.paylinks.service import link_event
from practicepay.paylinks.store import PayLinkStore
from practicepay.payments.models import CreatePaymentRequest, Payment, PaymentStatus
from practicepay.payments.service import IN_FLIGHT_SECONDS
from practicepay.paypage.forms import IdentityForm, PayForm, PlanForm
from practicepay.practices import Practice

if TYPE_CHECKING:
    from practicepay.patients.store import MethodRecord
    from practicepay.payments.service import PaymentService

_SECRET = re.compile(SECRET_PATTERN)
_SUBMISSION_ID = re.compile(r"^rc_[0-9a-f]{26}$")
CLOSED = {
    InvoiceStatus.PAID.value: "paid",
    InvoiceStatus.PARTIALLY_REFUNDED.value: "paid",
    InvoiceStatus.REFUNDED.value: "paid",
    InvoiceStatus.CANCELED.value: "canceled",
    InvoiceStatus.UNCOLLECTIBLE.value: "closed",
}
TXN_SESSION_MINUTES = 15
"""A PayFields txnSession lives this long and tokenizes at most TXN_SESSION_USES times (card-testing defence)."""
TXN_SESSION_USES = 3
ECHECK_SETTLE_BUSINESS_DAYS = 3
"""What the processing screen promises: an eCheck settles in about this many business days (Payrix: next batch,
funded in 3-5; splash-api.md §6.2)."""
CONSENT_VERSIONS = {
    "save": "pay-page-card-on-file-v1",
    "single": "pay-page-single-payment-v1",
    "plan": "pay-page-plan-v1",
    "ach": "pay-page-ach-debit-v1",
}


@dataclass(frozen=True)
class Screen:
    name: str
    status: int = 200
    context: dict[str, Any] = field(default_factory=dict)
    cookie: str | None = None
    """A new session cookie's value to set (the handler scopes it to the link's path)."""
    redirect: str | None = None
    """A path under the link (303 See Other), e.g. "" (the link itself) or "receipts/<id>"."""


@dataclass
class PayPageService:
    links: PayLinkStore
    payments: PaymentService
    billing: Any  # () -> BillingService, built on first plan (the plans' tables)
    vault: PhiVault
    events_table: str
    clock: Clock = utc_now

    # -- the link's first screen, or the bill -------------------------------------------------------------------

    def open(self, secret: str, cookie: str | None, language: str | None, method: str) -> Screen:
        found = self._link(secret)
        if isinstance(found, Screen):
            return found
        link, practice = found
        now = self.clock()
        base = self._base(practice, language)
        session = self._session(cookie, link, now)
        gone = _gone(link, now, base)  # a verified session too: staff's revoke ends the link at once
        if gone is not None:
            return gone
        if session is not None and session.verified:
            return self._bill(link, practice, session, base, method)
        ended = self._ended(link, practice, now, base)
        if ended is not None:
            return ended
        if link.status(now) == "used_up":
            return Screen("ended", 410, {**base, "reason": "used_up"})
        cookie_value = None
        if session is None:  # a browser opening the link (a live session not yet verified is kept, reloads too)
            self.links.opened(link, now)
            session, cookie_value = self._new_session(link, now, base["language"])
        return Screen("identity", 200, {**base, **self._identity_context(practice, session)}, cookie=cookie_value)

    def verify(self, secret: str, cookie: str | None, form: dict[str, str], address: str) -> Screen:
        found = self._link(secret)
        if isinstance(found, Screen):
            return found
        link, practice = found
        now = self.clock()
        base = self._base(practice, form.get("lang"))
        ended = self._ended(link, practice, now, base)
        if ended is not None:
            return ended
        session = self._session(cookie, link, now)
        if session is None or not _same(session.csrf, form.get("csrf", "")):
            session, value = self._new_session(link, now, base["language"])
            context = {**base, **self._identity_context(practice, session), "error": "session_expired"}
            return Screen("identity", 403, context, cookie=value)
        try:
            answer = IdentityForm.model_validate(form)
        except ValidationError:
            answer = None
        mode = practice.settings.pay_page_identity
        if answer is None or not answer.complete(mode):  # not an answer (a field missing, no such date): not counted
            return Screen("identity", 422, {**base, **self._identity_context(practice, session), "error": "form"})
        patient = self.payments.patients.demographics_of(link.practice_id, link.patient_id)
        if patient is None or not patient.answers(mode):  # nothing to check against: never counted
            return Screen("unverifiable", 409, base)
        address_hash = _address_hash(address)
        if self.links.count_address_attempt(address_hash, now) > IP_LOCK_AFTER_FAILURES:
            return Screen("locked", 429, {**base, "reason": "address"})
        try:
            practice.merchant_for_charging()  # before a use of the link is spent on a bill that cannot be paid now
        except PracticePayError:
            return Screen("unavailable", 503, base)
        cap = LOCK_AFTER_FAILURES if link.locked_until is None else REVOKE_AFTER_FAILURES
        counted = self.links.count_attempt(link, now, cap)
        if counted is None:  # locked or revoked meanwhile (answers sent at once): the answer is not judged
            return self._ended(self.links.get(link.secret_hash) or link, practice, now, base) or Screen(
                "locked", 423, {**base, "reason": "address"}
            )
        if not _matches(patient, mode, answer):
            return self._wrong(link, practice, session, base, counted, now)
        self.links.count_address_attempt(address_hash, now, back=True)
        if not self.links.use(link, now):
            return Screen("ended", 410, {**base, "reason": "used_up"})
        # A new session for the verified patient (a new cookie and CSRF token): the one the identity form was posted
        # under, which a page before identity handed out, is dropped, so nobody who planted or saw it rides on it.
        _, value = self._new_session(link, now, base["language"], verified=True)
        self.links.end_session(session, now)
        return Screen("redirect", 303, redirect=_lang_query(base["language"]), cookie=value)

    # -- paying -------------------------------------------------------------------------------------------------

    def pay(self, secret: str, cookie: str | None, form: dict[str, str]) -> Screen:
        found = self._verified(secret, cookie, form)
        if isinstance(found, Screen):
            return found
        link, practice, session, base = found
        try:
            body = PayForm.model_validate(form)
        except ValidationError as exc:
            return self._bill(link, practice, session, base, form.get("method", "card"), error=_first_error(exc))
        submission_id = _submission_id(link, body.submit_id)
        seen = self.links.submission(submission_id)
        if seen is not None:  # this form was posted before: what it did, nothing charged again
            return self._seen(link, practice, session, base, seen, body.method)
        if not self._fresh(body.started):
            return self._bill(link, practice, session, base, body.method, error="form")
        invoices = self._invoices(link)
        due = sum(i.payable_balance for i in invoices)
        amount = due if body.amount_choice == "full" else body.amount_cents()
        settings = practice.settings
        if amount is None or amount <= 0 or amount > due or (amount < due and amount < settings.minimum_payment):
            return self._bill(link, practice, session, base, body.method, error="amount")
        started = Submission(
            id=submission_id,
            link_hash=link.secret_hash,
            state="started",
            created_at=iso(self.clock()),
            invoice_ids=tuple(i.id for i in invoices),
        )
        seen = self.links.start_submission(started, link)
        if seen is not None:  # the same form, posted twice at once: the other post pays
            return self._seen(link, practice, session, base, seen, body.method)
        try:
            method = self._method(link, body.token, body.method, body.saved, base["language"], body.started)
        except PracticePayError as exc:
            logger.info("pay page payment method refused", link_id=link.id, error=type(exc).__name__)
            return self._refused(link, practice, session, base, started, body.method, "refused")
        unverified = False
        try:
            if method.kind != ("card" if body.method == "card" else "bank_account"):  # the token, not the form, says
                return self._refused(link, practice, session, base, started, body.method, "form")
            unverified = method.kind == "bank_account" and self.payments.patients.verify_account(method) is not None
            if unverified:  # removed at Splash and here already
                return self._refused(link, practice, session, base, started, "bank", "bank_unverified")
            paid = self._charge(link, invoices, amount, method.id, f"pay-page:{submission_id}")
        except PracticePayError as exc:  # refused before anything was charged (paid in another tab meanwhile, …)
            logger.info("pay page payment refused", link_id=link.id, error=type(exc).__name__)
            return self._refused(link, practice, session, base, started, body.method, "refused")
        finally:
            if not body.saved and not unverified:  # kept for this payment only (a refund needs only the txn)
                self._forget(method)
        last = paid[-1]
        declined = _category(last) if last.status is PaymentStatus.FAILED else None
        done = replace(
            started,
            state="declined" if declined else "paid",
            payment_ids=tuple(p.id for p in paid if p.status is not PaymentStatus.FAILED),
            outcome=declined,
        )
        self.links.finish_submission(done, link)
        return self._seen(link, practice, session, base, done, body.method)

    def _refused(
        self,
        link: PayLinkRecord,
        practice: Practice,
        session: PageSession,
        base: dict[str, Any],
        started: Submission,
        method: str,
        error: str,
    ) -> Screen:
        """Nothing was charged: the bill again with the error, and the submission says so (a repost shows it too)."""
        self.links.finish_submission(replace(started, state="refused", outcome=error), link)
        return self._bill(link, practice, session, base, method, error=error)

    def _seen(
        self,
        link: PayLinkRecord,
        practice: Practice,
        session: PageSession,
        base: dict[str, Any],
        submission: Submission,
        method: str,
    ) -> Screen:
        """The answer to a submission: its receipt (paid, or still being decided: the receipt page settles it), the
        decline, or the bill with the refusal."""
        if submission.state == "declined":
            paid_before = [self.payments.get(link.practice_id, pid) for pid in submission.payment_ids]
            return Screen("declined", 402, {**base, "category": submission.outcome, "paid_before": paid_before})
        if submission.state == "refused":
            return self._bill(link, practice, session, base, method, error=submission.outcome or "refused")
        return Screen("redirect", 303, redirect=f"receipts/{submission.id}{_lang_query(base['language'])}")

    def plan(self, secret: str, cookie: str | None, form: dict[str, str]) -> Screen:
        found = self._verified(secret, cookie, form)
        if isinstance(found, Screen):
            return found
        link, practice, session, base = found
        invoices = self._invoices(link) if link.invoice_id else []
        if invoices and invoices[0].plan_id in link.plan_ids:  # the plan was made here (this form, posted again)
            return self._plan_done(link, base, self.billing().get_plan(link.practice_id, invoices[0].id), 200)
        options = plan_options(practice, invoices, self.clock().date())
        try:
            body = PlanForm.model_validate(form)
        except ValidationError as exc:
            return self._bill(link, practice, session, base, "card", error=_first_error(exc))
        if not self._fresh(body.started):
            return self._bill(link, practice, session, base, "card", error="form")
        choice = next((o for o in (options or {}).get("counts", []) if o["count"] == body.count), None)
        first = body.first_date
        if options is None or choice is None or not (options["first_min"] <= first <= options["first_max"]):
            return self._bill(link, practice, session, base, "card", error="plan")
        from practicepay.billing.models import AutopayConsent, CreatePlanRequest

        try:
            method = self._method(link, body.token, "card", True, base["language"], body.started, plan=True)
            request = CreatePlanRequest(
                installment_count=body.count,
                frequency="monthly",
                first_date=first,
                payment_method_id=method.id,
                consent=AutopayConsent(
                    text_version=f"{CONSENT_VERSIONS['plan']}-{base['language']}",
                    accepted_at=body.started,
                    max_amount=options["counts"][0]["first"],  # the cap the consent text showed
                ),
            )
            plan = self.billing().create_plan(link.practice_id, invoices[0].id, f"pay-page:{body.submit_id}", request)
        except PracticePayError as exc:
            logger.info("pay page plan refused", link_id=link.id, error=type(exc).__name__)
            return self._bill(link, practice, session, base, "card", error="refused")
        self.links.add_outcome(link, plan_id=plan.id)
        return self._plan_done(link, base, plan, 201)

    def _plan_done(self, link: PayLinkRecord, base: dict[str, Any], plan: Any, status: int) -> Screen:
        method = self.payments.patients.store.get_method(link.practice_id, link.patient_id, plan.payment_method_id)
        label = {"last4": method.last4, "brand": method.brand} if method else {"last4": "", "brand": None}
        return Screen("plan_done", status, {**base, "plan": plan, **label})

    def receipt(self, secret: str, cookie: str | None, receipt_id: str, language: str | None) -> Screen:
        found = self._verified(secret, cookie, None, language)
        if isinstance(found, Screen):
            return found
        link, practice, session, base = found
        submission = self.links.submission(receipt_id) if _SUBMISSION_ID.match(receipt_id) else None
        if submission is None or submission.link_hash != link.secret_hash:
            return Screen("not_found", 404, base)
        if submission.state == "started":  # still running, or cut short: read what its key paid
            submission = self._settle_submission(link, submission)
        if submission.state != "paid" and submission.state != "started":
            return self._seen(link, practice, session, base, submission, "card")
        payments = [self.payments.get(link.practice_id, pid) for pid in submission.payment_ids]
        payments = [p for p in payments if p.status is not PaymentStatus.FAILED]  # one that failed later: not paid
        methods = {p.payment_method_id: self._method_label(link, p) for p in payments}
        return Screen(
            "receipt",
            200,
            {
                **base,
                "receipt_id": receipt_id,
                "payments": payments,
                "methods": methods,
                "total": sum(p.amount for p in payments),
                "processing": any(p.status is PaymentStatus.PROCESSING for p in payments),
                "confirming": submission.state == "started"
                or any(p.status in (PaymentStatus.PENDING, PaymentStatus.UNKNOWN) for p in payments),
                "settles_by": _business_days(from_iso(submission.created_at).date(), ECHECK_SETTLE_BUSINESS_DAYS),
                "created_at": submission.created_at,
            },
        )

    def _settle_submission(self, link: PayLinkRecord, submission: Submission) -> Submission:
        """A submission still `started`: the payments its key made on its invoices (the money core's guards). Once
        the request that started it is over (IN_FLIGHT_SECONDS) what those say is its outcome; before, it stays
        started and the receipt page asks the browser to look again in a few seconds."""
        key = f"pay-page:{submission.id}"
        payments: list[Payment] = []
        for invoice_id in submission.invoice_ids:
            _, guard = self.payments.keyed(link.practice_id, invoice_id, key)
            if guard is None:
                break
            payments.append(self.payments.get(link.practice_id, guard.payment_id))
        over = self.clock() - from_iso(submission.created_at) > timedelta(seconds=IN_FLIGHT_SECONDS)
        if not over:
            return replace(submission, payment_ids=tuple(p.id for p in payments))
        failed = next((p for p in payments if p.status is PaymentStatus.FAILED), None)
        taken = tuple(p.id for p in payments if p.status is not PaymentStatus.FAILED)
        if failed is not None:
            done = replace(submission, state="declined", payment_ids=taken, outcome=_category(failed))
        elif taken:
            done = replace(submission, state="paid", payment_ids=taken)
        else:
            done = replace(submission, state="refused", outcome="refused")
        self.links.finish_submission(done, link)
        return done

    def _fresh(self, started: str) -> bool:
        """The form's time (when the page showing the consent text was made: the consent's `accepted_at`, the same
        on a resubmit of the same form) is recent and not in the future, so a consent cannot be back- or
        forward-dated."""
        try:
            shown = from_iso(started)
        except ValueError:
            return False
        now = self.clock()
        return now - timedelta(minutes=SESSION_MINUTES * 2) <= shown <= now + timedelta(seconds=5)

    # -- internals ----------------------------------------------------------------------------------------------

    def _link(self, secret: str) -> tuple[PayLinkRecord, Practice] | Screen:
        link = self.links.get(secret_hash(secret)) if _SECRET.match(secret or "") else None
        if link is None:
            return Screen("not_found", 404, {"practice_name": None, "language": "en"})
        return link, self.payments.practices.require(link.practice_id)

    def _base(self, practice: Practice, language: str | None) -> dict[str, Any]:
        lang = language if language in ("en", "es") else practice.settings.pay_page_language
        return {
            "practice_name": practice.name,
            "contact_phone": practice.settings.contact_phone,
            "contact_email": practice.settings.contact_email,
            "language": lang,
        }

    def _ended(self, link: PayLinkRecord, practice: Practice, now: datetime, base: dict) -> Screen | None:
        gone = _gone(link, now, base)
        if gone is not None:
            return gone
        if link.status(now) == "locked":
            return Screen("locked", 423, {**base, "reason": "link", "until": link.locked_until})
        invoices = self._invoices(link, include_closed=True)
        if not any(i.status in lifecycle.PAYABLE and i.payable_balance > 0 for i in invoices):
            states = {CLOSED.get(i.status, "closed") for i in invoices} or {"closed"}
            state = "paid" if states == {"paid"} else ("canceled" if states == {"canceled"} else "closed")
            return Screen("closed", 200, {**base, "state": state})
        return None

    def _session(self, cookie: str | None, link: PayLinkRecord, now: datetime) -> PageSession | None:
        if not cookie or len(cookie) > 100:
            return None
        session = self.links.session(secret_hash(cookie))
        if session is None or session.link_hash != link.secret_hash or not session.live(now):
            return None
        return session

    def _new_session(
        self, link: PayLinkRecord, now: datetime, language: str, verified: bool = False
    ) -> tuple[PageSession, str]:
        value = secrets.token_urlsafe(32)
        session = PageSession(
            id_hash=secret_hash(value),
            link_hash=link.secret_hash,
            csrf=secrets.token_urlsafe(24),
            expires_at=iso(now + timedelta(minutes=SESSION_MINUTES)),
            verified=verified,
            language=language,
        )
        self.links.put_session(session)
        return session, value

    def _verified(
        self, secret: str, cookie: str | None, form: dict[str, str] | None, language: str | None = None
    ) -> tuple[PayLinkRecord, Practice, PageSession, dict[str, Any]] | Screen:
        """The link and its verified session, or the screen to answer instead (a POST must carry its CSRF token)."""
        found = self._link(secret)
        if isinstance(found, Screen):
            return found
        link, practice = found
        now = self.clock()
        session = self._session(cookie, link, now)
        base = self._base(practice, (form or {}).get("lang") or language or (session.language if session else None))
        gone = _gone(link, now, base)
        if gone is not None:
            return gone
        if session is None or not session.verified:
            return Screen("redirect", 303, redirect=_lang_query(base["language"]))
        if form is not None and not _same(session.csrf, form.get("csrf", "")):
            return Screen("forbidden", 403, base)
        return link, practice, session, base

    def _identity_context(self, practice: Practice, session: PageSession) -> dict[str, Any]:
        return {"identity": practice.settings.pay_page_identity, "csrf": session.csrf}

    def _wrong(
        self,
        link: PayLinkRecord,
        practice: Practice,
        session: PageSession,
        base: dict[str, Any],
        failures: int,
        now: datetime,
    ) -> Screen:
        """A wrong answer, already counted (`failures`: the link's count with it)."""
        after = link.after_failure(failures, now)
        event = None  # exactly one request counts to 5 (and to 10): it alone locks (revokes) and tells
        if failures == REVOKE_AFTER_FAILURES:
            event = link_event(link, "pay_link.revoked", now, reason="too_many_failures", identity_failures=failures)
        elif failures == LOCK_AFTER_FAILURES:
            event = link_event(
                link, "pay_link.locked", now, locked_until=after.locked_until, identity_failures=failures
            )
        self.links.apply_failure(after, self.events_table, event)
        logger.info("pay link identity failed", link_id=link.id, failures=failures)
        if after.revoked_at is not None:
            return Screen("ended", 410, {**base, "reason": "too_many_failures"})
        if after.status(now) == "locked":
            return Screen("locked", 423, {**base, "reason": "link", "until": after.locked_until})
        context = {**base, **self._identity_context(practice, session), "error": "identity"}
        return Screen("identity", 422, context)

    def _invoices(self, link: PayLinkRecord, include_closed: bool = False) -> list[InvoiceRecord]:
        store = self.payments.invoices
        if link.invoice_id:
            invoice = store.get(link.practice_id, link.invoice_id)
            found = [invoice] if invoice else []
        else:
            found = store.open_for_patient(link.practice_id, link.patient_id)
        if include_closed:
            return found
        owed = (i for i in found if i.status in lifecycle.PAYABLE and i.payable_balance > 0)
        return sorted(owed, key=lambda i: (i.due_date, i.id))

    def _bill(
        self,
        link: PayLinkRecord,
        practice: Practice,
        session: PageSession,
        base: dict[str, Any],
        method: str,
        error: str | None = None,
    ) -> Screen:
        invoices = self._invoices(link)
        if not invoices:
            return self._ended(link, practice, self.clock(), base) or Screen("closed", 200, {**base, "state": "closed"})
        method = "bank" if method == "bank" else "card"
        try:
            payfields = self._payfields(link, practice, method)
        except PracticePayError as exc:  # cannot take payments now (a held merchant, Splash down): nothing shown
            logger.warning("pay page cannot take payments", link_id=link.id, error=type(exc).__name__)
            return Screen("unavailable", 503, base)
        bills = []
        for invoice in invoices:
            lines = self.vault.open(
                invoice.line_items_sealed, practice_id=invoice.practice_id, purpose=LINE_ITEMS_PURPOSE
            )
            bills.append({"invoice": invoice, "due": invoice.payable_balance, "lines": lines})
        due = sum(b["due"] for b in bills)
        today = self.clock().date()
        return Screen(
            "bill",
            200 if error is None else 422,
            {
                **base,
                "bills": bills,
                "due": due,
                "due_date": min(i.due_date for i in invoices),
                "minimum": min(practice.settings.minimum_payment, due),
                "method": method,
                "csrf": session.csrf,
                "submit_id": secrets.token_urlsafe(16),
                "started": iso(self.clock()),
                "payfields": payfields,
                "plans": plan_options(practice, invoices, today) if link.invoice_id else None,
                "error": error,
                "consent_versions": CONSENT_VERSIONS,
            },
        )

    def _payfields(self, link: PayLinkRecord, practice: Practice, method: str) -> dict[str, Any]:
        return payfields_config(self.payments, practice, link.patient_id, method)

    def _method(
        self,
        link: PayLinkRecord,
        token: str,
        kind: str,
        save: bool,
        language: str,
        started: str,
        plan: bool = False,
    ) -> MethodRecord:
        """The PayFields token as a payment method of the patient (checked at Splash to be theirs), with the consent
        the page showed: on file when the patient saved it (or for a plan), else for this payment only."""
        version = CONSENT_VERSIONS["ach" if kind == "bank" else ("save" if save or plan else "single")]
        body = AddPaymentMethodRequest(
            token=token,
            consent=MethodConsent(
                text_version=f"{version}-{language}",
                accepted_at=started,
                captured_by="patient",
                channel="pay_page",
            ),
        )
        return self.payments.patients.add_method_record(link.practice_id, link.patient_id, f"pay-page:{token}", body)

    def _forget(self, method: MethodRecord) -> None:
        """A card the patient did not save: removed once its payment is done (a refund needs only the txn)."""
        try:
            self.payments.patients.remove(method)
        except PracticePayError:
            logger.warning("unsaved pay page card not removed", method_id=method.id)

    def _charge(
        self, link: PayLinkRecord, invoices: list[InvoiceRecord], amount: int, method_id: str, key: str
    ) -> list[Payment]:
        """Pay `amount` oldest due first, one payment per invoice (a balance link covers several), each under the
        submission's Idempotency-Key `key` on its invoice; the first decline or refusal stops the rest (what went
        through before it stands)."""
        paid: list[Payment] = []
        left = amount
        for invoice in invoices:
            if left <= 0:
                break
            part = min(left, invoice.payable_balance)
            request = CreatePaymentRequest(payment_method_id=method_id, amount=part)
            try:
                payment = self.payments.pay(link.practice_id, invoice.id, key, request, "pay_page")
            except PracticePayError:
                if not paid:
                    raise
                break  # a later invoice refused it (paid in another tab meanwhile): what went through stands
            self.links.add_outcome(link, payment_id=payment.id)
            paid.append(payment)
            if payment.status is PaymentStatus.FAILED:
                break
            left -= part
        return paid

    def _method_label(self, link: PayLinkRecord, payment: Payment) -> dict[str, Any]:
        method = self.payments.patients.store.get_method(link.practice_id, link.patient_id, payment.payment_method_id)
        if method is None:
            return {"kind": payment.method_kind, "brand": None, "last4": ""}
        return {"kind": method.kind, "brand": method.brand, "last4": method.last4}


def plan_options(practice: Practice, invoices: list[InvoiceRecord], today: date) -> dict[str, Any] | None:
    """The plans a patient may choose for one invoice, within the practice's policy: 2..max monthly installments,
    each at least the minimum (the first takes the remainder cent), starting within N days."""
    settings = practice.settings
    if len(invoices) != 1 or settings.plan_max_installments < 2 or invoices[0].plan_id:
        return None
    due = invoices[0].payable_balance
    counts = []
    for n in range(2, settings.plan_max_installments + 1):
        each, rest = divmod(due, n)
        if each < settings.plan_min_installment:
            break
        counts.append({"count": n, "each": each, "first": each + rest})
    if not counts:
        return None
    return {
        "counts": counts,
        "first_min": today,
        "first_max": today + timedelta(days=settings.plan_first_within_days),
    }


def _gone(link: PayLinkRecord, now: datetime, base: dict[str, Any]) -> Screen | None:
    """The screen of a link that is over for good (revoked or expired), whatever session comes with it."""
    status = link.status(now)
    return Screen("ended", 410, {**base, "reason": status}) if status in ("revoked", "expired") else None


def _submission_id(link: PayLinkRecord, submit_id: str) -> str:
    """One submission (and receipt) per submit of the pay form, the same every time that form is posted."""
    return "rc_" + hashlib.sha256(f"{link.secret_hash}|{submit_id}".encode()).hexdigest()[:26]


def _category(payment: Payment) -> str:
    return payment.failure.category if payment.failure else "generic_decline"


def _matches(patient: Demographics, mode: str, answer: IdentityForm) -> bool:
    if mode == "date_of_birth":
        return patient.date_of_birth == answer.date_of_birth
    assert answer.last_name is not None and answer.postal_code is not None and patient.address is not None
    return _same(_name(patient.last_name), _name(answer.last_name)) and _same(
        patient.address.postal_code[:5], answer.postal_code[:5]
    )


def _address_hash(address: str) -> str:
    """The source address as a hash (kept 30 minutes at most, for counting wrong answers; never the address)."""
    return hashlib.sha256(f"pay-page-address|{address}".encode()).hexdigest()


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _name(value: str) -> str:
    """A last name as compared: accents, case, spaces, hyphens and apostrophes ignored (Peña-O'Neil = pena oneil)."""
    folded = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode().casefold()
    return "".join(ch for ch in folded if ch.isalnum())


def _lang_query(language: str) -> str:
    return f"?lang={language}"


def _first_error(exc: ValidationError) -> str:
    loc = exc.errors()[0].get("loc", ("form",))
    return f"field:{loc[0]}" if loc else "form"


def _business_days(start: date, days: int) -> date:
    out = start
    while days:
        out += timedelta(days=1)
        if out.weekday() < 5:
            days -= 1
    return out


def payfields_config(payments: PaymentService, practice: Practice, patient_id: str, method: str) -> dict[str, Any]:
    """PayFields' configuration for a page that takes a card or bank account (the pay page, the dashboard's desk
    payment): a txnSession minted now (short-lived, few uses) for the practice's merchant, the token to be made for
    the patient's Splash customer, never an amount to charge (PayFields only tokenizes: the charge goes through our
    money core)."""
    from practicepay.splash.wiring import splash_credentials

    client = payments.splash()
    merchant = practice.merchant_for_charging()
    customer = payments.patients.splash_customer(practice.practice_id, patient_id)
    session = client.create_txn_session(merchant, duration_minutes=TXN_SESSION_MINUTES, max_times_use=TXN_SESSION_USES)
    public_key = splash_credentials().public_api_key
    fields = (
        [
            {"type": "routing", "element": "#pf-routing"},
            {"type": "account_number", "element": "#pf-account"},
        ]
        if method == "bank"
        else [
            {"type": "number", "element": "#pf-number"},
            {"type": "expiration", "element": "#pf-expiration"},
            {"type": "cvv", "element": "#pf-cvv"},
        ]
    )
    return {
        "script": client.payfields_script_url,
        "origin": client.payfields_origin,
        "config": {
            "apiKey": public_key,
            "merchant": merchant,
            "customer": customer,
            "txnSessionKey": session.key,
            "mode": "token",
        },
        "fields": fields,
    }
