"""What AWS does around the event buses locally: the events table's stream as Lambda's DynamoDB event source
mapping would hand it to the publisher (new rows only, as the CDK filter lets through), the clinical platform's
bus rule delivering encounters to the encounters function, and a tap on our bus to read what was published."""

from __future__ import annotations

import json
import os
import threading
from collections import deque
from typing import Any

import boto3

from infra.definitions import ENCOUNTERS, EVENTS_TABLE, PUBLISHER
from local.bootstrap import LOCAL_EVENT_TAP_ENV, LOCAL_PLATFORM_TAP_ENV
from local.front import ACCOUNT, invoke

STREAM_BATCH = 100


class LocalEvents:
    def __init__(self, keep: int = 200) -> None:
        self._streams = boto3.client("dynamodbstreams")
        self._sqs = boto3.client("sqs")
        self._iterators: dict[str, str] = {}
        self._lock = threading.Lock()
        self.recent: deque[dict[str, Any]] = deque(maxlen=keep)
        """The newest events read off our bus's tap (GET /_local/events)."""

    def publish_outbox(self) -> int:
        """Hand the events table's new stream records to the publisher, batch by batch; how many were INSERTs."""
        with self._lock:
            handled = 0
            for shard, iterator in self._shard_iterators().items():
                while iterator:
                    out = self._streams.get_records(ShardIterator=iterator, Limit=STREAM_BATCH)
                    records = [_lambda_record(r) for r in out["Records"] if r["eventName"] == "INSERT"]
                    if records:
                        result = invoke(PUBLISHER.name, {"Records": records}) or {}
                        if result.get("batchItemFailures"):
                            break  # the records from the first failure are offered again next time
                        handled += len(records)
                    self._iterators[shard] = iterator = out.get("NextShardIterator") or ""
                    if not out["Records"]:
                        break
            return handled

    def deliver_platform_events(self) -> int:
        """Encounters put on the platform's bus, to the encounters function as its EventBridge rule would."""
        handled = 0
        for message in self._receive(LOCAL_PLATFORM_TAP_ENV):
            invoke(ENCOUNTERS.name, _delivered(message))
            handled += 1
        return handled

    def published(self) -> list[dict[str, Any]]:
        """The events that reached our bus since the last call (also kept in `recent`)."""
        events = [_delivered(m) for m in self._receive(LOCAL_EVENT_TAP_ENV)]
        self.recent.extend(events)
        return events

    def _receive(self, env_var: str) -> list[dict[str, Any]]:
        url = os.environ[env_var]
        got: list[dict[str, Any]] = []
        while True:
            messages = self._sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
                "Messages", []
            )
            if not messages:
                return got
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
            self._sqs.delete_message_batch(QueueUrl=url, Entries=entries)
            got += messages

    def _shard_iterators(self) -> dict[str, str]:
        if not self._iterators:
            arn = boto3.client("dynamodb").describe_table(TableName=os.environ[EVENTS_TABLE.env_var])["Table"][
                "LatestStreamArn"
            ]
            for shard in self._streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
                self._iterators[shard["ShardId"]] = self._streams.get_shard_iterator(
                    StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
        return dict(self._iterators)


def _delivered(message: dict[str, Any]) -> dict[str, Any]:
    """The event a rule delivered to a tap queue, with the envelope's `account`, which moto leaves out and
    EventBridge always sets."""
    event = json.loads(message["Body"])
    event.setdefault("account", ACCOUNT)
    return event


def _lambda_record(record: dict[str, Any]) -> dict[str, Any]:
    """A GetRecords record as Lambda's DynamoDB event source hands it over (epoch seconds, not a datetime)."""
    stream = dict(record["dynamodb"])
    created = stream.get("ApproximateCreationDateTime")
    if created is not None and not isinstance(created, int | float):
        stream["ApproximateCreationDateTime"] = created.timestamp()
    return {**record, "dynamodb": stream, "eventSourceARN": "arn:aws:dynamodb:local:stream/practicepay-events"}
