"""The embedded AWS: moto's server over HTTP (boto3 reaches it exactly as it reaches AWS), one request at a time.

Real DynamoDB makes each TransactWriteItems atomic and serializable against every other write to its items.
moto's in-memory backend does not when two requests run on two threads: a transaction's condition can pass
for both. Serving one request at a time gives the embedded AWS the isolation the code relies on in AWS, so a
test with real threads racing tests our conditions, not moto's thread safety.
"""

from __future__ import annotations

import copy
import io
import json
import os
import pickle
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from moto.backends import get_backend
from moto.core.base_backend import BackendDict
from moto.core.utils import camelcase_to_underscores
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.exceptions import MockValidationException
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import RESULT_SIZE_LIMIT, Table
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


class _Writes:
    """Counts DynamoDB writes, so an index's sorted view is kept only while nothing was written."""

    version = 0

    @classmethod
    def counted(cls, write: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return write(*args, **kwargs)
            finally:
                cls.version += 1

        return run


for _name in ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item"):
    if hasattr(DynamoDBBackend, _name):
        setattr(DynamoDBBackend, _name, _Writes.counted(getattr(DynamoDBBackend, _name)))

_moto_query = Table.query


def _query(
    self: Table,
    hash_key: Any,
    range_comparison: str | None,
    range_objs: list[DynamoType],
    limit: int,
    exclusive_start_key: dict[str, Any] | None,
    scan_index_forward: bool,
    projection_expressions: Any,
    index_name: str | None = None,
    consistent_read: bool = False,
    filter_expression: Any = None,
    hash_key_conditions: list[tuple[str, DynamoType]] | None = None,
    range_key_conditions: list[tuple[str, str, list[DynamoType]]] | None = None,
    **filter_kwargs: Any,
) -> tuple[list[Item], int, dict[str, Any] | None]:
    """moto's Query of a global secondary index, page by page without redoing the whole table each time.

    moto gathers and sorts every item of the index partition on each page, walks past the pages already read,
    and sizes its 1 MB pages by whole table items: a 100,000-item partition took seconds per page and four times
    the pages AWS needs. Here the partition's sorted items are kept until the next DynamoDB write (any table), the
    next page starts right after the ExclusiveStartKey, and the 1 MB is of projected index items, as in AWS.
    Anything but a one-attribute hash key with one sort key goes to moto's own query."""

    def moto() -> tuple[list[Item], int, dict[str, Any] | None]:
        return _moto_query(
            self,
            hash_key,
            range_comparison,
            range_objs,
            limit,
            exclusive_start_key,
            scan_index_forward,
            projection_expressions,
            index_name,
            consistent_read,
            filter_expression,
            hash_key_conditions=hash_key_conditions,
            range_key_conditions=range_key_conditions,
            **filter_kwargs,
        )

    index = {i.name: i for i in self.all_indexes()}.get(index_name or "")
    range_keys = [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"] if index else []
    hash_keys = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"] if index else []
    if (
        index is None
        or filter_kwargs
        or len(range_keys) != 1
        or len(hash_keys) != 1
        or len(hash_key_conditions or []) != 1
        or len(range_key_conditions or []) > 1
        or consistent_read
    ):
        return moto()
    (attr, value), sort_attr = hash_key_conditions[0], range_keys[0]  # type: ignore[index]
    cache: dict[tuple[str, Any], tuple[int, list[Item], dict[tuple[Any, Any], int]]] = self.__dict__.setdefault(
        "_sorted_partitions", {}
    )
    entry = cache.get((index.name, value.value))
    if entry is None or entry[0] != _Writes.version:
        members = [
            i
            for i in self.all_items()
            if isinstance(i, Item) and attr in i.attrs and i.attrs[attr] == value and i.attrs.get(sort_attr)
        ]
        members = self.sorted_items([attr, self.hash_key_attr], [sort_attr, self.range_key_attr], members)
        positions = {(i.hash_key.value, i.range_key.value if i.range_key else None): n for n, i in enumerate(members)}
        entry = cache[(index.name, value.value)] = (_Writes.version, members, positions)
    _, members, positions = entry
    order = range(len(members)) if scan_index_forward is not False else range(len(members) - 1, -1, -1)
    if exclusive_start_key:
        start_range = exclusive_start_key.get(self.range_key_attr) if self.range_key_attr else None
        start = (
            DynamoType(exclusive_start_key[self.hash_key_attr]).value,
            DynamoType(start_range).value if start_range else None,
        )
        if start not in positions:  # the start item changed since: moto's own walk
            return moto()
        at = positions[start]
        order = range(at + 1, len(members)) if scan_index_forward is not False else range(at - 1, -1, -1)
    results: list[Item] = []
    size, last_item, last_key = 0, None, None
    for n in order:
        item = members[n]
        if range_comparison and not item.attrs[sort_attr].compare(range_comparison, range_objs):
            continue
        projected = index.project(copy.deepcopy(item))
        if last_item is not None and (len(results) == limit or size + projected.size() > RESULT_SIZE_LIMIT):
            last_key = self._get_last_evaluated_key(last_item, index.name)
            break
        results.append(projected)
        last_item, size = item, size + projected.size()
    scanned = len(results)
    if filter_expression is not None:
        results = [r for r in results if filter_expression.expr(r)]
    if projection_expressions:
        results = [r.project(projection_expressions) for r in results]
    return results, scanned, last_key


Table.query = _query  # type: ignore[method-assign]


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


# --- persistent local state (PRACTICEPAY_LOCAL_STATE) ---------------------------------------------------------------

STATE_FILE = "aws.pickle"
_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))


def _private_key(der: bytes) -> Any:
    return serialization.load_der_private_key(der, password=None)


class _StatePickler(pickle.Pickler):
    """moto's backends as they are, but for what pickle cannot take: locks and conditions (SQS queues hold them)
    start anew, and KMS's asymmetric private keys (cryptography objects) go as PKCS#8 DER."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, _LOCK_TYPES):
            return type(obj), ()
        if isinstance(obj, threading.Condition):
            return threading.Condition, ()
        if isinstance(obj, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            der = obj.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            return _private_key, (der,)
        return NotImplemented


def save_state(directory: Path) -> Path:
    """Write every moto backend in use (DynamoDB tables and items, SQS queues and messages, KMS keys with their
    key material, Secrets Manager, EventBridge, ...) to `directory`, atomically. Call it with no request running
    (after the server stopped). DynamoDB streams are trimmed first: their records were handed to the publisher
    (the caller flushes them), and the stream reader starts at the trim horizon after a restart."""
    for table in _dynamodb_tables():
        table.__dict__.pop("_sorted_partitions", None)
        shard = table.stream_shard
        if shard is not None:
            shard.starting_sequence_number += len(shard.items)
            shard.items = []
    state = {b.service_name: dict(b) for b in BackendDict._instances if len(b)}  # type: ignore[misc]
    buffer = io.BytesIO()
    _StatePickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(state)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / STATE_FILE
    partial = target.with_suffix(".partial")
    partial.write_bytes(buffer.getvalue())
    os.replace(partial, target)
    return target


def load_state(directory: Path) -> bool:
    """Restore what `save_state` wrote (before any request reaches the server); False when there is none."""
    source = directory / STATE_FILE
    if not source.is_file():
        return False
    state: dict[str, dict[str, Any]] = pickle.loads(source.read_bytes())  # noqa: S301 - our own file
    for service, accounts in state.items():
        backends = get_backend(service)  # type: ignore[call-overload]
        backends.clear()
        for account_id, regions in accounts.items():
            backends[account_id] = regions
        if backends not in BackendDict._instances:  # type: ignore[misc]
            BackendDict._instances.append(backends)  # type: ignore[misc]
    _Writes.version += 1  # no sorted index view survives a load
    return True


def _dynamodb_tables() -> list[Table]:
    backends = get_backend("dynamodb")
    return [t for account in backends.values() for region in account.values() for t in region.tables.values()]
