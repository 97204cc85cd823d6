"""What AWS does around the functions that no HTTP request starts: Lambda's SQS event source mappings (receive
a batch, invoke, delete what succeeded, leave the reported failures for SQS to offer again after the visibility
timeout), the events table's stream and the buses (local.events), and the EventBridge Scheduler schedules.
`make run` runs them on background threads; tests call `drain` and `poll` directly so each step is
deterministic.

In-process (the default), one background thread ticks every source in turn. In worker mode (local.workers, as
`make run` does it) each source ticks on its own thread, so functions run side by side as in AWS: an alert does
not wait for a billing run, nor a charge for the poll; API calls never wait for either. Each function's lock
stays, so two threads never drain one queue (or run one schedule) at once."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import boto3
from werkzeug.wrappers import Request, Response

from infra.definitions import (
    ALERTS,
    ALERTS_QUEUE,
    BILLING,
    CHARGE_QUEUE,
    CHARGER,
    MESSAGES,
    MESSAGES_QUEUE,
    POLL,
    RECONCILER,
    RECONCILIATION_QUEUE,
    QueueDef,
)
from local.events import LocalEvents
from local.front import invoke, worker_pool

# queue -> the function its event source mapping invokes
SOURCES: tuple[tuple[QueueDef, str], ...] = (
    (ALERTS_QUEUE, ALERTS.name),
    (RECONCILIATION_QUEUE, RECONCILER.name),
    (CHARGE_QUEUE, CHARGER.name),
    (MESSAGES_QUEUE, MESSAGES.name),
)
BATCH_SIZE = 10


class LocalTriggers:
    def __init__(
        self,
        poll_seconds: float | None = None,
        billing_seconds: float | None = None,
        messages_seconds: float | None = None,
    ) -> None:
        self.poll_seconds = poll_seconds
        self.billing_seconds = billing_seconds
        self.messages_seconds = messages_seconds
        self._sqs = boto3.client("sqs")
        self._locks = {
            name: threading.Lock()
            for name in (ALERTS.name, RECONCILER.name, POLL.name, CHARGER.name, BILLING.name, MESSAGES.name)
        }
        self.failed = 0
        """Messages a function reported as failed (SQS offers them again after the visibility timeout)."""
        self._failed_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.events = LocalEvents()

    def drain(self, queue: QueueDef, function: str, *, max_batches: int = 100) -> int:
        """Deliver what is visible on `queue` to `function`, batch by batch; the number of messages handled."""
        url = os.environ[queue.env_var]
        handled = 0
        for _ in range(max_batches):
            messages = self._sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=BATCH_SIZE,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if not messages:
                break
            failed = self._invoke_batch(function, queue, messages)
            with self._failed_lock:
                self.failed += len(failed)
            done = [m for m in messages if m["MessageId"] not in failed]
            if done:
                entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)]
                self._sqs.delete_message_batch(QueueUrl=url, Entries=entries)
            handled += len(messages)
        return handled

    def drain_all(self) -> int:
        """Encounters from the platform's bus, then every queue, then the outbox onto our bus; the number of
        encounters and messages handled (published events are not counted)."""
        handled = self.events.deliver_platform_events()
        handled += sum(self.drain(queue, function) for queue, function in SOURCES)
        self.events.publish_outbox()
        return handled

    def poll(self) -> dict[str, Any]:
        with self._locks[POLL.name]:
            return invoke(POLL.name, _scheduled_event("practicepay-status-poll"))

    def billing_run(self, run_date: str | None = None) -> dict[str, Any]:
        """The daily billing schedule's tick; `run_date` (YYYY-MM-DD) runs it for another day (the sandbox's)."""
        event = _scheduled_event("practicepay-billing-run")
        if run_date:
            event["detail"] = {"run_date": run_date}
        with self._locks[BILLING.name]:
            return invoke(BILLING.name, event)

    def messages_sweep(self, now: str | None = None) -> dict[str, Any]:
        """The messages schedule's tick (reminders due, texts held for quiet hours); `now` (ISO 8601) runs it as of
        another moment (a local clock moved ahead)."""
        event = _scheduled_event("practicepay-messages-sweep")
        event["detail"] = {"sweep": True, **({"now": now} if now else {})}
        with self._locks[MESSAGES.name]:
            return invoke(MESSAGES.name, event)

    def _invoke_batch(self, function: str, queue: QueueDef, messages: list[dict[str, Any]]) -> set[str]:
        event = {"Records": [sqs_record(queue, m) for m in messages]}
        try:
            with self._locks[function]:
                result = invoke(function, event) or {}
        except Exception:
            traceback.print_exc()  # the whole batch failed: every message comes back
            return {m["MessageId"] for m in messages}
        return {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}

    # -- background (make run) ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Tick in the background: every source on one thread in-process; one thread per source in worker mode."""
        poll = self._scheduler(self.poll_seconds, self.poll, first_after=self.poll_seconds)
        billing = self._scheduler(self.billing_seconds, self.billing_run, first_after=0)
        sweep = self._scheduler(self.messages_seconds, self.messages_sweep, first_after=self.messages_seconds)
        if worker_pool() is None:

            def everything() -> None:
                self.drain_all()
                poll()
                billing()
                sweep()

            loops: dict[str, Callable[[], object]] = {"local-triggers": everything}
        else:
            loops = {
                "local-events": self._tick_events,
                **{f"local-sqs-{function}": self._drainer(queue, function) for queue, function in SOURCES},
                "local-poll": poll,
                "local-billing": billing,
                "local-messages-sweep": sweep,
            }
        self._threads = [
            threading.Thread(target=self._loop, args=(tick,), name=name, daemon=True) for name, tick in loops.items()
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        deadline = time.monotonic() + 10
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def _loop(self, tick: Callable[[], object]) -> None:
        while not self._stop.wait(1.0):
            try:
                tick()
            except Exception:  # keep ticking, as the AWS services would
                traceback.print_exc()

    def _tick_events(self) -> None:
        self.events.deliver_platform_events()
        self.events.publish_outbox()

    def _drainer(self, queue: QueueDef, function: str) -> Callable[[], object]:
        return lambda: self.drain(queue, function)

    @staticmethod
    def _scheduler(every: float | None, run: Callable[[], object], *, first_after: float | None) -> Callable[[], None]:
        """A tick that calls `run` every `every` seconds (never when falsy), the first time `first_after` from now
        (the daily billing run once at start, for today's date, then every billing_seconds)."""
        next_at = time.monotonic() + (first_after or 0)

        def tick() -> None:
            nonlocal next_at
            if every and time.monotonic() >= next_at:
                run()  # a failure is tried again on the next tick
                next_at = time.monotonic() + every

        return tick


EVENTS_ROUTE = "/_local/events"


def events_route(triggers: LocalTriggers) -> Callable[[Request], Response]:
    """GET /_local/events on the local front: the newest events published on our bus, newest last."""

    def recent(_request: Request) -> Response:
        triggers.events.published()
        return Response(json.dumps(list(triggers.events.recent), indent=2), content_type="application/json")

    return recent


BILLING_RUN_ROUTE = "POST /_local/billing-run"


def billing_run_route(triggers: LocalTriggers) -> Callable[[Request], Response]:
    """POST /_local/billing-run on the local front: the daily billing schedule's tick, now; a JSON body
    {"run_date": "YYYY-MM-DD"} runs it for another day (the sandbox's, after moving its clock)."""

    def run(request: Request) -> Response:
        body = json.loads(request.get_data() or b"{}")
        report = triggers.billing_run(body.get("run_date"))
        return Response(json.dumps(report), content_type="application/json")

    return run


MESSAGES_RUN_ROUTE = "POST /_local/messages-run"


def messages_run_route(triggers: LocalTriggers) -> Callable[[Request], Response]:
    """POST /_local/messages-run on the local front: the messages sweep, now; a JSON body {"now": "<ISO 8601>"} runs
    it as of that moment (reminders on the cadence, held texts at 08:00, without waiting for the days to pass)."""

    def run(request: Request) -> Response:
        body = json.loads(request.get_data() or b"{}")
        return Response(json.dumps(triggers.messages_sweep(body.get("now"))), content_type="application/json")

    return run


def sqs_record(queue: QueueDef, message: dict[str, Any]) -> dict[str, Any]:
    """A ReceiveMessage message as the record Lambda's SQS event source hands the function."""
    name = queue.local_name + (".fifo" if queue.fifo else "")
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{name}",
        "awsRegion": "us-east-1",
    }


def _scheduled_event(schedule: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "local-schedule",
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler",
        "account": "123456789012",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": "us-east-1",
        "resources": [f"arn:aws:scheduler:us-east-1:123456789012:schedule/default/{schedule}"],
        "detail": {},
    }
