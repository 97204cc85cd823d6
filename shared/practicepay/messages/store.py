"""DynamoDB adapter for patient messages: delivery records, preferences, the opt-out ledger, reminder schedules and
unsubscribe tokens (one table, ADR 0016).

A message is claimed by a conditional put of its deterministic key, so two deliveries of one event (or two sweeps
of one reminder) never both send; its outcome and its `message.sent`/`message.failed` event commit together."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from practicepay.adapters.dynamo import (
    TableStore,
    Transaction,
    TransactionConflict,
    from_item,
    practice_pk,
    query_until,
)
from practicepay.clock import from_iso, iso
from practicepay.messages.models import (
    CLAIM_SECONDS,
    DUE_PARTITION,
    RECORD_DAYS,
    Channel,
    MessageRecord,
    Preferences,
    Reminder,
    Status,
)
from practicepay.paylinks.models import secret_hash

UNSUBSCRIBE_DAYS = 400


def _conditional(exc: ClientError) -> bool:
    return exc.response["Error"]["Code"] == "ConditionalCheckFailedException"


class MessageStore(TableStore):
    @staticmethod
    def key(practice_id: str, message_id: str) -> dict[str, str]:
        return {"pk": practice_pk(practice_id), "sk": f"MESSAGE#{message_id}"}

    # -- delivery records ----------------------------------------------------------------------------------------

    def claim(self, record: MessageRecord, now: datetime) -> bool:
        """Take the message to send it: True when it is new, or a claim that never finished has timed out."""
        try:
            self._table.put_item(
                Item=self._item(record),
                ConditionExpression="attribute_not_exists(pk) OR (#s = :queued AND claimed_at < :stale)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":queued": Status.QUEUED.value,
                    ":stale": iso(now - timedelta(seconds=CLAIM_SECONDS)),
                },
            )
        except ClientError as exc:
            if _conditional(exc):
                return False
            raise
        return True

    def settle(self, record: MessageRecord, events_table: str | None = None, event: dict | None = None) -> None:
        """A claimed message's outcome (sent, failed, suppressed, held) and its event, together. The claim must
        still be ours (queued, with the claim time we set)."""
        tx = Transaction()
        tx.put(
            self.table_name,
            self._item(record),
            "#s = :queued AND claimed_at = :claimed",
            {":queued": Status.QUEUED.value, ":claimed": record.claimed_at},
            {"#s": "status"},
        )
        if event is not None and events_table:
            tx.put(events_table, event)
        tx.commit()

    def take_held(self, record: MessageRecord, now: datetime) -> MessageRecord | None:
        """A held text claimed for sending now (it leaves the `due` index); None when another sweep took it."""
        try:
            self._table.update_item(
                Key=self.key(record.practice_id, record.id),
                UpdateExpression="SET #s = :queued, claimed_at = :now, updated_at = :now REMOVE due_pk, due_sk",
                ConditionExpression="#s = :held",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":queued": Status.QUEUED.value,
                    ":held": Status.HELD.value,
                    ":now": iso(now),
                },
            )
        except ClientError as exc:
            if _conditional(exc):
                return None
            raise
        return MessageRecord(**{**asdict(record), "status": Status.QUEUED.value, "claimed_at": iso(now)})

    def get(self, practice_id: str, message_id: str) -> MessageRecord | None:
        item = self._table.get_item(Key=self.key(practice_id, message_id), ConsistentRead=True).get("Item")
        return from_item(MessageRecord, item) if item else None

    def by_provider(self, provider_id: str) -> MessageRecord | None:
        out = self._table.query(IndexName="by_provider", KeyConditionExpression=Key("provider_id").eq(provider_id))
        items = out.get("Items", [])
        return self.get(items[0]["practice_id"], items[0]["id"]) if items else None

    def delivery(self, record: MessageRecord, status: Status, now: datetime, reason: str | None = None) -> bool:
        """A delivery notice (delivered, bounced, failed) for a sent message; False when it moved on already (a
        notice delivered twice, or out of order after a bounce)."""
        names = {"#s": "status"}
        values: dict[str, Any] = {":new": status.value, ":now": iso(now), ":sent": Status.SENT.value}
        expression = "SET #s = :new, updated_at = :now"
        if status is Status.DELIVERED:
            expression += ", delivered_at = :now"
        if reason:
            expression += ", status_reason = :reason"
            values[":reason"] = reason
        condition = "#s = :sent" if status is Status.DELIVERED else "#s IN (:sent, :delivered)"
        if status is not Status.DELIVERED:
            values[":delivered"] = Status.DELIVERED.value
        try:
            self._table.update_item(
                Key=self.key(record.practice_id, record.id),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if _conditional(exc):
                return False
            raise
        return True

    def for_patient(self, practice_id: str, patient_id: str, limit: int = 100) -> list[MessageRecord]:
        return self._listed("by_patient", "gsi1pk", f"{practice_pk(practice_id)}#PATIENT#{patient_id}", limit)

    def for_invoice(self, practice_id: str, invoice_id: str, limit: int = 100) -> list[MessageRecord]:
        return self._listed("by_invoice", "gsi2pk", f"{practice_pk(practice_id)}#INVOICE#{invoice_id}", limit)

    def _listed(self, index: str, attribute: str, value: str, limit: int) -> list[MessageRecord]:
        out = self._table.query(
            IndexName=index, KeyConditionExpression=Key(attribute).eq(value), ScanIndexForward=False, Limit=limit
        )
        return [from_item(MessageRecord, i) for i in out.get("Items", [])]

    def _item(self, record: MessageRecord) -> dict[str, Any]:
        pk = practice_pk(record.practice_id)
        item: dict[str, Any] = {
            **self.key(record.practice_id, record.id),
            **{k: v for k, v in asdict(record).items() if v is not None},
            "gsi1pk": f"{pk}#PATIENT#{record.patient_id}",
            "gsi1sk": f"{record.created_at}#{record.id}",
            "expiration": int(from_iso(record.created_at).timestamp()) + RECORD_DAYS * 86400,
        }
        if record.invoice_id:
            item["gsi2pk"] = f"{pk}#INVOICE#{record.invoice_id}"
            item["gsi2sk"] = item["gsi1sk"]
        if record.status == Status.HELD and record.send_at:
            item["due_pk"] = DUE_PARTITION
            item["due_sk"] = f"{record.send_at}#MESSAGE#{record.practice_id}#{record.id}"
        return item

    # -- what waits for a time: held texts and reminders ---------------------------------------------------------

    def due(self, now: datetime, limit: int = 200) -> tuple[list[MessageRecord], list[Reminder]]:
        """Held texts and reminders whose time has come (the sparse `due` index, oldest first)."""
        out = self._table.query(
            IndexName="due",
            KeyConditionExpression=Key("due_pk").eq(DUE_PARTITION) & Key("due_sk").lte(iso(now) + "~"),
            Limit=limit,
        )
        held: list[MessageRecord] = []
        reminders: list[Reminder] = []
        for item in out.get("Items", []):
            if item["sk"].startswith("MESSAGE#"):
                held.append(from_item(MessageRecord, item))
            else:
                reminders.append(_reminder(item))
        return held, reminders

    @staticmethod
    def reminder_key(practice_id: str, invoice_id: str) -> dict[str, str]:
        return {"pk": practice_pk(practice_id), "sk": f"REMIND#{invoice_id}"}

    def schedule_reminders(self, reminder: Reminder) -> bool:
        """An invoice's reminder schedule, once (a second statement for it keeps the first schedule)."""
        try:
            self._table.put_item(Item=self._reminder_item(reminder), ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if _conditional(exc):
                return False
            raise
        return True

    def advance_reminder(self, current: Reminder, following: Reminder | None) -> bool:
        """Move the schedule past `current` (to `following`, or end it); False when another sweep already did."""
        key = self.reminder_key(current.practice_id, current.invoice_id)
        try:
            if following is None:
                self._table.delete_item(
                    Key=key,
                    ConditionExpression="next_index = :i",
                    ExpressionAttributeValues={":i": current.next_index},
                )
            else:
                self._table.put_item(
                    Item=self._reminder_item(following),
                    ConditionExpression="next_index = :i",
                    ExpressionAttributeValues={":i": current.next_index},
                )
        except ClientError as exc:
            if _conditional(exc):
                return False
            raise
        return True

    def _reminder_item(self, reminder: Reminder) -> dict[str, Any]:
        return {
            **self.reminder_key(reminder.practice_id, reminder.invoice_id),
            **asdict(reminder),
            "offsets": list(reminder.offsets),
            "due_pk": DUE_PARTITION,
            "due_sk": f"{reminder.send_at}#REMIND#{reminder.practice_id}#{reminder.invoice_id}",
        }

    # -- preferences and consent ---------------------------------------------------------------------------------

    @staticmethod
    def preferences_key(practice_id: str, patient_id: str) -> dict[str, str]:
        return {"pk": practice_pk(practice_id), "sk": f"PREFS#{patient_id}"}

    def preferences(self, practice_id: str, patient_id: str) -> Preferences:
        item = self._table.get_item(Key=self.preferences_key(practice_id, patient_id), ConsistentRead=True).get("Item")
        if item is None:
            return Preferences(practice_id=practice_id, patient_id=patient_id, updated_at="")
        return from_item(Preferences, item)

    def put_preferences(self, prefs: Preferences) -> None:
        """Write `prefs` if nobody changed them since they were read (their version); TransactionConflict if so."""
        item = {
            **self.preferences_key(prefs.practice_id, prefs.patient_id),
            **{k: v for k, v in asdict(prefs).items() if v is not None},
            "version": prefs.version + 1,
        }
        try:
            self._table.put_item(
                Item=item,
                ConditionExpression="attribute_not_exists(pk) OR version = :v",
                ExpressionAttributeValues={":v": prefs.version},
            )
        except ClientError as exc:
            if _conditional(exc):
                raise TransactionConflict("The patient's messaging preferences changed meanwhile; retry.") from exc
            raise

    # -- the opt-out ledger (by an HMAC of the address) ----------------------------------------------------------

    @staticmethod
    def opt_out_key(channel: Channel, fingerprint: str) -> dict[str, str]:
        return {"pk": f"OPTOUT#{channel.value}#{fingerprint}", "sk": "OPTOUT"}

    def opted_out(self, channel: Channel, fingerprint: str) -> str | None:
        """Why this address takes no messages (stop, bounce, complaint), or None."""
        item = self._table.get_item(Key=self.opt_out_key(channel, fingerprint), ConsistentRead=True).get("Item")
        return item["reason"] if item else None

    def opt_out(self, channel: Channel, fingerprint: str, reason: str, now: datetime) -> None:
        self._table.put_item(Item={**self.opt_out_key(channel, fingerprint), "reason": reason, "at": iso(now)})

    def opt_in(self, channel: Channel, fingerprint: str) -> None:
        self._table.delete_item(Key=self.opt_out_key(channel, fingerprint))

    # -- unsubscribe tokens (the email's link) -------------------------------------------------------------------

    def put_unsubscribe(self, token: str, practice_id: str, patient_id: str, now: datetime) -> None:
        self._table.put_item(
            Item={
                "pk": f"UNSUB#{secret_hash(token)}",
                "sk": "UNSUB",
                "practice_id": practice_id,
                "patient_id": patient_id,
                "expiration": int(now.timestamp()) + UNSUBSCRIBE_DAYS * 86400,
            }
        )

    def unsubscribe_owner(self, token: str, now: datetime) -> tuple[str, str] | None:
        item = self._table.get_item(Key={"pk": f"UNSUB#{secret_hash(token)}", "sk": "UNSUB"}).get("Item")
        if item is None or int(item["expiration"]) <= now.timestamp():
            return None
        return item["practice_id"], item["patient_id"]

    # -- reads for the staff dashboard ---------------------------------------------------------------------------

    def undeliverable(self, practice_id: str, reasons: Iterable[str], limit: int) -> tuple[list[MessageRecord], bool]:
        """A practice's messages that bounced, or were suppressed for one of `reasons` (the address opted out:
        an inbound STOP, a bounce, a complaint). Message ids are digests (not time-ordered) and the opt-out ledger
        is keyed by address, not practice: this reads the practice's `MESSAGE#` items with a filter, every one
        kept (bounded by MAX_FILTERED_PAGES). True when more may be left."""
        kwargs = {
            "KeyConditionExpression": Key("pk").eq(practice_pk(practice_id)) & Key("sk").begins_with("MESSAGE#"),
            "FilterExpression": Attr("status").eq(Status.BOUNCED.value)
            | (Attr("status").eq(Status.SUPPRESSED.value) & Attr("status_reason").is_in(sorted(set(reasons)))),
        }
        items, more = query_until(self._table, kwargs, limit)
        return [from_item(MessageRecord, i) for i in items], more


def _reminder(item: dict[str, Any]) -> Reminder:
    return Reminder(
        practice_id=item["practice_id"],
        invoice_id=item["invoice_id"],
        patient_id=item["patient_id"],
        due_date=item["due_date"],
        offsets=tuple(int(o) for o in item["offsets"]),
        next_index=int(item["next_index"]),
        send_at=item["send_at"],
    )
