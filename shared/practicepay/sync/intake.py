"""Splash web alert intake: authenticate, keep, queue, answer. No Splash call and no business logic here, so
the answer is fast; the alert processor fetches the truth later (sync.service).

Splash signs nothing; an alert carries the static header configured on its alert action (splash-api.md §4).
Its value is compared in constant time. A request without it is refused with 401 and leaves only a security
log line (no body). The body's shape is checked (Splash's envelope with one record and the alert's metadata),
credentials in it are erased, the rest is kept 30 days, and a message naming the record goes on a FIFO queue
grouped by that record, deduplicated by the body's hash (so the same alert five times is processed once)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from practicepay.api import body as json_body
from practicepay.clock import Clock, iso, utc_now
from practicepay.errors import MalformedRequest, Unauthenticated
from practicepay.observability import logger, redacted
from practicepay.splash.models import Resource
from practicepay.sync.store import SyncStore

MAX_ALERT_BYTES = 64 * 1024


class _AlertMeta(BaseModel):
    model_config = ConfigDict(extra="allow")
    event: str = Field(min_length=1, max_length=100)
    resource: int = Field(ge=1, le=1000)
    id: str | None = Field(default=None, max_length=64)


class _AlertRecord(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str = Field(pattern=r"^[A-Za-z0-9_]{1,64}$")


class _AlertBody(BaseModel):
    model_config = ConfigDict(extra="allow")
    data: list[_AlertRecord] = Field(min_length=1, max_length=1)
    alert: _AlertMeta | None = None


# Splash ids are `t1_`/`p1_` + a type + hex (splash-api.md §1): enough to tell a txn or a merchant when an alert
# comes without its `alert` block (the body format is not documented, §9.1).
_RESOURCE_BY_ID_TYPE = {"txn": Resource.TXNS, "mer": Resource.MERCHANTS}


def _resource(body: _AlertBody) -> int | None:
    if body.alert is not None:
        return body.alert.resource
    parts = body.data[0].id.split("_")
    return _RESOURCE_BY_ID_TYPE.get(parts[1]) if len(parts) == 3 else None


class AlertEnvelope(BaseModel):
    """What Splash POSTs (ADR 0004): {"response": {"data": [<record>], "alert": {event, resource, id}}}; the
    `alert` block is optional (the record's id then tells a txn or a merchant)."""

    model_config = ConfigDict(extra="allow")
    response: _AlertBody


@dataclass(frozen=True)
class Received:
    alert_id: str
    event: str
    resource: int
    record_id: str


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
        (practicepay.api.body: UTF-8, JSON, no duplicate keys, bounded depth)."""
        self._authenticate(headers, source_ip)
        if len(raw) > MAX_ALERT_BYTES:
            raise MalformedRequest(f"An alert body may be at most {MAX_ALERT_BYTES} bytes; this one is {len(raw)}.")
        payload = json_body.parse(raw)
        try:
            envelope = AlertEnvelope.model_validate(payload)
        except ValidationError as exc:
            raise MalformedRequest(
                'The body is not a Splash alert: {"response": {"data": [<record>], "alert": {"event", "resource"}}}.'
            ) from exc
        resource = _resource(envelope.response)
        if resource is None:
            raise MalformedRequest("The alert names no resource, and its record id does not tell one.")
        alert = envelope.response.alert
        received = Received(
            alert_id=hashlib.sha256(raw).hexdigest(),
            event=alert.event if alert else "unknown",
            resource=resource,
            record_id=envelope.response.data[0].id,
        )
        moment = self.clock()
        kept = json.dumps(redacted(payload), separators=(",", ":"))
        self.store.put_alert(
            received.alert_id, body=kept, received_at=iso(moment), epoch=moment.timestamp(), source_ip=source_ip
        )
        self.queue.send(received)
        logger.info("splash alert received", alert_event=received.event, resource=resource, record=received.record_id)
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
