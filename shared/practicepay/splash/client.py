"""The Splash (Payrix) REST client.

Talks the wire format of splash-api.md: `APIKEY` auth, the `response` envelope with `data` always a list,
errors inside HTTP 200, `SEARCH` headers, `page[number]`/`page[limit]` paging, `expand[...]`. Adds the safety a
payment system needs: a `REQUEST-TOKEN` on every write (our payment attempt id on money-moving POSTs), so that
retries are safe and Splash runs each write at most once; connect/read timeouts; retries with exponential
backoff and full jitter; 429 blocks honoured within a wait budget; a write that reached Splash without an
answer surfacing as `SplashOutcomeUnknown`, never as a failure.
Request bodies can only be `Outbound` models (the PHI firewall, practicepay.splash.outbound).
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import requests
from pydantic import ValidationError
from urllib3.exceptions import NewConnectionError

from practicepay.observability import logger, redacted
from practicepay.splash.declines import classify
from practicepay.splash.errors import (
    Decline,
    SplashAuthError,
    SplashDeclined,
    SplashError,
    SplashErrorItem,
    SplashInvalidOperation,
    SplashNotFound,
    SplashOutcomeUnknown,
    SplashRateLimited,
    SplashRequestTokenReused,
    SplashUnavailable,
    SplashUnexpectedReadRecord,
    SplashUnexpectedWriteRecord,
    SplashValidationError,
)
from practicepay.splash.models import (
    Alert,
    ChargebackDocument,
    Customer,
    Entity,
    EntityReturn,
    Merchant,
    Record,
    Token,
    Txn,
    TxnResult,
    TxnSession,
    TxnStatus,
)
from practicepay.splash.outbound import (
    AlertRequest,
    CustomerRequest,
    EntityRequest,
    Outbound,
    TokenRequest,
    TxnRequest,
    TxnSessionConfigurations,
    TxnSessionRequest,
)
from practicepay.splash.search import Search

HOSTS: dict[str, str] = {
    "payrix-sandbox": "https://test-api.payrix.com",
    "payrix": "https://api.payrix.com",
    "payrix-canada-sandbox": "https://test-api.payrixcanada.com",
    "payrix-canada": "https://api.payrixcanada.com",
    "splash-sandbox": "https://test-api.splashpayments.com",
    "splash": "https://api.splashpayments.com",
}
_LOCAL_HOSTNAMES = frozenset({"127.0.0.1", "localhost"})
_SANDBOX_HOSTNAMES = frozenset({"test-api.payrix.com", "test-api.splashpayments.com", "test-api.payrixcanada.com"})
# Processor refusals of an operation on an existing txn (splash-api.md §6.1-6.2): 361 auth gone, 362 already
# settled, 365 credit > capture, 366 too many redeposits, 367 not an NSF return, 369 invalid type, 371 processed.
_PROCESSOR_REFUSALS = frozenset({"361", "362", "365", "366", "367", "369", "371"})

_VALIDATION_CODES = {
    "required_field",
    "no_such_record",
    "invalid_field",
    "invalid_resource",
    "field_restricted",
    "query_error",
    "txn_type_payment_method_mismatch",
    "invalid_status",
}
_RATE_LIMIT = "C_RATE_LIMIT_EXCEEDED_TEMP_BLOCK"
DOCUMENT_UPLOAD_PATH = "files/chargebackDocuments/{id}"


def resolve_host(host: str) -> str:
    """A host name from HOSTS, an https URL (a white-label host), or http on this machine (the local sandbox)."""
    if host in HOSTS:
        return HOSTS[host]
    parts = urlsplit(host)
    bare = bool(parts.hostname) and not parts.path.strip("/") and not parts.query
    if bare and (parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOCAL_HOSTNAMES)):
        return f"{parts.scheme}://{parts.netloc}"
    raise ValueError(f"unknown Splash host {host!r}: use one of {sorted(HOSTS)}, an https URL or a local sandbox")


R = TypeVar("R", bound=Record)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    base_delay: float = 0.25
    max_delay: float = 2.0
    block_seconds: float = 10.0
    """How long a 429 blocks the path when the response names no Retry-After (Splash documents 10 s)."""
    rate_limit_budget: float = 10.0
    """The most the client sleeps for 429 blocks within one call before raising SplashRateLimited."""


@dataclass
class Envelope:
    status_code: int
    data: list[dict[str, Any]]
    details: dict[str, Any]
    errors: tuple[SplashErrorItem, ...]
    duplicate: bool = False


@dataclass
class Page(Generic[R]):  # noqa: UP046 (Python 3.11 has no type-parameter syntax)
    items: list[R]
    page: int
    last: int | None
    has_more: bool
    details: dict[str, Any] = field(default_factory=dict)


def _items(raw: Any) -> tuple[SplashErrorItem, ...]:
    out = []
    for item in raw or []:
        if not isinstance(item, dict):
            continue
        severity = item.get("severity")
        out.append(
            SplashErrorItem(
                code=str(item.get("code", "")),
                msg=str(item.get("msg", "")),
                field=item.get("field") or None,
                severity=int(severity) if str(severity).isdigit() else None,
                error_code=item.get("errorCode") or None,
            )
        )
    return tuple(out)


def parse_envelope(status_code: int, payload: Any) -> Envelope:
    """Normalize every shape Splash answers with: `response.{data,details,errors}`, a top-level `errors`
    (429, some auth failures), `data` as an object instead of a list, and `duplicateRequest` in either place."""
    if not isinstance(payload, dict):
        raise SplashUnavailable(f"Splash answered HTTP {status_code} with a body that is not a JSON object")
    response = payload.get("response") if isinstance(payload.get("response"), dict) else {}
    data = response.get("data", [])
    if isinstance(data, dict):
        data = [data]
    details = response.get("details") if isinstance(response.get("details"), dict) else {}
    errors = _items(response.get("errors")) + _items(payload.get("errors"))
    duplicate = bool(response.get("duplicateRequest") or details.get("duplicateRequest"))
    return Envelope(status_code, [d for d in data if isinstance(d, dict)], details, errors, duplicate)


def _kind(item: SplashErrorItem) -> str:
    return (item.error_code or item.msg or "").strip()


def parse_record(model: type[R], data: dict[str, Any], *, method: str = "GET", path: str | None = None) -> R:
    """One Splash record as `model`. A body no recorded variant explains raises a typed client error, never
    pydantic's ValidationError: SplashUnexpectedReadRecord for a read, SplashUnexpectedWriteRecord (an outcome
    unknown) for a write, whose answer was lost even though Splash may have run it. The error names the fields
    and the kind of problem only: values can be credentials (a token) or PHI."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = tuple(f"{'.'.join(str(p) for p in e['loc']) or '-'}: {e['type']}" for e in exc.errors())
        failure = SplashUnexpectedReadRecord if method == "GET" else SplashUnexpectedWriteRecord
        record = data.get("id") if isinstance(data.get("id"), str) else "?"
        raise failure(
            f"{method} {path or model.resource}: unreadable {model.__name__} {record} ({'; '.join(problems)})", problems
        ) from None


LOOKUP_PAGES = 5
"""Pages a lookup by txn or order reads at most: it finds a few records, unless Splash ignored the search."""


class SplashClient:
    def __init__(
        self,
        base_url: str,
        api_key: Callable[[], str],
        *,
        session: requests.Session | None = None,
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.base_url = resolve_host(base_url)
        self._api_key = api_key
        self._session = session or requests.Session()
        self._timeout = (connect_timeout, read_timeout)
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._jitter = jitter
        self.document_upload_path = os.environ.get("SPLASH_DOCUMENT_UPLOAD_PATH") or DOCUMENT_UPLOAD_PATH

    @property
    def payfields_script_url(self) -> str:
        """The PayFields loader a pay page includes (splash-api.md §7: `/payFieldsScript` on the API host)."""
        return f"{self.base_url}/payFieldsScript"

    @property
    def payfields_origin(self) -> str:
        """scheme://host[:port] of the API host: what a pay page's CSP allows in script-src and frame-src."""
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def is_sandbox(self) -> bool:
        hostname = urlsplit(self.base_url).hostname
        return hostname in _SANDBOX_HOSTNAMES or hostname in _LOCAL_HOSTNAMES

    # -- transport ---------------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Outbound | None = None,
        params: list[tuple[str, str]] | None = None,
        search: Search | None = None,
        request_token: str | None = None,
        upload: tuple[str, bytes, str] | None = None,
    ) -> Envelope:
        """One API call (`upload`: a file as (name, bytes, content type), sent as multipart/form-data). Writes
        (anything but GET) must carry a REQUEST-TOKEN, so Splash runs them at most once and the client may retry
        them; a write whose outcome could not be learned raises SplashOutcomeUnknown."""
        if body is not None and not isinstance(body, Outbound):
            raise TypeError("Splash request bodies must be Outbound models (the PHI firewall)")
        write = method != "GET"
        if write and not request_token:
            raise ValueError(f"{method} {path} needs a REQUEST-TOKEN")
        headers = {"APIKEY": self._api_key(), "Content-Type": "application/json", "Accept": "application/json"}
        if upload is not None:
            del headers["Content-Type"]  # requests writes multipart/form-data with its boundary
        if search:
            headers["SEARCH"] = search.header()
        if request_token:
            headers["REQUEST-TOKEN"] = request_token
        payload = body.payload() if body is not None else None
        if payload is not None:
            logger.debug("splash request body", method=method, path=path, body=redacted(payload))
        response = self._send(method, path, headers, params, payload, write, upload)
        if response.status_code in (401, 403):
            raise SplashAuthError(f"{method} {path}: API key refused (HTTP {response.status_code})")
        if response.status_code == 404:
            # A malformed id: Splash answers 404 with an empty text/html body (recorded). Nothing ran, and asking
            # again cannot find it: not found, not unavailable (which callers retry).
            raise SplashNotFound(f"{method} {path}: HTTP 404 (no such path or malformed id)")
        try:
            parsed = response.json()
        except ValueError:
            failure = SplashOutcomeUnknown if write else SplashUnavailable
            raise failure(f"{method} {path}: unreadable answer (HTTP {response.status_code})") from None
        envelope = parse_envelope(response.status_code, parsed)
        self._raise_for_transport_errors(method, path, envelope)
        return envelope

    def _send(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        params: list[tuple[str, str]] | None,
        payload: dict[str, Any] | None,
        write: bool,
        upload: tuple[str, bytes, str] | None = None,
    ) -> requests.Response:
        url = f"{self.base_url}/{path.lstrip('/')}"
        attempt, waited, maybe_committed = 0, 0.0, False

        def give_up(reason: str, cause: Exception | None = None) -> SplashError:
            # Once any attempt of a write reached Splash without an answer, its outcome is unknown, whatever
            # the later attempts ran into.
            failure = SplashOutcomeUnknown if write and maybe_committed else SplashUnavailable
            error = failure(f"{method} {path}: {reason}")
            error.__cause__ = cause
            return error

        while True:
            attempt += 1
            started = time.monotonic()
            try:
                response = self._session.request(
                    method,
                    url,
                    headers=headers,
                    params=params,
                    data={"name": upload[0]} if upload else None if payload is None else json.dumps(payload),
                    files={"file": upload} if upload else None,
                    timeout=self._timeout,
                )
            except requests.RequestException as exc:
                maybe_committed = maybe_committed or not _never_sent(exc)
                self._log(method, path, None, attempt, started, type(exc).__name__)
                if attempt < self._retry.max_attempts:
                    self._backoff(attempt)
                    continue
                raise give_up(f"no answer ({type(exc).__name__})", exc) from exc
            self._log(method, path, response.status_code, attempt, started)
            if response.status_code == 429:  # refused before processing: it does not use up an attempt
                wait = _retry_after(response, self._retry.block_seconds)
                if waited + wait <= self._retry.rate_limit_budget:
                    waited += wait
                    self._sleep(wait)
                    attempt -= 1
                    continue
                if write and maybe_committed:
                    raise give_up(f"rate limited after an unanswered attempt (blocked {wait:g} s)")
                raise SplashRateLimited(f"{method} {path}: rate limited, blocked for {wait:g} s", retry_after=wait)
            if response.status_code >= 500:
                maybe_committed = True
                if attempt < self._retry.max_attempts:
                    self._backoff(attempt)
                    continue
                raise give_up(f"HTTP {response.status_code} from Splash")
            return response

    def _backoff(self, attempt: int) -> None:
        cap = min(self._retry.max_delay, self._retry.base_delay * 2 ** (attempt - 1))
        self._sleep(self._jitter() * cap)

    @staticmethod
    def _log(method: str, path: str, status: int | None, attempt: int, started: float, error: str = "") -> None:
        logger.info(
            "splash call",
            splash_method=method,
            splash_path=path.split("?")[0],
            splash_status=status,
            attempt=attempt,
            elapsed_ms=round((time.monotonic() - started) * 1000, 1),
            **({"error": error} if error else {}),
        )

    @staticmethod
    def _raise_for_transport_errors(method: str, path: str, envelope: Envelope) -> None:
        kinds = {_kind(i) for i in envelope.errors} | {i.code for i in envelope.errors}
        if "invalid_auth" in kinds:
            raise SplashAuthError(f"{method} {path}: API key refused", envelope.errors)
        if _RATE_LIMIT in kinds or "64" in kinds:
            raise SplashRateLimited(f"{method} {path}: rate limited", retry_after=10.0, items=envelope.errors)

    # -- generic resource access -------------------------------------------------------------------------

    @staticmethod
    def _raise_for_errors(method: str, path: str, envelope: Envelope) -> None:
        if not envelope.errors:
            if envelope.status_code >= 400:
                raise SplashValidationError(f"{method} {path}: HTTP {envelope.status_code}")
            return
        kinds = {_kind(i) for i in envelope.errors}
        message = "; ".join(f"{i.field + ': ' if i.field else ''}{i.msg or i.error_code}" for i in envelope.errors)
        if kinds & {"no_such_record"}:
            raise SplashNotFound(f"{method} {path}: {message}", envelope.errors)
        if any(_processor_refusal(i) for i in envelope.errors):
            raise SplashInvalidOperation(f"{method} {path}: {message}", envelope.errors)
        raise SplashValidationError(f"{method} {path}: {message}", envelope.errors)

    def get(self, model: type[R], record_id: str, *, expand: Iterable[str] = ()) -> R:
        envelope = self.request("GET", f"{model.resource}/{record_id}", params=_expand(expand))
        self._raise_for_errors("GET", model.resource, envelope)
        if not envelope.data:
            raise SplashNotFound(f"no {model.resource} record {record_id}")
        return parse_record(model, envelope.data[0])

    def list(
        self,
        model: type[R],
        *,
        search: Search | None = None,
        page: int = 1,
        limit: int = 30,
        expand: Iterable[str] = (),
    ) -> Page[R]:
        if not 1 <= limit <= 100:
            raise ValueError("page limit must be 1-100")
        params = [("page[number]", str(page)), ("page[limit]", str(limit)), *_expand(expand)]
        envelope = self.request("GET", model.resource, params=params, search=search)
        self._raise_for_errors("GET", model.resource, envelope)
        items = [parse_record(model, d) for d in envelope.data]
        info = envelope.details.get("page")
        if isinstance(info, dict) and "hasMore" in info:
            has_more = bool(info["hasMore"])
        else:  # paging details missing or in another shape (splash-api.md §9.8): a full page may have more
            info, has_more = {}, len(items) == limit
        return Page(
            items=items,
            page=int(info.get("current") or page),
            last=int(info["last"]) if str(info.get("last", "")).isdigit() else None,
            has_more=has_more,
            details=envelope.details,
        )

    def iterate(
        self,
        model: type[R],
        *,
        search: Search | None = None,
        limit: int = 100,
        expand: Iterable[str] = (),
        max_pages: int | None = None,
    ) -> Iterator[R]:
        """Every matching record, page by page, until `hasMore` is false; at most `max_pages` pages for a lookup
        that should find a handful (an operator the API ignored would otherwise walk a merchant's history)."""
        page = 1
        while True:
            result = self.list(model, search=search, page=page, limit=limit, expand=expand)
            yield from result.items
            if not result.has_more or not result.items:
                return
            if max_pages is not None and page >= max_pages:
                logger.error(
                    "splash lookup stopped: more pages than it should find", resource=model.resource, pages=page
                )
                return
            page += 1

    def create(self, model: type[R], body: Outbound, *, request_token: str | None = None) -> R:
        """Create a record. Pass a stable `request_token` to make a retry after SplashOutcomeUnknown safe;
        without one, a fresh token still makes the client's own retries safe."""
        envelope = self.request("POST", model.resource, body=body, request_token=request_token or str(uuid.uuid4()))
        self._raise_for_errors("POST", model.resource, envelope)
        if not envelope.data:
            raise SplashUnavailable(f"POST {model.resource}: Splash returned no record")
        return parse_record(model, envelope.data[0], method="POST")

    # -- the operations PracticePay uses -----------------------------------------------------------------

    def create_customer(self, body: CustomerRequest, *, request_token: str | None = None) -> Customer:
        return self.create(Customer, body, request_token=request_token)

    def delete(self, model: type[R], record_id: str, *, request_token: str) -> None:
        envelope = self.request("DELETE", f"{model.resource}/{record_id}", request_token=request_token)
        self._raise_for_errors("DELETE", model.resource, envelope)

    def tokenize(self, body: TokenRequest) -> Token:
        """Vault raw test numbers. Only against a sandbox host: in production, tokens come from PayFields."""
        if not self.is_sandbox:
            raise PermissionError("raw card or bank numbers may only be sent to a Splash sandbox host")
        return self.create(Token, body)

    def board(self, body: EntityRequest, *, request_token: str | None = None) -> tuple[Entity, Merchant]:
        """Board a merchant: one POST /entities. A stable `request_token` makes a retry replay the first answer."""
        entity = self.create(Entity, body, request_token=request_token)
        search = Search().equals("entity", entity.id)
        merchant = next((m for m in self.iterate(Merchant, search=search, limit=10) if m.entity == entity.id), None)
        if merchant is None:
            raise SplashUnavailable(f"entity {entity.id} was created without a merchant")
        return entity, merchant

    def create_txn_session(
        self,
        merchant: str,
        *,
        duration_minutes: int,
        max_times_use: int,
        max_times_approved: int | None = None,
        request_token: str | None = None,
    ) -> TxnSession:
        """A short-lived PayFields key for one merchant's pay page (POST /txnSessions, private key): the page
        gets its `key` with the public API key, never the private one. Uses and approvals past the limits, and
        any use after `duration_minutes`, are refused by Splash."""
        configurations = TxnSessionConfigurations(
            duration=duration_minutes, maxTimesUse=max_times_use, maxTimesApproved=max_times_approved
        )
        body = TxnSessionRequest(merchant=merchant, configurations=configurations)
        return self.create(TxnSession, body, request_token=request_token)

    def create_alert(self, body: AlertRequest) -> Alert:
        return self.create(Alert, body)

    def txn(self, body: TxnRequest, *, request_token: str) -> Txn:
        """Run a payment operation exactly once per `request_token` (Splash dedups by it for 48 h).

        Returns the txn (approved, or pending for some eCheck flows). Raises SplashDeclined with a reason
        category, SplashValidationError/SplashInvalidOperation for refusals, SplashOutcomeUnknown when the
        outcome could not be learned (look it up by `order` before anything else)."""
        envelope = self.request("POST", Txn.resource, body=body, request_token=request_token)
        txn = parse_record(Txn, envelope.data[0], method="POST") if envelope.data else None
        if txn is not None:
            _same_operation(body, txn, request_token)
            if envelope.duplicate:
                logger.info("splash replayed a request token", txn=txn.id)
            if txn.status == TxnStatus.FAILED:
                raise SplashDeclined(self._decline_reason(txn, envelope), envelope.errors)
            if envelope.errors:  # informational notes on a processed txn: the money moved
                logger.warning("splash txn answered with notes", codes=[_kind(i) for i in envelope.errors])
            return txn
        if any(_is_decline(i) for i in envelope.errors):
            raise SplashDeclined(self._decline_reason(None, envelope), envelope.errors)
        self._raise_for_errors("POST", Txn.resource, envelope)
        raise SplashOutcomeUnknown("POST txns: Splash returned neither a txn nor an error")

    def _decline_reason(self, txn: Txn | None, envelope: Envelope) -> Decline:
        text = next((i.msg for i in envelope.errors if i.msg), "") or "Declined"
        return classify(text) if txn is None else self.decline_for(txn, text)

    def decline_for(self, txn: Txn, text: str = "Declined") -> Decline:
        """Why a failed txn failed: its declined txnResult (processor text and codes), else `text`."""
        try:
            results = self.txn_results(txn.id)
        except SplashError:
            results = []
        declined = next((r for r in results if r.code == 2), None)
        if declined is None:
            return classify(text, txn_id=txn.id)
        return classify(declined.message or text, declined.originalCode, declined.bankCode, txn.id)

    def upload_document(self, document: ChargebackDocument, name: str, content: bytes, *, request_token: str) -> None:
        """The file of a chargeback document created with `create` (`POST /files/chargebackDocuments/<id>`,
        multipart/form-data with `name` and the file). Payrix documents this second step for noteDocuments
        (/files/noteDocuments/<id>); for chargebackDocuments it is the same pattern, unverified (ADR 0017): the path
        is DOCUMENT_UPLOAD_PATH, overridable with SPLASH_DOCUMENT_UPLOAD_PATH."""
        path = self.document_upload_path.format(id=document.id)
        envelope = self.request("POST", path, request_token=request_token, upload=(name, content, "application/pdf"))
        self._raise_for_errors("POST", "files/chargebackDocuments", envelope)

    def returns_for(self, txn_id: str) -> list[EntityReturn]:
        """The bank returns (R-codes) recorded against a txn."""
        found = self.iterate(EntityReturn, search=Search().equals("txn", txn_id), limit=10, max_pages=LOOKUP_PAGES)
        return [r for r in found if r.txn == txn_id]

    def txn_results(self, txn_id: str) -> list[TxnResult]:
        found = self.iterate(TxnResult, search=Search().equals("txn", txn_id), limit=100, max_pages=LOOKUP_PAGES)
        return [r for r in found if r.txn == txn_id]

    def txns_by_order(self, order: str, *, merchant: str | None = None) -> list[Txn]:
        """The reconciler's lookup: every txn carrying our `order` id, exactly (`equals` ignores case, and a
        search the API does not apply answers a merchant's whole history, so the results are checked here;
        `order` is compared as text, as it arrives as an int or a string)."""
        search = Search().equals("order", order)
        if merchant:
            search.equals("merchant", merchant)
        return [
            t
            for t in self.iterate(Txn, search=search, limit=100, max_pages=LOOKUP_PAGES)
            if t.order is not None and str(t.order) == str(order) and (not merchant or t.merchant == merchant)
        ]


def _processor_refusal(item: SplashErrorItem) -> bool:
    """An operation its original's state forbids (refund before capture, redeposit limits …)."""
    return _kind(item) == "invalid_status" or item.msg[:3] in _PROCESSOR_REFUSALS


def _is_decline(item: SplashErrorItem) -> bool:
    """The processor or bank said no. Our sandbox (and, we expect, Splash) marks it `txn_declined` (code 31);
    otherwise a failed-severity error that names no field and is no known validation or refusal code."""
    if _kind(item) == "txn_declined" or item.code == "31":
        return True
    return (
        (item.severity or 0) >= 4
        and not item.field
        and _kind(item) not in _VALIDATION_CODES
        and not _processor_refusal(item)
    )


def _same_operation(body: TxnRequest, txn: Txn, request_token: str) -> None:
    mismatched = [
        name
        for name, sent, got in (
            ("type", int(body.type), txn.type),
            ("fortxn", body.fortxn, txn.fortxn),
            ("total", body.total, txn.total),
            ("order", body.order, txn.order),
        )
        if sent is not None and got is not None and sent != got
    ]
    if mismatched:
        raise SplashRequestTokenReused(
            f"REQUEST-TOKEN {request_token} already ran another operation ({', '.join(mismatched)} differ)"
        )


def _expand(fields: Iterable[str]) -> list[tuple[str, str]]:
    return [(f"expand[{f}][]", "") for f in fields]


def _retry_after(response: requests.Response, default: float) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return default


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request certainly did not reach Splash (connect timeout, connection refused)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    inner = exc.args[0] if exc.args else None
    return isinstance(getattr(inner, "reason", inner), NewConnectionError)
