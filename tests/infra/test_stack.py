"""The synthesized template has the properties an auditor checks: encryption, backups, retention, tracing,
least privilege, logging, throttling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra.definitions import (
    DASHBOARD,
    DASHBOARD_ROUTES,
    DEAD_LETTER_QUEUES,
    FUNCTIONS,
    INVOICES,
    PAY_LINKS_TABLE,
    PAY_PAGE_URL_ENV,
    PAYPAGE,
    ROUTES,
    TABLES,
)
from tests.infra.conftest import resources

pytestmark = pytest.mark.infra
ROOT = Path(__file__).resolve().parents[2]


def test_tables_have_pitr_and_sse_with_the_customer_managed_key(template):
    tables = resources(template, "AWS::DynamoDB::Table")
    assert len(tables) == len(TABLES)
    for table in tables.values():
        props = table["Properties"]
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        sse = props["SSESpecification"]
        assert sse["SSEEnabled"] is True and sse["SSEType"] == "KMS"
        assert "Fn::GetAtt" in sse["KMSMasterKeyId"]
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert table["DeletionPolicy"] == "Retain"


def test_idempotency_records_raw_alerts_and_events_expire(template):
    ttls = {
        name: t["Properties"]["TimeToLiveSpecification"]
        for name, t in resources(template, "AWS::DynamoDB::Table").items()
        if "TimeToLiveSpecification" in t["Properties"]
    }
    expected = {table.logical_id for table in TABLES if table.ttl_attribute}
    assert {name.removeprefix("Data")[: -len("XXXXXXXX")] for name in ttls} == expected
    assert all(ttl == {"AttributeName": "expiration", "Enabled": True} for ttl in ttls.values())


def test_key_rotates_and_tables_are_in_a_backup_plan(template):
    # The data key; the messages' HMAC key (KeySpec HMAC_256) cannot rotate automatically (ADR 0016).
    (key,) = [k for k in resources(template, "AWS::KMS::Key").values() if "KeySpec" not in k["Properties"]]
    assert key["Properties"]["EnableKeyRotation"] is True
    selection = next(iter(resources(template, "AWS::Backup::BackupSelection").values()))
    assert len(selection["Properties"]["BackupSelection"]["Resources"]) == len(TABLES)


def test_every_log_group_is_encrypted_and_retained(template):
    groups = resources(template, "AWS::Logs::LogGroup")
    assert len(groups) >= len(FUNCTIONS) + 1  # one per function, API access logs, WAF logs
    for group in groups.values():
        assert group["Properties"]["RetentionInDays"] == 365
        assert "KmsKeyId" in group["Properties"]


def test_functions_are_traced_bounded_and_have_a_dlq(template):
    functions = resources(template, "AWS::Lambda::Function")
    assert len(functions) == len(FUNCTIONS)
    roles = set()
    for fn in functions.values():
        props = fn["Properties"]
        assert props["Runtime"].startswith("python3.1") and props["Runtime"] >= "python3.12"
        assert props["TracingConfig"] == {"Mode": "Active"}
        # The X-Ray SDK's cold-start cost is opt-in (context detailed_tracing).
        assert props["Environment"]["Variables"]["PRACTICEPAY_DETAILED_TRACING"] == "false"
        assert props["ReservedConcurrentExecutions"] > 0
        assert "TargetArn" in props["DeadLetterConfig"]
        assert "LoggingConfig" in props and "LogGroup" in props["LoggingConfig"]
        roles.add(json.dumps(props["Role"]))
    assert len(roles) == len(functions)  # one role each


def test_no_inline_policies_and_the_only_wildcard_resource_is_xray(template):
    assert resources(template, "AWS::IAM::Policy") == {}
    for policy in resources(template, "AWS::IAM::ManagedPolicy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert all("*" not in a for a in actions), statement
            if statement["Resource"] == "*":
                assert all(a.startswith("xray:") for a in actions), statement


def test_invoices_function_cannot_touch_secrets_and_authorizer_cannot_touch_tables(template):
    policies = dict(resources(template, "AWS::IAM::ManagedPolicy").items())
    invoices = next(v for k, v in policies.items() if k.startswith("InvoicesFn"))
    authorizer = next(v for k, v in policies.items() if k.startswith("AuthorizerFn"))

    def actions(policy):
        out = []
        for s in policy["Properties"]["PolicyDocument"]["Statement"]:
            out += s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        return out

    assert not any(a.startswith("secretsmanager:") for a in actions(invoices))
    assert not any(a.startswith("dynamodb:") for a in actions(authorizer))
    assert "dynamodb:Scan" not in actions(invoices)


def test_stage_logs_traces_and_throttles_without_logging_bodies(template):
    (stage,) = resources(template, "AWS::ApiGateway::Stage").values()
    props = stage["Properties"]
    assert props["TracingEnabled"] is True
    assert "DestinationArn" in props["AccessLogSetting"]
    (setting,) = props["MethodSettings"]
    assert setting["LoggingLevel"] == "ERROR" and setting["DataTraceEnabled"] is False
    assert setting["ThrottlingRateLimit"] > 0 and setting["ThrottlingBurstLimit"] > 0
    assert resources(template, "AWS::WAFv2::WebACLAssociation")


def test_every_protected_route_uses_the_authorizer_and_the_validator(template):
    methods = resources(template, "AWS::ApiGateway::Method")
    assert len(methods) == len(ROUTES)
    protected = [m["Properties"] for m in methods.values() if m["Properties"]["AuthorizationType"] != "NONE"]
    assert len(protected) == sum(r.authorized for r in ROUTES)
    for method in protected:
        assert method["AuthorizationType"] == "CUSTOM" and "AuthorizerId" in method
        assert "RequestValidatorId" in method
        assert method["RequestParameters"]["method.request.header.Authorization"] is True


def test_splash_alerts_flow_through_a_fifo_queue_to_a_processor_that_reports_partial_failures(template):
    queues = {k: v["Properties"] for k, v in resources(template, "AWS::SQS::Queue").items()}
    alerts = next(q for k, q in queues.items() if k.startswith("DataAlertsQueue"))
    assert alerts["FifoQueue"] is True and "KmsMasterKeyId" in alerts
    dlq = alerts["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert queues[dlq]["FifoQueue"] is True and alerts["RedrivePolicy"]["maxReceiveCount"] == 5
    every = [m["Properties"] for m in resources(template, "AWS::Lambda::EventSourceMapping").values()]
    mappings = [m for m in every if "Queue" in json.dumps(m["EventSourceArn"])]
    consumed = {json.dumps(m["EventSourceArn"]) for m in mappings}
    assert len(mappings) == 4 and any("DataAlertsQueue" in c for c in consumed)
    assert any("DataReconciliationQueue" in c for c in consumed) and any("DataChargeQueue" in c for c in consumed)
    assert any("DataMessagesQueue" in c for c in consumed)
    assert all(m["FunctionResponseTypes"] == ["ReportBatchItemFailures"] for m in mappings)
    public_posts = {path for (method, path), m in _methods(template).items() if method == "POST" and _public(m)}
    # POST /webhooks/splash: the function checks Splash's static header; the pay page's forms check its session;
    # RFC 8058 one-click unsubscribe: the token in the path.
    page_posts = {r.path for r in ROUTES if r.function == PAYPAGE.name and r.method == "POST"}
    dashboard_posts = {r.path for r in DASHBOARD_ROUTES if r.method == "POST"}  # their session's CSRF token
    assert public_posts == {"/webhooks/splash", "/unsubscribe/{token}", *page_posts, *dashboard_posts}
    assert len(page_posts) == 3


@pytest.mark.parametrize(
    ("expression", "function"), [("rate(5 minutes)", "SyncPollFn"), ("cron(0 14 * * ? *)", "BillingBillingRunFn")]
)
def test_the_poll_and_the_daily_run_are_scheduled_with_roles_that_can_only_invoke_them(template, expression, function):
    (schedule,) = [
        s
        for s in resources(template, "AWS::Scheduler::Schedule").values()
        if s["Properties"]["ScheduleExpression"] == expression
    ]
    props = schedule["Properties"]
    assert props["State"] == "ENABLED" and props["Target"]["Arn"]["Fn::GetAtt"][0].startswith(function)
    role = props["Target"]["RoleArn"]["Fn::GetAtt"][0]
    policies = template["Resources"][role]["Properties"]["ManagedPolicyArns"]
    (policy,) = [template["Resources"][p["Ref"]]["Properties"]["PolicyDocument"] for p in policies]
    (statement,) = policy["Statement"]
    assert statement["Action"] == "lambda:InvokeFunction"
    assert statement["Resource"] == props["Target"]["Arn"]
    assert props["Target"]["RetryPolicy"]["MaximumRetryAttempts"] == 0  # the next tick is the retry


def test_the_daily_run_gets_its_scheduled_time_and_charges_go_through_a_queue_with_a_dlq(template):
    (run,) = [
        s
        for s in resources(template, "AWS::Scheduler::Schedule").values()
        if "cron" in s["Properties"]["ScheduleExpression"]
    ]
    assert json.loads(run["Properties"]["Target"]["Input"]) == {"time": "<aws.scheduler.scheduled-time>", "detail": {}}
    queues = {k: v["Properties"] for k, v in resources(template, "AWS::SQS::Queue").items()}
    charge = next(q for k, q in queues.items() if k.startswith("DataChargeQueue"))
    assert charge["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0].startswith("DataChargeDeadLetterQueue")
    mapping = next(
        m["Properties"]
        for m in resources(template, "AWS::Lambda::EventSourceMapping").values()
        if "DataChargeQueue" in json.dumps(m["Properties"]["EventSourceArn"])
    )
    charger = template["Resources"][mapping["FunctionName"]["Ref"]]["Properties"]
    assert charge["VisibilityTimeout"] >= 6 * charger["Timeout"]  # AWS's advice for an SQS event source


def test_every_dead_letter_queue_has_a_depth_alarm_that_notifies_an_encrypted_topic(template):
    alarms = [a["Properties"] for a in resources(template, "AWS::CloudWatch::Alarm").values()]
    depth = {
        a["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for a in alarms
        if a["MetricName"] == "ApproximateNumberOfMessagesVisible"
    }
    assert {d[: -len("XXXXXXXX")] for d in depth} == {f"Data{q.logical_id}" for q in DEAD_LETTER_QUEUES}
    topics = resources(template, "AWS::SNS::Topic")  # the alarm topic, and the messages' feedback topics
    (topic_id,) = [k for k in topics if k.startswith("AlarmsTopic")]
    assert "KmsMasterKeyId" in topics[topic_id]["Properties"]
    assert all(a["AlarmActions"] == [{"Ref": topic_id}] for a in alarms)
    assert any(a["MetricName"] == "ApproximateAgeOfOldestMessage" for a in alarms)  # a charge queue not draining


def test_the_outbox_stream_feeds_the_publisher_new_rows_only_with_partial_failures_and_a_dlq(template):
    tables = resources(template, "AWS::DynamoDB::Table")
    events_table = next(k for k in tables if k.startswith("DataEventsTable"))
    assert tables[events_table]["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
    stream = next(
        m["Properties"]
        for m in resources(template, "AWS::Lambda::EventSourceMapping").values()
        if "StreamArn" in json.dumps(m["Properties"]["EventSourceArn"])
    )
    assert stream["EventSourceArn"]["Fn::GetAtt"][0] == events_table
    patterns = [json.loads(f["Pattern"]) for f in stream["FilterCriteria"]["Filters"]]
    assert patterns == [{"eventName": ["INSERT"]}]  # TTL deletions are not events
    assert stream["FunctionResponseTypes"] == ["ReportBatchItemFailures"] and stream["BisectBatchOnFunctionError"]
    assert "DestinationConfig" in stream  # batches that keep failing go to the dead-letter queue
    publisher = next(
        p["Properties"]["PolicyDocument"]["Statement"]
        for k, p in resources(template, "AWS::IAM::ManagedPolicy").items()
        if k.startswith("ClinicalPublisherFn")
    )
    put = next(s for s in publisher if s["Sid"] == "PutEvents")
    assert put["Action"] == "events:PutEvents" and "ClinicalBus" in json.dumps(put["Resource"])
    assert resources(template, "AWS::Events::Archive")  # every event kept for replay


def test_encounters_from_the_platforms_bus_reach_the_encounters_function_with_a_dlq(template):
    rule = next(
        r["Properties"]
        for k, r in resources(template, "AWS::Events::Rule").items()
        if k.startswith("ClinicalEncounter")
    )
    assert rule["EventBusName"] == "default"  # cdk.json context platform_event_bus overrides it
    assert rule["EventPattern"] == {"source": ["clinical-platform"], "detail-type": ["encounter.charged"]}
    target = rule["Targets"][0]
    assert "ClinicalEncountersFn" in json.dumps(target["Arn"]) and "DeadLetterConfig" in target
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 4


def test_the_receivables_index_projects_only_what_the_aging_reads(template):
    tables = resources(template, "AWS::DynamoDB::Table")
    invoices = next(v["Properties"] for k, v in tables.items() if k.startswith("DataInvoicesTable"))
    index = next(i for i in invoices["GlobalSecondaryIndexes"] if i["IndexName"] == "receivables")
    assert index["Projection"]["ProjectionType"] == "INCLUDE"
    assert "line_items_sealed" not in index["Projection"]["NonKeyAttributes"]  # no PHI in the index


def test_gateway_errors_are_problem_json(template):
    responses = resources(template, "AWS::ApiGateway::GatewayResponse")
    kinds = {r["Properties"]["ResponseType"] for r in responses.values()}
    assert {"UNAUTHORIZED", "ACCESS_DENIED", "THROTTLED"} <= kinds
    for response in responses.values():
        props = response["Properties"]
        assert props["ResponseParameters"]["gatewayresponse.header.Content-Type"] == "'application/problem+json'"
        assert json.loads(props["ResponseTemplates"]["application/json"])["status"] == int(props["StatusCode"])


@pytest.mark.parametrize("pack", ["AwsSolutions", "HIPAA.Security"])
def test_cdk_nag_reports_nothing_unacknowledged_and_every_ack_has_a_reason(pack, tmp_path):
    """Each pack on its own (the report file keeps only one plugin's results): no violation of any severity,
    warnings included, and every acknowledged finding carries a written reason."""
    from aws_cdk import Validations
    from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks

    from app import build_app

    app, _ = build_app(outdir=str(tmp_path), context={"aws:cdk:bundling-stacks": []}, attach_nag=False)
    checks = AwsSolutionsChecks if pack == "AwsSolutions" else HIPAASecurityChecks
    Validations.of(app).add_plugins(checks(app))
    app.synth()  # raises on any unacknowledged error
    # A pack that passes cleanly writes no report; one with any finding (warnings too) lists it here.
    for report in json.loads((tmp_path / "validation-report.json").read_text())["pluginReports"]:
        assert report["pluginName"] == pack
        assert report["violations"] == []
        for suppressed in report["suppressedViolations"]:
            assert len(suppressed["reason"]) > 40, suppressed["ruleName"]


def test_cdk_nag_would_catch_a_new_finding(tmp_path):
    """Negative control: the same packs fail a synth that adds an unencrypted, DLQ-less queue."""
    from aws_cdk import App, Stack
    from aws_cdk import aws_sqs as sqs

    from infra.nag import attach_packs

    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Probe")
    sqs.Queue(stack, "Plain", encryption=sqs.QueueEncryption.UNENCRYPTED)
    attach_packs(app)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {v["ruleName"] for p in report["pluginReports"] for v in p["violations"]}
    assert "AwsSolutions-SQS4" in rules


def test_cfn_lint_is_clean(synth):
    template_path = synth["outdir"] / "PracticePay.template.json"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(template_path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_direct_run_reads_cdk_json_then_each_c_flag(tmp_path):
    """`python app.py -c k=v` gets the context the CDK CLI would give it (a CDK App run directly reads none)."""
    from app import cdk_context

    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text(json.dumps({"app": "x", "context": {"jwt_issuer": "from-cdk-json", "retain_data": "true"}}))
    context = cdk_context(["-c", "jwt_issuer=https://idp.example", "--context=retain_data=false"], cdk_json)
    assert context == {"jwt_issuer": "https://idp.example", "retain_data": "false"}
    assert cdk_context([], cdk_json)["jwt_issuer"] == "from-cdk-json"  # a value changed in cdk.json reaches it
    with pytest.raises(SystemExit, match="key=value"):
        cdk_context(["-c", "jwt_issuer"], cdk_json)
    with pytest.raises(SystemExit, match="unknown argument"):
        cdk_context(["--jwt_issuer=x"], cdk_json)


def test_a_synth_from_an_edited_cdk_json_and_c_flags_has_their_values(tmp_path):
    """A value changed in cdk.json (production Payrix) and a -c flag (the platform's JWKS) reach the template."""
    from app import CDK_JSON, build_app, cdk_context

    edited = json.loads(CDK_JSON.read_text())
    edited["context"]["splash_host"] = "payrix"
    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text(json.dumps(edited))
    url = "https://idp.example/.well-known/jwks.json"
    context = cdk_context(["-c", f"jwt_jwks_url={url}", "-c", "jwt_issuer=https://idp.example"], cdk_json)
    app, stack = build_app(
        outdir=str(tmp_path / "out"), context={**context, "aws:cdk:bundling-stacks": []}, attach_nag=False
    )
    resources = app.synth().get_stack_by_name(stack.stack_name).template["Resources"]
    text = json.dumps(resources)
    assert url in text and "https://idp.example" in text
    assert "practicepay-local" not in text  # cdk.json's local issuer was replaced
    assert not [name for name in resources if "JwtSigningSecret" in name]  # JWKS mode: no HS256 secret
    hosts = {
        fn["Properties"]["Environment"]["Variables"]["SPLASH_HOST"]
        for fn in resources.values()
        if fn["Type"] == "AWS::Lambda::Function"
        and "SPLASH_HOST" in fn["Properties"].get("Environment", {}).get("Variables", {})
    }
    assert hosts == {"payrix"}


def test_run_by_the_cdk_cli_the_app_takes_the_context_it_is_given(tmp_path):
    """The CDK CLI (cdk.json's `app`) hands the app cdk.json's context and its -c values in CDK_CONTEXT_JSON;
    the app then reads nothing itself, and refuses argv rather than ignoring it."""
    url = "https://idp.example/.well-known/jwks.json"
    context = {"jwt_jwks_url": url, "splash_host": "payrix", "aws:cdk:bundling-stacks": []}
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": str(tmp_path)}
    subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, check=True, capture_output=True)
    template = (tmp_path / "PracticePay.template.json").read_text()
    assert url in template and '"SPLASH_HOST": "payrix"' in template and "JwtSigningSecret" not in template
    refused = subprocess.run(
        [sys.executable, "app.py", "-c", "splash_host=payrix"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert refused.returncode != 0 and "give -c to the CLI" in refused.stderr


@pytest.mark.parametrize(
    ("context", "named"),
    [
        ({"jwt_jwsk_url": "https://idp.example/jwks"}, "unknown context key 'jwt_jwsk_url'"),
        ({"splash_host": "payrix-prod"}, "context splash_host"),
        ({"jwt_jwks_url": "http://idp.example/jwks"}, "context jwt_jwks_url"),
        ({"retain_data": "maybe"}, "context retain_data"),
        ({"api_function_concurrency": "0"}, "context api_function_concurrency"),
        ({"pay_page_url": "http://pay.example.com"}, "context pay_page_url"),
        ({"pay_page_url": "https://pay.example.com/?x=1"}, "context pay_page_url"),
        ({"pay_page_url": "pay.example.com"}, "context pay_page_url"),
    ],
)
def test_a_context_key_that_is_not_ours_or_a_bad_value_fails_the_synth(context, named):
    from infra.settings import StackSettings

    with pytest.raises(SystemExit, match=named):
        StackSettings.from_context({"@aws-cdk/core:checkSecretUsage": True, "aws:cdk:bundling-stacks": [], **context})


def test_cdk_json_and_the_readme_table_give_every_deploy_option_its_default():
    from app import CDK_JSON
    from infra.settings import StackSettings

    ours = {k: v for k, v in json.loads(CDK_JSON.read_text())["context"].items() if not k.startswith("@")}
    assert StackSettings.from_context(ours) == StackSettings()  # cdk.json states the defaults, nothing else
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("### Deploy options") :]
    rows = {
        line.split("|")[1].strip().strip("`"): line.split("|")[2].strip().strip("`")
        for line in table.splitlines()
        if line.startswith("| `")
    }
    for name, field in StackSettings.model_fields.items():
        default = field.default
        shown = "(unset)" if default is None else str(default).lower() if isinstance(default, bool) else str(default)
        assert rows.get(name) == shown, name


# -- pay links and the pay page (issue #17) ------------------------------------------------------------------------


def _methods(template: dict) -> dict[tuple[str, str], dict]:
    """(method, path) → the API Gateway method's properties."""
    api_resources = resources(template, "AWS::ApiGateway::Resource")

    def path(resource_id: dict) -> str:
        if "Ref" not in resource_id:  # the API's root resource
            return ""
        props = api_resources[resource_id["Ref"]]["Properties"]
        return f"{path(props['ParentId'])}/{props['PathPart']}"

    return {
        (m["Properties"]["HttpMethod"], path(m["Properties"]["ResourceId"])): m["Properties"]
        for m in resources(template, "AWS::ApiGateway::Method").values()
    }


def _public(method: dict) -> bool:
    return method["AuthorizationType"] == "NONE"


def _function(template: dict, name: str) -> dict:
    (fn,) = [
        f["Properties"]
        for f in resources(template, "AWS::Lambda::Function").values()
        if f["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == f"practicepay-{name}"
    ]
    return fn


def _statements(template: dict, name: str) -> list[dict]:
    (policy,) = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in resources(template, "AWS::IAM::ManagedPolicy").values()
        if p["Properties"].get("Description") == f"PracticePay {name} function: least privilege"
    ]
    return policy


def _listed(value: str | list) -> list:
    return value if isinstance(value, list) else [value]


def _table_id(template: dict, spec) -> str:  # noqa: ANN001
    (logical,) = [k for k in resources(template, "AWS::DynamoDB::Table") if k.startswith(f"Data{spec.logical_id}")]
    return logical


def test_the_pay_page_and_the_dashboard_are_public_and_every_other_route_but_five_uses_the_authorizer(template):
    methods = _methods(template)
    pay = {(r.method, r.path) for r in ROUTES if r.path.startswith("/pay/")}
    assert len(pay) == 6 and all(r.function == PAYPAGE.name for r in ROUTES if r.path.startswith("/pay/"))
    unsubscribe = {("GET", "/unsubscribe/{token}"), ("POST", "/unsubscribe/{token}")}  # the token is the auth
    dashboard = {(r.method, r.path) for r in DASHBOARD_ROUTES}  # its own sign-in and session cookie (ADR 0018)
    public = {("GET", "/health"), ("GET", "/openapi.json"), ("POST", "/webhooks/splash"), *pay, *unsubscribe}
    public |= dashboard
    assert {key for key, m in methods.items() if _public(m)} == public
    for key, method in methods.items():
        if key in public:
            assert method["AuthorizationType"] == "NONE" and "AuthorizerId" not in method, key
        else:
            assert method["AuthorizationType"] == "CUSTOM" and "AuthorizerId" in method, key
    for key in pay:  # the page's forms carry their own submit ids: no Idempotency-Key, no validator, no token
        assert "RequestParameters" not in methods[key] and "RequestValidatorId" not in methods[key], key
        assert methods[key]["Integration"]["Type"] == "AWS_PROXY"
        assert _function_of(template, methods[key]) == PAYPAGE.name
    # The staff's pay-link routes are the invoices function's, behind the authorizer, and POSTs need a key (the
    # dashboard's own pay-link forms are its session's, checked above).
    staff = [r for r in ROUTES if "pay-links" in r.path and r.function != DASHBOARD.name]
    assert len(staff) == 4 and all(r.function == INVOICES.name and r.authorized for r in staff)
    for route in staff:
        params = methods[(route.method, route.path)]["RequestParameters"]
        assert params.get("method.request.header.Idempotency-Key", False) == (route.method == "POST"), route


def _function_of(template: dict, method: dict) -> str:
    (arn,) = [p for p in method["Integration"]["Uri"]["Fn::Join"][1] if isinstance(p, dict) and "Fn::GetAtt" in p]
    fn = template["Resources"][arn["Fn::GetAtt"][0]]["Properties"]
    return fn["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"].removeprefix("practicepay-")


def test_the_pay_links_table_is_encrypted_recoverable_retained_and_expires_its_rows(template):
    table = template["Resources"][_table_id(template, PAY_LINKS_TABLE)]
    props = table["Properties"]
    assert table["DeletionPolicy"] == "Retain" and table["UpdateReplacePolicy"] == "Retain"
    assert props["DeletionProtectionEnabled"] is True
    assert props["SSESpecification"]["SSEType"] == "KMS" and "Fn::GetAtt" in props["SSESpecification"]["KMSMasterKeyId"]
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    indexes = {i["IndexName"]: [k["AttributeName"] for k in i["KeySchema"]] for i in props["GlobalSecondaryIndexes"]}
    assert indexes == {"by_owner": ["gsi1pk", "gsi1sk"], "by_id": ["link_id"]}
    selection = next(iter(resources(template, "AWS::Backup::BackupSelection").values()))
    backed_up = json.dumps(selection["Properties"]["BackupSelection"]["Resources"])
    assert _table_id(template, PAY_LINKS_TABLE) in backed_up


def test_every_function_is_given_each_variable_its_definition_names(template):
    """infra.definitions' FunctionDef.env is what each function reads: the stack sets every one of them."""
    for spec in FUNCTIONS:
        variables = _function(template, spec.name)["Environment"]["Variables"]
        assert set(spec.env) <= set(variables), (spec.name, set(spec.env) - set(variables))
    assert _function(template, INVOICES.name)["Environment"]["Variables"][PAY_PAGE_URL_ENV] == ""  # no custom domain


def test_the_pay_page_has_the_plans_grants_its_links_and_nothing_wider(template):
    page = _statements(template, PAYPAGE.name)
    plans = _statements(template, "plans")
    by_sid = {s["Sid"]: s for s in page}
    # What the plans API may do (pay, make plans: payments, invoices, methods, practices, events, idempotency,
    # schedules, the data key, the Splash secret, the reconciliation queue), its own statements aside.
    own = {"WriteOwnLogs", "DeadLetters"}
    assert [s for s in plans if s["Sid"] not in own] == [s for s in page if s["Sid"] in {p["Sid"] for p in plans} - own]
    links = json.dumps({"Fn::GetAtt": [_table_id(template, PAY_LINKS_TABLE), "Arn"]})
    assert set(by_sid) - {s["Sid"] for s in plans} == {"PayLinks", "BalanceInvoices", "PatientMethods"}
    assert _listed(by_sid["PatientMethods"]["Action"]) == ["dynamodb:PutItem", "dynamodb:UpdateItem"]
    assert _listed(by_sid["PayLinks"]["Action"]) == ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
    assert [json.dumps(r) for r in _listed(by_sid["PayLinks"]["Resource"])] == [links]
    assert "/index/by_patient" in json.dumps(by_sid["BalanceInvoices"]["Resource"])
    assert "/index/by_status" not in json.dumps(by_sid["BalanceInvoices"]["Resource"])
    actions = [a for s in page for a in _listed(s["Action"])]
    assert "dynamodb:Scan" not in actions and "dynamodb:DeleteItem" not in _listed(by_sid["PayLinks"]["Action"])
    assert not any(a.endswith("*") for a in actions)
    wildcard = [s["Sid"] for s in page if "*" in _listed(s["Resource"])]
    assert wildcard == ["XRayTraces"]  # as every function: X-Ray has no resource-level permissions
    secrets = [s for s in page if any(a.startswith("secretsmanager:") for a in _listed(s["Action"]))]
    assert [s["Sid"] for s in secrets] == ["ReadSplashCredentials"]  # never the JWT secret
    variables = _function(template, PAYPAGE.name)["Environment"]["Variables"]
    assert variables[PAY_LINKS_TABLE.env_var] == {"Ref": _table_id(template, PAY_LINKS_TABLE)}
    assert _function(template, PAYPAGE.name)["Timeout"] == 25  # a Splash call, inside API Gateway's 29 s


def test_the_invoices_function_makes_lists_and_revokes_links_and_reads_what_they_need(template):
    by_sid = {s["Sid"]: s for s in _statements(template, INVOICES.name)}
    links = by_sid["PayLinks"]
    # UpdateItem: a revoke sets revoked_at in place (the counts the page made meanwhile stay)
    assert _listed(links["Action"]) == ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"]
    assert {r["Fn::Join"][1][1] for r in _listed(links["Resource"]) if "Fn::Join" in r} == {
        "/index/by_owner",
        "/index/by_id",
    }
    assert _listed(by_sid["Practices"]["Action"]) == ["dynamodb:GetItem"]
    assert _listed(by_sid["Patients"]["Action"]) == ["dynamodb:GetItem", "dynamodb:ConditionCheckItem"]
    assert _listed(by_sid["Events"]["Action"]) == ["dynamodb:PutItem"]
    actions = [a for s in by_sid.values() for a in _listed(s["Action"])]
    assert "dynamodb:DeleteItem" not in _listed(links["Action"]) and "dynamodb:Scan" not in actions


def test_waf_blocks_an_address_that_floods_the_identity_form_or_the_pay_page(template):
    (acl,) = resources(template, "AWS::WAFv2::WebACL").values()
    rules = {r["Name"]: r for r in acl["Properties"]["Rules"]}
    priorities = [r["Priority"] for r in rules.values()]
    assert len(priorities) == len(set(priorities))  # no two rules share a priority
    identity, page = rules["PayIdentityRateLimitPerIp"], rules["PayPageRateLimitPerIp"]
    for rule, limit in ((identity, 100), (page, 1000)):
        assert rule["Action"] == {"Block": {}}
        rate = rule["Statement"]["RateBasedStatement"]
        assert rate["Limit"] == limit and rate["AggregateKeyType"] == "IP" and rate["EvaluationWindowSec"] == 300
        assert rule["VisibilityConfig"] == {
            "CloudWatchMetricsEnabled": True,
            "MetricName": rule["Name"],
            "SampledRequestsEnabled": True,
        }
    method, path = identity["Statement"]["RateBasedStatement"]["ScopeDownStatement"]["AndStatement"]["Statements"]
    assert method["ByteMatchStatement"]["FieldToMatch"] == {"Method": {}}
    assert method["ByteMatchStatement"]["SearchString"] == "POST"
    assert method["ByteMatchStatement"]["PositionalConstraint"] == "EXACTLY"
    page_path = page["Statement"]["RateBasedStatement"]["ScopeDownStatement"]
    _assert_path_rule(
        path["RegexMatchStatement"],
        matches=["/v1/pay/AbC-_9/identity", "/pay/x/identity", "/v1/pay/x/identity/", "/billing/pay/x/identity"],
        misses=["/v1/pay/x", "/v1/pay/x/payments", "/v1/pay/x/identity/more", "/v1/invoices/x/pay-links"],
    )
    _assert_path_rule(
        page_path["RegexMatchStatement"],
        matches=["/v1/pay/x", "/pay/x/plan", "/v1/pay/assets/app.js", "/v1/pay/x/receipts/rc_1"],
        misses=["/v1/pay-links/pl_1/revoke", "/v1/invoices/inv_1/pay-links", "/v1/invoices/inv_1/payments"],
    )


def test_waf_logs_redact_bearer_tokens_the_session_cookie_and_the_path_that_carries_a_link_secret(template):
    (logging,) = resources(template, "AWS::WAFv2::LoggingConfiguration").values()
    redacted = logging["Properties"]["RedactedFields"]
    assert len(redacted) == 4
    assert {"SingleHeader": {"Name": "authorization"}} in redacted
    assert {"SingleHeader": {"Name": "cookie"}} in redacted
    assert {"UriPath": {}} in redacted  # /pay/{secret}/…: WAF logs every request's path as REDACTED
    assert {"QueryString": {}} in redacted  # the dashboard's patient search: ?q=<name>&dob=<date>


def _xray_glob(pattern: str, value: str) -> bool:
    """X-Ray's sampling wildcards: `*` any run of characters (`/` included), `?` exactly one."""
    import re

    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


def test_x_ray_samples_no_pay_page_request_and_the_stage_stays_traced(template):
    (stage,) = resources(template, "AWS::ApiGateway::Stage").values()
    assert stage["Properties"]["TracingEnabled"] is True  # every other route is still traced (HIPAA pack)
    (api,) = resources(template, "AWS::ApiGateway::RestApi").values()
    (rule,) = resources(template, "AWS::XRay::SamplingRule").values()
    props = rule["Properties"]["SamplingRule"]
    assert props["FixedRate"] == 0 and props["ReservoirSize"] == 0
    assert 1 <= props["Priority"] < 10000  # ahead of the account's Default rule (10000)
    assert props["ServiceType"] == "AWS::ApiGateway::Stage"
    assert props["ServiceName"] == f"{api['Properties']['Name']}/{stage['Properties']['StageName']}"
    assert props["ResourceARN"] == props["Host"] == props["HTTPMethod"] == "*"
    assert props["Version"] == 1
    assert isinstance(props["RuleName"], str) and 1 <= len(props["RuleName"]) <= 32
    paths = [
        route.path.replace("{secret}", "Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4").replace("{", "").replace("}", "")
        for route in ROUTES
    ]
    pay = [path for path in paths if path.startswith("/pay/")]
    assert pay and len(pay) < len(paths)
    for path in pay:  # with and without the stage in front, and behind a custom domain's base path
        for seen in (path, f"/v1{path}", f"/billing/v1{path}", f"/billing{path}"):
            assert _xray_glob(props["URLPath"], seen), seen
    for path in (p for p in paths if not p.startswith("/pay/")):
        for seen in (path, f"/v1{path}"):
            assert not _xray_glob(props["URLPath"], seen), seen


def _assert_path_rule(statement: dict, *, matches: list[str], misses: list[str]) -> None:
    import re

    assert statement["FieldToMatch"] == {"UriPath": {}}
    steps = [t["Type"] for t in sorted(statement["TextTransformations"], key=lambda t: t["Priority"])]
    assert steps == ["URL_DECODE", "NORMALIZE_PATH", "LOWERCASE"]
    regex = re.compile(statement["RegexString"])
    for path in matches:  # as WAF sees them after the transformations (lowercased)
        assert regex.search(path.lower()), path
    for path in misses:
        assert not regex.search(path.lower()), path


def test_a_pay_page_url_reaches_the_invoices_function(tmp_path):
    from app import build_app

    url = "https://pay.example-clinic.com"
    app, stack = build_app(
        outdir=str(tmp_path), context={"pay_page_url": f"{url}/", "aws:cdk:bundling-stacks": []}, attach_nag=False
    )
    template = app.synth().get_stack_by_name(stack.stack_name).template
    assert _function(template, INVOICES.name)["Environment"]["Variables"][PAY_PAGE_URL_ENV] == url
    assert PAY_PAGE_URL_ENV not in _function(template, PAYPAGE.name)["Environment"]["Variables"]
