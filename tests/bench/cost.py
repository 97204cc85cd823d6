"""What PracticePay costs to run in AWS (us-east-1, list prices, no free tier): the monthly fixed costs (what bills
while no invoice is made) and the cost per 1,000 invoices, each issued and paid by one card payment.

Inputs, each kept apart so it can be checked:
1. the calls each flow makes, measured here as the bench measures them (`measure()`: the real handlers through the
   local API front, DynamoDB/KMS/SQS/Secrets Manager/EventBridge on the moto server, the Splash sandbox): AWS calls
   per function and operation, DynamoDB request units from the items each call writes and reads, Lambda
   invocations per function, API requests, and the bytes each invoice leaves in each table;
2. the resources in the synthesized template (`template_resources()`: KMS keys, secrets, alarms, the WAF web ACL and
   its rules, log groups, tables, schedules, queues, each function's memory);
3. AWS's published prices (`PRICES`, each with its page) and the assumptions the bench cannot measure
   (`ASSUMPTIONS`: Lambda durations off this machine, log bytes per invocation, the Splash alert per payment).

`python -m tests.bench.cost` prints the section; `cost_section()` returns it for BENCHMARKS.md."""

from __future__ import annotations

import math
import os
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

HOURS_PER_MONTH = 730
MINUTES_PER_MONTH = HOURS_PER_MONTH * 60
GB = 1024**3
PRICES_TAKEN = "2026-12-02"
"""When the prices were read. This machine reaches no AWS page: they are AWS's published us-east-1 list prices as
the pages below state them (cross-checked against stored copies of those pages and of third-party summaries of
them); check the pages before quoting a figure to a customer."""


@dataclass(frozen=True)
class Price:
    usd: float
    per: float
    unit: str
    source: str

    def cost(self, quantity: float) -> float:
        return quantity / self.per * self.usd


_LAMBDA = "https://aws.amazon.com/lambda/pricing/"
_APIGW = "https://aws.amazon.com/api-gateway/pricing/"
_DDB = "https://aws.amazon.com/dynamodb/pricing/on-demand/"
_KMS = "https://aws.amazon.com/kms/pricing/"
_SM = "https://aws.amazon.com/secrets-manager/pricing/"
_SQS = "https://aws.amazon.com/sqs/pricing/"
_EB = "https://aws.amazon.com/eventbridge/pricing/"
_CW = "https://aws.amazon.com/cloudwatch/pricing/"
_WAF = "https://aws.amazon.com/waf/pricing/"
_BACKUP = "https://aws.amazon.com/backup/pricing/"
_XRAY = "https://aws.amazon.com/xray/pricing/"

PRICES: dict[str, Price] = {
    "lambda_request": Price(0.20, 1e6, "requests", _LAMBDA),
    "lambda_arm_gb_s": Price(0.0000133334, 1, "GB-s (arm64, first 7.5 billion GB-s)", _LAMBDA),
    "apigw_rest": Price(3.50, 1e6, "REST API requests (first 333 million)", _APIGW),
    "ddb_wru": Price(0.625, 1e6, "write request units (on-demand)", _DDB),
    "ddb_rru": Price(0.125, 1e6, "read request units (on-demand)", _DDB),
    "ddb_storage": Price(0.25, 1, "GB-month of table storage (after the first 25 GB)", _DDB),
    "ddb_pitr": Price(0.20, 1, "GB-month of point-in-time recovery (continuous backups)", _DDB),
    "backup_ddb": Price(0.10, 1, "GB-month of AWS Backup warm storage (DynamoDB)", _BACKUP),
    "kms_key": Price(1.00, 1, "customer-managed key-month", _KMS),
    "kms_request": Price(0.03, 10_000, "KMS requests", _KMS),
    "secret": Price(0.40, 1, "secret-month", _SM),
    "secret_call": Price(0.05, 10_000, "Secrets Manager API calls", _SM),
    "sqs_standard": Price(0.40, 1e6, "SQS standard requests", _SQS),
    "sqs_fifo": Price(0.50, 1e6, "SQS FIFO requests", _SQS),
    "eb_custom_event": Price(1.00, 1e6, "custom events put on a bus (64 KB chunks)", _EB),
    "eb_archive": Price(0.10, 1, "GB of events archived", _EB),
    "scheduler": Price(1.00, 1e6, "EventBridge Scheduler invocations (after 14 million free)", _EB),
    "cw_alarm": Price(0.10, 1, "standard-resolution alarm-month", _CW),
    "cw_logs_ingest": Price(0.50, 1, "GB of logs ingested (standard; WAF's vended logs the same up to 10 TB)", _CW),
    "waf_acl": Price(5.00, 1, "web ACL-month", _WAF),
    "waf_rule": Price(1.00, 1, "rule-month (a managed rule group counts as one)", _WAF),
    "waf_request": Price(0.60, 1e6, "requests inspected", _WAF),
    "xray_trace": Price(5.00, 1e6, "traces recorded", _XRAY),
}


@dataclass(frozen=True)
class Assumptions:
    """What the bench cannot measure on this machine. Durations are warm invocations in AWS, not the wall times
    measured here (moto and the sandbox share these 2 cores; Splash answers from another continent)."""

    duration_ms: Mapping[str, float] = field(
        default_factory=lambda: {
            "authorizer": 5,  # an HS256 check with the secret cached
            "payments": 900,  # waiting on Splash's sale answer (Payrix's sandbox answers in ~0.5-1 s)
            "alerts": 400,  # one Splash GET of the txn
            "webhook": 30,
            "poll": 600,  # one Splash SEARCH, more when txns changed
            "publisher": 40,
        }
    )
    default_duration_ms: float = 60.0
    """Every other function: a few DynamoDB calls at single-digit milliseconds each."""
    cold_start_ratio: float = 0.02
    init_ms: float = 1500.0
    """A cold start's billed INIT phase (imports: 0.4-0.7 s here at 2 cores, BENCHMARKS.md)."""
    authorizer_per_request: float = 1.0
    """API Gateway keeps an Allow per token for 300 s; a practice making 1,000 invoices a month sends ~10
    requests an hour, so nearly every request meets a cold cache: one authorizer run per request (worst case)."""
    publisher_runs_per_invoice: float = 2.0
    """The events table's stream hands the publisher each transaction's events as they commit: an invoice's three
    events come in two transactions (issue; payment). The local bench publishes its whole run in a few batches."""
    alerts_per_payment: float = 1.0
    """Splash sends one web alert per txn change; a card sale approved in the call changes nothing more."""
    webhook_calls: Mapping[str, float] = field(
        default_factory=lambda: {"dynamodb:PutItem": 1, "sqs:SendMessage": 1}  # keep the raw alert, queue it
    )
    alert_calls: Mapping[str, float] = field(
        default_factory=lambda: {"dynamodb:GetItem": 1}  # BENCHMARKS.md: "the same alert again (no change)"
    )
    lambda_log_bytes: int = 1200
    """Per invocation: START/END/REPORT (~350 bytes) and the Powertools JSON lines at INFO (~850 bytes)."""
    access_log_bytes: int = 450
    """Per API request: the stage's JSON access line with the standard fields."""
    waf_log_bytes: int = 1500
    """Per request WAF inspects: the request's headers and the rules' verdicts (Authorization redacted)."""
    sqs_pollers_per_queue: int = 5
    """Lambda's SQS event source keeps ~5 long polls (20 s each) open per queue while idle."""
    service_kms_requests_per_hour: float = 12.0
    """Per table, queue and log group on the customer-managed key: DynamoDB, SQS (data key reuse 300 s) and Logs
    ask KMS about every 5 minutes while in use (an upper bound: idle resources ask less)."""
    polls_seeing_each_payment: float = 3.0
    """Each poll starts POLL_OVERLAP_SECONDS (600) before its cursor and runs every 5 minutes: it sees a changed
    txn about three times."""
    backup_copies: int = 35
    """AWS Backup's daily DynamoDB backups are full copies, kept 35 days."""
    event_bytes: int = 600


@dataclass(frozen=True)
class Resources:
    kms_keys: int = 0
    secrets: int = 0
    alarms: int = 0
    web_acls: int = 0
    waf_rules: int = 0
    log_groups: int = 0
    tables: int = 0
    pitr_tables: int = 0
    queues: int = 0
    sqs_sources: tuple[bool, ...] = ()
    """One per SQS event source mapping: whether its queue is FIFO."""
    schedules: tuple[str, ...] = ()
    memory_mb: Mapping[str, int] = field(default_factory=dict)
    """Function name (folder under functions/) -> MemorySize."""
    tracing: bool = False


@dataclass
class Measured:
    """Per invoice (create, issue, one card payment, the outbox published), averaged over the runs."""

    calls: dict[str, float] = field(default_factory=dict)
    """service:Operation -> calls per invoice, every function together."""
    calls_by_function: dict[str, dict[str, float]] = field(default_factory=dict)
    wru: float = 0.0
    rru: float = 0.0
    invocations: dict[str, float] = field(default_factory=dict)
    api_requests: float = 0.0
    events: float = 0.0
    stored_bytes: dict[str, float] = field(default_factory=dict)
    """Table env var -> bytes each invoice leaves there (TTL'd tables included: see TRANSIENT_TABLES)."""
    poll_calls: dict[str, float] = field(default_factory=dict)
    poll_rru: float = 0.0
    poll_rru_by_op: dict[str, float] = field(default_factory=dict)
    poll_rru_per_payment: float = 0.0
    """What the poll reads for each changed payment it sees (its BatchGetItem), split out of `poll_rru`."""
    runs: int = 0


TRANSIENT_TABLES = frozenset({"IDEMPOTENCY_TABLE", "EVENTS_TABLE"})
"""Kept 24 hours and 30 days: what they hold does not grow with the months."""


@dataclass(frozen=True)
class Line:
    item: str
    quantity: float
    price: Price

    @property
    def usd(self) -> float:
        return self.price.cost(self.quantity)


def total(lines: Iterable[Line]) -> float:
    return sum(line.usd for line in lines)


# -- 2. the template ---------------------------------------------------------------------------------------------


def synth_template() -> dict[str, Any]:
    """One synth of the real app, bundling skipped (as tests/infra/conftest.py does)."""
    import tempfile

    from app import build_app

    with tempfile.TemporaryDirectory() as outdir:
        app, _stack = build_app(outdir=outdir, context={"aws:cdk:bundling-stacks": []})
        return app.synth().get_stack_by_name("PracticePay").template


def template_resources(template: Mapping[str, Any]) -> Resources:
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for resource in template["Resources"].values():
        by_type[resource["Type"]].append(resource.get("Properties") or {})
    queues = {
        logical: bool((r.get("Properties") or {}).get("FifoQueue"))
        for logical, r in template["Resources"].items()
        if r["Type"] == "AWS::SQS::Queue"
    }
    sqs_sources = []
    for mapping in by_type["AWS::Lambda::EventSourceMapping"]:
        source = mapping.get("EventSourceArn") or {}
        logical = (source.get("Fn::GetAtt") or [None])[0] if isinstance(source, dict) else None
        if logical in queues:
            sqs_sources.append(queues[logical])
    memory = {}
    tracing = False
    for fn in by_type["AWS::Lambda::Function"]:
        service = (fn.get("Environment") or {}).get("Variables", {}).get("POWERTOOLS_SERVICE_NAME", "")
        memory[service.removeprefix("practicepay-")] = int(fn.get("MemorySize", 128))
        tracing = tracing or (fn.get("TracingConfig") or {}).get("Mode") == "Active"
    tables = by_type["AWS::DynamoDB::Table"]
    return Resources(
        kms_keys=len(by_type["AWS::KMS::Key"]),
        secrets=len(by_type["AWS::SecretsManager::Secret"]),
        alarms=len(by_type["AWS::CloudWatch::Alarm"]),
        web_acls=len(by_type["AWS::WAFv2::WebACL"]),
        waf_rules=sum(len(acl.get("Rules") or []) for acl in by_type["AWS::WAFv2::WebACL"]),
        log_groups=len(by_type["AWS::Logs::LogGroup"]),
        tables=len(tables),
        pitr_tables=sum(
            bool((t.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled")) for t in tables
        ),
        queues=len(queues),
        sqs_sources=tuple(sqs_sources),
        schedules=tuple(s.get("ScheduleExpression", "") for s in by_type["AWS::Scheduler::Schedule"]),
        memory_mb=memory,
        tracing=tracing,
    )


def runs_per_month(expression: str) -> float:
    """How often an EventBridge Scheduler expression fires in a month: rate(N minutes|hours|days) or a daily cron."""
    if expression.startswith("rate("):
        amount, unit = expression[5:-1].split()
        minutes = {"minute": 1, "hour": 60, "day": 1440}[unit.rstrip("s")]
        return MINUTES_PER_MONTH / (int(amount) * minutes)
    if expression.startswith("cron("):
        minute, hour, day, _month, weekday, *_ = expression[5:-1].split()
        if day in ("*", "?") and weekday in ("*", "?") and "/" not in minute + hour and "," not in minute + hour:
            return HOURS_PER_MONTH / 24
    raise ValueError(f"cannot count the runs of {expression!r}")


# -- 3. the arithmetic -------------------------------------------------------------------------------------------


def _gb_s(function: str, invocations: float, resources: Resources, a: Assumptions) -> float:
    memory_gb = resources.memory_mb.get(function, 512) / 1024
    ms = a.duration_ms.get(function, a.default_duration_ms) + a.cold_start_ratio * a.init_ms
    return invocations * memory_gb * ms / 1000


def fixed_costs(
    resources: Resources, measured: Measured, prices: Mapping[str, Price] = PRICES, a: Assumptions | None = None
) -> list[Line]:
    """What bills every month with no invoice made: keys, secrets, alarms, the web ACL and its rules, the
    schedules and the work they start, Lambda's SQS pollers, the services' KMS requests."""
    a = a or Assumptions()
    p = prices
    lines = [
        Line(f"KMS customer-managed keys ({resources.kms_keys})", resources.kms_keys, p["kms_key"]),
        Line(f"Secrets Manager secrets ({resources.secrets})", resources.secrets, p["secret"]),
        Line(f"CloudWatch alarms ({resources.alarms})", resources.alarms, p["cw_alarm"]),
        Line(f"WAF web ACL ({resources.web_acls})", resources.web_acls, p["waf_acl"]),
        Line(
            f"WAF rules ({resources.waf_rules}: two AWS managed groups, one rate rule)",
            resources.waf_rules,
            p["waf_rule"],
        ),
    ]
    polls = 0.0
    for expression in resources.schedules:
        polls_here = runs_per_month(expression)
        lines.append(Line(f"Scheduler: {expression}", polls_here, p["scheduler"]))
        if expression.startswith("rate("):
            polls = polls_here
    if polls:
        lines += [
            Line("status poll: Lambda requests", polls, p["lambda_request"]),
            Line("status poll: Lambda GB-s", _gb_s("poll", polls, resources, a), p["lambda_arm_gb_s"]),
            Line("status poll: DynamoDB reads (RRU)", polls * measured.poll_rru, p["ddb_rru"]),
            Line(
                "status poll: Secrets Manager calls (the Splash secret, cached 300 s)",
                polls * measured.poll_calls.get("secretsmanager:GetSecretValue", 1.0),
                p["secret_call"],
            ),
            Line("status poll: logs ingested (GB)", polls * a.lambda_log_bytes / GB, p["cw_logs_ingest"]),
        ]
    polls_per_source = a.sqs_pollers_per_queue * MINUTES_PER_MONTH * 3  # one 20 s long poll each, back to back
    for fifo in (True, False):
        n = sum(1 for f in resources.sqs_sources if f == fifo)
        if n:
            kind = "FIFO" if fifo else "standard"
            lines.append(
                Line(
                    f"SQS: Lambda's pollers on {n} {kind} queue(s), idle",
                    n * polls_per_source,
                    p["sqs_fifo" if fifo else "sqs_standard"],
                )
            )
    keyed = resources.tables + resources.queues + resources.log_groups
    lines.append(
        Line(
            f"KMS requests by DynamoDB, SQS and Logs ({keyed} resources on the key)",
            keyed * a.service_kms_requests_per_hour * HOURS_PER_MONTH,
            p["kms_request"],
        )
    )
    return lines


def per_thousand_invoices(
    resources: Resources, measured: Measured, prices: Mapping[str, Price] = PRICES, a: Assumptions | None = None
) -> list[Line]:
    """1,000 invoices, each created, issued and paid by one card payment, with its events published and Splash's
    alert for the payment received."""
    a = a or Assumptions()
    p = prices
    k = 1000
    invocations = Counter({fn: n * k for fn, n in measured.invocations.items()})
    api = measured.api_requests * k
    alerts = a.alerts_per_payment * k
    invocations["authorizer"] = api * a.authorizer_per_request
    invocations["publisher"] = a.publisher_runs_per_invoice * k
    invocations["webhook"] += alerts
    invocations["alerts"] += alerts
    requests = api + alerts  # the alert reaches /webhooks/splash through API Gateway and WAF
    calls = Counter({op: n * k for op, n in measured.calls.items()})
    for op, n in (*a.webhook_calls.items(), *a.alert_calls.items()):
        calls[op] += n * alerts
    wru = measured.wru * k + alerts * a.webhook_calls.get("dynamodb:PutItem", 0)
    rru = measured.rru * k + alerts * a.alert_calls.get("dynamodb:GetItem", 0) * 0.5
    rru += k * measured.poll_rru_per_payment * a.polls_seeing_each_payment
    gb_s = sum(_gb_s(fn, n, resources, a) for fn, n in invocations.items())
    lambda_runs = sum(invocations.values())
    kept = sum(b for t, b in measured.stored_bytes.items() if t not in TRANSIENT_TABLES) * k / GB
    sqs = sum(n for op, n in calls.items() if op.startswith("sqs:"))
    lines = [
        Line(
            f"API Gateway requests ({measured.api_requests:g} per invoice + {a.alerts_per_payment:g} alert)",
            requests,
            p["apigw_rest"],
        ),
        Line("WAF requests inspected", requests, p["waf_request"]),
        Line(f"Lambda requests ({_per_invoice(invocations, k)})", lambda_runs, p["lambda_request"]),
        Line("Lambda GB-s (memory from the template, durations assumed)", gb_s, p["lambda_arm_gb_s"]),
        Line("DynamoDB writes (WRU, from the items written)", wru, p["ddb_wru"]),
        Line("DynamoDB reads (RRU, from the items read; the poll's reads of each payment)", rru, p["ddb_rru"]),
        Line("SQS FIFO requests (each alert queued; the poller's receive and delete)", sqs + 2 * alerts, p["sqs_fifo"]),
        Line(
            f"EventBridge events published ({measured.events:g} per invoice)", measured.events * k, p["eb_custom_event"]
        ),
        Line("EventBridge archive (GB)", measured.events * k * a.event_bytes / GB, p["eb_archive"]),
        Line(
            "KMS requests (data keys cached 5 min per practice: measured in warm containers)",
            sum(n for op, n in calls.items() if op.startswith("kms:")) + a.cold_start_ratio * lambda_runs,
            p["kms_request"],
        ),
        Line(
            "Secrets Manager calls (measured; plus one per cold start)",
            sum(n for op, n in calls.items() if op.startswith("secretsmanager:")) + a.cold_start_ratio * lambda_runs,
            p["secret_call"],
        ),
        Line(
            "logs ingested (GB: Lambda, access and WAF logs)",
            (lambda_runs * a.lambda_log_bytes + requests * (a.access_log_bytes + a.waf_log_bytes)) / GB,
            p["cw_logs_ingest"],
        ),
        Line("DynamoDB storage, per month kept (GB)", kept, p["ddb_storage"]),
        Line("point-in-time recovery, per month kept (GB)", kept, p["ddb_pitr"]),
        Line(
            f"AWS Backup, {a.backup_copies} daily full copies, per month kept (GB)",
            kept * a.backup_copies,
            p["backup_ddb"],
        ),
    ]
    if resources.tracing:
        lines.append(
            Line(
                "X-Ray traces (one per API request and per asynchronous run)",
                requests + invocations["publisher"] + alerts,
                p["xray_trace"],
            )
        )
    return lines


def _per_invoice(invocations: Mapping[str, float], k: int) -> str:
    return ", ".join(f"{fn} {n / k:g}" for fn, n in sorted(invocations.items()) if n)


# -- 1. the measurement ------------------------------------------------------------------------------------------


_TYPE_TAGS = frozenset({"S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"})


def _size(item: Mapping[str, Any] | None) -> int:
    """DynamoDB's size of an item (tests.bench.money.item_size), given typed as the low-level client sends it or
    as plain Python values as boto3's Table resource does (serialized here first)."""
    from boto3.dynamodb.types import TypeSerializer

    from tests.bench.money import item_size

    if not item:
        return 0
    typed = all(isinstance(v, dict) and len(v) == 1 and next(iter(v)) in _TYPE_TAGS for v in item.values())
    if not typed:
        serializer = TypeSerializer()
        item = {k: serializer.serialize(v) for k, v in item.items()}
    return item_size(dict(item))


def request_units(
    service: str, operation: str, params: Mapping[str, Any], response: Mapping[str, Any]
) -> tuple[float, float]:
    """(write, read) request units one DynamoDB call consumes on an on-demand table, from the items it writes
    (1 KB units) and reads (4 KB units; eventually consistent reads half). An UpdateItem, DeleteItem or a
    ConditionCheck is counted as one item of up to 1 KB (the items here are under 1 KB: BENCHMARKS.md)."""
    if service != "dynamodb":
        return 0.0, 0.0

    def writes(size: int) -> float:
        return max(1, math.ceil(size / 1024))

    def reads(size: int, consistent: bool) -> float:
        return max(1, math.ceil(size / 4096)) * (1.0 if consistent else 0.5)

    consistent = bool(params.get("ConsistentRead"))
    if operation == "PutItem":
        return writes(_size(params["Item"])), 0.0
    if operation in ("UpdateItem", "DeleteItem"):
        return 1.0, 0.0
    if operation == "TransactWriteItems":
        units = 0.0
        for entry in params["TransactItems"]:
            kind, body = next(iter(entry.items()))
            units += 2 * (writes(_size(body["Item"])) if kind == "Put" else 1)
        return units, 0.0
    if operation == "BatchWriteItem":
        return sum(
            writes(_size(r.get("PutRequest", {}).get("Item"))) for reqs in params["RequestItems"].values() for r in reqs
        ), 0.0
    if operation == "GetItem":
        return 0.0, reads(_size(response.get("Item")), consistent)
    if operation == "BatchGetItem":
        units = 0.0
        for table, spec in params["RequestItems"].items():
            found = response.get("Responses", {}).get(table, [])
            units += sum(reads(_size(i), bool(spec.get("ConsistentRead"))) for i in found)
            units += (len(spec["Keys"]) - len(found)) * reads(0, bool(spec.get("ConsistentRead")))
        return 0.0, units
    if operation == "TransactGetItems":
        return 0.0, sum(2 * reads(_size(r.get("Item")), True) for r in response.get("Responses", []))
    if operation in ("Query", "Scan"):
        return 0.0, reads(sum(_size(i) for i in response.get("Items", [])), consistent)
    return 0.0, 0.0


class _Meter:
    """Counts, while a function runs (local.calls.CURRENT_FUNCTION), every AWS call and the DynamoDB units it
    consumes, and every function invocation."""

    def __init__(self) -> None:
        import botocore.client

        from local import events, front, triggers
        from local.calls import CURRENT_FUNCTION

        self.calls: Counter[tuple[str, str]] = Counter()
        self.units = [0.0, 0.0]
        self.invocations: Counter[str] = Counter()
        self.events = 0
        self.errors: list[str] = []
        self.rru_by_op: Counter[str] = Counter()
        original = botocore.client.BaseClient._make_api_call
        meter = self

        def counting(client: Any, operation: str, params: dict[str, Any]) -> Any:
            response = original(client, operation, params)
            function = CURRENT_FUNCTION.get()
            if function is not None:
                service = client.meta.service_model.service_name
                meter.calls[(function, f"{service}:{operation}")] += 1
                try:
                    write, read = request_units(service, operation, params, response)
                except Exception as exc:  # a shape not foreseen here must not fail the function it measures
                    meter.errors.append(f"{service}:{operation}: {exc!r}")
                    write = read = 0.0
                meter.units[0] += write
                meter.units[1] += read
                meter.rru_by_op[f"{service}:{operation}"] += read
                if service == "events" and operation == "PutEvents":
                    meter.events += len(params["Entries"])
            return response

        botocore.client.BaseClient._make_api_call = counting
        invoke = front.invoke

        def invoking(function: str, event: dict[str, Any]) -> Any:
            meter.invocations[function] += 1
            return invoke(function, event)

        for module in (front, events, triggers):
            module.invoke = invoking

    def take(self) -> tuple[Counter[tuple[str, str]], float, float, Counter[str], int]:
        taken = (self.calls.copy(), self.units[0], self.units[1], self.invocations.copy(), self.events)
        self.calls.clear()
        self.units[:] = [0.0, 0.0]
        self.invocations.clear()
        self.events = 0
        return taken


def measure(runs: int = 20) -> Measured:
    """Runs `runs` invoices (create, issue, pay by card) through the local API front after a warm-up, publishes
    their outbox, and runs the status poll once on an idle account."""
    import json
    import logging
    import uuid
    import warnings

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="No application metrics")
    from local.aws import EmbeddedAws
    from local.run import local_environment

    moto = EmbeddedAws().start()
    saved = dict(os.environ)
    os.environ.update(local_environment(moto.port))
    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    import boto3
    from werkzeug.test import Client

    from infra.definitions import PRACTICES_TABLE, TABLES
    from local.bootstrap import create_resources
    from local.front import LocalApiGateway
    from local.sandbox.server import SandboxSettings, SplashSandbox
    from local.seed import seed_practice
    from local.triggers import LocalTriggers
    from practicepay.auth.tokens import issue_hs256
    from practicepay.practices import PracticeStore
    from practicepay.splash.wiring import splash_client
    from tests.bench.money import CONSENT, SECRET
    from tests.helpers import free_port

    sandbox = SplashSandbox(SandboxSettings())
    splash = sandbox.serve("127.0.0.1", free_port())
    try:
        env = create_resources(SECRET, splash_host=f"http://127.0.0.1:{splash.port}")
        os.environ.update(env)
        seed_practice(
            "prc_cost", "Cost Family Practice", splash_client(), sandbox, PracticeStore(env[PRACTICES_TABLE.env_var])
        )
        client = Client(LocalApiGateway())
        headers = {"Authorization": f"Bearer {issue_hs256(SECRET, 'prc_cost')}", "Content-Type": "application/json"}
        requests_made = [0]

        def call(method: str, path: str, body: dict | None = None) -> dict:
            h = {**headers, "Idempotency-Key": str(uuid.uuid4())} if method == "POST" else headers
            resp = client.open(path, method=method, headers=h, data=json.dumps(body) if body is not None else None)
            assert resp.status_code < 300, resp.get_data(as_text=True)
            requests_made[0] += 1
            return resp.get_json()

        patient = call("POST", "/patients", {"external_id": "ehr-cost", "first_name": "Cost", "last_name": "Patient"})
        card = call(
            "POST",
            f"/patients/{patient['id']}/payment-methods",
            {"card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030}, "consent": CONSENT},
        )["id"]
        triggers = LocalTriggers()
        ddb = boto3.client("dynamodb")

        def stored() -> dict[str, int]:
            out = {}
            for table in TABLES:
                pages = ddb.get_paginator("scan").paginate(TableName=env[table.env_var])
                out[table.env_var] = sum(_size(i) for page in pages for i in page["Items"])
            return out

        def one_invoice() -> None:
            invoice = call(
                "POST",
                "/invoices",
                {
                    "patient_id": patient["id"],
                    "due_date": "2026-12-31",
                    "line_items": [
                        {"description": "Office visit", "cpt_code": "99213", "unit_amount": 12500},
                        {"description": "Lipid panel", "cpt_code": "80061", "unit_amount": 4200},
                    ],
                },
            )
            call("POST", f"/invoices/{invoice['id']}/issue")
            call("POST", f"/invoices/{invoice['id']}/payments", {"payment_method_id": card})

        meter = _Meter()
        one_invoice()  # warm: imports, secrets, data keys
        triggers.events.publish_outbox()
        before = stored()
        meter.take()
        requests_made[0] = 0
        for _ in range(runs):
            one_invoice()
        triggers.events.publish_outbox()
        calls, wru, rru, invocations, events = meter.take()
        if meter.errors:
            raise RuntimeError(f"request units not computed for: {sorted(set(meter.errors))}")
        after = stored()
        measured = Measured(runs=runs)
        by_function: dict[str, dict[str, float]] = defaultdict(dict)
        for (function, op), n in sorted(calls.items()):
            by_function[function][op] = n / runs
            measured.calls[op] = measured.calls.get(op, 0) + n / runs
        measured.calls_by_function = dict(by_function)
        measured.wru, measured.rru = wru / runs, rru / runs
        measured.invocations = {fn: n / runs for fn, n in sorted(invocations.items())}
        measured.api_requests = requests_made[0] / runs
        measured.events = events / runs
        measured.stored_bytes = {t: (after[t] - before[t]) / runs for t in after if after[t] != before[t]}

        triggers.poll()  # warm
        meter.take()
        meter.rru_by_op.clear()
        polls = 3
        for _ in range(polls):
            triggers.poll()
        poll_calls, _, _, _, _ = meter.take()
        measured.poll_rru_by_op = {op: n / polls for op, n in meter.rru_by_op.items() if n}
        seen = measured.poll_rru_by_op.pop("dynamodb:BatchGetItem", 0.0)
        measured.poll_rru_per_payment = seen / (runs + 1)  # every payment of the run is in the first lookback
        measured.poll_rru = sum(measured.poll_rru_by_op.values())
        measured.poll_calls = {op: n / polls for (_fn, op), n in sorted(poll_calls.items())}
        return measured
    finally:
        splash.shutdown()
        moto.stop()
        os.environ.clear()
        os.environ.update(saved)


# -- the section -------------------------------------------------------------------------------------------------


def _usd(value: float) -> str:
    if value == 0:
        return "$0"
    if value < 0.01:
        return f"${value:.4f}"
    return f"${value:,.2f}"


def _qty(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.4g}"


def _price(price: Price) -> str:
    usd = f"{price.usd:.10f}".rstrip("0").rstrip(".")
    per = "" if price.per == 1 else f" per {price.per:,.0f}"
    return f"${usd}{per} {price.unit}"


def _table(lines: list[Line], total_label: str) -> list[str]:
    out = ["| item | quantity | unit price | cost |", "|---|---|---|---|"]
    for line in lines:
        out.append(f"| {line.item} | {_qty(line.quantity)} | {_price(line.price)} | {_usd(line.usd)} |")
    out.append(f"| **{total_label}** | | | **{_usd(total(lines))}** |")
    return out


def render(
    resources: Resources, measured: Measured, prices: Mapping[str, Price] = PRICES, a: Assumptions | None = None
) -> str:
    a = a or Assumptions()
    fixed = fixed_costs(resources, measured, prices, a)
    per_k = per_thousand_invoices(resources, measured, prices, a)
    calls = ", ".join(f"{op} {n:g}" for op, n in sorted(measured.calls.items()))
    stored = ", ".join(f"{t.removesuffix('_TABLE').lower()} {b:,.0f}" for t, b in sorted(measured.stored_bytes.items()))
    durations = ", ".join(f"{fn} {ms:g}" for fn, ms in sorted(a.duration_ms.items()))
    sources = sorted({p.source for p in prices.values()})
    memory = statistics.median(resources.memory_mb.values()) if resources.memory_mb else 0
    return "\n".join(
        [
            "## What it costs (us-east-1, list prices)",
            "",
            "From `python -m tests.bench.cost`: the calls measured here per invoice (create, issue, one card payment, "
            f"its events published; {measured.runs} invoices after a warm-up), the resources of the synthesized "
            f"template, and AWS's list prices as published on {PRICES_TAKEN} (no free tier). Fixed costs bill with no "
            "traffic; the per-1,000 figure adds to them. Storage lines are per month the data is kept (they add up "
            "month after month).",
            "",
            "Monthly fixed costs:",
            "",
            *_table(fixed, "total per month"),
            "",
            "Per 1,000 invoices, each paid by one card payment:",
            "",
            *_table(per_k, "total per 1,000 invoices"),
            "",
            f"Measured per invoice: {calls}; DynamoDB {measured.wru:g} WRU and {measured.rru:g} RRU; "
            f"Lambda invocations {', '.join(f'{fn} {n:g}' for fn, n in measured.invocations.items())}; "
            f"{measured.api_requests:g} API requests; {measured.events:g} events; bytes stored per table: {stored}. "
            f"One status poll after them: {', '.join(f'{op} {n:g}' for op, n in measured.poll_calls.items())} "
            f"(RRU without the payments it saw: {', '.join(f'{op} {n:g}' for op, n in measured.poll_rru_by_op.items())}"
            f"; {measured.poll_rru_per_payment:g} RRU per payment seen, about {a.polls_seeing_each_payment:g} times).",
            "",
            f"Assumed: Lambda memory {memory:g} MB (the template), warm durations in ms {durations}, "
            f"{a.default_duration_ms:g} for the others, {a.cold_start_ratio:.0%} cold starts with {a.init_ms:g} ms "
            f"billed init; one authorizer run per request ({a.authorizer_per_request:g}: the 300 s cache rarely "
            f"hits at this volume); {a.alerts_per_payment:g} Splash alert per payment (webhook: "
            f"{', '.join(f'{k} {v:g}' for k, v in a.webhook_calls.items())}; alert processor: "
            f"{', '.join(f'{k} {v:g}' for k, v in a.alert_calls.items())}, from the status-sync section); log bytes "
            f"{a.lambda_log_bytes} per invocation, {a.access_log_bytes} per access line, {a.waf_log_bytes} per WAF "
            f"line; {a.sqs_pollers_per_queue} SQS long pollers per event source; the services' KMS requests at "
            f"{a.service_kms_requests_per_hour:g} an hour per table, queue and log group; UpdateItem, DeleteItem "
            "and ConditionCheck as one 1 KB item. Not counted: data transfer out (responses are small), CloudWatch "
            "log storage (one year: $0.03 per GB-month), Powertools' custom metrics ($0.30 per metric-month once "
            "emitted), SNS e-mail to the on-call.",
            "",
            "Prices: " + ", ".join(sources) + ".",
            "",
        ]
    )


def cost_section(
    measured: Measured | None = None,
    resources: Resources | None = None,
    prices: Mapping[str, Price] = PRICES,
    assumptions: Assumptions | None = None,
) -> str:
    """The BENCHMARKS.md section; measures and synthesizes what it is not given."""
    measured = measured or measure(int(os.environ.get("BENCH_COST_N", "20")))
    resources = resources or template_resources(synth_template())
    return render(resources, measured, prices, assumptions)


def main() -> int:
    print(cost_section())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
