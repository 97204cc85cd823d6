"""Patient messages in the template (issue #18, ADR 0016): the bus rule to the messages queue, the sweep's schedule,
the two KMS-encrypted feedback topics, the HMAC fingerprint key, the SES configuration set, and each function's
grants (sending only from the messages function, only as configured)."""

from __future__ import annotations

import json

import pytest

from infra.definitions import (
    FINGERPRINT_KEY_ALIAS,
    MESSAGE_EVENT_TYPES,
    MESSAGES,
    MESSAGES_SWEEP_MINUTES,
    MESSAGING,
    PAY_PAGE_URL_ENV,
    PUBLIC_URL_ENV,
    SES_CONFIGURATION_SET_ENV,
)
from infra.messaging import SES_CONFIGURATION_SET_NAME
from tests.infra.conftest import resources

pytestmark = pytest.mark.infra

SENDER = "billing@clinic.example"
NUMBER = "+15555550100"


@pytest.fixture(scope="module")
def sending(tmp_path_factory) -> dict:
    """The template with both channels configured (deploy options messages_from and sms_origination_number)."""
    from app import build_app

    app, stack = build_app(
        outdir=str(tmp_path_factory.mktemp("cdk.out")),
        context={"messages_from": SENDER, "sms_origination_number": NUMBER, "aws:cdk:bundling-stacks": []},
        attach_nag=False,
    )
    return app.synth().get_stack_by_name(stack.stack_name).template


def _listed(value):  # noqa: ANN001, ANN202
    return value if isinstance(value, list) else [value]


def _function_id(template: dict, name: str) -> str:
    (logical,) = [
        k
        for k, f in resources(template, "AWS::Lambda::Function").items()
        if f["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == f"practicepay-{name}"
    ]
    return logical


def _statements(template: dict, name: str) -> list[dict]:
    (policy,) = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in resources(template, "AWS::IAM::ManagedPolicy").values()
        if p["Properties"].get("Description") == f"PracticePay {name} function: least privilege"
    ]
    return policy


def _actions(statements: list[dict]) -> list[str]:
    return [a for s in statements for a in _listed(s["Action"])]


def _fn_ref(template: dict, name: str) -> str:
    return json.dumps({"Fn::GetAtt": [_function_id(template, name), "Arn"]})


def _queue_id(template: dict, prefix: str) -> str:
    (logical,) = [k for k in resources(template, "AWS::SQS::Queue") if k.startswith(prefix)]
    return logical


def test_the_rule_on_our_bus_sends_exactly_the_message_event_types_to_the_messages_queue(template):
    (rule,) = [
        r["Properties"] for k, r in resources(template, "AWS::Events::Rule").items() if k.startswith("Messaging")
    ]
    assert rule["EventPattern"] == {"source": ["practicepay"], "detail-type": list(MESSAGE_EVENT_TYPES)}
    assert rule["EventBusName"]["Ref"].startswith("ClinicalBus")  # the bus the publisher writes to
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [_queue_id(template, "DataMessagesQueue"), "Arn"]}
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": [_queue_id(template, "DataMessagesDeadLetter"), "Arn"]}
    assert "RoleArn" not in target  # SQS targets are authorized by the queue's policy


def test_eventbridge_may_send_to_the_queue_only_from_the_rule_and_use_the_key_only_for_our_bus(template):
    (rule_id,) = [k for k in resources(template, "AWS::Events::Rule") if k.startswith("Messaging")]
    for prefix in ("DataMessagesQueue", "DataMessagesDeadLetter"):
        queue = _queue_id(template, prefix)
        (policy,) = [
            p["Properties"]["PolicyDocument"]["Statement"]
            for p in resources(template, "AWS::SQS::QueuePolicy").values()
            if p["Properties"]["Queues"] == [{"Ref": queue}]
        ]
        (grant,) = [s for s in policy if s.get("Principal") == {"Service": "events.amazonaws.com"}]
        assert grant["Action"] == "sqs:SendMessage"
        assert grant["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}}
    (key,) = [k for k in resources(template, "AWS::KMS::Key").values() if "KeySpec" not in k["Properties"]]
    (events_key,) = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Principal") == {"Service": "events.amazonaws.com"}
    ]
    assert sorted(events_key["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert events_key["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert ":rule/" in json.dumps(events_key["Condition"]["ArnLike"]["aws:SourceArn"])


def test_the_messages_function_consumes_its_queue_in_batches_of_ten_with_partial_failures(template):
    (mapping,) = [
        m["Properties"]
        for m in resources(template, "AWS::Lambda::EventSourceMapping").values()
        if "DataMessagesQueue" in json.dumps(m["Properties"]["EventSourceArn"])
    ]
    assert mapping["FunctionName"] == {"Ref": _function_id(template, MESSAGES.name)}
    assert mapping["BatchSize"] == 10 and mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue = template["Resources"][_queue_id(template, "DataMessagesQueue")]["Properties"]
    fn = template["Resources"][_function_id(template, MESSAGES.name)]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * fn["Timeout"]


def test_the_sweep_runs_every_15_minutes_on_the_messages_function_with_an_invoke_only_role(template):
    (schedule,) = [
        s["Properties"]
        for s in resources(template, "AWS::Scheduler::Schedule").values()
        if s["Properties"]["ScheduleExpression"] == f"rate({MESSAGES_SWEEP_MINUTES} minutes)"
    ]
    assert MESSAGES_SWEEP_MINUTES == 15
    target = schedule["Target"]
    assert json.dumps(target["Arn"]) == _fn_ref(template, MESSAGES.name)
    assert json.loads(target["Input"]) == {"detail": {"sweep": True}}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 0
    role = template["Resources"][target["RoleArn"]["Fn::GetAtt"][0]]["Properties"]
    (policy,) = [template["Resources"][p["Ref"]]["Properties"]["PolicyDocument"] for p in role["ManagedPolicyArns"]]
    (statement,) = policy["Statement"]
    assert statement["Action"] == "lambda:InvokeFunction" and statement["Resource"] == target["Arn"]


def test_both_feedback_topics_are_kms_encrypted_tls_only_and_subscribed_by_the_messages_function(template):
    topics = {
        k: v["Properties"] for k, v in resources(template, "AWS::SNS::Topic").items() if k.startswith("Messaging")
    }
    assert sorted(k[: -len("XXXXXXXX")] for k in topics) == ["MessagingSesEventsTopic", "MessagingSmsInboundTopic"]
    subscriptions = [s["Properties"] for s in resources(template, "AWS::SNS::Subscription").values()]
    for topic_id, topic in topics.items():
        assert topic["KmsMasterKeyId"]["Fn::GetAtt"][0].startswith("DataDataKey")
        (sub,) = [s for s in subscriptions if s["TopicArn"] == {"Ref": topic_id}]
        assert sub["Protocol"] == "lambda" and json.dumps(sub["Endpoint"]) == _fn_ref(template, MESSAGES.name)
        (policy,) = [
            p["Properties"]["PolicyDocument"]["Statement"]
            for p in resources(template, "AWS::SNS::TopicPolicy").values()
            if p["Properties"]["Topics"] == [{"Ref": topic_id}]
        ]
        assert any(s["Effect"] == "Deny" and "aws:SecureTransport" in json.dumps(s) for s in policy)
        (publisher,) = [s for s in policy if s["Effect"] == "Allow"]
        assert publisher["Action"] == "sns:Publish" and publisher["Resource"] == {"Ref": topic_id}
        assert publisher["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    services = {
        topic_id.removeprefix("Messaging")[: -len("TopicXXXXXXXX")]: next(
            s["Principal"]["Service"]
            for p in resources(template, "AWS::SNS::TopicPolicy").values()
            if p["Properties"]["Topics"] == [{"Ref": topic_id}]
            for s in p["Properties"]["PolicyDocument"]["Statement"]
            if s["Effect"] == "Allow"
        )
        for topic_id in topics
    }
    assert services == {"SesEvents": "ses.amazonaws.com", "SmsInbound": "sms-voice.amazonaws.com"}
    (key,) = [k for k in resources(template, "AWS::KMS::Key").values() if "KeySpec" not in k["Properties"]]
    key_users = {json.dumps(s.get("Principal")) for s in key["Properties"]["KeyPolicy"]["Statement"]}
    for service in services.values():
        assert json.dumps({"Service": service}) in key_users
    assert "SmsInboundTopicArn" in template["Outputs"]
    assert template["Outputs"]["SmsInboundTopicArn"]["Value"] == {
        "Ref": next(k for k in topics if k.startswith("MessagingSmsInbound"))
    }


def test_ses_sends_bounces_complaints_deliveries_rejects_and_rendering_failures_to_the_topic(template):
    (config,) = resources(template, "AWS::SES::ConfigurationSet").values()
    props = config["Properties"]
    assert props["Name"] == SES_CONFIGURATION_SET_NAME
    assert props["ReputationOptions"] == {"ReputationMetricsEnabled": True}
    assert props["SuppressionOptions"] == {"SuppressedReasons": ["BOUNCE", "COMPLAINT"]}
    (destination,) = resources(template, "AWS::SES::ConfigurationSetEventDestination").values()
    event = destination["Properties"]["EventDestination"]
    assert event["Enabled"] is True
    assert sorted(event["MatchingEventTypes"]) == ["bounce", "complaint", "delivery", "reject", "renderingFailure"]
    assert event["SnsDestination"]["TopicARN"]["Ref"].startswith("MessagingSesEventsTopic")
    variables = template["Resources"][_function_id(template, MESSAGES.name)]["Properties"]["Environment"]["Variables"]
    assert variables[SES_CONFIGURATION_SET_ENV] == SES_CONFIGURATION_SET_NAME


def test_the_fingerprint_key_is_an_hmac_key_retained_with_its_alias(template):
    keys = {
        k: v
        for k, v in resources(template, "AWS::KMS::Key").items()
        if "KeySpec" in v["Properties"] and k.startswith("MessagingFingerprintKey")  # the search key is the other one
    }
    ((key_id, key),) = keys.items()
    assert key["Properties"]["KeySpec"] == "HMAC_256" and key["Properties"]["KeyUsage"] == "GENERATE_VERIFY_MAC"
    assert key["DeletionPolicy"] == "Retain" and key["UpdateReplacePolicy"] == "Retain"
    aliases = [a["Properties"] for a in resources(template, "AWS::KMS::Alias").values()]
    assert {"AliasName": FINGERPRINT_KEY_ALIAS, "TargetKeyId": {"Fn::GetAtt": [key_id, "Arn"]}} in aliases
    for name in (MESSAGES.name, MESSAGING.name):
        (mac,) = [s for s in _statements(template, name) if "kms:GenerateMac" in _listed(s["Action"])]
        assert _listed(mac["Action"]) == ["kms:GenerateMac"]
        assert mac["Resource"] == {"Fn::GetAtt": [key_id, "Arn"]}


def test_the_public_url_is_the_stage_url_without_a_trailing_slash(template):
    variables = template["Resources"][_function_id(template, MESSAGES.name)]["Properties"]["Environment"]["Variables"]
    parts = variables[PUBLIC_URL_ENV]["Fn::Join"][1]
    (api_id,) = resources(template, "AWS::ApiGateway::RestApi")
    (stage_id,) = resources(template, "AWS::ApiGateway::Stage")
    assert parts[0] == "https://" and parts[1] == {"Ref": api_id} and parts[-1] == {"Ref": stage_id}
    assert variables[PAY_PAGE_URL_ENV] == ""  # no custom domain: links are <PUBLIC_BASE_URL>/pay/<secret>


def test_without_a_sender_or_a_number_the_messages_function_may_not_send(template):
    actions = _actions(_statements(template, MESSAGES.name))
    assert not [a for a in actions if a.startswith(("ses:", "sns:"))]
    variables = template["Resources"][_function_id(template, MESSAGES.name)]["Properties"]["Environment"]["Variables"]
    assert variables["MESSAGES_FROM"] == "" and variables["SMS_ORIGINATION_NUMBER"] == ""


def test_the_messages_function_sends_email_only_from_its_identity_with_the_configuration_set(sending):
    statements = _statements(sending, MESSAGES.name)
    ses_statements = [s for s in statements if any(a.startswith("ses:") for a in _listed(s["Action"]))]
    (send,) = ses_statements
    assert _listed(send["Action"]) == ["ses:SendEmail"]
    resources_ = [json.dumps(r) for r in _listed(send["Resource"])]
    assert len(resources_) == 3
    assert any(f":identity/{SENDER}" in r for r in resources_)
    assert any(f":identity/{SENDER.split('@')[1]}" in r and SENDER not in r for r in resources_)
    assert any(f":configuration-set/{SES_CONFIGURATION_SET_NAME}" in r for r in resources_)
    assert all("*" not in r for r in resources_)
    variables = sending["Resources"][_function_id(sending, MESSAGES.name)]["Properties"]["Environment"]["Variables"]
    assert variables["MESSAGES_FROM"] == SENDER and variables["SMS_ORIGINATION_NUMBER"] == NUMBER


def test_texts_are_the_one_wildcard_beside_x_ray_and_only_for_the_messages_function(sending):
    (texts,) = [s for s in _statements(sending, MESSAGES.name) if "sns:Publish" in _listed(s["Action"])]
    assert _listed(texts["Action"]) == ["sns:Publish"] and texts["Resource"] == "*"  # a phone number has no ARN
    for policy in resources(sending, "AWS::IAM::ManagedPolicy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Resource"] == "*" and statement is not texts:
                assert all(a.startswith("xray:") for a in _listed(statement["Action"])), statement


def test_the_messaging_api_may_read_and_record_but_never_send(sending):
    statements = _statements(sending, MESSAGING.name)
    actions = _actions(statements)
    assert not [a for a in actions if a.startswith(("ses:", "sns:", "sqs:Receive", "sms-voice:"))]
    by_sid = {s["Sid"]: s for s in statements}
    assert "PayLinks" not in by_sid and "Schedules" not in by_sid
    for sid in ("Invoices", "Patients", "Practices"):
        assert _listed(by_sid[sid]["Action"]) == ["dynamodb:GetItem"], sid
    assert _listed(by_sid["Events"]["Action"]) == ["dynamodb:PutItem"]
    indexes = {r["Fn::Join"][1][1] for r in _listed(by_sid["Messages"]["Resource"]) if "Fn::Join" in r}
    assert indexes == {"/index/by_patient", "/index/by_invoice"}
    assert "dynamodb:Scan" not in actions


def test_the_messages_function_makes_pay_links_and_reads_what_a_message_needs(template):
    by_sid = {s["Sid"]: s for s in _statements(template, MESSAGES.name)}
    assert _listed(by_sid["PayLinks"]["Action"]) == ["dynamodb:PutItem"]
    assert _listed(by_sid["Events"]["Action"]) == ["dynamodb:PutItem"]
    for sid in ("Invoices", "Patients", "Practices", "Schedules"):
        assert _listed(by_sid[sid]["Action"]) == ["dynamodb:GetItem"], sid
    indexes = {r["Fn::Join"][1][1] for r in _listed(by_sid["Messages"]["Resource"]) if "Fn::Join" in r}
    assert indexes == {"/index/due", "/index/by_provider"}
    assert "sqs:ReceiveMessage" in _listed(by_sid["ConsumeMessages"]["Action"])
    assert "dynamodb:Scan" not in _actions(list(by_sid.values()))


@pytest.mark.parametrize(
    ("context", "named"),
    [
        ({"messages_from": "Billing <billing@clinic.example>"}, "context messages_from"),
        ({"messages_from": "billing"}, "context messages_from"),
        ({"sms_origination_number": "5555550100"}, "context sms_origination_number"),
        ({"sms_origination_number": "+1555"}, "context sms_origination_number"),
    ],
)
def test_a_bad_sender_or_number_fails_the_synth(context, named):
    from infra.settings import StackSettings

    with pytest.raises(SystemExit, match=named):
        StackSettings.from_context(context)


def test_empty_sender_and_number_mean_unset():
    from infra.settings import StackSettings

    settings = StackSettings.from_context({"messages_from": "", "sms_origination_number": ""})
    assert settings.messages_from is None and settings.sms_origination_number is None
    assert StackSettings.from_context({"sms_origination_number": NUMBER}).sms_origination_number == NUMBER


def test_cdk_nag_passes_with_both_channels_configured(tmp_path):
    """The SMS statement's wildcard is acknowledged (with its reason) only where it exists; both packs pass."""
    from app import build_app

    app, _ = build_app(
        outdir=str(tmp_path),
        context={"messages_from": SENDER, "sms_origination_number": NUMBER, "aws:cdk:bundling-stacks": []},
    )
    app.synth()  # raises on any unacknowledged finding
    report = tmp_path / "validation-report.json"
    if report.exists():
        for plugin in json.loads(report.read_text())["pluginReports"]:
            assert plugin["violations"] == [], plugin["pluginName"]
