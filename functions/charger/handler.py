"""The charge worker (SQS: one message per autopay charge the daily run found due). Each charge runs once per
(installment, attempt) however often it is delivered; a message that could not be handled (a first run of the
same charge still in progress, an AWS error) is reported failed, so SQS offers it again and, after five tries,
moves it to the charge dead-letter queue (alarmed)."""

from __future__ import annotations

import json

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from practicepay.billing.wiring import charge_worker
from practicepay.observability import entrypoint, metrics

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> str:
    outcome = charge_worker().handle(json.loads(record.body))
    metrics.add_metric(name=f"Autopay_{outcome}", unit=MetricUnit.Count, value=1)
    return outcome


@entrypoint()
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
