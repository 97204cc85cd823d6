"""Paid invoices per second with concurrent clients: the local front in worker mode (local.workers, as `make run`
serves it) over real HTTP, with 1 and with 4 clients. Each client creates an invoice, issues it and pays it by
card with a card on file (its own patient), again and again; a row is BENCH_THROUGHPUT_N paid invoices shared
between its clients, after a warm-up that starts the workers (cold starts are not measured). The clients run
in a process of their own (threads there), as real clients would: not on the server process's GIL.

Part of `make bench` (tests/bench/money.py); alone: `.venv/bin/python -m tests.bench.throughput` (or
`BENCH_ONLY=throughput .venv/bin/python -m tests.bench.money`), which starts its own moto server, sandbox and
practice and prints the section."""

from __future__ import annotations

import multiprocessing
import os
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any

N = int(os.environ.get("BENCH_THROUGHPUT_N", os.environ.get("BENCH_N", "40")))
CLIENTS = (1, 4)
TARGET_SPEEDUP = 1.5
"""Issue #4's "4 clients clearly faster than 1" (before worker mode: 2.9/s with 4 clients, 3.1/s with 1)."""
FUNCTIONS = ("authorizer", "invoices", "payments")
"""What one paid invoice invokes (the warm-up starts as many workers of each as there are clients)."""
CONSENT = {
    "text_version": "2026-01",
    "accepted_at": "2026-11-26T10:00:00Z",
    "captured_by": "bench",
    "channel": "in_person",
}


class _Client:
    def __init__(self, base: str, headers: dict[str, str]) -> None:
        import requests

        self.base = base
        self.headers = headers
        self.http = requests.Session()

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        headers = {**self.headers, "Idempotency-Key": str(uuid.uuid4())}
        resp = self.http.post(self.base + path, json=body, headers=headers, timeout=60)
        assert resp.status_code < 300, resp.text
        return resp.json()

    def card_holder(self, n: int) -> tuple[str, str]:
        patient = self.post(
            "/patients", {"external_id": f"ehr-throughput-{n}", "first_name": "Bench", "last_name": f"Client{n}"}
        )["id"]
        card = self.post(
            f"/patients/{patient}/payment-methods",
            {"card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030}, "consent": CONSENT},
        )["id"]
        return patient, card

    def paid_invoice(self, patient: str, card: str) -> None:
        invoice = self.post(
            "/invoices",
            {
                "patient_id": patient,
                "due_date": "2026-12-31",
                "line_items": [{"description": "Office visit", "unit_amount": 9900}],
            },
        )
        self.post(f"/invoices/{invoice['id']}/issue", {})
        payment = self.post(f"/invoices/{invoice['id']}/payments", {"payment_method_id": card})
        assert payment["status"] == "succeeded", payment


def measure_throughput(*, headers: dict[str, str], clients: Iterable[int] = CLIENTS, n: int = N) -> dict[str, Any]:
    """Serve a worker-mode LocalApiGateway over HTTP (the environment must be the stack's: moto, tables, a
    boarded practice that `headers` authorizes) and measure each client count; the figures for `render`."""
    from werkzeug.serving import make_server

    from local.front import LocalApiGateway
    from local.workers import WorkerPool, install, uninstall
    from tests.helpers import free_port

    clients = tuple(clients)
    pool = install(WorkerPool(max(clients)))
    server = make_server("127.0.0.1", free_port(), LocalApiGateway(), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    rows = []
    try:
        for fn in FUNCTIONS:
            pool.warm(fn, max(clients))
        setup = _Client(base, headers)
        holders = [setup.card_holder(i) for i in range(max(clients))]
        # The clients run in a process of their own, as real clients do: not on the server's GIL.
        with multiprocessing.get_context("spawn").Pool(1) as clients_process:
            for count in clients:
                rows.append(clients_process.apply(_measure, (base, headers, holders[:count], n)))
        stats = pool.stats()
    finally:
        server.shutdown()
        server.server_close()
        pool.shutdown()
        uninstall()
    return {
        "n": n,
        "cap": pool.cap,
        "rows": rows,
        "workers": {fn: stats.get(fn, {}).get("started", 0) for fn in FUNCTIONS},
    }


def _measure(base: str, headers: dict[str, str], holders: list[tuple[str, str]], n: int) -> dict[str, Any]:
    """One row: `n` paid invoices by len(holders) concurrent clients, after one each as a warm-up."""
    count = len(holders)
    _concurrently(count, lambda i: _Client(base, headers).paid_invoice(*holders[i]))
    shares = [n // count + (1 if i < n % count else 0) for i in range(count)]
    latencies: list[list[float]] = [[] for _ in holders]

    def client(i: int) -> None:
        http = _Client(base, headers)
        for _ in range(shares[i]):
            started = time.perf_counter()
            http.paid_invoice(*holders[i])
            latencies[i].append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    _concurrently(count, client)
    seconds = time.perf_counter() - started
    every = sorted(ms for each in latencies for ms in each)
    return {
        "clients": count,
        "paid": len(every),
        "seconds": seconds,
        "per_second": len(every) / seconds,
        "p50": statistics.median(every),
        "p95": every[int(0.95 * (len(every) - 1))],
    }


def _concurrently(count: int, work) -> None:
    failures: list[BaseException] = []

    def run(i: int) -> None:
        try:
            work(i)
        except BaseException as exc:  # noqa: BLE001 - re-raised below, on the caller's thread
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


def render(figures: dict[str, Any]) -> list[str]:
    rows = {r["clients"]: r for r in figures["rows"]}
    lines = [
        "## Throughput: concurrent clients (worker mode)",
        "",
        f"Paid invoices per second through the local front in worker mode (local.workers: one invocation per "
        f"worker process, up to {figures['cap']} workers per function, as `make run` serves it) over real HTTP. "
        "Each client creates an invoice, issues it and pays it by card on file, again and again; "
        f"{figures['n']} paid invoices per row, shared between the clients, after a warm-up. "
        "Workers started: " + ", ".join(f"{fn} {n}" for fn, n in figures["workers"].items()) + ".",
        "",
        "| clients | paid invoices | seconds | paid invoices per second | p50 ms per paid invoice | p95 ms |",
        "|---|---|---|---|---|---|",
    ]
    for r in figures["rows"]:
        lines.append(
            f"| {r['clients']} | {r['paid']} | {r['seconds']:.1f} | {r['per_second']:.1f} | {r['p50']:.0f} | "
            f"{r['p95']:.0f} |"
        )
    if 1 in rows and 4 in rows:
        speedup = rows[4]["per_second"] / rows[1]["per_second"]
        met = "yes" if speedup >= TARGET_SPEEDUP else "no"
        lines += [
            "",
            "| measure | figure | target | met |",
            "|---|---|---|---|",
            f"| paid invoices per second, 4 clients / 1 client | {speedup:.2f}× | clearly faster: at least "
            f"{TARGET_SPEEDUP:g}× (before worker mode: 2.9/s vs 3.1/s) | {met} |",
        ]
    return [*lines, ""]


def main() -> int:
    """This section alone: its own moto server, Splash sandbox and boarded practice."""
    from practicepay.auth.tokens import issue_hs256
    from tests.bench.money import SECRET
    from tests.standalone import board, standalone_stack

    with standalone_stack(SECRET) as stack:
        board(stack, "prc_bench", "Bench Family Practice")
        headers = {"Authorization": f"Bearer {issue_hs256(SECRET, 'prc_bench')}", "Content-Type": "application/json"}
        figures = measure_throughput(headers=headers)
    print("\n".join(render(figures)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
