"""DynamoDB adapter for deposits (the funds table, infra.definitions.FUNDS_TABLE).

- `DEPOSIT#<id>`: the deposit's summary, written at the version read (a new one only if absent); `by_date` lists a
  practice's deposits by the day Splash made them.
- `DEPOSIT#<id>#LINE#<entry id>`: one per Splash entry it paid out, written once (its key is the entry).
- `SETTLE#<payment id>`: a payment's settlement: the deposit its sale reached (`deposit_id`, `deposited_on`) and its
  fees (`fee_total`, with the entry ids already counted in `fee_entries`, so a fee is added once: the update's
  condition is that its entry is not counted yet). The payments report reads these by key, 100 per BatchGetItem.
- `FEE#<entry id>`: a fee in the practice's fee ledger (shared with disputes: DisputeStore.put_fee's shape).

A line, its fee and its settlement are written in one transaction; a line already there makes it AlreadyApplied."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from boto3.dynamodb.conditions import Key

from practicepay.adapters.dynamo import (
    TableStore,
    Transaction,
    TransactionConflict,
    from_item,
    practice_pk,
)
from practicepay.deposits.models import DepositRecord, LineKind, LineRecord
from practicepay.disputes.store import fee_item
from practicepay.events import event_item


class DepositStore(TableStore):
    @staticmethod
    def key(practice_id: str, deposit_id: str) -> dict[str, str]:
        return {"pk": practice_pk(practice_id), "sk": f"DEPOSIT#{deposit_id}"}

    @classmethod
    def item(cls, rec: DepositRecord) -> dict[str, Any]:
        summary = {k: v for k, v in asdict(rec).items() if v is not None and k != "lines"}
        return {
            **cls.key(rec.practice_id, rec.id),
            "gsi2pk": f"{practice_pk(rec.practice_id)}#DEPOSITS",
            "gsi2sk": f"{rec.deposited_on}#{rec.id}",
            **summary,
            "line_count": len(rec.lines),
        }

    def get(self, practice_id: str, deposit_id: str) -> DepositRecord | None:
        item = self._table.get_item(Key=self.key(practice_id, deposit_id), ConsistentRead=True).get("Item")
        if not item:
            return None
        return self._with_lines(item)

    def _with_lines(self, item: dict[str, Any]) -> DepositRecord:
        record = from_item(DepositRecord, item)
        lines = []
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(item["pk"]) & Key("sk").begins_with(f"{item['sk']}#LINE#"),
            "ConsistentRead": True,
        }
        while True:
            out = self._table.query(**kwargs)
            lines += [from_item(LineRecord, i) for i in out.get("Items", [])]
            if "LastEvaluatedKey" not in out:
                break
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]
        return DepositRecord(**{**record.__dict__, "lines": tuple(lines)})

    def between(self, practice_id: str, start: str, end: str) -> list[DepositRecord]:
        """A practice's deposits made from `start` to `end` (ISO dates, inclusive), oldest first, with their lines."""
        kwargs: dict[str, Any] = {
            "IndexName": "by_date",
            "KeyConditionExpression": Key("gsi2pk").eq(f"{practice_pk(practice_id)}#DEPOSITS")
            & Key("gsi2sk").between(f"{start}#", f"{end}#~"),
        }
        records = []
        while True:
            out = self._table.query(**kwargs)
            records += [self._with_lines(item) for item in out.get("Items", [])]  # the index projects whole items
            if "LastEvaluatedKey" not in out:
                return records
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]

    def put_line(self, practice_id: str, deposit: DepositRecord, line: LineRecord) -> bool:
        """One entry of a deposit, once, with what it implies: a processing fee's place in the practice's fee ledger
        and on its payment's settlement, a sale's deposit on its payment's settlement (a chargeback's fee is in the
        ledger already: the dispute booked it). False when the line was there already."""
        pk = practice_pk(practice_id)
        tx = Transaction()
        line_item = {"pk": pk, "sk": f"DEPOSIT#{deposit.id}#LINE#{line.entry_id}", "deposit_id": deposit.id}
        tx.put(self.table_name, {**line_item, **_present(asdict(line))}, "attribute_not_exists(pk)")
        settle = {"pk": pk, "sk": f"SETTLE#{line.payment_id}"}
        processing_fee = line.kind == LineKind.FEE and not line.splash_chargeback_id
        if processing_fee:
            fee = fee_item(
                practice_id,
                line.entry_id,
                type="fee",
                kind="processing",
                amount=line.amount,
                payment_id=line.payment_id,
                splash_txn_id=line.splash_txn_id,
                deposit_id=deposit.id,
                created_at=deposit.updated_at,
            )
            tx.put(self.table_name, _present(fee), "attribute_not_exists(pk)")
        if processing_fee and line.payment_id:
            tx.update(
                self.table_name,
                settle,
                "ADD #total :a, #entries :e SET #p = :p",
                {"#total": "fee_total", "#entries": "fee_entries", "#p": "payment_id"},
                {":a": line.amount, ":e": {line.entry_id}, ":p": line.payment_id, ":id": line.entry_id},
                condition="NOT contains(#entries, :id)",
            )
        elif line.kind == LineKind.PAYMENT and line.payment_id:
            tx.update(
                self.table_name,
                settle,
                "SET #d = :d, #on = :on, #p = :p",
                {"#d": "deposit_id", "#on": "deposited_on", "#p": "payment_id"},
                {":d": deposit.id, ":on": deposit.deposited_on, ":p": line.payment_id},
                condition="attribute_not_exists(#d) OR #d = :d",
            )
        try:
            tx.commit()
        except TransactionConflict:
            return False
        return True

    def put(self, rec: DepositRecord, expected: DepositRecord | None, events_table: str, events: list) -> bool:
        """The deposit's summary at the version read (new: only if absent), with its events. False if it moved."""
        tx = Transaction()
        if expected is None:
            tx.put(self.table_name, self.item(rec), "attribute_not_exists(pk)")
        else:
            tx.put(self.table_name, self.item(rec), "version = :v", {":v": expected.version})
        for detail_type, detail, moment in events:
            tx.put(events_table, event_item(rec.practice_id, detail_type, detail, moment))
        try:
            tx.commit()
        except TransactionConflict:
            return False
        return True


def _present(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}
