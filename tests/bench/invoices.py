"""`make bench`: figures for the invoice slice on this machine, through the local front (authorizer + handler,
DynamoDB and KMS on the moto server over HTTP). Not a test: numbers to quote and compare, not thresholds.

Prints latency percentiles per operation, AWS calls per request (by service and operation), KMS calls per
invoice, cold-import time of each handler and peak memory. Latencies include the moto server's own time,
which dominates list queries (about 2.5 ms per item server-side); they are not AWS latencies."""

from __future__ import annotations

import argparse
import collections
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BODY = {
    "patient_id": "pat_bench",
    "due_date": "2026-12-31",
    "line_items": [
        {"description": "Office visit, established patient", "cpt_code": "99213", "unit_amount": 12500},
        {"description": "Comprehensive metabolic panel", "cpt_code": "80053", "unit_amount": 1450},
        {"description": "Venipuncture", "cpt_code": "36415", "unit_amount": 900},
    ],
}


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _summary(name: str, ms: list[float]) -> dict:
    return {
        "op": name,
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": round(_pct(ms, 95), 2),
        "max_ms": round(max(ms), 2),
    }


def cold_import_ms(function: str) -> float:
    code = (
        "import time, importlib.util as u; t=time.perf_counter(); "
        f"s=u.spec_from_file_location('h', r'{ROOT / 'functions' / function / 'handler.py'}'); "
        "m=u.module_from_spec(s); s.loader.exec_module(m); print((time.perf_counter()-t)*1000)"
    )
    env = {**os.environ, "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, cwd=ROOT)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=200, help="invoices to create (default 200)")
    args = parser.parse_args()

    from moto.server import ThreadedMotoServer

    from local.run import local_environment

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    _, port = moto.get_host_and_port()
    os.environ.update(local_environment(port))

    import botocore.client
    from werkzeug.test import Client

    from local.bootstrap import create_resources
    from local.front import LocalApiGateway
    from practicepay.auth.tokens import issue_hs256

    secret = "bench-secret-0123456789abcdef0123456789abcdef"
    os.environ.update(create_resources(secret))
    client = Client(LocalApiGateway())
    auth = {"Authorization": f"Bearer {issue_hs256(secret, 'prc_bench')}"}

    calls: collections.Counter[str] = collections.Counter()
    original = botocore.client.BaseClient._make_api_call

    def counting(self, operation, params):
        calls[f"{self.meta.service_model.service_name}:{operation}"] += 1
        return original(self, operation, params)

    botocore.client.BaseClient._make_api_call = counting

    def timed(fn) -> tuple[float, object]:
        start = time.perf_counter()
        result = fn()
        return (time.perf_counter() - start) * 1000, result

    # Warm-up: first request pays the handler imports, the secret fetch and the first data key.
    client.post("/invoices", json=BODY, headers={**auth, "Idempotency-Key": str(uuid.uuid4())})
    calls.clear()

    create_ms, ids = [], []
    for _ in range(args.n):
        ms, resp = timed(
            lambda: client.post("/invoices", json=BODY, headers={**auth, "Idempotency-Key": str(uuid.uuid4())})
        )
        assert resp.status_code == 201, resp.get_data(as_text=True)
        create_ms.append(ms)
        ids.append(resp.get_json()["id"])
    create_calls = dict(calls)
    calls.clear()

    get_ms = []
    for invoice_id in ids:
        ms, resp = timed(lambda i=invoice_id: client.get(f"/invoices/{i}", headers=auth))
        assert resp.status_code == 200
        get_ms.append(ms)
    get_calls = dict(calls)
    calls.clear()

    list_ms, cursor = [], None
    while True:
        query = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        ms, resp = timed(lambda q=query: client.get("/invoices", headers=auth, query_string=q))
        list_ms.append(ms)
        page = resp.get_json()
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    list_calls = dict(calls)

    report = {
        "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}",
        "latency": [_summary("POST /invoices", create_ms), _summary("GET /invoices/{id}", get_ms)]
        + [_summary("GET /invoices?limit=100 (page)", list_ms)],
        "aws_calls_per_create": {k: round(v / args.n, 2) for k, v in sorted(create_calls.items())},
        "aws_calls_per_get": {k: round(v / args.n, 2) for k, v in sorted(get_calls.items())},
        "aws_calls_per_list_page": {k: round(v / len(list_ms), 2) for k, v in sorted(list_calls.items())},
        "kms_calls_total": {
            "create": sum(v for k, v in create_calls.items() if k.startswith("kms:")),
            "get": sum(v for k, v in get_calls.items() if k.startswith("kms:")),
            "list": sum(v for k, v in list_calls.items() if k.startswith("kms:")),
        },
        "cold_import_ms": {f: round(cold_import_ms(f), 1) for f in ("authorizer", "invoices")},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    botocore.client.BaseClient._make_api_call = original
    moto.stop()
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
