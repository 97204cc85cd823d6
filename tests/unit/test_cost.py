"""The cost model's arithmetic (tests/bench/cost.py): lines scale with what they count, totals are their sums, the
template is read right, DynamoDB units follow AWS's rounding."""

from __future__ import annotations

import pytest

from tests.bench.cost import (
    PRICES,
    Assumptions,
    Line,
    Measured,
    Price,
    Resources,
    fixed_costs,
    per_thousand_invoices,
    render,
    request_units,
    runs_per_month,
    template_resources,
    total,
)

pytestmark = pytest.mark.unit

RESOURCES = Resources(
    kms_keys=1,
    secrets=2,
    alarms=5,
    web_acls=1,
    waf_rules=3,
    log_groups=17,
    tables=8,
    pitr_tables=8,
    queues=7,
    sqs_sources=(True, False, False),
    schedules=("rate(5 minutes)", "cron(0 14 * * ? *)"),
    memory_mb={"invoices": 512, "payments": 512, "authorizer": 512},
    tracing=True,
)


def measured(**changes) -> Measured:
    base = {
        "calls": {"dynamodb:TransactWriteItems": 4, "kms:Decrypt": 0.1, "sqs:SendMessage": 0},
        "wru": 32,
        "rru": 4,
        "invocations": {"invoices": 2, "payments": 1},
        "api_requests": 3,
        "events": 3,
        "stored_bytes": {"INVOICES_TABLE": 1300, "PAYMENTS_TABLE": 1050, "IDEMPOTENCY_TABLE": 240},
        "poll_calls": {"secretsmanager:GetSecretValue": 1},
        "poll_rru": 3.5,
        "poll_rru_per_payment": 1,
        "runs": 20,
    }
    return Measured(**{**base, **changes})


def line(lines: list[Line], starts: str) -> Line:
    (found,) = [x for x in lines if x.item.startswith(starts)]
    return found


@pytest.mark.parametrize(
    ("field", "value", "item"),
    [
        ("events", 3, "EventBridge events published"),
        ("wru", 32, "DynamoDB writes"),
        ("api_requests", 3, "API Gateway requests"),
        ("stored_bytes", {"INVOICES_TABLE": 1300}, "DynamoDB storage"),
    ],
)
def test_doubling_a_count_doubles_its_line(field, value, item):
    doubled = {k: v * 2 for k, v in value.items()} if isinstance(value, dict) else value * 2
    assumptions = Assumptions(alerts_per_payment=0)  # the alert's own requests would not double
    once = line(per_thousand_invoices(RESOURCES, measured(**{field: value}), a=assumptions), item)
    twice = line(per_thousand_invoices(RESOURCES, measured(**{field: doubled}), a=assumptions), item)
    assert once.usd > 0
    assert twice.usd == pytest.approx(2 * once.usd)


def test_doubling_the_keys_doubles_the_key_line_and_adds_its_price_to_the_total():
    once = fixed_costs(RESOURCES, measured())
    twice = fixed_costs(Resources(**{**RESOURCES.__dict__, "kms_keys": 2}), measured())
    assert line(once, "KMS customer-managed keys").usd == PRICES["kms_key"].usd
    assert line(twice, "KMS customer-managed keys").usd == 2 * PRICES["kms_key"].usd
    assert total(twice) - total(once) == pytest.approx(PRICES["kms_key"].usd)


@pytest.mark.parametrize("table", [fixed_costs, per_thousand_invoices])
def test_the_total_is_the_sum_of_the_lines(table):
    lines = table(RESOURCES, measured())
    assert len(lines) > 5
    assert total(lines) == pytest.approx(sum(x.quantity / x.price.per * x.price.usd for x in lines))
    text = render(RESOURCES, measured())
    assert f"**${total(lines):,.2f}**" in text


def test_transient_tables_do_not_count_as_storage_kept():
    with_idem = line(per_thousand_invoices(RESOURCES, measured()), "DynamoDB storage")
    without = line(
        per_thousand_invoices(RESOURCES, measured(stored_bytes={"INVOICES_TABLE": 1300, "PAYMENTS_TABLE": 1050})),
        "DynamoDB storage",
    )
    assert with_idem.quantity == without.quantity == pytest.approx(1000 * 2350 / 1024**3)


def test_the_authorizer_runs_once_per_api_request_and_the_alert_adds_a_webhook_request():
    lines = per_thousand_invoices(RESOURCES, measured(), a=Assumptions(alerts_per_payment=1))
    assert line(lines, "API Gateway requests").quantity == 4000
    assert "authorizer 3" in line(lines, "Lambda requests").item


def test_price_cost_is_quantity_over_the_unit_times_the_price():
    assert Price(3.50, 1e6, "requests", "x").cost(2_000_000) == pytest.approx(7.0)
    assert Price(0.03, 10_000, "requests", "x").cost(5_000) == pytest.approx(0.015)


def test_runs_per_month_reads_rates_and_daily_crons():
    assert runs_per_month("rate(5 minutes)") == pytest.approx(730 * 12)
    assert runs_per_month("rate(1 hour)") == pytest.approx(730)
    assert runs_per_month("cron(0 14 * * ? *)") == pytest.approx(730 / 24)
    with pytest.raises(ValueError, match="cannot count"):
        runs_per_month("cron(0 14 ? * MON-FRI *)")


def test_template_resources_counts_what_bills_and_reads_memory_per_function():
    template = {
        "Resources": {
            "Key": {"Type": "AWS::KMS::Key"},
            "S1": {"Type": "AWS::SecretsManager::Secret"},
            "S2": {"Type": "AWS::SecretsManager::Secret"},
            "A": {"Type": "AWS::CloudWatch::Alarm"},
            "Acl": {"Type": "AWS::WAFv2::WebACL", "Properties": {"Rules": [{"Name": "a"}, {"Name": "b"}]}},
            "Fifo": {"Type": "AWS::SQS::Queue", "Properties": {"FifoQueue": True}},
            "Std": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "M1": {
                "Type": "AWS::Lambda::EventSourceMapping",
                "Properties": {"EventSourceArn": {"Fn::GetAtt": ["Fifo", "Arn"]}},
            },
            "M2": {
                "Type": "AWS::Lambda::EventSourceMapping",
                "Properties": {"EventSourceArn": {"Fn::GetAtt": ["Std", "Arn"]}},
            },
            "M3": {
                "Type": "AWS::Lambda::EventSourceMapping",
                "Properties": {"EventSourceArn": {"Fn::GetAtt": ["Tbl", "StreamArn"]}},
            },
            "Tbl": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {"PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}},
            },
            "Sched": {"Type": "AWS::Scheduler::Schedule", "Properties": {"ScheduleExpression": "rate(5 minutes)"}},
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "MemorySize": 1024,
                    "TracingConfig": {"Mode": "Active"},
                    "Environment": {"Variables": {"POWERTOOLS_SERVICE_NAME": "practicepay-payments"}},
                },
            },
        }
    }
    found = template_resources(template)
    assert (found.kms_keys, found.secrets, found.alarms, found.web_acls, found.waf_rules) == (1, 2, 1, 1, 2)
    assert (found.tables, found.pitr_tables, found.queues) == (1, 1, 2)
    assert sorted(found.sqs_sources) == [False, True]  # the stream's mapping polls no queue
    assert found.schedules == ("rate(5 minutes)",)
    assert found.memory_mb == {"payments": 1024} and found.tracing


def test_dynamodb_units_follow_the_item_sizes_and_aws_rounding():
    small = {"pk": {"S": "a"}, "sk": {"S": "b"}}
    big = {"pk": {"S": "a"}, "blob": {"S": "x" * 1500}}  # 1.5 KB: two write units, one read unit
    assert request_units("dynamodb", "PutItem", {"Item": big}, {}) == (2, 0)
    assert request_units("dynamodb", "PutItem", {"Item": {"pk": "a", "blob": "x" * 1500}}, {}) == (2, 0)  # Table API
    transact = {"TransactItems": [{"Put": {"Item": big}}, {"Update": {"Key": small}}, {"ConditionCheck": {}}]}
    assert request_units("dynamodb", "TransactWriteItems", transact, {}) == (2 * 2 + 2 + 2, 0)
    assert request_units("dynamodb", "GetItem", {}, {"Item": small}) == (0, 0.5)  # eventually consistent
    assert request_units("dynamodb", "GetItem", {"ConsistentRead": True}, {}) == (0, 1)  # not found still reads
    items = [{"blob": {"S": "x" * 2500}}] * 2  # 5 KB: two 4 KB units
    assert request_units("dynamodb", "Query", {"ConsistentRead": True}, {"Items": items}) == (0, 2)
    batch = {"RequestItems": {"t": {"Keys": [small, small], "ConsistentRead": True}}}
    assert request_units("dynamodb", "BatchGetItem", batch, {"Responses": {"t": [small]}}) == (0, 2)
    assert request_units("sqs", "SendMessage", {}, {}) == (0, 0)
