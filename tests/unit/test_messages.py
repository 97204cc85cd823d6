"""Patient messages without AWS (ADR 0016): quiet hours, the reminder cadence, every template in both languages
(GSM-7, the length of a text with a long practice name and link, autoescaping, StrictUndefined), the staff's
messaging change, addresses normalized and hinted, and message ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from jinja2 import UndefinedError
from pydantic import ValidationError

from practicepay.clock import from_iso
from practicepay.messages import render
from practicepay.messages.channels import normalize
from practicepay.messages.models import (
    CARRIES_LINK,
    Channel,
    Kind,
    MessagingChange,
    after_quiet_hours,
    first_reminder,
    hint,
    message_id,
    reminder_at,
)

pytestmark = pytest.mark.unit

NY = ZoneInfo("America/New_York")
LA = ZoneInfo("America/Los_Angeles")
PRACTICE_30 = "Lakeshore Family Medicine Grp."  # 30 characters
assert len(PRACTICE_30) == 30
URL_72 = "https://pay.lakeshorefamilymed.com/pay/" + "Ab3_-x" * 5 + "Zq9"
assert len(URL_72) == 72
AMOUNT = 123456  # $1,234.56
LONG_SMS: set[tuple[Kind, str]] = set()
"""(kind, language) whose text is over 160 septets with a 30-character name, a 72-character link and $1,234.56:
none now. A kind put here is asserted ≤160 and expected to fail (strict)."""


def local(zone: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=zone)


def values(language: str = "en", practice: str = PRACTICE_30, **changes) -> dict:
    base = {
        "practice": practice,
        "amount": AMOUNT,
        "day": "2026-12-31",
        "phone": "+13125550142",
        "link": URL_72,
        "language": language,
        "card": "Mastercard ending in 4444",
        "card_short": "Mastercard *4444",
        "overdue": True,
    }
    return render.context(**{**base, **changes})


# -- quiet hours -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (local(NY, 2026, 12, 1, 22, 30), local(NY, 2026, 12, 2, 8, 0)),
        (local(NY, 2026, 12, 1, 7, 59), local(NY, 2026, 12, 1, 8, 0)),
        (local(NY, 2026, 12, 1, 0, 0), local(NY, 2026, 12, 1, 8, 0)),
        (local(NY, 2026, 12, 1, 21, 0), local(NY, 2026, 12, 2, 8, 0)),
        (local(NY, 2026, 12, 31, 23, 59), local(NY, 2027, 1, 1, 8, 0)),  # across a year
        (local(NY, 2026, 12, 1, 8, 0), None),
        (local(NY, 2026, 12, 1, 20, 59), None),
        (local(NY, 2026, 12, 1, 12, 0), None),
    ],
)
def test_default_quiet_hours_hold_a_text_until_eight(now, expected):
    assert after_quiet_hours(now, NY, 21, 8) == expected
    # the same moment given in UTC decides the same (the zone is the patient's, not the caller's)
    assert after_quiet_hours(now.astimezone(UTC), NY, 21, 8) == expected


@pytest.mark.parametrize(
    ("hour", "minute", "expected"),
    [
        (20, 0, (2, 9)),  # from 20:00, held to 09:00 the next day
        (23, 30, (2, 9)),
        (8, 30, (1, 9)),  # before 09:00, held to 09:00 the same day
        (9, 0, None),
        (19, 59, None),
    ],
)
def test_a_custom_window_across_midnight(hour, minute, expected):
    at = after_quiet_hours(local(NY, 2026, 12, 1, hour, minute), NY, 20, 9)
    assert at == (None if expected is None else local(NY, 2026, 12, expected[0], expected[1], 0))


def test_a_window_within_one_day():
    assert after_quiet_hours(local(NY, 2026, 12, 1, 3, 0), NY, 1, 6) == local(NY, 2026, 12, 1, 6, 0)
    assert after_quiet_hours(local(NY, 2026, 12, 1, 6, 0), NY, 1, 6) is None
    assert after_quiet_hours(local(NY, 2026, 12, 1, 0, 30), NY, 1, 6) is None


def test_the_patients_zone_decides():
    moment = datetime(2026, 12, 2, 3, 30, tzinfo=UTC)  # 22:30 in New York, 19:30 in Los Angeles
    assert after_quiet_hours(moment, NY, 21, 8) == local(NY, 2026, 12, 2, 8, 0)
    assert after_quiet_hours(moment, LA, 21, 8) is None
    late_la = datetime(2026, 12, 2, 6, 30, tzinfo=UTC)  # 22:30 in Los Angeles, 01:30 in New York
    assert after_quiet_hours(late_la, LA, 21, 8) == local(LA, 2026, 12, 2, 8, 0)
    assert after_quiet_hours(late_la, LA, 21, 8).astimezone(UTC) == datetime(2026, 12, 2, 16, 0, tzinfo=UTC)


def test_dst_days_release_at_eight_local_wall_time():
    # spring forward (2026-03-08 02:00 EST -> 03:00 EDT): 08:00 that morning is 12:00 UTC, not 13:00
    spring = after_quiet_hours(datetime(2026, 3, 8, 3, 30, tzinfo=UTC), NY, 21, 8)  # 22:30 EST on the 7th
    assert spring.astimezone(UTC) == datetime(2026, 3, 8, 12, 0, tzinfo=UTC)
    during_gap = after_quiet_hours(datetime(2026, 3, 8, 7, 30, tzinfo=UTC), NY, 21, 8)  # 03:30 EDT
    assert during_gap.astimezone(UTC) == datetime(2026, 3, 8, 12, 0, tzinfo=UTC)
    # fall back (2026-11-01 02:00 EDT -> 01:00 EST): 08:00 that morning is 13:00 UTC
    fall = after_quiet_hours(datetime(2026, 11, 1, 2, 30, tzinfo=UTC), NY, 21, 8)  # 22:30 EDT on Oct 31
    assert fall.astimezone(UTC) == datetime(2026, 11, 1, 13, 0, tzinfo=UTC)
    repeated_hour = after_quiet_hours(datetime(2026, 11, 1, 6, 30, tzinfo=UTC), NY, 21, 8)  # 01:30 EST (2nd)
    assert repeated_hour.astimezone(UTC) == datetime(2026, 11, 1, 13, 0, tzinfo=UTC)


# -- the reminder cadence ----------------------------------------------------------------------------------------

DEFAULT_DAYS = (-3, 7, 30, 60)


def test_reminder_at_is_ten_in_the_morning_local_on_the_offset_day():
    assert reminder_at("2026-12-31", -3, NY) == local(NY, 2026, 12, 28, 10, 0)
    assert reminder_at("2026-12-31", 7, NY) == local(NY, 2027, 1, 7, 10, 0)
    assert reminder_at("2026-12-31", 60, LA) == local(LA, 2027, 3, 1, 10, 0)
    assert reminder_at("2026-03-01", 7, NY).astimezone(UTC) == datetime(2026, 3, 8, 14, 0, tzinfo=UTC)  # EDT


def test_first_reminder_on_the_default_cadence():
    now = local(NY, 2026, 12, 1, 12, 0)
    reminder = first_reminder("prc_a", "inv_a", "pat_a", "2026-12-31", DEFAULT_DAYS, NY, now)
    assert reminder is not None
    assert (reminder.next_index, reminder.offset, reminder.offsets) == (0, -3, DEFAULT_DAYS)
    assert from_iso(reminder.send_at) == local(NY, 2026, 12, 28, 10, 0)
    assert (reminder.practice_id, reminder.invoice_id, reminder.patient_id) == ("prc_a", "inv_a", "pat_a")


def test_offsets_already_past_are_skipped():
    due = "2026-12-31"
    after_due = local(NY, 2027, 1, 2, 9, 0)  # -3 is past: 7 is next
    assert first_reminder("p", "i", "t", due, DEFAULT_DAYS, NY, after_due).offset == 7
    at_the_moment = local(NY, 2027, 1, 7, 10, 0)  # exactly the 7-day moment: it is not "after now"
    assert first_reminder("p", "i", "t", due, DEFAULT_DAYS, NY, at_the_moment).offset == 30
    assert first_reminder("p", "i", "t", due, DEFAULT_DAYS, NY, local(NY, 2027, 3, 1, 10, 1)) is None
    assert first_reminder("p", "i", "t", due, (), NY, after_due) is None


def test_the_start_index_continues_the_schedule():
    now = local(NY, 2026, 12, 1, 12, 0)
    second = first_reminder("p", "i", "t", "2026-12-31", DEFAULT_DAYS, NY, now, start=1)
    assert (second.next_index, second.offset) == (1, 7)
    last = first_reminder("p", "i", "t", "2026-12-31", DEFAULT_DAYS, NY, now, start=3)
    assert (last.next_index, last.offset) == (3, 60)
    assert first_reminder("p", "i", "t", "2026-12-31", DEFAULT_DAYS, NY, now, start=4) is None
    # a later start skips what is past too
    late = local(NY, 2027, 2, 1, 0, 0)
    assert first_reminder("p", "i", "t", "2026-12-31", DEFAULT_DAYS, NY, late, start=1).offset == 60


# -- templates ---------------------------------------------------------------------------------------------------

CASES = [(kind, language) for kind in Kind for language in ("en", "es")]
SMS_CASES = [
    pytest.param(
        kind,
        language,
        id=f"{kind.value}-{language}",
        marks=[
            pytest.mark.xfail(
                strict=True,
                reason="over 160 septets with a 30-character name, a 72-character link and $1,234.56 (the issue's "
                "'where possible'): the copy could be shortened",
            )
        ]
        if (kind, language) in LONG_SMS
        else [],
    )
    for kind, language in CASES
]


@pytest.mark.parametrize(("kind", "language"), SMS_CASES)
def test_every_text_is_gsm7_and_fits_one_part(kind, language):
    rendered = render.render(kind, values(language), unsubscribe_url="https://api.example.com/unsubscribe/x")
    length = render.gsm7_length(rendered.sms)
    print(f"sms {kind.value}/{language}: {length} septets: {rendered.sms}")
    assert length is not None, f"not GSM-7 (sent as UCS-2, 70 a part): {rendered.sms!r}"
    assert PRACTICE_30 in rendered.sms and "$1,234.56" in rendered.sms
    assert (URL_72 in rendered.sms) == (kind in CARRIES_LINK)
    assert "STOP" in rendered.sms
    assert length <= render.SMS_SINGLE, f"{length} septets: {rendered.sms}"


@pytest.mark.parametrize(("kind", "language"), CASES, ids=[f"{k.value}-{lang}" for k, lang in CASES])
def test_every_email_has_subject_text_and_html(kind, language):
    unsubscribe = "https://api.example.com/unsubscribe/tok"
    rendered = render.render(kind, values(language), unsubscribe_url=unsubscribe, logo_url="https://x.example/l.png")
    assert PRACTICE_30 in rendered.subject
    for part in (rendered.text, rendered.html):
        assert "$1,234.56" in part
        assert (URL_72 in part) == (kind in CARRIES_LINK)
        assert unsubscribe in part
        assert "312-555-0142" in part  # the footer's phone
    assert f'lang="{language}"' in rendered.html
    assert 'src="https://x.example/l.png"' in rendered.html
    assert "<" not in rendered.text  # plain text: no markup
    if kind is Kind.AUTOPAY_NOTICE:
        assert "Mastercard ending in 4444" in rendered.text


def test_no_unsubscribe_link_unless_given():
    rendered = render.render(Kind.RECEIPT, values())
    assert "unsubscribe" not in rendered.html.lower() and "Stop reminder" not in rendered.text


def test_html_escapes_the_practice_name_and_the_text_part_keeps_it_plain():
    hostile = "<script>alert(1)</script>"
    for kind in Kind:
        rendered = render.render(kind, values(practice=hostile))
        assert "<script>" not in rendered.html, kind
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html, kind
        assert "&amp;lt;" not in rendered.html, kind  # escaped once, not twice
        assert hostile in rendered.text, kind
        assert hostile in rendered.subject, kind  # a header, not HTML: the channel encodes it


def test_a_quote_in_a_link_cannot_leave_the_href():
    rendered = render.render(Kind.STATEMENT, values(link='https://x.example/pay/a" onclick="evil()'))
    assert 'onclick="evil()"' not in rendered.html
    assert "&#34;" in rendered.html or "&quot;" in rendered.html


def test_a_missing_value_raises_instead_of_rendering_blank():
    incomplete = values()
    del incomplete["amount"]
    with pytest.raises(UndefinedError):
        render.render(Kind.STATEMENT, incomplete)
    without_date = values()
    del without_date["short_date"]
    with pytest.raises(UndefinedError):
        render.render(Kind.REMINDER, without_date)


def test_context_defaults_and_formats():
    v = render.context(practice="P", amount=5, day=None, phone=None, link=None, language="es")
    assert (v["amount"], v["date"], v["short_date"], v["link"], v["card"]) == ("$0.05", "", "", "", "")
    assert v["phone"] == "la oficina de cobros"
    assert render.context(practice="P", amount=0, day=None, phone=None, link=None, language="en")["phone"] == (
        "the billing office"
    )
    assert render.short_date("2027-01-05", "en") == "Jan 5"
    assert render.short_date("2027-01-05", "es") == "5 ene"


def test_gsm7_length_counts_extension_characters_twice_and_refuses_others():
    assert render.gsm7_length("abc") == 3
    assert render.gsm7_length("€[]") == 6
    assert render.gsm7_length("pagó") is None  # ó is not GSM-7
    assert render.gsm7_length("ok 👍") is None


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("key", ["help_reply", "stop_reply", "start_reply"])
def test_keyword_replies_are_one_gsm7_part(language, key):
    reply = render.words(language, key)
    length = render.gsm7_length(reply)
    assert length is not None and length <= render.SMS_SINGLE, reply


# -- staff's messaging change ------------------------------------------------------------------------------------

CONSENT = {
    "text_version": "sms-billing-2026-01",
    "accepted_at": "2026-12-01T15:30:00Z",
    "captured_by": "front-desk-jdoe",
    "channel": "in_person",
}


def test_stop_and_consent_together_are_refused():
    with pytest.raises(ValidationError) as caught:
        MessagingChange.model_validate({"sms": "stop", "sms_consent": CONSENT})
    assert "not both" in str(caught.value)
    assert isinstance(caught.value, ValueError)  # what the API turns into a 422


@pytest.mark.parametrize("zone", ["Mars/Olympus", "EST5EDT/x", "../etc/passwd", ""])
def test_a_bad_time_zone_is_refused(zone):
    with pytest.raises(ValidationError, match="IANA time zone"):
        MessagingChange.model_validate({"time_zone": zone})


def test_good_changes_are_accepted():
    assert MessagingChange.model_validate({"sms": "stop"}).sms == "stop"
    assert MessagingChange.model_validate({"sms_consent": CONSENT}).sms_consent.channel == "in_person"
    change = MessagingChange.model_validate({"time_zone": "America/Chicago", "language": "es", "channels": "email"})
    assert change.model_dump(exclude_unset=True) == {
        "time_zone": "America/Chicago",
        "language": "es",
        "channels": "email",
    }


@pytest.mark.parametrize(
    "body",
    [
        {"language": "fr"},
        {"channels": "fax"},
        {"sms": "start"},
        {"unknown": 1},
        {"sms_consent": {**CONSENT, "channel": "carrier-pigeon"}},
        {"sms_consent": {k: v for k, v in CONSENT.items() if k != "accepted_at"}},
    ],
)
def test_other_bad_changes_are_refused(body):
    with pytest.raises(ValidationError):
        MessagingChange.model_validate(body)


# -- addresses and ids -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "phone", ["3125550142", "+13125550142", "13125550142", "(312) 555-0142", "312.555.0142", " +1 312 555 0142 "]
)
def test_phone_numbers_normalize_to_e164(phone):
    assert normalize(Channel.SMS, phone) == "+13125550142"


def test_a_non_us_number_keeps_its_country_code():
    assert normalize(Channel.SMS, "+442071838750") == "+442071838750"


def test_emails_normalize_to_lower_case_trimmed():
    assert normalize(Channel.EMAIL, "  Maria.Lopez@Example.COM ") == "maria.lopez@example.com"


def test_hints_show_only_the_end_of_an_address():
    assert hint(Channel.SMS, "+13125550142") == "•••0142"
    assert hint(Channel.EMAIL, "maria.lopez@example.com") == "m•••@example.com"
    assert "lopez" not in hint(Channel.EMAIL, "maria.lopez@example.com")


def test_message_ids_are_deterministic_per_practice_cause_and_channel():
    one = message_id("prc_a", "statement:inv_1", Channel.EMAIL)
    assert one == message_id("prc_a", "statement:inv_1", Channel.EMAIL)
    assert one.startswith("msg_")
    others = {
        message_id("prc_a", "statement:inv_1", Channel.SMS),
        message_id("prc_b", "statement:inv_1", Channel.EMAIL),
        message_id("prc_a", "statement:inv_2", Channel.EMAIL),
        message_id("prc_a", "reminder:inv_1:-3", Channel.EMAIL),
    }
    assert one not in others and len(others) == 4


def test_quiet_hours_are_measured_from_now_not_rounded():
    now = local(NY, 2026, 12, 1, 7, 59) + timedelta(seconds=59)
    assert after_quiet_hours(now, NY, 21, 8) == local(NY, 2026, 12, 1, 8, 0)
