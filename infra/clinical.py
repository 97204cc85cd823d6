"""Issue #7: onboarding (the practices function), the clinical platform's side (encounters from the API and from
a rule on the platform's EventBridge bus; our own bus, fed by the publisher from the events table's stream, with
an archive for replay) and the reports function.

The roles are immutable (infra/functions.py): each function's managed policy names exactly what it uses, the
stream reads of the publisher included."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.definitions import (
    DATA_KEY_ENV,
    ENCOUNTER_DETAIL_TYPE,
    ENCOUNTERS,
    EVENT_BUS_ENV,
    EVENTS_TABLE,
    FUNDS_TABLE,
    INVOICES_TABLE,
    PATIENTS_TABLE,
    PAYMENTS_TABLE,
    PRACTICES,
    PRACTICES_TABLE,
    PUBLISHER,
    REPORTS,
)
from infra.functions import PracticePayFunction, table_access

PUBLISH_BATCH = 10  # one PutEvents call per batch
REPORTS_TIMEOUT = Duration.seconds(25)  # API Gateway stops waiting at 29 s


class ClinicalConstruct(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tables: Mapping[str, dynamodb.ITable],
        key: kms.IKey,
        key_use: iam.PolicyStatement,
        dead_letter_queue: sqs.IQueue,
        splash_env: dict[str, str],
        splash_statements: Sequence[iam.PolicyStatement],
        splash_timeout: Duration,
        platform_bus_name: str,
        platform_source: str,
        concurrency: int,
        common: dict[str, Any],
    ) -> None:
        super().__init__(scope, construct_id)
        invoices, patients = tables[INVOICES_TABLE.logical_id], tables[PATIENTS_TABLE.logical_id]
        practices, payments = tables[PRACTICES_TABLE.logical_id], tables[PAYMENTS_TABLE.logical_id]
        events_table = tables[EVENTS_TABLE.logical_id]

        self.practices = PracticePayFunction(
            self,
            "PracticesFn",
            name=PRACTICES.name,
            description="Practices API: onboarding (boards the practice at Splash) and settings",
            environment={PRACTICES_TABLE.env_var: practices.table_name, **splash_env},
            statements=[
                table_access("Practices", practices, ["GetItem", "PutItem", "UpdateItem", "DeleteItem"]),
                key_use,
                *splash_statements,
            ],
            reserved_concurrency=concurrency,
            timeout=splash_timeout,
            **common,
        )
        self.encounters = PracticePayFunction(
            self,
            "EncountersFn",
            name=ENCOUNTERS.name,
            description="Encounter charges from the clinical platform (API and its bus) become invoices",
            environment={
                INVOICES_TABLE.env_var: invoices.table_name,
                PATIENTS_TABLE.env_var: patients.table_name,
                PRACTICES_TABLE.env_var: practices.table_name,
                EVENTS_TABLE.env_var: events_table.table_name,
                DATA_KEY_ENV: key.key_arn,
            },
            statements=[
                table_access("Invoices", invoices, ["GetItem", "PutItem"]),
                table_access("Patients", patients, ["GetItem", "ConditionCheckItem"]),
                table_access("Practices", practices, ["GetItem"]),
                table_access("Events", events_table, ["PutItem"]),
                key_use,
            ],
            reserved_concurrency=concurrency,
            **common,
        )
        platform_bus = events.EventBus.from_event_bus_name(self, "PlatformBus", platform_bus_name)
        events.Rule(
            self,
            "EncounterRule",
            event_bus=platform_bus,
            description="Encounter charges from the clinical platform, to the encounters function",
            event_pattern=events.EventPattern(source=[platform_source], detail_type=[ENCOUNTER_DETAIL_TYPE]),
            targets=[
                targets.LambdaFunction(
                    self.encounters.function,
                    dead_letter_queue=dead_letter_queue,
                    retry_attempts=4,
                    max_event_age=Duration.hours(24),
                )
            ],
        )

        self.reports = PracticePayFunction(
            self,
            "ReportsFn",
            name=REPORTS.name,
            description="Reports: payments, accounts-receivable aging and deposits (JSON and CSV); a deposit",
            environment={
                INVOICES_TABLE.env_var: invoices.table_name,
                PAYMENTS_TABLE.env_var: payments.table_name,
                PATIENTS_TABLE.env_var: patients.table_name,
                FUNDS_TABLE.env_var: tables[FUNDS_TABLE.logical_id].table_name,
                PRACTICES_TABLE.env_var: practices.table_name,
            },
            statements=[
                table_access("Receivables", invoices, ["Query"], "receivables"),
                # deposits by date, a deposit and its lines; each payment's settlement, a page in one BatchGetItem
                table_access(
                    "Deposits", tables[FUNDS_TABLE.logical_id], ["GetItem", "BatchGetItem", "Query"], "by_date"
                ),
                table_access("Practices", practices, ["GetItem"]),
                table_access("Payments", payments, ["Query"], "by_status"),
                table_access("PaymentMethods", patients, ["BatchGetItem"]),
                key_use,
            ],
            reserved_concurrency=concurrency,
            timeout=REPORTS_TIMEOUT,
            **common,
        )

        self.bus = events.EventBus(self, "Bus", description="PracticePay domain events (docs/events/)")
        self.bus.archive(
            "Archive",
            description="Every PracticePay event, for replay to a new or recovering consumer",
            event_pattern=events.EventPattern(source=["practicepay"]),
            retention=Duration.days(365),
        )
        stream_arn = events_table.table_stream_arn
        assert stream_arn is not None, "the events table has a stream (definitions.EVENTS_TABLE.stream)"
        self.publisher = PracticePayFunction(
            self,
            "PublisherFn",
            name=PUBLISHER.name,
            description="The events table's stream (the outbox) to the EventBridge bus",
            environment={EVENT_BUS_ENV: self.bus.event_bus_name},
            statements=[
                iam.PolicyStatement(sid="PutEvents", actions=["events:PutEvents"], resources=[self.bus.event_bus_arn]),
                iam.PolicyStatement(
                    sid="ReadOutboxStream",
                    actions=[
                        "dynamodb:DescribeStream",
                        "dynamodb:GetRecords",
                        "dynamodb:GetShardIterator",
                        "dynamodb:ListStreams",
                    ],
                    resources=[stream_arn],
                ),
                iam.PolicyStatement(
                    sid="ReadOutboxStreamDecrypt",
                    actions=["kms:Decrypt"],
                    resources=[key.key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"dynamodb.{Stack.of(self).region}.amazonaws.com"}},
                ),
            ],
            reserved_concurrency=2,
            **common,
        )
        self.publisher.function.add_event_source(
            sources.DynamoEventSource(
                events_table,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=PUBLISH_BATCH,
                filters=[lambda_.FilterCriteria.filter({"eventName": lambda_.FilterRule.is_equal("INSERT")})],
                report_batch_item_failures=True,
                bisect_batch_on_error=True,
                retry_attempts=20,
                on_failure=sources.SqsDlq(dead_letter_queue),
            )
        )
        CfnOutput(scope, "EventBusArn", value=self.bus.event_bus_arn).override_logical_id("EventBusArn")

    @property
    def functions(self) -> list[PracticePayFunction]:
        return [self.practices, self.encounters, self.reports, self.publisher]
