"""The scheduled status poll (EventBridge Scheduler, every few minutes): what changed at Splash since the cursor,
plus every open payment the change feed did not show (practicepay.sync.service.StatusSync.poll)."""

from __future__ import annotations

from dataclasses import asdict

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from practicepay.observability import entrypoint, metrics
from practicepay.sync.wiring import status_sync


@entrypoint()
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    report = status_sync().poll()
    metrics.add_metric(name="PollChangedTxns", unit=MetricUnit.Count, value=report.changed)
    metrics.add_metric(name="PollSplashCalls", unit=MetricUnit.Count, value=report.splash_calls)
    return asdict(report)
