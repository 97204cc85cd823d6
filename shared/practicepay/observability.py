"""One logger, tracer and metrics instance per process (Powertools). Service name from POWERTOOLS_SERVICE_NAME.

Nothing sensitive is logged: handlers never log events or bodies, and the logger is never given PHI,
tokens or secrets. Correlation ids come from API Gateway's request id.
"""

import warnings
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.data_masking import DataMasking

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace="PracticePay")

# Credentials and payment numbers, wherever they sit in a payload.
SENSITIVE_FIELDS = ("token", "number", "cvv", "routing", "headerValue", "ssn", "dob", "ein", "APIKEY", "apiKey")
_masking = DataMasking(raise_on_missing_field=False)


def redacted(payload: dict[str, Any]) -> dict[str, Any]:
    """A copy of `payload` fit for a log line: SENSITIVE_FIELDS erased at any depth (Powertools data masking)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "field not found" for each absent field
        return _masking.erase(payload, fields=[f"$..{name}" for name in SENSITIVE_FIELDS])
