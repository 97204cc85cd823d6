"""Worker processes for the local stack, as Lambda runs functions: one execution environment (here a process)
handles one invocation at a time, and concurrent invocations of a function get more environments.

A `WorkerPool` keeps, per function, the workers it has started: created lazily (the first invocation of a
function starts one; an invocation that finds every worker of its function busy starts another, up to `cap`,
else waits for one to be free). A worker is a process started with the "spawn" method (the parent runs server
threads, so a plain fork could copy a lock held by another thread); it imports the function's handler once
(local.front.load_handler) and then serves invocations one at a time over a pipe. The parent's os.environ at
the time a worker starts is the worker's environment (the stack sets AWS_ENDPOINT_URL and the table names
before anything is invoked).

What comes back is the handler's result, or the exception it raised as an `InvocationError`: its message is the
original's (so the front's `str(exc) == "Unauthorized"` still maps to 401), with the original type's name and
the worker's formatted traceback (printed as the cause by `traceback.print_exc`). A worker that dies (during an
invocation: an InvocationError, "WorkerDied") is dropped and the next invocation starts a fresh one.

When the parent has a local.calls.CallLog installed at the time a worker starts, the worker records its AWS
calls too and sends them back with each answer, into the parent's log.

`install(pool)` makes local.front.invoke (and so the front and local.triggers) use the pool; `uninstall()`
goes back to running handlers in-process. `shutdown()` stops every worker (idle ones are asked to exit, busy
ones get a grace period, then are terminated)."""

from __future__ import annotations

import builtins
import contextlib
import multiprocessing
import os
import re
import signal
import threading
import time
import traceback
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

CONCURRENCY_ENV = "PRACTICEPAY_LOCAL_CONCURRENCY"
DEFAULT_CAP = 4
START_TIMEOUT_SECONDS = 120.0
"""How long a new worker may take to import its handler (a cold start on a busy 2-core machine)."""


class InvocationError(Exception):
    """A function's invocation failed in its worker: the handler raised (`type_name` is its exception's type) or
    the worker died ("WorkerDied") or could not import the handler. `str()` is the original message."""

    def __init__(self, function: str, type_name: str, message: str, remote_traceback: str = "") -> None:
        super().__init__(message)
        self.function = function
        self.type_name = type_name
        self.remote_traceback = remote_traceback
        if remote_traceback:
            self.__cause__ = RemoteTraceback(f"in the {function} worker:\n{remote_traceback.rstrip()}")


class RemoteTraceback(Exception):
    """The worker's traceback, shown by traceback.print_exc as the cause of the InvocationError."""

    def __str__(self) -> str:
        return f"\n{self.args[0]}"


def cap_from_env() -> int:
    raw = os.environ.get(CONCURRENCY_ENV, str(DEFAULT_CAP))
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"error: {CONCURRENCY_ENV}={raw!r} is not a positive whole number (workers per function)")
    return int(raw)


# -- the worker process ----------------------------------------------------------------------------------------


Filter = tuple[str, str, str, str, int]
"""A warnings filter as it travels to a worker: (action, message pattern, builtin category name, module, lineno)."""


def _warning_filters() -> list[Filter]:
    """The parent's warnings filters on builtin categories (e.g. `make run`'s "No application metrics")."""
    return [
        (action, _pattern(message), category.__name__, _pattern(module), lineno)
        for action, message, category, module, lineno in warnings.filters
        if category.__module__ == "builtins"
    ]


def _pattern(regex: re.Pattern[str] | str | None) -> str:
    return regex.pattern if isinstance(regex, re.Pattern) else regex or ""


def _serve(
    function: str, conn: Connection, env: dict[str, str], record_calls: bool, filters: Sequence[Filter] = ()
) -> None:
    """A worker's main: import the handler, say ready, then answer invocations until told to stop (None) or the
    parent goes away (EOF)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the parent stops us
    os.environ.clear()
    os.environ.update(env)
    for action, message, category, module, lineno in reversed(filters):
        warnings.filterwarnings(action, message, getattr(builtins, category), module, lineno)
    from local.calls import CURRENT_FUNCTION, CallLog
    from local.front import LambdaContext, load_handler

    log = CallLog.install() if record_calls else None
    try:
        handler = load_handler(function)
    except BaseException as exc:  # noqa: BLE001 - Lambda's Runtime.ImportModuleError: reported, then we exit
        conn.send(("error", type(exc).__name__, str(exc), traceback.format_exc(), []))
        return
    conn.send(("ready",))
    while True:
        try:
            event = conn.recv()
        except (EOFError, OSError):
            return
        if event is None:
            return
        token = CURRENT_FUNCTION.set(function)
        try:
            reply: tuple = ("ok", handler.lambda_handler(event, LambdaContext(function)))
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the caller, as Lambda reports it
            reply = ("error", type(exc).__name__, str(exc), traceback.format_exc())
        finally:
            CURRENT_FUNCTION.reset(token)
        calls = log.take() if log is not None else []
        try:
            conn.send((*reply, calls))
        except (EOFError, OSError):
            return
        except Exception as exc:  # noqa: BLE001 - a result that does not pickle
            message = f"the result could not be sent: {exc}"
            conn.send(("error", type(exc).__name__, message, traceback.format_exc(), calls))


# -- the parent ------------------------------------------------------------------------------------------------


@dataclass(eq=False)
class _Worker:
    function: str
    process: multiprocessing.process.BaseProcess
    conn: Connection
    invocations: int = 0

    def alive(self) -> bool:
        return self.process.is_alive()

    def stop(self) -> None:
        """Ask the worker to exit (it does once it reads this); closing the pipe also makes it exit."""
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(None)
        self.conn.close()


@dataclass
class _FunctionWorkers:
    idle: list[_Worker] = field(default_factory=list)
    count: int = 0
    """Workers alive or starting."""
    busy: int = 0
    max_busy: int = 0
    started: int = 0


class WorkerPool:
    def __init__(self, cap: int | None = None, *, start_method: str = "spawn") -> None:
        self.cap = cap if cap is not None else cap_from_env()
        if self.cap < 1:
            raise ValueError("cap is at least 1 worker per function")
        self._context = multiprocessing.get_context(start_method)
        self._cond = threading.Condition()
        self._functions: dict[str, _FunctionWorkers] = {}
        self._workers: set[_Worker] = set()
        self._closed = False

    # -- invoking ----------------------------------------------------------------------------------------------

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        """Run `function` on `event` in one of its workers; the handler's result, or InvocationError."""
        worker = self._acquire(function)
        healthy = False
        try:
            try:
                worker.conn.send(event)
                reply = worker.conn.recv()
            except (EOFError, OSError) as exc:
                worker.process.join(timeout=1)
                raise InvocationError(
                    function,
                    "WorkerDied",
                    f"the {function} worker (pid {worker.process.pid}) exited during the invocation "
                    f"(exit code {worker.process.exitcode}): {type(exc).__name__}",
                ) from None
            healthy = True
            worker.invocations += 1
        finally:
            self._release(worker, healthy)
        _record(reply[-1])
        if reply[0] == "ok":
            return reply[1]
        _, type_name, message, remote_traceback, _calls = reply
        raise InvocationError(function, type_name, message, remote_traceback)

    def warm(self, function: str, count: int = 1) -> None:
        """Make sure `function` has at least `count` workers (capped), started now rather than on first use."""
        with self._cond:
            workers = self._functions.setdefault(function, _FunctionWorkers())
            missing = min(count, self.cap) - workers.count
            workers.count += max(0, missing)
        failures: list[BaseException] = []
        threads = [threading.Thread(target=self._warm_one, args=(function, failures)) for _ in range(max(0, missing))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failures:
            raise failures[0]

    def _warm_one(self, function: str, failures: list[BaseException]) -> None:
        try:
            worker = self._start(function)
        except BaseException as exc:  # noqa: BLE001 - raised by warm(), on the caller's thread
            with self._cond:
                self._functions[function].count -= 1
                self._cond.notify_all()
            failures.append(exc)
            return
        with self._cond:
            self._functions[function].busy += 1
        self._release(worker, healthy=True)

    def stats(self) -> dict[str, dict[str, int]]:
        """Per function: workers alive or starting, busy now, the most ever busy at once, workers ever started."""
        with self._cond:
            return {
                name: {"workers": w.count, "busy": w.busy, "max_busy": w.max_busy, "started": w.started}
                for name, w in self._functions.items()
            }

    def pids(self, function: str) -> list[int]:
        with self._cond:
            return [w.process.pid for w in self._workers if w.function == function and w.process.pid]

    def _acquire(self, function: str) -> _Worker:
        with self._cond:
            workers = self._functions.setdefault(function, _FunctionWorkers())
            while True:
                if self._closed:
                    raise InvocationError(function, "PoolClosed", "the local stack's worker pool is shut down")
                while workers.idle:
                    worker = workers.idle.pop()  # the most recently used: the warmest
                    if worker.alive():
                        self._busy(workers)
                        return worker
                    self._drop(worker)
                if workers.count < self.cap:
                    workers.count += 1
                    self._busy(workers)
                    break
                self._cond.wait()
        try:
            return self._start(function)
        except BaseException:
            with self._cond:
                workers.count -= 1
                workers.busy -= 1
                self._cond.notify_all()
            raise

    @staticmethod
    def _busy(workers: _FunctionWorkers) -> None:
        workers.busy += 1
        workers.max_busy = max(workers.max_busy, workers.busy)

    def _release(self, worker: _Worker, healthy: bool) -> None:
        with self._cond:
            workers = self._functions[worker.function]
            workers.busy -= 1
            if healthy and not self._closed:
                workers.idle.append(worker)
            else:
                self._drop(worker)
            self._cond.notify_all()
        if not healthy:
            worker.process.kill()  # it may be alive but in an unknown state (e.g. a half-sent answer)
            worker.process.join(timeout=5)

    def _drop(self, worker: _Worker) -> None:
        """Forget a worker (the condition's lock is held) and ask it to exit."""
        self._functions[worker.function].count -= 1
        self._workers.discard(worker)
        worker.stop()

    def _start(self, function: str) -> _Worker:
        from local.calls import CallLog

        parent_conn, child_conn = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=_serve,
            args=(function, child_conn, dict(os.environ), CallLog.current() is not None, _warning_filters()),
            name=f"practicepay-{function}",
            daemon=True,  # multiprocessing's exit handler terminates what shutdown() did not stop
        )
        process.start()
        child_conn.close()  # the worker holds the only other end: its exit is EOF here
        worker = _Worker(function, process, parent_conn)
        with self._cond:
            self._workers.add(worker)
            self._functions[function].started += 1
            closed = self._closed
        try:
            if closed:
                raise InvocationError(function, "PoolClosed", "the local stack's worker pool is shut down")
            if not parent_conn.poll(START_TIMEOUT_SECONDS):
                raise InvocationError(function, "WorkerStartTimeout", f"the {function} worker did not start")
            hello = parent_conn.recv()
        except (EOFError, OSError):
            hello = ("error", "WorkerDied", f"the {function} worker exited while starting", "", [])
        except BaseException:
            self._forget(worker)
            raise
        if hello[0] != "ready":
            self._forget(worker)
            _, type_name, message, remote_traceback, _calls = hello
            raise InvocationError(function, type_name, message, remote_traceback)
        return worker

    def _forget(self, worker: _Worker) -> None:
        with self._cond:
            self._workers.discard(worker)
        worker.conn.close()
        worker.process.kill()
        worker.process.join(timeout=5)

    # -- stopping ----------------------------------------------------------------------------------------------

    def shutdown(self, grace_seconds: float = 5.0) -> None:
        """Stop every worker: idle ones now, busy ones when their invocation ends or after `grace_seconds`."""
        with self._cond:
            self._closed = True
            for workers in self._functions.values():
                for worker in workers.idle:
                    self._drop(worker)
                workers.idle.clear()
            self._cond.notify_all()
            processes = [w.process for w in self._workers]
        _join_or_kill(processes, grace_seconds)
        with self._cond:
            for worker in list(self._workers):
                if not worker.process.is_alive():
                    self._workers.discard(worker)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *_: object) -> None:
        self.shutdown()


def _join_or_kill(processes: Iterable[multiprocessing.process.BaseProcess], grace_seconds: float) -> None:
    processes = list(processes)
    deadline = time.monotonic() + grace_seconds
    for process in processes:
        process.join(timeout=max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.is_alive():
            process.terminate()
            process.join(timeout=2)
        if process.is_alive():
            process.kill()
            process.join(timeout=2)


def _record(calls: list) -> None:
    if calls:
        from local.calls import CallLog

        log = CallLog.current()
        if log is not None:
            log.add(calls)


# -- the switch ------------------------------------------------------------------------------------------------


def install(pool: WorkerPool) -> WorkerPool:
    """Run every local.front.invoke (the front, the triggers, the local events) in `pool`'s workers."""
    from local import front

    front.use_workers(pool)
    return pool


def uninstall() -> None:
    """Back to running handlers in this process (the default)."""
    from local import front

    front.use_workers(None)


def installed() -> WorkerPool | None:
    from local import front

    return front.worker_pool()
