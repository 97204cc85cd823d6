"""The embedded AWS: moto's server over HTTP (boto3 reaches it exactly as it reaches AWS), one request at a time.

Real DynamoDB makes each TransactWriteItems atomic and serializable against every other write to its items.
moto's in-memory backend does not when two requests run on two threads: a transaction's condition can pass
for both. Serving one request at a time gives the embedded AWS the isolation the code relies on in AWS, so a
test with real threads racing tests our conditions, not moto's thread safety.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from moto.core.utils import camelcase_to_underscores
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.exceptions import MockValidationException
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.sqs.models import Queue
from werkzeug.serving import BaseWSGIServer, make_server


class _OneAtATime:
    def __init__(self, app: Callable) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        with self._lock:
            # The body is read inside the lock: moto answers with a complete body, never a stream.
            return list(self._app(environ, start_response))


class _TablesNotCopied:
    """moto backs up every table a transaction touches with copy.deepcopy, so one TransactWriteItems costs time
    and memory in proportion to the tables' size (minutes per charge with 10,000 installments). This stands in for
    the `copy` module inside moto's DynamoDB models: tables are not copied; the items a transaction touches are
    backed up instead (`_transact_write_items`). Everything else is copied as before."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: dict | None = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


_moto_transact_write_items = DynamoDBBackend.transact_write_items


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """moto's transaction, rolled back item by item: the touched items' former states are restored on failure, and
    the stream records the failed transaction added are dropped (the embedded AWS serves one request at a time, so
    nothing else writes meanwhile)."""
    saved: list[tuple[Table, Any, Any, Any]] = []
    streams = {
        id(t.stream_shard): (t.stream_shard, len(t.stream_shard.items)) for t in self.tables.values() if t.stream_shard
    }
    for entry in transact_items:
        _, op = next(iter(entry.items()))
        table = self.tables.get(op.get("TableName", ""))
        if table is None:
            continue
        key = op.get("Key") or op.get("Item", {})
        try:
            hash_key, range_key = self.get_keys_value(table, key)
        except MockValidationException:
            continue  # moto refuses the request itself
        before = table.get_item(hash_key, range_key)
        saved.append((table, hash_key, range_key, copy.deepcopy(before)))
    try:
        _moto_transact_write_items(self, transact_items)
    except Exception:
        for table, hash_key, range_key, before in reversed(saved):
            if range_key is not None:
                partition = table.items[hash_key]
                partition.pop(range_key, None)
                if before is not None:
                    partition[range_key] = before
            else:
                table.items.pop(hash_key, None)
                if before is not None:
                    table.items[hash_key] = before
        for shard, length in streams.values():  # a write that did not happen leaves no stream record
            del shard.items[length:]
        raise


dynamodb_models.copy = _TablesNotCopied()  # type: ignore[attr-defined]
DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]


class _QueueAttributes(Mapping[str, Any]):
    """A queue's attributes, each computed when it is read. moto builds them all, message counts included (a pass
    over every message), wherever it reads one: on every SendMessage (ContentBasedDeduplication) and for every
    message a ReceiveMessage considers (MessageRetentionPeriod), so sends and receives slowed with the queue's depth
    (seconds each at a few thousand messages). The values are moto's own, rendered as moto renders them."""

    def __init__(self, queue: Queue) -> None:
        self._queue = queue

    def _names(self) -> list[str]:
        queue = self._queue
        names = list(queue.BASE_ATTRIBUTES)
        names += queue.FIFO_ATTRIBUTES if queue.fifo_queue else []
        names += queue.KMS_ATTRIBUTES if queue.kms_master_key_id else []
        return names

    def __getitem__(self, key: str) -> Any:
        if key not in self._names():
            raise KeyError(key)
        if key == "RedrivePolicy" and self._queue.redrive_policy:
            return json.dumps(self._queue.redrive_policy)
        value = getattr(self._queue, camelcase_to_underscores(key))
        return str(value).lower() if isinstance(value, bool) else value

    def __contains__(self, key: object) -> bool:
        return key in self._names()

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(self._names()))

    def __len__(self) -> int:
        return len(dict.fromkeys(self._names()))


Queue.attributes = property(_QueueAttributes)  # type: ignore[method-assign,assignment]


class EmbeddedAws:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server: BaseWSGIServer = make_server(
            host,
            port,
            _OneAtATime(DomainDispatcherApplication(create_backend_app)),
            threaded=True,
            request_handler=MotoRequestHandler,
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="embedded-aws", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> EmbeddedAws:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()
