"""Keeping statuses true to Splash (issue #5): the webhook intake, the alert processor on the FIFO alerts queue,
the reconciler on the reconciliation queue, and the status poll on an EventBridge Scheduler schedule.

The functions' roles are immutable (infra/functions.py), so the grants CDK's event sources would add are written
out here: each function's managed policy names exactly the queues, tables and indexes it uses."""

from __future__ import annotations

from collections.abc import Mapping
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
    ALERTS,
    ALERTS_QUEUE,
    EVENTS_TABLE,
    FUNDS_TABLE,
    INVOICES_TABLE,
    PATIENTS_TABLE,
    PAYMENTS_TABLE,
    POLL,
    POLL_EVERY_MINUTES,
    PRACTICES_TABLE,
    RECONCILER,
    RECONCILIATION_QUEUE,
    SCHEDULES_TABLE,
    SYNC_TABLE,
    WEBHOOK,
)
from infra.functions import PracticePayFunction, consume, on_schedule, table_access


class SyncConstruct(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tables: Mapping[str, dynamodb.ITable],
        queues: Mapping[str, sqs.IQueue],
        key: kms.IKey,
        shared_statements: list[
            iam.PolicyStatement
        ],  # the data key and the Splash secret, as the API functions get them
        splash_env: dict[str, str],
        concurrency: int,
        common: dict[str, Any],
    ) -> None:
        super().__init__(scope, construct_id)
        sync_table, events_table = tables[SYNC_TABLE.logical_id], tables[EVENTS_TABLE.logical_id]
        payments, invoices = tables[PAYMENTS_TABLE.logical_id], tables[INVOICES_TABLE.logical_id]
        patients, practices = tables[PATIENTS_TABLE.logical_id], tables[PRACTICES_TABLE.logical_id]
        schedules, funds = tables[SCHEDULES_TABLE.logical_id], tables[FUNDS_TABLE.logical_id]
        alerts_queue, reconciliation = queues[ALERTS_QUEUE.logical_id], queues[RECONCILIATION_QUEUE.logical_id]

        self.webhook = PracticePayFunction(
            self,
            "WebhookFn",
            name=WEBHOOK.name,
            description="Splash web alerts: authenticate the static header, keep the alert, queue it",
            environment={
                SYNC_TABLE.env_var: sync_table.table_name,
                ALERTS_QUEUE.env_var: alerts_queue.queue_url,
                **splash_env,
            },
            statements=[
                table_access("KeepRawAlerts", sync_table, ["PutItem"]),
                iam.PolicyStatement(sid="QueueAlerts", actions=["sqs:SendMessage"], resources=[alerts_queue.queue_arn]),
                *shared_statements,
            ],
            reserved_concurrency=concurrency,
            timeout=Duration.seconds(10),
            **common,
        )

        sync_env = {
            FUNDS_TABLE.env_var: funds.table_name,
            PAYMENTS_TABLE.env_var: payments.table_name,
            INVOICES_TABLE.env_var: invoices.table_name,
            PATIENTS_TABLE.env_var: patients.table_name,
            PRACTICES_TABLE.env_var: practices.table_name,
            EVENTS_TABLE.env_var: events_table.table_name,
            SYNC_TABLE.env_var: sync_table.table_name,
            SCHEDULES_TABLE.env_var: schedules.table_name,
            **splash_env,
        }
        sync_statements = [
            table_access("Payments", payments, ["GetItem", "BatchGetItem", "PutItem", "Query"], "open"),
            table_access("Installments", schedules, ["GetItem", "PutItem"]),  # a payment moves its installment
            table_access("InvoicesAndLedger", invoices, ["GetItem", "PutItem"]),
            # Disputes (a chargeback's stages), deposits and their lines, fees, settlements, applied card updates;
            # `due`: the daily check of disputes whose reply date is near.
            table_access("Funds", funds, ["GetItem", "PutItem", "UpdateItem", "Query"], "due"),
            # A returned account is blocked; the account updater finds a method by its token and replaces the card
            # with its marker item in one transaction.
            table_access("PaymentMethods", patients, ["GetItem", "PutItem", "UpdateItem", "Query"], "by_token"),
            table_access(
                "Practices", practices, ["GetItem", "Query", "Scan", "UpdateItem"], "by_merchant", "onboarding"
            ),
            table_access("Events", events_table, ["PutItem"]),
            table_access("PollCursor", sync_table, ["GetItem", "PutItem"]),
            *shared_statements,
        ]

        def consumer(construct_id: str, name: str, description: str, queue: sqs.IQueue) -> PracticePayFunction:
            fn = PracticePayFunction(
                self,
                construct_id,
                name=name,
                description=description,
                environment=sync_env,
                statements=[*sync_statements, *consume(f"Consume{construct_id.removesuffix('Fn')}", queue, key)],
                reserved_concurrency=concurrency,
                timeout=Duration.seconds(60),
                **common,
            )
            fn.function.add_event_source(sources.SqsEventSource(queue, batch_size=10, report_batch_item_failures=True))
            return fn

        self.alerts = consumer(
            "AlertsFn",
            ALERTS.name,
            "Applies queued Splash alerts: fetches each record from Splash and applies its status",
            alerts_queue,
        )
        self.reconciler = consumer(
            "ReconcilerFn",
            RECONCILER.name,
            "Settles payments and refunds whose outcome at Splash was never learned",
            reconciliation,
        )
        self.poll = PracticePayFunction(
            self,
            "PollFn",
            name=POLL.name,
            description="Scheduled status poll: Splash txns changed since the cursor, and every open payment",
            environment=sync_env,
            statements=sync_statements,
            reserved_concurrency=1,  # one poll at a time: the cursor has one writer
            timeout=Duration.minutes(4),
            **common,
        )
        self.schedule = on_schedule(
            self,
            "PollSchedule",
            self.poll,
            expression=scheduler.ScheduleExpression.rate(Duration.minutes(POLL_EVERY_MINUTES)),
            description="PracticePay status poll",
            max_event_age=Duration.minutes(POLL_EVERY_MINUTES),
        )

    @property
    def functions(self) -> list[PracticePayFunction]:
        return [self.webhook, self.alerts, self.reconciler, self.poll]
