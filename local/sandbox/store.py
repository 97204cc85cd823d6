"""The sandbox's state: records per resource, the vaulted instruments, the sandbox clock and the event feed.

Records are plain dicts in the GET shape. Keys starting with `_` are the sandbox's own bookkeeping (e.g. when
an eCheck returns) and never leave it: `public()` drops them. Full card and account numbers live only in
`Store.instruments`, which nothing serializes but `Store.state()` (the local stack's PRACTICEPAY_LOCAL_STATE file,
sandbox test numbers only)."""

from __future__ import annotations

import copy
import secrets
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from local.sandbox.payments import Instrument
from local.sandbox.tables import ID_PREFIXES, RESOURCE_ENUM

Record = dict[str, Any]
# Web alert registrations are not kept across a restart: each start of the local stack registers its own.
NOT_KEPT = frozenset({"alerts", "alertTriggers", "alertActions"})
EventSink = Callable[[str, str, Record], None]


SPLASH_ZONE = ZoneInfo("America/New_York")


def stamp(moment: datetime) -> str:
    """Splash's `created`/`modified` format: "YYYY-MM-DD HH:MM:SS.ssss", in US-Eastern wall time as Payrix writes
    them (splash-api.md §1, Dates): no zone, and the DST fall-back hour repeats. A naive moment is taken as UTC."""
    wall = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(SPLASH_ZONE)
    return f"{wall:%Y-%m-%d %H:%M:%S}.{wall.microsecond // 100:04d}"


def yyyymmdd(day: date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def from_yyyymmdd(value: int) -> date:
    return date(value // 10000, value // 100 % 100, value % 100)


def public(record: Record) -> Record:
    """The record as the API shows it: a deep copy without the sandbox's `_` bookkeeping keys."""
    return copy.deepcopy({k: v for k, v in record.items() if not k.startswith("_")})


class SandboxClock:
    """Sandbox time: frozen at `start` until advanced, so every test sees the same dates."""

    def __init__(self, start: datetime):
        self.now = start

    def midnights_until(self, target: datetime) -> list[datetime]:
        """The UTC day boundaries in (now, target], in order."""
        midnight = datetime.combine(self.now.date() + timedelta(days=1), datetime.min.time(), self.now.tzinfo)
        found = []
        while midnight <= target:
            found.append(midnight)
            midnight += timedelta(days=1)
        return found


class Store:
    """`columns` names each resource's fields: a new record has them all, null unless given."""

    def __init__(self, clock: SandboxClock, login: str, sink: EventSink, columns: Mapping[str, Iterable[str]]):
        self.clock = clock
        self.login = login
        self.sink = sink
        self.columns = {name: dict.fromkeys(fields) for name, fields in columns.items()}
        self.tables: dict[str, dict[str, Record]] = {name: {} for name in ID_PREFIXES}
        self.instruments: dict[str, Instrument] = {}
        self.events: list[str] = []
        self._resource_of_prefix = {prefix: name for name, prefix in ID_PREFIXES.items()}

    @property
    def today(self) -> date:
        return self.clock.now.date()

    def insert(self, resource: str, fields: Record) -> Record:
        now = stamp(self.clock.now)
        record: Record = {
            "id": f"t1_{ID_PREFIXES[resource]}_{secrets.token_hex(12)[:23]}",
            "created": now,
            "modified": now,
            "creator": self.login,
            "modifier": self.login,
            "login": self.login,
            **self.columns[resource],
            **fields,
            "inactive": fields.get("inactive", 0),
            "frozen": fields.get("frozen", 0),
        }
        self.tables[resource][record["id"]] = record
        self.emit("create", resource, record)
        return record

    def update(self, resource: str, record: Record, changes: Record, *events: str) -> None:
        """Apply changes, stamp `modified`, and fire `update` then the given specific events."""
        record.update(changes)
        record["modified"] = stamp(self.clock.now)
        self.emit("update", resource, record)
        for event in events:
            self.emit(event, resource, record)

    def delete(self, resource: str, record: Record) -> None:
        del self.tables[resource][record["id"]]
        self.emit("delete", resource, record)

    def get(self, resource: str, record_id: Any) -> Record | None:
        return self.tables[resource].get(record_id) if isinstance(record_id, str) else None

    def rows(self, resource: str) -> list[Record]:
        return list(self.tables[resource].values())

    def resolve(self, value: Any) -> Record | None:
        """The record an id points to, whatever its resource (ids carry their prefix)."""
        if not isinstance(value, str) or value.count("_") < 2:
            return None
        resource = self._resource_of_prefix.get(value.split("_")[1])
        return self.get(resource, value) if resource else None

    def token_by_value(self, token: Any) -> Record | None:
        """A token record by its 32-hex `token` string (what txns reference), not by its `t1_tok_` id."""
        return next((t for t in self.rows("tokens") if t["token"] == token), None) if isinstance(token, str) else None

    def vault(self, instrument: Instrument) -> str:
        """Keep an instrument and return its payment id (`g` + 14 hex, as Splash's payment records)."""
        payment_id = f"g{secrets.token_hex(7)}"
        self.instruments[payment_id] = instrument
        return payment_id

    def state(self) -> dict[str, Any]:
        """What a restart keeps: the records (but the web alerts), the vaulted instruments and the event feed."""
        tables = {name: rows for name, rows in self.tables.items() if name not in NOT_KEPT}
        return copy.deepcopy({"tables": tables, "instruments": self.instruments, "events": self.events})

    def restore(self, state: Mapping[str, Any]) -> None:
        """Take back what `state()` returned (no events are fired: nothing changed at Splash)."""
        for name, rows in state["tables"].items():
            if name in self.tables and name not in NOT_KEPT:
                self.tables[name] = copy.deepcopy(rows)
        self.instruments = dict(state["instruments"])
        self.events = list(state["events"])

    def emit(self, event: str, resource: str, record: Record) -> None:
        """Feed an event to the alert machinery; only resources with a Splash ResourceEnum value have events."""
        if resource in RESOURCE_ENUM:
            self.events.append(event)
            self.sink(event, resource, public(record))
