"""The web alert intake over the alert shapes seen in the wild (tests/fixtures/splash/recorded/alert_*.json):
whatever an authenticated body's shape, it is kept and answered; a record of a known resource is queued, and the
processor skips the resources it does not process yet. Only no header (401), and a body that is not JSON or is
too large (400), are refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from practicepay.errors import MalformedRequest, Unauthenticated
from practicepay.splash.models import Resource
from practicepay.sync.intake import MAX_ALERT_BYTES, AlertIntake, Received
from practicepay.sync.service import StatusSync

pytestmark = pytest.mark.unit
RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "splash" / "recorded"
HEADER = ("X-PracticePay-Webhook", "s3cr3t-header-value")
AUTH = {"x-practicepay-webhook": "s3cr3t-header-value"}  # header names arrive in any case


def alert(name: str) -> dict[str, Any]:
    """A fixture's body as Splash would POST it (without its `_source` note)."""
    body = json.loads((RECORDED / f"alert_{name}.json").read_text())
    body.pop("_source")
    return body


class Kept:
    def __init__(self) -> None:
        self.alerts: dict[str, dict[str, Any]] = {}

    def put_alert(self, alert_id: str, *, body: str, received_at: str, epoch: float, source_ip: str | None) -> None:
        self.alerts[alert_id] = {"body": json.loads(body), "received_at": received_at, "source_ip": source_ip}


class Queued:
    def __init__(self) -> None:
        self.sent: list[Received] = []

    def send(self, received: Received) -> None:
        self.sent.append(received)


@pytest.fixture
def kept() -> Kept:
    return Kept()


@pytest.fixture
def queued() -> Queued:
    return Queued()


@pytest.fixture
def intake(kept: Kept, queued: Queued) -> AlertIntake:
    moment = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
    return AlertIntake(header=lambda: HEADER, store=kept, queue=queued, clock=lambda: moment)  # type: ignore[arg-type]


def receive(intake: AlertIntake, body: Any, headers: dict[str, str] | None = None) -> Received:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return intake.receive(AUTH if headers is None else headers, raw, "203.0.113.9")


def no_splash() -> Any:
    raise AssertionError("a skipped alert must not call Splash")


def test_the_wild_shape_for_a_txn_is_kept_and_queued_for_txns(intake, kept, queued):
    body = alert("wild_txn")
    assert "event" not in body["response"]["alert"] and "resource" not in body["response"]["alert"]
    got = receive(intake, body)
    assert (got.resource, got.record_id, got.event) == (Resource.TXNS, "t1_txn_627c1db4a5c9f4df02d883d", "txn.approved")
    assert queued.sent == [got]
    stored = kept.alerts[got.alert_id]["body"]
    assert stored["response"]["alert"] == body["response"]["alert"]
    assert stored["response"]["data"][0]["token"] == "*****"  # credentials erased, the rest kept
    assert stored["response"]["data"][0]["order"] == body["response"]["data"][0]["order"]


@pytest.mark.parametrize(
    "block", [None, {"merchantStatus": 2, "login": "t1_log_64ee6855b97877780a5bfef"}], ids=["none", "wild"]
)
def test_no_alert_block_or_a_wild_one_and_a_mer_id_is_queued_for_merchants(intake, queued, block):
    body = alert("bare_merchant")
    if block is not None:
        body["response"]["alert"] = block
    got = receive(intake, body)
    assert (got.resource, got.record_id, got.detected_by) == (
        Resource.MERCHANTS,
        "t1_mer_65f097a2848a4ceae39b6ee",
        "id",
    )
    assert queued.sent == [got]


def test_an_entity_return_is_queued_for_entity_returns_by_its_id_or_its_fields(intake, queued):
    body = alert("entity_return")
    by_id = receive(intake, body)
    assert (by_id.resource, by_id.detected_by) == (Resource.ENTITY_RETURNS, "id")
    body["response"]["data"][0]["id"] = "t1_zzz_67c9b2996c2944b0ffc9090"  # an id type we do not know
    by_fields = receive(intake, body)
    assert (by_fields.resource, by_fields.detected_by) == (Resource.ENTITY_RETURNS, "fields")
    assert [q.resource for q in queued.sent] == [Resource.ENTITY_RETURNS] * 2


def test_a_txn_record_with_an_unknown_id_type_is_told_by_its_fields(intake):
    body = alert("wild_txn")
    body["response"]["data"][0]["id"] = "t1_zzz_627c1db4a5c9f4df02d883d"
    body["response"]["alert"] = {"login": "t1_log_620d33c79fd9b4897252a37"}
    got = receive(intake, body)
    assert (got.resource, got.detected_by) == (Resource.TXNS, "fields")


def test_the_record_id_wins_over_an_alert_resource_that_disagrees(intake):
    body = alert("bare_merchant")
    body["response"]["alert"] = {"event": "txn.settled", "resource": 18}
    assert receive(intake, body).resource == Resource.MERCHANTS


def test_a_stated_known_resource_names_a_record_whose_id_type_is_unknown(intake):
    body = {"response": {"data": [{"id": "t1_zzz_00000000000000000000001"}], "alert": {"event": "x", "resource": "34"}}}
    got = receive(intake, body)
    assert (got.resource, got.detected_by) == (Resource.CHARGEBACKS, "alert.resource")


def test_a_chargeback_is_kept_queued_and_skipped_by_the_processor_without_a_splash_call(intake, kept, queued):
    got = receive(intake, alert("chargeback"))
    assert (got.resource, got.record_id, got.event) == (
        Resource.CHARGEBACKS,
        "t1_chb_6616a9de06fd751e5ae91e5",
        "chargeback.open",
    )
    assert got.alert_id in kept.alerts and queued.sent == [got]


@pytest.mark.parametrize("resource", [Resource.CHARGEBACKS, Resource.DISBURSEMENTS, Resource.TOKENS, 999], ids=str)
def test_the_processor_skips_a_resource_it_does_not_process_without_a_splash_call(resource):
    sync = StatusSync(book=None, practices=None, patients=None, splash=no_splash, sync=None)  # type: ignore[arg-type]
    assert sync.handle_alert(int(resource), "t1_chb_6616a9de06fd751e5ae91e5") == "not_processed"


@pytest.mark.parametrize(
    "body",
    [
        alert("no_record"),
        {"response": {"alert": {"txnStatus": "approved"}}},
        {"response": {"data": [{"status": 1}]}},
        {"response": {"data": [{"id": "not an id/../"}]}},
        {"response": {"data": [{"id": "t1_zzz_00000000000000000000001"}]}},
        {"response": "nope"},
        {},
        [],
        None,
        7,
    ],
    ids=[
        "no-record",
        "no-data",
        "record-without-id",
        "unusable-id",
        "untold-resource",
        "response-text",
        "{}",
        "[]",
        "null",
        "7",
    ],
)
def test_a_json_body_that_names_no_record_is_kept_as_unknown_and_not_queued(intake, kept, queued, body):
    got = receive(intake, body)
    assert got.resource is None and not got.queued and got.alert_id in kept.alerts
    assert kept.alerts[got.alert_id]["body"] == body
    assert queued.sent == []


def test_without_the_header_it_is_401_and_nothing_is_kept(intake, kept, queued):
    for headers in ({}, {HEADER[0]: "wrong"}):
        with pytest.raises(Unauthenticated):
            receive(intake, alert("wild_txn"), headers=headers)
    assert kept.alerts == {} and queued.sent == []


@pytest.mark.parametrize("raw", [b"{not json", b"", b'{"a": 1, "a": 2}', b"x" * (MAX_ALERT_BYTES + 1)])
def test_a_body_that_is_not_json_or_too_large_is_400_and_nothing_is_kept(intake, kept, queued, raw):
    with pytest.raises(MalformedRequest):
        receive(intake, raw)
    assert kept.alerts == {} and queued.sent == []
