"""Web alert delivery (ADR 0004): for each event, every active alert with a matching trigger (event and
resource equal) POSTs the record as JSON to each of its web actions, with the action's static header. Any 2xx is
delivered; otherwise it is resent up to `retries` times after backoff·2^n seconds. A daemon worker thread sends,
so API requests never wait.

The body's shape is `SandboxSettings.alert_shape` (Splash's real one is undocumented, splash-api.md §4/§9.1):
- "ours" (default): `{"response": {"data": [<record>], "alert": {"event", "resource", "id"}}}` (ADR 0004);
- "wild": what the one integrator who received live alerts parses (§4): the normal envelope, `details` and
  `errors` included, with `response.alert` carrying `<resource>Status` (`txnStatus: "approved"`, …) and `login`,
  and no `event` or `resource`;
- "bare": `{"response": {"data": [<record>]}}`, no alert block;
- "rotate": one of the three per (event, record), chosen by a hash of both, so a run is repeatable.

Alert faults act on the next N deliveries: drop them, deliver them twice, hold them until the next clock
advance (delay), or hold them and deliver them in reverse order at the next clock advance (reorder)."""

from __future__ import annotations

import heapq
import itertools
import json
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass, replace
from typing import Any, Literal

import requests

from local.sandbox.store import Record, Store
from local.sandbox.tables import RESOURCE_ENUM

AlertFaultMode = Literal["drop", "duplicate", "delay", "reorder"]
ALERT_FAULT_MODES: tuple[AlertFaultMode, ...] = ("drop", "duplicate", "delay", "reorder")
AlertShape = Literal["ours", "wild", "bare"]
ALERT_SHAPES: tuple[AlertShape, ...] = ("ours", "wild", "bare")
ROTATE = "rotate"

# [§3.1] txn `status` as the integrator's `txnStatus` spells it ("approved"); other resources send their value.
TXN_STATUS_WORDS = {0: "pending", 1: "approved", 2: "failed", 3: "captured", 4: "settled", 5: "returned"}
STATUS_KEY = {
    "txns": "txnStatus",
    "merchants": "merchantStatus",
    "entities": "entityStatus",
    "customers": "customerStatus",
    "tokens": "tokenStatus",
    "accounts": "accountStatus",
}


@dataclass(frozen=True)
class Delivery:
    alert: str
    action: str
    url: str
    event: str
    resource: int
    headers: dict[str, str]
    body: bytes
    retries: int
    attempt: int = 1


def alert_body(shape: str, event: str, resource: str, record: Record, alert_id: str, login: str | None) -> bytes:
    """The body of one delivery in `shape` (the module docstring)."""
    if shape == ROTATE:
        shape = ALERT_SHAPES[zlib.crc32(f"{event} {record.get('id')}".encode()) % len(ALERT_SHAPES)]
    if shape == "ours":
        alert = {"event": event, "resource": RESOURCE_ENUM[resource], "id": alert_id}
        return json.dumps({"response": {"data": [record], "alert": alert}}).encode()
    if shape == "bare":
        return json.dumps({"response": {"data": [record]}}).encode()
    if shape != "wild":
        raise ValueError(f"alert_shape must be one of {(*ALERT_SHAPES, ROTATE)}, not {shape!r}")
    wild: dict[str, Any] = {}
    status = record.get("status")
    if resource in STATUS_KEY and status is not None:
        wild[STATUS_KEY[resource]] = TXN_STATUS_WORDS.get(status, status) if resource == "txns" else status
    wild["login"] = login
    envelope = {"data": [record], "details": {"requestId": 1}, "errors": [], "alert": wild}
    return json.dumps({"response": envelope}).encode()


def deliveries_for(store: Store, event: str, resource: str, record: Record, shape: str) -> list[Delivery]:
    """One delivery per web action of each active alert that has a trigger for (event, resource); the body in
    `shape` (the sandbox's `settings.alert_shape`, read at each event, so a test may change it for a while)."""
    resource_id = RESOURCE_ENUM[resource]
    logins = {a["id"]: a.get("login") for a in store.rows("alerts")}
    # An alert fires on the activity of its scope (the SDK's AlertsPostRequest): a `forlogin` alert for records of
    # that login; the sandbox has no teams or divisions, so an alert scoped to one never fires here.
    owner = record.get("login") or store.login
    alerts = {a["id"] for a in store.rows("alerts") if not a["inactive"] and a.get("forlogin") == owner}
    fired = {
        t["alert"]
        for t in store.rows("alertTriggers")
        if t["alert"] in alerts and not t["inactive"] and t["event"] == event and t["resource"] == resource_id
    }
    found = []
    for action in store.rows("alertActions"):
        if action["alert"] in fired and action["type"] == "web" and not action["inactive"]:
            headers = {"Content-Type": "application/json"}
            if action.get("headerName"):
                headers[action["headerName"]] = action["headerValue"]
            login = logins.get(action["alert"]) or store.login
            body = alert_body(shape, event, resource, record, action["alert"], login)
            found.append(
                Delivery(
                    action["alert"],
                    action["id"],
                    action["value"],
                    event,
                    resource_id,
                    headers,
                    body,
                    action["retries"] or 0,
                )
            )
    return found


@dataclass
class AlertFault:
    mode: AlertFaultMode
    remaining: int

    def describe(self) -> dict[str, Any]:
        return {"kind": "alerts", "mode": self.mode, "count": self.remaining}


class AlertDispatcher:
    """A time-ordered queue of deliveries served by one worker thread. `reset()` starts a new generation:
    deliveries in flight from the old one are neither logged nor retried."""

    def __init__(self, timeout_seconds: float, backoff_seconds: float):
        self.timeout_seconds = timeout_seconds
        self.backoff_seconds = backoff_seconds
        self._cond = threading.Condition()
        self._queue: list[tuple[float, int, int, Delivery]] = []  # (due, seq, generation, delivery)
        self._held: list[Delivery] = []
        self._reordered: list[Delivery] = []
        self._faults: deque[AlertFault] = deque()
        self._log: list[dict[str, Any]] = []
        self._seq = itertools.count()
        self._generation = 0
        self._in_flight = 0
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._http = requests.Session()
        self._http.trust_env = False  # receivers are local; never route them through an environment proxy

    # --- feeding -------------------------------------------------------------------------------------------

    def submit(self, deliveries: list[Delivery]) -> None:
        with self._cond:
            for delivery in deliveries:
                self._route(delivery)
            self._cond.notify_all()

    def _route(self, delivery: Delivery) -> None:
        fault = self._faults[0] if self._faults else None
        if fault is None:
            self._push(delivery)
            return
        fault.remaining -= 1
        if fault.remaining == 0:
            self._faults.popleft()
        if fault.mode == "drop":
            self._record(delivery, {"error": "dropped by fault"}, attempt=0)
        elif fault.mode == "duplicate":
            self._push(delivery)
            self._push(delivery)
        else:
            (self._held if fault.mode == "delay" else self._reordered).append(delivery)

    def _push(self, delivery: Delivery, delay: float = 0.0) -> None:
        heapq.heappush(self._queue, (time.monotonic() + delay, next(self._seq), self._generation, delivery))

    def release_held(self) -> None:
        """At a clock advance: delayed deliveries go out in order, reordered ones in reverse."""
        with self._cond:
            for delivery in [*self._held, *reversed(self._reordered)]:
                self._push(delivery)
            self._held.clear()
            self._reordered.clear()
            self._cond.notify_all()

    def add_fault(self, mode: AlertFaultMode, count: int) -> None:
        with self._cond:
            self._faults.append(AlertFault(mode, count))

    def faults(self) -> list[dict[str, Any]]:
        with self._cond:
            return [f.describe() for f in self._faults]

    def clear_faults(self) -> None:
        with self._cond:
            self._faults.clear()

    def deliveries(self) -> list[dict[str, Any]]:
        with self._cond:
            return list(self._log)

    def reset(self) -> None:
        with self._cond:
            self._queue.clear()
            self._held.clear()
            self._reordered.clear()
            self._faults.clear()
            self._log.clear()
            self._generation += 1

    # --- the worker ----------------------------------------------------------------------------------------

    def start(self) -> None:
        with self._cond:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="splash-sandbox-alerts", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=self.timeout_seconds + 1)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and not (self._queue and self._queue[0][0] <= time.monotonic()):
                    self._cond.wait(timeout=self._queue[0][0] - time.monotonic() if self._queue else None)
                if self._stopping:
                    return
                _, _, generation, delivery = heapq.heappop(self._queue)
                self._in_flight += 1
            try:
                self._attempt(delivery, generation)
            finally:
                with self._cond:
                    self._in_flight -= 1
                    self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is queued or being sent (held deliveries wait for the clock); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._in_flight, timeout=timeout)

    def _attempt(self, delivery: Delivery, generation: int) -> None:
        try:
            response = self._http.post(
                delivery.url, data=delivery.body, headers=delivery.headers, timeout=self.timeout_seconds
            )
            outcome: dict[str, Any] = {"status_code": response.status_code}
            delivered = 200 <= response.status_code < 300
        except requests.RequestException as exc:
            outcome, delivered = {"error": f"{type(exc).__name__}: {exc}"}, False
        with self._cond:
            if generation != self._generation:
                return
            self._record(delivery, outcome, delivery.attempt)
            if not delivered and delivery.attempt <= delivery.retries:
                backoff = self.backoff_seconds * 2 ** (delivery.attempt - 1)
                self._push(replace(delivery, attempt=delivery.attempt + 1), backoff)
                self._cond.notify_all()

    def _record(self, delivery: Delivery, outcome: dict[str, Any], attempt: int) -> None:
        self._log.append(
            {
                "alert": delivery.alert,
                "action": delivery.action,
                "url": delivery.url,
                "event": delivery.event,
                "resource": delivery.resource,
                "attempt": attempt,
                **outcome,
            }
        )
