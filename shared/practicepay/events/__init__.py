"""Domain events (ids, amounts, statuses and reason codes; never PHI), derived from what a transaction changed
and written in that same transaction to the events table (a transactional outbox). The publisher puts them on
the EventBridge bus (`publish`): the table's stream feeds the publisher, so an event goes out if and only if its
change was committed. The table is also the record of what happened, in order per practice, for 30 days."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from practicepay.adapters.dynamo import practice_pk
from practicepay.clock import iso
from practicepay.ids import new_id

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
