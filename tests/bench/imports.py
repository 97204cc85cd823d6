"""Cold imports for `make bench` (issue #16 items 9-11). Alone: `BENCH_ONLY=imports make bench` (printed;
BENCHMARKS.md is left alone).

- Each handler's import in fresh processes (median of RUNS) against the stack's own floor, measured side by side
  in the same run: `import boto3` + pydantic + Powertools Logger, Metrics and a validating REST resolver. Target:
  every handler at most 1.2× the floor. Every module imported from bytecode, as from the layer (a cache prefix
  warmed once, so practicepay is not compiled on each run whatever PYTHONDONTWRITEBYTECODE says).
- Import + the first request, for a few handlers, in the same process: what a cold start that serves one request
  pays, so work moved from the import into the first request shows (the request is one that needs no AWS call: a
  422 body, a token refused, or building what the webhook's first request builds).
- Bytecode: the layer as Lambda sees it (a --target tree, /opt read-only) with and without the .pyc the bundler
  ships. The local CPython 3.11 imports handlers from a layer-like tree built for this machine, once with no
  bytecode (PYTHONDONTWRITEBYTECODE=1: every module compiled, as a cold start from a --no-compile layer) and once
  compiled; pyodide's CPython 3.14 (the bundler's compiler, infra/bundling.py) imports the layer's pure-Python
  part with and without its .pyc (BENCH_PYODIDE=0 skips it).
- Layer size with and without boto3/botocore (the Lambda runtime ships its own), unzipped and zipped."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from infra.definitions import FUNCTIONS

ROOT = Path(__file__).resolve().parents[2]
RUNS = int(os.environ.get("BENCH_IMPORT_RUNS", "5"))
TARGET = 1.2

TIMER = "import time; t = time.perf_counter(); {}; print((time.perf_counter() - t) * 1000)"
HANDLER = (
    "import importlib.util as u; s = u.spec_from_file_location('h', 'functions/{}/handler.py'); "
    "m = u.module_from_spec(s); s.loader.exec_module(m)"
)
BOTO3 = "import boto3"
FLOOR = (
    "import boto3, pydantic; from aws_lambda_powertools import Logger, Metrics; "
    "from aws_lambda_powertools.event_handler import APIGatewayRestResolver; "
    "APIGatewayRestResolver(enable_validation=True)"
)
# The handlers whose bytecode effect is shown (the busiest API function, the webhook, the charge worker).
BYTECODE_HANDLERS = ("payments", "webhook", "charger")
BOTO = ("boto3", "botocore", "s3transfer", "jmespath")


# First requests that need no AWS call: (handler, what the code after the import does). The API events are API
# Gateway REST proxy events as the local front builds them (local/front.py), with the authorizer's context.
_CONTEXT = (
    "types.SimpleNamespace(function_name='{0}', memory_limit_in_mb=512, aws_request_id='req-bench', "
    "invoked_function_arn='arn:aws:lambda:us-east-1:000000000000:function:{0}')"
)


def _api_event(method: str, resource: str, params: dict[str, str], body: dict[str, Any], key: bool) -> dict[str, Any]:
    path = resource
    for name, value in params.items():
        path = path.replace(f"{{{name}}}", value)
    headers = {"Content-Type": "application/json"} | ({"Idempotency-Key": "bench-key-0001"} if key else {})
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": params or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "bench",
            "resourceId": "bench",
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/v1{path}",
            "stage": "v1",
            "requestId": "req-bench",
            "identity": {"sourceIp": "127.0.0.1"},
            "authorizer": {"practice_id": "prc_bench", "subject": "bench", "scope": "", "principalId": "bench"},
        },
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def _invoke(name: str, event: dict[str, Any], status: int) -> str:
    return f"r = m.lambda_handler({event!r}, {_CONTEXT.format(name)}); assert r['statusCode'] == {status}, r"


_INVOICE = "inv_01m84eywr08n7awm9hd20x2p7d"
FIRST_REQUESTS: dict[str, tuple[str, str]] = {
    "payments: POST /invoices/{id}/payments, 422": (
        "payments",
        _invoke(
            "payments",
            _api_event("POST", "/invoices/{invoice_id}/payments", {"invoice_id": _INVOICE}, {"amount": "12"}, True),
            422,
        ),
    ),
    "patients: POST /patients, 422": (
        "patients",
        _invoke("patients", _api_event("POST", "/patients", {}, {"first_name": 7}, True), 422),
    ),
    "invoices: POST /invoices, 422": (
        "invoices",
        _invoke("invoices", _api_event("POST", "/invoices", {}, {"patient_id": 7}, True), 422),
    ),
    "authorizer: no token, refused": (
        "authorizer",
        "try:\n    m.lambda_handler({'type': 'REQUEST', 'methodArn': 'arn:aws:execute-api:us-east-1:000000000000:"
        "bench/v1/GET/payments', 'headers': {}}, " + _CONTEXT.format("authorizer") + ")\n"
        "except Exception as e:\n    assert str(e) == 'Unauthorized', e",
    ),
    "webhook: import + its intake built": ("webhook", "m.alert_intake()"),
    # The alert processor, the poll and the reconciler build the status sync on every invocation.
    "poll: import + the status sync built": ("poll", "m.status_sync()"),
}
# What those requests read from the environment (nothing is called: the endpoint is a closed local port).
FIRST_REQUEST_ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",  # noqa: S105 (not a secret)
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "POWERTOOLS_LOG_LEVEL": "ERROR",
    "JWT_SECRET_ID": "practicepay/bench",
    "SYNC_TABLE": "practicepay-sync",
    **{f"{t}_TABLE": f"practicepay-{t.lower()}" for t in ("PAYMENTS", "INVOICES", "PATIENTS", "PRACTICES", "EVENTS")},
    "ALERTS_QUEUE_URL": "http://127.0.0.1:9/000000000000/alerts",
    "SPLASH_CREDENTIALS": "secretsmanager:practicepay/bench",
}
FIRST = (
    "import time; t = time.perf_counter(); {}; i = (time.perf_counter() - t) * 1000; import types\n{}\n"
    "print(i, (time.perf_counter() - t) * 1000)"
)


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true", **extra}


def _once(code: str, env: dict[str, str], python: str = sys.executable, root: Path = ROOT) -> list[float]:
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True, env=env, cwd=root)
    return [float(x) for x in out.stdout.strip().splitlines()[-1].split()]


def _medians(
    codes: dict[str, str], env: dict[str, str], python: str = sys.executable, root: Path = ROOT
) -> dict[str, list[float]]:
    """Round-robin over the codes, RUNS rounds, so a noisy spell of the machine falls on all of them alike. Each
    code prints one or more figures; their medians, in order. A first round, not counted, writes the bytecode."""
    times: dict[str, list[list[float]]] = {name: [] for name in codes}
    for round_ in range(RUNS + 1):
        for name, code in codes.items():
            figures = _once(code, env, python, root)
            if round_:
                times[name].append(figures)
    return {name: [statistics.median(column) for column in zip(*rows, strict=True)] for name, rows in times.items()}


def _bytecode_env(prefix: str, root: Path, **extra: str) -> dict[str, str]:
    """Bytecode for every module, practicepay's included, in a cache prefix of its own (the tree stays clean);
    `root`'s practicepay first on the path (the bench of another checkout measures that checkout's)."""
    env = {k: v for k, v in _env(**extra).items() if k != "PYTHONDONTWRITEBYTECODE"}
    path = os.pathsep.join(p for p in (str(root / "shared"), env.get("PYTHONPATH", "")) if p)
    return env | {"PYTHONPYCACHEPREFIX": prefix, "PYTHONPATH": path}


def import_times(root: Path = ROOT) -> dict[str, float]:
    """`import boto3`, the floor and every handler, ms (median of RUNS fresh processes, interleaved)."""
    codes = {"import boto3": TIMER.format(BOTO3), "floor": TIMER.format(FLOOR)}
    codes |= {
        fn.name: TIMER.format(HANDLER.format(fn.name))
        for fn in FUNCTIONS
        if (root / "functions" / fn.name / "handler.py").exists()  # another checkout may not have them all
    }
    with tempfile.TemporaryDirectory() as prefix:
        return {name: ms for name, (ms,) in _medians(codes, _bytecode_env(prefix, root), root=root).items()}


def first_requests(root: Path = ROOT) -> dict[str, dict[str, float]]:
    """Import and import + first request (FIRST_REQUESTS) in one process each, ms (medians of RUNS)."""
    codes = {label: FIRST.format(HANDLER.format(fn), then) for label, (fn, then) in FIRST_REQUESTS.items()}
    with tempfile.TemporaryDirectory() as prefix:
        env = _bytecode_env(prefix, root, **FIRST_REQUEST_ENV)
        return {label: {"import": i, "first": f} for label, (i, f) in _medians(codes, env, root=root).items()}


def _without_bytecode(layer: Path, into: Path) -> Path:
    import shutil

    shutil.copytree(layer, into, ignore=shutil.ignore_patterns("__pycache__"))
    return into


def _local_layer(into: Path) -> Path:
    """A layer-like --target tree for this machine's Python (the layer's requirements, no bytecode) plus practicepay."""
    import shutil

    from infra.bundling import IGNORED, PACKAGE, REQUIREMENTS

    target = into / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile"]
        + ["--requirement", str(REQUIREMENTS), "--target", str(target), "--only-binary=:all:"],
        check=True,
        capture_output=True,
    )
    shutil.copytree(PACKAGE, target / "practicepay", ignore=IGNORED, dirs_exist_ok=True)
    return target


def bytecode_local(tmp: Path) -> dict[str, dict[str, float]]:
    """Handler imports from a layer-like tree on the local CPython, without and with bytecode, ms. `-S` and only the
    tree on the path: the venv's site-packages are out of sight, as on Lambda only /opt/python and the runtime's are
    there; the standard library keeps its own bytecode (the runtime's has it too)."""
    import compileall

    layer = _local_layer(tmp / "local")
    bare = _without_bytecode(layer, tmp / "local-bare" / "python")
    compileall.compile_dir(str(layer), quiet=1, workers=0)
    codes = {fn: TIMER.format(HANDLER.format(fn)) for fn in BYTECODE_HANDLERS} | {"import boto3": TIMER.format(BOTO3)}
    env = {k: v for k, v in _env().items() if k != "PYTHONPATH"} | {"PYTHONDONTWRITEBYTECODE": "1"}
    runs: dict[tuple[str, str], list[float]] = {}
    for _ in range(RUNS):
        for mode, tree in (("none", bare), ("compiled", layer)):
            for name, code in codes.items():
                timed = f"import sys; sys.path[:0] = [{str(tree)!r}]; {code}"
                out = subprocess.run(
                    [sys.executable, "-S", "-c", timed], capture_output=True, text=True, check=True, env=env, cwd=ROOT
                )
                runs.setdefault((name, mode), []).append(float(out.stdout.strip().splitlines()[-1]))
    return _pairs(runs, codes)


def _pairs(runs: dict[tuple[str, str], list[float]], names: dict[str, str]) -> dict[str, dict[str, float]]:
    return {name: {mode: statistics.median(runs[name, mode]) for mode in ("none", "compiled")} for name in names}


# pyodide's CPython 3.14 imports from the layer (NODEFS mount), timed inside the interpreter, no bytecode written.
_PYODIDE_IMPORT_JS = """
const { loadPyodide } = await import(process.env.PYODIDE_MJS);
const py = await loadPyodide({ stdout: () => {}, stderr: () => {} });
py.FS.mkdirTree("/layer");
py.FS.mount(py.FS.filesystems.NODEFS, { root: process.env.LAYER_DIR }, "/layer");
py.globals.set("code", process.env.CODE);
console.log(py.runPython(`
import sys, time
sys.dont_write_bytecode = True
sys.path.insert(0, "/layer")
t = time.perf_counter()
exec(code)
(time.perf_counter() - t) * 1000
`));
"""
# Pure Python in the layer (pyodide cannot load its aarch64 extension modules, which jwt reaches): the AWS SDK, HTTP.
PYODIDE_CODES = {"import boto3": "import boto3", "import boto3, requests": "import boto3, requests"}


def bytecode_pyodide(layer: Path, tmp: Path) -> dict[str, dict[str, float]]:
    """The bundled layer (compiled by pyodide, infra/bundling.py) imported by pyodide's CPython 3.14 with its .pyc
    and from a copy without them, ms (median of RUNS fresh interpreters)."""
    from infra.bundling import pyodide_dir

    bare = _without_bytecode(layer, tmp / "layer-bare" / "python")
    mjs = (pyodide_dir() / "pyodide.mjs").as_uri()
    runs: dict[tuple[str, str], list[float]] = {}
    for _ in range(RUNS):
        for mode, tree in (("none", bare), ("compiled", layer)):
            for name, code in PYODIDE_CODES.items():
                env = {**os.environ, "PYODIDE_MJS": mjs, "LAYER_DIR": str(tree), "CODE": code}
                out = subprocess.run(
                    ["node", "--input-type=module", "-e", _PYODIDE_IMPORT_JS],
                    capture_output=True,
                    text=True,
                    check=True,
                    env=env,
                )
                runs.setdefault((name, mode), []).append(float(out.stdout.strip().splitlines()[-1]))
    return _pairs(runs, PYODIDE_CODES)


def layer_sizes(layer: Path) -> dict[str, int]:
    """The layer's bytes unzipped and zipped (deflate, as the CDK asset), whole and without boto3/botocore/s3transfer
    (jmespath stays: Powertools needs it)."""

    def files(skip: tuple[str, ...]) -> list[Path]:
        out = []
        for path in sorted(layer.rglob("*")):
            top = path.relative_to(layer).parts[0]
            if path.is_file() and not any(top == name or top.startswith(f"{name}-") for name in skip):
                out.append(path)
        return out

    def zipped(paths: list[Path]) -> int:
        with tempfile.TemporaryFile() as raw:
            with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
                for path in paths:
                    zf.write(path, path.relative_to(layer.parent))
            return raw.tell()

    whole, without = files(()), files(BOTO)
    return {
        "unzipped": sum(p.stat().st_size for p in whole),
        "zipped": zipped(whole),
        "unzipped_without_boto": sum(p.stat().st_size for p in without),
        "zipped_without_boto": zipped(without),
        "pyc": sum(p.stat().st_size for p in whole if p.suffix == ".pyc"),
    }


def measure() -> dict[str, Any]:
    """Every figure of the section: handler imports against the floor, bytecode (local and pyodide), layer size."""
    import time

    from infra.bundling import build_layer, compile_tree

    out: dict[str, Any] = {"imports": import_times(), "first": first_requests()}
    with tempfile.TemporaryDirectory() as raw:
        tmp = Path(raw)
        started = time.perf_counter()
        build_layer(tmp / "layer")
        out["build_s"] = time.perf_counter() - started
        layer = tmp / "layer" / "python"
        bare = _without_bytecode(layer, tmp / "recompile" / "python")
        started = time.perf_counter()
        compile_tree(bare)
        out["compile_s"] = time.perf_counter() - started
        out["sizes"] = layer_sizes(layer)
        out["local"] = bytecode_local(tmp)
        if os.environ.get("BENCH_PYODIDE", "1") != "0":
            out["pyodide"] = bytecode_pyodide(layer, tmp)
    return out


def render(figures: dict[str, Any]) -> list[str]:
    imports = figures["imports"]
    boto3_ms, floor = imports["import boto3"], imports["floor"]
    handlers = {k: v for k, v in imports.items() if k not in ("import boto3", "floor")}
    worst_name = max(handlers, key=handlers.__getitem__)
    worst = handlers[worst_name] / floor
    sizes = figures["sizes"]

    def mb(n: int) -> str:
        return f"{n / 1e6:.1f} MB"

    lines = [
        "## Cold starts (issue #16 items 9-11)",
        "",
        f"Imports in fresh processes, median of {RUNS}, side by side in one run (ms; handlers imported as Lambda "
        "does, from functions/NAME/handler.py, on this machine's Python with bytecode). The floor is the stack's own: "
        "`import boto3` + pydantic + Powertools Logger, Metrics and a validating REST resolver "
        f"({floor:.0f} ms, {floor / boto3_ms:.2f}× `import boto3` at {boto3_ms:.0f} ms).",
        "",
        "| handler | import ms | / floor | / `import boto3` |",
        "|---|---|---|---|",
    ]
    for name, ms in handlers.items():
        lines.append(f"| {name} | {ms:.0f} | {ms / floor:.2f}× | {ms / boto3_ms:.2f}× |")
    lines += [
        "",
        f"Slowest handler import / floor: {worst:.2f}× ({worst_name}); target at most {TARGET}×: "
        f"{'met' if worst <= TARGET else 'missed'}.",
        "",
        "Import and the first request in one fresh process (median of "
        f"{RUNS}, ms), so cost moved out of the import into the first request shows here: requests that need no AWS "
        "call (a 422 body, a refused token), or what the first invocation builds before its first AWS call. The "
        "alert processor, the poll and the reconciler build the status sync on every invocation (poll here), so "
        "for them what the import no longer takes the first invocation does:",
        "",
        "| first request | import ms | import + first request ms | first request ms |",
        "|---|---|---|---|",
    ]
    for label, pair in figures["first"].items():
        lines.append(f"| {label} | {pair['import']:.0f} | {pair['first']:.0f} | {pair['first'] - pair['import']:.0f} |")
    lines += [
        "",
        "Bytecode (ADR 0013): the layer ships CPython 3.14 .pyc made at bundle time by pyodide's CPython 3.14 "
        f"(build_layer {figures['build_s']:.0f} s in all, of which compiling the whole layer under pyodide "
        f"{figures['compile_s']:.0f} s; only when layer_hash changes). Lambda's /opt is read-only, so without them "
        "every cold start compiles every module it imports. Emulated, since no 3.14 arm64 runs here: this machine's "
        f"Python {sys.version.split()[0]} importing from a layer-like tree (`-S`, only the tree on the path, "
        "PYTHONDONTWRITEBYTECODE=1) without and with bytecode, and pyodide's CPython 3.14 importing the bundled "
        "layer's pure-Python part (its aarch64 extensions cannot load there) from a copy without the .pyc and with "
        "them:",
        "",
        "| interpreter | import | no bytecode ms | bytecode ms | ratio |",
        "|---|---|---|---|---|",
    ]
    for source, label in (("local", f"CPython {sys.version.split()[0]}"), ("pyodide", "pyodide CPython 3.14")):
        for name, pair in figures.get(source, {}).items():
            lines.append(
                f"| {label} | {name} | {pair['none']:.0f} | {pair['compiled']:.0f} | "
                f"{pair['none'] / pair['compiled']:.2f}× |"
            )
    lines += [
        "",
        "Layer size (the bundled layer, its files' bytes; zipped with deflate as the CDK asset is):",
        "",
        "| layer | unzipped | zipped |",
        "|---|---|---|",
        f"| as shipped (with boto3/botocore/s3transfer, with .pyc) | {mb(sizes['unzipped'])} | {mb(sizes['zipped'])} |",
        f"| without boto3/botocore/s3transfer (the runtime's instead) | {mb(sizes['unzipped_without_boto'])} | "
        f"{mb(sizes['zipped_without_boto'])} |",
        f"| of which .pyc (as shipped) | {mb(sizes['pyc'])} | — |",
        "",
        "The pin stays (ADR 0013): the runtime's boto3 would save the size above but not import time (the same "
        "code, imported once per cold start either way), and it would let the SDK under the functions drift from "
        "the one the tests ran.",
        "",
    ]
    return lines


def main() -> int:
    print("\n".join(render(measure())))
    return 0
