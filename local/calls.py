"""Which AWS actions each function performs, on which resources, as the local stack runs it: a botocore hook
records (function, IAM action, resource name) while a handler runs. Tests compare the record with the
function's IAM policy in the synthesized template, so a missing grant fails here instead of in AWS (moto does
not enforce IAM)."""

from __future__ import annotations

import threading
from contextvars import ContextVar
from typing import Any

CURRENT_FUNCTION: ContextVar[str | None] = ContextVar("practicepay_function", default=None)
_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "ConditionCheck": "ConditionCheckItem",
    "Delete": "DeleteItem",
}

Call = tuple[str, str, str]
"""(function, IAM action such as dynamodb:GetItem, resource: table[/index/name], queue name, secret id or key)"""


def actions(service: str, operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """The IAM (action, resource) pairs one API call needs."""
    if service == "dynamodb":
        if operation == "TransactWriteItems":
            return [
                (f"dynamodb:{_TRANSACT_ACTIONS[kind]}", body["TableName"])
                for item in params["TransactItems"]
                for kind, body in item.items()
            ]
        if operation == "BatchGetItem":
            return [("dynamodb:BatchGetItem", table) for table in params["RequestItems"]]
        table = params["TableName"]
        if params.get("IndexName"):
            table = f"{table}/index/{params['IndexName']}"
        return [(f"dynamodb:{operation}", table)]
    if service == "sqs":
        # IAM has no batch actions for SQS: SendMessageBatch is authorized by sqs:SendMessage, and so on
        action = operation.removesuffix("Batch")
        return [(f"sqs:{action}", str(params.get("QueueUrl", "")).rsplit("/", 1)[-1])]
    if service == "secretsmanager":
        return [(f"secretsmanager:{operation}", str(params.get("SecretId", "")))]
    if service == "sesv2":  # the SES v2 API's actions are IAM's ses: actions
        return [(f"ses:{operation}", "*")]
    return [(f"{service}:{operation}", "*")]


class CallLog:
    """Installed once per process; `calls` grows while any handler runs under `CURRENT_FUNCTION`. In worker mode
    (local.workers), a worker started while the parent has a log installed installs its own, and each answer
    carries the calls recorded during the invocation into the parent's log (`take` there, `add` here)."""

    _lock = threading.Lock()
    _installed: CallLog | None = None

    def __init__(self) -> None:
        self.calls: set[Call] = set()

    @classmethod
    def install(cls) -> CallLog:
        import botocore.client

        with cls._lock:
            if cls._installed is None:
                log = cls()
                original = botocore.client.BaseClient._make_api_call

                def recording(client: Any, operation: str, params: dict[str, Any]) -> Any:
                    function = CURRENT_FUNCTION.get()
                    if function is not None:
                        service = client.meta.service_model.service_name
                        for action, resource in actions(service, operation, params):
                            log.calls.add((function, action, resource))
                    return original(client, operation, params)

                botocore.client.BaseClient._make_api_call = recording
                cls._installed = log
            return cls._installed

    @classmethod
    def current(cls) -> CallLog | None:
        """The log installed in this process, if any."""
        return cls._installed

    def take(self) -> list[Call]:
        """The calls recorded since the last `take`, forgotten here (a worker sends them to its parent)."""
        with self._lock:
            taken = list(self.calls)
            self.calls.clear()
        return taken

    def add(self, calls: list[Call]) -> None:
        """Calls recorded elsewhere (a worker process), as if recorded here."""
        with self._lock:
            self.calls.update(tuple(call) for call in calls)
