"""Invoice logic: create (idempotent), read and list, with line items sealed as PHI."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer
from aws_lambda_powertools.utilities.typing import LambdaContext

from practicepay.adapters.vault import PhiVault
from practicepay.clock import Clock, iso, utc_now
from practicepay.errors import NotFound
from practicepay.events import event_item
from practicepay.idempotency import Created, run_once
from practicepay.ids import id_pattern, new_id
from practicepay.invoices import lifecycle
from practicepay.invoices.models import (
    CreateInvoiceRequest,
    Invoice,
    InvoiceList,
    InvoiceRecord,
    InvoiceStatus,
    LineItem,
)
from practicepay.invoices.store import InvoiceStore

LINE_ITEMS_PURPOSE = "invoice-line-items"
INVOICE_ID = id_pattern("inv")


def new_invoice(
    vault: PhiVault,
    *,
    practice_id: str,
    patient_id: str,
    due_date: date,
    items: list[LineItem],
    now: datetime,
    status: InvoiceStatus = InvoiceStatus.DRAFT,
    plan_id: str | None = None,
    encounter: tuple[str, int] | None = None,
) -> InvoiceRecord:
    """A new invoice's record: a time-ordered id, totals from its line items, the items sealed as PHI."""
    return InvoiceRecord(
        practice_id=practice_id,
        id=new_id("inv", int(now.timestamp() * 1000)),
        patient_id=patient_id,
        status=status.value,
        currency="usd",
        due_date=due_date.isoformat(),
        **sealed_lines(vault, practice_id, items),
        amount_paid=0,
        created_at=iso(now),
        updated_at=iso(now),
        plan_id=plan_id,
        encounter_id=encounter[0] if encounter else None,
        encounter_revision=encounter[1] if encounter else None,
    )


def sealed_lines(vault: PhiVault, practice_id: str, items: list[LineItem]) -> dict[str, Any]:
    """An invoice's line-item fields: the items sealed as PHI, their count, and the totals they make."""
    lines = [item.model_dump(mode="json", exclude_none=True) for item in items]
    subtotal = sum(item.amount for item in items)
    return {
        "line_items_sealed": vault.seal(lines, practice_id=practice_id, purpose=LINE_ITEMS_PURPOSE),
        "line_item_count": len(lines),
        "subtotal": subtotal,
        "total": subtotal,
    }


def issued_event(record: InvoiceRecord, moment: datetime) -> dict[str, Any]:
    """invoice.issued's outbox row: the invoice is open and payable (ids and amounts only)."""
    detail = {
        "invoice_id": record.id,
        "patient_id": record.patient_id,
        "status": record.status,
        "currency": record.currency,
        "total": record.total,
        "amount_due": record.total - record.amount_paid - record.amount_written_off,
        "due_date": record.due_date,
    }
    if record.encounter_id:
        detail["encounter_id"] = record.encounter_id
    return event_item(record.practice_id, "invoice.issued", detail, moment)


@dataclass
class InvoiceService:
    store: InvoiceStore
    patients_table: str
    events_table: str
    vault: PhiVault
    idempotency_store: BasePersistenceLayer | None = None
    """Only `create` needs it (encounters are idempotent on their id and revision instead)."""
    idempotency_ttl_seconds: int = 24 * 3600
    clock: Clock = utc_now

    def create(
        self,
        practice_id: str,
        idempotency_key: str,
        body: CreateInvoiceRequest,
        lambda_context: LambdaContext | None = None,
    ) -> Invoice:
        """Create a draft invoice. A repeat of the same key and body returns the first invoice; the same key with
        another body is refused. Nothing is written when the body is invalid (it is validated before this)."""
        assert self.idempotency_store is not None, "creating invoices needs the idempotency store"
        written: list[InvoiceRecord] = []

        def create() -> Created:
            written.append(self._create(practice_id, body))
            return Created(id=written[0].id)

        created = run_once(
            self.idempotency_store,
            operation="create-invoice",
            practice_id=practice_id,
            idempotency_key=idempotency_key,
            body=body,
            output=Created,
            run=create,
            ttl_seconds=self.idempotency_ttl_seconds,
            lambda_context=lambda_context,
        )
        # The invoice as written, or (a replay) as it is now: the response is never stored with its PHI.
        return self.view(written[0]) if written else self.get(practice_id, created.id)

    def _create(self, practice_id: str, body: CreateInvoiceRequest) -> InvoiceRecord:
        items = [LineItem(**item.model_dump(), amount=item.quantity * item.unit_amount) for item in body.line_items]
        record = new_invoice(
            self.vault,
            practice_id=practice_id,
            patient_id=body.patient_id,
            due_date=body.due_date,
            items=items,
            now=self.clock(),
        )
        self.store.put_new(record, patients_table=self.patients_table)
        return record

    def get(self, practice_id: str, invoice_id: str) -> Invoice:
        return self.view(self.record(practice_id, invoice_id))

    def ledger(self, practice_id: str, invoice_id: str) -> list[dict[str, Any]]:
        """The invoice's ledger (each money fact once: charges, refunds, returns, chargebacks, write-offs), in the
        order they happened."""
        self.record(practice_id, invoice_id)
        return sorted(self.store.ledger(practice_id, invoice_id), key=lambda e: (e.get("created_at") or "", e["id"]))

    def record(self, practice_id: str, invoice_id: str) -> InvoiceRecord:
        record = self.store.get(practice_id, invoice_id) if INVOICE_ID.match(invoice_id) else None
        if record is None:
            # Same answer whether the id is malformed, unknown, or another practice's: no hint it exists.
            raise NotFound(f"No invoice {invoice_id} exists for this practice.")
        return record

    def act(self, practice_id: str, invoice_id: str, action: str, reason: str | None = None) -> Invoice:
        """issue (draft → open), cancel (nothing paid), write_off (→ uncollectible, the unpaid balance goes to the
        ledger). A repeat of an action already done answers 409 with the current status."""
        record = self.record(practice_id, invoice_id)
        moment = self.clock()
        now = iso(moment)
        balance = record.total - record.amount_paid - record.amount_pending
        changes = {"write_off_reason": reason, "amount_written_off": balance} if action == "write_off" else {}
        updated = lifecycle.act(record, action, now, **changes)
        self.store.act(
            updated,
            record.version,
            event=issued_event(updated, moment) if action == "issue" else None,
            events_table=self.events_table,
            write_off=balance if action == "write_off" else None,
        )
        return self.view(updated)

    def list(
        self,
        practice_id: str,
        *,
        status: InvoiceStatus | None = None,
        patient_id: str | None = None,
        limit: int = 25,
        cursor: str | None = None,
    ) -> InvoiceList:
        records, next_cursor = self.store.query(
            practice_id,
            status=status.value if status else None,
            patient_id=patient_id,
            limit=limit,
            cursor=cursor,
        )
        return InvoiceList(
            data=[self.view(r) for r in records], has_more=next_cursor is not None, next_cursor=next_cursor
        )

    def view(self, record: InvoiceRecord) -> Invoice:
        items = self.vault.open(record.line_items_sealed, practice_id=record.practice_id, purpose=LINE_ITEMS_PURPOSE)
        return Invoice(
            id=record.id,
            patient_id=record.patient_id,
            status=InvoiceStatus(record.status),
            currency="usd",
            due_date=date.fromisoformat(record.due_date),
            line_items=[LineItem(**i) for i in items],
            subtotal=record.subtotal,
            total=record.total,
            amount_paid=record.amount_paid,
            amount_processing=record.amount_processing,
            amount_refunded=record.amount_refunded,
            amount_charged_back=record.amount_charged_back,
            amount_due=record.total - record.amount_paid - record.amount_written_off,
            amount_written_off=record.amount_written_off,
            write_off_reason=record.write_off_reason,
            past_due=lifecycle.past_due(record, self.clock().date()),
            payment_plan_id=record.plan_id,
            encounter_id=record.encounter_id,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )
