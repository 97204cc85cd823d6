"""DynamoDB adapter for invoices. Every key starts with the practice id (tenancy); lists are index queries,
never scans. Pagination cursors are opaque to callers and checked to belong to the caller's practice."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import boto3
from boto3.dynamodb.conditions import Attr, Key

from practicepay.adapters.cursors import decode_cursor, encode_cursor
from practicepay.errors import Conflict


@dataclass(frozen=True)
class InvoiceRecord:
    practice_id: str
    id: str
    patient_id: str
    status: str
    currency: str
    due_date: str
    line_items_sealed: str
    line_item_count: int
    subtotal: int
    total: int
    amount_paid: int
    created_at: str
    updated_at: str
    version: int = 1


def _practice_pk(practice_id: str) -> str:
    return f"PRACTICE#{practice_id}"


class InvoiceStore:
    def __init__(self, table_name: str, resource: Any | None = None):
        self._table = (resource or boto3.resource("dynamodb")).Table(table_name)

    @staticmethod
    def _item(rec: InvoiceRecord) -> dict[str, Any]:
        pk = _practice_pk(rec.practice_id)
        return {
            "pk": pk,
            "sk": f"INVOICE#{rec.id}",
            "gsi1pk": f"{pk}#PATIENT#{rec.patient_id}",
            "gsi1sk": f"INVOICE#{rec.id}",
            "gsi2pk": f"{pk}#STATUS#{rec.status}",
            "gsi2sk": f"INVOICE#{rec.id}",
            **asdict(rec),
        }

    @staticmethod
    def _record(item: dict[str, Any]) -> InvoiceRecord:
        fields = InvoiceRecord.__dataclass_fields__
        return InvoiceRecord(**{k: int(v) if fields[k].type == "int" else v for k, v in item.items() if k in fields})

    def put_new(self, rec: InvoiceRecord) -> None:
        try:
            self._table.put_item(Item=self._item(rec), ConditionExpression=Attr("pk").not_exists())
        except self._table.meta.client.exceptions.ConditionalCheckFailedException as exc:
            raise Conflict(f"invoice {rec.id} already exists") from exc

    def get(self, practice_id: str, invoice_id: str) -> InvoiceRecord | None:
        out = self._table.get_item(
            Key={"pk": _practice_pk(practice_id), "sk": f"INVOICE#{invoice_id}"}, ConsistentRead=True
        )
        item = out.get("Item")
        return self._record(item) if item else None

    def query(
        self,
        practice_id: str,
        *,
        status: str | None = None,
        patient_id: str | None = None,
        limit: int = 25,
        cursor: str | None = None,
    ) -> tuple[list[InvoiceRecord], str | None]:
        """Newest first. Uses the patient index when a patient is given (status then filters), else the
        status index, else the practice's own partition."""
        pk = _practice_pk(practice_id)
        kwargs: dict[str, Any] = {"ScanIndexForward": False}
        if patient_id:
            partition = f"{pk}#PATIENT#{patient_id}"
            kwargs.update(IndexName="by_patient", KeyConditionExpression=Key("gsi1pk").eq(partition))
            if status:
                kwargs["FilterExpression"] = Attr("status").eq(status)
            partition_attr = "gsi1pk"
        elif status:
            partition = f"{pk}#STATUS#{status}"
            kwargs.update(IndexName="by_status", KeyConditionExpression=Key("gsi2pk").eq(partition))
            partition_attr = "gsi2pk"
        else:
            partition = pk
            kwargs["KeyConditionExpression"] = Key("pk").eq(pk) & Key("sk").begins_with("INVOICE#")
            partition_attr = "pk"
        if cursor:
            kwargs["ExclusiveStartKey"] = decode_cursor(cursor, partition_attr, partition)
        # Ask for one more than a page so `has_more` is exact, not DynamoDB's "maybe" LastEvaluatedKey.
        kwargs["Limit"] = limit + 1
        out = self._table.query(**kwargs)
        items = out.get("Items", [])
        if len(items) > limit:
            items = items[:limit]
            next_key = {k: items[-1][k] for k in _KEY_ATTRS[partition_attr]}
        else:
            # With a filter, DynamoDB may stop before the end of the partition; carry on from there.
            next_key = out.get("LastEvaluatedKey") if "FilterExpression" in kwargs else None
        return [self._record(i) for i in items], encode_cursor(next_key) if next_key else None


_KEY_ATTRS = {
    "pk": ("pk", "sk"),
    "gsi1pk": ("pk", "sk", "gsi1pk", "gsi1sk"),
    "gsi2pk": ("pk", "sk", "gsi2pk", "gsi2sk"),
}
