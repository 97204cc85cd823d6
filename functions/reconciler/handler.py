"""The reconciler (SQS: payments and refunds whose outcome at Splash was never learned). Each is looked up at
Splash by its order id; one not found yet within the grace period is reported as failed, so SQS offers it
again after the visibility timeout (practicepay.sync.service.StatusSync.reconcile). That expected wait is one
log line; any other failure is logged with its traceback."""

from __future__ import annotations

import json

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from practicepay.observability import entrypoint, logger, metrics
from practicepay.sync.service import NotYet
from practicepay.sync.wiring import status_sync

# Failed records are reported to SQS (batchItemFailures) and logged here, never raised as one batch error.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord) -> str:
    message = json.loads(record.body)
    try:
        outcome = status_sync().reconcile(
            message["practice_id"], message["kind"], message["id"], payment_id=message.get("payment_id")
        )
    except NotYet:
        logger.info("not at Splash yet; SQS offers it again after the visibility timeout", record_id=message["id"])
        metrics.add_metric(name="Reconciled_waiting", unit=MetricUnit.Count, value=1)
        raise
    except Exception:
        logger.exception("reconciliation failed; SQS offers it again", record_id=message["id"])
        raise
    metrics.add_metric(name=f"Reconciled_{outcome}", unit=MetricUnit.Count, value=1)
    return outcome


@entrypoint()
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
