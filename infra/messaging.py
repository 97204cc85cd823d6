"""Patient messages (issue #18, ADR 0016): the messages function (our bus's events through the messages queue, the
sweep on an EventBridge Scheduler schedule, SES's events and inbound texts through two SNS topics), the messaging
API function (staff's view, a patient's preferences, the public unsubscribe page), the KMS HMAC key that
fingerprints addresses for the opt-out ledger, and the SES configuration set.

The roles are immutable (infra/functions.py): each function's managed policy names exactly what it uses. The
services that deliver to us (EventBridge to the queue, SES and End User Messaging SMS to the topics) are granted on
the queue's and topics' own policies and on the data key's policy, each limited to this account (and, where the
service names it, to the rule or configuration set)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_ses as ses
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.definitions import (
    DATA_KEY_ENV,
    EVENTS_TABLE,
    FINGERPRINT_KEY_ALIAS,
    FINGERPRINT_KEY_ENV,
    INVOICES_TABLE,
    MESSAGE_EVENT_TYPES,
    MESSAGES,
    MESSAGES_DLQ,
    MESSAGES_FROM_ENV,
    MESSAGES_QUEUE,
    MESSAGES_SWEEP_MINUTES,
    MESSAGES_TABLE,
    MESSAGING,
    PATIENTS_TABLE,
    PAY_LINKS_TABLE,
    PAY_PAGE_URL_ENV,
    PRACTICES_TABLE,
    PUBLIC_URL_ENV,
    SCHEDULES_TABLE,
    SES_CONFIGURATION_SET_ENV,
    SMS_ORIGINATION_ENV,
)
from infra.functions import PracticePayFunction, consume, on_schedule, table_access
from practicepay.events import EVENT_SOURCE

SES_CONFIGURATION_SET_NAME = "practicepay-messages"
SES_EVENT_TYPES = ("bounce", "complaint", "delivery", "reject", "renderingFailure")
"""What the configuration set sends to the SES events topic (CloudFormation's spelling of SES v2's BOUNCE, COMPLAINT,
DELIVERY, REJECT, RENDERING_FAILURE)."""
MESSAGES_BATCH = 10
MESSAGES_TIMEOUT = Duration.seconds(60)  # the queue's visibility timeout is six times this (definitions)
RULE_RETRY_AGE = Duration.hours(24)  # EventBridge keeps retrying delivery to the queue this long, then the DLQ


class MessagingConstruct(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tables: Mapping[str, dynamodb.ITable],
        queues: Mapping[str, sqs.IQueue],
        key: kms.Key,
        key_use: iam.PolicyStatement,
        bus: events.IEventBus,
        messages_from: str | None,
        sms_origination_number: str | None,
        pay_page_url: str | None,
        concurrency: int,
        common: dict[str, Any],
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        messages_table, events_table = tables[MESSAGES_TABLE.logical_id], tables[EVENTS_TABLE.logical_id]
        invoices, patients = tables[INVOICES_TABLE.logical_id], tables[PATIENTS_TABLE.logical_id]
        practices, schedules = tables[PRACTICES_TABLE.logical_id], tables[SCHEDULES_TABLE.logical_id]
        pay_links = tables[PAY_LINKS_TABLE.logical_id]
        queue, dlq = queues[MESSAGES_QUEUE.logical_id], queues[MESSAGES_DLQ.logical_id]
        account, region, partition = stack.account, stack.region, stack.partition
        self._key = key

        # HMAC keys cannot rotate automatically (rotating is a new key and a re-fingerprinted ledger, ADR 0016);
        # cdk-nag's rotation rules apply to symmetric encryption keys only, so nothing is suppressed for it.
        self.fingerprint_key = kms.Key(
            self,
            "FingerprintKey",
            alias=FINGERPRINT_KEY_ALIAS,
            description="PracticePay: HMAC-SHA-256 fingerprints of patient addresses (the messages opt-out ledger)",
            key_spec=kms.KeySpec.HMAC_256,
            key_usage=kms.KeyUsage.GENERATE_VERIFY_MAC,
            removal_policy=RemovalPolicy.RETAIN,  # as the data key: the ledger is unreadable without it
        )
        fingerprint = iam.PolicyStatement(
            sid="FingerprintAddresses", actions=["kms:GenerateMac"], resources=[self.fingerprint_key.key_arn]
        )

        self.configuration_set = ses.CfnConfigurationSet(
            self,
            "ConfigurationSet",
            name=SES_CONFIGURATION_SET_NAME,
            reputation_options=ses.CfnConfigurationSet.ReputationOptionsProperty(reputation_metrics_enabled=True),
            suppression_options=ses.CfnConfigurationSet.SuppressionOptionsProperty(
                suppressed_reasons=["BOUNCE", "COMPLAINT"]
            ),
            sending_options=ses.CfnConfigurationSet.SendingOptionsProperty(sending_enabled=True),
        )
        configuration_set_arn = f"arn:{partition}:ses:{region}:{account}:configuration-set/{SES_CONFIGURATION_SET_NAME}"

        base_env = {
            MESSAGES_TABLE.env_var: messages_table.table_name,
            INVOICES_TABLE.env_var: invoices.table_name,
            PATIENTS_TABLE.env_var: patients.table_name,
            PRACTICES_TABLE.env_var: practices.table_name,
            SCHEDULES_TABLE.env_var: schedules.table_name,
            PAY_LINKS_TABLE.env_var: pay_links.table_name,
            EVENTS_TABLE.env_var: events_table.table_name,
            DATA_KEY_ENV: key.key_arn,
            FINGERPRINT_KEY_ENV: self.fingerprint_key.key_arn,
        }
        # Delivery records, preferences, the opt-out ledger, reminder schedules and unsubscribe tokens.
        record_actions = ["GetItem", "PutItem", "UpdateItem", "DeleteItem"]

        sending: list[iam.PolicyStatement] = []
        if messages_from:
            domain = messages_from.rsplit("@", 1)[1]
            identity = f"arn:{partition}:ses:{region}:{account}:identity"
            # SES authorizes the identity the address is verified under: the address itself, or its domain.
            sending.append(
                iam.PolicyStatement(
                    sid="SendEmail",
                    actions=["ses:SendEmail"],
                    resources=[f"{identity}/{messages_from}", f"{identity}/{domain}", configuration_set_arn],
                )
            )
        if sms_origination_number:
            sending.append(
                iam.PolicyStatement(
                    sid="SendTexts",
                    actions=["sns:Publish"],
                    resources=["*"],  # a phone number has no ARN (ADR 0016; suppressed in infra/nag.py)
                )
            )
        self.sends_texts = bool(sms_origination_number)

        self.messages = PracticePayFunction(
            self,
            "MessagesFn",
            name=MESSAGES.name,
            description="Patient messages: statements, reminders, notices and receipts by email and text",
            environment={
                **base_env,
                # Empty: links are <PUBLIC_BASE_URL>/pay/<secret> (the API's stage URL).
                PAY_PAGE_URL_ENV: pay_page_url or "",
                MESSAGES_FROM_ENV: messages_from or "",
                SES_CONFIGURATION_SET_ENV: SES_CONFIGURATION_SET_NAME,
                SMS_ORIGINATION_ENV: sms_origination_number or "",
            },
            statements=[
                table_access("Messages", messages_table, [*record_actions, "Query"], "due", "by_provider"),
                table_access("Invoices", invoices, ["GetItem"]),
                table_access("Patients", patients, ["GetItem"]),  # the patient's sealed contacts, a method's card
                table_access("Practices", practices, ["GetItem"]),
                table_access("Schedules", schedules, ["GetItem"]),  # an autopay notice's plan or membership
                # A message's pay link, written with its pay_link.created event in one transaction.
                table_access("PayLinks", pay_links, ["PutItem"]),
                table_access("Events", events_table, ["PutItem"]),
                key_use,
                fingerprint,
                *sending,
                *consume("ConsumeMessages", queue, key),
            ],
            reserved_concurrency=concurrency,
            timeout=MESSAGES_TIMEOUT,
            **common,
        )
        self.messages.function.add_event_source(
            sources.SqsEventSource(queue, batch_size=MESSAGES_BATCH, report_batch_item_failures=True)
        )

        self.messaging = PracticePayFunction(
            self,
            "MessagingFn",
            name=MESSAGING.name,
            description="Messaging API: a patient's or invoice's messages, preferences and consent; unsubscribe",
            environment=base_env,
            statements=[
                table_access("Messages", messages_table, [*record_actions, "Query"], "by_patient", "by_invoice"),
                table_access("Invoices", invoices, ["GetItem"]),
                table_access("Patients", patients, ["GetItem"]),
                table_access("Practices", practices, ["GetItem"]),
                table_access("Events", events_table, ["PutItem"]),
                key_use,
                fingerprint,
            ],
            reserved_concurrency=concurrency,
            **common,
        )

        self._bus_to_queue(bus, queue, dlq, key)
        self.schedule = on_schedule(
            self,
            "SweepSchedule",
            self.messages,
            expression=scheduler.ScheduleExpression.rate(Duration.minutes(MESSAGES_SWEEP_MINUTES)),
            description="PracticePay messages sweep (reminders due, texts held for quiet hours)",
            max_event_age=Duration.minutes(MESSAGES_SWEEP_MINUTES),
            target_input=scheduler.ScheduleTargetInput.from_object({"detail": {"sweep": True}}),
        )

        # SES's events (deliveries, bounces, complaints, rejects, rendering failures) for the configuration set.
        self.ses_events = self._topic("SesEventsTopic", "PracticePay SES events")
        self._service_may_publish(
            self.ses_events,
            key,
            "ses.amazonaws.com",
            "SesEvents",
            {"ArnLike": {"aws:SourceArn": configuration_set_arn}},
        )
        destination = ses.CfnConfigurationSetEventDestination(
            self,
            "SesEventDestination",
            configuration_set_name=self.configuration_set.ref,
            event_destination=ses.CfnConfigurationSetEventDestination.EventDestinationProperty(
                name="practicepay-messages-feedback",
                enabled=True,
                matching_event_types=list(SES_EVENT_TYPES),
                sns_destination=ses.CfnConfigurationSetEventDestination.SnsDestinationProperty(
                    topic_arn=self.ses_events.topic_arn
                ),
            ),
        )
        # The topic's policy first: SES must be able to publish when the destination is made.
        destination.node.add_dependency(self.ses_events.node.find_child("Policy"))
        # Texts patients send to our number (STOP, START, HELP): the number's two-way channel, which an operator
        # attaches to this topic in End User Messaging SMS (README, Deploy options).
        self.sms_inbound = self._topic("SmsInboundTopic", "PracticePay inbound texts")
        self._service_may_publish(self.sms_inbound, key, "sms-voice.amazonaws.com", "SmsInbound", {})
        for topic in (self.ses_events, self.sms_inbound):
            topic.add_subscription(subscriptions.LambdaSubscription(self.messages.function))
        CfnOutput(scope, "SmsInboundTopicArn", value=self.sms_inbound.topic_arn).override_logical_id(
            "SmsInboundTopicArn"
        )

    def _topic(self, construct_id: str, display_name: str) -> sns.Topic:
        return sns.Topic(
            self,
            construct_id,
            display_name=display_name,
            master_key=self._key,
            enforce_ssl=True,
        )

    def _service_may_publish(
        self, topic: sns.Topic, key: kms.Key, service: str, sid: str, conditions: dict[str, dict[str, str]]
    ) -> None:
        """`service` may publish to the encrypted `topic` (the topic's policy) and use the data key to do so (the
        key's policy), on behalf of this account only (and of the resource `conditions` name, if any)."""
        account = {"StringEquals": {"aws:SourceAccount": Stack.of(self).account}}
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid=f"{sid}Publish",
                principals=[iam.ServicePrincipal(service)],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={**account, **conditions},
            )
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid=f"{sid}ToEncryptedTopic",
                principals=[iam.ServicePrincipal(service)],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" is this key
                conditions={**account, **conditions},
            )
        )

    def _bus_to_queue(self, bus: events.IEventBus, queue: sqs.IQueue, dlq: sqs.IQueue, key: kms.Key) -> None:
        """A rule on our bus: the MESSAGE_EVENT_TYPES to the messages queue (undeliverable ones to its DLQ).

        An L1 rule: CDK's SqsQueue target would grant EventBridge the queue and the key with no condition (a
        KMS-encrypted queue gets no aws:SourceArn condition from it)."""
        self.rule = events.CfnRule(
            self,
            "EventsToQueue",
            description="PracticePay events that become patient messages, to the messages queue",
            event_bus_name=bus.event_bus_name,
            event_pattern={"source": [EVENT_SOURCE], "detail-type": list(MESSAGE_EVENT_TYPES)},
            state="ENABLED",
            targets=[
                events.CfnRule.TargetProperty(
                    id="MessagesQueue",
                    arn=queue.queue_arn,
                    dead_letter_config=events.CfnRule.DeadLetterConfigProperty(arn=dlq.queue_arn),
                    retry_policy=events.CfnRule.RetryPolicyProperty(
                        maximum_event_age_in_seconds=int(RULE_RETRY_AGE.to_seconds()), maximum_retry_attempts=185
                    ),
                )
            ],
        )
        for target in (queue, dlq):
            target.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="EventsFromOurBus",
                    principals=[iam.ServicePrincipal("events.amazonaws.com")],
                    actions=["sqs:SendMessage"],
                    resources=[target.queue_arn],
                    conditions={"ArnEquals": {"aws:SourceArn": self.rule.attr_arn}},
                )
            )
        # The queues are encrypted with the data key. Scoped to the rules on our bus (the rule's own ARN would make
        # the key depend on the rule, which depends on the queue, which depends on the key).
        stack = Stack.of(self)
        rules_on_bus = f"arn:{stack.partition}:events:{stack.region}:{stack.account}:rule/{bus.event_bus_name}/*"
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EventBridgeToEncryptedMessagesQueue",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": rules_on_bus},
                },
            )
        )

    def link_to(self, api: apigw.RestApi) -> None:
        """The messages function's PUBLIC_BASE_URL: the API's stage URL, no trailing slash (the unsubscribe page and,
        without pay_page_url, pay links). Set after the API exists; the messages function serves no route, so the
        reference makes no cycle."""
        stack = Stack.of(self)
        url = (
            f"https://{api.rest_api_id}.execute-api.{stack.region}.{stack.url_suffix}/{api.deployment_stage.stage_name}"
        )
        self.messages.function.add_environment(PUBLIC_URL_ENV, url)

    @property
    def functions(self) -> list[PracticePayFunction]:
        return [self.messages, self.messaging]
