"""DynamoDB adapters for staff sessions and sign-ins (the staff table) and the audit trail (the audit table).

A session is `SESSION#<sha256 of the cookie>`; its last activity moves forward only while it is still alive (a
condition), and DynamoDB's TTL removes it after its absolute end. A sign-in is `SIGNIN#<sha256 of the state>`,
deleted on its one use (a condition: a replayed callback finds nothing).

An audit entry is `AUDIT#<time-ordered id>` in the practice's partition, put only if absent and never updated or
deleted (IAM grants this table PutItem alone: infra). `by_invoice` and `by_patient` read one record's trail."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from practicepay.adapters.cursors import decode_cursor, encode_cursor
from practicepay.adapters.dynamo import TableStore, Transaction, from_item, practice_pk
from practicepay.staff.models import AuditEntry, SignIn, StaffSession


class SessionStore(TableStore):
    @staticmethod
    def _session_key(id_hash: str) -> dict[str, str]:
        return {"pk": f"SESSION#{id_hash}", "sk": "SESSION"}

    @staticmethod
    def _signin_key(state_hash: str) -> dict[str, str]:
        return {"pk": f"SIGNIN#{state_hash}", "sk": "SIGNIN"}

    def create(self, session: StaffSession) -> None:
        item = {**self._session_key(session.id_hash), **asdict(session), "expiration": session.expiration()}
        self._table.put_item(Item=item, ConditionExpression=Attr("pk").not_exists())

    def get(self, id_hash: str) -> StaffSession | None:
        item = self._table.get_item(Key=self._session_key(id_hash), ConsistentRead=True).get("Item")
        return from_item(StaffSession, item) if item else None

    def touch(self, session: StaffSession, alive_after: str) -> bool:
        """Move the last activity to `session.last_seen`, only if the stored one is after `alive_after` (it has not
        gone idle meanwhile) and earlier than the new one. False when it had ended (or another request touched it)."""
        try:
            self._table.update_item(
                Key=self._session_key(session.id_hash),
                UpdateExpression="SET last_seen = :now",
                ConditionExpression=Attr("pk").exists()
                & Attr("last_seen").gt(alive_after)
                & Attr("last_seen").lt(session.last_seen),
                ExpressionAttributeValues={":now": session.last_seen},
            )
        except self._table.meta.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def delete(self, id_hash: str) -> None:
        self._table.delete_item(Key=self._session_key(id_hash))

    def start(self, signin: SignIn) -> None:
        item = {**self._signin_key(signin.state_hash), **asdict(signin), "expiration": signin.expiration()}
        self._table.put_item(Item=item, ConditionExpression=Attr("pk").not_exists())

    def take(self, state_hash: str) -> SignIn | None:
        """The sign-in with this state, removed as it is read: the second callback with the same state gets None."""
        try:
            out = self._table.delete_item(
                Key=self._signin_key(state_hash), ConditionExpression=Attr("pk").exists(), ReturnValues="ALL_OLD"
            )
        except self._table.meta.client.exceptions.ConditionalCheckFailedException:
            return None
        return from_item(SignIn, out["Attributes"])


class AuditStore(TableStore):
    def item(self, entry: AuditEntry) -> dict[str, Any]:
        pk = practice_pk(entry.practice_id)
        return {
            "pk": pk,
            "sk": f"AUDIT#{entry.id}",
            **({"gsi1pk": f"{pk}#INVOICE#{entry.invoice_id}"} if entry.invoice_id else {}),
            **({"gsi2pk": f"{pk}#PATIENT#{entry.patient_id}"} if entry.patient_id else {}),
            **{k: v for k, v in asdict(entry).items() if v is not None},
        }

    def add(self, tx: Transaction, entry: AuditEntry) -> None:
        """The entry rides in `tx`: it is written if and only if the change is."""
        tx.put(self.table_name, self.item(entry), "attribute_not_exists(pk)")

    def put(self, entry: AuditEntry) -> None:
        """An entry on its own: a read of PHI, a refused or failed action (nothing else was written)."""
        self._table.put_item(Item=self.item(entry), ConditionExpression=Attr("pk").not_exists())

    def query(
        self,
        practice_id: str,
        *,
        invoice_id: str | None = None,
        patient_id: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> tuple[list[AuditEntry], str | None]:
        """Newest first: the practice's whole trail, or one invoice's, or one patient's."""
        pk = practice_pk(practice_id)
        kwargs: dict[str, Any] = {"ScanIndexForward": False, "Limit": limit}
        if invoice_id:
            attr, partition = "gsi1pk", f"{pk}#INVOICE#{invoice_id}"
            kwargs.update(IndexName="by_invoice", KeyConditionExpression=Key(attr).eq(partition))
        elif patient_id:
            attr, partition = "gsi2pk", f"{pk}#PATIENT#{patient_id}"
            kwargs.update(IndexName="by_patient", KeyConditionExpression=Key(attr).eq(partition))
        else:
            attr, partition = "pk", pk
            kwargs["KeyConditionExpression"] = Key("pk").eq(pk) & Key("sk").begins_with("AUDIT#")
        if cursor:
            kwargs["ExclusiveStartKey"] = decode_cursor(cursor, attr, partition)
        out = self._table.query(**kwargs)
        entries = [from_item(AuditEntry, item) for item in out.get("Items", [])]
        last = out.get("LastEvaluatedKey")
        return entries, encode_cursor(last) if last else None
