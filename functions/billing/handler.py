"""The daily recurring-billing run (EventBridge Scheduler, once a day): announce upcoming autopay charges, then
queue every installment and membership cycle due on the run's date or before (practicepay.billing.run.DailyRun).

The run's date is the schedule's time (UTC; now, without one); an invocation with {"detail": {"run_date":
"YYYY-MM-DD"}} runs for that date instead (a catch-up run by hand)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import BaseModel, parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from practicepay.billing.wiring import daily_run
from practicepay.clock import utc_now
from practicepay.observability import entrypoint, metrics


class RunDetail(BaseModel):
    run_date: date | None = None


class ScheduledRun(BaseModel):
    time: datetime | None = None
    detail: RunDetail = Field(default_factory=RunDetail)


@entrypoint()
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    scheduled = parse(event=event, model=ScheduledRun)
    report = daily_run().run(scheduled.detail.run_date or (scheduled.time or utc_now()).date())
    metrics.add_metric(name="AutopayChargesQueued", unit=MetricUnit.Count, value=report.queued)
    metrics.add_metric(name="AutopayNotices", unit=MetricUnit.Count, value=report.noticed)
    return asdict(report)
