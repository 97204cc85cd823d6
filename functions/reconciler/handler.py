"""The reconciler (SQS: payments and refunds whose outcome at Splash was never learned). Each is looked up at
Splash by its order id; one not found yet within the grace period is reported as failed, so SQS offers it
again after the visibility timeout (practicepay.sync.service.StatusSync.reconcile)."""

from __future__ import annotations

import json

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from practicepay.observability import entrypoint, metrics
from practicepay.sync.wiring import status_sync

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> str:
    message = json.loads(record.body)
    outcome = status_sync().reconcile(
        message["practice_id"], message["kind"], message["id"], payment_id=message.get("payment_id")
    )
    metrics.add_metric(name=f"Reconciled_{outcome}", unit=MetricUnit.Count, value=1)
    return outcome


@entrypoint()
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
