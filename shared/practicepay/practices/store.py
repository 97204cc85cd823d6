"""The practice record: which Splash merchant a practice charges through, how far its boarding has got, and
its settings. Onboarding (practices.service) writes it; alerts and the status poll keep its merchant status
current. It holds no owner SSN and no full bank account number (those go to Splash and nowhere else)."""

from __future__ import annotations

import json
import time
from typing import Any

from boto3.dynamodb.conditions import Key

from practicepay.adapters.dynamo import TableStore, Transaction, TransactionConflict, plain
from practicepay.errors import Conflict
from practicepay.practices.models import (
    ONBOARDING_PARTITION,
    SETTLED_MERCHANT_STATUSES,
    Practice,
    PracticeSettings,
)
from practicepay.splash.models import MerchantStatus


def practice_item(practice: Practice) -> dict[str, Any]:
    """The stored item; a practice Splash has not decided yet carries the `onboarding` index's key."""
    item = practice.model_dump(mode="json", exclude_none=True)
    if practice.merchant_status not in SETTLED_MERCHANT_STATUSES:
        item["onboarding_pk"] = ONBOARDING_PARTITION
    return item


class PracticeStore(TableStore):
    """Practice records change rarely (onboarding); reads are cached per container for `cache_seconds`."""

    def __init__(self, table_name: str, resource: Any | None = None, cache_seconds: float = 60.0):
        super().__init__(table_name, resource)
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Practice]] = {}
        self._merchants: dict[str, tuple[float, Practice]] = {}

    def get(self, practice_id: str) -> Practice | None:
        item = self._table.get_item(Key={"practice_id": practice_id}, ConsistentRead=True).get("Item")
        return Practice.model_validate(plain(item)) if item else None

    def by_merchant(self, merchant_id: str) -> Practice | None:
        """The practice boarded as `merchant_id` (the by_merchant index; cached like `require`). A merchant that
        is not one of our practices' is None: its alerts and txns are not ours."""
        cached = self._merchants.get(merchant_id)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        out = self._table.query(
            IndexName="by_merchant", KeyConditionExpression=Key("splash_merchant_id").eq(merchant_id), Limit=2
        )
        items = out["Items"]
        practice = Practice.model_validate(plain(items[0])) if len(items) == 1 else None
        if practice is not None:
            self._merchants[merchant_id] = (time.monotonic() + self._cache_seconds, practice)
        return practice

    def onboarding(self) -> list[Practice]:
        """Every practice whose boarding Splash has not decided (the sparse `onboarding` index; a few at most)."""
        kwargs: dict[str, Any] = {
            "IndexName": "onboarding",
            "KeyConditionExpression": Key("onboarding_pk").eq(ONBOARDING_PARTITION),
        }
        found: list[Practice] = []
        while True:
            out = self._table.query(**kwargs)
            found += [Practice.model_validate(plain(i)) for i in out["Items"]]
            if "LastEvaluatedKey" not in out:
                return found
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]

    def merchant_slice(self, start: str | None, limit: int) -> tuple[list[Practice], str | None]:
        """Up to `limit` practices with a Splash merchant (a scan of the by_merchant index) after `start`, and the
        position to go on from (None: the end was reached, the next slice starts again at the beginning). The
        status poll re-reads these merchants in turn, for closures and holds an alert may not have told."""
        kwargs: dict[str, Any] = {"IndexName": "by_merchant", "Limit": limit}
        if start:
            kwargs["ExclusiveStartKey"] = json.loads(start)
        out = self._table.scan(**kwargs)
        after = out.get("LastEvaluatedKey")
        return [Practice.model_validate(plain(i)) for i in out["Items"]], json.dumps(plain(after)) if after else None

    def set_merchant_held(self, practice: Practice, held: bool, now: str) -> Practice:
        """Record whether Splash holds the merchant (frozen or inactive): a held merchant takes no charges."""
        changed = practice.model_copy(update={"merchant_held": held, "updated_at": now})
        self._table.update_item(
            Key={"practice_id": practice.practice_id},
            UpdateExpression="SET merchant_held = :h, updated_at = :t",
            ExpressionAttributeValues={":h": held, ":t": now},
        )
        self._forget(practice)
        return changed

    def set_merchant_status(self, practice: Practice, status: int, now: str) -> Practice:
        changed = practice.model_copy(update={"merchant_status": status, "updated_at": now})
        leaves_onboarding = status in SETTLED_MERCHANT_STATUSES
        self._table.update_item(
            Key={"practice_id": practice.practice_id},
            UpdateExpression="SET merchant_status = :s, updated_at = :t"
            + (" REMOVE onboarding_pk" if leaves_onboarding else ""),
            ExpressionAttributeValues={":s": status, ":t": now},
        )
        self._forget(practice)
        return changed

    def put(self, practice: Practice) -> None:
        self._table.put_item(Item=practice_item(practice))
        self._forget(practice)

    def put_new(self, practice: Practice) -> None:
        """Write a practice that does not exist yet; Conflict (409) when its id is taken."""
        try:
            self._table.put_item(Item=practice_item(practice), ConditionExpression="attribute_not_exists(practice_id)")
        except self._table.meta.client.exceptions.ConditionalCheckFailedException as exc:
            raise Conflict(f"A practice {practice.practice_id} already exists.") from exc

    def replace(self, practice: Practice, expected_version: int) -> None:
        """Write a changed practice if nobody changed it since it was read (Conflict otherwise)."""
        try:
            self._table.put_item(
                Item=practice_item(practice),
                ConditionExpression="version = :v",
                ExpressionAttributeValues={":v": expected_version},
            )
        except self._table.meta.client.exceptions.ConditionalCheckFailedException as exc:
            raise Conflict("The practice changed while this request ran; retry.") from exc
        self._forget(practice)

    def set_settings(self, practice: Practice, settings: PracticeSettings, now: str) -> Practice:
        """Change only the settings (an alert may be moving the merchant status meanwhile), if nobody changed them
        since `practice` was read (Conflict otherwise)."""
        changed = practice.model_copy(update={"settings": settings, "updated_at": now, "version": practice.version + 1})
        # A transaction of one item, so that a staff member's change carries its audit entry (staff.audit).
        tx = Transaction()
        tx.update(
            self.table_name,
            {"practice_id": practice.practice_id},
            "SET #s = :s, #t = :t, #n = :n",
            {"#s": "settings", "#t": "updated_at", "#n": "version"},
            {":s": settings.model_dump(mode="json"), ":t": now, ":n": changed.version, ":v": practice.version},
            condition="#n = :v",
        )
        try:
            tx.commit()
        except TransactionConflict as exc:
            raise Conflict("The practice's settings changed while this request ran; retry.") from exc
        self._forget(practice)
        return changed

    def delete_unboarded(self, practice_id: str) -> None:
        """Remove a practice record Splash never accepted (its boarding was refused), so a corrected request can
        board it again."""
        self._table.delete_item(
            Key={"practice_id": practice_id}, ConditionExpression="attribute_not_exists(splash_merchant_id)"
        )
        self._cache.pop(practice_id, None)

    def _forget(self, practice: Practice) -> None:
        self._cache.pop(practice.practice_id, None)
        self._merchants.pop(practice.splash_merchant_id or "", None)

    def require(self, practice_id: str) -> Practice:
        cached = self._cache.get(practice_id)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        practice = self.get(practice_id)
        if practice is not None and practice.merchant_status == MerchantStatus.BOARDED and not practice.merchant_held:
            # Only a boarded practice is cached: one still onboarding is read afresh, so it can take payments
            # as soon as Splash boards it (a held one, as soon as Splash releases it).
            self._cache[practice_id] = (time.monotonic() + self._cache_seconds, practice)
        if practice is None:
            raise Conflict("This practice is not set up for payments yet. Finish onboarding first.")
        return practice
