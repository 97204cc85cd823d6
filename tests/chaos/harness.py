"""The chaos harness: `clients` threads run a seeded plan of money operations over HTTP against the local API
front (card payments in full or in part, eChecks, declines, refunds and voids, each POST with an
Idempotency-Key and sometimes retried with the same key after a 5xx, a timeout or no answer), while the plan
injects Splash sandbox faults (lost answers, 500s, 429s, timeouts before commit, alert drops, duplicates,
delays and reorders) and moves the sandbox clock, and background threads run the status poll and the queues
(alerts processor, reconciler) as the schedules and event source mappings would. Then the faults stop, the
system settles, and every invoice and payment the run touched is checked against its ledger and Splash.

Every decision (operation, amounts, invoice, retries, timeouts, faults, clock moves) comes from
`random.Random(seed)` before the run starts, so a seed names one plan; the threads' interleaving is the one
thing a rerun cannot repeat. `run()` is the entry point (`python -m tests.chaos` starts a stack of its own).

A stack of its own runs in worker mode by default (`--in-process` turns it off): as `make run` serves it, every
function invocation (API calls, the webhook, the alerts processor, the poll, the reconciler) runs in a worker
process of its function (local.workers), concurrently, so the races of the concurrent stack are what is
exercised; the report says `workers: true` and the most invocations each function ever had at once."""

from __future__ import annotations

import collections
import json
import logging
import os
import queue
import random
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import requests

CHAOS_SECRET = "chaos-harness-signing-secret-0123456789abcdef"
GRACE_ENV = "RECONCILE_GRACE_SECONDS"
GRACE_SECONDS = 5
"""The reconciler's grace in a chaos run: longer than the slowest Splash call (3 attempts at the short read
timeout plus backoff), so a payment still being sent is not failed as not submitted under its feet."""
SPLASH_READ_TIMEOUT = "0.8"
"""The Splash client's read timeout in a standalone run: lost answers of 0.2–1.5 s fall on both sides of it."""

PAY_KINDS = ("card_full", "card_partial", "echeck", "card_declined")
REFUND_KINDS = ("refund_full", "refund_partial")
KIND_WEIGHTS = {
    "card_full": 20,
    "card_partial": 22,
    "echeck": 16,
    "card_declined": 3,
    "refund_partial": 15,
    "refund_full": 10,
    "advance_clock": 4,
}
FAULT_WEIGHTS = {
    "timeout_after_commit": 5,
    "http_500": 2,
    "http_429": 1,
    "timeout_before_commit": 2,
    "http_500_get": 1,
    "alerts": 3,
}
ALERT_MODES = ("drop", "duplicate", "delay", "reorder")
DECLINED_AMOUNT = 50004  # the sandbox's "insufficient funds" card trigger
ACCOUNTS = {"clean": "123456789", "r01": "9990000001"}  # r01: returned NSF a day or two after settlement
CONSENT = {
    "text_version": "2026-01",
    "accepted_at": "2026-11-26T10:00:00Z",
    "captured_by": "chaos",
    "channel": "in_person",
}
SALE_TYPES = {1, 7, 11}  # card sale, eCheck sale, eCheck redeposit
FAILED, RETURNED = 2, 5
OPEN_STATUSES = {"pending", "unknown"}
RETRYABLE = ("timeout", "no_answer")


# -- the plan -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    index: int
    kind: str
    slot: int
    """Which invoice (a slot holds one open invoice at a time; a paid one is replaced by a new one)."""
    fraction: float
    """Partial amounts (of the balance, or of what a payment has left to refund) and which payment to refund."""
    pick: float
    bank: str
    key: str
    retries: int
    """How many times the client sends the same request (same Idempotency-Key) again after 5xx/timeout."""
    client_timeout: float
    fault: dict[str, Any] | None
    days: int = 0


def plan(
    seed: int, operations: int, clients: int, fault_rate: float, fault_kinds: tuple[str, ...] | None = None
) -> list[Op]:
    """The run's every decision, from `seed`. `fault_kinds` (names of FAULT_WEIGHTS) narrows the faults."""
    fault_weights = {k: w for k, w in FAULT_WEIGHTS.items() if fault_kinds is None or k in fault_kinds}
    rng = random.Random(seed)
    slots = max(2 * clients, operations // 5)
    kinds, weights = zip(*KIND_WEIGHTS.items(), strict=True)
    out = []
    for index in range(operations):
        kind = rng.choices(kinds, weights)[0]
        hot = rng.random() < 0.35  # a few invoices many clients pay and refund at once
        slot = rng.randrange(clients) if hot else rng.randrange(slots)
        out.append(
            Op(
                index=index,
                kind=kind,
                slot=slot,
                fraction=round(rng.uniform(0.1, 0.9), 3),
                pick=rng.random(),
                bank="r01" if rng.random() < 0.15 else "clean",
                key=f"chaos-{seed}-{index}",
                retries=rng.choices([0, 1, 2], [3, 5, 2])[0],
                client_timeout=rng.choices([1.5, 4.0, 20.0], [2, 2, 6])[0],
                fault=_fault(rng, fault_weights) if rng.random() < fault_rate and fault_weights else None,
                days=rng.choice([1, 1, 2]),
            )
        )
    return out


def _fault(rng: random.Random, weights: dict[str, int]) -> dict[str, Any]:
    kinds, weights = zip(*weights.items(), strict=True)
    kind = rng.choices(kinds, weights)[0]
    if kind == "alerts":
        return {"kind": "alerts", "mode": rng.choice(ALERT_MODES), "count": rng.randint(1, 3)}
    if kind == "http_500_get":  # the poll's and the reconciler's look-ups fail
        return {"kind": "http_500", "path": "/txns", "method": "GET", "count": rng.randint(1, 2)}
    spec = {"kind": kind, "path": "/txns", "method": "POST", "count": rng.randint(1, 3)}
    if kind.startswith("timeout"):
        spec["delay_seconds"] = round(rng.uniform(0.2, 1.5), 2)
    return spec


def fault_label(spec: dict[str, Any]) -> str:
    if spec["kind"] == "alerts":
        return f"alerts:{spec['mode']}"
    return f"{spec['kind']} {spec.get('method') or '*'} {spec.get('path') or '*'}"


# -- the report -----------------------------------------------------------------------------------------------


@dataclass
class Mismatch:
    check: str
    subject: str
    expected: Any
    found: Any
    note: str = ""

    def __str__(self) -> str:
        note = f"  [{self.note}]" if self.note else ""
        return f"{self.check}: {self.subject}: expected {self.expected}, found {self.found}{note}"


@dataclass
class Report:
    seed: int
    operations: int
    clients: int
    command: str
    practice: str = ""
    ran: int = 0
    duration_s: float = 0.0
    run_s: float = 0.0
    settle_s: float = 0.0
    settle_rounds: int = 0
    grace: dict[str, Any] = field(default_factory=dict)
    workers: bool = False
    """Worker mode: every function invocation ran in a worker process of its function (local.workers)."""
    worker_cap: int = 0
    warm_s: float = 0.0
    pool: dict[str, dict[str, int]] = field(default_factory=dict)
    """The worker pool's stats at the end (per function: workers, busy, max_busy, started)."""
    tried: collections.Counter = field(default_factory=collections.Counter)
    answers: collections.Counter = field(default_factory=collections.Counter)
    faults: collections.Counter = field(default_factory=collections.Counter)
    retries: int = 0
    skipped: collections.Counter = field(default_factory=collections.Counter)
    background: collections.Counter = field(default_factory=collections.Counter)
    background_errors: list[str] = field(default_factory=list)
    client_errors: list[str] = field(default_factory=list)
    shared_orders: int = 0
    """Orders (payment or refund ids) that more than one Splash txn of the merchant carries."""
    shared_order_examples: list[str] = field(default_factory=list)
    invoices: int = 0
    payments: int = 0
    refunds: int = 0
    deposits: int = 0
    """Splash disbursements of the practice, each checked line by line against its deposit and our ledger."""
    chargebacks: int = 0
    pending_deposit: int = 0
    """Payments with money at Splash not paid out yet when the run ended (not checked against deposits)."""
    mismatches: list[Mismatch] = field(default_factory=list)
    double_charges: list[Mismatch] = field(default_factory=list)
    lost_payments: list[Mismatch] = field(default_factory=list)
    left_open: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.mismatches or self.double_charges or self.lost_payments or self.left_open)

    def problems(self) -> list[Mismatch]:
        return [*self.double_charges, *self.lost_payments, *self.left_open, *self.mismatches]

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for name in ("tried", "answers", "faults", "skipped", "background"):  # asdict rebuilds a Counter from pairs
            out[name] = dict(getattr(self, name))
        for name in ("mismatches", "double_charges", "lost_payments", "left_open"):
            out[name] = [str(m) for m in getattr(self, name)]
        return out

    def render(self, first: int = 15) -> str:
        def counts(c: collections.Counter) -> str:
            return ", ".join(f"{k} {v}" for k, v in sorted(c.items())) or "none"

        lines = [
            f"chaos seed {self.seed}: {self.ran}/{self.operations} operations by {self.clients} clients in "
            f"{self.run_s:.1f} s, settled in {self.settle_s:.1f} s ({self.settle_rounds} rounds), "
            f"{self.duration_s:.1f} s in all; practice {self.practice}",
            f"  operations tried: {counts(self.tried)}",
            f"  skipped (nothing to do): {counts(self.skipped)}",
            f"  answers: {counts(self.answers)}; retries with the same key: {self.retries}",
            f"  faults injected: {counts(self.faults)}",
            f"  background runs: {counts(self.background)}; errors {len(self.background_errors)}",
            f"  grace: {self.grace}",
            "  " + self.render_workers(),
            f"  checked: {self.invoices} invoices, {self.payments} payments, {self.refunds} refunds; "
            f"orders on more than one Splash txn: {self.shared_orders} {self.shared_order_examples}",
            f"  deposits: {self.deposits} checked against Splash's entries ({self.chargebacks} chargebacks; "
            f"{self.pending_deposit} payments with money not paid out yet)",
            f"  double charges: {len(self.double_charges)}; lost payments: {len(self.lost_payments)}; "
            f"left pending/unknown: {len(self.left_open)}; other mismatches: {len(self.mismatches)}",
        ]
        problems = self.problems()
        if problems:
            by_check = collections.Counter(m.check for m in problems)
            lines.append("  by check: " + "; ".join(f"{k} ×{v}" for k, v in by_check.most_common()))
        for m in problems[:first]:
            lines.append(f"    {m}")
        if len(problems) > first:
            lines.append(f"    … and {len(problems) - first} more")
        for err in (self.client_errors + self.background_errors)[:3]:
            lines.append("  error: " + err.strip().splitlines()[-1])
        lines.append(f"  {'PASS' if self.ok else 'FAIL'}; rerun: {self.command}")
        return "\n".join(lines)

    def render_workers(self) -> str:
        if not self.workers:
            return "workers: false (in-process: one resolver lock serves the API functions one at a time)"
        busy = ", ".join(f"{fn} {s['max_busy']}" for fn, s in sorted(self.pool.items())) or "none"
        started = sum(s["started"] for s in self.pool.values())
        return (
            f"workers: true (up to {self.worker_cap} per function, {started} started, warmed in {self.warm_s:.1f} s); "
            f"max busy at once per function: {busy}"
        )


def rerun_command(
    seed: int,
    operations: int,
    clients: int,
    time_limit_s: float,
    fault_rate: float,
    fault_kinds=None,
    *,
    workers: bool = True,
) -> str:
    return (
        f".venv/bin/python -m tests.chaos --seed {seed} --operations {operations} --clients {clients} "
        f"--time-limit {time_limit_s:g} --fault-rate {fault_rate:g}"
        + (f" --faults {','.join(fault_kinds)}" if fault_kinds else "")
        + ("" if workers else " --in-process")
    )


# -- the stack ------------------------------------------------------------------------------------------------


class ChaosStack:
    """What a run drives: the local API front served over HTTP (werkzeug, threaded), the Splash sandbox (in
    process, and its URL for faults and the clock) and the local triggers. The embedded AWS and the resources
    must already be in the environment (local.run.local_environment, local.bootstrap.create_resources)."""

    def __init__(self, sandbox: Any, sandbox_url: str, secret: str, *, register_alert: bool = True) -> None:
        from werkzeug.serving import make_server

        from local.front import LocalApiGateway
        from local.triggers import LocalTriggers

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.sandbox = sandbox
        self.sandbox_url = sandbox_url
        self.secret = secret
        self._server = make_server("127.0.0.1", 0, LocalApiGateway(), threaded=True)
        threading.Thread(target=self._server.serve_forever, name="chaos-front", daemon=True).start()
        self.api_url = f"http://127.0.0.1:{self._server.server_port}"
        if register_alert:
            from practicepay.sync.registration import register

            register(f"{self.api_url}/webhooks/splash")
        self.triggers = LocalTriggers()
        self.warm_s = 0.0

    @property
    def pool(self) -> Any:
        """The worker pool the front and the triggers invoke through (local.workers), or None in-process."""
        from local.front import worker_pool

        return worker_pool()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def sandbox_post(self, path: str, body: dict[str, Any]) -> None:
        requests.post(f"{self.sandbox_url}/_sandbox/{path}", json=body, timeout=10).raise_for_status()

    def clear_faults(self) -> None:
        requests.delete(f"{self.sandbox_url}/_sandbox/faults", timeout=10).raise_for_status()


WARM_API = ("authorizer", "invoices", "payments")
"""What the clients' operations invoke: warmed to one worker per client (cold starts are `clients` at most)."""
WARM_ONE = ("patients", "webhook", "alerts", "reconciler", "poll")


@contextmanager
def standalone_stack(
    grace_seconds: int = GRACE_SECONDS, *, workers: bool = True, clients: int = 4
) -> Iterator[ChaosStack]:
    """The whole local stack in this process, as `make bench` builds it: moto, the resources, the sandbox. With
    `workers` (the default), as `make run` serves it: a worker pool (local.workers, PRACTICEPAY_LOCAL_CONCURRENCY
    per function) is installed once the environment is complete (grace and read timeout included: a worker
    starts with the environment as it is then), so the API calls, the webhook, the alerts processor, the poll
    and the reconciler run concurrently, each invocation in a worker process of its function."""
    from tests.standalone import standalone_stack as local_stack

    env = {
        "POWERTOOLS_METRICS_DISABLED": "true",
        "SPLASH_READ_TIMEOUT": SPLASH_READ_TIMEOUT,
        "SPLASH_RATE_LIMIT_BUDGET": "1",
        **grace_environment(grace_seconds),
    }
    with local_stack(CHAOS_SECRET, log_level="CRITICAL", env=env) as local:
        pool = None
        stack = None
        try:
            if workers:
                from local.workers import WorkerPool, install

                pool = install(WorkerPool())  # after the environment is complete: the workers copy it
            stack = ChaosStack(local.sandbox, local.sandbox_url, CHAOS_SECRET)
            if pool is not None:
                started = time.monotonic()
                warm(pool, clients)
                stack.warm_s = time.monotonic() - started
            yield stack
        finally:
            if stack is not None:
                stack.close()
            if pool is not None:
                from local.workers import uninstall

                pool.shutdown()
                uninstall()


def warm(pool: Any, clients: int) -> None:
    """Start the workers the run will use now, not on the clients' first calls (their timeouts are short)."""
    threads = [threading.Thread(target=pool.warm, args=(fn, clients)) for fn in WARM_API]
    threads += [threading.Thread(target=pool.warm, args=(fn, 1)) for fn in WARM_ONE]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


# -- the run --------------------------------------------------------------------------------------------------


class ClockGate:
    """Sandbox time moves only while no money request is in flight. Splash remembers a REQUEST-TOKEN for 48 h of
    its own time; the harness compresses days into seconds, so a retry inside one request (the Splash client's,
    after a lost answer) must not straddle a clock move, or the sandbox would have forgotten the token and charge
    again — which real Splash, with the same retry seconds later, would not."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._in_flight = 0
        self._moving = False

    @contextmanager
    def request(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._moving)
            self._in_flight += 1
        try:
            yield
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()

    @contextmanager
    def moving(self) -> Iterator[None]:
        with self._cond:
            self._moving = True  # new requests wait; those in flight finish first
            self._cond.wait_for(lambda: self._in_flight == 0)
        try:
            yield
        finally:
            with self._cond:
                self._moving = False
                self._cond.notify_all()


class Clients:
    """What the client threads share: the practice's payer, the invoice slots, the report's counters."""

    def __init__(self, stack: ChaosStack, practice: str, report: Report) -> None:
        from practicepay.auth.tokens import issue_hs256

        self.stack = stack
        self.practice = practice
        self.report = report
        self.headers = {"Authorization": f"Bearer {issue_hs256(stack.secret, practice)}"}
        self.lock = threading.Lock()
        self.slots: dict[int, str] = {}
        self.generation: collections.Counter[int] = collections.Counter()
        self.invoices: list[str] = []
        self.local = threading.local()
        self.patient = ""
        self.card = ""
        self.banks: dict[str, str] = {}
        self.clock = ClockGate()

    @property
    def http(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        return self.local.session

    def call(self, method: str, path: str, body: Any = None, *, key: str | None = None, timeout: float = 30.0):
        headers = {**self.headers, **({"Idempotency-Key": key} if key else {})}
        return self.http.request(method, self.stack.api_url + path, json=body, headers=headers, timeout=timeout)

    def must(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        import uuid

        resp = self.call(method, path, body, key=str(uuid.uuid4()) if method == "POST" else None)
        if resp.status_code >= 300:
            raise RuntimeError(f"{method} {path} -> {resp.status_code}: {resp.text[:300]}")
        return resp.json()

    def setup(self, seed: int) -> None:
        body = {"external_id": f"chaos-{seed}", "first_name": "Chaos", "last_name": "Monkey"}
        self.patient = self.must("POST", "/patients", body)["id"]
        card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}
        self.card = self.must("POST", f"/patients/{self.patient}/payment-methods", {"card": card, "consent": CONSENT})[
            "id"
        ]
        for name, number in ACCOUNTS.items():
            bank = {"routing_number": "021000021", "account_number": number}
            self.banks[name] = self.must(
                "POST", f"/patients/{self.patient}/payment-methods", {"bank_account": bank, "consent": CONSENT}
            )["id"]

    def invoice(self, seed: int, slot: int, stale: str | None) -> str:
        """The slot's open invoice; a new one (amount from the seed) if there is none or `stale` is still it."""
        with self.lock:
            current = self.slots.get(slot)
            if current is not None and current != stale:
                return current
            generation = self.generation[slot]
            self.generation[slot] += 1
        amount = random.Random(f"{seed}:{slot}:{generation}").randrange(5000, 60000, 100)
        body = {
            "patient_id": self.patient,
            "due_date": "2026-12-31",
            "line_items": [{"description": "Office visit", "cpt_code": "99214", "unit_amount": amount}],
        }
        created = self.must("POST", "/invoices", body)
        self.must("POST", f"/invoices/{created['id']}/issue")
        with self.lock:
            self.invoices.append(created["id"])
            if self.slots.get(slot) in (None, stale):
                self.slots[slot] = created["id"]
            return self.slots[slot]

    def money_post(self, op: Op, path: str, body: dict[str, Any]) -> str:
        """POST with the op's Idempotency-Key; again with the same key after a 5xx or no answer, as planned."""
        code = ""
        for attempt in range(1 + op.retries):
            try:
                with self.clock.request():
                    code = str(self.call("POST", path, body, key=op.key, timeout=op.client_timeout).status_code)
            except requests.Timeout:
                code = "timeout"
            except requests.ConnectionError:
                code = "no_answer"
            with self.lock:
                self.report.answers[code] += 1
            if not (code in RETRYABLE or code.startswith("5")) or attempt == op.retries:
                return code
            with self.lock:
                self.report.retries += 1
            time.sleep(0.05 + op.pick * 0.3)
        return code

    def execute(self, seed: int, op: Op) -> None:
        with self.lock:
            self.report.tried[op.kind] += 1
        if op.fault is not None:
            self.stack.sandbox_post("faults", op.fault)
            with self.lock:
                self.report.faults[fault_label(op.fault)] += 1
        if op.kind == "advance_clock":
            with self.clock.moving():
                self.stack.sandbox_post("clock", {"advance_days": op.days})
        elif op.kind in PAY_KINDS:
            self._pay(seed, op)
        else:
            self._refund(op)

    def _pay(self, seed: int, op: Op) -> None:
        invoice_id = self.invoice(seed, op.slot, None)
        invoice = self.must("GET", f"/invoices/{invoice_id}")
        if invoice["amount_due"] <= 0 or invoice["status"] not in ("open", "partially_paid"):
            invoice_id = self.invoice(seed, op.slot, invoice_id)
            invoice = self.must("GET", f"/invoices/{invoice_id}")
        due = invoice["amount_due"]
        if due <= 0 or invoice["status"] not in ("open", "partially_paid"):
            with self.lock:
                self.report.skipped[op.kind] += 1
            return
        amount: int | None = None
        if op.kind == "card_partial" or (op.kind == "echeck" and op.pick < 0.5):
            amount = max(100, int(due * op.fraction))
        elif op.kind == "card_declined":
            amount = DECLINED_AMOUNT if due >= DECLINED_AMOUNT else max(100, int(due * op.fraction))
        method = self.banks[op.bank] if op.kind == "echeck" else self.card
        body = {"payment_method_id": method, **({"amount": amount} if amount and amount < due else {})}
        self.money_post(op, f"/invoices/{invoice_id}/payments", body)

    def _refund(self, op: Op) -> None:
        with self.lock:
            invoice_id = self.slots.get(op.slot) or (
                self.invoices[int(op.pick * len(self.invoices))] if self.invoices else None
            )
        if invoice_id is None:
            with self.lock:
                self.report.skipped[op.kind] += 1
            return
        listed = self.must("GET", f"/payments?invoice_id={invoice_id}")["data"]
        refundable = sorted(
            (p for p in listed if p["status"] in ("succeeded", "partially_refunded", "processing")),
            key=lambda p: p["id"],
        )
        if not refundable:
            with self.lock:
                self.report.skipped[op.kind] += 1
            return
        payment = refundable[int(op.pick * len(refundable))]
        left = payment["amount"] - payment["amount_refunded"]
        body = {} if op.kind == "refund_full" else {"amount": max(1, int(left * op.fraction))}
        self.money_post(op, f"/payments/{payment['id']}/refunds", body)


def _loop(stop: threading.Event, name: str, fn: Callable[[], Any], rng: random.Random, report: Report, lock) -> None:
    while not stop.is_set():
        try:
            fn()
            with lock:
                report.background[name] += 1
        except Exception:
            with lock:
                report.background_errors.append(f"{name}: {traceback.format_exc()}")
        stop.wait(rng.uniform(0.1, 0.5))


def grace_environment(wanted: int) -> dict[str, str]:
    """The environment that gives the sync (SyncConfig) a `wanted`-second grace."""
    return {GRACE_ENV: str(wanted)}


def _grace(wanted: int) -> dict[str, Any]:
    """Whether the sync's wiring took the grace from the environment; if not, set it on the process's (cached)
    StatusSync, which the in-process reconciler and poll use (not functions in worker processes)."""
    from practicepay.sync.wiring import status_sync

    sync = status_sync()
    found = sync.grace_seconds
    info: dict[str, Any] = {
        "env": {GRACE_ENV: os.environ.get(GRACE_ENV)},
        "wiring_had": found,
        "took_effect": found == wanted,
    }
    from local.front import worker_pool

    info["workers"] = worker_pool() is not None
    if found != wanted:
        sync.grace_seconds = wanted
        info["patched_in_process"] = wanted
        if info["workers"]:
            info["not_in_workers"] = f"the workers' wiring reads the environment: their grace is {found} s"
    return info


def run(
    seed: int,
    operations: int,
    clients: int,
    time_limit_s: float,
    *,
    stack: ChaosStack | None = None,
    fault_rate: float = 0.35,
    fault_kinds: tuple[str, ...] | None = None,
    grace_seconds: int = GRACE_SECONDS,
    settle_limit_s: float = 60.0,
    practice: str | None = None,
    show: int = 15,
    out: Callable[[str], None] = print,
    workers: bool = True,
) -> Report:
    """One chaos run from `seed`: `operations` planned operations by `clients` threads, stopped after
    `time_limit_s` (the rest are not run), then settled and checked. Without `stack`, a stack of its own (whose
    environment asks for a `grace_seconds` grace, grace_environment()); with one, the caller's environment
    stands, and a grace the wiring did not take is set on the in-process StatusSync (Report.grace says which).
    `workers` (a stack of its own only) runs every function in worker processes, concurrently (standalone_stack);
    with a `stack`, whatever the caller installed stands (Report.workers says which)."""
    if stack is None:
        with standalone_stack(grace_seconds, workers=workers, clients=clients) as own:
            return run(
                seed,
                operations,
                clients,
                time_limit_s,
                stack=own,
                fault_rate=fault_rate,
                fault_kinds=fault_kinds,
                grace_seconds=grace_seconds,
                settle_limit_s=settle_limit_s,
                practice=practice,
                show=show,
                out=out,
            )
    started = time.monotonic()
    pool = stack.pool
    command = rerun_command(seed, operations, clients, time_limit_s, fault_rate, fault_kinds, workers=pool is not None)
    mode = f"worker mode, up to {pool.cap} workers per function" if pool is not None else "in-process"
    out(f"chaos: seed {seed}, {operations} operations, {clients} clients, {mode}; rerun: {command}")
    report = Report(seed=seed, operations=operations, clients=clients, command=command)
    report.grace = _grace(grace_seconds)
    if pool is not None:
        report.workers, report.worker_cap, report.warm_s = True, pool.cap, stack.warm_s
    stack.clear_faults()
    practice = practice or f"prc_chaos{seed}x{os.getpid() % 10000}x{int(time.time() * 1000) % 100000}"
    report.practice = practice
    from local.seed import seed_practice
    from practicepay.practices import PracticeStore
    from practicepay.splash.wiring import splash_client

    merchant = seed_practice(
        practice, f"Chaos Practice {seed}", splash_client(), stack.sandbox, PracticeStore(os.environ["PRACTICES_TABLE"])
    ).splash_merchant_id
    shared = Clients(stack, practice, report)
    shared.setup(seed)
    ops = plan(seed, operations, clients, fault_rate, fault_kinds)
    todo: queue.Queue[Op] = queue.Queue()
    for op in ops:
        todo.put(op)

    stop = threading.Event()
    background_rng = random.Random(seed + 1)
    background = [
        threading.Thread(
            target=_loop,
            args=(stop, name, fn, random.Random(background_rng.random()), report, shared.lock),
            name=f"chaos-{name}",
            daemon=True,
        )
        for name, fn in _background(stack.triggers, workers=pool is not None)
    ]
    run_started = time.monotonic()
    deadline = run_started + time_limit_s

    def client() -> None:
        while time.monotonic() < deadline:
            try:
                op = todo.get_nowait()
            except queue.Empty:
                return
            try:
                shared.execute(seed, op)
                with shared.lock:
                    report.ran += 1
            except Exception:
                with shared.lock:
                    report.ran += 1
                    report.client_errors.append(f"op {op.index} {op.kind}: {traceback.format_exc()}")

    workers = [threading.Thread(target=client, name=f"chaos-client-{n}", daemon=True) for n in range(clients)]
    for t in background + workers:
        t.start()
    for t in workers:
        t.join()
    report.run_s = time.monotonic() - run_started
    last_op = time.monotonic()
    stack.clear_faults()
    stop.set()
    for t in background:
        t.join(timeout=30)

    settle_started = time.monotonic()
    settle(stack, shared, report, ready_at=last_op + grace_seconds + 0.5, limit_s=settle_limit_s)
    pay_out(stack, report, practice, random.Random(seed + 2))
    report.settle_s = time.monotonic() - settle_started
    check(report, practice, merchant, shared.invoices)
    check_deposits(report, practice, merchant)
    if pool is not None:
        report.pool = pool.stats()
    report.duration_s = time.monotonic() - started
    out(report.render(first=show))
    return report


def _background(triggers: Any, *, workers: bool) -> list[tuple[str, Callable[[], Any]]]:
    """The schedules and event source mappings the run keeps going: in-process, the poll and one drain of
    everything (the API functions hold the resolver lock anyway); in worker mode, as `make run` ticks them, one
    thread per queue (the alerts processor, the reconciler, the charger), the events and the poll, so each of
    those functions runs beside the others and beside the API calls."""
    if not workers:
        return [("poll", triggers.poll), ("drain", triggers.drain_all)]
    from local.triggers import SOURCES

    def events() -> None:
        triggers.events.deliver_platform_events()
        triggers.events.publish_outbox()

    drainers = [
        (f"drain {function}", lambda queue=queue, function=function: triggers.drain(queue, function))
        for queue, function in SOURCES
    ]
    return [("poll", triggers.poll), ("events", events), *drainers]


def settle(stack: ChaosStack, shared: Clients, report: Report, *, ready_at: float, limit_s: float) -> None:
    """No more faults: move the clock so eChecks settle and returns come back, let every alert out, drain the
    queues and poll until nothing of the practice is pending or unknown (the poll fails as not submitted what
    Splash never got, once the grace is over), or `limit_s` has passed."""
    stack.sandbox_post("clock", {"advance_days": 3})
    end = time.monotonic() + limit_s
    while True:
        report.settle_rounds += 1
        stack.sandbox_post("clock", {"advance_seconds": 1})  # held (delayed, reordered) alerts go out
        stack.sandbox.wait_for_alerts(10.0)
        for name, step in (("settle drain", stack.triggers.drain_all), ("settle poll", stack.triggers.poll)):
            try:
                step()
            except Exception:  # the system's own failure: reported (and its books checked), not the run's end
                report.background[f"{name} failed"] += 1
                report.background_errors.append(f"{name}: {traceback.format_exc()}")
        still = open_records(shared.practice)
        if (not still and time.monotonic() >= ready_at) or time.monotonic() >= end:
            return
        time.sleep(0.5)


CHARGEBACKS_PER_RUN = 2


def pay_out(stack: ChaosStack, report: Report, practice: str, rng: random.Random) -> None:
    """After the run: chargebacks on up to CHARGEBACKS_PER_RUN captured card payments (one then won), and the
    days Splash needs to disburse everything (the disbursements move to processed), with the alerts and polls
    that read them."""
    captured = [
        p
        for p in open_records(practice, statuses=frozenset({"succeeded", "partially_refunded"}))
        if p.get("method_kind") == "card" and p.get("splash_txn_id")
    ]
    chosen = rng.sample(captured, min(CHARGEBACKS_PER_RUN, len(captured)))
    opened = []
    for payment in chosen:
        got = requests.post(
            f"{stack.sandbox_url}/_sandbox/chargebacks", json={"txn": payment["splash_txn_id"]}, timeout=10
        )
        if got.status_code == 201:
            opened.append(got.json()["chargeback"]["id"])
    report.chargebacks = len(opened)
    _rounds(stack, report, days=1)
    for chargeback_id in opened[:1]:
        stack.sandbox_post(f"chargebacks/{chargeback_id}/decide", {"outcome": "won"})
    _rounds(stack, report, days=3)


def _rounds(stack: ChaosStack, report: Report, days: int) -> None:
    for _ in range(days):
        stack.sandbox_post("clock", {"advance_days": 1})
        stack.sandbox.wait_for_alerts(10.0)
        for name, step in (("pay-out drain", stack.triggers.drain_all), ("pay-out poll", stack.triggers.poll)):
            try:
                step()
            except Exception:
                report.background[f"{name} failed"] += 1
                report.background_errors.append(f"{name}: {traceback.format_exc()}")


def check_deposits(report: Report, practice: str, merchant: str) -> None:
    """The ledger equals Splash's entries for every deposit: each Splash disbursement of the practice is a deposit
    of the same amount whose lines are its disbursementEntries to the cent; per payment, the sales, refunds and
    returns paid out equal the payment's ledger (charges, voids, refunds, returns); per chargeback, what was paid
    out equals its ledger entries; every fee paid out is in the practice's fee ledger at the same amount."""
    import boto3
    from boto3.dynamodb.conditions import Key

    from practicepay.adapters.dynamo import plain
    from practicepay.deposits.models import deposit_id
    from practicepay.splash.models import Disbursement, DisbursementEntry, Entry, Merchant
    from practicepay.splash.search import Search
    from practicepay.splash.wiring import splash_client

    bad = report.mismatches.append
    splash = splash_client()
    entity = splash.get(Merchant, merchant).entity
    funds = boto3.resource("dynamodb").Table(os.environ["FUNDS_TABLE"])
    items = [plain(i) for i in _query_all(funds, KeyConditionExpression=Key("pk").eq(f"PRACTICE#{practice}"))]
    lines = [i for i in items if "#LINE#" in str(i["sk"])]
    deposits = {i["id"]: i for i in items if str(i["sk"]).startswith("DEPOSIT#") and "#LINE#" not in str(i["sk"])}
    fee_ledger = {i["id"]: i["amount"] for i in items if str(i["sk"]).startswith("FEE#")}
    paid_out: dict[str, int] = {}
    for disbursement in splash.iterate(Disbursement, search=Search().equals("entity", entity)):
        report.deposits += 1
        subject = f"disbursement {disbursement.id} ({disbursement.amount})"
        deposit = deposits.get(deposit_id(disbursement.id))
        parts = {
            part.entry: part.amount
            for part in splash.iterate(DisbursementEntry, search=Search().equals("disbursement", disbursement.id))
        }
        paid_out.update(parts)
        if deposit is None:
            bad(Mismatch("deposit of every disbursement", subject, "a deposit", "none"))
            continue
        mine = {line["entry_id"]: line["amount"] for line in lines if line["deposit_id"] == deposit["id"]}
        if (deposit["amount"], mine) != (disbursement.amount, parts):
            bad(
                Mismatch(
                    "deposit vs Splash {entry: cents}", subject, (disbursement.amount, parts), (deposit["amount"], mine)
                )
            )
    left = {e.id for e in splash.iterate(Entry, search=Search().equals("entity", entity)) if not e.disbursement}
    invoices_table, _ = _tables()
    from practicepay.invoices.store import InvoiceStore

    ledger = [
        e
        for i in {line.get("invoice_id") for line in lines} - {None}
        for e in InvoiceStore(invoices_table.name).ledger(practice, i)
    ]
    by_payment: dict[str, int] = collections.Counter()
    by_chargeback: dict[str, int] = collections.Counter()
    for e in ledger:
        if e.get("splash_chargeback_id"):
            by_chargeback[e["splash_chargeback_id"]] += e["amount"]
        elif e["type"] in ("charge", "void", "refund", "return"):
            by_payment[e["payment_id"]] += e["amount"]
    out_payment: dict[str, int] = collections.Counter()
    out_chargeback: dict[str, int] = collections.Counter()
    for line in lines:
        if line["kind"] == "fee":
            if fee_ledger.get(line["entry_id"]) != line["amount"]:
                bad(
                    Mismatch(
                        "fee paid out vs fee ledger", line["entry_id"], line["amount"], fee_ledger.get(line["entry_id"])
                    )
                )
        elif line.get("splash_chargeback_id"):
            out_chargeback[line["splash_chargeback_id"]] += line["amount"]
        elif line.get("payment_id"):
            out_payment[line["payment_id"]] += line["amount"]
        else:
            bad(Mismatch("every line matched", line["entry_id"], "a payment or dispute", line))
    pending = set()
    if left:  # money not paid out yet: its payment is not complete in any deposit
        for entry in splash.iterate(Entry, search=Search().equals("entity", entity)):
            if entry.id in left and entry.txn:
                pending.add(entry.txn)
    for payment_id, amount in out_payment.items():
        txns = {line.get("splash_txn_id") for line in lines if line.get("payment_id") == payment_id}
        if txns & pending:
            report.pending_deposit += 1
            continue
        if by_payment.get(payment_id, 0) != amount:
            bad(Mismatch("payment paid out vs its ledger", payment_id, by_payment.get(payment_id, 0), amount))
    for chargeback_id, amount in out_chargeback.items():
        if by_chargeback.get(chargeback_id, 0) != amount:
            bad(
                Mismatch(
                    "chargeback paid out vs its ledger", chargeback_id, by_chargeback.get(chargeback_id, 0), amount
                )
            )


def _tables() -> tuple[Any, Any]:
    import boto3

    db = boto3.resource("dynamodb")
    return db.Table(os.environ["INVOICES_TABLE"]), db.Table(os.environ["PAYMENTS_TABLE"])


def open_records(practice: str, statuses: frozenset[str] | None = None) -> list[dict[str, Any]]:
    from boto3.dynamodb.conditions import Key

    from practicepay.adapters.dynamo import plain

    _, payments = _tables()
    items = payments.query(KeyConditionExpression=Key("pk").eq(f"PRACTICE#{practice}"), ConsistentRead=True)["Items"]
    return [
        plain(i)
        for i in items
        if str(i["sk"]).startswith(("PAYMENT#", "REFUND#")) and i["status"] in (statuses or OPEN_STATUSES)
    ]


# -- the checks -----------------------------------------------------------------------------------------------


CARD_FINAL = {"succeeded", "partially_refunded", "refunded", "voided"}


def _status_fits(method_kind: str, sale: Any, payment: dict[str, Any]) -> bool:
    status = payment["status"]
    if sale is None:
        return status == "failed"
    if sale.status == RETURNED:
        return status == "returned"
    if method_kind == "card":
        return status in CARD_FINAL
    if sale.status in (1, 3):
        return status == "processing"
    return status in {"succeeded", "partially_refunded", "refunded"}


def check(report: Report, practice: str, merchant: str, invoice_ids: list[str]) -> None:
    """Every invoice, payment and refund of the run against its ledger and Splash (see the module's README)."""
    from boto3.dynamodb.conditions import Key

    from practicepay.adapters.dynamo import plain
    from practicepay.invoices.store import InvoiceStore
    from practicepay.splash.models import Txn
    from practicepay.splash.search import Search
    from practicepay.splash.wiring import splash_client

    invoices_table, payments_table = _tables()
    invoices = InvoiceStore(invoices_table.name)
    splash = splash_client()
    pk = f"PRACTICE#{practice}"
    items = [plain(i) for i in _query_all(payments_table, KeyConditionExpression=Key("pk").eq(pk), ConsistentRead=True)]
    payments = {i["id"]: i for i in items if str(i["sk"]).startswith("PAYMENT#")}
    refunds = {i["id"]: i for i in items if str(i["sk"]).startswith("REFUND#")}
    report.invoices, report.payments, report.refunds = len(invoice_ids), len(payments), len(refunds)
    bad = report.mismatches.append

    # Splash's side: every txn of the practice's merchant with one of our orders must be ours.
    by_order: dict[str, list[Any]] = collections.defaultdict(list)
    for txn in splash.iterate(Txn, search=Search().equals("merchant", merchant), limit=100):
        order = txn.order or ""
        by_order[order].append((txn.type, txn.status))
        if order.startswith("pay_") and order not in payments and txn.status != FAILED:
            report.lost_payments.append(
                Mismatch("lost payment", order, "a payment record", "none", f"Splash txn {txn.id} {txn.total}")
            )
        if order.startswith("rfd_") and order not in refunds and txn.status != FAILED:
            bad(Mismatch("lost refund", order, "a refund record", "none", f"Splash txn {txn.id} {txn.total}"))
    shared = {order: txns for order, txns in by_order.items() if order and len(txns) > 1}
    report.shared_orders = len(shared)
    report.shared_order_examples = [f"{order}: (type, status) {txns}" for order, txns in list(shared.items())[:3]]

    for invoice_id in invoice_ids:
        invoice = invoices.get(practice, invoice_id)
        entries = invoices.ledger(practice, invoice_id)
        paid_types = ("charge", "void", "return", "chargeback", "chargeback_reversal")
        paid = sum(e["amount"] for e in entries if e["type"] in paid_types)
        refunded = -sum(e["amount"] for e in entries if e["type"] == "refund")
        written_off = -sum(e["amount"] for e in entries if e["type"] == "write_off")
        subject = f"invoice {invoice_id}"
        found = (invoice.amount_paid, invoice.amount_refunded, invoice.amount_written_off)
        if (paid, refunded, written_off) != found:
            bad(
                Mismatch(
                    "invoice totals vs ledger (paid, refunded, written off)",
                    subject,
                    (paid, refunded, written_off),
                    found,
                )
            )
        due = invoice.total - invoice.amount_paid - invoice.amount_written_off
        if due < 0:
            bad(
                Mismatch(
                    "amount_due >= 0",
                    subject,
                    f"<= total {invoice.total}",
                    f"amount_paid {invoice.amount_paid}, due {due}",
                )
            )
        if invoice.amount_pending > 0:
            report.left_open.append(
                Mismatch("invoice amount_pending after settling", subject, 0, invoice.amount_pending)
            )
        elif invoice.amount_pending < 0:
            bad(Mismatch("invoice amount_pending >= 0 (a hold released twice)", subject, 0, invoice.amount_pending))
        # A bank may return a debit after part of it was refunded: the return takes the whole debit off paid.
        returned = -sum(e["amount"] for e in entries if e["type"] == "return")
        if invoice.amount_refunded > invoice.amount_paid + returned + invoice.amount_charged_back:
            bad(
                Mismatch(
                    "refunded <= paid (+ returned after a refund, + charged back)",
                    subject,
                    f"<= {invoice.amount_paid} + {returned} + {invoice.amount_charged_back}",
                    invoice.amount_refunded,
                )
            )
        for entry in entries:
            if entry["type"] in ("charge", "void", "return", "refund") and not entry.get("splash_txn_id"):
                bad(Mismatch("ledger entry without a Splash txn", subject, "splash_txn_id", entry))
        for payment in (p for p in payments.values() if p["invoice_id"] == invoice_id):
            _check_payment(
                report, splash, payment, [r for r in refunds.values() if r["payment_id"] == payment["id"]], entries
            )


def _check_payment(
    report: Report, splash: Any, payment: dict[str, Any], refunds: list[dict[str, Any]], entries
) -> None:
    bad = report.mismatches.append
    pid = payment["id"]
    subject = f"payment {pid} ({payment['method_kind']} {payment['amount']}, {payment['status']})"
    txns = splash.txns_by_order(pid)
    sales = [t for t in txns if t.type in SALE_TYPES and t.status != FAILED]
    if len(sales) > 1:
        report.double_charges.append(
            Mismatch(
                "double charge at Splash",
                subject,
                "at most 1 approved sale",
                [(t.id, t.total, t.status) for t in sales],
            )
        )
    if payment["status"] in OPEN_STATUSES:
        report.left_open.append(Mismatch("payment left open", subject, "a final status", payment["status"]))
    at_splash = {t.id: t.total for t in txns if t.status not in (FAILED, RETURNED)}
    booked: dict[str, int] = collections.Counter()
    charges = [
        e
        for e in entries
        if e.get("payment_id") == pid and not e.get("refund_id") and not e.get("splash_chargeback_id")
    ]
    for e in charges:
        booked[e.get("splash_txn_id") or "-"] += e["amount"]
    booked = {k: v for k, v in booked.items() if v}
    if booked != at_splash:
        kinds = collections.Counter(e["type"] for e in charges)
        bad(
            Mismatch(
                "payment ledger vs Splash {txn: cents}", subject, at_splash, booked, f"ledger entries {dict(kinds)}"
            )
        )
    sale = sales[0] if sales else None
    if sale is not None and sale.status != RETURNED and payment["status"] in ({"failed"} | OPEN_STATUSES):
        report.lost_payments.append(
            Mismatch(
                "lost payment (Splash approved it)",
                subject,
                "a final status matching the txn",
                payment["status"],
                f"txn {sale.id} status {sale.status}",
            )
        )
    elif not _status_fits(payment["method_kind"], sale, payment):
        found = f"txn {sale.id} status {sale.status}" if sale else "no approved txn"
        bad(Mismatch("payment status vs Splash", subject, f"a status fitting {found}", payment["status"]))
    captured = sum(booked.values())
    refunded_ok = sum(r["amount"] for r in refunds if r["status"] == "succeeded")
    booked_back = -sum(e["amount"] for e in entries if e.get("payment_id") == pid and e.get("refund_id"))
    if not (payment.get("amount_refunded", 0) == refunded_ok == booked_back):
        bad(
            Mismatch(
                "refunded: payment record == succeeded refunds == ledger",
                subject,
                refunded_ok,
                {"payment.amount_refunded": payment.get("amount_refunded", 0), "ledger": booked_back},
            )
        )
    if booked_back > max(captured, 0) and not (sale is not None and sale.status == RETURNED):
        bad(Mismatch("never more refunded than captured", subject, f"<= {captured}", booked_back))
    if payment.get("refund_pending", 0) > 0:
        report.left_open.append(
            Mismatch("payment refund_pending after settling", subject, 0, payment["refund_pending"])
        )
    elif payment.get("refund_pending", 0) < 0:
        bad(
            Mismatch(
                "payment refund_pending >= 0 (a refund hold released twice)", subject, 0, payment["refund_pending"]
            )
        )
    for refund in refunds:
        rsubject = f"refund {refund['id']} of {pid} ({refund['kind']} {refund['amount']}, {refund['status']})"
        rtxns = splash.txns_by_order(refund["id"])
        approved = {t.id: t.total for t in rtxns if t.status != FAILED}
        if len(approved) > 1:
            report.double_charges.append(
                Mismatch("double refund at Splash", rsubject, "at most 1 approved txn", approved)
            )
        if refund["status"] in OPEN_STATUSES:
            report.left_open.append(Mismatch("refund left open", rsubject, "a final status", refund["status"]))
        elif (refund["status"] == "succeeded") != bool(approved):
            bad(Mismatch("refund status vs Splash", rsubject, f"approved txns {approved}", refund["status"]))
        rbooked: dict[str, int] = collections.Counter()
        for e in entries:
            if e.get("refund_id") == refund["id"]:
                rbooked[e.get("splash_txn_id") or "-"] -= e["amount"]
        rbooked = {k: v for k, v in rbooked.items() if v}
        if rbooked != approved:
            bad(Mismatch("refund ledger vs Splash {txn: cents}", rsubject, approved, rbooked))


def _query_all(table: Any, **kwargs: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        page = table.query(**kwargs)
        out += page["Items"]
        if "LastEvaluatedKey" not in page:
            return out
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--operations", type=int, default=200)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--time-limit", type=float, default=300.0, help="seconds for the operations (then settle)")
    parser.add_argument("--fault-rate", type=float, default=0.35, help="share of operations preceded by a fault")
    parser.add_argument(
        "--faults", default="", help=f"only these fault kinds, comma-separated: {','.join(FAULT_WEIGHTS)}"
    )
    parser.add_argument("--show", type=int, default=15, help="how many mismatches to print")
    parser.add_argument("--json", action="store_true", help="print the report as JSON too")
    parser.add_argument("--json-out", default="", help="write the report as JSON to this file")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run the functions in this process (one resolver lock serves the API functions one at a time) "
        "instead of worker processes per function, concurrently, as `make run` does",
    )
    args = parser.parse_args(argv)
    kinds = tuple(k for k in args.faults.split(",") if k) if args.faults else None
    unknown = set(kinds or ()) - set(FAULT_WEIGHTS)
    if unknown:
        parser.error(f"--faults takes names from {', '.join(FAULT_WEIGHTS)}; not {', '.join(sorted(unknown))}")
    report = run(
        args.seed,
        args.operations,
        args.clients,
        args.time_limit,
        fault_rate=args.fault_rate,
        fault_kinds=kinds,
        show=args.show,
        workers=not args.in_process,
    )
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, default=str))
    if args.json_out:
        text = json.dumps(_json_keys(report.as_dict()), indent=2, default=str)  # whole, or no file at all
        with open(args.json_out, "w") as f:
            f.write(text)
    return 0 if report.ok else 1


def _json_keys(value: Any) -> Any:
    """`value` with every mapping's keys as strings (JSON's), e.g. a background error's (type, status) keys."""
    if isinstance(value, dict):
        return {str(k): _json_keys(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_keys(v) for v in value]
    return value


# -- make bench's chaos section ---------------------------------------------------------------------------------

BENCH_OPS = int(os.environ.get("BENCH_CHAOS_OPS", "1000"))
BENCH_SEED = int(os.environ.get("BENCH_CHAOS_SEED", "1000"))
BENCH_CLIENTS = 4
BENCH_TIME_S = float(os.environ.get("BENCH_CHAOS_TIME", "300"))
MAKE_TIME_S = 300.0
"""`make chaos`'s TIME default: the reproducing command names TIME only when the bench's differs."""


def measure_bench(
    seed: int = BENCH_SEED,
    operations: int = BENCH_OPS,
    clients: int = BENCH_CLIENTS,
    time_limit_s: float = BENCH_TIME_S,
) -> dict[str, Any]:
    """One chaos run in worker mode for `make bench`, in a process of its own (its own moto server, sandbox and
    environment: the bench's process caches its Splash client and sync wiring); its report as a dict (as_dict).
    The run's own lines go to stderr."""
    import subprocess
    import tempfile
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "chaos.json"
        argv = [sys.executable, "-m", "tests.chaos", "--seed", str(seed), "--operations", str(operations)]
        argv += ["--clients", str(clients), "--time-limit", f"{time_limit_s:g}", "--json-out", str(out)]
        done = subprocess.run(argv, cwd=root, stdout=sys.stderr, check=False)
        if not out.exists():
            raise RuntimeError(f"the chaos run exited {done.returncode} without a report: {' '.join(argv)}")
        figures = json.loads(out.read_text())
    figures["time_limit_s"] = time_limit_s
    return figures


def bench_command(figures: dict[str, Any]) -> str:
    time_limit = figures.get("time_limit_s", MAKE_TIME_S)
    return f"make chaos SEED={figures['seed']} OPS={figures['operations']} CLIENTS={figures['clients']}" + (
        f" TIME={time_limit:g}" if time_limit != MAKE_TIME_S else ""
    )


def render_bench(report: Report | dict[str, Any], first: int = 20) -> list[str]:
    """`make bench`'s chaos section (markdown lines) from a Report or its as_dict()."""
    r = report.as_dict() if isinstance(report, Report) else report

    def counts(c: dict[str, int]) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(c.items())) or "none"

    problems = [*r["double_charges"], *r["lost_payments"], *r["left_open"], *r["mismatches"]]
    pool = r.get("pool") or {}
    busy = ", ".join(f"{fn} {s['max_busy']}" for fn, s in sorted(pool.items()) if s["max_busy"]) or "none"
    mode = (
        f"worker mode (local.workers: up to {r['worker_cap']} worker processes per function, as `make run` serves it)"
        if r.get("workers")
        else "in-process (one resolver lock serves the API functions one at a time)"
    )
    lines = [
        "## Chaos: concurrent clients under Splash faults (worker mode)",
        "",
        f"A seeded chaos run (tests/chaos) in {mode}: {r['clients']} clients pay and refund over HTTP with "
        "Idempotency-Key retries while the Splash sandbox loses answers, fails, rate limits and garbles alerts, "
        "and the poll, the alerts processor and the reconciler run beside them; then it settles and checks every "
        f"invoice, payment and refund against its ledger and Splash. Reproduce: `{bench_command(r)}`.",
        "",
        "| measure | figure |",
        "|---|---|",
        f"| operations run / planned | {r['ran']} / {r['operations']} |",
        f"| operations by kind | {counts(r['tried'])} |",
        f"| skipped (nothing to pay or refund) | {counts(r['skipped'])} |",
        f"| answers by status | {counts(r['answers'])}; retries with the same key {r['retries']} |",
        f"| faults injected by kind | {counts(r['faults'])} |",
        f"| checked | {r['invoices']} invoices, {r['payments']} payments, {r['refunds']} refunds |",
        f"| mismatches | {len(r['mismatches'])} |",
        f"| double charges | {len(r['double_charges'])} |",
        f"| lost payments | {len(r['lost_payments'])} |",
        f"| left open (pending/unknown) | {len(r['left_open'])} |",
        f"| run seconds | {r['run_s']:.1f} |",
        f"| settle seconds | {r['settle_s']:.1f} ({r['settle_rounds']} rounds) |",
        f"| max workers busy at once, per function | {busy} |",
        f"| client / background errors | {len(r['client_errors'])} / {len(r['background_errors'])} |",
        f"| books | {'PASS' if not problems else 'FAIL'} |",
    ]
    if problems:
        lines += ["", "Mismatches:", ""]
        lines += [f"- `{m}`" for m in problems[:first]]
        if len(problems) > first:
            lines.append(f"- … and {len(problems) - first} more")
    return [*lines, ""]


def bench_main() -> int:
    """`BENCH_ONLY=chaos .venv/bin/python -m tests.bench.money`: this section alone, printed (BENCHMARKS.md is
    left as it is)."""
    print("\n".join(render_bench(measure_bench())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
