"""Recurring billing figures for `make bench` (issue #6): one daily run over N due installments on the local stack,
then the charge worker through the charge queue, with AWS calls per charge at 100 and at N due (target: the same,
and no Scan), and the wall times. Runs inside tests.bench.money's stack.

The due installments are seeded straight into DynamoDB (an invoice on a two-installment plan each, the first due
on the run's date): the setup is not what is measured. Everything after is the real path: the billing function
queries the `due` and `notices` indexes and sends the charge messages with SendMessageBatch; the local event
source mapping hands them to the charger ten at a time, which charges each card at the Splash sandbox."""

from __future__ import annotations

import os
import time
from collections import Counter as Tally
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

BILLING_N = int(os.environ.get("BENCH_BILLING_N", "10000"))
# What Lambda's SQS event source mapping does around the function (not the function's own calls).
MAPPING_CALLS = frozenset({"sqs:ReceiveMessage", "sqs:DeleteMessageBatch"})


def _seed(env: dict[str, str], practice: str, patient: str, card: str, day: date, count: int) -> None:
    import boto3

    from practicepay.adapters.vault import PhiVault
    from practicepay.billing.schedule import Frequency, RetryPolicy
    from practicepay.billing.store import InstallmentRecord, PlanRecord, ScheduleStore
    from practicepay.clock import iso, utc_now
    from practicepay.ids import new_id
    from practicepay.invoices.models import InvoiceStatus, LineItem
    from practicepay.invoices.service import new_invoice
    from practicepay.invoices.store import InvoiceStore

    moment = utc_now()
    now = iso(moment)
    vault = PhiVault(env["DATA_KEY_ARN"])
    line = LineItem(description="Treatment", quantity=1, unit_amount=20_000, amount=20_000)
    policy = RetryPolicy().to_record()
    consent = {"text_version": "bench", "accepted_at": now, "max_amount": 20_000}
    schedules, invoices = ScheduleStore(env["SCHEDULES_TABLE"]), InvoiceStore(env["INVOICES_TABLE"])
    ddb = boto3.resource("dynamodb")
    with (
        ddb.Table(env["SCHEDULES_TABLE"]).batch_writer() as plans,
        ddb.Table(env["INVOICES_TABLE"]).batch_writer() as inv,
    ):
        for _ in range(count):
            plan_id = new_id("pln")
            invoice = new_invoice(
                vault,
                practice_id=practice,
                patient_id=patient,
                due_date=day,
                items=[line],
                now=moment,
                status=InvoiceStatus.IN_PROGRESS,
                plan_id=plan_id,
            )
            invoice_id = invoice.id
            inv.put_item(Item=invoices.item(invoice))
            plan = PlanRecord(
                practice_id=practice,
                id=plan_id,
                invoice_id=invoice_id,
                patient_id=patient,
                payment_method_id=card,
                frequency=Frequency.MONTHLY.value,
                first_date=day.isoformat(),
                installment_count=2,
                total=20_000,
                status="active",
                consent=consent,
                policy=policy,
                created_at=now,
                updated_at=now,
            )
            plans.put_item(Item=schedules.plan_item(plan))
            for seq, due in ((1, day), (2, day + timedelta(days=31))):
                inst = InstallmentRecord(
                    practice_id=practice,
                    owner_id=plan_id,
                    seq=seq,
                    invoice_id=invoice_id,
                    patient_id=patient,
                    amount=10_000,
                    due_on=due.isoformat(),
                    status="scheduled",
                    policy=policy,
                    notice_on=(due - timedelta(days=3)).isoformat(),
                    noticed=seq == 1,
                    created_at=now,
                    updated_at=now,
                )
                plans.put_item(Item=schedules.installment_item(inst))


def measure_billing(
    *, env: dict[str, str], practice: str, patient: str, card: str, take_calls: Callable[[], dict[str, int]], sandbox
) -> dict[str, Any]:
    from infra.definitions import CHARGE_QUEUE, CHARGER
    from local.triggers import LocalTriggers

    triggers = LocalTriggers()
    day = sandbox.today + timedelta(days=400)  # past every other bench payment's dates: only these are due
    out: dict[str, Any] = {"runs": []}
    for size in (100, BILLING_N):
        _seed(env, practice, patient, card, day, size)
        take_calls()
        splash_before = len(sandbox.requests)
        started = time.perf_counter()
        report = triggers.billing_run(day.isoformat())
        run_s = time.perf_counter() - started
        run_calls = take_calls()
        started = time.perf_counter()
        charged = 0
        while True:
            handled = triggers.drain(CHARGE_QUEUE, CHARGER.name, max_batches=1000)
            charged += handled
            if not handled:
                break
        charge_s = time.perf_counter() - started
        calls = Tally(take_calls())
        function_calls = {k: v for k, v in calls.items() if k not in MAPPING_CALLS}
        out["runs"].append(
            {
                "due": size,
                "queued": report["queued"],
                "charged": charged,
                "failed": triggers.failed,
                "run_s": run_s,
                "run_calls": dict(sorted(run_calls.items())),
                "charge_s": charge_s,
                "per_charge": {k: round(v / size, 3) for k, v in sorted(function_calls.items())},
                "splash_per_charge": round((len(sandbox.requests) - splash_before) / size, 2),
                "scans": sum(v for k, v in {**run_calls, **calls}.items() if k.endswith(":Scan")),
            }
        )
    return out


def render(figures: dict[str, Any]) -> list[str]:
    lines = [
        "## Recurring billing (issue #6)",
        "",
        "One daily run over the due installments, then the charge worker on the charge queue (ten per invocation, "
        "as the local event source mapping hands them). Calls per charge are the charger's own (the mapping's "
        "ReceiveMessage and DeleteMessageBatch left out); the daily run's calls are its whole run.",
        "",
        "| due | queued | daily run: wall s, AWS calls | charges: wall s, per charge ms | AWS calls per charge | "
        "Splash per charge | Scan calls |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in figures["runs"]:
        run = ", ".join(f"{k} {v}" for k, v in r["run_calls"].items())
        per = ", ".join(f"{k} {v:g}" for k, v in r["per_charge"].items())
        lines.append(
            f"| {r['due']:,} | {r['queued']:,} | {r['run_s']:.1f} s; {run} | {r['charge_s']:.0f} s, "
            f"{1000 * r['charge_s'] / max(r['due'], 1):.0f} ms | {per} | {r['splash_per_charge']:g} | {r['scans']} |"
        )
    small, large = figures["runs"][0], figures["runs"][-1]
    # Secrets and data keys are cached for minutes: a long run refreshes them a few times (fractions per charge).
    same = abs(sum(small["per_charge"].values()) - sum(large["per_charge"].values())) < 0.05
    lines += [
        "",
        f"AWS calls per charge at {small['due']:,} and at {large['due']:,} due: "
        f"{sum(small['per_charge'].values()):.2f} and {sum(large['per_charge'].values()):.2f} "
        f"({'the same' if same else 'not the same'}; target: the same). Scan calls: "
        f"{small['scans'] + large['scans']} (target 0).",
        "",
    ]
    return lines
