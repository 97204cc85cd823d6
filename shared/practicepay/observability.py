"""One logger, tracer and metrics instance per process (Powertools). Service name from POWERTOOLS_SERVICE_NAME.

Nothing sensitive is logged: handlers never log events or bodies, and the logger is never given PHI,
tokens or secrets. Correlation ids come from API Gateway's request id.
"""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace="PracticePay")
