"""Renders a message for each channel with Jinja2 (autoescape on for HTML; StrictUndefined: a missing value fails
loudly, never sends a blank): an email's subject, plain text and HTML, and a text's body. What a message may say is
its context: the practice, an amount, a date, a card's brand and last four, a phone and a link. Nothing else
reaches a template, so no template can show PHI it was never given."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment

from practicepay.messages.copy import COPY, UNSUBSCRIBE_PAGE
from practicepay.messages.models import CARRIES_LINK, Kind
from practicepay.paypage.render import environment, long_date, money

TEMPLATES = Path(__file__).parent / "templates"
# GSM 03.38's basic character set and its extension table (an extension character costs two septets).
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = "^{}\\[~]|€"
SMS_SINGLE = 160


def gsm7_length(text: str) -> int | None:
    """The text's length in GSM-7 septets, or None when it needs UCS-2 (then a part holds 70 characters)."""
    length = 0
    for ch in text:
        if ch in GSM7_BASIC:
            length += 1
        elif ch in GSM7_EXTENDED:
            length += 2
        else:
            return None
    return length


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    sms: str


@cache
def _env() -> Environment:
    return environment(TEMPLATES, escape_strings=False)


def words(language: str, key: str, **values: Any) -> str:
    """One of the shared lines (footer, replies to keywords, ...), filled in."""
    return _env().from_string(COPY[language][key]).render(**values)  # type: ignore[arg-type]


def context(
    *,
    practice: str,
    amount: int,
    day: str | None,
    phone: str | None,
    link: str | None,
    language: str,
    card: str | None = None,
    card_short: str | None = None,
    overdue: bool = False,
) -> dict[str, Any]:
    """The only values a message may show."""
    return {
        "practice": practice,
        "amount": money(amount),
        "date": long_date(day, language) if day else "",
        "short_date": short_date(day, language) if day else "",
        "card": card or "",
        "card_short": card_short or "",
        "phone": _phone(phone, language),
        "link": link or "",
        "overdue": overdue,
        "language": language,
    }


def render(
    kind: Kind, values: dict[str, Any], *, logo_url: str | None = None, unsubscribe_url: str | None = None
) -> Rendered:
    language = values["language"]
    copy = COPY[language][kind.value]

    def part(name: str) -> str:
        return _env().from_string(copy[name]).render(values) if name in copy else ""

    page = {
        **values,
        "subject": part("subject"),
        "lead": part("lead"),
        "extra": part("extra"),
        "action": part("action"),
        "footer": _env().from_string(COPY[language]["footer"]).render(values),
        "link_note": COPY[language]["link_note"],
        "unsubscribe": COPY[language]["unsubscribe"],
        "unsubscribe_url": unsubscribe_url,
        "logo_url": logo_url,
        "link": values["link"] if kind in CARRIES_LINK else "",
    }
    return Rendered(
        subject=page["subject"],
        text=_env().get_template("email.txt").render(page).strip() + "\n",
        html=_env().get_template("email.html").render(page),
        sms=" ".join(part("sms").split()),
    )


SHORT_MONTHS = {
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
    "es": ("ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sep", "oct", "nov", "dic"),
}


def short_date(value: str, language: str) -> str:
    """A text's date: Jan 5 (5 ene); a text never goes more than a few months ahead of its date."""
    year, month, day = (int(x) for x in value[:10].split("-"))
    name = SHORT_MONTHS[language][month - 1]
    return f"{day} {name}" if language == "es" else f"{name} {day}"


def _phone(phone: str | None, language: str) -> str:
    if not phone:
        return "la oficina de cobros" if language == "es" else "the billing office"
    digits = phone[-10:]
    return f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"


def unsubscribe_page(step: str, practice: str = "", language: str = "en") -> str:
    """The unsubscribe page at `step` (ask, done, gone, error), in the patient's language."""
    words = UNSUBSCRIBE_PAGE[language]
    return (
        _env()
        .get_template("unsubscribe.html")
        .render(
            language=language,
            title=words[f"{step}_title"],
            text=words[step].format(practice=practice),
            form=step == "ask",
            button=COPY[language]["unsubscribe"],
        )
    )
