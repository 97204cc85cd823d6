"""Renders the dashboard's pages with Jinja2 (autoescaped, strict): amounts in dollars, dates as people read them,
statuses in words. The security headers are the pay page's (a strict CSP: scripts and styles only from us, PayFields'
host only where a card is taken), plus no caching: a shared front-desk screen must not show a patient from history."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from practicepay.clock import from_iso
from practicepay.paypage.render import environment


def day(value: date | str | None) -> str:
    if not value:
        return ""
    when = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    return when.strftime("%b %-d, %Y")


def moment(value: str | datetime | None) -> str:
    if not value:
        return ""
    when = value if isinstance(value, datetime) else from_iso(str(value))
    return when.strftime("%b %-d, %Y %H:%M UTC")


def words(value: Any) -> str:
    """An enum value as words: needs_response → Needs response."""
    text = str(getattr(value, "value", value) or "").replace("_", " ")
    return text[:1].upper() + text[1:]


class PageRenderer:
    def __init__(self, templates: Path):
        self.env = environment(templates)
        self.env.filters.update(day=day, moment=moment, words=words)

    def render(self, template: str, context: dict[str, Any]) -> str:
        return self.env.get_template(f"{template}.html").render(context)
