"""The sync table: raw Splash alerts as received (credentials erased; kept 30 days) and the status poll's
cursor."""

from __future__ import annotations

import contextlib
from typing import Any

from practicepay.adapters.dynamo import TableStore

RAW_ALERT_RETENTION_SECONDS = 30 * 86400


class SyncStore(TableStore):
    def put_alert(self, alert_id: str, *, body: str, received_at: str, epoch: float, source_ip: str | None) -> None:
        """Keep the alert as received. A repeat of the same body overwrites its own row (same id)."""
        item = {
            "pk": f"ALERT#{alert_id}",
            "sk": "RAW",
            "body": body,
            "received_at": received_at,
            "expiration": int(epoch) + RAW_ALERT_RETENTION_SECONDS,
        }
        if source_ip:
            item["source_ip"] = source_ip
        self._table.put_item(Item=item)

    def get_alert(self, alert_id: str) -> dict[str, Any] | None:
        return self._table.get_item(Key={"pk": f"ALERT#{alert_id}", "sk": "RAW"}).get("Item")

    def cursor(self, name: str) -> str | None:
        item = self._table.get_item(Key={"pk": "CURSOR", "sk": name}, ConsistentRead=True).get("Item")
        return str(item["value"]) if item else None

    def save_cursor(self, name: str, value: str, updated_at: str) -> None:
        """Move the cursor forward only: a slower, older poll never moves it back."""
        with contextlib.suppress(self._table.meta.client.exceptions.ConditionalCheckFailedException):
            self._table.put_item(
                Item={"pk": "CURSOR", "sk": name, "value": value, "updated_at": updated_at},
                ConditionExpression="attribute_not_exists(pk) OR #v < :v",
                ExpressionAttributeNames={"#v": "value"},
                ExpressionAttributeValues={":v": value},
            )
