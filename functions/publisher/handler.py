"""Publisher: the events table's stream (new outbox rows) → the EventBridge bus. Rows EventBridge refused are
reported as batch item failures, so the stream offers them again."""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecordEventName
from aws_lambda_powertools.utilities.typing import LambdaContext

from practicepay.config import PublisherConfig, load
from practicepay.events.publish import Publisher
from practicepay.observability import entrypoint, logger, metrics


@cache
def publisher() -> Publisher:
    return Publisher(load(PublisherConfig).event_bus_name)


@entrypoint()
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    rows = [
        (record.dynamodb.sequence_number, record.dynamodb.new_image)
        for record in DynamoDBStreamEvent(event).records
        if record.event_name == DynamoDBRecordEventName.INSERT and record.dynamodb and record.dynamodb.new_image
    ]
    failed = publisher().publish(rows)
    metrics.add_metric(name="EventsPublished", unit=MetricUnit.Count, value=len(rows) - len(failed))
    if failed:
        logger.warning("eventbridge refused events", count=len(failed))
    return {"batchItemFailures": [{"itemIdentifier": seq} for seq in failed]}
