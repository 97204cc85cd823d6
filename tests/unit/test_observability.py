"""Cold start and the opt-in X-Ray SDK: by default no handler loads it; detailed tracing turns the Powertools
Tracer on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
LOADED = (
    "import importlib.util as u, sys; s = u.spec_from_file_location('h', 'functions/{}/handler.py'); "
    "m = u.module_from_spec(s); s.loader.exec_module(m); print('aws_xray_sdk.core' in sys.modules)"
)


def _xray_loaded(function: str, **env: str) -> bool:
    environ = {k: v for k, v in os.environ.items() if k != "PRACTICEPAY_DETAILED_TRACING"}
    environ.update(POWERTOOLS_TRACE_DISABLED="true", **env)
    out = subprocess.run(
        [sys.executable, "-c", LOADED.format(function)],
        capture_output=True,
        text=True,
        check=True,
        env=environ,
        cwd=ROOT,
    )
    return out.stdout.strip().splitlines()[-1] == "True"


@pytest.mark.parametrize("function", ["authorizer", "invoices", "patients", "payments"])
def test_handlers_do_not_load_the_xray_sdk_by_default(function):
    assert not _xray_loaded(function)


def test_detailed_tracing_wraps_the_handler_in_the_powertools_tracer():
    assert _xray_loaded("invoices", PRACTICEPAY_DETAILED_TRACING="true")


def test_with_metrics_disabled_a_warm_process_never_prints_its_metrics(monkeypatch, capsys):
    """Powertools keeps the metric set when metrics are disabled, so a warm local worker printed EMF lines once
    100 values piled up; the entrypoint clears the set after each invocation."""
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.constants import MAX_METRICS

    from practicepay.observability import entrypoint, metrics

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")

    class Context:
        function_name, memory_limit_in_mb, aws_request_id = "fn", 128, "r"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:fn"

    @entrypoint()
    def handler(event, context):
        metrics.add_metric(name="Handled", unit="Count", value=1)
        return "ok"

    for _ in range(MAX_METRICS + 5):
        assert handler({}, Context()) == "ok"
    assert '"_aws"' not in capsys.readouterr().out
