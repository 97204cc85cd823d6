"""PayFields in the sandbox: txnSessions, the public-key tokenize rules, and the browser side (the loader script
`/payFieldsScript` and the field frames under `/payFields/`), so a page built for Payrix PayFields runs unchanged
against the local sandbox.

What is Payrix's (splash-api.md §7; recorded bodies in tests/fixtures/splash/recorded/txn_session_*.json):
- `POST /txnSessions` with the private key, `{login, merchant, configurations: {duration (minutes),
  maxTimesApproved, maxTimesUse}}`, answers a `t1_tss_…` record with `key`, `status` ("created"),
  `durationAvailable`, `timesUsed`, `timesApproved` (official SDK doc/controllers/txn-sessions.md;
  1aboveio/payrix-api-tester docs/design/payrix-tokenization-payfields.md, "AT").
- The browser sends a *public* API key with the session key; the session key alone is `invalid_auth` (AT, tested
  against the live sandbox); `POST /tokens` with `APIKEY` + `TXNSESSIONKEY` headers vaults a card (AT).
- The loader script and its `PayFields.config` / `fields` / `onSuccess` / `onFailure` / `onValidationFailure` /
  `ready()` / `submit()` names, mode `token`, and `onSuccess(response)` with `response.data[0]` the token record
  (resource.payrix.com PayFields pages; public integrations found with `find_string PayFields.onSuccess`).

What is the sandbox's (Payrix publishes neither): the frames' own protocol (postMessage between the page and
the first, "leader", frame, which reads its same-origin sibling frames and calls `POST /payFields/tokenize`), the
field type names for a bank account (`routing`, `account`, `account_type`), the validation-failure argument,
how a session's uses are counted (every tokenize that reaches a live session is a use, a vaulted token is also
an approval) and that a session expires `duration` minutes after it was created (the SDK says "after 10 minutes of
inactivity"), and the status "expired" once it is used up. Only mode `token` is implemented."""

from __future__ import annotations

import html
import math
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from local.sandbox import resources
from local.sandbox.errors import ApiError, Problems, error_item
from local.sandbox.payments import as_int
from local.sandbox.settings import SandboxSettings
from local.sandbox.store import Record, Store

HERE = Path(__file__).parent
ORIGIN_MARK = "__PAYFIELDS_ORIGIN__"
SPA_MARK = "__PAYFIELDS_SPA__"
CONFIGURATION_KEYS = ("duration", "maxTimesApproved", "maxTimesUse")
PRIVATE_KEY_REFUSED = "PayFields takes a public API key: a private key must never reach a browser"
NO_SESSION = "PayFields needs a live txnSession key (txnSessionKey) with the public API key"
_GROUP = re.compile(r"^[0-9a-f]{8,32}$")
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+$")
# The frames' own documents: framed by any page (frame-ancestors *), loading only their own script and style,
# talking only to this origin.
FRAME_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors *"
)


@dataclass(frozen=True)
class Field:
    """One PayFields field type as a frame renders it: the visible label, the frame's title (what a screen
    reader announces for the iframe) and the input's attributes."""

    label: str
    title: str
    autocomplete: str
    max_length: int
    hint: str = ""
    bank: bool = False


# Card types: Payrix's names (`number`, `expiration`, `cvv`; the public integrations all use them). Bank types:
# the sandbox's names (Payrix's eCheck field names are not public): `routing`, `account` (alias
# `account_number`), `account_type` (checking/savings, personal/business → payment method 8-11).
FIELDS: dict[str, Field] = {
    "number": Field("Card number", "Secure card number field", "cc-number", 23),
    "expiration": Field("Expiration date", "Secure card expiration date field", "cc-exp", 7, "MM/YY"),
    "cvv": Field("Security code (CVV)", "Secure card security code field", "cc-csc", 4, "3 or 4 digits"),
    "routing": Field("Routing number", "Secure bank routing number field", "off", 9, "9 digits", bank=True),
    "account": Field("Account number", "Secure bank account number field", "off", 17, bank=True),
    "account_type": Field("Account type", "Secure bank account type field", "off", 0, bank=True),
}
ALIASES = {"account_number": "account"}
ACCOUNT_TYPES = (("8", "Checking"), ("9", "Savings"), ("10", "Business checking"), ("11", "Business savings"))


# --- txnSessions -----------------------------------------------------------------------------------------------


def create_txn_session(store: Store, settings: SandboxSettings, body: Any) -> Record:
    """POST /txnSessions (private key): a session for one merchant, live for `duration` minutes."""
    problems = Problems()
    values = resources.validated(store, "txnSessions", body, problems)
    resources.require(values, ("merchant",), problems)
    configurations = _configurations(values.get("configurations"), problems)
    problems.raise_if_any()
    duration = configurations.get("duration", settings.txn_session_minutes)
    values.update(
        login=values.get("login") or store.login,  # the SDK: "defaults to the login currently authenticated"
        configurations=configurations,
        status="created",  # as recorded by AT
        origin=None,
        durationAvailable=duration,
        timesUsed=0,
        timesApproved=0,
        key=secrets.token_hex(16),
        _expires=store.clock.now + timedelta(minutes=duration),
    )
    return store.insert("txnSessions", values)


def _configurations(raw: Any, problems: Problems) -> dict[str, int]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.add("invalid_field", "configurations", "Expected an object")
        return {}
    found: dict[str, int] = {}
    for key, value in raw.items():
        number = as_int(value) if value is not None else None
        if key not in CONFIGURATION_KEYS:
            problems.add("invalid_field", f"configurations.{key}", f"One of {list(CONFIGURATION_KEYS)}")
        elif value is None:
            continue
        elif number is None or number < 1:
            problems.add("invalid_field", f"configurations.{key}", "A positive whole number")
        else:
            found[key] = number
    return found


def refresh(store: Store, session: Record) -> None:
    """Bring `durationAvailable` and `status` up to the sandbox clock (and the uses so far)."""
    remaining = (session["_expires"] - store.clock.now).total_seconds()
    minutes = max(0, math.ceil(remaining / 60))
    status = "expired" if remaining <= 0 or exhausted(session) else session["status"]
    if (minutes, status) != (session["durationAvailable"], session["status"]):
        store.update("txnSessions", session, {"durationAvailable": minutes, "status": status})


def refresh_all(store: Store) -> None:
    for session in store.rows("txnSessions"):
        refresh(store, session)


def exhausted(session: Record) -> bool:
    limits = session["configurations"] or {}
    return any(
        limits.get(limit) is not None and session[count] >= limits[limit]
        for limit, count in (("maxTimesUse", "timesUsed"), ("maxTimesApproved", "timesApproved"))
    )


def live_session(store: Store, key: Any) -> Record:
    """The session a txnSession key names, if it is live; otherwise the request is refused (invalid_auth)."""
    session = next((s for s in store.rows("txnSessions") if s["key"] == key), None) if isinstance(key, str) else None
    if session is None:
        raise ApiError([error_item("invalid_auth", msg=NO_SESSION)])
    refresh(store, session)
    if session["status"] == "expired":
        raise ApiError([error_item("invalid_auth", msg="The txnSession has expired or is used up")])
    return session


# --- tokenize with a public key ---------------------------------------------------------------------------------


def tokenize(store: Store, settings: SandboxSettings, api_key: Any, session_key: Any, body: Any) -> Record:
    """Vault a card or bank account for the configured customer, as PayFields mode `token` does: a public key and a
    live session of the customer's merchant. Auth failures raise invalid_auth; others the POST /tokens errors."""
    if api_key not in settings.public_api_keys:
        private = api_key in settings.api_keys
        raise ApiError([error_item("invalid_auth", msg=PRIVATE_KEY_REFUSED if private else None)])
    session = live_session(store, session_key)
    body = body if isinstance(body, dict) else {}
    merchant = body.get("merchant", session["merchant"])
    if merchant != session["merchant"]:
        raise ApiError([error_item("invalid_auth", msg="The txnSession belongs to another merchant")])
    store.update("txnSessions", session, {"timesUsed": session["timesUsed"] + 1})
    customer = body.get("customer")
    problems = Problems()
    if customer is None:
        problems.add("required_field", "customer")
    elif not isinstance(customer, str):
        problems.add("invalid_field", "customer", "The sandbox's PayFields takes a customer id (config.customer)")
    elif (store.get("customers", customer) or {}).get("merchant") not in (None, session["merchant"]):
        problems.add("invalid_field", "customer", "The customer belongs to another merchant")
    problems.raise_if_any()
    token = resources.create_token(store, {k: body[k] for k in ("customer", "payment", "expiration") if k in body})
    store.update("txnSessions", session, {"timesApproved": session["timesApproved"] + 1})
    refresh(store, session)
    return token


# --- the browser side ------------------------------------------------------------------------------------------


def script(origin: str, spa: bool) -> str:
    """The loader script, bound to this sandbox's origin (where its frames live)."""
    source = (HERE / "payfields.js").read_text(encoding="utf-8")
    return source.replace(ORIGIN_MARK, origin).replace(SPA_MARK, "true" if spa else "false")


def asset(name: str) -> tuple[str, str] | None:
    """The frames' own script and style: (text, content type), or None."""
    files = {"frame.js": ("payfields_frame.js", "application/javascript"), "frame.css": ("payfields.css", "text/css")}
    if name not in files:
        return None
    filename, content_type = files[name]
    return (HERE / filename).read_text(encoding="utf-8"), f"{content_type}; charset=utf-8"


def frame_page(args: Any) -> tuple[int, str]:
    """One field's frame: `type`, `group` (the fields of one ready()), `parent` (the page's origin, the only
    window it will message) and `leader` (1 for the frame that collects and tokenizes)."""
    kind = ALIASES.get(args.get("type", ""), args.get("type", ""))
    group, parent, leader = args.get("group", ""), args.get("parent", ""), args.get("leader", "0")
    if kind not in FIELDS or not _GROUP.match(group) or not _ORIGIN.match(parent) or leader not in ("0", "1"):
        return 400, "<!doctype html><title>Bad PayFields frame request</title><p>Bad PayFields frame request</p>"
    field = FIELDS[kind]
    hint_id = ' aria-describedby="pf-hint pf-error"' if field.hint else ' aria-describedby="pf-error"'
    hint = f'<p class="pf-hint" id="pf-hint">{html.escape(field.hint)}</p>' if field.hint else ""
    if kind == "account_type":
        options = "".join(f'<option value="{v}">{html.escape(label)}</option>' for v, label in ACCOUNT_TYPES)
        control = f'<select id="pf-input" name="accounttype" data-pf-type="{kind}"{hint_id}>{options}</select>'
    else:
        control = (
            f'<input id="pf-input" name="{kind}" type="text" inputmode="numeric" autocomplete="{field.autocomplete}"'
            f' maxlength="{field.max_length}" spellcheck="false" autocapitalize="off" data-pf-type="{kind}"{hint_id}>'
        )
    attrs = {"data-type": kind, "data-group": group, "data-parent": parent, "data-leader": leader}
    data = " ".join(f'{k}="{html.escape(v)}"' for k, v in attrs.items())
    page = (
        f'<!doctype html><html lang="en" {data}><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(field.title)}</title>"
        '<link rel="stylesheet" href="/payFields/frame.css"><script src="/payFields/frame.js" defer></script>'
        f'</head><body><label for="pf-input">{html.escape(field.label)}</label>{hint}{control}'
        '<p class="pf-error" id="pf-error" aria-live="polite"></p></body></html>'
    )
    return 200, page
