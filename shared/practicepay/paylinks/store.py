"""DynamoDB adapter for pay links, pay-page sessions and per-address identity failures (one table, TTL'd).

A link's item is keyed by the SHA-256 of its secret; `by_owner` lists an invoice's (or a patient's balance) links,
`by_id` finds one by its public id. Every count (visits, uses, wrong answers) is an atomic ADD conditioned on the
link's state, so two tabs or two attackers racing never get a sixth try or a fourth use."""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, replace
from datetime import datetime, timedelta
from typing import Any

from boto3.dynamodb.conditions import Key

from practicepay.adapters.dynamo import TableStore, Transaction, TransactionConflict, plain, practice_pk
from practicepay.clock import from_iso, iso
from practicepay.paylinks.models import IP_WINDOW_MINUTES, PageSession, PayLinkRecord, Submission

_LINK_FIELDS = PayLinkRecord.__dataclass_fields__
_SESSION_FIELDS = PageSession.__dataclass_fields__
_SUBMISSION_FIELDS = Submission.__dataclass_fields__
LINK_RETENTION_DAYS = 400
"""A link's record outlives its expiry by this long (staff see what happened on the invoice), then TTL removes it."""


def _owner(practice_id: str, invoice_id: str | None, patient_id: str) -> str:
    pk = practice_pk(practice_id)
    return f"{pk}#INVOICE#{invoice_id}" if invoice_id else f"{pk}#PATIENT#{patient_id}"


class PayLinkStore(TableStore):
    @staticmethod
    def key(link_hash: str) -> dict[str, str]:
        return {"pk": f"LINK#{link_hash}", "sk": "LINK"}

    # -- links ---------------------------------------------------------------------------------------------------

    def create(self, link: PayLinkRecord, events_table: str, event: dict[str, Any]) -> None:
        """The link and its `pay_link.created` event, together."""
        tx = Transaction()
        tx.put(self.table_name, self._item(link), "attribute_not_exists(pk)")
        tx.put(events_table, event)
        tx.commit()

    def get(self, link_hash: str) -> PayLinkRecord | None:
        item = self._table.get_item(Key=self.key(link_hash), ConsistentRead=True).get("Item")
        return _link(item) if item else None

    def by_id(self, practice_id: str, link_id: str) -> PayLinkRecord | None:
        out = self._table.query(IndexName="by_id", KeyConditionExpression=Key("link_id").eq(link_id), Limit=2)
        hashes = [i["secret_hash"] for i in out.get("Items", []) if i.get("practice_id") == practice_id]
        return self.get(hashes[0]) if hashes else None  # the index is eventually consistent: read the item itself

    def for_owner(self, practice_id: str, *, invoice_id: str | None, patient_id: str) -> list[PayLinkRecord]:
        out = self._table.query(
            IndexName="by_owner",
            KeyConditionExpression=Key("gsi1pk").eq(_owner(practice_id, invoice_id, patient_id)),
            ScanIndexForward=False,
            Limit=100,
        )
        return [_link(i) for i in out.get("Items", [])]

    def opened(self, link: PayLinkRecord, now: datetime) -> None:
        self._table.update_item(
            Key=self.key(link.secret_hash),
            UpdateExpression="ADD opened :one SET last_opened_at = :now",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":one": 1, ":now": iso(now)},
        )

    def count_attempt(self, link: PayLinkRecord, now: datetime, cap: int) -> int | None:
        """An identity answer counted *before* it is judged (a right one is taken back by `use`), so answers sent
        in parallel cannot all be judged before a lock: the link's count with this one, or None when it takes no
        answer now (revoked, locked, or `cap` already counted: 5 before its first lock, 10 after)."""
        try:
            out = self._table.update_item(
                Key=self.key(link.secret_hash),
                UpdateExpression="ADD identity_failures :one",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(revoked_at) "
                "AND (attribute_not_exists(locked_until) OR locked_until <= :now) "
                "AND (attribute_not_exists(identity_failures) OR identity_failures < :cap)",
                ExpressionAttributeValues={":one": 1, ":now": iso(now), ":cap": cap},
                ReturnValues="UPDATED_NEW",
            )
        except self._table.meta.client.exceptions.ConditionalCheckFailedException:
            return None
        return int(out["Attributes"]["identity_failures"])

    def apply_failure(self, after: PayLinkRecord, events_table: str, event: dict[str, Any] | None) -> None:
        """Lock or revoke the link after the wrong answer that counted to `after.identity_failures`, with its event:
        once, by the request whose answer reached that count (the count is atomic). Retried when DynamoDB cancels it
        for a concurrent write to the link (other answers being counted); a link gone meanwhile (TTL) is left."""
        if event is None:
            return
        if after.revoked_at is not None:
            change = ("SET #at = :at, #why = :why", {"#at": "revoked_at", "#why": "revoked_reason"})
            values = {":at": after.revoked_at, ":why": after.revoked_reason}
        else:
            change = ("SET #until = :until", {"#until": "locked_until"})
            values = {":until": after.locked_until}
        for attempt in range(5):
            tx = Transaction()
            tx.update(self.table_name, self.key(after.secret_hash), change[0], change[1], values)
            tx.put(events_table, event)
            try:
                tx.commit()
                return
            except TransactionConflict as exc:
                if exc.failed(0):  # the link is gone: nothing to lock
                    return
                if attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def revoke(self, link: PayLinkRecord, now: datetime, reason: str, events_table: str, event: dict) -> bool:
        """False when it was already revoked (a repeat changes nothing)."""
        tx = Transaction()
        tx.update(
            self.table_name,
            self.key(link.secret_hash),
            "SET #at = :at, #why = :why",
            {"#at": "revoked_at", "#why": "revoked_reason"},
            {":at": iso(now), ":why": reason},
            condition="attribute_exists(pk) AND attribute_not_exists(revoked_at)",
        )
        tx.put(events_table, event)
        try:
            tx.commit()
        except TransactionConflict:
            return False
        return True

    def use(self, link: PayLinkRecord, now: datetime) -> bool:
        """A right answer: count a verified visit, only while the link is live and has a use left, and take back the
        answer `count_attempt` counted. False (the answer still taken back) when the link has no use left."""
        try:
            self._table.update_item(
                Key=self.key(link.secret_hash),
                UpdateExpression="ADD uses :one, identity_failures :back",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(revoked_at) "
                "AND (attribute_not_exists(uses) OR uses < max_uses) AND expires_at > :now",
                ExpressionAttributeValues={":one": 1, ":back": -1, ":now": iso(now)},
            )
        except self._table.meta.client.exceptions.ConditionalCheckFailedException:
            self._table.update_item(
                Key=self.key(link.secret_hash),
                UpdateExpression="ADD identity_failures :back",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":back": -1},
            )
            return False
        return True

    def add_outcome(self, link: PayLinkRecord, *, payment_id: str | None = None, plan_id: str | None = None) -> None:
        """Remember a payment or plan made through the link (a string set: a replay adds nothing)."""
        attr, value = ("payment_ids", payment_id) if payment_id else ("plan_ids", plan_id)
        self._table.update_item(
            Key=self.key(link.secret_hash),
            UpdateExpression=f"ADD {attr} :ids",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":ids": {value}},
        )

    def _item(self, link: PayLinkRecord) -> dict[str, Any]:
        data = {k: v for k, v in asdict(link).items() if v not in (None, ())}
        for name in ("payment_ids", "plan_ids"):
            if name in data:
                data[name] = set(data[name])
        expiry = from_iso(link.expires_at) + timedelta(days=LINK_RETENTION_DAYS)
        return {
            **self.key(link.secret_hash),
            "gsi1pk": _owner(link.practice_id, link.invoice_id, link.patient_id),
            "gsi1sk": link.id,
            "link_id": link.id,
            "expiration": int(expiry.timestamp()),
            **data,
        }

    # -- submissions of the pay form (their receipts) ------------------------------------------------------------

    @staticmethod
    def submission_key(submission_id: str) -> dict[str, str]:
        return {"pk": f"RECEIPT#{submission_id}", "sk": "RECEIPT"}

    def start_submission(self, submission: Submission, link: PayLinkRecord) -> Submission | None:
        """Record a submit as started; None when this call did, else the submission that was there first."""
        try:
            self._table.put_item(
                Item=self._submission_item(submission, link), ConditionExpression="attribute_not_exists(pk)"
            )
        except self._table.meta.client.exceptions.ConditionalCheckFailedException:
            return self.submission(submission.id)
        return None

    def finish_submission(self, submission: Submission, link: PayLinkRecord) -> None:
        """Its outcome, once: only a started submission moves (two finishers agree; the first one's stays)."""
        with contextlib.suppress(self._table.meta.client.exceptions.ConditionalCheckFailedException):
            self._table.put_item(
                Item=self._submission_item(submission, link),
                ConditionExpression="#state = :started",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":started": "started"},
            )

    def submission(self, submission_id: str) -> Submission | None:
        item = self._table.get_item(Key=self.submission_key(submission_id), ConsistentRead=True).get("Item")
        if not item:
            return None
        data = {k: v for k, v in plain(item).items() if k in _SUBMISSION_FIELDS}
        for name in ("invoice_ids", "payment_ids"):
            data[name] = tuple(data.get(name) or ())
        return Submission(**data)

    def _submission_item(self, submission: Submission, link: PayLinkRecord) -> dict[str, Any]:
        expiry = from_iso(link.expires_at) + timedelta(days=LINK_RETENTION_DAYS)
        data = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(submission).items() if v is not None}
        return {**self.submission_key(submission.id), **data, "expiration": int(expiry.timestamp())}

    # -- sessions ------------------------------------------------------------------------------------------------

    @staticmethod
    def session_key(id_hash: str) -> dict[str, str]:
        return {"pk": f"SESSION#{id_hash}", "sk": "SESSION"}

    def put_session(self, session: PageSession) -> None:
        self._table.put_item(
            Item={
                **self.session_key(session.id_hash),
                **asdict(session),
                "expiration": int(from_iso(session.expires_at).timestamp()),
            }
        )

    def session(self, id_hash: str) -> PageSession | None:
        item = self._table.get_item(Key=self.session_key(id_hash), ConsistentRead=True).get("Item")
        if not item:
            return None
        return PageSession(**{k: v for k, v in plain(item).items() if k in _SESSION_FIELDS})

    def end_session(self, session: PageSession, now: datetime) -> None:
        """The session is over from `now` (TTL removes its item)."""
        self.put_session(replace(session, expires_at=iso(now)))

    # -- wrong answers per source address ------------------------------------------------------------------------

    def count_address_attempt(self, address_hash: str, now: datetime, back: bool = False) -> int:
        """Identity answers from this address (hashed) in the current 15-minute window, this one included, counted
        before it is judged; `back`: take back a right one. The count after the change."""
        window = int(now.timestamp()) // (IP_WINDOW_MINUTES * 60)
        out = self._table.update_item(
            Key={"pk": f"ADDRESS#{address_hash}", "sk": f"WINDOW#{window}"},
            UpdateExpression="ADD failures :n SET expiration = :exp",
            ExpressionAttributeValues={":n": -1 if back else 1, ":exp": (window + 2) * IP_WINDOW_MINUTES * 60},
            ReturnValues="UPDATED_NEW",
        )
        return int(out["Attributes"]["failures"])


def _link(item: dict[str, Any]) -> PayLinkRecord:
    data = {k: v for k, v in plain(item).items() if k in _LINK_FIELDS}
    for name in ("payment_ids", "plan_ids"):
        if name in data:
            data[name] = tuple(sorted(data[name]))
    return PayLinkRecord(**data)
