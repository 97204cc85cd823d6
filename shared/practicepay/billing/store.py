"""DynamoDB adapter for payment plans, memberships and their installments (the schedules table).

Every installment or membership with a charge ahead carries the sparse `due` index keys (one partition, sorted by
the date of its next charge), and every first charge not yet announced the `notices` keys, so the daily run finds
its work with range queries on those indexes, never a scan. A record leaves an index when it leaves the state."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from practicepay.adapters.dynamo import TableStore, from_item, plain, practice_pk
from practicepay.billing.schedule import RetryPolicy

DUE_PARTITION = "DUE"
NOTICE_PARTITION = "NOTICE"
CHARGEABLE = frozenset({"scheduled", "failed"})
"""Installment statuses with a charge ahead (a first attempt, or a retry)."""


@dataclass(frozen=True)
class PlanRecord:
    practice_id: str
    id: str
    invoice_id: str
    patient_id: str
    payment_method_id: str
    frequency: str
    first_date: str
    installment_count: int
    total: int
    status: str  # active, completed, canceled
    consent: dict[str, Any]
    policy: dict[str, Any]
    created_at: str
    updated_at: str
    version: int = 1


@dataclass(frozen=True)
class SubscriptionRecord:
    practice_id: str
    id: str
    patient_id: str
    payment_method_id: str
    amount: int
    frequency: str
    start_date: str
    status: str  # active, ended, canceled
    consent: dict[str, Any]
    policy: dict[str, Any]
    next_cycle: int
    """The number (1-based) of the next cycle to bill."""
    created_at: str
    updated_at: str
    next_cycle_on: str | None = None
    """Its date; None once the membership has ended or was canceled."""
    end_date: str | None = None
    noticed_cycle: int = 0
    """The latest cycle installment.upcoming has announced."""
    version: int = 1


@dataclass(frozen=True)
class InstallmentRecord:
    """One autopay charge: a plan's installment, or a membership's cycle (with the invoice it issued)."""

    practice_id: str
    owner_id: str
    """The plan (pln_…) or membership (sub_…) it belongs to."""
    seq: int
    invoice_id: str
    patient_id: str
    amount: int
    due_on: str
    status: str  # scheduled, processing, paid, failed, past_due, canceled
    policy: dict[str, Any]
    created_at: str
    updated_at: str
    version: int = 1
    attempts: int = 0
    """Charges sent (a re-presentment of a returned eCheck counts as one)."""
    first_attempt_on: str | None = None
    attempted_on: str | None = None
    next_attempt_on: str | None = None
    """When a failed installment is tried again; None when it is not."""
    payment_id: str | None = None
    """The payment of the latest attempt."""
    redeposit_of: str | None = None
    """The returned eCheck payment the next attempt re-presents (R01, R09)."""
    redeposits: int = 0
    failure: dict[str, Any] | None = None
    """Why the latest attempt failed: {category, code, message, will_retry}."""
    notice_on: str | None = None
    """When installment.upcoming announces the first charge (autopay's notice to the patient)."""
    noticed: bool = False
    paid_at: str | None = None

    @property
    def id(self) -> str:
        return installment_id(self.owner_id, self.seq)

    @property
    def next_charge_on(self) -> str | None:
        if self.status == "scheduled":
            return self.due_on
        return self.next_attempt_on if self.status == "failed" else None


def installment_id(owner_id: str, seq: int) -> str:
    return f"{owner_id}.{seq:03d}"


class ScheduleStore(TableStore):
    # -- keys and items --------------------------------------------------------------------------------------

    @staticmethod
    def plan_key(practice_id: str, invoice_id: str, plan_id: str) -> dict[str, str]:
        """Under its invoice: an invoice's plans read back newest first (plan ids are time-ordered)."""
        return {"pk": practice_pk(practice_id), "sk": f"PLAN#{invoice_id}#{plan_id}"}

    @staticmethod
    def subscription_key(practice_id: str, subscription_id: str) -> dict[str, str]:
        return {"pk": practice_pk(practice_id), "sk": f"SUB#{subscription_id}"}

    @staticmethod
    def installment_key(practice_id: str, inst_id: str) -> dict[str, str]:
        return {"pk": practice_pk(practice_id), "sk": f"INSTALLMENT#{inst_id}"}

    def plan_item(self, rec: PlanRecord) -> dict[str, Any]:
        return {**self.plan_key(rec.practice_id, rec.invoice_id, rec.id), **_attrs(rec)}

    def subscription_item(self, rec: SubscriptionRecord) -> dict[str, Any]:
        key = self.subscription_key(rec.practice_id, rec.id)
        item = {**key, **_attrs(rec)}
        if rec.status == "active" and rec.next_cycle_on:
            item.update(due_pk=DUE_PARTITION, due_sk=f"{rec.next_cycle_on}#{rec.practice_id}#{key['sk']}")
            if rec.noticed_cycle < rec.next_cycle:
                days = RetryPolicy.from_record(rec.policy).notice_days
                notice_on = (date.fromisoformat(rec.next_cycle_on) - timedelta(days=days)).isoformat()
                item.update(notice_pk=NOTICE_PARTITION, notice_sk=f"{notice_on}#{rec.practice_id}#{key['sk']}")
        return item

    def installment_item(self, rec: InstallmentRecord) -> dict[str, Any]:
        key = self.installment_key(rec.practice_id, rec.id)
        item = {**key, **_attrs(rec)}
        when = rec.next_charge_on
        if when:
            item.update(due_pk=DUE_PARTITION, due_sk=f"{when}#{rec.practice_id}#{key['sk']}")
        if rec.status == "scheduled" and not rec.noticed and rec.notice_on:
            item.update(notice_pk=NOTICE_PARTITION, notice_sk=f"{rec.notice_on}#{rec.practice_id}#{key['sk']}")
        return item

    @staticmethod
    def installment_from_item(item: dict[str, Any]) -> InstallmentRecord:
        return from_item(InstallmentRecord, item)

    @staticmethod
    def subscription_from_item(item: dict[str, Any]) -> SubscriptionRecord:
        return from_item(SubscriptionRecord, item)

    # -- reads -----------------------------------------------------------------------------------------------

    def get_plan(self, practice_id: str, invoice_id: str, plan_id: str) -> PlanRecord | None:
        item = self._get(self.plan_key(practice_id, invoice_id, plan_id))
        return from_item(PlanRecord, item) if item else None

    def latest_plan(self, practice_id: str, invoice_id: str) -> PlanRecord | None:
        out = self._table.query(
            KeyConditionExpression=Key("pk").eq(practice_pk(practice_id))
            & Key("sk").begins_with(f"PLAN#{invoice_id}#"),
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )
        items = out.get("Items", [])
        return from_item(PlanRecord, plain(items[0])) if items else None

    def get_subscription(self, practice_id: str, subscription_id: str) -> SubscriptionRecord | None:
        item = self._get(self.subscription_key(practice_id, subscription_id))
        return self.subscription_from_item(item) if item else None

    def get_installment(self, practice_id: str, inst_id: str) -> InstallmentRecord | None:
        item = self._get(self.installment_key(practice_id, inst_id))
        return self.installment_from_item(item) if item else None

    def installments(self, practice_id: str, owner_id: str) -> list[InstallmentRecord]:
        """A plan's installments or a membership's cycles, in order."""
        items = self._query_all(
            KeyConditionExpression=Key("pk").eq(practice_pk(practice_id))
            & Key("sk").begins_with(f"INSTALLMENT#{owner_id}."),
            ConsistentRead=True,
        )
        return [self.installment_from_item(i) for i in items]

    def subscriptions(self, practice_id: str, patient_id: str) -> list[SubscriptionRecord]:
        items = self._query_all(
            KeyConditionExpression=Key("pk").eq(practice_pk(practice_id)) & Key("sk").begins_with("SUB#"),
            FilterExpression=Attr("patient_id").eq(patient_id),
        )
        return [self.subscription_from_item(i) for i in items]

    def due(self, through: str, cursor: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], dict | None]:
        """One page of what has a charge due on or before `through` (YYYY-MM-DD): installments and memberships."""
        return self._index_page("due", "due_pk", DUE_PARTITION, "due_sk", through, cursor)

    def notices(self, through: str, cursor: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], dict | None]:
        """One page of first charges whose notice date is on or before `through` and not yet announced."""
        return self._index_page("notices", "notice_pk", NOTICE_PARTITION, "notice_sk", through, cursor)

    def _index_page(
        self, index: str, pk: str, partition: str, sk: str, through: str, cursor: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], dict | None]:
        kwargs: dict[str, Any] = {
            "IndexName": index,
            "KeyConditionExpression": Key(pk).eq(partition) & Key(sk).lte(f"{through}#\uffff"),
        }
        if cursor:
            kwargs["ExclusiveStartKey"] = cursor
        out = self._table.query(**kwargs)
        return [plain(i) for i in out.get("Items", [])], out.get("LastEvaluatedKey")

    def _get(self, key: dict[str, str]) -> dict[str, Any] | None:
        item = self._table.get_item(Key=key, ConsistentRead=True).get("Item")
        return plain(item) if item else None

    def _query_all(self, **kwargs: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            out = self._table.query(**kwargs)
            items.extend(out.get("Items", []))
            if "LastEvaluatedKey" not in out:
                return [plain(i) for i in items]
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]


def _attrs(rec: Any) -> dict[str, Any]:
    return {k: v for k, v in asdict(rec).items() if v is not None}
