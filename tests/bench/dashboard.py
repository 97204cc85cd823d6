"""The staff dashboard's cost per screen for `make bench` (issue #20): patient search through the blind index and
the screens staff open most (Today, a patient, an invoice, the reports, the audit trail), side by side in two
practices of BENCH_DASHBOARD_SMALL and BENCH_DASHBOARD_N patients, so the ratio shows what grows with the practice.
Alone: `BENCH_ONLY=dashboard make bench` (printed; BENCHMARKS.md is left alone).

Each practice's patients are made through the API (their names drawn from 50 common surnames and 40 given names,
one seeded draw), plus one patient whose name and date of birth no other has, with a card on file and two issued
invoices, one paid. Both practices are made before either is measured. Staff sign in through the development
sign-in (admin, so every screen is allowed); each screen is timed over BENCH_DASHBOARD_RUNS runs after one warm-up,
in process (the local front through werkzeug's test Client, the handler in this process, DynamoDB and KMS on moto
over HTTP): what our code and moto cost, not a network. AWS calls are the dashboard function's, by
service:operation at the botocore client (every page writes its audit entry: one PutItem or a TransactWriteItems)."""

from __future__ import annotations

import collections
import json
import os
import random
import re
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

SMALL = int(os.environ.get("BENCH_DASHBOARD_SMALL", "100"))
LARGE = int(os.environ.get("BENCH_DASHBOARD_N", "2000"))
RUNS = int(os.environ.get("BENCH_DASHBOARD_RUNS", "10"))
ORIGIN = "http://localhost"  # werkzeug's test Client asks for Host localhost: the dashboard's same-origin check
FIRST, LAST, DOB = "Rosalind", "Quennell", "1971-06-02"
_SURNAMES = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson "
    "Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis Robinson "
    "Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell "
    "Mitchell Carter Roberts"
)
_GIVEN = (
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard Susan Joseph "
    "Jessica Thomas Sarah Charles Karen Maria Daniel Nancy Matthew Lisa Anthony Betty Mark Sandra Donald Ashley "
    "Steven Kimberly Paul Emily Andrew Donna Joshua Michelle Kenneth"
)
SURNAMES, GIVEN = tuple(_SURNAMES.split()), tuple(_GIVEN.split())  # 50 of the commonest US surnames, 40 given names
_PATIENT_LINK = re.compile(r'href="[^"]*/dashboard/patients/([^"/?]+)"')
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}
CONSENT = {"text_version": "v1", "accepted_at": "2026-12-01T10:00:00Z", "captured_by": "bench", "channel": "in_person"}


def _screens(world: dict[str, str]) -> list[tuple[str, str, dict[str, str]]]:
    """(name, path, query) of each screen measured, for the practice's `world`."""
    return [
        ("Today (payments by channel, the attention queue)", "/dashboard", {}),
        ("search: a last name (one patient)", "/dashboard/patients", {"q": LAST}),
        ("search: given and last name", "/dashboard/patients", {"q": f"{FIRST} {LAST}"}),
        ("search: a common surname", "/dashboard/patients", {"q": "Garcia"}),
        ("search: a three-letter prefix (Gar…)", "/dashboard/patients", {"q": "gar"}),
        ("search: date of birth", "/dashboard/patients", {"dob": DOB}),
        ("search: the platform's id", "/dashboard/patients", {"external_id": world["external_id"]}),
        ("a patient's page", f"/dashboard/patients/{world['patient_id']}", {}),
        ("an invoice's page", f"/dashboard/invoices/{world['invoice_id']}", {}),
        ("reports (aging chart and table)", "/dashboard/reports", {}),
        ("audit trail", "/dashboard/audit", {}),
    ]


def _populate(client: Any, bearer: str, size: int, seed: int) -> dict[str, str]:
    """`size` patients through the API (one of them the measured patient, with a card and two invoices, one paid)."""
    headers = {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"}

    def api(method: str, path: str, body: dict[str, Any], status: int) -> dict[str, Any]:
        resp = client.open(
            path, method=method, headers={**headers, "Idempotency-Key": uuid.uuid4().hex}, data=json.dumps(body)
        )
        assert resp.status_code == status, (path, resp.status_code, resp.get_data(as_text=True)[:400])
        return resp.get_json()

    draw = random.Random(seed)
    for n in range(size - 1):
        dob = f"{draw.randint(1940, 2015)}-{draw.randint(1, 12):02d}-{draw.randint(1, 28):02d}"
        patient = {"first_name": draw.choice(GIVEN), "last_name": draw.choice(SURNAMES), "date_of_birth": dob}
        api("POST", "/patients", {**patient, "external_id": f"ehr-bench-{seed}-{n}"}, 201)
    external = f"ehr-bench-{seed}-measured"
    patient = api(
        "POST",
        "/patients",
        {"external_id": external, "first_name": FIRST, "last_name": LAST, "date_of_birth": DOB},
        201,
    )["id"]
    card = api("POST", f"/patients/{patient}/payment-methods", {"card": CARD, "consent": CONSENT}, 201)["id"]
    invoices = []
    for amount in (15000, 4200):
        lines = [{"description": "Office visit", "quantity": 1, "unit_amount": amount}]
        made = api("POST", "/invoices", {"patient_id": patient, "due_date": "2027-01-04", "line_items": lines}, 201)
        invoices.append(api("POST", f"/invoices/{made['id']}/issue", {}, 200)["id"])
    api("POST", f"/invoices/{invoices[0]}/payments", {"payment_method_id": card}, 201)
    return {"patient_id": patient, "external_id": external, "invoice_id": invoices[0]}


def _sign_in(client: Any, practice: str) -> str:
    """The development sign-in as the practice's admin: the `pp_staff` cookie's value."""
    resp = client.open(
        "/dashboard/signin",
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": ORIGIN},
        data=urlencode({"practice_id": practice, "role": "admin", "name": "Bench Admin"}),
    )
    assert resp.status_code == 303, resp.get_data(as_text=True)[:400]
    for raw in resp.headers.getlist("Set-Cookie"):
        name, _, rest = raw.partition("=")
        if name == "pp_staff":
            return rest.split(";", 1)[0]
    raise AssertionError("no pp_staff cookie")


def _measure(client: Any, cookie: str, world: dict[str, str], take: Callable[[], Any]) -> list[dict[str, Any]]:
    rows = []
    for name, path, query in _screens(world):

        def get(path: str = path, query: dict[str, str] = query) -> Any:
            return client.open(path, query_string=query, headers={"Cookie": f"pp_staff={cookie}"})

        warm = get()
        assert warm.status_code == 200, (name, warm.status_code, warm.get_data(as_text=True)[:400])
        page = warm.get_data(as_text=True)
        found = len(set(_PATIENT_LINK.findall(page))) if path == "/dashboard/patients" else None
        times: list[float] = []
        calls: collections.Counter[str] = collections.Counter()
        for _ in range(RUNS):
            take()
            started = time.perf_counter()
            resp = get()
            times.append((time.perf_counter() - started) * 1000)
            calls.update(take())
            assert resp.status_code == 200, (name, resp.status_code)
        times.sort()
        rows.append(
            {
                "screen": name,
                "found": found,
                "p50": statistics.median(times),
                "p90": times[int(0.9 * (len(times) - 1))],
                "aws": {k.split(" ", 1)[1]: v / RUNS for k, v in sorted(calls.items()) if k.startswith("dashboard ")},
                "other": sum(v for k, v in calls.items() if not k.startswith("dashboard ")),
            }
        )
    return rows


def measure_dashboard() -> dict[str, Any]:
    from werkzeug.test import Client

    from local.front import LocalApiGateway
    from practicepay.auth.tokens import issue_hs256
    from tests.bench.money import SECRET
    from tests.bench.paypage import _counting
    from tests.standalone import board, standalone_stack

    figures: dict[str, Any] = {"sizes": {}, "rows": {}}
    with standalone_stack(SECRET) as stack:
        client = Client(LocalApiGateway(), use_cookies=False)  # the Secure cookie is carried by hand
        worlds = {}
        for seed, size in enumerate((SMALL, LARGE)):  # both made first: each is measured in the same tables
            practice = f"prc_bench_dash_{size}"
            board(stack, practice, f"Bench Dashboard Practice {size}")
            started = time.perf_counter()
            worlds[size] = (practice, _populate(client, issue_hs256(SECRET, practice), size, seed))
            figures["sizes"][size] = time.perf_counter() - started
        for size, (practice, world) in worlds.items():
            with _counting() as take:
                figures["rows"][size] = _measure(client, _sign_in(client, practice), world, take)
        figures["floor"] = _empty_query_ms(stack.env["PATIENTS_TABLE"])
    return figures


def _empty_query_ms(table_name: str) -> float:
    """The median time of one Query of a partition that holds nothing, on the patients table as the screens left it:
    moto's own floor per Query (it walks every item of the table to answer one; DynamoDB reads the key range)."""
    import boto3
    from boto3.dynamodb.conditions import Key

    table = boto3.resource("dynamodb").Table(table_name)
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        table.query(KeyConditionExpression=Key("pk").eq("PRACTICE#prc_bench_nobody"))
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _calls(counts: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in counts.items()) or "—"


def render(figures: dict[str, Any]) -> list[str]:
    small, large = sorted(figures["rows"])
    lines = [
        "## The staff dashboard (issue #20)",
        "",
        f"Two practices side by side, of {small:,} and {large:,} patients (made through the API in "
        f"{figures['sizes'][small]:.0f} s and {figures['sizes'][large]:.0f} s: each patient's blind-index terms are "
        f"written in its own transaction), each screen over {RUNS} runs after one warm-up, signed in as the practice's "
        "admin, through the local front in process: wall times are our code and moto on the same cores, not a network. "
        "AWS calls are the dashboard function's per screen, by service:operation at the botocore client (a "
        "TransactWriteItems is one call; each screen's audit entry is one of them); calls by other functions: "
        f"{sum(r['other'] for rows in figures['rows'].values() for r in rows)}. `found` is the patients listed. Both "
        "practices are made before either is measured, so both read the same tables; their ratio is what grows with "
        "the practice. The wall times are mostly moto's: it answers a Query by walking every item of the table "
        "(moto/dynamodb/models/table.py, `for item in self.all_items()`), where DynamoDB reads only the key range; "
        f"one Query of an empty partition of the patients table took {figures['floor']:.1f} ms here. What to carry "
        "to AWS is the calls, which do not grow with the practice.",
        "",
        f"| screen | found ({small:,} / {large:,}) | p50 ms ({small:,}) | p50 ms ({large:,}) | ratio | p90 ms "
        f"({large:,}) | AWS calls ({small:,}) | AWS calls ({large:,}) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for a, b in zip(figures["rows"][small], figures["rows"][large], strict=True):
        found = "—" if a["found"] is None else f"{a['found']} / {b['found']}"
        lines.append(
            f"| {a['screen']} | {found} | {a['p50']:.1f} | {b['p50']:.1f} | {b['p50'] / a['p50']:.2f}× | "
            f"{b['p90']:.1f} | {_calls(a['aws'])} | {_calls(b['aws'])} |"
        )
    lines.append("")
    return lines


def main() -> int:
    print("\n".join(render(measure_dashboard())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
