"""One logger and metrics instance per process (Powertools), and the `entrypoint` every handler wears. Service
name from POWERTOOLS_SERVICE_NAME.

Nothing sensitive is logged: handlers never log events or bodies, and the logger is never given PHI,
tokens or secrets. Correlation ids come from API Gateway's request id.

Tracing: Lambda active tracing records every invocation (set in CDK). The Powertools Tracer adds subsegments
for each AWS and Splash call, but loading the X-Ray SDK builds two botocore clients and costs about 450 ms of
cold start, so it is opt-in: PRACTICEPAY_DETAILED_TRACING=true (ADR 0006).
"""

import os
import warnings
from collections.abc import Callable
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics(namespace="PracticePay")

# Credentials and payment numbers, wherever they sit in a payload.
SENSITIVE_FIELDS = ("token", "number", "cvv", "routing", "headerValue", "ssn", "dob", "ein", "APIKEY", "apiKey")


@cache
def _masking() -> Any:
    """Powertools DataMasking (with jsonpath-ng), built the first time a payload is masked, not at import."""
    from aws_lambda_powertools.utilities.data_masking import DataMasking

    return DataMasking(raise_on_missing_field=False)


Handler = Callable[[Any, Any], Any]


def detailed_tracing() -> bool:
    return os.environ.get("PRACTICEPAY_DETAILED_TRACING", "false").lower() == "true"


def entrypoint(correlation_id_path: str | None = None) -> Callable[[Handler], Handler]:
    """Logger context (with the correlation id at `correlation_id_path`, state cleared per invocation), metrics
    flushed after each invocation, and the Powertools Tracer only when detailed tracing is on."""

    def wrap(handler: Handler) -> Handler:
        if detailed_tracing():
            from aws_lambda_powertools import Tracer

            handler = Tracer().capture_lambda_handler(handler, capture_response=False)
        handler = _cleared_metrics(metrics.log_metrics(handler))
        return logger.inject_lambda_context(handler, correlation_id_path=correlation_id_path, clear_state=True)

    return wrap


def _cleared_metrics(handler: Handler) -> Handler:
    """With metrics disabled (locally), Powertools' flush keeps the metric set, which grows invocation after
    invocation in a warm process until its 100-metric auto-flush prints it anyway: clear it after each one."""

    def run(event: Any, context: Any) -> Any:
        try:
            return handler(event, context)
        finally:
            metrics.clear_metrics()

    return run


def redacted(payload: dict[str, Any]) -> dict[str, Any]:
    """A copy of `payload` fit for a log line: SENSITIVE_FIELDS erased at any depth (Powertools data masking)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "field not found" for each absent field
        return _masking().erase(payload, fields=[f"$..{name}" for name in SENSITIVE_FIELDS])
