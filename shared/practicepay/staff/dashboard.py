"""What the staff dashboard shows and does (ADR 0018): each screen's records, read through the services the JSON API
uses (so a screen shows what the API answers), with patients named: their names are unsealed here for the page,
only for the patients on it, never stored or logged. The actions call the same services, with the form's submit id
as the Idempotency-Key (a double submit acts once), each inside an audited action (practicepay.staff.audit: its entry
rides in the change's own transaction); a read of a patient's records is audited too.

Every method takes the practice from the staff member acting (the session's); nothing in a form or a path can name
another practice."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from pydantic import ValidationError

from practicepay.billing.models import AutopayConsent, CreatePlanRequest
from practicepay.billing.schedule import Frequency
from practicepay.billing.service import BillingService
from practicepay.clock import Clock, utc_now
from practicepay.disputes.models import Dispute, RespondRequest
from practicepay.disputes.service import DisputeService
from practicepay.errors import NotFound, PracticePayError
from practicepay.invoices.models import Invoice, InvoiceStatus
from practicepay.invoices.service import InvoiceService
from practicepay.messages.service import MessageService
from practicepay.patients.models import AddPaymentMethodRequest, MethodConsent
from practicepay.patients.service import PatientService
from practicepay.paylinks.models import CreatePayLinkRequest, PayLink
from practicepay.paylinks.service import PayLinkService
from practicepay.payments.models import CreatePaymentRequest, CreateRefundRequest, Payment
from practicepay.payments.service import PaymentService
from practicepay.paypage.render import money
from practicepay.paypage.service import payfields_config
from practicepay.practices.service import PracticeService
from practicepay.reports.service import ReportService, _csv
from practicepay.staff.audit import Auditor
from practicepay.staff.models import (
    AUDIT_COLUMNS,
    Actor,
    DeskPaymentForm,
    PlanForm,
    RefundForm,
    SettingsForm,
    cents,
    refused_fields,
)
from practicepay.staff.store import AuditStore

DESK_CONSENT = "desk-2026-12"
"""The version of the card-on-file terms staff read to the patient at the desk before saving a card."""
PLAN_CONSENT = "plan-desk-2026-12"
AGING_BUCKETS = (("current", "Current"), ("1_30", "1–30 days"), ("31_60", "31–60 days"), ("61_90", "61–90 days"))
AGING_BUCKETS += (("over_90", "Over 90 days"),)
SEARCH_PAGE = 25
AUDIT_EXPORT_ROWS = 10_000
"""The most entries one audit export holds (about 2.5 MB of CSV): older ones are exported per invoice or patient."""
OWING = frozenset({InvoiceStatus.OPEN, InvoiceStatus.PARTIALLY_PAID, InvoiceStatus.IN_PROGRESS})
"""An invoice the patient still owes on (a plan's included)."""
_DEPOSIT_FIGURES = ("gross", "refunds", "returns", "chargebacks", "fees", "net")


def dollars(amount: int | None) -> str:
    """Cents as dollars for a CSV an accountant opens ("1234.50"), exact (no float)."""
    if amount is None:
        return ""
    sign, value = ("-" if amount < 0 else ""), abs(amount)
    return f"{sign}{value // 100}.{value % 100:02d}"


@dataclass
class DashboardService:
    invoices: InvoiceService
    patients: PatientService
    payments: PaymentService
    billing: BillingService
    links: PayLinkService
    disputes: DisputeService
    reports: ReportService
    messaging: MessageService
    practices: PracticeService
    auditor: Auditor
    clock: Clock = utc_now

    @property
    def audit(self) -> AuditStore:
        return self.auditor.store

    def record(self, actor: Actor, action: str, **fields: Any) -> None:
        """A read or a sign-in, audited on its own."""
        self.auditor.viewed(actor, action, **fields)

    # -- names ---------------------------------------------------------------------------------------------------

    def names(self, practice_id: str, patient_ids: Iterable[str]) -> dict[str, str]:
        """Display names ("Last, First") of these patients, unsealed for this page only."""
        out: dict[str, str] = {}
        for patient_id in dict.fromkeys(patient_ids):
            demographics = self.patients.demographics_of(practice_id, patient_id)
            out[patient_id] = f"{demographics.last_name}, {demographics.first_name}" if demographics else "(unknown)"
        return out

    # -- patients ------------------------------------------------------------------------------------------------

    def search(
        self, actor: Actor, query: str | None, date_of_birth: date | None, external_id: str | None
    ) -> tuple[list, bool]:
        """The patients found (at most SEARCH_PAGE, by name), and whether more match (the page says: narrow it)."""
        if not (query or date_of_birth or external_id):
            return [], False
        found = self.patients.search(
            actor.practice_id,
            query=query,
            date_of_birth=date_of_birth,
            external_id=external_id,
            limit=SEARCH_PAGE + 1,
        )
        self.record(actor, "patients:searched", records=len(found))  # the terms are PHI: not kept
        return found[:SEARCH_PAGE], len(found) > SEARCH_PAGE

    def patient(self, actor: Actor, patient_id: str) -> dict[str, Any]:
        practice_id = actor.practice_id
        patient = self.patients.get(practice_id, patient_id)
        self.record(actor, "patient:viewed", patient_id=patient_id)
        invoices = self.invoices.list(practice_id, patient_id=patient_id, limit=100).data
        plans = [self._plan(practice_id, i) for i in invoices if i.payment_plan_id]
        methods = self.patients.methods(practice_id, patient_id).data
        return {
            "patient": patient,
            "balance": sum(i.amount_due for i in invoices if i.status in OWING),
            "invoices": invoices,
            "plans": [p for p in plans if p is not None],
            "subscriptions": self.billing.list_subscriptions(practice_id, patient_id).data,
            "methods": methods,
            "active_methods": [m for m in methods if m.status == "active" and not m.update_required],
            "messages": self.messaging.for_patient(practice_id, patient_id).data,
            "audit": self.audit.query(practice_id, patient_id=patient_id, limit=50)[0],
            "balance_links": self.payments.practices.require(practice_id).settings.balance_links,
        }

    def _plan(self, practice_id: str, invoice: Invoice) -> Any:
        try:
            return self.billing.get_plan(practice_id, invoice.id)
        except NotFound:
            return None

    # -- an invoice ----------------------------------------------------------------------------------------------

    def invoice(self, actor: Actor, invoice_id: str, *, payfields: bool = False) -> dict[str, Any]:
        """The invoice's page; with `payfields`, PayFields for a card the patient hands over at the desk (tokenized
        in Payrix's frames: this page, like the pay page, never sees a card number)."""
        practice_id = actor.practice_id
        invoice = self.invoices.get(practice_id, invoice_id)
        self.record(actor, "invoice:viewed", invoice_id=invoice_id, patient_id=invoice.patient_id)
        desk = None
        if payfields and invoice.amount_due > 0:
            desk = payfields_config(
                self.payments, self.payments.practices.require(practice_id), invoice.patient_id, "card"
            )
        payments = self.payments.list(practice_id, invoice_id=invoice_id, status=None, limit=100, cursor=None).data
        methods = self.patients.methods(practice_id, invoice.patient_id).data
        return {
            "invoice": invoice,
            "name": self.names(practice_id, [invoice.patient_id])[invoice.patient_id],
            "payments": payments,
            "refundable": {p.id: p.amount - p.amount_refunded - p.amount_charged_back for p in payments},
            "plan": self._plan(practice_id, invoice),
            "ledger": self.invoices.ledger(practice_id, invoice_id),
            "links": self.links.list_for_invoice(practice_id, invoice_id).data,
            "messages": self.messaging.for_invoice(practice_id, invoice_id).data,
            "disputes": self.disputes.list(
                practice_id, status=None, due_before=None, limit=100, invoice_id=invoice_id
            ).data,
            "methods": [m for m in methods if m.status == "active" and not m.update_required],
            "audit": self.audit.query(practice_id, invoice_id=invoice_id, limit=50)[0],
            "payfields": desk,
        }

    # -- actions -------------------------------------------------------------------------------------------------

    def take_payment(self, actor: Actor, invoice_id: str, form: DeskPaymentForm) -> Payment:
        """A payment at the desk: a card on file, or the card the patient hands over (PayFields token), kept on file
        only when the patient agreed to it (`save`)."""
        practice_id = actor.practice_id
        invoice = self.invoices.get(practice_id, invoice_id)
        amount = cents(form.amount)
        charged = invoice.amount_due if amount is None else amount  # blank: the whole balance, as the API takes it
        with self.auditor.action(
            actor, "payment:taken", invoice_id=invoice_id, patient_id=invoice.patient_id, amount=charged
        ):
            with _checked():  # all but the handed-over card, which adding it names: a refused amount adds nothing
                request = CreatePaymentRequest(payment_method_id=form.payment_method_id or _CARD_TO_ADD, amount=amount)
            if request.amount is not None and request.amount > invoice.amount_due:  # before any card is added
                raise _Invalid(f"{money(request.amount)} is more than the balance of {money(invoice.amount_due)}.")
            added = None
            try:
                if form.payment_method_id is None:
                    if form.token is None:
                        raise _Invalid("Enter the card, or choose a card on file.")
                    with _checked():
                        consent = MethodConsent(
                            text_version=DESK_CONSENT,
                            accepted_at=form.started,
                            captured_by=actor.subject[:100],
                            channel="in_person",
                        )
                        body = AddPaymentMethodRequest(token=form.token, consent=consent)
                    added = self.patients.add_method_record(
                        practice_id, invoice.patient_id, f"desk:{form.submit_id}", body
                    )
                    request = request.model_copy(update={"payment_method_id": added.id})
                return self.payments.pay(practice_id, invoice_id, f"desk:{form.submit_id}", request, "desk")
            finally:
                if added is not None and form.save is None:
                    self.patients.remove(added)  # for this payment only: a refund needs only the txn

    def send_invoice_link(self, actor: Actor, invoice_id: str, submit_id: str, api_base: str) -> PayLink:
        invoice = self.invoices.get(actor.practice_id, invoice_id)
        with self.auditor.action(actor, "pay_link:sent", invoice_id=invoice_id, patient_id=invoice.patient_id):
            return self.links.create_for_invoice(
                actor.practice_id, invoice_id, f"dashboard:{submit_id}", CreatePayLinkRequest(), api_base, None
            )

    def send_balance_link(self, actor: Actor, patient_id: str, submit_id: str, api_base: str) -> PayLink:
        with self.auditor.action(actor, "pay_link:sent", patient_id=patient_id):
            return self.links.create_for_patient(
                actor.practice_id, patient_id, f"dashboard:{submit_id}", CreatePayLinkRequest(), api_base, None
            )

    def refund(self, actor: Actor, payment_id: str, form: RefundForm) -> Payment:
        """Money back to the patient, with the reason staff gave (a code). The payment refunded (its invoice is where
        the page goes next)."""
        paid = self.payments.get(actor.practice_id, payment_id)
        amount = cents(form.amount)
        sent = paid.amount - paid.amount_refunded if amount is None else amount  # blank: all not yet refunded
        fields = {"invoice_id": paid.invoice_id, "patient_id": paid.patient_id, "target": payment_id}
        with self.auditor.action(actor, "refund:sent", reason=form.reason, amount=sent, **fields):
            with _checked():
                body = CreateRefundRequest(amount=amount)
            self.payments.refund(actor.practice_id, payment_id, f"dashboard:{form.submit_id}", body, None)
        return paid

    def act(self, actor: Actor, invoice_id: str, act: str, reason: str) -> None:
        """Write off (the reason is the API's code) or cancel (the reason is the dashboard's code, for the trail)."""
        invoice = self.invoices.get(actor.practice_id, invoice_id)
        action = {"write_off": "invoice:written_off", "cancel": "invoice:canceled"}[act]
        fields = {"invoice_id": invoice_id, "patient_id": invoice.patient_id, "amount": invoice.amount_due}
        with self.auditor.action(actor, action, reason=reason, **fields):
            self.invoices.act(actor.practice_id, invoice_id, act, reason=reason if act == "write_off" else None)

    def start_plan(self, actor: Actor, invoice_id: str, form: PlanForm) -> None:
        invoice = self.invoices.get(actor.practice_id, invoice_id)
        if invoice.amount_due <= 0:
            raise _Invalid("Nothing is owed on this invoice: there is nothing to spread over a plan.")
        count = int(form.installment_count)
        largest = -(-invoice.amount_due // count)
        with _checked():
            body = CreatePlanRequest(
                installment_count=count,
                frequency=Frequency(form.frequency),
                first_date=form.first_date,
                payment_method_id=form.payment_method_id,
                consent=AutopayConsent(text_version=PLAN_CONSENT, accepted_at=form.started, max_amount=largest),
            )
        fields = {"invoice_id": invoice_id, "patient_id": invoice.patient_id, "amount": invoice.amount_due}
        with self.auditor.action(actor, "plan:started", **fields):
            self.billing.create_plan(actor.practice_id, invoice_id, f"dashboard:{form.submit_id}", body, None)

    def accept_dispute(self, actor: Actor, dispute_id: str, submit_id: str) -> None:
        found = self.disputes.get(actor.practice_id, dispute_id)
        with self.auditor.action(actor, "dispute:accepted", **_dispute_fields(found)):
            self.disputes.accept(actor.practice_id, dispute_id, f"dashboard:{submit_id}", None)

    def respond_dispute(self, actor: Actor, dispute_id: str, note: str, submit_id: str) -> None:
        """The note and the evidence packet to Splash (the disputes service refuses a note carrying PHI)."""
        found = self.disputes.get(actor.practice_id, dispute_id)
        with self.auditor.action(actor, "dispute:answered", **_dispute_fields(found)):
            answer = RespondRequest(note=note)
            self.disputes.respond(actor.practice_id, dispute_id, f"dashboard:{submit_id}", answer, None)

    def evidence(self, actor: Actor, dispute_id: str) -> bytes:
        found = self.disputes.get(actor.practice_id, dispute_id)
        self.record(actor, "dispute:evidence_read", invoice_id=found.invoice_id, target=dispute_id)
        return self.disputes.evidence(actor.practice_id, dispute_id)

    def change_settings(self, actor: Actor, form: SettingsForm) -> None:
        with self.auditor.action(actor, "settings:changed", target=",".join(sorted(form.changed()))):
            with _checked():
                change = form.change()
            self.practices.change_settings(actor.practice_id, change)

    # -- reports -------------------------------------------------------------------------------------------------

    def aging(self, practice_id: str) -> dict[str, Any]:
        report = self.reports.receivables(practice_id)
        names = self.names(practice_id, (p.patient_id for p in report.patients))
        rows = sorted(
            (
                {"patient_id": p.patient_id, "name": names[p.patient_id], **p.model_dump(by_alias=True)}
                for p in report.patients
            ),
            key=lambda r: (-r["total"], r["name"]),
        )
        totals = report.totals.model_dump(by_alias=True)
        peak = max((totals[b] for b, _ in AGING_BUCKETS), default=0) or 1
        bars = [{"label": label, "amount": totals[b], "share": totals[b] / peak} for b, label in AGING_BUCKETS]
        return {"report": report, "rows": rows, "totals": totals, "bars": bars, "buckets": AGING_BUCKETS}

    def recent_payments(self, practice_id: str, days: int = 30) -> dict[str, Any]:
        today = self.clock().date()
        report = self.reports.payments(practice_id, start=today - timedelta(days=days), end=today, limit=200)
        names = self.names(practice_id, (r.patient_id for r in report.data))
        return {"rows": report.data, "names": names, "start": today - timedelta(days=days), "end": today}

    def deposits(self, practice_id: str, days: int = 30) -> Any:
        today = self.clock().date()
        return self.reports.deposits(practice_id, today - timedelta(days=days), today)

    def dispute_list(self, practice_id: str) -> dict[str, Any]:
        disputes = self.disputes.list(practice_id, status=None, due_before=None, limit=100).data
        names = self.names(practice_id, (d.patient_id for d in disputes))
        return {"disputes": disputes, "names": names}

    def dispute(self, actor: Actor, dispute_id: str) -> dict[str, Any]:
        practice_id = actor.practice_id
        dispute = self.disputes.get(practice_id, dispute_id)
        self.record(actor, "dispute:viewed", invoice_id=dispute.invoice_id, target=dispute.id)
        return {
            "dispute": dispute,
            "name": self.names(practice_id, [dispute.patient_id])[dispute.patient_id],
            "days_left": (date.fromisoformat(dispute.reply_by) - self.clock().date()).days
            if dispute.reply_by
            else None,
        }

    def report(self, actor: Actor, tab: str) -> dict[str, Any]:
        """A report's screen: aging, payments, deposits or disputes."""
        practice_id = actor.practice_id
        if tab == "aging":
            data = self.aging(practice_id)
        elif tab == "payments":
            data = self.recent_payments(practice_id)
        elif tab == "deposits":
            data = {"deposits": self.deposits(practice_id)}
        elif tab == "disputes":
            data = self.dispute_list(practice_id)
        else:
            raise NotFound("The reports are aging, payments, deposits and disputes.")
        self.record(actor, f"report:{tab}:viewed")
        return data

    def export(self, actor: Actor, report: str) -> str:
        """A report's CSV, audited as exported."""
        text = self.csv(actor.practice_id, report)
        self.record(actor, f"report:{report}:exported")
        return text

    def csv(self, practice_id: str, report: str) -> str:
        """A report for the practice's accountant: patients by name, amounts in dollars."""
        if report == "aging":
            data = self.aging(practice_id)
            header = ["Patient", "Invoices", *(label for _, label in AGING_BUCKETS), "Total"]
            rows = [
                [r["name"], r["invoices"], *(dollars(r[b]) for b, _ in AGING_BUCKETS), dollars(r["total"])]
                for r in data["rows"]
            ]
            t = data["totals"]
            rows.append(["TOTAL", t["invoices"], *(dollars(t[b]) for b, _ in AGING_BUCKETS), dollars(t["total"])])
            return _csv(header, rows)
        if report == "payments":
            data = self.recent_payments(practice_id)
            header = ["Date", "Patient", "Invoice", "Payment", "Method", "Status", "Amount", "Refunded", "Fee", "Net"]
            rows = [
                [
                    r.created_at[:10],
                    data["names"].get(r.patient_id, ""),
                    r.invoice_id,
                    r.id,
                    r.method_kind,
                    r.status,
                    dollars(r.amount),
                    dollars(r.amount_refunded),
                    dollars(r.fee),
                    dollars(r.net),
                ]
                for r in data["rows"]
            ]
            return _csv(header, rows)
        if report == "deposits":
            deposits = self.deposits(practice_id)
            header = ["Date", "Deposit", "Status", *(f.title() for f in _DEPOSIT_FIGURES)]
            rows = [
                [d.deposited_on, d.id, d.status, *(dollars(getattr(d, f)) for f in _DEPOSIT_FIGURES)]
                for d in deposits.data
            ]
            return _csv(header, rows)
        if report == "disputes":
            data = self.dispute_list(practice_id)
            header = ["Opened", "Patient", "Invoice", "Dispute", "Status", "Reason", "Amount", "Reply by"]
            rows = [
                [
                    d.created_at[:10],
                    data["names"][d.patient_id],
                    d.invoice_id,
                    d.id,
                    d.status,
                    d.reason_code or "",
                    dollars(d.amount),
                    d.reply_by or "",
                ]
                for d in data["disputes"]
            ]
            return _csv(header, rows)
        raise NotFound(f"No report {report} exists.")

    def staff(self, practice_id: str) -> list[dict[str, str]]:
        """The staff who signed in lately (from the audit trail's last 1,000 entries), with their role and last
        sign-in. Accounts themselves live at the identity provider (the practice's, or the stack's Cognito pool)."""
        seen: dict[str, dict[str, str]] = {}
        cursor = None
        for _ in range(2):
            entries, cursor = self.audit.query(practice_id, limit=500, cursor=cursor)
            for e in entries:
                if e.action == "staff:signed_in" and e.subject not in seen:
                    seen[e.subject] = {"name": e.name, "role": e.role, "at": e.at, "via": e.target or ""}
            if cursor is None:
                break
        return list(seen.values())

    def audit_csv(self, actor: Actor, invoice_id: str | None, patient_id: str | None) -> tuple[str, bool]:
        """The trail for an auditor, newest first (as the screen shows it), at most AUDIT_EXPORT_ROWS entries (an
        answer must fit Lambda's 6 MB and API Gateway's 29 s), and whether older entries were left out. The export
        is audited."""
        practice_id = actor.practice_id
        self.record(actor, "audit:exported", invoice_id=invoice_id, patient_id=patient_id)
        rows: list[list[Any]] = []
        cursor = None
        while True:
            entries, cursor = self.audit.query(
                practice_id, invoice_id=invoice_id, patient_id=patient_id, limit=500, cursor=cursor
            )
            rows.extend([getattr(e, c) for c in AUDIT_COLUMNS] for e in entries)
            if cursor is None or len(rows) >= AUDIT_EXPORT_ROWS:
                partial = cursor is not None or len(rows) > AUDIT_EXPORT_ROWS
                return _csv(AUDIT_COLUMNS, rows[:AUDIT_EXPORT_ROWS]), partial


def _dispute_fields(found: Dispute) -> dict[str, Any]:
    return {"invoice_id": found.invoice_id, "patient_id": found.patient_id, "target": found.id, "amount": found.amount}


_CARD_TO_ADD = "pm_" + "0" * 26
"""A method id no method has, standing for the card the desk is about to add while its payment is checked."""


class _Invalid(PracticePayError):
    status = 422
    slug = "validation-error"
    title = "Your request has invalid fields"


@contextmanager
def _checked() -> Iterator[None]:
    """An API request built from a form, which the request's own model refuses (an amount of 0, a date that is no
    date, a setting out of range): the staff member's input to fix (422), not a fault. Only a request's building
    goes in here, never a service call (a model a service refuses there is ours to fix)."""
    try:
        yield
    except ValidationError as exc:
        raise _Invalid(refused_fields(exc)) from None
