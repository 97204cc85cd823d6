"""The Splash sandbox's HTTP face: the API under the root path (APIKEY required) and `/_sandbox/*` controls
(clock, faults, request log, deliveries, reset, health; no key).

One API request goes: log → injected fault → rate limit → auth → REQUEST-TOKEN replay → handler → envelope.
All state sits behind one lock shared by the threaded server's request threads and the alert worker."""

from __future__ import annotations

import copy
import functools
import itertools
import json
import os
import pickle
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from local.sandbox import disputes, payfields, resources
from local.sandbox.alerts import ALERT_FAULT_MODES, AlertDispatcher, deliveries_for
from local.sandbox.boarding import create_entity
from local.sandbox.errors import ApiError, ErrorItem, error_item, refuse
from local.sandbox.query import apply_search, expand, parse_expand, parse_page, parse_search
from local.sandbox.rules import close_day, create_txn
from local.sandbox.settings import SandboxSettings
from local.sandbox.store import Record, SandboxClock, Store, public
from local.sandbox.tables import REQUEST_TOKEN_MAX_LEN
from local.sandbox.traffic import (
    HTTP_FAULT_KINDS,
    FaultPlan,
    HttpFault,
    RateLimiter,
    ReplayCache,
    logged_request,
)

__all__ = ["SandboxSettings", "ServerHandle", "SplashSandbox"]

JSON_TYPE = "application/json; charset=UTF-8"
STATE_FILE = "splash-sandbox.pickle"
SINGLE_PAGE = {"current": 1, "last": 1, "hasMore": False}
RATE_LIMITED = {"errors": [error_item("C_RATE_LIMIT_EXCEEDED_TEMP_BLOCK")]}
Body = dict[str, Any]


# Recorded POST /txns answers (tests/fixtures/splash/recorded/txn_post_*.json, splash-api.md §1 Type quirk): these
# fields come as strings, every other number (`total`, `type`, `origin`, `tax`, ...) stays an int.
STRINGIFIED = frozenset({"status", "fundingEnabled", "debtRepayment"})
# ... and `approved`/`originalApproved` too, but only on a txn the processor answered (a sale, no `fortxn`): the
# recorded reverse and refund carry them as ints.
STRINGIFIED_IF_PROCESSED = frozenset({"approved", "originalApproved"})
DECLINE_CODE = 201  # splash-api.md §6.1: the documented decline error (sandbox page; not in any recording)


def stringify(value: Any) -> Any:
    """A POST/PUT answer's number quirks, recursively: only the recorded fields become strings."""
    if isinstance(value, list):
        return [stringify(v) for v in value]
    if not isinstance(value, dict):
        return value
    names = STRINGIFIED | (STRINGIFIED_IF_PROCESSED if value.get("fortxn", "") is None else frozenset())
    return {k: _as_text(v) if k in names else stringify(v) for k, v in value.items()}


def _as_text(value: Any) -> Any:
    return str(int(value)) if isinstance(value, int) and not isinstance(value, bool) else value


def envelope(data: list[Record], details: Body, errors: list[ErrorItem] | None = None) -> Body:
    return {"response": {"data": data, "details": details, "errors": errors or []}}


def json_response(status: int, body: Body) -> Response:
    return Response(json.dumps(body), status=status, content_type=JSON_TYPE)


CREATORS: dict[str, Callable[[Store, Any], Record]] = {
    "entities": create_entity,
    "customers": resources.create_customer,
    "tokens": resources.create_token,
    "alerts": resources.create_alert,
    "alertTriggers": functools.partial(resources.create_alert_part, name="alertTriggers"),
    "alertActions": functools.partial(resources.create_alert_part, name="alertActions"),
    "chargebackMessages": disputes.create_message,
    "chargebackDocuments": disputes.create_document,
}


class AdminError(ValueError):
    """A bad `/_sandbox/*` request: answered 400 (or the given status) with `{"error": message}`."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """No access log: the request log at /_sandbox/requests is the record."""


@dataclass
class ServerHandle:
    server: BaseWSGIServer
    thread: threading.Thread
    dispatcher: AlertDispatcher

    @property
    def port(self) -> int:
        return self.server.server_port

    def shutdown(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.dispatcher.stop()
        self.thread.join()


class SplashSandbox:
    """The sandbox. `wsgi_app` serves the API and `/_sandbox/*`; `serve()` runs it (and the alert worker) on a
    port; `advance()` and `requests` are the in-process forms of POST /_sandbox/clock and GET /_sandbox/requests.
    Without `serve()` nothing delivers alerts: they wait in the queue."""

    def __init__(self, settings: SandboxSettings | None = None):
        self.settings = settings or SandboxSettings()
        self._start = self.settings.first_instant()
        self._lock = threading.RLock()
        self._dispatcher = AlertDispatcher(self.settings.alert_timeout_seconds, self.settings.alert_backoff_seconds)
        self._limiter = RateLimiter(self.settings)
        self._faults = FaultPlan()
        self._replays = ReplayCache()
        self._log: list[Body] = []
        self._fresh_state()

    def _fresh_state(self) -> None:
        self._clock = SandboxClock(self._start)
        columns = {name: (*r.fields, *r.read_only) for name, r in resources.RESOURCES.items()}
        self._store = Store(self._clock, self.settings.login, self._on_event, columns)
        self._request_ids = itertools.count(1)

    def _on_event(self, event: str, resource: str, record: Record) -> None:
        self._dispatcher.submit(deliveries_for(self._store, event, resource, record, self.settings.alert_shape))

    # --- public API -------------------------------------------------------------------------------------------

    def wsgi_app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        if request.path.startswith("/_sandbox/"):
            response = self._admin(request)
        elif (request.path == "/payFieldsScript" or request.path.startswith("/payFields/")) and not _tokenize(request):
            response = self._payfields(request)
        else:
            response = self._api(request)
        return response(environ, start_response)

    def serve(self, host: str, port: int) -> ServerHandle:
        """Serve on (host, port) (0: any free port) from daemon threads, with the alert worker running."""
        server = make_server(host, port, self.wsgi_app, threaded=True, request_handler=_QuietHandler)
        serve = functools.partial(server.serve_forever, poll_interval=0.1)
        thread = threading.Thread(target=serve, name="splash-sandbox-http", daemon=True)
        thread.start()
        self._dispatcher.start()
        return ServerHandle(server, thread, self._dispatcher)

    def advance(self, days: float = 0, seconds: float = 0) -> Body:
        """Move the sandbox clock forward, running every UTC midnight crossed; held alerts are released first."""
        if days < 0 or seconds < 0:
            raise AdminError("the sandbox clock only moves forward")
        with self._lock:
            self._dispatcher.release_held()
            first_event = len(self._store.events)
            target = self._clock.now + timedelta(days=days, seconds=seconds)
            for midnight in self._clock.midnights_until(target):
                self._clock.now = midnight
                close_day(self._store, self.settings)
            self._clock.now = target
            return {"now": target.isoformat(), "events": self._store.events[first_event:]}

    @property
    def today(self) -> date:
        """The sandbox clock's date (UTC): the business day its batches and returns run on."""
        return self._clock.now.date()

    def wait_for_alerts(self, timeout: float = 10.0) -> bool:
        """Block until every alert due has been delivered (or given up); False on timeout."""
        return self._dispatcher.wait_idle(timeout)

    @property
    def requests(self) -> list[Body]:
        with self._lock:
            return copy.deepcopy(self._log)

    def reset(self) -> None:
        with self._lock:
            self._fresh_state()
            self._faults.clear()
            self._replays.clear()
            self._limiter.reset()
            self._log.clear()
            self._dispatcher.reset()

    def holds(self, record_id: str) -> bool:
        """Whether a record with this id exists (any resource)."""
        with self._lock:
            return self._store.resolve(record_id) is not None

    def save_state(self, directory: Path) -> Path:
        """Write the records, vaulted instruments, clock and REQUEST-TOKEN answers to `directory` (atomically), for
        `load_state` after a restart. Alerts on their way and the web alert registrations are not kept."""
        with self._lock:
            state = {"now": self._clock.now, "store": self._store.state(), "replays": self._replays.state()}
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / STATE_FILE
        partial = target.with_suffix(".partial")
        partial.write_bytes(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(partial, target)
        return target

    def load_state(self, directory: Path) -> bool:
        """Take back what `save_state` wrote; False when there is none."""
        source = directory / STATE_FILE
        if not source.is_file():
            return False
        state = pickle.loads(source.read_bytes())  # noqa: S301 - the local stack's own file
        with self._lock:
            self._clock.now = state["now"]
            self._store.restore(state["store"])
            self._replays.restore(state["replays"])
        return True

    # --- the API ----------------------------------------------------------------------------------------------

    def _api(self, request: Request) -> Response:
        request.get_data(cache=True)  # read the body before taking the lock: a slow client must not stall others
        with self._lock:
            self._log.append(logged_request(request))
            fault = self._faults.take(request.path, request.method)
        if fault is not None and fault.kind == "http_500":
            return Response("Internal Server Error", status=500, content_type="text/plain")
        if fault is not None and fault.kind == "http_429":
            return json_response(429, RATE_LIMITED)
        if fault is not None and fault.kind == "timeout_before_commit":
            time.sleep(fault.delay_seconds)
            return Response("Gateway Timeout", status=504, content_type="text/plain")
        refused = fault is not None and fault.kind == "refusal"
        with self._lock:
            status, body = self._admitted(request, refused)
        if fault is not None and fault.kind == "merchant_status_0":  # a boarded merchant read at 0, as recorded
            for record in body.get("response", {}).get("data", []):
                if str(record.get("id", "")).startswith("t1_mer_"):
                    record["status"] = 0
        elif fault is not None and not refused:  # timeout_after_commit: processed and stored, answered too late
            time.sleep(fault.delay_seconds)
        return json_response(status, body)

    def _admitted(self, request: Request, refused: bool = False) -> tuple[int, Body]:
        """`refused`: answer as Payrix answers a request it refuses (HTTP 200, an error, no data), nothing done."""
        scope = (request.remote_addr or "", "/" + request.path.strip("/").split("/")[0])
        if not self._limiter.admit(scope, request.headers.get("rate-limit-test") == "match"):
            return 429, RATE_LIMITED
        key = request.headers.get("APIKEY")
        if _tokenize(request):  # the PayFields frames' call: a public key and a live txnSession, never replayed
            if refused:
                return self._refuse(request)
            details = {"requestId": next(self._request_ids)}
            return self._tokenize(request, key, request.headers.get("TXNSESSIONKEY"), details)
        if key in self.settings.public_api_keys:
            return self._public(request, key)
        if key not in self.settings.api_keys:
            errors = [error_item("invalid_auth")]
            return self.settings.bad_key_status, envelope([], {"requestId": next(self._request_ids)}, errors)
        token = request.headers.get("REQUEST-TOKEN")
        handle = self._refuse if refused else self._handle
        if token is None:
            return handle(request)
        if not 0 < len(token) <= REQUEST_TOKEN_MAX_LEN:
            errors = [error_item("invalid_field", "REQUEST-TOKEN", "A REQUEST-TOKEN has 1 to 100 characters")]
            return 200, envelope([], {"requestId": next(self._request_ids)}, errors)
        replay = self._replays.get((key, token), self._clock.now)
        if replay is not None:
            body = copy.deepcopy(replay.body)
            body["response"]["duplicateRequest"] = True
            return replay.status, body
        status, body = handle(request)  # a refusal too is replayed for 48 h under its token (splash-api.md §10)
        self._replays.put((key, token), status, body, self._clock.now)
        return status, body

    def _public(self, request: Request, key: str) -> tuple[int, Body]:
        """A public (PayFields) key: only POST /tokens with a live TXNSESSIONKEY (AT: "APIKEY + txnSessionKey"
        creates a token, the session key alone is invalid_auth); everything else is invalid_auth."""
        details: Body = {"requestId": next(self._request_ids)}
        session_key = request.headers.get("TXNSESSIONKEY")
        if request.method != "POST" or request.path.strip("/") != "tokens" or session_key is None:
            return self.settings.bad_key_status, envelope([], details, [error_item("invalid_auth")])
        return self._tokenize(request, key, session_key, details)

    def _tokenize(self, request: Request, key: Any, session_key: Any, details: Body) -> tuple[int, Body]:
        try:
            token = payfields.tokenize(self._store, self.settings, key, session_key, _json_body(request))
        except ApiError as error:
            auth = any(e.get("errorCode") == "invalid_auth" for e in error.errors)
            status = self.settings.bad_key_status if auth else error.status
            return status, envelope([], details, error.errors)
        return 200, envelope([stringify(public(token))], details)

    def _refuse(self, _request: Request) -> tuple[int, Body]:
        errors = [error_item("invalid_field", "merchant", "The merchant cannot process this transaction now")]
        return 200, envelope([], {"requestId": next(self._request_ids)}, errors)

    def _handle(self, request: Request) -> tuple[int, Body]:
        request_id = next(self._request_ids)
        details: Body = {"requestId": request_id}
        try:
            segments = request.path.strip("/").split("/")
            if request.method == "POST" and segments[:2] == ["files", "chargebackDocuments"] and len(segments) == 3:
                upload = request.files.get("file")
                content = upload.read() if upload is not None else None
                document = disputes.upload(self._store, self.settings, segments[2], content)
                return 200, envelope([stringify(public(document))], details)
            if len(segments) > 2 or not segments[0]:
                raise refuse("invalid_resource")
            name, record_id = segments[0], (segments[1] if len(segments) == 2 else None)
            resources.require_method(name, request.method)
            if request.method == "GET":
                return 200, self._get(request, name, record_id, request_id)
            data, errors = self._write(request, name, record_id)
        except ApiError as error:
            return error.status, envelope([], details, error.errors)
        tree = parse_expand(list(request.args.keys()))
        return 200, envelope([stringify(expand(self._store, public(r), tree)) for r in data], details, errors)

    def _get(self, request: Request, name: str, record_id: str | None, request_id: int) -> Body:
        search = parse_search(request.headers.get("SEARCH", ""), resources.RESOURCES[name])
        page = parse_page(request.args)
        if name == "txnSessions":  # their status and durationAvailable follow the sandbox clock
            payfields.refresh_all(self._store)
        if record_id is not None:
            record = self._store.get(name, record_id)
            rows, page_info = ([record] if record else []), SINGLE_PAGE
        else:
            rows, page_info = page.slice(apply_search(self._store, self._store.rows(name), search))
        tree = parse_expand(list(request.args.keys()))
        data = [expand(self._store, public(r), tree) for r in rows]
        return envelope(data, {"requestId": request_id, "totals": [], "page": page_info})

    def _write(self, request: Request, name: str, record_id: str | None) -> tuple[list[Record], list[ErrorItem]]:
        """POST, PUT and DELETE: the records to answer with and, for a decline, its errors."""
        body = _json_body(request) if request.method in ("POST", "PUT") else None
        if request.method == "POST":
            if record_id is not None:
                raise refuse("invalid_resource")
            return self._create(name, body)
        record = self._store.get(name, record_id) if record_id else None
        if record is None:
            raise refuse("no_such_record", "id")
        if request.method == "PUT":
            return [resources.update(self._store, name, record, body)], []
        return [resources.delete(self._store, name, record)], []

    def _create(self, name: str, body: Any) -> tuple[list[Record], list[ErrorItem]]:
        if name == "txns":
            outcome = create_txn(self._store, self.settings, body)
            if outcome.declined is None:
                return [outcome.txn], []
            if self.settings.decline_style == "txn_and_errors":
                return [outcome.txn], [error_item("txn_declined", msg=outcome.declined.message)]
            # The documented decline (splash-api.md §6.1, §9.2): no data, one failed-severity error, no field.
            return [], [{"code": DECLINE_CODE, "severity": 4, "msg": outcome.declined.message}]
        if name == "txnSessions":
            return [payfields.create_txn_session(self._store, self.settings, body)], []
        return [CREATORS[name](self._store, body)], []

    # --- PayFields: the loader script, the field frames and their tokenize call (local/sandbox/payfields.py) ------

    def _payfields(self, request: Request) -> Response:
        """The loader script and the frames' documents: no APIKEY (a browser loads them). The frames' tokenize
        call (POST /payFields/tokenize) goes through the API's pipeline instead: logged, faults, rate limit."""
        name = request.path.removeprefix("/payFields/")
        if request.method == "GET" and request.path == "/payFieldsScript":
            origin = request.host_url.rstrip("/")
            text = payfields.script(origin, request.args.get("spa") == "1")
            return _browser_response(text, "application/javascript; charset=utf-8")
        if request.method == "GET" and name == "frame":
            status, page = payfields.frame_page(request.args)
            response = _browser_response(page, "text/html; charset=utf-8", status)
            response.headers["Content-Security-Policy"] = payfields.FRAME_CSP
            return response
        if request.method == "GET" and (found := payfields.asset(name)) is not None:
            return _browser_response(*found)
        return Response("Not Found", status=404, content_type="text/plain")

    # --- /_sandbox/* --------------------------------------------------------------------------------------------

    def _admin(self, request: Request) -> Response:
        routes: dict[tuple[str, str], Callable[[Request], Any]] = {
            ("GET", "health"): lambda _: {"status": "ok"},
            ("GET", "clock"): lambda _: {"now": self._clock.now.isoformat()},
            ("POST", "clock"): self._admin_advance,
            ("GET", "faults"): lambda _: {"faults": self._fault_list()},
            ("POST", "faults"): self._admin_add_fault,
            ("DELETE", "faults"): self._admin_clear_faults,
            ("GET", "requests"): lambda _: {"requests": self.requests},
            ("DELETE", "requests"): self._admin_clear_requests,
            ("GET", "deliveries"): lambda _: {"deliveries": self._dispatcher.deliveries()},
            ("POST", "reset"): self._admin_reset,
            ("POST", "chargebacks"): lambda r: {"chargeback": self._funds(disputes.open_chargeback, _admin_body(r))},
            ("POST", "account-updater"): lambda r: {
                "paymentUpdate": self._funds(disputes.account_update, _admin_body(r))
            },
            ("POST", "account-updater/run"): lambda _: {"paymentUpdates": self._funds(disputes.run_updater)},
        }
        path = request.path.removeprefix("/_sandbox/").strip("/")
        route = routes.get((request.method, path))
        parts = path.split("/")
        if route is None and parts[0] == "chargebacks" and len(parts) >= 3:
            route = self._chargeback_control(request, parts)
        try:
            if route is None:
                raise AdminError(f"no sandbox control {request.method} {request.path}", 404)
            answer = route(request)
            if isinstance(answer, Response):
                return answer
            status = 201 if request.method == "POST" and parts[0] in ("chargebacks", "account-updater") else 200
            return json_response(status if len(parts) == 1 else 200, answer)
        except AdminError as error:
            return json_response(error.status, {"error": str(error)})
        except disputes.AdminRefusal as error:
            return json_response(error.status, {"error": str(error)})

    def _funds(self, action: Callable[..., Any], *args: Any) -> Any:
        """Run a chargeback or account-updater control under the lock; the API's shape of what it made."""
        with self._lock:
            if action in (disputes.open_chargeback,):
                made = action(self._store, self.settings, *args)
            else:
                made = action(self._store, *args)
        return [public(m) for m in made] if isinstance(made, list) else public(made)

    def _chargeback_control(self, request: Request, parts: list[str]) -> Callable[[Request], Any] | None:
        """/_sandbox/chargebacks/<id>/decide | cycle (POST) and /documents/<doc id> (GET: the file's bytes)."""
        chargeback = self._store.get("chargebacks", parts[1])

        def missing(_: Request) -> Any:
            raise AdminError(f"no chargeback {parts[1]}", 404)

        if chargeback is None:
            return missing
        if request.method == "POST" and parts[2:] == ["decide"]:
            return lambda r: {"chargeback": self._locked(disputes.decide, chargeback, _admin_body(r).get("outcome"))}
        if request.method == "POST" and parts[2:] == ["cycle"]:
            return lambda r: {"chargeback": self._locked(disputes.move_cycle, chargeback, _admin_body(r).get("cycle"))}
        if request.method == "GET" and len(parts) == 4 and parts[2] == "documents":
            document = self._store.get("chargebackDocuments", parts[3])

            def file(_: Request) -> Response:
                if document is None or document["chargeback"] != chargeback["id"] or document["_bytes"] is None:
                    raise AdminError("no such document file", 404)
                return Response(document["_bytes"], status=200, content_type="application/pdf")

            return file
        return None

    def _locked(self, action: Callable[..., Record], chargeback: Record, value: Any) -> Record:
        with self._lock:
            if action is disputes.decide:
                return public(action(self._store, self.settings, chargeback, value))
            return public(action(self._store, chargeback, value))

    def _admin_advance(self, request: Request) -> Body:
        body = _admin_body(request)
        days, seconds = body.get("advance_days", 0), body.get("advance_seconds", 0)
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (days, seconds)):
            raise AdminError("advance_days and advance_seconds are numbers")
        return self.advance(days=days, seconds=seconds)

    def _admin_add_fault(self, request: Request) -> Body:
        body = _admin_body(request)
        count = body.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise AdminError("count is a positive integer")
        kind = body.get("kind")
        if kind == "alerts":
            if body.get("mode") not in ALERT_FAULT_MODES:
                raise AdminError(f"an alerts fault's mode is one of {ALERT_FAULT_MODES}")
            self._dispatcher.add_fault(body["mode"], count)
        elif kind in HTTP_FAULT_KINDS:
            path, delay, method = body.get("path"), body.get("delay_seconds", 3.0), body.get("method")
            if path is not None and not (isinstance(path, str) and path.startswith("/")):
                raise AdminError("path is a path prefix such as /txns")
            if method not in (None, "GET", "POST", "PUT", "DELETE"):
                raise AdminError("method is GET, POST, PUT or DELETE")
            if not isinstance(delay, int | float) or isinstance(delay, bool) or delay < 0:
                raise AdminError("delay_seconds is a non-negative number")
            with self._lock:
                self._faults.add(HttpFault(kind, count, path, float(delay), method))
        else:
            raise AdminError(f"kind is one of {(*HTTP_FAULT_KINDS, 'alerts')}")
        return {"faults": self._fault_list()}

    def _admin_clear_faults(self, _: Request) -> Body:
        with self._lock:
            self._faults.clear()
        self._dispatcher.clear_faults()
        return {"faults": []}

    def _fault_list(self) -> list[Body]:
        with self._lock:
            return [*self._faults.describe(), *self._dispatcher.faults()]

    def _admin_clear_requests(self, _: Request) -> Body:
        with self._lock:
            self._log.clear()
        return {"requests": []}

    def _admin_reset(self, _: Request) -> Body:
        self.reset()
        return {"status": "reset", "now": self._clock.now.isoformat()}


def _tokenize(request: Request) -> bool:
    return request.method == "POST" and request.path == "/payFields/tokenize"


def _browser_response(text: str, content_type: str, status: int = 200) -> Response:
    response = Response(text, status=status, content_type=content_type)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"  # a page on another origin loads them
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _json_body(request: Request) -> Any:
    raw = request.get_data(cache=True, as_text=True)
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError([error_item("invalid_json")], status=400) from None


def _admin_body(request: Request) -> Body:
    try:
        body = json.loads(request.get_data(as_text=True) or "{}")
    except ValueError:
        raise AdminError("the body is not JSON") from None
    if not isinstance(body, dict):
        raise AdminError("the body is a JSON object")
    return body
