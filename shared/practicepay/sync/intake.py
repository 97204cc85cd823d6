"""Splash web alert intake: authenticate, keep, queue, answer. No Splash call and no business logic here, so
the answer is fast; the alert processor fetches the truth later (sync.service).

Splash signs nothing; an alert carries the static header configured on its alert action (splash-api.md §4).
Its value is compared in constant time. A request without it is refused with 401 and leaves only a security
log line (no body). Then the body is read as strictly as any route's (practicepay.api.body): a body over
MAX_ALERT_BYTES, or one that is not JSON at all, is a 400 and nothing is kept.

Any other authenticated body is accepted, whatever its shape: Splash's alert body is not documented, the one
integrator who saw live alerts found `response.alert` carrying `txnStatus`/`invoiceStatus`/`login` rather than
`event`/`resource` (§4), and a refused delivery is retried and can get the alert action disabled. The alert is
only a hint that a record changed, so all the intake needs is which record: `response.data[0]` and its `id`.
Its resource is decided, first match wins, by
  1. the record id's type segment (`t1_`/`p1_` + type + hex: `txn`, `mer`, `ern`, `chb`, `dbm`, … below), which
     also wins over a stated `alert.resource` that disagrees (logged: a trigger for one resource never fires for
     another, so the id, which Splash itself minted, is the better witness);
  2. `alert.resource` when it is a known ResourceEnum number (or a numeric string, or a resource name);
  3. the record's own fields (an R-code and a txn: an entityReturn; a chargeback's `cycle`/`reasonCode`; a
     txn's `merchant` + `total` + integer `type`; …);
  4. what the alert block names: an `event` prefix (`txn.settled`) or a `<resource>Status` key (`txnStatus`).
Every alert is kept (credentials erased, 30 days) under the SHA-256 of its body, which is also the `alert_id`
answered and the FIFO queue's deduplication id (the same alert five times is processed once).

- A record of a known resource is queued, grouped by that record, whatever the resource: the processor applies
  the resources it follows (txns, entityReturns, merchants, chargebacks, disbursements, paymentUpdates) and skips
  the others (tokens, entries, …) with a log line and an outcome of their own.
- A body that names no record (no `response`, no `data`, an empty one, a record without a usable id), or a
  record whose resource none of the rules tells, is kept, logged as a warning ("splash alert of an unknown
  shape") and queued nowhere: there is nothing to fetch, and the status poll catches up whatever it was about.
  It is still answered 200 with the same body as any alert, `{"received": true, "alert_id": <hash>}`, so
  Splash neither retries it nor disables the action, and the kept copy can be found by that id.
Only the first record of `data` is read (an alert names one record, §1)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import boto3

from practicepay.api import body as json_body
from practicepay.clock import Clock, iso, utc_now
from practicepay.errors import MalformedRequest, Unauthenticated
from practicepay.observability import logger, redacted
from practicepay.splash.models import Resource
from practicepay.sync.store import SyncStore

MAX_ALERT_BYTES = 64 * 1024
UNKNOWN = "unknown"

_RECORD_ID = re.compile(r"^[A-Za-z0-9_]{1,64}$")
"""What a record id may be to be queued and fetched (it goes into the queue's group id and Splash's path)."""
_HINT = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
"""What an event name (or status word) from the body may be to be logged."""

# Splash ids are `t1_`/`p1_` + a type + hex (splash-api.md §1; 15–32 characters). The types: §1's list (txn,
# mer, ent, cus, tok, bth, pln, sbn, inv), entityReturns `ern` (SDK entity-returns.md example), chargebacks `chb`
# (payrix-rs mock_data/chargebacks.json, recorded from the live sandbox), disbursements `dbm` (SDK
# disbursements.md example), payouts `pay` (SDK payouts.md example), entries `etr`, disbursementEntries `dbe` and
# paymentUpdates `pmu` (the SDK's examples); `acc` is the local sandbox's own prefix for
# accounts (local/sandbox/tables.py), the real one unrecorded.
_RESOURCE_BY_ID_TYPE: dict[str, Resource] = {
    "txn": Resource.TXNS,
    "mer": Resource.MERCHANTS,
    "ent": Resource.ENTITIES,
    "cus": Resource.CUSTOMERS,
    "tok": Resource.TOKENS,
    "acc": Resource.ACCOUNTS,
    "bth": Resource.BATCHES,
    "pln": Resource.PLANS,
    "sbn": Resource.SUBSCRIPTIONS,
    "inv": Resource.INVOICES,
    "ern": Resource.ENTITY_RETURNS,
    "chb": Resource.CHARGEBACKS,
    "dbm": Resource.DISBURSEMENTS,
    "pay": Resource.PAYOUTS,
    "etr": Resource.ENTRIES,  # the SDK's entries.md example (`t1_ent_` is an entity)
    "dbe": Resource.DISBURSEMENT_ENTRIES,  # the SDK's disbursement-entries.md example
    "pmu": Resource.PAYMENT_UPDATES,  # the SDK's payment-updates.md example
}

# Resource names as an alert may spell them: an event's prefix (`txn.settled`, `chargeback.opened`), a
# `<name>Status` key (`txnStatus`, `invoiceStatus`), or a named `resource` ("invoice", "txns").
_SINGULAR: dict[str, Resource] = {
    "customer": Resource.CUSTOMERS,
    "merchant": Resource.MERCHANTS,
    "token": Resource.TOKENS,
    "txn": Resource.TXNS,
    "account": Resource.ACCOUNTS,
    "plan": Resource.PLANS,
    "subscription": Resource.SUBSCRIPTIONS,
    "disbursement": Resource.DISBURSEMENTS,
    "payout": Resource.PAYOUTS,
    "chargeback": Resource.CHARGEBACKS,
    "entity": Resource.ENTITIES,
    "batch": Resource.BATCHES,
    "entityReturn": Resource.ENTITY_RETURNS,
    "invoice": Resource.INVOICES,
    "paymentUpdate": Resource.PAYMENT_UPDATES,
    "paymentupdate": Resource.PAYMENT_UPDATES,  # the alert event `paymentupdate.report` (SDK AlertTriggerEventEnum)
}
_RESOURCE_BY_NAME: dict[str, Resource] = {
    **{name.lower(): r for name, r in _SINGULAR.items()},
    **{(name + "s").lower(): r for name, r in _SINGULAR.items()},
    "entities": Resource.ENTITIES,
    "batches": Resource.BATCHES,
}
_R_CODE = re.compile(r"^R\d{2}$")


def _known_number(value: Any) -> Resource | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isdigit() and len(value) <= 4:
        value = int(value)
    if isinstance(value, int):
        try:
            return Resource(value)
        except ValueError:
            return None
    if isinstance(value, str):
        return _RESOURCE_BY_NAME.get(value.lower())
    return None


def _by_id(record_id: str) -> Resource | None:
    parts = record_id.split("_")
    return _RESOURCE_BY_ID_TYPE.get(parts[1]) if len(parts) == 3 else None


def _is_int(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, str) and value.isdigit())


def _by_fields(record: Mapping[str, Any]) -> Resource | None:
    """The record's own fields (splash-api.md §3): a guess only for an id whose type we do not know."""
    code = record.get("code")
    if isinstance(code, str) and _R_CODE.match(code) and any(k in record for k in ("txn", "entity", "disbursement")):
        return Resource.ENTITY_RETURNS
    if ("cycle" in record or "reasonCode" in record) and ("txn" in record or "merchant" in record):
        return Resource.CHARGEBACKS
    if "returnedAmount" in record or ("payout" in record and "amount" in record and "entity" in record):
        return Resource.DISBURSEMENTS
    if "merchant" in record and ("dueDate" in record or "emails" in record):
        return Resource.INVOICES
    if "merchant" in record and "total" in record and _is_int(record.get("type")):
        return Resource.TXNS
    if "entity" in record and any(k in record for k in ("mcc", "dba", "boarded")):
        return Resource.MERCHANTS
    return None


def _named_by_alert(alert: Mapping[str, Any]) -> Resource | None:
    event = alert.get("event")
    if isinstance(event, str) and "." in event:
        found = _SINGULAR.get(event.split(".", 1)[0])
        if found is not None:
            return found
    for key in alert:
        if isinstance(key, str) and key.endswith("Status") and key[: -len("Status")] in _SINGULAR:
            return _SINGULAR[key[: -len("Status")]]
    return None


def _event(alert: Mapping[str, Any]) -> str:
    """The alert's event for the log: `event`, else `<name>.<status>` from a `<name>Status` key (as the
    integrator of §4 reads them), else "unknown"."""
    event = alert.get("event")
    if isinstance(event, str) and _HINT.match(event):
        return event
    for key, value in alert.items():
        if isinstance(key, str) and key.endswith("Status") and key[: -len("Status")] in _SINGULAR:
            word = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
            return f"{key[: -len('Status')]}.{word}" if _HINT.match(word) else f"{key[: -len('Status')]}.{UNKNOWN}"
    return UNKNOWN


@dataclass(frozen=True)
class Received:
    alert_id: str
    event: str
    resource: int | None
    """None: kept, but queued nowhere (the body names no record, or none whose resource could be told)."""
    record_id: str | None
    detected_by: str = UNKNOWN
    """Which rule told the resource: "id", "alert.resource", "fields", "alert", or "unknown"."""

    @property
    def queued(self) -> bool:
        return self.resource is not None and self.record_id is not None


def understand(payload: Any, alert_id: str) -> Received:
    """What an authenticated alert body names (the module docstring's rules); never raises."""
    response = payload.get("response") if isinstance(payload, dict) else None
    response = response if isinstance(response, dict) else {}
    alert = response.get("alert")
    alert = alert if isinstance(alert, dict) else {}
    event = _event(alert)
    data = response.get("data")
    record = data[0] if isinstance(data, list) and data else data
    record = record if isinstance(record, dict) else None
    record_id = record.get("id") if record is not None else None
    if not (isinstance(record_id, str) and _RECORD_ID.match(record_id)):
        return Received(alert_id, event, None, None)
    assert record is not None
    by_id, stated = _by_id(record_id), _known_number(alert.get("resource"))
    if by_id is not None and stated is not None and by_id != stated:
        logger.warning(
            "splash alert resource disagrees with its record id; the id's is used",
            alert_resource=int(stated),
            resource=int(by_id),
            record=record_id,
        )
    for rule, found in (
        ("id", by_id),
        ("alert.resource", stated),
        ("fields", _by_fields(record)),
        ("alert", _named_by_alert(alert)),
    ):
        if found is not None:
            return Received(alert_id, event, int(found), record_id, rule)
    return Received(alert_id, event, None, record_id)


class AlertQueue:
    def __init__(self, queue_url: str, client: Any | None = None):
        self._url = queue_url
        self._client = client or boto3.client("sqs")

    def send(self, received: Received) -> None:
        body = {"alert_id": received.alert_id, "resource": received.resource, "record_id": received.record_id}
        self._client.send_message(
            QueueUrl=self._url,
            MessageBody=json.dumps(body),
            MessageGroupId=f"{received.resource}-{received.record_id}",
            MessageDeduplicationId=received.alert_id,
        )


@dataclass
class AlertIntake:
    header: Callable[[], tuple[str, str]]
    """The static header's (name, value), from KMS-encrypted config."""
    store: SyncStore
    queue: AlertQueue
    clock: Clock = utc_now

    def receive(self, headers: Mapping[str, str], raw: bytes, source_ip: str | None) -> Received:
        """The header is checked before any byte of the body is read; then the body, as strictly as any route's
        (practicepay.api.body: UTF-8, JSON, no duplicate keys, bounded depth). Past that, nothing is refused."""
        self._authenticate(headers, source_ip)
        if len(raw) > MAX_ALERT_BYTES:
            raise MalformedRequest(f"An alert body may be at most {MAX_ALERT_BYTES} bytes; this one is {len(raw)}.")
        payload = json_body.parse(raw)
        received = understand(payload, hashlib.sha256(raw).hexdigest())
        moment = self.clock()
        kept = json.dumps(redacted({"body": payload})["body"], separators=(",", ":"))
        self.store.put_alert(
            received.alert_id, body=kept, received_at=iso(moment), epoch=moment.timestamp(), source_ip=source_ip
        )
        if not received.queued:
            logger.warning(
                "splash alert of an unknown shape kept, not queued",
                alert_id=received.alert_id,
                alert_event=received.event,
                reason="no record id" if received.record_id is None else "resource not told",
                record=received.record_id,
            )
            return received
        self.queue.send(received)
        logger.info(
            "splash alert received",
            alert_id=received.alert_id,
            alert_event=received.event,
            resource=received.resource,
            record=received.record_id,
            detected_by=received.detected_by,
        )
        return received

    def _authenticate(self, headers: Mapping[str, str], source_ip: str | None) -> None:
        name, expected = self.header()
        given = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
        if given is None or not hmac.compare_digest(given.encode(), expected.encode()):
            logger.warning(
                "security: splash alert refused",
                reason="missing header" if given is None else "wrong header value",
                source_ip=source_ip,
            )
            raise Unauthenticated("This endpoint accepts only Splash alerts carrying the configured header.")
