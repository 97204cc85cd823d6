"""Status sync figures for `make bench` (issue #5): AWS and Splash calls per processed alert, and Splash calls
per status poll as the number of changed txns grows. Runs inside tests.bench.money's stack."""

from __future__ import annotations

import json
import math
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

POLL_SIZES = (0, 60, 250)


def _sqs_event(resource: int, record_id: str) -> dict[str, Any]:
    """One queued alert, as the alerts function receives it."""
    from infra.definitions import ALERTS_QUEUE
    from local.triggers import sqs_record

    body = {"alert_id": uuid.uuid4().hex, "resource": resource, "record_id": record_id}
    message = {
        "MessageId": str(uuid.uuid4()),
        "ReceiptHandle": "bench",
        "Body": json.dumps(body),
        "Attributes": {"MessageGroupId": f"{resource}-{record_id}", "MessageDeduplicationId": body["alert_id"]},
    }
    return {"Records": [sqs_record(ALERTS_QUEUE, message)]}


def measure_sync(
    *,
    sandbox: Any,
    take_calls: Callable[[], dict[str, int]],
    pay: Callable[[str], dict],
    bank_methods: dict[str, str],
    card_token: str,
    merchant: str,
    runs: int,
) -> dict[str, Any]:
    from local.front import LambdaContext, load_handler
    from local.triggers import LocalTriggers
    from practicepay.ids import new_id
    from practicepay.splash.models import TxnType
    from practicepay.splash.outbound import TxnRequest
    from practicepay.splash.wiring import splash_client

    alerts = load_handler("alerts").lambda_handler
    out: dict[str, Any] = {"alerts": []}

    def process(label: str, txn_ids: list[str]) -> None:
        alerts(_sqs_event(18, txn_ids[0]), LambdaContext("alerts"))  # warm: the merchant → practice cache
        take_calls()
        before, times = len(sandbox.requests), []
        for txn_id in txn_ids[1:]:
            started = time.perf_counter()
            result = alerts(_sqs_event(18, txn_id), LambdaContext("alerts"))
            times.append((time.perf_counter() - started) * 1000)
            assert not result["batchItemFailures"], result
        n = len(txn_ids) - 1
        calls = take_calls()
        out["alerts"].append(
            {
                "alert": label,
                "aws": {k: round(v / n, 2) for k, v in sorted(calls.items())},
                "splash": round((len(sandbox.requests) - before) / n, 2),
                "p50": statistics.median(times),
            }
        )

    settling = [pay(bank_methods["clean"])["splash_txn_id"] for _ in range(runs + 1)]
    returning = [pay(bank_methods["r01"])["splash_txn_id"] for _ in range(runs + 1)]
    sandbox.advance(days=1)  # every eCheck settles
    process("eCheck settled (processing → succeeded)", settling)
    process("the same alert again (no change)", settling)
    sandbox.advance(days=2)  # the R01 ones come back
    process("eCheck returned R01 (succeeded → returned)", returning)

    # Splash calls per poll as the changes grow: txns made straight at Splash (not ours: fetched, then dropped).
    triggers = LocalTriggers()
    client = splash_client()
    triggers.poll()  # the cursor catches up with everything so far
    out["polls"] = []
    for size in POLL_SIZES:
        sandbox.advance(seconds=3600)  # past the overlap window of the previous poll
        for n in range(size):
            body = TxnRequest(merchant=merchant, type=TxnType.CARD_SALE, total=1000 + n, token=card_token)
            client.txn(body, request_token=new_id("pay"))
        sandbox.advance(seconds=1)
        started = time.perf_counter()
        report = triggers.poll()
        out["polls"].append(
            {
                "changed": report["changed"],
                "splash_calls": report["splash_calls"],
                # + 1: the merchant watch's one chunk (⌈watched merchants/100⌉; the bench has one practice)
                "target": math.ceil(report["changed"] / 100) + 1 + 1,
                "ms": (time.perf_counter() - started) * 1000,
            }
        )
    return out


def render(figures: dict[str, Any]) -> list[str]:
    lines = [
        "## Status sync (issue #5)",
        "",
        "Per processed alert, in a warm alert processor (SQS event in, Splash GETs and DynamoDB calls out):",
        "",
        "| alert | AWS calls (by service:operation) | Splash calls | p50 ms |",
        "|---|---|---|---|",
    ]
    for a in figures["alerts"]:
        aws = ", ".join(f"{k} {v:g}" for k, v in a["aws"].items())
        lines.append(f"| {a['alert']} | {aws} | {a['splash']:g} | {a['p50']:.1f} |")
    worst_aws = max(sum(a["aws"].values()) for a in figures["alerts"])
    settle = figures["alerts"][0]
    lines += [
        "",
        "Splash calls per status poll as the changed txns grow (target ⌈changes/100⌉ + 1, plus the merchant watch's "
        "⌈merchants/100⌉ = 1 here):",
        "",
        "| changed txns | Splash calls | target | met | wall ms |",
        "|---|---|---|---|---|",
    ]
    for p in figures["polls"]:
        met = "yes" if p["splash_calls"] <= p["target"] else "no"
        lines.append(f"| {p['changed']} | {p['splash_calls']} | {p['target']} | {met} | {p['ms']:.0f} |")
    lines += [
        "",
        f"AWS calls per processed alert: at most {worst_aws:g} (target at most 3 plus 1 Splash GET; a settlement "
        f"takes {sum(settle['aws'].values()):g} AWS calls and {settle['splash']:g} Splash GET; a return adds one "
        "Splash GET for its R-code).",
        "",
    ]
    return lines
