"""DynamoDB adapter for payment plans, memberships and their installments (the schedules table).

Every installment or membership with a charge ahead carries the sparse `due` index keys (one partition, sorted by
the date of its next charge), and every first charge not yet announced the `notices` keys, so the daily run finds
its work with range queries on those indexes, never a scan. A record leaves an index when it leaves the state.

Every write of a business step is one transaction, built here from the step's records: a record is new (it must
not exist yet) or changed from the version it was read at (optimistic locking), so a step either lands whole or,
when someone changed one of its records meanwhile, not at all. The records themselves live in billing.models."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from practicepay.adapters.dynamo import (
    TableStore,
    Transaction,
    TransactionConflict,
    from_item,
    plain,
    practice_pk,
    query_until,
)
from practicepay.billing.models import (
    CHARGEABLE,
    InstallmentRecord,
    PlanRecord,
    SubscriptionRecord,
    installment_id,
)
from practicepay.billing.schedule import RetryPolicy
from practicepay.errors import Conflict
from practicepay.events import event_item
from practicepay.invoices.models import InvoiceRecord
from practicepay.invoices.store import InvoiceStore

__all__ = [
    # the records, still importable from here (they live in billing.models)
    "CHARGEABLE",
    "DUE_PARTITION",
    "NOTICE_PARTITION",
    "InstallmentRecord",
    "PlanRecord",
    "ScheduleStore",
    "SubscriptionRecord",
    "installment_id",
]

DUE_PARTITION = "DUE"
NOTICE_PARTITION = "NOTICE"
NEW = "attribute_not_exists(pk)"
SAME_VERSION = "version = :v"

Event = tuple[str, dict[str, Any]]
"""An event to write with a step: its detail-type and detail (practicepay.events.event_item makes the row)."""
Stopped = Sequence[tuple[InstallmentRecord, int]]
"""Changed installments, each with the version it was read at."""


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

    # -- writes: one transaction per business step ------------------------------------------------------------

    def put_installment(self, tx: Transaction, changed: InstallmentRecord, *, expected_version: int) -> None:
        """Add a changed installment to another writer's transaction (a payment's, practicepay.payments.book), to
        commit only if the installment is still at `expected_version`."""
        tx.put(self.table_name, self.installment_item(changed), SAME_VERSION, {":v": expected_version})

    def create_plan(
        self,
        plan: PlanRecord,
        installments: Sequence[InstallmentRecord],
        invoice: InvoiceRecord,
        invoice_version: int,
        *,
        invoices: InvoiceStore,
    ) -> None:
        """A new plan and all its installments, with its invoice's move to autopay (`invoice`, read at
        `invoice_version`), together. Conflict when the invoice changed meanwhile (or the plan exists)."""
        tx = Transaction()
        tx.put(self.table_name, self.plan_item(plan), NEW)
        for inst in installments:
            tx.put(self.table_name, self.installment_item(inst), NEW)
        invoices.replace(invoice, invoice_version, also=tx)

    def update_plan(self, changed: PlanRecord, *, expected_version: int) -> None:
        """A changed plan (its method), if nobody changed it since it was read; Conflict if somebody did."""
        tx = Transaction()
        tx.put(self.table_name, self.plan_item(changed), SAME_VERSION, {":v": expected_version})
        _commit(tx, "The plan changed while this request ran; retry.")

    def cancel_plan(
        self,
        canceled: PlanRecord,
        plan_version: int,
        stopped: Stopped,
        reopened: InvoiceRecord,
        invoice_version: int,
        *,
        invoices: InvoiceStore,
    ) -> None:
        """A canceled plan, its installments stopped and its invoice off autopay, together, each as it was read;
        Conflict when any of them changed meanwhile."""
        tx = Transaction()
        tx.put(self.table_name, self.plan_item(canceled), SAME_VERSION, {":v": plan_version})
        self._put_stopped(tx, stopped)
        invoices.put_changed(tx, reopened, invoice_version)
        _commit(tx, "The plan or its invoice changed while it was being canceled; retry.")

    def create_subscription(self, sub: SubscriptionRecord) -> None:
        """A new membership (TransactionConflict if it exists)."""
        tx = Transaction()
        tx.put(self.table_name, self.subscription_item(sub), NEW)
        tx.commit()

    def cancel_subscription(
        self,
        canceled: SubscriptionRecord,
        sub_version: int,
        stopped: Stopped,
        reopened: Sequence[tuple[InvoiceRecord, int]],
        *,
        invoices: InvoiceStore,
    ) -> None:
        """A canceled membership, its unpaid cycles stopped and their invoices off autopay, together, each as it
        was read; Conflict when any of them changed meanwhile."""
        tx = Transaction()
        tx.put(self.table_name, self.subscription_item(canceled), SAME_VERSION, {":v": sub_version})
        self._put_stopped(tx, stopped)
        for invoice, version in reopened:
            invoices.put_changed(tx, invoice, version)
        _commit(tx, "The membership changed while it was being canceled; retry.")

    def record_notice(
        self,
        noticed: InstallmentRecord | SubscriptionRecord,
        *,
        expected_version: int,
        event: Event,
        moment: datetime,
        events_table: str,
    ) -> bool:
        """A charge marked announced (an installment's first charge, or a membership's next cycle) with its
        installment.upcoming event, together; False (nothing written) when the record changed since it was read."""
        if isinstance(noticed, SubscriptionRecord):
            item = self.subscription_item(noticed)
        else:
            item = self.installment_item(noticed)
        tx = Transaction()
        tx.put(self.table_name, item, SAME_VERSION, {":v": expected_version})
        tx.put(events_table, event_item(noticed.practice_id, event[0], event[1], moment))
        try:
            tx.commit()
        except TransactionConflict:
            return False
        return True

    def update_installment(
        self,
        changed: InstallmentRecord,
        *,
        expected_version: int,
        events: Iterable[Event] = (),
        moment: datetime,
        events_table: str,
    ) -> None:
        """A changed installment and the events announcing it, together, if nobody changed the installment since
        it was read (TransactionConflict if somebody did)."""
        tx = Transaction()
        tx.put(self.table_name, self.installment_item(changed), SAME_VERSION, {":v": expected_version})
        for detail_type, detail in events:
            tx.put(events_table, event_item(changed.practice_id, detail_type, detail, moment))
        tx.commit()

    def issue_cycle(
        self,
        advanced: SubscriptionRecord,
        sub_version: int,
        inst: InstallmentRecord,
        invoice: InvoiceRecord,
        *,
        invoices: InvoiceStore,
    ) -> bool:
        """A membership's cycle: the membership moved to its next cycle (from `sub_version`), the cycle's new
        installment and its new invoice, together; False (nothing written) when a concurrent delivery did first."""
        tx = Transaction()
        tx.put(self.table_name, self.subscription_item(advanced), SAME_VERSION, {":v": sub_version})
        tx.put(self.table_name, self.installment_item(inst), NEW)
        tx.put(invoices.table_name, invoices.item(invoice), NEW)
        try:
            tx.commit()
        except TransactionConflict:
            return False
        return True

    def _put_stopped(self, tx: Transaction, stopped: Stopped) -> None:
        for inst, version in stopped:
            tx.put(self.table_name, self.installment_item(inst), SAME_VERSION, {":v": version})

    # -- internals -------------------------------------------------------------------------------------------

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

    # -- reads for the staff dashboard ------------------------------------------------------------------------

    def installments_in(
        self, practice_id: str, statuses: Iterable[str], limit: int
    ) -> tuple[list[InstallmentRecord], bool]:
        """A practice's installments and cycles in one of `statuses`, in key order (plan or membership, then
        sequence). The `due` index is one partition for every practice, so this reads the practice's partition
        (`INSTALLMENT#` prefix) with a filter: it costs every installment of the practice, bounded by
        adapters.dynamo.MAX_FILTERED_PAGES. True when more may be left."""
        kwargs = {
            "KeyConditionExpression": Key("pk").eq(practice_pk(practice_id)) & Key("sk").begins_with("INSTALLMENT#"),
            "FilterExpression": Attr("status").is_in(sorted(set(statuses))),
        }
        items, more = query_until(self._table, kwargs, limit)
        return [self.installment_from_item(i) for i in items], more


def _commit(tx: Transaction, conflict: str) -> None:
    try:
        tx.commit()
    except TransactionConflict as exc:
        raise Conflict(conflict) from exc


def _attrs(rec: Any) -> dict[str, Any]:
    return {k: v for k, v in asdict(rec).items() if v is not None}
