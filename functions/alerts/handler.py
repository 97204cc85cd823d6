"""Processes queued Splash alerts (SQS FIFO): each names a Splash record; its truth is fetched and applied
(practicepay.sync.service). A failure is reported per message, so only that message (and the rest of its
group, to keep the order) comes back; after 5 receives it goes to the DLQ."""

from __future__ import annotations

import json

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from practicepay.observability import entrypoint, metrics
from practicepay.sync.wiring import status_sync

processor = SqsFifoPartialProcessor()


def record_handler(record: SQSRecord) -> str:
    message = json.loads(record.body)
    outcome = status_sync().handle_alert(int(message["resource"]), str(message["record_id"]))
    metrics.add_metric(name=f"AlertApplied_{outcome}", unit=MetricUnit.Count, value=1)
    return outcome


@entrypoint()
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
