"""The publisher: outbox rows (the events table's stream, new images) become events on the EventBridge bus.

Each event's detail is the row's detail with its `event_id` and `occurred_at`: EventBridge delivers at least
once, and a stream batch that partly failed is offered again, so consumers deduplicate by `event_id`."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import boto3

from practicepay.adapters.dynamo import plain
from practicepay.clock import from_iso
from practicepay.events import EVENT_SOURCE

PUT_EVENTS_MAX = 10  # entries per PutEvents call


def detail_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """What consumers receive as the event's detail."""
    return {"event_id": row["id"], "occurred_at": row["occurred_at"], **row["detail"]}


class Publisher:
    def __init__(self, bus_name: str, client: Any | None = None):
        self._bus = bus_name
        self._client = client or boto3.client("events")

    def entry(self, row: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "Source": EVENT_SOURCE,
            "DetailType": row["detail_type"],
            "Detail": json.dumps(detail_of(plain(dict(row))), separators=(",", ":")),  # stream numbers are Decimal
            "Time": from_iso(row["occurred_at"]),
            "Resources": [],
            "EventBusName": self._bus,
        }

    def publish(self, rows: Iterable[tuple[str, Mapping[str, Any]]]) -> list[str]:
        """Put (key, row) pairs on the bus, ten per call; the keys of the rows EventBridge did not take."""
        pending = list(rows)
        failed: list[str] = []
        for start in range(0, len(pending), PUT_EVENTS_MAX):
            chunk = pending[start : start + PUT_EVENTS_MAX]
            out = self._client.put_events(Entries=[self.entry(row) for _, row in chunk])
            if out.get("FailedEntryCount"):
                failed += [key for (key, _), result in zip(chunk, out["Entries"], strict=True) if "ErrorCode" in result]
        return failed
