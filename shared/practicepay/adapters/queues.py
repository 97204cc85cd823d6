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
