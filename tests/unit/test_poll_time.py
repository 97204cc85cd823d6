"""The status poll's cursor over Splash's US-Eastern wall-clock `modified` (splash-api.md §1, Dates), and its
keyset paging: nothing skipped across DST or when a row changes mid-poll."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from practicepay.splash.client import Page
from practicepay.splash.models import Txn
from practicepay.sync.service import StatusSync, _parse_splash

pytestmark = pytest.mark.unit

MERCHANT = "t1_mer_000000000000000000000001"


class FakeSplash:
    """Txns searched like Splash does: `field[op]=value` AND-ed, compared as text, sorted; page numbers honoured."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.after_call: list[Any] = []
        self.calls = 0

    def put(self, txn_id: str, modified: str) -> None:
        self.rows[txn_id] = {
            "id": txn_id,
            "modified": modified,
            "merchant": MERCHANT,
            "order": f"ord_{txn_id}",
            "type": 1,
            "status": 1,
            "total": 100,
        }

    def list(self, model, *, search=None, page: int = 1, limit: int = 100) -> Page:
        self.calls += 1
        rows, sort = list(self.rows.values()), []
        for part in search.header().split("&"):
            key, value = part.split("=", 1)
            field, op = key[:-1].split("[")
            if op == "sort":
                sort.append(field)
                continue
            test = {"greater": str.__gt__, "less": str.__lt__, "equals": str.__eq__}.get(op)
            if op == "in":
                rows = [r for r in rows if str(r.get(field)) in value.split(",")]
            else:
                rows = [r for r in rows if r.get(field) is not None and test(str(r[field]), value)]
        rows.sort(key=lambda r: tuple(str(r[f]) for f in sort))
        chunk = rows[(page - 1) * limit : page * limit]
        more = len(rows) > page * limit
        items = [Txn.model_validate(r) for r in chunk]
        if self.after_call:
            self.after_call.pop(0)()
        return Page(items=items, page=page, last=None, has_more=more)


class FakeCursors:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def cursor(self, name: str) -> str | None:
        return self.values.get(name)

    def save_cursor(self, name: str, value: str, updated_at: str) -> None:
        if name not in self.values or self.values[name] < value:
            self.values[name] = value


class Poller:
    """A StatusSync over fakes, recording every txn each poll applies."""

    def __init__(self, splash: FakeSplash, overlap_seconds: int = 0) -> None:
        self.splash = splash
        self.now = datetime(2026, 1, 1, tzinfo=UTC)
        self.applied: list[list[tuple[str, str]]] = []
        store = SimpleNamespace(open_items=lambda cursor: ([], None), get_many=lambda keys: [None for _ in keys])
        practices = SimpleNamespace(
            by_merchant=lambda merchant_id: None,
            onboarding=lambda: [],
            merchant_slice=lambda start, limit: ([], None),
        )
        self.sync = StatusSync(
            book=SimpleNamespace(store=store),  # type: ignore[arg-type]
            practices=practices,  # type: ignore[arg-type]
            patients=None,  # type: ignore[arg-type]
            splash=lambda: splash,  # type: ignore[arg-type,return-value]
            sync=FakeCursors(),  # type: ignore[arg-type]
            clock=lambda: self.now,
            overlap_seconds=overlap_seconds,
            lookback_seconds=86400,
        )
        original = self.sync._apply_page

        def spy(txns: list[Txn], open_items: dict, outcomes: Counter) -> int:
            self.applied[-1] += [(t.id, t.modified or "") for t in txns]
            return original(txns, open_items, outcomes)

        self.sync._apply_page = spy  # type: ignore[method-assign]

    def poll(self, at: datetime) -> list[str]:
        self.now = at
        self.applied.append([])
        self.sync.poll()
        return [txn_id for txn_id, _ in self.applied[-1]]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_recorded_eastern_stamp_is_read_as_its_utc_instant():
    # recorded: `created` 16:33:56 with the recording at 20:33:56 GMT, in May (EDT, UTC-4)
    assert _parse_splash("2026-05-14 16:33:56.1234") == utc(2026, 5, 14, 20, 33, 56, 123400)
    assert _parse_splash("2026-01-14 16:33:56") == utc(2026, 1, 14, 21, 33, 56)  # EST, UTC-5


def test_the_cursor_crosses_the_fall_back_hour_without_skipping_a_row():
    # 2026-11-01: 02:00 EDT (06:00Z) falls back to 01:00 EST; the wall clock repeats 01:00-02:00.
    splash = FakeSplash()
    poller = Poller(splash)
    splash.put("txn_edt", "2026-11-01 01:30:00.0000")  # 05:30Z, first pass of 01:30
    assert poller.poll(utc(2026, 11, 1, 5, 45)) == ["txn_edt"]
    splash.put("txn_est", "2026-11-01 01:10:00.0000")  # 06:10Z, second pass: earlier wall time, later instant
    second = poller.poll(utc(2026, 11, 1, 6, 20))
    assert "txn_est" in second and len(second) == len(set(second))
    splash.put("txn_after", "2026-11-01 02:10:00.0000")  # 07:10Z
    third = poller.poll(utc(2026, 11, 1, 7, 30))
    assert "txn_after" in third and len(third) == len(set(third))
    assert poller.poll(utc(2026, 11, 1, 7, 40)) == []  # past the repeated hour: nothing is read twice again
    seen = Counter(txn_id for poll in poller.applied for txn_id, _ in poll)
    assert set(seen) == {"txn_edt", "txn_est", "txn_after"}
    assert seen["txn_after"] == 1


def test_the_cursor_crosses_spring_forward():
    # 2026-03-08: 02:00 EST (07:00Z) springs forward to 03:00 EDT; 02:xx is never written.
    splash = FakeSplash()
    poller = Poller(splash)
    splash.put("txn_est", "2026-03-08 01:50:00.0000")  # 06:50Z
    assert poller.poll(utc(2026, 3, 8, 6, 55)) == ["txn_est"]
    splash.put("txn_edt", "2026-03-08 03:05:00.0000")  # 07:05Z
    assert poller.poll(utc(2026, 3, 8, 7, 10)) == ["txn_edt"]
    assert poller.poll(utc(2026, 3, 8, 7, 20)) == []


def test_a_row_modified_mid_poll_is_neither_skipped_nor_doubled():
    splash = FakeSplash()
    start = datetime(2026, 6, 1, 12, 0)  # wall time
    for n in range(150):
        splash.put(f"txn_{n:03d}", f"{start + timedelta(seconds=n):%Y-%m-%d %H:%M:%S}.0000")
    # after the first page is read, its first row changes (its `modified` moves past every other row)
    splash.after_call.append(lambda: splash.put("txn_000", "2026-06-01 12:10:00.0000"))
    poller = Poller(splash)
    applied = poller.poll(utc(2026, 6, 1, 16, 5))
    assert set(applied) == set(splash.rows)  # none skipped
    versions = Counter(poller.applied[-1])
    assert max(versions.values()) == 1  # no state applied twice
    assert ("txn_000", "2026-06-01 12:10:00.0000") in versions  # the change mid-poll is applied
    assert Counter(applied)["txn_100"] == 1


def test_a_page_of_rows_sharing_one_modified_is_paged_by_id():
    splash = FakeSplash()
    for n in range(230):
        splash.put(f"txn_{n:03d}", "2026-06-01 12:00:00.0000")
    splash.put("txn_late", "2026-06-01 12:00:01.0000")
    poller = Poller(splash)
    applied = poller.poll(utc(2026, 6, 1, 16, 5))
    assert sorted(applied) == sorted(splash.rows)
    assert splash.calls <= 5
