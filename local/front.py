"""The local API Gateway: a WSGI app that turns each HTTP request into a real API Gateway REST (v1 proxy)
event, runs the authorizer function, then the route's handler, and returns its response.

What it mirrors from API Gateway: routes and path parameters from infra.definitions.ROUTES (GET /openapi.json
too: the docs function serves the committed document, as in AWS; `extra` pages are local-only), the REQUEST
authorizer (401 on "Unauthorized", 403 on a Deny, 500 on a failure) and its result cache (the policy kept per
Authorization header for AUTHORIZER_CACHE_SECONDS, as CDK configures it), the authorizer context on
`requestContext.authorizer`, the problem+json gateway responses, the 10 MB payload limit, and 502 when a
function raises. What it does not: throttling, the request validator, WAF.

The event is the one API Gateway sends when it is reached on a custom domain mapped to the stage at the domain's
root (this server has no stage prefix): `path` and `requestContext.path` are the path the client asked for,
`requestContext.domainName` is the Host the client used (with its port, locally), `requestContext.stage` is
STAGE, `requestContext.identity.sourceIp` the client's address. Headers keep the client's spelling and order, in
`headers` (the last value of a repeated header) and `multiValueHeaders` (every value), plus the X-Forwarded-For,
-Proto and -Port headers API Gateway adds. A body is the request's text (`isBase64Encoded` false), as API Gateway
passes it with no binary media types configured; only a body that is not UTF-8 arrives base64-encoded. A
response's `headers` and `multiValueHeaders` are merged as API Gateway merges them, and one without a
Content-Type is `application/json`, as API Gateway answers it.

Handlers run in this process by default (the integration tests drive it through werkzeug's test Client), one
API function at a time; with a worker pool installed (local.workers; `make run` does), each invocation runs in
a worker process of its function, concurrently, as Lambda runs them.
"""

from __future__ import annotations

import base64
import fnmatch
import importlib.util
import json
import re
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from infra.definitions import AUTHORIZER, AUTHORIZER_CACHE_SECONDS, ROUTES, Route
from local.calls import CURRENT_FUNCTION
from practicepay.api.contract import HEALTH_BODY, PROBLEM_CONTENT_TYPE, gateway_response_body

if TYPE_CHECKING:
    from local.workers import WorkerPool

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = ROOT / "functions"
API_GATEWAY_MAX_PAYLOAD = 10 * 1024 * 1024
ACCOUNT = "123456789012"
API_ID = "local"
STAGE = "local"


@dataclass
class LambdaContext:
    function_name: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = ""
    timeout_ms: int = 10_000

    def __post_init__(self) -> None:
        self.aws_request_id = self.aws_request_id or str(uuid.uuid4())
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{self.function_name}"
        self.function_version = "$LATEST"
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + self.timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


# Lambda runs one request at a time per container. In-process (the default), the functions share one process,
# and the Powertools resolver keeps the current event on its class (BaseRouter.current_event), shared by every
# API function's resolver and every front in the process: they serve one request at a time between them. The
# authorizer has no resolver and runs beside them. In worker mode (use_workers; `make run`), each invocation
# runs in a worker process of its own function (local.workers), one at a time per worker, and no lock is taken.
_RESOLVER_LOCK = threading.Lock()
_AUTHORIZER_LOCK = threading.Lock()
_WORKERS: WorkerPool | None = None


def use_workers(pool: WorkerPool | None) -> None:
    """Route every `invoke` to `pool`'s worker processes (local.workers.install), or back in-process (None)."""
    global _WORKERS
    _WORKERS = pool


def worker_pool() -> WorkerPool | None:
    """The worker pool invocations go to, or None when handlers run in this process."""
    return _WORKERS


def invoke(function: str, event: dict[str, Any]) -> Any:
    """Run a function's handler on one event, as Lambda does (the call log knows which function is running):
    in a worker process when a pool is installed (an exception comes back as local.workers.InvocationError,
    with the original message), else in this process."""
    pool = _WORKERS
    if pool is not None:
        return pool.invoke(function, event)
    token = CURRENT_FUNCTION.set(function)
    try:
        return load_handler(function).lambda_handler(event, LambdaContext(function))
    finally:
        CURRENT_FUNCTION.reset(token)


def load_handler(function: str) -> ModuleType:
    """Import functions/<function>/handler.py under a unique module name, as Lambda would load it."""
    name = f"practicepay_fn_{function}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, FUNCTIONS_DIR / function / "handler.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_PAY_LINK_SECRET = re.compile(r"^(/pay/|/unsubscribe/)(?!assets/)[^/]+")
"""A pay link's secret, or an unsubscribe link's token: the URL's part that is a key."""


def _gateway_response(kind: str, request_id: str) -> Response:
    body = gateway_response_body(kind).replace("$context.requestId", request_id)
    return Response(body, status=json.loads(body)["status"], content_type=PROBLEM_CONTENT_TYPE)


def _allows(policy: dict[str, Any], method_arn: str) -> bool:
    statements = (policy.get("policyDocument") or {}).get("Statement") or []

    def matches(statement: dict[str, Any]) -> bool:
        resources = statement.get("Resource") or []
        resources = [resources] if isinstance(resources, str) else resources
        return any(fnmatch.fnmatchcase(method_arn, r) for r in resources)

    if any(s.get("Effect") == "Deny" and matches(s) for s in statements):
        return False
    return any(s.get("Effect") == "Allow" and matches(s) for s in statements)


class LocalApiGateway:
    def __init__(
        self,
        routes: Iterable[Route] = ROUTES,
        extra: dict[str, Callable[[Request], Response]] | None = None,
        access_log: bool = False,
    ):
        self.access_log = access_log
        self.routes = list(routes)
        self.url_map = Map(
            [Rule(r.path.replace("{", "<").replace("}", ">"), methods=[r.method], endpoint=r) for r in self.routes],
            strict_slashes=False,
        )
        self.extra = extra or {}
        self._locks = {
            AUTHORIZER.name: _AUTHORIZER_LOCK,
            **{r.function: _RESOLVER_LOCK for r in self.routes if r.function},
        }
        self._policies: dict[str, tuple[float, dict[str, Any]]] = {}
        self._cache_lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        started = time.monotonic()
        response = self.dispatch(request)
        if self.access_log:
            elapsed_ms = (time.monotonic() - started) * 1000
            path = _PAY_LINK_SECRET.sub(r"\1…", request.path)  # a link's secret never reaches a log
            print(f"{request.method} {path} -> {response.status_code} ({elapsed_ms:.0f} ms)", flush=True)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        extra = self.extra.get(request.path if request.method == "GET" else f"{request.method} {request.path}")
        if extra is not None:
            return extra(request)
        try:
            route, params = self.url_map.bind_to_environ(request.environ).match()
        except (NotFound, MethodNotAllowed):
            return _gateway_response("MISSING_AUTHENTICATION_TOKEN", request_id)
        body = request.get_data(cache=True)
        if len(body) > API_GATEWAY_MAX_PAYLOAD:
            return _gateway_response("REQUEST_TOO_LARGE", request_id)
        if route.function is None:
            return Response(json.dumps(HEALTH_BODY), status=200, content_type="application/json")
        event = self._event(request, route, params, body, request_id)
        if route.authorized:
            denied = self._authorize(event, request_id)
            if denied is not None:
                return denied
        return self._invoke(route.function, event, request_id)

    def _event(self, request: Request, route: Route, params: dict[str, str], body: bytes, request_id: str) -> dict:
        source_ip = request.remote_addr or "127.0.0.1"
        multi_headers: dict[str, list[str]] = {}
        for key, value in request.headers:
            multi_headers.setdefault(key, []).append(value)
        # API Gateway's own headers: the client's address appended to any X-Forwarded-For it sent, the scheme and
        # port it was reached on (https and 443 in AWS; this server's own locally).
        sent = ", ".join(request.headers.getlist("X-Forwarded-For"))
        for key in [k for k in multi_headers if k.lower() in _GATEWAY_HEADERS]:
            del multi_headers[key]
        multi_headers["X-Forwarded-For"] = [f"{sent}, {source_ip}" if sent else source_ip]
        multi_headers["X-Forwarded-Proto"] = [request.scheme]
        multi_headers["X-Forwarded-Port"] = [_port(request)]
        headers = {key: values[-1] for key, values in multi_headers.items()}
        query = {k: request.args.getlist(k) for k in request.args}
        try:
            text, is_base64 = body.decode("utf-8"), False
        except UnicodeDecodeError:
            text, is_base64 = base64.b64encode(body).decode(), True
        now = time.time()
        return {
            "resource": route.path,
            "path": request.path,
            "httpMethod": request.method,
            "headers": headers or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
            "multiValueQueryStringParameters": query or None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": {
                "accountId": ACCOUNT,
                "apiId": API_ID,
                "resourceId": "local",
                "resourcePath": route.path,
                "httpMethod": request.method,
                "path": request.path,  # what the client asked for: no stage on a custom domain mapped at its root
                "stage": STAGE,
                "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "requestId": request_id,
                "extendedRequestId": request_id,
                "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "requestTimeEpoch": int(now * 1000),
                "domainName": request.host,
                "domainPrefix": request.host.split(".", 1)[0].split(":", 1)[0],
                "identity": {
                    **dict.fromkeys(_IDENTITY_KEYS),
                    "sourceIp": source_ip,
                    "userAgent": request.headers.get("User-Agent"),
                },
            },
            "body": text or None,
            "isBase64Encoded": is_base64,
        }

    def _authorize(self, event: dict, request_id: str) -> Response | None:
        method_arn = f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{API_ID}/{STAGE}/{event['httpMethod']}{event['path']}"
        auth_event = {
            "type": "REQUEST",
            "methodArn": method_arn,
            **{k: event[k] for k in ("resource", "path", "httpMethod", "headers", "multiValueHeaders")},
            **{k: event[k] for k in ("queryStringParameters", "pathParameters", "stageVariables", "requestContext")},
        }
        identity = next((v for k, v in (event["headers"] or {}).items() if k.lower() == "authorization"), None)
        policy = self._cached_policy(identity)
        if policy is None:
            try:
                with self._lock(AUTHORIZER.name):
                    policy = invoke(AUTHORIZER.name, auth_event)
            except Exception as exc:
                kind = "UNAUTHORIZED" if str(exc) == "Unauthorized" else "AUTHORIZER_FAILURE"
                return _gateway_response(kind, request_id)
            if identity is not None:
                with self._cache_lock:
                    self._policies[identity] = (time.monotonic() + AUTHORIZER_CACHE_SECONDS, policy)
        if not _allows(policy, method_arn):
            return _gateway_response("ACCESS_DENIED", request_id)
        event["requestContext"]["authorizer"] = {
            **(policy.get("context") or {}),
            "principalId": policy.get("principalId"),
        }
        return None

    def _cached_policy(self, identity: str | None) -> dict[str, Any] | None:
        """The authorizer's policy for this Authorization header, as API Gateway caches it (an answer, Allow or
        Deny, for AUTHORIZER_CACHE_SECONDS; a refusal is not cached)."""
        if identity is None:
            return None
        with self._cache_lock:
            expires, policy = self._policies.get(identity, (0.0, None))
        return policy if expires > time.monotonic() else None

    def _lock(self, function: str) -> AbstractContextManager[Any]:
        """The in-process lock a function's invocation takes; none in worker mode (a worker is a process)."""
        return nullcontext() if _WORKERS is not None else self._locks[function]

    def _invoke(self, function: str, event: dict, request_id: str) -> Response:
        try:
            with self._lock(function):
                result = invoke(function, event)
        except Exception:
            # API Gateway answers a function error with 502; the function's own log has the traceback.
            traceback.print_exc()
            return _gateway_response("INTEGRATION_FAILURE", request_id)
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
        response = Response(data, status=int(result.get("statusCode", 200)))
        response.headers.clear()
        for key, values in _merged_headers(result).items():
            response.headers.setlist(key, values)
        if "Content-Type" not in response.headers:
            response.headers["Content-Type"] = "application/json"
        response.headers["x-amzn-RequestId"] = request_id
        return response


_GATEWAY_HEADERS = frozenset({"x-forwarded-for", "x-forwarded-proto", "x-forwarded-port"})
_IDENTITY_KEYS = (
    "cognitoIdentityPoolId",
    "accountId",
    "cognitoIdentityId",
    "caller",
    "sourceIp",
    "principalOrgId",
    "accessKey",
    "cognitoAuthenticationType",
    "cognitoAuthenticationProvider",
    "userArn",
    "userAgent",
    "user",
)
"""What API Gateway puts in `requestContext.identity` of a REST API event (all but two None without IAM auth)."""


def _header(headers: dict[str, list[str]], name: str) -> str | None:
    """The key `headers` spells `name` with (header names are case-insensitive), or None."""
    return next((key for key in headers if key.lower() == name.lower()), None)


def _port(request: Request) -> str:
    host = request.host
    if host.rsplit(":", 1)[-1].isdigit() and not host.endswith("]"):
        return host.rsplit(":", 1)[-1]
    return "443" if request.scheme == "https" else "80"


def _merged_headers(result: dict[str, Any]) -> dict[str, list[str]]:
    """A proxy response's `headers` and `multiValueHeaders` as API Gateway merges them: every value of both, a
    header both name (case-insensitively) once per distinct value, multiValueHeaders' values first."""
    merged: dict[str, list[str]] = {}
    for key, values in (result.get("multiValueHeaders") or {}).items():
        merged.setdefault(_header(merged, key) or key, []).extend(str(v) for v in values)
    for key, value in (result.get("headers") or {}).items():
        values = merged.setdefault(_header(merged, key) or key, [])
        if str(value) not in values:
            values.append(str(value))
    return merged
