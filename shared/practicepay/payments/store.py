"""DynamoDB adapter for payments and refunds (the payments table). Writes that change an invoice too go
through one Transaction with the invoice (practicepay.adapters.dynamo)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from boto3.dynamodb.conditions import Key

from practicepay.adapters.dynamo import (
    TableStore,
    Transaction,
    batch_get,
    from_item,
    list_page,
    practice_pk,
    query_until,
)
from practicepay.payments.models import OPEN_PAYMENT, OPEN_REFUND, KeyGuard, PaymentRecord, RefundRecord

OPEN_PARTITION = "OPEN"


def _open_keys(open_: bool, created_at: str, sk: str) -> dict[str, str]:
    return {"gsi3pk": OPEN_PARTITION, "gsi3sk": f"{created_at}#{sk}"} if open_ else {}


class PaymentStore(TableStore):
    @staticmethod
    def payment_item(rec: PaymentRecord) -> dict[str, Any]:
        pk = practice_pk(rec.practice_id)
        return {
            "pk": pk,
            "sk": f"PAYMENT#{rec.id}",
            "gsi1pk": f"{pk}#INVOICE#{rec.invoice_id}",
            "gsi2pk": f"{pk}#STATUS#{rec.status}",
            **_open_keys(rec.status in OPEN_PAYMENT, rec.created_at, f"PAYMENT#{rec.id}"),
            **{k: v for k, v in asdict(rec).items() if v is not None},
        }

    @staticmethod
    def refund_item(rec: RefundRecord) -> dict[str, Any]:
        sk = f"REFUND#{rec.payment_id}#{rec.id}"
        return {
            "pk": practice_pk(rec.practice_id),
            "sk": sk,
            **_open_keys(rec.status in OPEN_REFUND, rec.created_at, sk),
            **{k: v for k, v in asdict(rec).items() if v is not None},
        }

    def put_payment(self, tx: Transaction, rec: PaymentRecord, expected: PaymentRecord | None) -> int:
        """Add a payment's write to `tx`: a new payment (expected None) only if it does not exist yet; a change
        only if the payment is still the one it was computed from (its version and its status), so a move
        computed from a stale read can never land. The item's index in `tx`."""
        item = self.payment_item(rec)
        if expected is None:
            return tx.put(self.table_name, item, "attribute_not_exists(pk)")
        values = {":v": expected.version, ":s": expected.status}
        return tx.put(self.table_name, item, "version = :v AND #s = :s", values, {"#s": "status"})

    def put_refund(self, tx: Transaction, rec: RefundRecord, expected_status: frozenset[str] | None) -> int:
        """Add a refund's write to `tx`: a new refund (None) only if it does not exist yet, else only while its
        status is one of `expected_status` (an outcome is applied once: a second applier's write fails)."""
        item = self.refund_item(rec)
        if expected_status is None:
            return tx.put(self.table_name, item, "attribute_not_exists(pk)")
        names = sorted(expected_status)
        values = {f":s{n}": status for n, status in enumerate(names)}
        condition = f"#s IN ({', '.join(values)})"
        return tx.put(self.table_name, item, condition, values, {"#s": "status"})

    def put_new(self, tx: Transaction, item: dict[str, Any]) -> int:
        """Add an item that must not exist yet (an Idempotency-Key guard) to `tx`."""
        return tx.put(self.table_name, item, "attribute_not_exists(pk)")

    @staticmethod
    def key_key(practice_id: str, key_hash: str) -> dict[str, str]:
        return {"pk": practice_pk(practice_id), "sk": f"PAYKEY#{key_hash}"}

    def key_item(self, practice_id: str, key_hash: str, payment_id: str, fingerprint: str) -> dict[str, str]:
        """Guards one payment per (invoice, Idempotency-Key): a retry finds the payment it started, the request
        it was made for (`fingerprint`: the same key with another body is refused) and, once there is one, the
        first answer (`answer`, written in the transaction that settles the payment)."""
        return {**self.key_key(practice_id, key_hash), "payment_id": payment_id, "fingerprint": fingerprint}

    @staticmethod
    def guard_from_item(item: dict[str, Any]) -> KeyGuard:
        answer = item.get("answer")
        return KeyGuard(
            payment_id=item["payment_id"],
            fingerprint=item.get("fingerprint"),
            answer=from_item(PaymentRecord, answer) if answer else None,
        )

    def remember_answer(self, tx: Transaction, key: dict[str, str], rec: PaymentRecord) -> None:
        """Add to `tx`: the guard `key` keeps the payment as first answered (a replay answers the same)."""
        answer = {k: v for k, v in asdict(rec).items() if v is not None}
        tx.update(self.table_name, key, "SET #a = :a", {"#a": "answer"}, {":a": answer})

    def get_refund(self, practice_id: str, payment_id: str, refund_id: str) -> RefundRecord | None:
        item = self._table.get_item(
            Key={"pk": practice_pk(practice_id), "sk": f"REFUND#{payment_id}#{refund_id}"}, ConsistentRead=True
        ).get("Item")
        return from_item(RefundRecord, item) if item else None

    @staticmethod
    def payment_from_item(item: dict[str, Any]) -> PaymentRecord:
        return from_item(PaymentRecord, item)

    @staticmethod
    def refund_from_item(item: dict[str, Any]) -> RefundRecord:
        return from_item(RefundRecord, item)

    def get_many(self, ids: list[tuple[str, str]]) -> list[PaymentRecord | None]:
        """Payments by (practice id, payment id), one BatchGetItem per 100; None where there is none."""
        keys = [(self.table_name, {"pk": practice_pk(p), "sk": f"PAYMENT#{i}"}) for p, i in ids]
        items = batch_get(self._table.meta.client, keys) if keys else []
        return [from_item(PaymentRecord, item) if item else None for item in items]

    def get(self, practice_id: str, payment_id: str) -> PaymentRecord | None:
        item = self._table.get_item(
            Key={"pk": practice_pk(practice_id), "sk": f"PAYMENT#{payment_id}"}, ConsistentRead=True
        ).get("Item")
        return from_item(PaymentRecord, item) if item else None

    def open_items(self, cursor: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """One page of every practice's open payments and refunds, oldest first (the sparse `open` index)."""
        kwargs: dict[str, Any] = {"IndexName": "open", "KeyConditionExpression": Key("gsi3pk").eq(OPEN_PARTITION)}
        if cursor:
            kwargs["ExclusiveStartKey"] = cursor
        out = self._table.query(**kwargs)
        return out["Items"], out.get("LastEvaluatedKey")

    def query(
        self, practice_id: str, *, invoice_id: str | None, status: str | None, limit: int, cursor: str | None
    ) -> tuple[list[PaymentRecord], str | None]:
        pk = practice_pk(practice_id)
        items, next_cursor = list_page(
            self._table,
            pk=pk,
            sort_prefix="PAYMENT#",
            gsi1=("by_invoice", f"{pk}#INVOICE#{invoice_id}") if invoice_id else None,
            gsi2=("by_status", f"{pk}#STATUS#{status}") if status else None,
            status=status,
            limit=limit,
            cursor=cursor,
        )
        return [from_item(PaymentRecord, i) for i in items], next_cursor

    def created_between(
        self, practice_id: str, low_id: str, high_id: str, limit: int
    ) -> tuple[list[PaymentRecord], bool]:
        """A practice's payments whose (time-ordered) ids lie from `low_id` to `high_id`, oldest first: those
        created in that span (practicepay.staff.queue.payment_id_span). True when more are left than `limit`."""
        kwargs = {
            "KeyConditionExpression": Key("pk").eq(practice_pk(practice_id))
            & Key("sk").between(f"PAYMENT#{low_id}", f"PAYMENT#{high_id}"),
            "Limit": min(limit + 1, 1000),
        }
        items, more = query_until(self._table, kwargs, limit, max_pages=limit // 1000 + 2)
        return [from_item(PaymentRecord, i) for i in items], more
