"""DynamoDB adapter for invoices. Every key starts with the practice id (tenancy); lists are index queries,
never scans. Pagination cursors are opaque to callers and checked to belong to the caller's practice."""

from __future__ import annotations

import base64
from dataclasses import asdict
from typing import Any

from boto3.dynamodb.conditions import Key

from practicepay.adapters.dynamo import (
    TableStore,
    Transaction,
    TransactionConflict,
    from_item,
    list_page,
    patient_key,
    plain,
    practice_pk,
)
from practicepay.errors import Conflict, ValidationFailed
from practicepay.invoices.models import InvoiceRecord

# Amounts that are 0 on most invoices are not stored when 0 (the record's default fills them in on reading).
_ZERO_BY_DEFAULT = frozenset(
    {"amount_pending", "amount_processing", "amount_refunded", "amount_charged_back", "amount_written_off"}
)


class InvoiceStore(TableStore):
    @property
    def resource(self) -> Any:
        return self._table.meta.client  # a resource-style client: plain values in and out

    @staticmethod
    def key(practice_id: str, invoice_id: str) -> dict[str, str]:
        return {"pk": practice_pk(practice_id), "sk": f"INVOICE#{invoice_id}"}

    @classmethod
    def record_from_item(cls, item: dict[str, Any]) -> InvoiceRecord:
        return cls._record(item)

    @staticmethod
    def item(rec: InvoiceRecord) -> dict[str, Any]:
        """The stored item, index keys included (the status index follows the status). An invoice that is owed
        (issued, not settled, a balance left) also carries the sparse `receivables` index keys: one partition per
        practice sorted by due date, which the accounts-receivable aging reads instead of scanning."""
        pk = practice_pk(rec.practice_id)
        owed_statuses = ("open", "partially_paid", "in_progress", "processing")
        balance = rec.total - rec.amount_paid - rec.amount_written_off
        receivable = {"ar_pk": f"{pk}#AR", "ar_sk": f"{rec.due_date}#{rec.id}"}
        return {
            "pk": pk,
            "sk": f"INVOICE#{rec.id}",
            "gsi1pk": f"{pk}#PATIENT#{rec.patient_id}",
            "gsi2pk": f"{pk}#STATUS#{rec.status}",
            **(receivable if rec.status in owed_statuses and balance > 0 else {}),
            **{k: v for k, v in asdict(rec).items() if v is not None and not (k in _ZERO_BY_DEFAULT and v == 0)},
            # the sealed line items as bytes (a third smaller than their base64 text): the item stays under 1 KB
            "line_items_sealed": base64.b64decode(rec.line_items_sealed),
        }

    @staticmethod
    def _record(item: dict[str, Any]) -> InvoiceRecord:
        sealed = item["line_items_sealed"]
        sealed = getattr(sealed, "value", sealed)  # a boto3 Binary, or bytes
        if isinstance(sealed, bytes | bytearray):
            item = {**item, "line_items_sealed": base64.b64encode(bytes(sealed)).decode()}
        return from_item(InvoiceRecord, item)

    def put_new(self, rec: InvoiceRecord, *, patients_table: str) -> None:
        """Write a new invoice if its patient exists in the practice (checked in the same transaction)."""
        tx = Transaction()
        tx.put(self.table_name, self.item(rec), "attribute_not_exists(pk)")
        tx.check(patients_table, patient_key(rec.practice_id, rec.patient_id), "attribute_exists(pk)")
        try:
            tx.commit()
        except TransactionConflict as exc:
            if exc.reasons[1:2] == ["ConditionalCheckFailed"]:
                raise ValidationFailed(
                    f"No patient {rec.patient_id} exists for this practice.",
                    [{"field": "patient_id", "message": "No such patient in this practice; create the patient first."}],
                ) from exc
            raise Conflict(f"invoice {rec.id} already exists") from exc

    def replace(self, rec: InvoiceRecord, expected_version: int, *, also: Transaction | None = None) -> None:
        """Write a changed invoice (with whatever else `also` holds) if nobody changed it since it was read."""
        tx = also or Transaction()
        self.put_changed(tx, rec, expected_version)
        try:
            tx.commit()
        except TransactionConflict as exc:
            raise Conflict("The invoice changed while this request ran; retry.") from exc

    def act(
        self,
        rec: InvoiceRecord,
        expected_version: int,
        *,
        events_table: str,
        event: dict[str, Any] | None = None,
        write_off: int | None = None,
    ) -> None:
        """A staff action's write: the invoice at its new status (if unchanged since read), with its event and,
        for a write-off, the ledger entry of the balance written off (once per invoice), in one transaction."""
        tx = Transaction()
        if event is not None:
            tx.put(events_table, event)
        if write_off is not None:
            self.put_ledger(
                tx, rec.practice_id, rec.id, "write_off", type="write_off", amount=-write_off, created_at=rec.updated_at
            )
        self.replace(rec, expected_version, also=tx)

    def put_changed(self, tx: Transaction, rec: InvoiceRecord, expected_version: int) -> int:
        """Add a changed invoice's write to `tx`, if nobody changed it since it was read. Its index in `tx`."""
        return tx.put(self.table_name, self.item(rec), "version = :v", {":v": expected_version})

    def put_ledger(self, tx: Transaction, practice_id: str, invoice_id: str, fact: str, **fields: Any) -> int:
        """Add a ledger entry to `tx`, once: its key is the money fact it records (`fact`, e.g.
        `charge#<splash txn id>`), so a second write of the same fact fails its condition and with it the whole
        transaction. Its index in `tx`."""
        item = self.ledger_item(practice_id, invoice_id, fact, **fields)
        return tx.put(self.table_name, item, "attribute_not_exists(pk)")

    def ledger(self, practice_id: str, invoice_id: str) -> list[dict[str, Any]]:
        out = self._table.query(
            KeyConditionExpression=Key("pk").eq(practice_pk(practice_id))
            & Key("sk").begins_with(f"LEDGER#{invoice_id}#"),
            ConsistentRead=True,
        )
        return [plain(i) for i in out.get("Items", [])]

    @staticmethod
    def ledger_item(practice_id: str, invoice_id: str, fact: str, **fields: Any) -> dict[str, Any]:
        """An append-only ledger entry, keyed by the money fact it records (written once, in the transaction that
        moves the money)."""
        return {
            "pk": practice_pk(practice_id),
            "sk": f"LEDGER#{invoice_id}#{fact}",
            "id": fact,
            "invoice_id": invoice_id,
            **fields,
        }

    def get(self, practice_id: str, invoice_id: str) -> InvoiceRecord | None:
        out = self._table.get_item(
            Key={"pk": practice_pk(practice_id), "sk": f"INVOICE#{invoice_id}"}, ConsistentRead=True
        )
        item = out.get("Item")
        return self._record(item) if item else None

    def open_for_patient(self, practice_id: str, patient_id: str) -> list[InvoiceRecord]:
        """A patient's newest 100 invoices but drafts (a balance pay link shows the payable ones). Through the
        patient index, eventually consistent: a payment reads its invoice again, consistently."""
        records, _ = self.query(practice_id, patient_id=patient_id, limit=100)
        return [r for r in records if r.status != "draft"]

    def query(
        self,
        practice_id: str,
        *,
        status: str | None = None,
        patient_id: str | None = None,
        limit: int = 25,
        cursor: str | None = None,
    ) -> tuple[list[InvoiceRecord], str | None]:
        """Newest first, by the patient index, the status index, or the practice's own partition."""
        pk = practice_pk(practice_id)
        items, next_cursor = list_page(
            self._table,
            pk=pk,
            sort_prefix="INVOICE#",
            gsi1=("by_patient", f"{pk}#PATIENT#{patient_id}") if patient_id else None,
            gsi2=("by_status", f"{pk}#STATUS#{status}") if status else None,
            status=status,
            limit=limit,
            cursor=cursor,
        )
        return [self._record(i) for i in items], next_cursor
