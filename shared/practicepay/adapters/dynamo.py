"""DynamoDB transactions across our tables: all writes of one business step land together or not at all."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal
from typing import Any, TypeVar

import boto3
from boto3.dynamodb.conditions import Attr, Key
from boto3.dynamodb.types import TypeSerializer

from practicepay.adapters.cursors import decode_cursor, encode_cursor
from practicepay.errors import Conflict

_SER = TypeSerializer()
R = TypeVar("R")


class TransactionConflict(Conflict):
    """A condition of the transaction failed: someone changed a record since it was read (409 if it escapes)."""

    def __init__(self, detail: str, reasons: list[str] | None = None):
        super().__init__(detail)
        self.reasons = reasons or []

    def failed(self, index: int) -> bool:
        """Whether the condition of the transaction's item at `index` is one that failed."""
        return self.reasons[index : index + 1] == ["ConditionalCheckFailed"]


def plain(item: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB numbers come back as Decimal; ours are integers (cents, counts, versions), but for the decimal
    dollars of a FHIR resource carried on an event (deposits.service), which stay numbers with their fraction."""

    def fix(value: Any) -> Any:
        if isinstance(value, Decimal):
            return int(value) if value == value.to_integral_value() else float(value)
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fix(v) for v in value]
        return value

    return {k: fix(v) for k, v in item.items()}


def practice_pk(practice_id: str) -> str:
    """Every record's partition key starts with its practice (tenancy)."""
    return f"PRACTICE#{practice_id}"


def patient_key(practice_id: str, patient_id: str) -> dict[str, str]:
    """The key of a patient's record in the patients table."""
    return {"pk": practice_pk(practice_id), "sk": f"PATIENT#{patient_id}"}


def from_item(cls: type[R], item: dict[str, Any]) -> R:
    """A stored record (a dataclass) from its item: index keys and unknown attributes dropped, numbers int."""
    names = cls.__dataclass_fields__  # type: ignore[attr-defined]
    return cls(**{k: v for k, v in plain(item).items() if k in names})


class TableStore:
    """The base of a table's adapter: the table as a boto3 resource (plain values in and out) and its name."""

    def __init__(self, table_name: str, resource: Any | None = None):
        self._table = (resource or boto3.resource("dynamodb")).Table(table_name)

    @property
    def table_name(self) -> str:
        return self._table.name


Rider = Callable[["Transaction"], None]
_RIDER: ContextVar[Rider | None] = ContextVar("practicepay_transaction_rider", default=None)


@contextmanager
def riding(rider: Rider) -> Iterator[None]:
    """While this context lasts, `rider` adds its items to every transaction before it commits, so they land with the
    change or not at all (the audit trail of a staff action: practicepay.staff.audit)."""
    token = _RIDER.set(rider)
    try:
        yield
    finally:
        _RIDER.reset(token)


class Transaction:
    def __init__(self, client: Any | None = None) -> None:
        # A low-level client: items are serialized here (a resource's meta client would serialize them again).
        self._client = client or boto3.client("dynamodb")
        self._items: list[dict[str, Any]] = []
        self._ridden = False

    def __len__(self) -> int:
        return len(self._items)

    def put(
        self,
        table: str,
        item: dict[str, Any],
        condition: str | None = None,
        values: dict | None = None,
        names: dict[str, str] | None = None,
    ) -> int:
        """Add a put; its index in the transaction (what TransactionConflict.failed() names)."""
        op: dict[str, Any] = {
            "TableName": table,
            "Item": {k: _SER.serialize(v) for k, v in item.items() if v is not None},
        }
        if condition:
            op["ConditionExpression"] = condition
        if values:
            op["ExpressionAttributeValues"] = {k: _SER.serialize(v) for k, v in values.items()}
        if names:
            op["ExpressionAttributeNames"] = names
        self._items.append({"Put": op})
        return len(self._items) - 1

    def update(
        self,
        table: str,
        key: dict[str, Any],
        expression: str,
        names: dict[str, str],
        values: dict[str, Any],
        condition: str = "attribute_exists(pk)",
    ) -> None:
        """An update of an item that must exist."""
        self._items.append(
            {
                "Update": {
                    "TableName": table,
                    "Key": {k: _SER.serialize(v) for k, v in key.items()},
                    "UpdateExpression": expression,
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": {k: _SER.serialize(v) for k, v in values.items()},
                }
            }
        )

    def delete(self, table: str, key: dict[str, Any]) -> None:
        """A delete (of an item that may or may not exist)."""
        self._items.append({"Delete": {"TableName": table, "Key": {k: _SER.serialize(v) for k, v in key.items()}}})

    def check(self, table: str, key: dict[str, Any], condition: str) -> None:
        """A condition on another item that must hold for the whole transaction to commit."""
        key_ = {k: _SER.serialize(v) for k, v in key.items()}
        self._items.append({"ConditionCheck": {"TableName": table, "Key": key_, "ConditionExpression": condition}})

    def commit(self) -> None:
        rider = _RIDER.get()
        if rider is not None and not self._ridden:
            self._ridden = True  # once, however often a caller commits the same transaction again
            rider(self)
        try:
            self._client.transact_write_items(TransactItems=self._items)
        except self._client.exceptions.TransactionCanceledException as exc:
            reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
            raise TransactionConflict("A record changed while this request ran; retry.", reasons) from exc


_KEY_ATTRS = {
    "pk": ("pk", "sk"),
    "gsi1pk": ("pk", "sk", "gsi1pk"),  # the indexes sort by the table's sort key
    "gsi2pk": ("pk", "sk", "gsi2pk"),
}


def list_page(
    table: Any,
    *,
    pk: str,
    sort_prefix: str,
    gsi1: tuple[str, str] | None = None,
    gsi2: tuple[str, str] | None = None,
    status: str | None = None,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page, newest first, of a practice's records: through the first index when its partition is given
    (the status then filters), else the second index, else the practice's partition (sort key prefix). Never a
    scan. `has_more` is exact: one extra item is read instead of trusting DynamoDB's LastEvaluatedKey."""
    kwargs: dict[str, Any] = {"ScanIndexForward": False, "Limit": limit + 1}
    if gsi1:
        partition_attr, partition = "gsi1pk", gsi1[1]
        kwargs.update(IndexName=gsi1[0], KeyConditionExpression=Key("gsi1pk").eq(partition))
        if status:
            kwargs["FilterExpression"] = Attr("status").eq(status)
    elif gsi2:
        partition_attr, partition = "gsi2pk", gsi2[1]
        kwargs.update(IndexName=gsi2[0], KeyConditionExpression=Key("gsi2pk").eq(partition))
    else:
        partition_attr, partition = "pk", pk
        kwargs["KeyConditionExpression"] = Key("pk").eq(pk) & Key("sk").begins_with(sort_prefix)
    if cursor:
        kwargs["ExclusiveStartKey"] = decode_cursor(cursor, partition_attr, partition)
    out = table.query(**kwargs)
    items = out.get("Items", [])
    if len(items) > limit:
        items = items[:limit]
        next_key = {k: items[-1][k] for k in _KEY_ATTRS[partition_attr]}
    else:
        # With a filter, DynamoDB may stop before the end of the partition; carry on from there.
        next_key = out.get("LastEvaluatedKey") if "FilterExpression" in kwargs else None
    return [plain(i) for i in items], encode_cursor(next_key) if next_key else None


BATCH_GET_LIMIT = 100  # keys per BatchGetItem request, DynamoDB's limit across all its tables
UNPROCESSED_BACKOFF = (0.05, 0.1, 0.2, 0.4, 0.8)  # seconds before each retry of unprocessed keys (then: give up)


class Unprocessed(Exception):
    """DynamoDB left keys of a BatchGetItem unprocessed after every retry (throttling): the caller's request fails
    (a 5xx the client may retry) rather than answering with items missing."""


def batch_get(
    resource: Any,
    keys: list[tuple[str, dict[str, str]]],
    attributes: tuple[str, ...] = (),
    sleep: Callable[[float], None] = time.sleep,
) -> list[dict[str, Any] | None]:
    """Items from several tables by key (strongly consistent), in the order asked; None for an item that does not
    exist. One BatchGetItem per 100 distinct keys (DynamoDB's limit), its unprocessed keys retried with exponential
    backoff as DynamoDB asks (`UNPROCESSED_BACKOFF`; Unprocessed when keys are still left). A
    key named twice is asked for once (BatchGetItem refuses duplicates); both places get the item. `attributes`:
    read only these (and the key), not whole items."""
    distinct = list(dict.fromkeys((table, _key_id(key)) for table, key in keys))
    by_id = {(table, _key_id(key)): key for table, key in keys}
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for start in range(0, len(distinct), BATCH_GET_LIMIT):
        request: dict[str, dict[str, Any]] = {}
        for table, key_id in distinct[start : start + BATCH_GET_LIMIT]:
            key = by_id[(table, key_id)]
            entry = request.setdefault(table, {"Keys": [], "ConsistentRead": True})
            entry["Keys"].append(key)
            if attributes:
                names = {f"#a{n}": name for n, name in enumerate(dict.fromkeys([*key, *attributes]))}
                entry["ProjectionExpression"] = ", ".join(names)
                entry["ExpressionAttributeNames"] = names
        for delay in (*UNPROCESSED_BACKOFF, None):
            out = resource.batch_get_item(RequestItems=request)
            for table, items in out.get("Responses", {}).items():
                names = request[table]["Keys"][0].keys() if table in request else ()
                for item in items:
                    found[(table, _key_id({k: item[k] for k in names}))] = item
            request = out.get("UnprocessedKeys") or {}
            if not request:
                break
            if delay is None:
                raise Unprocessed(f"{sum(len(t['Keys']) for t in request.values())} keys left unprocessed")
            sleep(delay)
    return [plain(found[(table, _key_id(key))]) if (table, _key_id(key)) in found else None for table, key in keys]


def _key_id(key: dict[str, Any]) -> str:
    """A key as a hashable value, the same for a key asked for and the item that answers it."""
    return json.dumps(key, sort_keys=True, default=str)


MAX_FILTERED_PAGES = 10
"""A filtered read stops after this many pages (1 MB each at most): a bounded cost, whatever the partition holds."""


def query_until(
    table: Any, kwargs: dict[str, Any], limit: int, max_pages: int = MAX_FILTERED_PAGES
) -> tuple[list[dict[str, Any]], bool]:
    """Up to `limit` items of one Query (plain values), page after page: with a FilterExpression DynamoDB may read
    a page and match nothing, so one page is not enough. True as the second value when more may be left (`limit`
    reached, or `max_pages` read before the end)."""
    kwargs = dict(kwargs)
    items: list[dict[str, Any]] = []
    for _ in range(max_pages):
        out = table.query(**kwargs)
        items += [plain(i) for i in out.get("Items", [])]
        last = out.get("LastEvaluatedKey")
        if len(items) >= limit:
            return items[:limit], len(items) > limit or last is not None
        if last is None:
            return items, False
        kwargs["ExclusiveStartKey"] = last
    return items, True
