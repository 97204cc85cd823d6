"""Stateful resources: the customer-managed KMS key, DynamoDB tables, queues, their backups, the JWT secret.
Built from infra.definitions, the same definitions the local stack uses."""

from __future__ import annotations

import json

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_backup as backup
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.definitions import DATA_KEY_ALIAS, QUEUES, SPLASH_WEBHOOK_HEADER, TABLES, QueueDef, TableDef


def _attr(name: str) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING)


class DataConstruct(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, removal_policy: RemovalPolicy, jwt_secret: bool = True
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.key = kms.Key(
            self,
            "DataKey",
            alias=DATA_KEY_ALIAS,
            description="PracticePay: DynamoDB SSE, PHI envelope encryption, queues, logs, secrets",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        logs_arn = f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:*"
        # CloudWatch Logs encrypts the function and API log groups with this key.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
                resources=["*"],
                conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": logs_arn}},
            )
        )
        self.tables = {t.logical_id: self._table(t, removal_policy) for t in TABLES}
        self.queues: dict[str, sqs.Queue] = {}
        for spec in QUEUES:  # dead-letter queues are defined before the queues that use them
            self.queues[spec.logical_id] = self._queue(spec, removal_policy)
        self.jwt_secret: secretsmanager.Secret | None = None
        if jwt_secret:
            self.jwt_secret = secretsmanager.Secret(
                self,
                "JwtSigningSecret",
                description="HS256 secret shared with the clinical platform for PracticePay API tokens",
                encryption_key=self.key,
                generate_secret_string=secretsmanager.SecretStringGenerator(
                    password_length=64, exclude_punctuation=True
                ),
                removal_policy=removal_policy,
            )
        # Filled in by the operator with the Payrix API key; the webhook header value is generated here and
        # configured on the Splash alert action.
        self.splash_secret = secretsmanager.Secret(
            self,
            "SplashCredentials",
            description="Splash/Payrix API key and the static webhook header (JSON)",
            encryption_key=self.key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps({"api_key": "SET-ME", "webhook_header_name": SPLASH_WEBHOOK_HEADER}),
                generate_string_key="webhook_header_value",
                password_length=48,
                exclude_punctuation=True,
            ),
            removal_policy=removal_policy,
        )
        self._backups()

    def _table(self, spec: TableDef, removal_policy: RemovalPolicy) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            spec.logical_id,
            partition_key=_attr(spec.partition_key),
            sort_key=_attr(spec.sort_key) if spec.sort_key else None,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=spec.ttl_attribute,
            deletion_protection=removal_policy == RemovalPolicy.RETAIN,
            removal_policy=removal_policy,
            stream=dynamodb.StreamViewType.NEW_IMAGE if spec.stream else None,
        )
        for index in spec.indexes:
            table.add_global_secondary_index(
                index_name=index.name,
                partition_key=_attr(index.partition_key),
                sort_key=_attr(index.sort_key) if index.sort_key else None,
                projection_type=dynamodb.ProjectionType.ALL
                if index.include is None
                else dynamodb.ProjectionType.INCLUDE,
                non_key_attributes=list(index.include) if index.include is not None else None,
            )
        return table

    def _queue(self, spec: QueueDef, removal_policy: RemovalPolicy) -> sqs.Queue:
        return sqs.Queue(
            self,
            spec.logical_id,
            fifo=spec.fifo or None,
            retention_period=Duration.days(spec.retention_days),
            visibility_timeout=Duration.seconds(spec.visibility_timeout_seconds),
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.key,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.queues[spec.dead_letter], max_receive_count=spec.max_receive_count
            )
            if spec.dead_letter
            else None,
            removal_policy=removal_policy,
        )

    def _backups(self) -> None:
        vault = backup.BackupVault(self, "BackupVault", encryption_key=self.key, removal_policy=RemovalPolicy.RETAIN)
        plan = backup.BackupPlan.daily35_day_retention(self, "BackupPlan", vault)
        plan.add_selection(
            "Tables",
            resources=[backup.BackupResource.from_dynamo_db_table(t) for t in self.tables.values()],
        )
