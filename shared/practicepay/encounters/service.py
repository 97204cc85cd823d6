"""Encounter charges become the encounter's invoice: one invoice per encounter, kept in step with its revisions.

A link item (`ENCOUNTER#<id>` in the invoices table) names the encounter's invoice and the revision it reflects,
and is written in the same transaction as the invoice, so an encounter never makes two invoices and a revision
is applied once. A later revision replaces a draft invoice's lines; an issued invoice is refused (409): what a
patient has been billed changes only through the invoice's own actions (cancel, write-off, refunds)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from practicepay.clock import Clock, iso, utc_now
from practicepay.encounters.models import Encounter, EncounterLink, EncounterResult
from practicepay.encounters.store import EncounterStore
from practicepay.errors import Conflict, ValidationFailed
from practicepay.invoices.models import InvoiceRecord, InvoiceStatus, LineItem
from practicepay.invoices.service import InvoiceService, issued_event, new_invoice, sealed_lines
from practicepay.patients.store import PatientStore
from practicepay.practices.store import PracticeStore


def line_items(encounter: Encounter) -> list[LineItem]:
    return [
        LineItem(
            description=c.description,
            cpt_code=c.cpt_code,
            quantity=c.quantity,
            unit_amount=c.amount,
            amount=c.quantity * c.amount,
            service_date=c.service_date,
        )
        for c in encounter.charges
    ]


@dataclass
class EncounterService:
    invoices: InvoiceService
    patients: PatientStore
    practices: PracticeStore
    store: EncounterStore
    clock: Clock = utc_now

    def apply(self, practice_id: str, encounter: Encounter) -> EncounterResult:
        """Create the encounter's invoice, or bring its draft up to this revision; a revision already applied
        changes nothing. Unknown patient: 422. Correction to an issued invoice: 409 with the reason."""
        link = self.store.link(practice_id, encounter.encounter_id)
        if link is None:
            return self._create(practice_id, encounter)
        invoice = self.invoices.record(practice_id, link.invoice_id)
        if encounter.revision <= link.revision:
            return self._result(encounter, invoice, "unchanged")
        if invoice.status != InvoiceStatus.DRAFT:
            raise Conflict(
                f"Revision {encounter.revision} of encounter {encounter.encounter_id} was not applied: its invoice "
                f"{invoice.id} is already {invoice.status} (issued to the patient), and an issued invoice's lines "
                "do not change. Cancel the invoice if nothing was paid, or adjust the balance with a refund or a "
                "write-off, then bill the difference."
            )
        return self._correct(encounter, invoice, link.revision)

    def _patient_id(self, practice_id: str, encounter: Encounter) -> str:
        patient_id = self.patients.id_of(practice_id, encounter.patient_external_id)
        if patient_id is None:
            raise ValidationFailed(
                f"No patient with external_id {encounter.patient_external_id} exists for this practice.",
                [{"field": "patient_external_id", "message": "No such patient; create the patient first."}],
            )
        return patient_id

    def _create(self, practice_id: str, encounter: Encounter) -> EncounterResult:
        settings = self.practices.require(practice_id).settings
        patient_id = self._patient_id(practice_id, encounter)
        now = self.clock()
        record = new_invoice(
            self.invoices.vault,
            practice_id=practice_id,
            patient_id=patient_id,
            due_date=encounter.due_date or (now.date() + timedelta(days=settings.payment_terms_days)),
            items=line_items(encounter),
            now=now,
            status=InvoiceStatus(settings.encounter_invoice_status),
            encounter=(encounter.encounter_id, encounter.revision),
        )
        link = EncounterLink(practice_id, encounter.encounter_id, record.id, encounter.revision)
        outbox = [issued_event(record, now)] if record.status == InvoiceStatus.OPEN else []
        self.store.create(record, link, outbox=outbox)
        return self._result(encounter, record, "created")

    def _correct(self, encounter: Encounter, invoice: InvoiceRecord, applied: int) -> EncounterResult:
        corrected = replace(
            invoice,
            patient_id=self._patient_id(invoice.practice_id, encounter),  # a draft may be moved to another patient
            **sealed_lines(self.invoices.vault, invoice.practice_id, line_items(encounter)),
            due_date=encounter.due_date.isoformat() if encounter.due_date else invoice.due_date,
            encounter_revision=encounter.revision,
            updated_at=iso(self.clock()),
            version=invoice.version + 1,
        )
        link = EncounterLink(corrected.practice_id, encounter.encounter_id, corrected.id, encounter.revision)
        self.store.correct(corrected, invoice.version, link, applied_revision=applied)
        return self._result(encounter, corrected, "updated")

    def _result(self, encounter: Encounter, record: InvoiceRecord, result: str) -> EncounterResult:
        return EncounterResult(
            encounter_id=encounter.encounter_id,
            revision=record.encounter_revision or encounter.revision,
            result=result,
            invoice=self.invoices.view(record),
        )
