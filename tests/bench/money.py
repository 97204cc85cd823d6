"""`make bench`: the money core's costs on this machine, written to BENCHMARKS.md. A benchmark, not a test:
figures to quote and compare, with the targets of issue #4 marked met or missed.

Runs the real handlers through the local API front (authorizer included), DynamoDB/KMS/SQS on the moto server
over HTTP and the Splash sandbox over HTTP. AWS calls are counted per service and operation at the botocore
client (every client, including the Encryption SDK's own KMS client); Splash calls from the sandbox's request
log. Wall times include moto's and the sandbox's own time on the same 2 cores: they are not AWS latencies."""

from __future__ import annotations

import collections
import json
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "BENCHMARKS.md"
SECRET = "bench-secret-0123456789abcdef0123456789abcdef"
CONSENT = {
    "text_version": "2026-01",
    "accepted_at": "2026-11-26T10:00:00Z",
    "captured_by": "bench",
    "channel": "in_person",
}
N = int(os.environ.get("BENCH_N", "40"))


def import_times() -> dict[str, float]:
    """Each handler's import, `import boto3` and the stack's floor, side by side (tests/bench/imports.py)."""
    from tests.bench.imports import import_times as measured

    return measured()


class Counter:
    def __init__(self) -> None:
        import botocore.client

        self.calls: collections.Counter[str] = collections.Counter()
        original = botocore.client.BaseClient._make_api_call
        counter = self

        def counting(client, operation, params):
            counter.calls[f"{client.meta.service_model.service_name}:{operation}"] += 1
            return original(client, operation, params)

        botocore.client.BaseClient._make_api_call = counting

    def take(self) -> dict[str, int]:
        out = dict(self.calls)
        self.calls.clear()
        return out


def main() -> int:
    only = os.environ.get("BENCH_ONLY", "")
    if only == "throughput":  # the concurrent-clients section alone (tests/bench/throughput.py), printed
        from tests.bench.throughput import main as throughput_only

        return throughput_only()
    if only == "chaos":  # the chaos section alone (tests/chaos/harness.py), printed; BENCHMARKS.md is left alone
        from tests.chaos.harness import bench_main as chaos_only

        return chaos_only()
    if only == "edge":  # the strict JSON reader alone (tests/bench/edge.py), printed
        from tests.bench.edge import main as edge_only

        return edge_only()
    if only == "imports":  # cold imports, bytecode and layer size alone (tests/bench/imports.py), printed
        from tests.bench.imports import main as imports_only

        return imports_only()
    if only == "paypage":  # the pay page's screens alone, in a stack of its own (tests/bench/paypage.py), printed
        from tests.bench.paypage import main as paypage_only

        return paypage_only()
    if only == "messages":  # patient messages alone, in a stack of its own (tests/bench/messages.py), printed
        from tests.bench.messages import main as messages_only

        return messages_only()
    if only == "dashboard":  # the staff dashboard's screens alone, in a stack of its own (tests/bench/dashboard.py)
        from tests.bench.dashboard import main as dashboard_only

        return dashboard_only()
    if only == "cost":  # what the stack costs, from measured call counts and list prices (tests/bench/cost.py)
        from tests.bench.cost import cost_section

        print(cost_section())
        return 0
    if only:
        raise SystemExit(
            f"error: BENCH_ONLY={only!r}: one of throughput, chaos, edge, imports, paypage, messages, dashboard, "
            "cost (or unset for every section)"
        )
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    import warnings

    warnings.filterwarnings("ignore", message="No application metrics")
    from local.aws import EmbeddedAws
    from local.run import local_environment

    moto = EmbeddedAws().start()
    os.environ.update(local_environment(moto.port))
    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"

    from werkzeug.serving import make_server
    from werkzeug.test import Client

    from infra.definitions import PRACTICES_TABLE
    from local.bootstrap import create_resources
    from local.front import LocalApiGateway
    from local.sandbox.server import SandboxSettings, SplashSandbox
    from local.seed import seed_practice
    from practicepay.adapters.vault import PhiVault
    from practicepay.auth.tokens import issue_hs256
    from practicepay.practices import PracticeStore
    from practicepay.splash.wiring import splash_client
    from tests.helpers import free_port

    sandbox = SplashSandbox(SandboxSettings())
    splash = sandbox.serve("127.0.0.1", free_port())
    env = create_resources(SECRET, splash_host=f"http://127.0.0.1:{splash.port}")
    os.environ.update(env)
    seed_practice(
        "prc_bench", "Bench Family Practice", splash_client(), sandbox, PracticeStore(env[PRACTICES_TABLE.env_var])
    )
    front = LocalApiGateway()
    client = Client(front)
    headers = {"Authorization": f"Bearer {issue_hs256(SECRET, 'prc_bench')}", "Content-Type": "application/json"}

    def call(method: str, path: str, body: dict | None = None) -> dict:
        h = {**headers, "Idempotency-Key": str(uuid.uuid4())} if method == "POST" else headers
        resp = client.open(path, method=method, headers=h, data=json.dumps(body) if body is not None else None)
        assert resp.status_code < 300, resp.get_data(as_text=True)
        return resp.get_json()

    patient = call("POST", "/patients", {"external_id": "ehr-bench", "first_name": "Bench", "last_name": "Patient"})[
        "id"
    ]
    card = call(
        "POST",
        f"/patients/{patient}/payment-methods",
        {"card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030}, "consent": CONSENT},
    )["id"]
    bank = call(
        "POST",
        f"/patients/{patient}/payment-methods",
        {"bank_account": {"routing_number": "021000021", "account_number": "123456789"}, "consent": CONSENT},
    )["id"]

    def invoice(amount: int = 10000) -> str:
        inv = call(
            "POST",
            "/invoices",
            {
                "patient_id": patient,
                "due_date": "2026-12-31",
                "line_items": [{"description": "Office visit", "unit_amount": amount}],
            },
        )
        call("POST", f"/invoices/{inv['id']}/issue")
        return inv["id"]

    counter = Counter()
    rows = []

    def measure(name: str, prepare, run) -> None:
        inputs = [prepare() for _ in range(N + 1)]
        run(inputs.pop())  # warm: the first call pays imports, secrets and data keys
        counter.take()
        splash_before = len(sandbox.requests)
        times = []
        for item in inputs:
            started = time.perf_counter()
            run(item)
            times.append((time.perf_counter() - started) * 1000)
        calls = counter.take()
        rows.append(
            {
                "operation": name,
                "aws": {k: round(v / N, 2) for k, v in sorted(calls.items())},
                "splash": round((len(sandbox.requests) - splash_before) / N, 2),
                "p50": statistics.median(times),
                "p95": sorted(times)[int(0.95 * (len(times) - 1))],
            }
        )

    measure(
        "create invoice",
        lambda: None,
        lambda _: call(
            "POST",
            "/invoices",
            {
                "patient_id": patient,
                "due_date": "2026-12-31",
                "line_items": [{"description": "Office visit", "cpt_code": "99213", "unit_amount": 12500}],
            },
        ),
    )
    measure("card payment", invoice, lambda inv: call("POST", f"/invoices/{inv}/payments", {"payment_method_id": card}))
    measure(
        "eCheck payment", invoice, lambda inv: call("POST", f"/invoices/{inv}/payments", {"payment_method_id": bank})
    )

    def paid_card() -> str:
        return call("POST", f"/invoices/{invoice()}/payments", {"payment_method_id": card})["id"]

    measure(
        "refund (void, unsettled card)",
        paid_card,
        lambda pay: call("POST", f"/payments/{pay}/refunds", {"amount": 1000}),
    )

    # Status sync: alerts and polls (tests/bench/sync.py).
    from practicepay.patients.service import METHOD_TOKEN
    from practicepay.patients.store import PatientStore
    from tests.bench.sync import measure_sync

    r01 = call(
        "POST",
        f"/patients/{patient}/payment-methods",
        {"bank_account": {"routing_number": "021000021", "account_number": "9990000001"}, "consent": CONSENT},
    )["id"]
    method = PatientStore(env["PATIENTS_TABLE"]).get_method("prc_bench", patient, card)
    card_token = PhiVault(env["DATA_KEY_ARN"]).open(method.token_sealed, practice_id="prc_bench", purpose=METHOD_TOKEN)
    sync_figures = measure_sync(
        sandbox=sandbox,
        take_calls=counter.take,
        pay=lambda m: call("POST", f"/invoices/{invoice()}/payments", {"payment_method_id": m}),
        bank_methods={"clean": bank, "r01": r01},
        card_token=card_token,
        merchant=PracticeStore(env[PRACTICES_TABLE.env_var]).require("prc_bench").splash_merchant_id,
        runs=min(N, 20),
    )

    # Recurring billing: one daily run over many due installments, then the charge worker (tests/bench/billing.py).
    from tests.bench.billing import measure_billing

    billing_figures = measure_billing(
        env=env, practice="prc_bench", patient=patient, card=card, take_calls=counter.take, sandbox=sandbox
    )

    # Accounts-receivable aging over many owed invoices, through the front (tests/bench/receivables.py).
    from tests.bench.receivables import measure_receivables

    receivables_figures = measure_receivables(
        env=env, take_calls=counter.take, client=client, token=lambda practice: issue_hs256(SECRET, practice)
    )

    # The pay page, one patient's visit screen by screen, and the bill's render (tests/bench/paypage.py).
    from tests.bench.paypage import measure_paypage

    paypage_figures = measure_paypage(
        env=env, front=front, sandbox=sandbox, token=lambda practice: issue_hs256(SECRET, practice)
    )

    # KMS calls per 1,000 PHI operations in a warm container (the vault as the functions use it).
    vault = PhiVault(env["DATA_KEY_ARN"])
    blob = vault.seal({"first_name": "Warm"}, practice_id="prc_bench", purpose="bench")
    vault.open(blob, practice_id="prc_bench", purpose="bench")
    counter.take()
    for n in range(500):
        blob = vault.seal({"first_name": f"Patient {n}"}, practice_id="prc_bench", purpose="bench")
        vault.open(blob, practice_id="prc_bench", purpose="bench")
    kms_per_1000 = sum(v for k, v in counter.take().items() if k.startswith("kms:"))

    # Paid invoices per second, end to end over real HTTP to the local front (one client, sequential).
    import requests

    server = make_server("127.0.0.1", free_port(), front, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    http = requests.Session()

    def post(path: str, body: dict) -> dict:
        resp = http.post(base + path, json=body, headers={**headers, "Idempotency-Key": str(uuid.uuid4())}, timeout=30)
        assert resp.status_code < 300, resp.text
        return resp.json()

    started, paid = time.perf_counter(), 0
    while time.perf_counter() - started < 10:
        inv = post(
            "/invoices",
            {
                "patient_id": patient,
                "due_date": "2026-12-31",
                "line_items": [{"description": "Office visit", "unit_amount": 9900}],
            },
        )
        post(f"/invoices/{inv['id']}/issue", {})
        post(f"/invoices/{inv['id']}/payments", {"payment_method_id": card})
        paid += 1
    per_second = paid / (time.perf_counter() - started)
    server.shutdown()
    import boto3

    paid_item = boto3.client("dynamodb").get_item(
        TableName=env["INVOICES_TABLE"], Key={"pk": {"S": "PRACTICE#prc_bench"}, "sk": {"S": f"INVOICE#{inv['id']}"}}
    )["Item"]
    invoice_bytes = item_size(paid_item)

    # Paid invoices per second with 1 and 4 concurrent clients, the front in worker mode (tests/bench/throughput.py).
    from tests.bench.throughput import measure_throughput

    throughput_figures = measure_throughput(headers=headers)

    splash.shutdown()
    moto.stop()
    # Cold starts: handler imports against the floor, bytecode, layer size (tests/bench/imports.py), machine quiet.
    from tests.bench.imports import measure as measure_imports

    cold = measure_imports()
    imports = cold["imports"]

    # A seeded chaos run in worker mode, in a process of its own (tests/chaos/harness.py).
    from tests.chaos.harness import measure_bench as measure_chaos

    chaos_figures = measure_chaos()
    from tests.bench.edge import measure as measure_edge

    edge_figures = measure_edge()
    # What it costs, in a process of its own: it measures a flow with its own embedded AWS and sandbox, which this
    # process's cached clients (Powertools parameters, the wiring) would still address at the stopped ones.
    cost = subprocess.run(
        [sys.executable, "-m", "tests.bench.cost"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    cost = cost[cost.index("## What it costs") :]
    # Patient messages, in a process of its own too (a stack of its own, tests/bench/messages.py).
    messages = subprocess.run(
        [sys.executable, "-m", "tests.bench.messages"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    messages = messages[messages.index("## Patient messages") :]
    # The staff dashboard, in a process of its own too (a stack of its own, tests/bench/dashboard.py).
    dashboard = subprocess.run(
        [sys.executable, "-m", "tests.bench.dashboard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    dashboard = dashboard[dashboard.index("## The staff dashboard") :]
    report = render(
        rows,
        kms_per_1000,
        imports,
        per_second,
        sync_figures,
        billing_figures,
        receivables_figures,
        paypage_figures,
        throughput_figures,
        chaos_figures,
        edge_figures,
        invoice_bytes,
        cold,
    )
    report = f"{report.rstrip()}\n\n{messages.strip()}\n\n{dashboard.strip()}\n\n{cost.strip()}\n"
    OUT.write_text(report)
    print(report)
    return 0


def item_size(item: dict[str, dict[str, Any]]) -> int:
    """A low-level item's size as DynamoDB bills it: attribute names plus values (a string's UTF-8 bytes, a binary's
    bytes, a number about one byte per two digits), maps and lists by their members."""

    def value_size(value: dict[str, Any]) -> int:
        ((kind, raw),) = value.items()
        if kind == "S":
            return len(raw.encode())
        if kind == "B":
            return len(raw)
        if kind == "N":
            return len(raw) // 2 + 1
        if kind == "M":
            return 3 + sum(len(k.encode()) + value_size(v) for k, v in raw.items())
        if kind == "L":
            return 3 + sum(1 + value_size(v) for v in raw)
        return 1

    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def render(
    rows: list[dict],
    kms_per_1000: int,
    imports: dict[str, float],
    per_second: float,
    sync_figures: dict,
    billing_figures: dict,
    receivables_figures: dict,
    paypage_figures: dict,
    throughput_figures: dict,
    chaos_figures: dict,
    edge_figures: dict,
    invoice_bytes: int,
    cold: dict[str, Any],
) -> str:
    from tests.bench.billing import render as render_billing
    from tests.bench.edge import render as render_edge
    from tests.bench.imports import TARGET
    from tests.bench.imports import render as render_cold
    from tests.bench.paypage import render as render_paypage
    from tests.bench.receivables import render as render_receivables
    from tests.bench.sync import render as render_sync
    from tests.bench.throughput import render as render_throughput
    from tests.chaos.harness import render_bench as render_chaos

    card = next(r for r in rows if r["operation"] == "card payment")
    ddb = sum(v for k, v in card["aws"].items() if k.startswith("dynamodb:"))
    created = next(r for r in rows if r["operation"] == "create invoice")
    ddb_create = sum(v for k, v in created["aws"].items() if k.startswith("dynamodb:"))
    sizes = " ".join(f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("BENCH_"))
    floor = imports["floor"]
    worst = max(v for k, v in imports.items() if k not in ("import boto3", "floor")) / floor
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {N} runs per operation after one warm-up, "
        f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB.",
        "Wall times include the moto server and the Splash sandbox on the same machine; calls are per operation.",
        f"Command: `{sizes + ' ' if sizes else ''}make bench` (sizes by those variables; each section's defaults are "
        "in tests/bench).",
        "",
        "| operation | AWS calls (by service:operation) | Splash calls | p50 ms | p95 ms |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        aws = ", ".join(f"{k} {v:g}" for k, v in r["aws"].items())
        lines.append(f"| {r['operation']} | {aws} | {r['splash']:g} | {r['p50']:.1f} | {r['p95']:.1f} |")
    lines += [
        "",
        "| measure | figure | target | met |",
        "|---|---|---|---|",
        f"| Splash calls per card payment | {card['splash']:g} | exactly 1 | {_met(card['splash'] == 1)} |",
        f"| DynamoDB calls per card payment | {ddb:g} | at most 3 (5 before #13) | {_met(ddb <= 3)} |",
        f"| invoice item, paid by card (DynamoDB's size: names and values) | {invoice_bytes:,} bytes | under 1,024 "
        f"(1.2 KB before #13: two write units per write) | {_met(invoice_bytes < 1024)} |",
        f"| DynamoDB calls per create invoice | {ddb_create:g} | at most 3 (4 before #13) | {_met(ddb_create <= 3)} |",
        f"| KMS calls per 1,000 PHI operations, warm | {kms_per_1000} | at most 1 | {_met(kms_per_1000 <= 1)} |",
        f"| slowest handler import / the stack's floor (boto3 + pydantic + Powertools Logger, Metrics, validating "
        f"resolver; same run) | {worst:.2f}× | at most {TARGET}× (was 1.5× `import boto3`) | {_met(worst <= TARGET)} |",
        f"| paid invoices per second over the local HTTP front (create + issue + card payment) | {per_second:.1f} | "
        "— | — |",
        "",
        "Handler import times (median of 5 fresh processes, ms): "
        + ", ".join(f"{k} {v:.0f}" for k, v in imports.items())
        + ".",
        "",
        *render_sync(sync_figures),
        *render_billing(billing_figures),
        *render_receivables(receivables_figures),
        *render_paypage(paypage_figures),
        *render_throughput(throughput_figures),
        *render_chaos(chaos_figures),
        *render_edge(edge_figures),
        *render_cold(cold),
    ]
    return "\n".join(lines)


def _met(ok: bool) -> str:
    return "yes" if ok else "no"


if __name__ == "__main__":
    sys.exit(main())
