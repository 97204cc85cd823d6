"""SQS adapter: the reconciliation queue for payments and refunds whose outcome at Splash is unknown."""

from __future__ import annotations

import json
from typing import Any

import boto3


class ReconciliationQueue:
    def __init__(self, queue_url: str, client: Any | None = None):
        self._url = queue_url
        self._client = client or boto3.client("sqs")

    def enqueue(
        self, *, practice_id: str, kind: str, record_id: str, order: str, payment_id: str | None = None
    ) -> None:
        """Ask the reconciler to look `order` up at Splash and settle the record (ids only, no PHI). A refund
        names its payment (refunds are kept under it)."""
        body = {"practice_id": practice_id, "kind": kind, "id": record_id, "order": order}
        if payment_id:
            body["payment_id"] = payment_id
        self._client.send_message(QueueUrl=self._url, MessageBody=json.dumps(body))


class ChargeQueue:
    """The charge queue: one message per autopay charge due (ids and dates only, no PHI), sent ten at a time."""

    BATCH = 10

    def __init__(self, queue_url: str, client: Any | None = None):
        self._url = queue_url
        self._client = client or boto3.client("sqs")

    def send(self, messages: list[dict[str, Any]]) -> int:
        """SendMessageBatch, ten per call; a message SQS refuses is sent again once. The calls made."""
        calls = 0
        for start in range(0, len(messages), self.BATCH):
            entries = [
                {"Id": str(i), "MessageBody": json.dumps(m)} for i, m in enumerate(messages[start : start + self.BATCH])
            ]
            for _ in range(2):
                out = self._client.send_message_batch(QueueUrl=self._url, Entries=entries)
                calls += 1
                failed = {f["Id"] for f in out.get("Failed", [])}
                entries = [e for e in entries if e["Id"] in failed]
                if not entries:
                    break
            if entries:
                raise RuntimeError(f"SQS refused {len(entries)} charge messages twice")
        return calls
