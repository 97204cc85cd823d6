"""One construct per Lambda function: its own role (a managed policy with exactly the statements it needs),
its own KMS-encrypted log group with retention, X-Ray tracing, reserved concurrency and an async DLQ."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.bundling import ARCHITECTURE, RUNTIME, function_code


class PracticePayFunction(Construct):
    MEMORY_MB = 512
    TIMEOUT = Duration.seconds(10)
    LOG_RETENTION = logs.RetentionDays.ONE_YEAR

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        description: str,
        layer: lambda_.ILayerVersion,
        key: kms.IKey,
        dead_letter_queue: sqs.IQueue,
        environment: dict[str, str],
        statements: Sequence[iam.PolicyStatement],
        reserved_concurrency: int,
        removal_policy: RemovalPolicy,
        timeout: Duration | None = None,
        detailed_tracing: bool = False,
        memory_mb: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.name = name
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=self.LOG_RETENTION,
            encryption_key=key,
            removal_policy=removal_policy,
        )
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            description=f"PracticePay {name} function: least privilege",
            statements=[
                iam.PolicyStatement(
                    sid="WriteOwnLogs",
                    actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[self.log_group.log_group_arn, f"{self.log_group.log_group_arn}:log-stream:*"],
                ),
                iam.PolicyStatement(
                    sid="XRayTraces",
                    actions=["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                    resources=["*"],
                ),
                iam.PolicyStatement(
                    sid="DeadLetters",
                    actions=["sqs:SendMessage"],
                    resources=[dead_letter_queue.queue_arn],
                ),
                iam.PolicyStatement(
                    sid="DeadLetterEncryption",
                    actions=["kms:Decrypt", "kms:GenerateDataKey"],
                    resources=[key.key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"sqs.{Stack.of(self).region}.amazonaws.com"}},
                ),
                *statements,
            ],
        )
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"PracticePay {name} function",
            managed_policies=[self.policy],
        )
        self.function = lambda_.Function(
            self,
            "Function",
            description=description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler="handler.lambda_handler",
            code=function_code(name),
            layers=[layer],
            # CDK may not add inline policies to this role: every permission is in the managed policy above.
            role=role.without_policy_updates(),
            memory_size=memory_mb or self.MEMORY_MB,
            timeout=timeout or self.TIMEOUT,
            tracing=lambda_.Tracing.ACTIVE,
            reserved_concurrent_executions=reserved_concurrency,
            dead_letter_queue=dead_letter_queue,
            log_group=self.log_group,
            environment={
                "POWERTOOLS_SERVICE_NAME": f"practicepay-{name}",
                "POWERTOOLS_METRICS_NAMESPACE": "PracticePay",
                "POWERTOOLS_LOG_LEVEL": "INFO",
                # Lambda active tracing records every invocation; the X-Ray SDK's subsegments cost ~450 ms of
                # cold start and are opt-in (ADR 0006).
                "PRACTICEPAY_DETAILED_TRACING": str(detailed_tracing).lower(),
                **environment,
            },
        )
        # CloudFormation orders the function after its role already (GetAtt); what must come first is the
        # managed policy, or the first invocations could run without their permissions.
        cfn_policy = self.policy.node.default_child
        self.function.node.default_child.add_override("DependsOn", [Stack.of(self).get_logical_id(cfn_policy)])


def table_access(sid: str, table: dynamodb.ITable, actions: list[str], *indexes: str) -> iam.PolicyStatement:
    """`actions` on the table and on the named indexes only (no index wildcard)."""
    resources = [table.table_arn, *(f"{table.table_arn}/index/{name}" for name in indexes)]
    return iam.PolicyStatement(sid=sid, actions=[f"dynamodb:{a}" for a in actions], resources=resources)


def consume(sid: str, queue: sqs.IQueue, key: kms.IKey) -> list[iam.PolicyStatement]:
    """What a Lambda SQS event source mapping needs of its queue (KMS-encrypted with `key`)."""
    region = Stack.of(queue).region
    return [
        iam.PolicyStatement(
            sid=sid,
            actions=[
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:ChangeMessageVisibility",
                "sqs:GetQueueAttributes",
            ],
            resources=[queue.queue_arn],
        ),
        iam.PolicyStatement(
            sid=f"{sid}Decrypt",
            actions=["kms:Decrypt"],
            resources=[key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"sqs.{region}.amazonaws.com"}},
        ),
    ]


def on_schedule(
    scope: Construct,
    construct_id: str,
    fn: PracticePayFunction,
    *,
    expression: scheduler.ScheduleExpression,
    description: str,
    max_event_age: Duration,
    target_input: scheduler.ScheduleTargetInput | None = None,
) -> scheduler.Schedule:
    """An EventBridge Scheduler schedule invoking `fn`, whose role may invoke that function and nothing else (a
    managed policy; no inline policy). No retries: the next tick is the retry."""
    invoke = iam.ManagedPolicy(
        scope,
        f"{construct_id}Policy",
        description=f"EventBridge Scheduler: {description}",
        statements=[
            iam.PolicyStatement(
                sid="InvokeFunction", actions=["lambda:InvokeFunction"], resources=[fn.function.function_arn]
            )
        ],
    )
    role = iam.Role(
        scope,
        f"{construct_id}Role",
        assumed_by=iam.ServicePrincipal(
            "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Stack.of(scope).account}}
        ),
        managed_policies=[invoke],
    )
    return scheduler.Schedule(
        scope,
        construct_id,
        description=description,
        schedule=expression,
        target=targets.LambdaInvoke(
            fn.function,
            role=role.without_policy_updates(),
            input=target_input,
            retry_attempts=0,
            max_event_age=max_event_age,
        ),
    )
