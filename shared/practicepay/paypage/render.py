"""Renders the pay page's screens with Jinja2 (autoescaped) and sets its security headers.

The Content-Security-Policy allows scripts only from us and the PayFields host, frames only from the PayFields
host, no inline script or style, no framing of the page; HSTS; no referrer to other sites (the URL holds the link
secret); no caching (a shared phone must not show a bill from its history)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from practicepay.clock import from_iso
from practicepay.paypage.messages import DECLINES, MESSAGES, MONTHS

MESSAGE_SCREENS = frozenset(
    {"ended", "locked", "closed", "forbidden", "not_found", "unverifiable", "unavailable", "error"}
)


def money(cents: int) -> str:
    dollars, rest = divmod(abs(int(cents)), 100)
    return f"{'-' if cents < 0 else ''}${dollars:,}.{rest:02d}"


def long_date(value: date | str, language: str) -> str:
    day = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    month = MONTHS[language][day.month - 1]
    return f"{day.day} de {month} de {day.year}" if language == "es" else f"{month} {day.day}, {day.year}"


def clock_time(value: str) -> str:
    return from_iso(value).strftime("%H:%M")


def security_headers(payfields_origin: str | None) -> dict[str, str]:
    pf = f" {payfields_origin}" if payfields_origin else ""
    frames = payfields_origin or "'none'"
    csp = (
        "default-src 'none'; "
        f"script-src 'self'{pf}; "
        f"frame-src {frames}; "
        "connect-src 'self'; "
        "style-src 'self'; "
        "img-src 'self' data:; "
        "font-src 'self'; "
        "form-action 'self'; "
        "frame-ancestors 'none'; "
        "base-uri 'none'"
    )
    return {
        "Content-Security-Policy": csp,
        "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",  # the URL holds the link secret: never sent to another site
        "Cache-Control": "no-store",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    }


def environment(templates: Path, *, escape_strings: bool = True) -> Environment:
    """The Jinja2 environment of our templates (the pay page, the staff dashboard, patient messages): .html files
    autoescaped, and an undefined name is an error, never an empty string. `escape_strings`: whether a template made
    from a string is escaped too (not for the messages' plain-text lines and texts)."""
    env = Environment(
        loader=FileSystemLoader(str(templates)),
        autoescape=select_autoescape(["html"], default_for_string=escape_strings),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = money
    return env


class Renderer:
    def __init__(self, templates: Path):
        self.env = environment(templates)

    def render(self, screen: str, context: dict[str, Any], prefix: str) -> str:
        language = context.get("language") or "en"
        words = MESSAGES[language]

        def t(key: str, **values: Any) -> str:
            return words[key].format(**values)

        page = {
            **context,
            "t": t,
            "language": language,
            "other_language": "es" if language == "en" else "en",
            "prefix": prefix,
            "long_date": lambda value: long_date(value, language),
            "clock_time": clock_time,
            "decline_message": lambda category: t(DECLINES.get(category, "declined_generic")),
        }
        if screen in MESSAGE_SCREENS:
            page["heading"], page["lines"] = message(screen, context, t)
            screen = "message"
        return self.env.get_template(f"{screen}.html").render(page)


# The screens that are a heading and a few lines (message.html): their words, by screen and reason.
def message(screen: str, context: dict[str, Any], t: Any) -> tuple[str, list[str]]:
    practice = context.get("practice_name") or ""
    if screen == "ended":
        return t("ended_title"), [t(f"ended_{context.get('reason', 'expired')}"), t("ended_help", practice=practice)]
    if screen == "locked":
        if context.get("reason") == "address" or not context.get("until"):
            return t("locked_title"), [t("locked_address")]
        return t("locked_title"), [t("locked_link", time=clock_time(context["until"]))]
    if screen == "closed":
        return t("closed_title"), [t(f"closed_{context.get('state', 'closed')}", practice=practice)]
    if screen == "forbidden":
        return t("forbidden_title"), [t("forbidden")]
    if screen == "not_found":
        return t("not_found_title"), [t("not_found")]
    if screen == "unverifiable":
        return t("unverifiable_title"), [t("unverifiable", practice=practice)]
    if screen == "unavailable":
        return t("unavailable_title"), [t("unavailable", practice=practice)]
    return t("error_title"), [t("error_body")]
