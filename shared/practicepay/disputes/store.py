"""DynamoDB adapter for disputes and the practice's fee ledger (the funds table, infra.definitions.FUNDS_TABLE).

A dispute is `DISPUTE#<id>`, written only at the version it was read at (a new one only if absent), so two
appliers of one chargeback (an alert and the poll) write one record and one move. Its index keys follow its state:
`by_invoice` always, `by_date` (the practice's disputes by reply date) always, and the sparse `due` while it waits
for an answer and `dispute.due_soon` has not gone out. A fee is `FEE#<fact>`, written once (its key is the fact)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from practicepay.adapters.dynamo import TableStore, Transaction, TransactionConflict, from_item, practice_pk
from practicepay.clock import from_iso
from practicepay.disputes.models import DisputeRecord, DisputeStatus
from practicepay.events import event_item

DUE_PARTITION = "DUE"
FAR_FUTURE = "9999-12-31"


class DisputeStore(TableStore):
    @staticmethod
    def key(practice_id: str, dispute_id: str) -> dict[str, str]:
        return {"pk": practice_pk(practice_id), "sk": f"DISPUTE#{dispute_id}"}

    @classmethod
    def item(cls, rec: DisputeRecord) -> dict[str, Any]:
        pk = practice_pk(rec.practice_id)
        reply = rec.reply_by or FAR_FUTURE
        waiting = rec.status == DisputeStatus.NEEDS_RESPONSE and not rec.due_soon_at and rec.reply_by
        return {
            **cls.key(rec.practice_id, rec.id),
            "gsi1pk": f"{pk}#INVOICE#{rec.invoice_id}",
            "gsi1sk": f"DISPUTE#{rec.id}",
            "gsi2pk": f"{pk}#DISPUTES",
            "gsi2sk": f"{reply}#{rec.id}",
            **({"due_pk": DUE_PARTITION, "due_sk": f"{reply}#{rec.practice_id}#{rec.id}"} if waiting else {}),
            **{k: v for k, v in asdict(rec).items() if v is not None},
        }

    def put(self, tx: Transaction, rec: DisputeRecord, expected: DisputeRecord | None) -> int:
        """Add the dispute's write to `tx`: new only if absent, else only at the version it was read at. Its index."""
        if expected is None:
            return tx.put(self.table_name, self.item(rec), "attribute_not_exists(pk)")
        return tx.put(self.table_name, self.item(rec), "version = :v", {":v": expected.version})

    def save(
        self,
        rec: DisputeRecord,
        expected: DisputeRecord,
        events_table: str,
        events: list[tuple[str, dict[str, Any]]],
        moment: Any = None,
    ) -> bool:
        """A change that moves no money (an answer recorded, a deadline announced), with its events, at the version
        read. False when the dispute moved meanwhile (nothing written)."""
        tx = Transaction()
        self.put(tx, rec, expected)
        for detail_type, detail in events:
            tx.put(events_table, event_item(rec.practice_id, detail_type, detail, moment or from_iso(rec.updated_at)))
        try:
            tx.commit()
        except TransactionConflict:
            return False
        return True

    def put_fee(self, tx: Transaction, practice_id: str, fact: str, **fields: Any) -> int:
        """Add a fee ledger entry to `tx`, once (its key is the fact, e.g. `chargeback_fee#<chargeback id>`)."""
        return tx.put(self.table_name, fee_item(practice_id, fact, **fields), "attribute_not_exists(pk)")

    def get(self, practice_id: str, dispute_id: str) -> DisputeRecord | None:
        item = self._table.get_item(Key=self.key(practice_id, dispute_id), ConsistentRead=True).get("Item")
        return from_item(DisputeRecord, item) if item else None

    def for_invoice(self, practice_id: str, invoice_id: str) -> list[DisputeRecord]:
        out = self._table.query(
            IndexName="by_invoice",
            KeyConditionExpression=Key("gsi1pk").eq(f"{practice_pk(practice_id)}#INVOICE#{invoice_id}")
            & Key("gsi1sk").begins_with("DISPUTE#"),
        )
        return [from_item(DisputeRecord, i) for i in out.get("Items", [])]

    def query(self, practice_id: str, *, status: str | None, due_before: str | None) -> list[DisputeRecord]:
        """A practice's disputes, soonest reply deadline first (every page: a practice has few);
        `due_before`: reply by that day or earlier."""
        condition = Key("gsi2pk").eq(f"{practice_pk(practice_id)}#DISPUTES")
        if due_before:
            condition = condition & Key("gsi2sk").lte(f"{due_before}#~")
        kwargs: dict[str, Any] = {"IndexName": "by_date", "KeyConditionExpression": condition}
        if status:
            kwargs["FilterExpression"] = Attr("status").eq(status)
        records: list[DisputeRecord] = []
        while True:
            out = self._table.query(**kwargs)
            records += [from_item(DisputeRecord, i) for i in out.get("Items", [])]
            if "LastEvaluatedKey" not in out:
                return records
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]

    def due(self, through: str, limit: int = 200) -> list[DisputeRecord]:
        """Open disputes not yet announced whose reply deadline is on or before `through` (every practice)."""
        out = self._table.query(
            IndexName="due",
            KeyConditionExpression=Key("due_pk").eq(DUE_PARTITION) & Key("due_sk").lte(f"{through}#~"),
            Limit=limit,
        )
        # The index projects whole items: a record read here a moment stale is written only at its version (save).
        return [from_item(DisputeRecord, i) for i in out.get("Items", [])]


def fee_item(practice_id: str, fact: str, **fields: Any) -> dict[str, Any]:
    """A fee ledger entry (`FEE#<fact>`: a Splash fee entry's id), as disputes and deposits both book them."""
    return {"pk": practice_pk(practice_id), "sk": f"FEE#{fact}", "id": fact, **fields}
