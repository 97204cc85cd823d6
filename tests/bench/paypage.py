"""The pay page's cost per screen for `make bench` (issue #17): one patient's visit (the link's first screen, a wrong
identity answer, the right one, the bill, a card payment, its receipt, the same payment posted again) over
BENCH_PAYPAGE_N visits, each a new patient with a new invoice and link, after one warm-up visit. Wall times are
in-process (the local front through werkzeug's test Client, the handler in this process, DynamoDB and KMS on moto,
Splash on the sandbox over HTTP on the same cores): what our code, moto and the sandbox cost, not a network.

AWS calls are counted per API call at the botocore client, keyed by the function running (local.calls'
CURRENT_FUNCTION, which the front sets: CallLog itself keeps a set of (function, action, resource), not counts);
a TransactWriteItems is one call. Splash requests come from the sandbox's request log, by method and path (ids
as {id}); the PayFields tokenize the browser's frames make between the bill and the payment is not a screen's.
Also, side by side in one process: the Jinja2 render of the bill screen against `json.dumps` of the same context's
data. Alone: `BENCH_ONLY=paypage make bench` (printed; BENCHMARKS.md is left alone)."""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import os
import re
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

PRACTICE = "prc_bench_pay"
VISITS = int(os.environ.get("BENCH_PAYPAGE_N", "20"))
ROUNDS = 7
DOB = "1984-03-09"
ORIGIN = "http://localhost"  # werkzeug's test Client asks for Host localhost: the pay page's same-origin check
FORM = "application/x-www-form-urlencoded"
SCREENS = (
    ("first screen", "GET /pay/{secret}", 200),
    ("wrong identity answer", "POST …/identity", 422),
    ("right identity answer", "POST …/identity", 303),
    ("bill", "GET /pay/{secret}", 200),
    ("card payment", "POST …/payments", 303),
    ("receipt", "GET …/receipts/{id}", 200),
    ("the same payment again (replay)", "POST …/payments", 303),
)
STAFF = ("staff: create the pay link", "POST /invoices/{id}/pay-links", 201)
_ID = re.compile(r"^(t1_[a-z]{2,4}_[0-9a-zA-Z]+|[0-9a-f]{16,})$")


@contextmanager
def _counting() -> Iterator[Callable[[], collections.Counter[str]]]:
    """Every AWS API call while a function runs, as "function service:Operation" (restored on exit)."""
    import botocore.client

    from local.calls import CURRENT_FUNCTION

    calls: collections.Counter[str] = collections.Counter()
    original = botocore.client.BaseClient._make_api_call

    def counting(client: Any, operation: str, params: dict[str, Any]) -> Any:
        function = CURRENT_FUNCTION.get()
        if function is not None:
            calls[f"{function} {client.meta.service_model.service_name}:{operation}"] += 1
        return original(client, operation, params)

    def take() -> collections.Counter[str]:
        out = collections.Counter(calls)
        calls.clear()
        return out

    botocore.client.BaseClient._make_api_call = counting
    try:
        yield take
    finally:
        botocore.client.BaseClient._make_api_call = original


def _splash_path(method: str, path: str) -> str:
    return method + " " + "/".join("{id}" if _ID.match(part) else part for part in path.split("/"))


def _fields(page: str) -> dict[str, str]:
    """The page's hidden inputs (the first of each name: the pay form comes before the plan form)."""
    import html

    found: dict[str, str] = {}
    for name, value in re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', page):
        found.setdefault(name, html.unescape(value))
    return found


def _payfields_config(page: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="payfields-config">(.*?)</script>', page, re.S)
    assert found, "no payfields-config on the bill"
    return json.loads(found.group(1))


def _tokenize(config: dict[str, Any]) -> str:
    """What the PayFields frames do on submit (local/sandbox/payfields_frame.js): POST /payFields/tokenize at the
    PayFields origin with the page's public key and txnSession key, for its merchant and customer."""
    cfg = config["config"]
    body = {
        "merchant": cfg["merchant"],
        "customer": cfg["customer"],
        "payment": {"number": "4242424242424242", "cvv": "123"},
        "expiration": "1230",
    }
    headers = {"APIKEY": cfg["apiKey"], "TXNSESSIONKEY": cfg["txnSessionKey"]}
    resp = requests.post(config["origin"] + "/payFields/tokenize", json=body, headers=headers, timeout=10)
    answer = resp.json()["response"]
    assert resp.status_code == 200 and not answer["errors"], answer
    return answer["data"][0]["token"]


class _Recorder:
    """Per screen: wall times, AWS calls and Splash requests, summed over the measured visits."""

    def __init__(self, sandbox: Any, take_calls: Callable[[], collections.Counter[str]]) -> None:
        self.sandbox = sandbox
        self.take_calls = take_calls
        self.on = False
        self.times: dict[str, list[float]] = collections.defaultdict(list)
        self.aws: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        self.splash: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)

    def __call__(self, name: str, status: int, send: Callable[[], Any]) -> Any:
        logged = len(self.sandbox.requests)  # a copy of the log: taken outside the timed part
        self.take_calls()
        started = time.perf_counter()
        resp = send()
        elapsed = (time.perf_counter() - started) * 1000
        calls = self.take_calls()
        sent = self.sandbox.requests[logged:]
        assert resp.status_code == status, (name, resp.status_code, resp.get_data(as_text=True)[:500])
        if self.on:
            self.times[name].append(elapsed)
            self.aws[name].update(calls)
            self.splash[name].update(_splash_path(r["method"], r["path"]) for r in sent)
        return resp


def _visit(client: Any, staff: dict[str, str], record: _Recorder, n: int) -> None:
    """One patient: staff make the patient, an issued invoice and its link; the patient goes screen by screen."""

    def api(method: str, path: str, body: dict[str, Any]) -> Any:
        headers = {**staff, "Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex}
        return client.open(path, method=method, headers=headers, data=json.dumps(body))

    def ok(resp: Any) -> dict[str, Any]:
        assert resp.status_code < 300, resp.get_data(as_text=True)[:500]
        return resp.get_json()

    patient = ok(
        api(
            "POST",
            "/patients",
            {
                "external_id": f"ehr-pay-{uuid.uuid4().hex[:10]}",
                "first_name": "Bench",
                "last_name": "Payer",
                "date_of_birth": DOB,
            },
        )
    )["id"]
    lines = [{"description": "Office visit", "unit_amount": 18000}, {"description": "Lab panel", "unit_amount": 3500}]
    invoice = ok(api("POST", "/invoices", {"patient_id": patient, "due_date": "2027-01-04", "line_items": lines}))["id"]
    ok(api("POST", f"/invoices/{invoice}/issue", {}))
    made = record(STAFF[0], STAFF[2], lambda: api("POST", f"/invoices/{invoice}/pay-links", {})).get_json()
    path = "/pay/" + made["url"].rsplit("/pay/", 1)[1]
    address = f"127.{n // 250 % 250}.{n % 250 + 2}.9"  # one address per patient: wrong answers count per address
    cookie: dict[str, str] = {}

    def send(method: str, target: str, form: dict[str, str] | None = None) -> Any:
        headers = {"Cookie": f"pp_session={cookie['value']}"} if cookie else {}
        if form is not None:
            headers.update({"Content-Type": FORM, "Origin": ORIGIN})
        resp = client.open(
            target,
            method=method,
            headers=headers,
            data=urlencode(form) if form is not None else None,
            environ_base={"REMOTE_ADDR": address},
        )
        for raw in resp.headers.getlist("Set-Cookie"):
            name, _, rest = raw.partition("=")
            if name == "pp_session":
                cookie["value"] = rest.split(";", 1)[0]
        return resp

    first = record("first screen", 200, lambda: send("GET", path))
    csrf = _fields(first.get_data(as_text=True))["csrf"]
    answer = {"csrf": csrf, "lang": "en", "dob_month": "03", "dob_day": "09"}
    record("wrong identity answer", 422, lambda: send("POST", path + "/identity", {**answer, "dob_year": "1985"}))
    record("right identity answer", 303, lambda: send("POST", path + "/identity", {**answer, "dob_year": "1984"}))
    bill = record("bill", 200, lambda: send("GET", path + "?lang=en")).get_data(as_text=True)
    hidden = _fields(bill)
    token = _tokenize(_payfields_config(bill))
    form = {k: hidden[k] for k in ("csrf", "lang", "submit_id", "started")}
    form.update(method="card", amount_choice="full", token=token)
    paid = record("card payment", 303, lambda: send("POST", path + "/payments", form))
    location = paid.headers["Location"]
    record("receipt", 200, lambda: send("GET", location))
    again = record("the same payment again (replay)", 303, lambda: send("POST", path + "/payments", form))
    assert again.headers["Location"] == location


def _plain(value: Any) -> Any:
    """The context's data as JSON would carry it: records as their fields (sealed blobs left out: the bill shows
    the opened lines), dates as ISO strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value) if not f.name.endswith("_sealed")
        }
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def _best_us(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    loops = max(5, int(0.05 / max(time.perf_counter() - started, 1e-7)))  # about 50 ms a round
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(loops):
            fn()
        best = min(best, (time.perf_counter() - started) / loops)
    return best * 1e6


def _summary(record: _Recorder, name: str, route: str, runs: int) -> dict[str, Any]:
    times = sorted(record.times[name])
    return {
        "screen": name,
        "route": route,
        "p50": statistics.median(times),
        "p90": times[int(0.9 * (len(times) - 1))],
        "aws": {k: v / runs for k, v in sorted(record.aws[name].items())},
        "splash": {k: v / runs for k, v in sorted(record.splash[name].items())},
    }


def measure_paypage(*, env: dict[str, str], front: Any, sandbox: Any, token: Callable[[str], str]) -> dict[str, Any]:
    """The visits, in the given stack (the local front app, its sandbox and resources), then the render figures."""
    from werkzeug.test import Client

    from infra.definitions import PRACTICES_TABLE
    from local.front import load_handler
    from local.seed import seed_practice
    from practicepay.practices import PracticeStore
    from practicepay.splash.wiring import splash_client

    seed_practice(
        PRACTICE, "Bench Pay Page Practice", splash_client(), sandbox, PracticeStore(env[PRACTICES_TABLE.env_var])
    )
    # The log is read whole (a copy) around each screen: started empty here, it stays small (in the full run, the
    # sections before this one leave thousands of requests in it, and none after reads it).
    host = urlsplit(splash_client().base_url)
    requests.delete(f"{host.scheme}://{host.netloc}/_sandbox/requests", timeout=10).raise_for_status()
    client = Client(front, use_cookies=False)  # the pay page's cookie is carried by hand, as a browser would
    staff = {"Authorization": f"Bearer {token(PRACTICE)}"}
    renderer = load_handler("paypage").RENDERER
    rendered: list[tuple[dict[str, Any], str]] = []
    real_render = renderer.render

    def capturing(screen: str, context: dict[str, Any], prefix: str) -> str:
        if screen == "bill":
            rendered.append((context, prefix))
        return real_render(screen, context, prefix)

    with _counting() as take_calls:
        record = _Recorder(sandbox, take_calls)
        renderer.render = capturing  # the warm-up visit's bill context, for the render figures
        try:
            _visit(client, staff, record, 0)  # warm: imports, secrets, data keys, the practice's caches
        finally:
            del renderer.render
        record.on = True
        for n in range(1, VISITS + 1):
            _visit(client, staff, record, n)
    rows = [_summary(record, name, route, VISITS) for name, route, _ in (STAFF, *SCREENS)]

    context, prefix = rendered[-1]
    data = _plain(context)
    html = real_render("bill", context, prefix)
    dumped = json.dumps(data)
    jinja_us = _best_us(lambda: real_render("bill", context, prefix))
    json_us = _best_us(lambda: json.dumps(data))
    render = {
        "jinja_us": jinja_us,
        "json_us": json_us,
        "html_bytes": len(html.encode()),
        "json_bytes": len(dumped.encode()),
        "lines": sum(len(b["lines"]) for b in context["bills"]),
    }
    return {"visits": VISITS, "rows": rows, "render": render}


def _calls(counts: dict[str, float]) -> str:
    """Counts keyed "function service:Operation" as a cell: the paypage function's calls bare, others' named."""
    parts = []
    for key, value in counts.items():
        function, call = key.split(" ", 1)
        parts.append(f"{call if function == 'paypage' else f'{function}: {call}'} {value:g}")
    return ", ".join(parts) or "—"


def render(figures: dict[str, Any]) -> list[str]:
    r = figures["render"]
    lines = [
        "## The pay page (issue #17)",
        "",
        f"One patient's visit, screen by screen, over {figures['visits']} visits after one warm-up (each a new "
        "patient, invoice and link: the bill is the patient's first, so it makes their Splash customer), through the "
        "local front in process: wall times are our code, moto and the sandbox on the same cores, not a network. AWS "
        "calls per screen by service:operation at the botocore client (the paypage function's, unless named; a "
        "TransactWriteItems is one call); Splash requests from the sandbox's log (the PayFields tokenize the "
        "browser makes before paying is not counted). Figures per visit.",
        "",
        "| screen | route | HTTP | p50 ms | p90 ms | AWS calls | Splash requests |",
        "|---|---|---|---|---|---|---|",
    ]
    statuses = {name: status for name, _, status in (STAFF, *SCREENS)}
    for row in figures["rows"]:
        aws = _calls(row["aws"])
        splash = ", ".join(f"{k} {v:g}" for k, v in row["splash"].items()) or "—"
        lines.append(
            f"| {row['screen']} | `{row['route']}` | {statuses[row['screen']]} | {row['p50']:.1f} | {row['p90']:.1f} "
            f"| {aws} | {splash} |"
        )
    lines += [
        "",
        f"The bill screen's render, best of {ROUNDS} rounds in one process ({r['lines']} lines): Jinja2 "
        f"{r['jinja_us']:.0f} µs ({r['html_bytes']:,} bytes of HTML) against `json.dumps` of the same context's "
        f"data {r['json_us']:.1f} µs ({r['json_bytes']:,} bytes), {r['jinja_us'] / r['json_us']:.1f}×.",
        "",
    ]
    return lines


def main() -> int:
    """The section alone, in a stack of its own (as tests.bench.money builds it), printed."""
    import warnings

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    warnings.filterwarnings("ignore", message="No application metrics")
    warnings.filterwarnings("ignore", message="Couldn't determine the remaining time left")  # in-process handlers
    from local.aws import EmbeddedAws
    from local.run import local_environment

    moto = EmbeddedAws().start()
    os.environ.update(local_environment(moto.port))
    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    from local.bootstrap import create_resources
    from local.front import LocalApiGateway
    from local.sandbox.server import SandboxSettings, SplashSandbox
    from practicepay.auth.tokens import issue_hs256
    from tests.bench.money import SECRET
    from tests.helpers import free_port

    sandbox = SplashSandbox(SandboxSettings())
    splash = sandbox.serve("127.0.0.1", free_port())
    try:
        env = create_resources(SECRET, splash_host=f"http://127.0.0.1:{splash.port}")
        os.environ.update(env)
        figures = measure_paypage(
            env=env, front=LocalApiGateway(), sandbox=sandbox, token=lambda p: issue_hs256(SECRET, p)
        )
    finally:
        splash.shutdown()
        moto.stop()
    print("\n".join(render(figures)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
