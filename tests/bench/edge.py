"""The strict JSON reader's cost for `make bench` (issue #14): practicepay.api.body.parse (UTF-8, duplicate keys,
depth, NaN, long numbers, surrogates) against plain json.loads on the same bodies, side by side in one process, so
the ratio holds on a noisy machine. Bodies: an invoice with two lines (the common request) and one of 100 lines
near the 256 KB limit. Alone: `BENCH_ONLY=edge make bench` (printed; BENCHMARKS.md is left alone)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

ROUNDS = 7


def _bodies() -> dict[str, bytes]:
    line = {"description": "Office visit, established patient", "cpt_code": "99213", "quantity": 1, "unit_amount": 125}
    small = {"patient_id": "ehr-1001", "due_date": "2026-12-31", "line_items": [line, {**line, "cpt_code": "80053"}]}
    big_line = {**line, "description": "x" * 2_400}
    large = {"patient_id": "ehr-1001", "due_date": "2026-12-31", "line_items": [big_line] * 100}
    return {"invoice, 2 lines": json.dumps(small).encode(), "invoice, 100 lines": json.dumps(large).encode()}


def _best_us(fn: Callable[[bytes], Any], raw: bytes, loops: int) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(loops):
            fn(raw)
        best = min(best, (time.perf_counter() - started) / loops)
    return best * 1e6


def measure() -> dict[str, Any]:
    from practicepay.api.body import parse

    rows = []
    for name, raw in _bodies().items():
        loops = max(5, 200_000 // len(raw))
        plain = _best_us(json.loads, raw, loops)
        strict = _best_us(parse, raw, loops)
        rows.append({"body": name, "bytes": len(raw), "json_us": plain, "strict_us": strict})
    return {"rows": rows}


def render(figures: dict[str, Any]) -> list[str]:
    lines = [
        "## The strict JSON reader (issue #14)",
        "",
        "Every body is read by `practicepay.api.body.parse` before a route runs (UTF-8, no duplicate keys, depth 32, "
        "no NaN or 4,300-digit numbers, no lone surrogates). Best of 7 rounds, in one process, against `json.loads` "
        "of the same bytes:",
        "",
        "| body | bytes | json.loads µs | strict reader µs | ratio |",
        "|---|---|---|---|---|",
    ]
    for r in figures["rows"]:
        ratio = r["strict_us"] / r["json_us"]
        lines.append(f"| {r['body']} | {r['bytes']:,} | {r['json_us']:.1f} | {r['strict_us']:.1f} | {ratio:.2f}× |")
    return [*lines, ""]


def main() -> int:
    print("\n".join(render(measure())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
