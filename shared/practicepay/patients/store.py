"""DynamoDB adapter for patients and their payment methods. Keys start with the practice id; an
`EXTERNAL#<id>` item keeps the clinical platform's patient id unique per practice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from practicepay.adapters.dynamo import (
    TableStore,
    Transaction,
    TransactionConflict,
    batch_get,
    from_item,
    list_page,
    patient_key,
    practice_pk,
    query_until,
)
from practicepay.errors import Conflict


@dataclass(frozen=True)
class PatientRecord:
    practice_id: str
    id: str
    external_id: str
    phi_sealed: str
    created_at: str
    updated_at: str
    splash_customer_id: str | None = None
    version: int = 1
    search_macs: tuple[str, ...] = ()
    """The blind index's MACs of the patient's names and date of birth (patients.search): its `SEARCH#` items."""


@dataclass(frozen=True)
class MethodRecord:
    practice_id: str
    id: str
    patient_id: str
    kind: str
    last4: str
    token_sealed: str
    splash_token_id: str
    consent: dict[str, Any]
    created_at: str
    status: str = "active"
    blocked_reason: str | None = None
    brand: str | None = None
    account_type: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None
    verified_at: str | None = None
    """A bank account's validation at Splash (an eCheck verification, txn type 12) before its first WEB debit."""
    update_reason: str | None = None
    """Set when the card's issuer says it needs the patient's new details (the account updater's outcome: `closed`
    or `contact_cardholder`); cleared when an update brings new details."""


CARD_FIELDS = ("exp_month", "exp_year", "last4", "update_reason")
"""What an account-updater result may change on a stored card."""


class PatientStore(TableStore):
    def __init__(self, table_name: str, resource: Any | None = None):
        super().__init__(table_name, resource)
        self._client = self._table.meta.client

    # -- patients --------------------------------------------------------------------------------------------

    def block_method(self, tx: Transaction, practice_id: str, method_id: str, reason: str) -> None:
        """Add to `tx`: the method is blocked (a bank return's code says it must not be debited again)."""
        tx.update(
            self.table_name,
            self.method_key(practice_id, method_id),
            "SET #s = :blocked, blocked_reason = :why",
            {"#s": "status"},
            {":blocked": "blocked", ":why": reason},
        )

    @staticmethod
    def _item(rec: PatientRecord) -> dict[str, Any]:
        fields = {k: v for k, v in asdict(rec).items() if v is not None and k != "search_macs"}
        return {
            "pk": practice_pk(rec.practice_id),
            "sk": f"PATIENT#{rec.id}",
            **fields,
            "search_macs": list(rec.search_macs),
        }

    @staticmethod
    def _search_key(practice_id: str, mac: str, patient_id: str) -> dict[str, str]:
        return {"pk": practice_pk(practice_id), "sk": f"SEARCH#{mac}#{patient_id}"}

    def _index(self, tx: Transaction, rec: PatientRecord, before: tuple[str, ...] = ()) -> None:
        """The patient's blind-index items follow its MACs: the new ones put, the ones it no longer has deleted."""
        for mac in sorted(set(before) - set(rec.search_macs)):
            tx.delete(self._table.name, self._search_key(rec.practice_id, mac, rec.id))
        for mac in sorted(set(rec.search_macs) - set(before)):
            tx.put(self._table.name, {**self._search_key(rec.practice_id, mac, rec.id), "patient_id": rec.id})

    def create(self, rec: PatientRecord) -> None:
        """The patient, its external-id guard and its blind-index items in one transaction: a second patient with
        the same external id in the practice is refused (409) and nothing is written."""
        pk = practice_pk(rec.practice_id)
        guard = {"pk": pk, "sk": f"EXTERNAL#{rec.external_id}", "patient_id": rec.id}
        tx = Transaction()
        tx.put(self._table.name, self._item(rec), "attribute_not_exists(pk)")
        tx.put(self._table.name, guard, "attribute_not_exists(pk)")
        self._index(tx, rec)
        try:
            tx.commit()
        except TransactionConflict as exc:
            raise Conflict(f"A patient with external_id {rec.external_id} already exists in this practice.") from exc

    def get(self, practice_id: str, patient_id: str) -> PatientRecord | None:
        item = self._table.get_item(Key=patient_key(practice_id, patient_id), ConsistentRead=True).get("Item")
        return _patient(item) if item else None

    def by_external_id(self, practice_id: str, external_id: str) -> PatientRecord | None:
        patient_id = self.id_of(practice_id, external_id)
        return self.get(practice_id, patient_id) if patient_id else None

    def id_of(self, practice_id: str, external_id: str) -> str | None:
        """Our patient id for the platform's external id (its guard item only: no read of the patient's PHI)."""
        guard = self._table.get_item(Key={"pk": practice_pk(practice_id), "sk": f"EXTERNAL#{external_id}"}).get("Item")
        return guard["patient_id"] if guard else None

    def list(self, practice_id: str, *, limit: int, cursor: str | None) -> tuple[list[PatientRecord], str | None]:
        items, next_cursor = list_page(
            self._table, pk=practice_pk(practice_id), sort_prefix="PATIENT#", limit=limit, cursor=cursor
        )
        return [_patient(i) for i in items], next_cursor

    def replace(self, rec: PatientRecord, before: PatientRecord) -> None:
        """Write a changed patient, with its blind index moved along, if nobody changed it since it was read as
        `before` (optimistic locking)."""
        tx = Transaction()
        tx.put(self._table.name, self._item(rec), "version = :v", {":v": before.version})
        self._index(tx, rec, before.search_macs)
        try:
            tx.commit()
        except TransactionConflict as exc:
            raise Conflict("The patient changed while this request ran; read it again and retry.") from exc

    def candidates(self, practice_id: str, macs: list[str]) -> list[str]:
        """The ids of the practice's patients indexed under every one of `macs` (one Query of its partition per MAC),
        in id order."""
        found: set[str] | None = None
        for mac in macs:
            ids = self._indexed(practice_id, mac)
            found = ids if found is None else found & ids
            if not found:
                return []
        return sorted(found or ())

    def get_many(self, practice_id: str, patient_ids: list[str]) -> list[PatientRecord]:
        """These patients (by BatchGetItem), those that exist."""
        keys = [(self._table.name, patient_key(practice_id, pid)) for pid in patient_ids]
        return [_patient(i) for i in batch_get(self._client, keys) if i]

    def _indexed(self, practice_id: str, mac: str) -> set[str]:
        """The ids of the practice's patients under one MAC, every page (a three-letter prefix may be common)."""
        ids: set[str] = set()
        args: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(practice_pk(practice_id)) & Key("sk").begins_with(f"SEARCH#{mac}#"),
            "ProjectionExpression": "patient_id",
        }
        while True:
            out = self._table.query(**args)
            ids.update(i["patient_id"] for i in out.get("Items", []))
            if "LastEvaluatedKey" not in out:
                return ids
            args["ExclusiveStartKey"] = out["LastEvaluatedKey"]

    def set_customer(self, practice_id: str, patient_id: str, customer_id: str) -> bool:
        """Record the patient's Splash customer once; False when one was already recorded."""
        try:
            self._table.update_item(
                Key=patient_key(practice_id, patient_id),
                UpdateExpression="SET splash_customer_id = :c",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(splash_customer_id)",
                ExpressionAttributeValues={":c": customer_id},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    # -- payment methods -------------------------------------------------------------------------------------

    @staticmethod
    def method_key(practice_id: str, method_id: str) -> dict[str, str]:
        return {"pk": practice_pk(practice_id), "sk": f"METHOD#{method_id}"}

    def put_method(self, rec: MethodRecord) -> None:
        item = {
            **self.method_key(rec.practice_id, rec.id),
            "gsi1pk": f"{practice_pk(rec.practice_id)}#PATIENT#{rec.patient_id}",
            **{k: v for k, v in asdict(rec).items() if v is not None},
        }
        self._table.put_item(Item=item, ConditionExpression=Attr("pk").not_exists())

    def get_method(self, practice_id: str, patient_id: str, method_id: str) -> MethodRecord | None:
        """The method, only if it belongs to `patient_id` (another patient's method id finds nothing)."""
        item = self._table.get_item(Key=self.method_key(practice_id, method_id), ConsistentRead=True).get("Item")
        method = method_from_item(item) if item else None
        return method if method is not None and method.patient_id == patient_id else None

    def methods(self, practice_id: str, patient_id: str) -> list[MethodRecord]:
        out = self._table.query(
            IndexName="by_patient",
            KeyConditionExpression=Key("gsi1pk").eq(f"{practice_pk(practice_id)}#PATIENT#{patient_id}"),
        )
        return [method_from_item(i) for i in out.get("Items", [])]

    def set_verified(self, practice_id: str, method_id: str, at: str) -> None:
        self._table.update_item(
            Key=self.method_key(practice_id, method_id),
            UpdateExpression="SET verified_at = :at",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":at": at},
        )

    def methods_of(self, keys: Sequence[tuple[str, str]]) -> list[MethodRecord | None]:
        """Methods by (practice id, method id), 100 per BatchGetItem, in the order asked; None where there is none."""
        found = batch_get(self._client, [(self.table_name, self.method_key(p, m)) for p, m in keys]) if keys else []
        return [method_from_item(item) if item else None for item in found]

    def methods_by_token(self, splash_token_id: str) -> list[MethodRecord]:
        """The methods (of any practice) that carry a Splash token, through the `by_token` index: eventually
        consistent, so a write based on them is conditional on what they were (`record_once`)."""
        out = self._table.query(IndexName="by_token", KeyConditionExpression=Key("splash_token_id").eq(splash_token_id))
        return [method_from_item(i) for i in out.get("Items", []) if str(i["sk"]).startswith("METHOD#")]

    def recorded(self, practice_id: str, sk: str) -> bool:
        """Whether the practice's once-only item `sk` (see `record_once`) exists."""
        item = self._table.get_item(Key={"pk": practice_pk(practice_id), "sk": sk}, ConsistentRead=True).get("Item")
        return item is not None

    def record_once(
        self,
        practice_id: str,
        sk: str,
        marker: dict[str, Any],
        *,
        changes: Sequence[tuple[MethodRecord, MethodRecord]] = (),
        events: Sequence[dict[str, Any]] = (),
        events_table: str,
    ) -> bool:
        """Do a step once: its marker item `sk` (under the practice; `marker` its attributes), each changed method
        (as read, then as it is to be: only its CARD_FIELDS are written, and only if it is still as read) and its
        event rows, in one transaction. False, writing nothing, when the marker exists (the step was done);
        TransactionConflict when a method changed since it was read (read it again)."""
        tx = Transaction()
        item = {"pk": practice_pk(practice_id), "sk": sk, **marker}
        marker_at = tx.put(self.table_name, item, "attribute_not_exists(pk)")
        for before, after in changes:
            self._change_card(tx, before, after)
        for row in events:
            tx.put(events_table, row)
        try:
            tx.commit()
        except TransactionConflict as exc:
            if exc.failed(marker_at):
                return False
            raise
        return True

    def _change_card(self, tx: Transaction, before: MethodRecord, after: MethodRecord) -> None:
        """Add to `tx`: the method's CARD_FIELDS as in `after` (None removes one), on the condition that its status
        and CARD_FIELDS are still as in `before` (the index it was found through may lag)."""
        names: dict[str, str] = {"#status": "status"}
        values: dict[str, Any] = {":status": before.status}
        conditions, sets, removes = ["#status = :status"], [], []
        for n, name in enumerate(CARD_FIELDS):
            names[f"#f{n}"] = name
            was, now = getattr(before, name), getattr(after, name)
            if was is None:
                conditions.append(f"attribute_not_exists(#f{n})")
            else:
                conditions.append(f"#f{n} = :was{n}")
                values[f":was{n}"] = was
            if now is None:
                removes.append(f"#f{n}")
            else:
                sets.append(f"#f{n} = :now{n}")
                values[f":now{n}"] = now
        clauses = [f"SET {', '.join(sets)}"] if sets else []
        if removes:
            clauses.append(f"REMOVE {', '.join(removes)}")
        key = self.method_key(before.practice_id, before.id)
        tx.update(self.table_name, key, " ".join(clauses), names, values, condition=" AND ".join(conditions))

    def deactivate_method(self, practice_id: str, patient_id: str, method_id: str) -> None:
        self._table.update_item(
            Key=self.method_key(practice_id, method_id),
            UpdateExpression="SET #s = :inactive",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":inactive": "inactive"},
        )

    # -- reads for the staff dashboard ------------------------------------------------------------------------

    def methods_with_status(self, practice_id: str, status: str, limit: int) -> tuple[list[MethodRecord], bool]:
        """A practice's payment methods in `status` (e.g. blocked after a bank return): its partition's `METHOD#`
        items with a filter, so it costs every method of the practice (bounded by MAX_FILTERED_PAGES). True when
        more may be left."""
        kwargs = {
            "KeyConditionExpression": Key("pk").eq(practice_pk(practice_id)) & Key("sk").begins_with("METHOD#"),
            "FilterExpression": Attr("status").eq(status),
        }
        items, more = query_until(self._table, kwargs, limit)
        return [method_from_item(i) for i in items], more

    def expiring_marked(self, practice_id: str, limit: int) -> tuple[list[tuple[str, str, str]], bool]:
        """The cards the daily run flagged as expiring before an autopay charge (its `EXPIRING#<method>#<YYYYMM>`
        markers, practicepay.cards.models.expiring_sk): (method id, the flagged expiry YYYYMM, the charge's date).
        A marker stays after the card is updated; the caller compares the card's expiry now."""
        kwargs = {"KeyConditionExpression": Key("pk").eq(practice_pk(practice_id)) & Key("sk").begins_with("EXPIRING#")}
        items, more = query_until(self._table, kwargs, limit)
        return [(i["payment_method_id"], str(i["sk"]).rpartition("#")[2], i["next_charge_on"]) for i in items], more


def _patient(item: dict[str, Any]) -> PatientRecord:
    rec = from_item(PatientRecord, item)
    return replace(rec, search_macs=tuple(rec.search_macs or ()))


def method_from_item(item: dict[str, Any]) -> MethodRecord:
    return from_item(MethodRecord, item)
