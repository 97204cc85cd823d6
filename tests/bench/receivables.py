"""Accounts-receivable aging figures for `make bench` (issue #7): one GET /reports/receivables over N owed invoices
(BENCH_RECEIVABLES_N, default 100,000) of ~N/20 patients, through the local API front (authorizer included), with
the wall time, the AWS calls it made (Query pages of the `receivables` index; target: no Scan) and the report's own
peak memory. Runs inside tests.bench.money's stack, or alone: `python -m tests.bench.receivables`.

The invoices are seeded straight into DynamoDB with BatchWriteItem, each item built by InvoiceStore.item (so it
carries the index keys exactly as the API would write them); the seeding is timed but is not what is measured. Due
dates spread from about 11 months before the report date to a month after it, so every bucket fills."""

from __future__ import annotations

import json
import os
import random
import resource
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

RECEIVABLES_N = int(os.environ.get("BENCH_RECEIVABLES_N", "100000"))
PRACTICE = "prc_bench_ar"
AS_OF = date(2026, 6, 30)
INVOICES_PER_PATIENT = 20


def seed(env: dict[str, str], practice: str, count: int, as_of: date = AS_OF) -> dict[str, Any]:
    """`count` owed invoices of practice, written 25 per BatchWriteItem; returns how long it took."""
    import boto3

    from practicepay.adapters.vault import PhiVault
    from practicepay.ids import new_id
    from practicepay.invoices.models import InvoiceRecord
    from practicepay.invoices.service import LINE_ITEMS_PURPOSE
    from practicepay.invoices.store import InvoiceStore

    rng = random.Random(7)  # noqa: S311 (figures, not secrets)
    patients = [new_id("pat") for _ in range(max(1, count // INVOICES_PER_PATIENT))]
    # One sealed blob for every invoice: the report never opens it, and 100,000 seals are not what is measured.
    sealed = PhiVault(env["DATA_KEY_ARN"]).seal(
        [{"description": "Office visit", "quantity": 1, "unit_amount": 10_000, "amount": 10_000}],
        practice_id=practice,
        purpose=LINE_ITEMS_PURPOSE,
    )
    day_ms = 86_400_000
    end_ms = int(datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC).timestamp() * 1000)
    started = time.perf_counter()
    table = boto3.resource("dynamodb").Table(env["INVOICES_TABLE"])
    with table.batch_writer() as batch:
        for n in range(count):
            created_ms = end_ms - rng.randrange(0, 330 * day_ms)
            created = datetime.fromtimestamp(created_ms / 1000, UTC)
            total = rng.randrange(2_000, 50_001)
            kind = rng.random()
            status, paid, processing, plan = "open", 0, 0, None
            if kind < 0.25:
                status, paid = "partially_paid", total // 3
            elif kind < 0.35:
                status, paid, plan = "in_progress", total // 4, new_id("pln")
            elif kind < 0.40:
                status, paid, processing = "processing", total // 2, total // 2
            stamp = created.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            record = InvoiceRecord(
                practice_id=practice,
                id=new_id("inv", created_ms),
                patient_id=patients[n % len(patients)],
                status=status,
                currency="usd",
                due_date=(created.date() + timedelta(days=30)).isoformat(),
                line_items_sealed=sealed,
                line_item_count=1,
                subtotal=total,
                total=total,
                amount_paid=paid,
                amount_processing=processing,
                created_at=stamp,
                updated_at=stamp,
                plan_id=plan,
            )
            batch.put_item(Item=InvoiceStore.item(record))
    return {"invoices": count, "patients": len(patients), "seed_s": time.perf_counter() - started}


def _replay(practice: str, pages: list[dict[str, Any]], as_of: date) -> dict[str, float]:
    """The report's own work over the recorded index pages, replayed without the moto server that shares this
    process: its time (aging, models, the JSON body; the pages already parsed) and its peak Python memory (a
    Lambda holds one page more)."""
    from practicepay.reports.service import ReportService

    class Replay:
        def __init__(self) -> None:
            self.pages = iter(pages)

        def query(self, **_: Any) -> dict[str, Any]:
            return next(self.pages)

    def run() -> str:
        service = ReportService(
            resource=None, client=Replay(), payments_table="-", patients_table="-", invoices_table="-"
        )
        return json.dumps(service.receivables(practice, as_of).model_dump(mode="json", by_alias=True))

    started = time.perf_counter()
    run()
    replay_s = time.perf_counter() - started
    tracemalloc.start()
    run()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"replay_s": replay_s, "report_peak_mb": peak / 2**20}


def _aws_pages(pages: list[dict[str, Any]]) -> int:
    """How many 1 MB pages DynamoDB would need for these index items (its item-size rule: attribute names plus
    values, a number about one byte per two digits). moto sizes its pages by the whole table item instead, so
    the local stack reads more, smaller pages than AWS would."""
    size = 0
    for page in pages:
        for item in page.get("Items", []):
            for name, value in item.items():
                text = value.get("S") or value.get("N") or ""
                size += len(name.encode()) + (len(text.encode()) if "S" in value else len(text) // 2 + 1)
    return max(1, -(-size // 1_000_000))


def measure_receivables(
    *, env: dict[str, str], take_calls: Callable[[], dict[str, int]], client: Any, token: Callable[[str], str]
) -> dict[str, Any]:
    """Seed, then one GET /reports/receivables through the front (after a warm-up call on an empty practice, which
    pays the handler's import and the authorizer's secret)."""
    from practicepay.reports.wiring import report_service

    seeded = seed(env, PRACTICE, RECEIVABLES_N)
    query = {"as_of": AS_OF.isoformat()}

    def get(practice: str) -> Any:
        headers = {"Authorization": f"Bearer {token(practice)}"}
        resp = client.open("/reports/receivables", method="GET", headers=headers, query_string=query)
        assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
        return resp

    get(f"{PRACTICE}_warm")
    service = report_service()
    real_client, pages = service.client, []

    class Recording:
        def query(self, **kwargs: Any) -> dict[str, Any]:
            out = real_client.query(**kwargs)
            pages.append(out)
            return out

    take_calls()
    service.client = Recording()
    try:
        started = time.perf_counter()
        resp = get(PRACTICE)
        wall_s = time.perf_counter() - started
        calls = take_calls()
    finally:
        service.client = real_client
    report = resp.get_json()
    assert report["totals"]["invoices"] == RECEIVABLES_N, report["totals"]
    assert len(report["patients"]) == seeded["patients"]
    return {
        **seeded,
        "wall_s": wall_s,
        "calls": dict(sorted(calls.items())),
        "pages": calls.get("dynamodb:Query", 0),
        "largest_page": max(len(p.get("Items", [])) for p in pages),
        "aws_pages": _aws_pages(pages),
        "json_bytes": len(resp.get_data()),
        **_replay(PRACTICE, pages, AS_OF),
        "process_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "scans": sum(v for k, v in calls.items() if k.endswith(":Scan")),
        "total_cents": report["totals"]["total"],
    }


def render(figures: dict[str, Any]) -> list[str]:
    f = figures
    calls = ", ".join(f"{k} {v}" for k, v in f["calls"].items())
    return [
        "## Accounts-receivable aging (issue #7)",
        "",
        f"One GET /reports/receivables over {f['invoices']:,} owed invoices of {f['patients']:,} patients "
        f"(BENCH_RECEIVABLES_N), through the local API front (authorizer included), after a warm-up call: every "
        "page of the sparse `receivables` index, aged in the function. The embedded AWS pages a sorted index partition "
        "with 1 MB of projected items as AWS does (local/aws.py); the wall time is mostly moto copying and "
        "serializing items over HTTP, not an AWS latency.",
        "",
        "| invoices | patients | wall s | AWS calls | items per page (largest) | pages in AWS (estimate) | "
        "report's own time, s | report's own peak memory | JSON bytes | Scan calls |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| {f['invoices']:,} | {f['patients']:,} | {f['wall_s']:.1f} | {calls} | {f['largest_page']:,} | "
        f"{f['aws_pages']} | {f['replay_s']:.2f} | {f['report_peak_mb']:.1f} MB | {f['json_bytes']:,} | "
        f"{f['scans']} |",
        "",
        f"Seeding (BatchWriteItem, 25 per call; not measured above): {f['seed_s']:.0f} s. Pages in AWS: the index "
        "items' DynamoDB size over 1 MB. The report's own time and peak memory: the recorded pages replayed through "
        "the service without moto (aging, models, JSON; pages already parsed; peak with tracemalloc, a Lambda holds "
        f"one page more). Peak RSS of the whole process (moto and every item included): {f['process_rss_mb']:.0f} MB.",
        "",
    ]


def main() -> int:
    """The receivables bench alone, on its own local stack; prints its section of BENCHMARKS.md."""
    import logging
    import warnings

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    warnings.filterwarnings("ignore", message="No application metrics")
    from local.aws import EmbeddedAws
    from local.run import local_environment

    moto = EmbeddedAws().start()
    os.environ.update(local_environment(moto.port))
    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    from werkzeug.test import Client

    from local.bootstrap import create_resources
    from local.front import LocalApiGateway
    from practicepay.auth.tokens import issue_hs256
    from tests.bench.money import SECRET, Counter

    env = create_resources(SECRET, splash_host="http://127.0.0.1:9")  # no Splash call is made
    os.environ.update(env)
    counter = Counter()
    figures = measure_receivables(
        env=env,
        take_calls=counter.take,
        client=Client(LocalApiGateway()),
        token=lambda practice: issue_hs256(SECRET, practice),
    )
    moto.stop()
    print("\n".join(render(figures)))
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
