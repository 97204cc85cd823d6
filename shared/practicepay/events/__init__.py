"""Domain events (ids, amounts, statuses and reason codes; never PHI), derived from what a transaction changed
and written in that same transaction to the events table (a transactional outbox). The publisher puts them on
the EventBridge bus (`publish`): the table's stream feeds the publisher, so an event goes out if and only if its
change was committed. The table is also the record of what happened, in order per practice, for 30 days."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from practicepay.adapters.dynamo import TableStore, practice_pk, query_until
from practicepay.clock import iso
from practicepay.ids import new_id, ulid

RETENTION_SECONDS = 30 * 86400
EVENT_SOURCE = "practicepay"
"""The `source` of every event the publisher puts on the EventBridge bus."""

# payment status -> detail-type of the event announcing it
PAYMENT_EVENTS = {
    "succeeded": "payment.succeeded",
    "failed": "payment.failed",
    "returned": "payment.returned",
    "refunded": "payment.refunded",
    "partially_refunded": "payment.refunded",
    "voided": "payment.refunded",
}


def event_item(practice_id: str, detail_type: str, detail: dict[str, Any], moment: datetime) -> dict[str, Any]:
    """The outbox row: keyed by practice and a time-ordered id, so a practice's events read back in order."""
    epoch = moment.timestamp()
    event_id = new_id("evt", int(epoch * 1000))
    return {
        "pk": practice_pk(practice_id),
        "sk": f"EVENT#{event_id}",
        "id": event_id,
        "detail_type": detail_type,
        "detail": {"practice_id": practice_id, **detail},
        "occurred_at": iso(moment),
        "expiration": int(epoch) + RETENTION_SECONDS,
    }


class EventLog(TableStore):
    """The events table read as the record of what happened to a practice (its partition, in time order)."""

    def since(
        self, practice_id: str, detail_types: Iterable[str], moment: datetime, limit: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """The practice's events of `detail_types` that occurred from `moment` on, newest first: a key range on its
        partition (event ids are time-ordered) with a filter on the type, so it costs every event of the range
        (bounded by adapters.dynamo.MAX_FILTERED_PAGES). True when more may be left."""
        lowest = f"EVENT#evt_{ulid(int(moment.timestamp() * 1000))[:10]}"  # a ULID's first 10 characters: its time
        kwargs = {
            "KeyConditionExpression": Key("pk").eq(practice_pk(practice_id)) & Key("sk").gte(lowest),
            "FilterExpression": Attr("detail_type").is_in(sorted(set(detail_types))),
            "ScanIndexForward": False,
        }
        return query_until(self._table, kwargs, limit)
