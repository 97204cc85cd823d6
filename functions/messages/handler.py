"""The messages function (ADR 0016). Three sources, one service:
- SQS: our bus's events (an EventBridge rule delivers the MESSAGE_EVENT_TYPES to the messages queue); a record that
  failed is reported, so SQS offers it again and, after five tries, moves it to the messages dead-letter queue.
- EventBridge Scheduler, every 15 minutes: the sweep (reminders due, texts held for quiet hours).
- SNS: SES's events (deliveries, bounces, complaints) and texts patients send to our number (STOP, START, HELP)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from practicepay.clock import from_iso
from practicepay.messages.wiring import message_service
from practicepay.observability import entrypoint, logger, metrics

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> list[str]:
    event = json.loads(record.body)
    outcomes = message_service().on_event(event["detail-type"], event["detail"])
    for outcome in outcomes:
        metrics.add_metric(name=f"Message_{outcome}", unit=MetricUnit.Count, value=1)
    return outcomes


def _feedback(record: dict[str, Any]) -> str:
    notice = json.loads(record["Sns"]["Message"])
    service = message_service()
    if "originationNumber" in notice:  # End User Messaging SMS two-way: a patient's text
        return service.on_inbound_sms(notice)
    return service.on_email_feedback(notice)


@entrypoint()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records") or []
    if records and records[0].get("eventSource") == "aws:sqs":
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    if records:  # SNS delivers one record per invocation
        outcomes = [_feedback(r) for r in records if r.get("EventSource") == "aws:sns"]
        logger.info("feedback handled", outcomes=outcomes)
        return {"outcomes": outcomes}
    detail = event.get("detail") or {}
    now = from_iso(detail["now"]) if isinstance(detail.get("now"), str) else None  # the local stack's clock
    counts = message_service().sweep(now)
    logger.info("messages sweep", **counts)
    return counts
