"""Installment plans, memberships and recurring billing (issue #6): the plans API function, the daily run on an
EventBridge Scheduler schedule, and the charge worker on the charge queue (partial batch failures, a DLQ).

The roles are immutable (infra/functions.py): each function's managed policy names exactly what it uses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.definitions import (
    BILLING,
    BILLING_RUN_CRON,
    CHARGE_QUEUE,
    CHARGER,
    EVENTS_TABLE,
    PATIENTS_TABLE,
    PLANS,
    SCHEDULES_TABLE,
)
from infra.functions import PracticePayFunction, consume, on_schedule, table_access

CHARGE_BATCH = 5
CHARGER_TIMEOUT = Duration.minutes(2)  # five charges, each at most two Splash attempts of 3 s + 8 s


class BillingConstruct(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tables: Mapping[str, dynamodb.ITable],
        queues: Mapping[str, sqs.IQueue],
        key: kms.IKey,
        key_use: iam.PolicyStatement,
        payment_env: dict[str, str],
        payment_statements: Sequence[iam.PolicyStatement],
        concurrency: int,
        api_timeout: Duration,
        common: dict[str, Any],
    ) -> None:
        super().__init__(scope, construct_id)
        schedules, events = tables[SCHEDULES_TABLE.logical_id], tables[EVENTS_TABLE.logical_id]
        charge_queue = queues[CHARGE_QUEUE.logical_id]
        env = {**payment_env, SCHEDULES_TABLE.env_var: schedules.table_name}
        self.env = env
        """What the plans API and the charge worker read (the pay page too: it makes plans and payments)."""
        # The payment statements cover invoices too (plans move theirs to in_progress; cycles issue invoices).
        # A stop-recurring decline blocks the card in the installment's transaction (billing.follow).
        block_cards = table_access("BlockStoppedCards", tables[PATIENTS_TABLE.logical_id], ["UpdateItem"])
        plans_statements = [
            *payment_statements,
            table_access("Schedules", schedules, ["GetItem", "PutItem", "Query"]),
            block_cards,
        ]
        self.plans_statements = plans_statements
        """The plans API's grants, which the pay page shares (it makes payments and plans the same way)."""
        charger_statements = [
            *payment_statements,
            table_access("Schedules", schedules, ["GetItem", "PutItem"]),
            block_cards,
        ]

        self.plans = PracticePayFunction(
            self,
            "PlansFn",
            name=PLANS.name,
            description="Payment plans and memberships API: make, read, change, pay early, cancel",
            environment=env,
            statements=plans_statements,
            reserved_concurrency=concurrency,
            timeout=api_timeout,
            **common,
        )
        self.charger = PracticePayFunction(
            self,
            "ChargerFn",
            name=CHARGER.name,
            description="Charges each autopay installment or membership cycle the daily run queued, once per attempt",
            environment=env,
            statements=[*charger_statements, *consume("ConsumeCharges", charge_queue, key)],
            reserved_concurrency=concurrency,
            timeout=CHARGER_TIMEOUT,
            **common,
        )
        self.charger.function.add_event_source(
            sources.SqsEventSource(charge_queue, batch_size=CHARGE_BATCH, report_batch_item_failures=True)
        )
        self.run = PracticePayFunction(
            self,
            "BillingRunFn",
            name=BILLING.name,
            description="Daily billing run: announces upcoming autopay charges and queues those due",
            environment={
                SCHEDULES_TABLE.env_var: schedules.table_name,
                EVENTS_TABLE.env_var: events.table_name,
                CHARGE_QUEUE.env_var: charge_queue.queue_url,
                PATIENTS_TABLE.env_var: tables[PATIENTS_TABLE.logical_id].table_name,
            },
            statements=[
                table_access("DueAndNotices", schedules, ["Query"], "due", "notices"),
                table_access("MarkNoticed", schedules, ["GetItem", "PutItem"]),  # and the plan of a card expiring
                table_access("Events", events, ["PutItem"]),
                # payment_method.expiring: read each autopay method, write its once-only marker item
                table_access(
                    "ExpiringMethods", tables[PATIENTS_TABLE.logical_id], ["GetItem", "BatchGetItem", "PutItem"]
                ),
                iam.PolicyStatement(
                    sid="QueueCharges", actions=["sqs:SendMessage"], resources=[charge_queue.queue_arn]
                ),
                key_use,
            ],
            reserved_concurrency=1,  # one run at a time
            timeout=Duration.minutes(10),
            **common,
        )
        self.schedule = on_schedule(
            self,
            "BillingRunSchedule",
            self.run,
            expression=scheduler.ScheduleExpression.cron(**BILLING_RUN_CRON),
            description="PracticePay daily billing run",
            max_event_age=Duration.hours(6),
            target_input=scheduler.ScheduleTargetInput.from_object(
                {"time": scheduler.ContextAttribute.scheduled_time, "detail": {}}
            ),
        )

    @property
    def functions(self) -> list[PracticePayFunction]:
        return [self.plans, self.charger, self.run]
