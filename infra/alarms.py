"""Alarms on work that failed for good: a message in any dead-letter queue (a Lambda async failure, a payment the
reconciler could not settle, a Splash alert that could not be applied, an autopay charge that kept failing), and a
charge queue that is not draining. They notify one KMS-encrypted SNS topic; subscribe the on-call to it."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.definitions import CHARGE_QUEUE, DEAD_LETTER_QUEUES

CHARGE_BACKLOG_MAX_AGE = Duration.hours(1)


class AlarmsConstruct(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, queues: Mapping[str, sqs.IQueue], key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "Topic", display_name="PracticePay alarms", master_key=key, enforce_ssl=True)
        # CloudWatch publishes to the encrypted topic with the data key (and nothing else may use it this way).
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsToEncryptedTopic",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" is this key
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            )
        )
        notify = actions.SnsAction(self.topic)
        self.alarms: list[cloudwatch.Alarm] = []
        for dlq in DEAD_LETTER_QUEUES:
            queue = queues[dlq.logical_id]
            alarm = cloudwatch.Alarm(
                self,
                f"{dlq.logical_id}Depth",
                alarm_description=f"Messages in {dlq.local_name}: work that failed for good; see the README's "
                "troubleshooting to inspect and redrive them",
                metric=queue.metric_approximate_number_of_messages_visible(
                    period=Duration.minutes(5), statistic="Maximum"
                ),
                threshold=0,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(notify)
            self.alarms.append(alarm)
        backlog = cloudwatch.Alarm(
            self,
            "ChargeBacklogAge",
            alarm_description="The oldest autopay charge has waited over an hour: the charge worker is failing or "
            "throttled",
            metric=queues[CHARGE_QUEUE.logical_id].metric_approximate_age_of_oldest_message(
                period=Duration.minutes(5), statistic="Maximum"
            ),
            threshold=CHARGE_BACKLOG_MAX_AGE.to_seconds(),
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        backlog.add_alarm_action(notify)
        self.alarms.append(backlog)
        CfnOutput(self, "AlarmTopicArn", value=self.topic.topic_arn).override_logical_id("AlarmTopicArn")
