"""Creates the local stack's AWS resources in the moto server from infra.definitions, the same definitions the
CDK stack deploys, and returns the environment the functions read."""

from __future__ import annotations

import contextlib
import json
import os
import secrets as secrets_lib
from typing import Any

import boto3

from infra.definitions import (
    DATA_KEY_ALIAS,
    DATA_KEY_ENV,
    ENCOUNTER_DETAIL_TYPE,
    EVENT_BUS_ENV,
    EVENT_BUS_LOCAL_NAME,
    FINGERPRINT_KEY_ALIAS,
    FINGERPRINT_KEY_ENV,
    JWT_SECRET_ENV,
    JWT_SECRET_LOCAL_NAME,
    MESSAGE_EVENT_TYPES,
    MESSAGES_FROM_ENV,
    MESSAGES_QUEUE,
    PAY_PAGE_URL_ENV,
    PLATFORM_EVENT_BUS_LOCAL_NAME,
    PLATFORM_EVENT_SOURCE,
    PUBLIC_URL_ENV,
    QUEUES,
    SEARCH_KEY_ALIAS,
    SEARCH_KEY_ENV,
    SES_CONFIGURATION_SET_ENV,
    SMS_ORIGINATION_ENV,
    SPLASH_CREDENTIALS_ENV,
    SPLASH_HOST_ENV,
    SPLASH_SECRET_LOCAL_NAME,
    SPLASH_WEBHOOK_HEADER,
    STAFF_DEV_SIGNIN_ENV,
    STAFF_IDLE_MINUTES_ENV,
    TABLES,
    QueueDef,
    TableDef,
)
from local.sandbox.settings import SandboxSettings
from practicepay.events import EVENT_SOURCE

# Local only: the queues the buses' rules deliver to (in AWS, our bus's consumers are other accounts' rules, and
# the platform bus's rule targets the encounters function directly).
LOCAL_EVENT_TAP, LOCAL_EVENT_TAP_ENV = "practicepay-local-event-tap", "LOCAL_EVENT_TAP_URL"
LOCAL_PLATFORM_TAP, LOCAL_PLATFORM_TAP_ENV = "practicepay-local-platform-tap", "LOCAL_PLATFORM_TAP_URL"
# Patient messages locally (ADR 0016): a verified sender domain and configuration set in the embedded SES, and a
# reserved 555 number as the texts' origination number (the embedded SNS records what it is asked to send).
LOCAL_SENDER_DOMAIN = "practicepay.example"
LOCAL_SENDER = f"billing@{LOCAL_SENDER_DOMAIN}"
LOCAL_CONFIGURATION_SET = "practicepay-messages"
LOCAL_ORIGINATION_NUMBER = "+12025550100"


def table_request(table: TableDef, key_arn: str) -> dict[str, Any]:
    """CreateTable arguments for a definition: the same keys, indexes, billing and encryption as the CDK table."""
    attrs = {table.partition_key, *([table.sort_key] if table.sort_key else [])}
    key_schema = [{"AttributeName": table.partition_key, "KeyType": "HASH"}]
    if table.sort_key:
        key_schema.append({"AttributeName": table.sort_key, "KeyType": "RANGE"})
    gsis = []
    for index in table.indexes:
        schema = [{"AttributeName": index.partition_key, "KeyType": "HASH"}]
        attrs.add(index.partition_key)
        if index.sort_key:
            schema.append({"AttributeName": index.sort_key, "KeyType": "RANGE"})
            attrs.add(index.sort_key)
        projection: dict[str, Any] = {"ProjectionType": "ALL"}
        if index.include is not None:
            projection = {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(index.include)}
        gsis.append({"IndexName": index.name, "KeySchema": schema, "Projection": projection})
    request: dict[str, Any] = {
        "TableName": table.local_name,
        "KeySchema": key_schema,
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in sorted(attrs)],
        "BillingMode": "PAY_PER_REQUEST",
        "SSESpecification": {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key_arn},
    }
    if gsis:
        request["GlobalSecondaryIndexes"] = gsis
    if table.stream:
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    return request


def queue_attributes(queue: QueueDef, key_arn: str, dead_letter_arn: str | None = None) -> dict[str, str]:
    attrs = {
        "MessageRetentionPeriod": str(queue.retention_days * 86400),
        "VisibilityTimeout": str(queue.visibility_timeout_seconds),
        "KmsMasterKeyId": key_arn,
    }
    if queue.fifo:
        attrs["FifoQueue"] = "true"
    if dead_letter_arn:
        attrs["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": queue.max_receive_count}
        )
    return attrs


def create_resources(
    jwt_secret: str,
    session: boto3.session.Session | None = None,
    *,
    splash_host: str = "http://127.0.0.1:3001",
    splash_api_key: str = "sandbox-private-key",
    public_url: str = "http://127.0.0.1:3000",
) -> dict[str, str]:
    """Create key, tables, queues and secrets; returns the functions' environment (resource names, ARNs). Resources
    that exist already (a local state restored by `local.aws.load_state`) are kept as they are, items and all."""
    session = session or boto3.session.Session()
    kms = session.client("kms")
    key_arn = _existing_key(kms)  # a restored local state (PRACTICEPAY_LOCAL_STATE) keeps its key and what it sealed
    if key_arn is None:
        key_arn = kms.create_key(Description="PracticePay data key (tables, PHI envelope, queues, secrets)")[
            "KeyMetadata"
        ]["Arn"]
        kms.enable_key_rotation(KeyId=key_arn)
        kms.create_alias(AliasName=DATA_KEY_ALIAS, TargetKeyId=key_arn)
    env = {
        DATA_KEY_ENV: key_arn,
        FINGERPRINT_KEY_ENV: _hmac_key(kms, FINGERPRINT_KEY_ALIAS, "PracticePay fingerprints of patients' addresses"),
        SEARCH_KEY_ENV: _hmac_key(kms, SEARCH_KEY_ALIAS, "PracticePay blind index of patients' names"),
    }

    ddb = session.client("dynamodb")
    existing_tables = set(ddb.list_tables()["TableNames"])  # one page: the local stack has a handful
    for table in TABLES:
        env[table.env_var] = table.local_name
        if table.local_name in existing_tables:
            continue
        ddb.create_table(**table_request(table, key_arn))
        ddb.update_continuous_backups(
            TableName=table.local_name,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )
        if table.ttl_attribute:
            ddb.update_time_to_live(
                TableName=table.local_name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
            )

    sqs = session.client("sqs")
    arns: dict[str, str] = {}
    for queue in QUEUES:  # dead-letter queues are defined before the queues that use them
        name = queue.local_name + (".fifo" if queue.fifo else "")
        attributes = queue_attributes(queue, key_arn, arns.get(queue.dead_letter or ""))
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arns[queue.logical_id] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        env[queue.env_var] = url

    env.update(create_buses(session, sqs, key_arn))
    env.update(create_messaging(session, arns[MESSAGES_QUEUE.logical_id], public_url))

    secrets = session.client("secretsmanager")
    _put_secret(secrets, JWT_SECRET_LOCAL_NAME, jwt_secret, key_arn)
    env[JWT_SECRET_ENV] = JWT_SECRET_LOCAL_NAME
    splash = {
        "api_key": splash_api_key,
        "webhook_header_name": SPLASH_WEBHOOK_HEADER,
        "webhook_header_value": secrets_lib.token_urlsafe(32),
        "login_id": SandboxSettings().login,  # the sandbox's one login owns every record it makes
        "public_api_key": SandboxSettings().public_api_keys[0],  # PayFields' public key (not secret)
    }
    _put_secret(secrets, SPLASH_SECRET_LOCAL_NAME, json.dumps(splash), key_arn)
    env[SPLASH_CREDENTIALS_ENV] = f"secretsmanager:{SPLASH_SECRET_LOCAL_NAME}"
    env[SPLASH_HOST_ENV] = splash_host
    # As the stack sets it with no pay_page_url: empty, so links point at the URL the request came in on.
    env[PAY_PAGE_URL_ENV] = os.environ.get(PAY_PAGE_URL_ENV, "")
    # The dashboard's development sign-in (any practice, any role: the local stack has no identity provider) and
    # its idle limit (HIPAA automatic logoff), overridable as the deploy option is.
    env[STAFF_DEV_SIGNIN_ENV] = os.environ.get(STAFF_DEV_SIGNIN_ENV, "1")
    env[STAFF_IDLE_MINUTES_ENV] = os.environ.get(STAFF_IDLE_MINUTES_ENV, "15")
    return env


def _hmac_key(kms: Any, alias: str, description: str) -> str:
    """An HMAC key: the opt-out ledger's fingerprints, the blind index's MACs (kept in a restored state, so what was
    fingerprinted or indexed still matches)."""
    arn = _existing_key(kms, alias)
    if arn is None:
        arn = kms.create_key(Description=description, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")[
            "KeyMetadata"
        ]["Arn"]
        kms.create_alias(AliasName=alias, TargetKeyId=arn)
    return arn


def create_messaging(session: boto3.session.Session, queue_arn: str, public_url: str) -> dict[str, str]:
    """The sender identity and configuration set in SES, and our bus's rule delivering the events messages are
    made of to the messages queue (the same pattern as the stack's rule)."""
    ses = session.client("sesv2")
    # A restored state (PRACTICEPAY_LOCAL_STATE) has both already; moto names the second one's error its own way.
    identities = {i["IdentityName"] for i in ses.list_email_identities()["EmailIdentities"]}
    if LOCAL_SENDER_DOMAIN not in identities:
        ses.create_email_identity(EmailIdentity=LOCAL_SENDER_DOMAIN)
    if LOCAL_CONFIGURATION_SET not in ses.list_configuration_sets()["ConfigurationSets"]:
        ses.create_configuration_set(ConfigurationSetName=LOCAL_CONFIGURATION_SET)
    events = session.client("events")
    pattern = {"source": [EVENT_SOURCE], "detail-type": list(MESSAGE_EVENT_TYPES)}
    events.put_rule(Name="practicepay-messages", EventBusName=EVENT_BUS_LOCAL_NAME, EventPattern=json.dumps(pattern))
    events.put_targets(
        Rule="practicepay-messages", EventBusName=EVENT_BUS_LOCAL_NAME, Targets=[{"Id": "messages", "Arn": queue_arn}]
    )
    return {
        MESSAGES_FROM_ENV: LOCAL_SENDER,
        SES_CONFIGURATION_SET_ENV: LOCAL_CONFIGURATION_SET,
        SMS_ORIGINATION_ENV: LOCAL_ORIGINATION_NUMBER,
        PUBLIC_URL_ENV: public_url,
    }


def _existing_key(kms: Any, alias_name: str = DATA_KEY_ALIAS) -> str | None:
    """The ARN of the key behind `alias_name` when it exists already (a restored state), else None."""
    for page in kms.get_paginator("list_aliases").paginate():
        for alias in page["Aliases"]:
            if alias["AliasName"] == alias_name and alias.get("TargetKeyId"):
                return str(kms.describe_key(KeyId=alias["TargetKeyId"])["KeyMetadata"]["Arn"])
    return None


def _put_secret(secrets: Any, name: str, value: str, key_arn: str) -> None:
    """Create the secret, or give an existing one (a restored state) this start's value."""
    try:
        secrets.create_secret(Name=name, SecretString=value, KmsKeyId=key_arn)
    except secrets.exceptions.ResourceExistsException:
        secrets.put_secret_value(SecretId=name, SecretString=value)


def create_buses(session: boto3.session.Session, sqs: Any, key_arn: str) -> dict[str, str]:
    """Our event bus and the clinical platform's, each with a rule into a local tap queue: what the publisher puts
    on ours can be read back (tests, `make run`), and encounters put on the platform's reach the encounters
    function the way its EventBridge rule would deliver them (local.events)."""
    events = session.client("events")
    env = {EVENT_BUS_ENV: EVENT_BUS_LOCAL_NAME}
    taps = (
        (EVENT_BUS_LOCAL_NAME, {"source": [EVENT_SOURCE]}, LOCAL_EVENT_TAP, LOCAL_EVENT_TAP_ENV),
        (
            PLATFORM_EVENT_BUS_LOCAL_NAME,
            {"source": [PLATFORM_EVENT_SOURCE], "detail-type": [ENCOUNTER_DETAIL_TYPE]},
            LOCAL_PLATFORM_TAP,
            LOCAL_PLATFORM_TAP_ENV,
        ),
    )
    for bus, pattern, queue, env_var in taps:
        # A restored state has the bus already; the queue, rule and target below are created or found as they are.
        with contextlib.suppress(events.exceptions.ResourceAlreadyExistsException):
            events.create_event_bus(Name=bus)
        url = sqs.create_queue(QueueName=queue, Attributes={"KmsMasterKeyId": key_arn})["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name=f"{queue}-rule", EventBusName=bus, EventPattern=json.dumps(pattern))
        events.put_targets(Rule=f"{queue}-rule", EventBusName=bus, Targets=[{"Id": "tap", "Arn": arn}])
        env[env_var] = url
    return env
