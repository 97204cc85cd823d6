"""The pay page without a network (ADR 0015): its forms (strings only, bounded, unknown fields refused, amounts to
cents), the plans a patient may choose, how last names compare, business days, the renderer (money, dates in
English and Spanish, the security headers, every template for every screen in both languages), the words (the
same keys and placeholders in both languages), and the handler's helpers (the form's limits, the same-origin
check, the session cookie, the assets) and its responses with the service stubbed out. The whole page over HTTP
is in tests/integration/test_paypage.py; in a browser, tests/e2e/test_pay_page_browser.py."""

from __future__ import annotations

import base64
import importlib.util
import re
import string
import sys
from datetime import date, timedelta
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import pytest
from jinja2 import UndefinedError
from pydantic import ValidationError

from practicepay.api import browser
from practicepay.invoices.models import InvoiceRecord
from practicepay.paypage import service as page_service
from practicepay.paypage.forms import IdentityForm, PayForm, PlanForm
from practicepay.paypage.messages import DECLINES, MESSAGES, MONTHS
from practicepay.paypage.render import MESSAGE_SCREENS, Renderer, long_date, message, money, security_headers
from practicepay.paypage.service import Screen, _business_days, _name, plan_options
from practicepay.practices import Practice
from practicepay.practices.models import PracticeSettings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PAYPAGE = ROOT / "functions" / "paypage"
CSRF = "c" * 32
STAMP = "2027-01-10T14:00:00.000Z"
PAYFIELDS = "https://test-api.payrix.com"


def _load_handler() -> ModuleType:
    name = "practicepay_fn_paypage_unit"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, PAYPAGE / "handler.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def handler() -> ModuleType:
    return _load_handler()


# -- forms ----------------------------------------------------------------------------------------------------


def _pay(**fields: str) -> PayForm:
    body = {
        "csrf": CSRF,
        "submit_id": "s" * 22,
        "started": STAMP,
        "token": "0123456789abcdef0123456789abcdef",
        "method": "card",
        "amount_choice": "other",
    }
    return PayForm.model_validate({**body, **fields})


def test_the_identity_forms_date_of_birth_is_a_real_date_or_none():
    form = IdentityForm.model_validate({"csrf": CSRF, "dob_month": "3", "dob_day": "09", "dob_year": "1984"})
    assert form.date_of_birth == date(1984, 3, 9)
    assert (
        IdentityForm.model_validate({"csrf": CSRF, "dob_month": "2", "dob_day": "30", "dob_year": "1984"}).date_of_birth
        is None
    )
    assert (
        IdentityForm.model_validate({"csrf": CSRF, "dob_month": "13", "dob_day": "1", "dob_year": "1984"}).date_of_birth
        is None
    )
    assert IdentityForm.model_validate({"csrf": CSRF, "dob_month": "3", "dob_day": "9"}).date_of_birth is None
    assert IdentityForm.model_validate({"csrf": CSRF}).date_of_birth is None


@pytest.mark.parametrize(
    "fields",
    [
        {"dob_month": "123"},
        {"dob_year": "84"},
        {"dob_day": "x"},
        {"postal_code": "6060"},
        {"postal_code": "60607-12"},
        {"last_name": ""},
        {"last_name": "x" * 101},
        {"lang": "fr"},
    ],
)
def test_identity_fields_are_bounded_patterns(fields):
    with pytest.raises(ValidationError):
        IdentityForm.model_validate({"csrf": CSRF, **fields})


def test_the_identity_form_takes_a_last_name_and_a_zip_in_either_form():
    for zip_code in ("60607", "60607-1234", "606071234"):
        form = IdentityForm.model_validate({"csrf": CSRF, "last_name": "Peña", "postal_code": zip_code})
        assert form.postal_code == zip_code


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("12.34", 1234),
        ("$1,234.50", 123450),
        ("20", 2000),
        (" 7.5 ", 750),
        ("0", None),
        ("-5", None),
        ("1.234", None),
        ("abc", None),
        ("", None),
    ],
)
def test_an_amount_in_dollars_is_whole_cents_or_none(text, cents):
    assert _pay(amount=text).amount_cents() == cents


@pytest.mark.parametrize("text", ["NaN", "sNaN", "Infinity", "1e400"])
def test_an_amount_that_is_not_a_finite_number_is_none(text):
    assert _pay(amount=text).amount_cents() is None


def test_a_bank_payment_needs_the_debit_authorization():
    with pytest.raises(ValidationError, match="ach_consent"):
        _pay(method="bank", amount_choice="full")
    assert _pay(method="bank", amount_choice="full", ach_consent="on").method == "bank"
    with pytest.raises(ValidationError):
        _pay(method="bank", amount_choice="full", ach_consent="yes")  # only the checkbox's value


def test_a_card_is_saved_only_when_ticked():
    assert _pay(amount_choice="full").saved is False
    assert _pay(amount_choice="full", save="on").saved is True
    with pytest.raises(ValidationError):
        _pay(amount_choice="full", save="true")


@pytest.mark.parametrize("form", [IdentityForm, PayForm, PlanForm])
def test_an_unknown_field_is_refused(form):
    with pytest.raises(ValidationError) as info:
        form.model_validate({"csrf": CSRF, "surprise": "1"})
    assert any(e["type"] == "extra_forbidden" and e["loc"] == ("surprise",) for e in info.value.errors())


@pytest.mark.parametrize(
    ("field", "value"),
    [("dob_month", 3), ("dob_year", 1984), ("csrf", 12345678901234567890), ("lang", None)],
)
def test_form_values_are_strings_only(field, value):
    with pytest.raises(ValidationError):
        IdentityForm.model_validate({"csrf": CSRF, field: value})


@pytest.mark.parametrize(
    "fields",
    [
        {"token": "0123456789ABCDEF0123456789ABCDEF"},
        {"token": "tok_123"},
        {"submit_id": "short"},
        {"submit_id": "s" * 44},
        {"started": "2027-01-10"},
        {"started": "yesterday"},
        {"method": "cash"},
        {"amount_choice": "half"},
        {"amount": "1" * 13},
        {"csrf": "short"},
    ],
)
def test_pay_form_fields_are_bounded(fields):
    with pytest.raises(ValidationError):
        _pay(**fields)


def test_the_plan_form_reads_its_count_and_first_date():
    body = {
        "csrf": CSRF,
        "submit_id": "s" * 23,
        "started": STAMP,
        "token": "0123456789abcdef0123456789abcdef",
        "installments": "3",
        "first": "2027-02-01",
        "plan_consent": "on",
    }
    form = PlanForm.model_validate(body)
    assert (form.count, form.first_date) == (3, date(2027, 2, 1))
    with pytest.raises(ValidationError):
        PlanForm.model_validate({**body, "plan_consent": None})
    with pytest.raises(ValidationError):
        PlanForm.model_validate({k: v for k, v in body.items() if k != "plan_consent"})
    with pytest.raises(ValidationError):
        PlanForm.model_validate({**body, "installments": "100"})


# -- plan options ---------------------------------------------------------------------------------------------


def _practice(**settings: Any) -> Practice:
    return Practice(
        practice_id="prc_alpha",
        name="Demo Family Practice",
        settings=PracticeSettings(**settings),
        updated_at=STAMP,
    )


def _invoice(total: int, **changes: Any) -> InvoiceRecord:
    fields: dict[str, Any] = {
        "practice_id": "prc_alpha",
        "id": "inv_01",
        "patient_id": "pat_01",
        "status": "open",
        "currency": "usd",
        "due_date": "2027-01-04",
        "line_items_sealed": "sealed",
        "line_item_count": 1,
        "subtotal": total,
        "total": total,
        "amount_paid": 0,
        "created_at": STAMP,
        "updated_at": STAMP,
    }
    return InvoiceRecord(**{**fields, **changes})


TODAY = date(2027, 1, 10)


def test_plan_options_run_from_two_to_the_practices_maximum():
    options = plan_options(_practice(), [_invoice(30000)], TODAY)
    assert [(o["count"], o["each"], o["first"]) for o in options["counts"]] == [
        (2, 15000, 15000),
        (3, 10000, 10000),
        (4, 7500, 7500),
        (5, 6000, 6000),
        (6, 5000, 5000),
    ]
    assert (options["first_min"], options["first_max"]) == (TODAY, TODAY + timedelta(days=30))
    three = plan_options(_practice(plan_max_installments=3, plan_first_within_days=7), [_invoice(30000)], TODAY)
    assert [o["count"] for o in three["counts"]] == [2, 3]
    assert three["first_max"] == date(2027, 1, 17)


def test_no_installment_is_under_the_practices_minimum():
    options = plan_options(_practice(plan_min_installment=2500), [_invoice(10000)], TODAY)
    assert [(o["count"], o["each"]) for o in options["counts"]] == [(2, 5000), (3, 3333), (4, 2500)]
    assert plan_options(_practice(plan_min_installment=2500), [_invoice(4999)], TODAY) is None


def test_the_first_installment_takes_the_remainder():
    options = plan_options(_practice(), [_invoice(10001)], TODAY)
    three = next(o for o in options["counts"] if o["count"] == 3)
    assert (three["each"], three["first"]) == (3333, 3335)
    assert three["first"] + 2 * three["each"] == 10001
    for option in options["counts"]:
        assert option["first"] + (option["count"] - 1) * option["each"] == 10001


def test_plans_use_the_balance_still_due():
    invoice = _invoice(30000, amount_paid=10000, amount_pending=5000, amount_written_off=5000)
    options = plan_options(_practice(), [invoice], TODAY)
    assert options["counts"][0] == {"count": 2, "each": 5000, "first": 5000}
    assert [o["count"] for o in options["counts"]] == [2, 3, 4]


def test_no_plan_for_several_invoices_an_invoice_on_a_plan_or_a_maximum_under_two():
    assert plan_options(_practice(), [_invoice(30000), _invoice(30000, id="inv_02")], TODAY) is None
    assert plan_options(_practice(), [], TODAY) is None
    assert plan_options(_practice(), [_invoice(30000, plan_id="pln_01")], TODAY) is None
    assert plan_options(_practice(plan_max_installments=1), [_invoice(30000)], TODAY) is None
    assert plan_options(_practice(plan_max_installments=0), [_invoice(30000)], TODAY) is None


# -- names, days ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Peña-O'Neil", "pena oneil"),
        ("Peña-O'Neil", "PENA-O’NEIL"),
        ("García Márquez", "garciamarquez"),
        ("Müller", "muller"),
        ("  Smith ", "smith"),
        ("Ñúñez", "NUNEZ"),
    ],
)
def test_last_names_compare_without_accents_case_spaces_hyphens_or_apostrophes(a, b):
    assert _name(a) == _name(b)


def test_different_last_names_stay_different():
    assert _name("Pena") != _name("Penas")
    assert _name("O'Neil") != _name("Neil")


def test_business_days_skip_weekends():
    friday = date(2027, 1, 8)
    assert friday.weekday() == 4
    assert _business_days(friday, 3) == date(2027, 1, 13)  # Mon, Tue, Wed
    assert _business_days(date(2027, 1, 9), 1) == date(2027, 1, 11)  # Saturday → Monday
    assert _business_days(date(2027, 1, 11), 3) == date(2027, 1, 14)  # Monday → Thursday
    assert _business_days(friday, 0) == friday


# -- render ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cents", "text"),
    [(0, "$0.00"), (5, "$0.05"), (1234, "$12.34"), (123456, "$1,234.56"), (100000000, "$1,000,000.00")],
)
def test_money_is_dollars_and_cents(cents, text):
    assert money(cents) == text


def test_long_dates_in_english_and_spanish():
    assert long_date(date(1984, 3, 9), "en") == "March 9, 1984"
    assert long_date(date(1984, 3, 9), "es") == "9 de marzo de 1984"
    assert long_date("2027-01-04", "en") == "January 4, 2027"
    assert long_date("2027-12-31T23:59:59.000Z", "es") == "31 de diciembre de 2027"
    assert len(MONTHS["en"]) == len(MONTHS["es"]) == 12


def _csp(headers: dict[str, str]) -> dict[str, str]:
    parts = [p.strip().split(" ", 1) for p in headers["Content-Security-Policy"].split(";")]
    return {p[0]: p[1] if len(p) > 1 else "" for p in parts}


def test_the_security_headers_before_payfields_allow_no_frame_and_no_other_script():
    headers = security_headers(None)
    csp = _csp(headers)
    assert csp["default-src"] == "'none'"
    assert csp["script-src"] == "'self'"
    assert csp["frame-src"] == "'none'"
    assert csp["frame-ancestors"] == "'none'"
    assert csp["style-src"] == "'self'" and csp["form-action"] == "'self'" and csp["base-uri"] == "'none'"
    assert "unsafe-inline" not in headers["Content-Security-Policy"]
    assert "unsafe-eval" not in headers["Content-Security-Policy"]
    assert headers["Referrer-Policy"] == "same-origin"
    assert re.fullmatch(r"max-age=(\d+); includeSubDomains", headers["Strict-Transport-Security"])
    assert int(headers["Strict-Transport-Security"].split("=")[1].split(";")[0]) >= 31536000
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"


def test_the_security_headers_with_payfields_allow_its_script_and_frames_only():
    headers = security_headers(PAYFIELDS)
    csp = _csp(headers)
    assert csp["script-src"] == f"'self' {PAYFIELDS}"
    assert csp["frame-src"] == PAYFIELDS
    assert csp["connect-src"] == "'self'"  # the frames tokenize; the page itself talks only to us
    assert csp["frame-ancestors"] == "'none'" and csp["default-src"] == "'none'"
    assert "unsafe-inline" not in headers["Content-Security-Policy"]
    assert headers["Referrer-Policy"] == "same-origin" and headers["Cache-Control"] == "no-store"


# -- every template for every screen, in both languages -------------------------------------------------------

BASE = {
    "practice_name": "Demo Family Practice",
    "contact_phone": "3125550100",
    "contact_email": "billing@example.org",
    "link_path": "/pay/" + "A" * 32,
    "here": "/pay/" + "A" * 32,
    "back": None,
}
PAYFIELDS_CONFIG = {
    "script": f"{PAYFIELDS}/payFieldsScript",
    "origin": PAYFIELDS,
    "config": {"apiKey": "pub", "merchant": "t1_mer_1", "customer": "t1_cus_1", "txnSessionKey": "k", "mode": "token"},
    "fields": [{"type": "number", "element": "#pf-number"}],
}


def _bill(method: str, error: str | None, plans: bool, several: bool = False) -> dict[str, Any]:
    invoice = _invoice(21500)
    lines = [
        {"description": "Office visit", "amount": 18000, "service_date": "2027-01-02", "quantity": 1},
        {"description": "Flu vaccine", "amount": 3500, "quantity": 1},
    ]
    bills = [{"invoice": invoice, "due": 21500, "lines": lines}]
    if several:
        bills.append({"invoice": _invoice(1000, id="inv_02"), "due": 1000, "lines": lines[1:]})
    return {
        "bills": bills,
        "due": 21500,
        "due_date": "2027-01-04",
        "minimum": 500,
        "method": method,
        "csrf": CSRF,
        "submit_id": "s" * 22,
        "started": STAMP,
        "payfields": PAYFIELDS_CONFIG,
        "plans": plan_options(_practice(), [invoice], TODAY) if plans else None,
        "error": error,
        "consent_versions": page_service.CONSENT_VERSIONS,
    }


def _payment(amount: int, method: str = "pm_1") -> SimpleNamespace:
    return SimpleNamespace(id="pay_1", amount=amount, payment_method_id=method, status="succeeded")


SCREENS: list[tuple[str, str, dict[str, Any]]] = [
    ("identity", "dob", {"identity": "date_of_birth", "csrf": CSRF}),
    ("identity", "dob-error", {"identity": "date_of_birth", "csrf": CSRF, "error": "identity"}),
    ("identity", "name-zip", {"identity": "last_name_zip", "csrf": CSRF, "error": "session_expired"}),
    *[
        ("bill", f"{m}-{e}-{p}", _bill(m, e, p))
        for m in ("card", "bank")
        for e in (None, "amount", "plan", "bank_unverified", "refused", "form", "field:amount")
        for p in (True, False)
    ],
    ("bill", "several", _bill("card", None, False, several=True)),
    ("declined", "funds", {"category": "insufficient_funds", "retryable": False, "paid_before": []}),
    ("declined", "other", {"category": "something_new", "retryable": True, "paid_before": [_payment(100)]}),
    (
        "receipt",
        "card",
        {
            "receipt_id": "rc_" + "0" * 26,
            "payments": [_payment(5000)],
            "methods": {"pm_1": {"kind": "card", "brand": "visa", "last4": "4242"}},
            "total": 5000,
            "processing": False,
            "confirming": False,
            "settles_by": date(2027, 1, 13),
            "created_at": STAMP,
            "back": BASE["link_path"],
        },
    ),
    (
        "receipt",
        "bank",
        {
            "receipt_id": "rc_" + "1" * 26,
            "payments": [_payment(16500, "pm_2")],
            "methods": {"pm_2": {"kind": "bank_account", "brand": None, "last4": "1012"}},
            "total": 16500,
            "processing": True,
            "confirming": False,
            "settles_by": date(2027, 1, 13),
            "created_at": STAMP,
            "back": BASE["link_path"],
        },
    ),
    (
        "receipt",
        "confirming",
        {
            "receipt_id": "rc_" + "2" * 26,
            "payments": [_payment(5000)],
            "methods": {"pm_1": {"kind": "card", "brand": "visa", "last4": "4242"}},
            "total": 5000,
            "processing": False,
            "confirming": True,
            "settles_by": date(2027, 1, 13),
            "created_at": STAMP,
            "back": BASE["link_path"],
        },
    ),
    (
        "plan_done",
        "plan",
        {
            "plan": {"installments": [{"seq": i, "due_date": date(2027, i, 1), "amount": 10000} for i in (1, 2, 3)]},
            "last4": "4242",
            "brand": None,
        },
    ),
    *[("ended", r, {"reason": r}) for r in ("expired", "used_up", "revoked", "too_many_failures")],
    ("locked", "link", {"reason": "link", "until": "2027-01-10T14:15:00.000Z"}),
    ("locked", "address", {"reason": "address"}),
    *[("closed", s, {"state": s}) for s in ("paid", "canceled", "closed")],
    ("forbidden", "forbidden", {"back": BASE["link_path"]}),
    ("not_found", "not_found", {}),
    ("error", "error", {}),
]


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(PAYPAGE / "templates")


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize(("screen", "case", "context"), SCREENS, ids=[f"{s}-{c}" for s, c, _ in SCREENS])
def test_every_screen_renders_in_both_languages(renderer, screen, case, context, language):
    page = {**BASE, **context, "language": language}
    try:
        html = renderer.render(screen, page, "/local")
    except UndefinedError as exc:  # StrictUndefined: a name the template uses that the screen does not give
        pytest.fail(f"{screen} ({case}, {language}): {exc}")
    assert f'<html lang="{language}">' in html
    assert "Demo Family Practice" in html
    assert 'href="/local/pay/assets/pay.css"' in html
    assert "<script>" not in html and "style=" not in html  # no inline script or style (the CSP allows none)
    assert "{" + "practice}" not in html and "{" + "amount}" not in html  # every placeholder filled


@pytest.mark.parametrize("screen", sorted(MESSAGE_SCREENS))
def test_the_message_screens_render_with_the_handlers_bare_context(renderer, screen):
    """What the handler renders when the service fails or nothing is known of the link: no practice, no link."""
    html = renderer.render(screen, {"practice_name": None, "language": "en"}, "")
    assert "<h1>" in html and "<footer" not in html


def test_the_bill_shows_its_lines_and_amounts(renderer):
    html = renderer.render("bill", {**BASE, **_bill("card", "amount", True), "language": "en"}, "")
    assert "Office visit" in html and "Flu vaccine" in html and "$215.00" in html
    assert "Enter an amount between $5.00 and $215.00." in html
    assert "January 2, 2027" in html
    assert 'id="payfields-config"' in html and PAYFIELDS_CONFIG["script"] in html
    assert 'id="plan-form"' in html
    bank = renderer.render("bill", {**BASE, **_bill("bank", None, True), "language": "es"}, "")
    assert 'id="plan-form"' not in bank and 'name="ach_consent"' in bank and "Monto adeudado" in bank


def test_text_from_the_invoice_is_escaped(renderer):
    context = {**BASE, **_bill("card", None, False), "language": "en"}
    context["bills"][0]["lines"][0]["description"] = "<script>alert(1)</script>"
    html = renderer.render("bill", context, "")
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    json_config = {**PAYFIELDS_CONFIG, "config": {**PAYFIELDS_CONFIG["config"], "customer": "</script><b>"}}
    html = renderer.render("bill", {**context, "payfields": json_config}, "")
    assert "</script><b>" not in html


def _t(language: str):
    return lambda key, **values: MESSAGES[language][key].format(**values)


@pytest.mark.parametrize("language", ["en", "es"])
def test_message_words_for_each_screen_and_reason(language):
    t = _t(language)
    words = MESSAGES[language]
    context = {"practice_name": "Demo"}
    for reason in ("expired", "used_up", "revoked", "too_many_failures"):
        heading, lines = message("ended", {**context, "reason": reason}, t)
        assert heading == words["ended_title"]
        assert lines == [words[f"ended_{reason}"], words["ended_help"].format(practice="Demo")]
    assert message("locked", {**context, "reason": "address"}, t) == (words["locked_title"], [words["locked_address"]])
    heading, lines = message("locked", {**context, "reason": "link", "until": "2027-01-10T14:15:30.000Z"}, t)
    assert lines == [words["locked_link"].format(time="14:15")]
    assert message("locked", {**context, "reason": "link", "until": None}, t)[1] == [words["locked_address"]]
    for state in ("paid", "canceled", "closed"):
        assert message("closed", {**context, "state": state}, t) == (
            words["closed_title"],
            [words[f"closed_{state}"].format(practice="Demo")],
        )
    assert message("forbidden", context, t) == (words["forbidden_title"], [words["forbidden"]])
    assert message("not_found", context, t) == (words["not_found_title"], [words["not_found"]])
    assert message("error", context, t) == (words["error_title"], [words["error_body"]])
    assert message("ended", {}, t)[1][0] == words["ended_expired"]


def test_english_words_say_what_the_integration_tests_look_for():
    words = MESSAGES["en"]
    assert "used as many times as allowed" in words["ended_used_up"]
    assert words["closed_canceled"].startswith("This bill was canceled")
    assert "insufficient funds" in words["declined_insufficient_funds"]
    assert "could not verify" in words["error_bank_unverified"]


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_both_languages_have_the_same_keys_and_placeholders():
    en, es = MESSAGES["en"], MESSAGES["es"]
    assert set(en) - set(es) == set(), "missing in Spanish"
    assert set(es) - set(en) == set(), "missing in English"
    different = {
        k: (_placeholders(en[k]), _placeholders(es[k])) for k in en if _placeholders(en[k]) != _placeholders(es[k])
    }
    assert different == {}
    for key in en:
        assert en[key].strip() and es[key].strip(), key


def test_every_decline_category_names_words_in_both_languages():
    for key in [*DECLINES.values(), "declined_generic"]:
        assert key in MESSAGES["en"] and key in MESSAGES["es"]


def test_every_word_the_templates_name_exists():
    names: set[str] = set()
    for template in (PAYPAGE / "templates").glob("*.html"):
        names |= set(re.findall(r"""\bt\(\s*["']([a-z_]+)["']\s*[,)]""", template.read_text()))
    assert names, "no t() calls found"
    assert names - set(MESSAGES["en"]) == set()
    # the dynamic ones: error_<error> on the identity and bill screens
    for error in ("identity", "session_expired", "plan", "bank_unverified"):
        assert f"error_{error}" in MESSAGES["en"]


# -- the handler's helpers ------------------------------------------------------------------------------------


def _event(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "resource": "/pay/{secret}/identity",
        "httpMethod": "POST",
        "headers": {"Host": "pay.example.org", "Content-Type": "application/x-www-form-urlencoded"},
        "multiValueHeaders": None,
        "pathParameters": {"secret": "A" * 32},
        "queryStringParameters": None,
        "requestContext": {"domainName": "pay.example.org", "stage": "prod", "identity": {"sourceIp": "203.0.113.9"}},
        "body": "",
        "isBase64Encoded": False,
    }
    event.update(changes)
    return event


def test_a_form_is_read_with_its_first_values_and_no_blanks(handler):
    body = "csrf=abc&csrf=second&lang=es&amount=&dob_day=9"
    assert browser.form(_event(body=body)) == {"csrf": "abc", "lang": "es", "dob_day": "9"}
    charset = _event(body="a=1", headers={"content-type": "Application/X-WWW-Form-Urlencoded; charset=UTF-8"})
    assert browser.form(charset) == {"a": "1"}
    encoded = _event(body=base64.b64encode(b"last_name=Pe%C3%B1a").decode(), isBase64Encoded=True)
    assert browser.form(encoded) == {"last_name": "Peña"}
    assert browser.form(_event(body=None)) == {}


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "application/json"},
        {"Content-Type": "multipart/form-data; boundary=x"},
        {"Content-Type": "text/plain"},
        {},
    ],
)
def test_a_body_that_is_not_a_urlencoded_form_is_none(handler, headers):
    assert browser.form(_event(headers=headers, body="a=1")) is None


def test_a_form_over_8_kb_or_24_fields_is_none(handler):
    assert browser.form(_event(body="a=" + "x" * (8 * 1024 - 2))) is not None
    assert browser.form(_event(body="a=" + "x" * (8 * 1024 - 1))) is None
    fields = {f"f{i}": "1" for i in range(24)}
    assert browser.form(_event(body=urlencode(fields))) == fields
    assert browser.form(_event(body=urlencode({**fields, "f24": "1"}))) is None
    assert browser.form(_event(body=base64.b64encode(b"a=\xff\xfe").decode(), isBase64Encoded=True)) is None


def test_the_same_origin_check(handler):
    host = {"Host": "pay.example.org"}
    assert browser.same_origin(_event(headers=host)) is True  # no Origin: a browser that sends none
    assert browser.same_origin(_event(headers={**host, "Origin": "https://pay.example.org"})) is True
    assert browser.same_origin(_event(headers={**host, "origin": "https://evil.example"})) is False
    assert browser.same_origin(_event(headers={**host, "Origin": "https://pay.example.org.evil.example"})) is False
    assert browser.same_origin(_event(headers={**host, "Origin": "null"})) is False
    assert browser.same_origin(_event(headers={"Origin": "https://pay.example.org"})) is True  # domainName


def test_the_session_cookie_from_split_cookie_headers(handler):
    multi = {"Cookie": ["theme=dark", "pp_session=abc123; other=1"]}
    assert (
        browser.cookie(_event(multiValueHeaders=multi, headers={"Cookie": "pp_session=abc123; other=1"}), "pp_session")
        == "abc123"
    )
    multi = {"cookie": ["pp_session=first", "theme=dark"]}
    assert browser.cookie(_event(multiValueHeaders=multi, headers={"cookie": "theme=dark"}), "pp_session") == "first"
    assert browser.cookie(_event(headers={"Cookie": "a=1; pp_session=xyz"}), "pp_session") == "xyz"
    assert browser.cookie(_event(headers={"Cookie": "a=1"}), "pp_session") is None
    assert browser.cookie(_event(), "pp_session") is None


def test_the_session_cookie_survives_another_sites_odd_cookie(handler):
    assert browser.cookie(_event(headers={"Cookie": 'prefs={"a":1}; pp_session=xyz'}), "pp_session") == "xyz"
    assert browser.cookie(_event(headers={"Cookie": "pp_session=xyz; note=two words"}), "pp_session") == "xyz"


@pytest.mark.parametrize(
    ("name", "kind"), [("pay.css", "text/css"), ("pay.js", "text/javascript"), ("receipt.js", "text/javascript")]
)
def test_assets_are_served_from_the_allow_list_with_their_headers(handler, name, kind):
    resp = handler._asset(name)
    assert resp["statusCode"] == 200
    assert resp["headers"]["Content-Type"] == f"{kind}; charset=utf-8"
    assert resp["headers"]["X-Content-Type-Options"] == "nosniff"
    assert resp["headers"]["Cache-Control"].startswith("public, max-age=")
    assert resp["body"] == (PAYPAGE / "assets" / name).read_text()


@pytest.mark.parametrize(
    "name", ["../handler.py", "..%2Fhandler.py", "templates/base.html", "PAY.CSS", "", None, "pay.css/"]
)
def test_any_other_asset_is_404(handler, name):
    resp = handler._asset(name)
    assert resp["statusCode"] == 404 and "import" not in resp["body"]


# -- the handler's responses, with the service stubbed --------------------------------------------------------


class _Stub:
    def __init__(self, screen: Screen):
        self.screen = screen
        self.calls: list[tuple[str, tuple]] = []

    def __getattr__(self, name: str):
        def call(*args: Any) -> Screen:
            self.calls.append((name, args))
            return self.screen

        return call


def _context() -> Any:
    from local.front import LambdaContext

    return LambdaContext("paypage")


def _run(handler, monkeypatch, screen: Screen, **event: Any) -> tuple[dict[str, Any], _Stub]:
    stub = _Stub(screen)
    monkeypatch.setattr(handler, "pay_page_service", lambda: stub)
    return handler.lambda_handler(_event(**event), _context()), stub


def test_an_asset_route_is_served_through_the_handler(handler):
    event = _event(resource="/pay/assets/{asset}", httpMethod="GET", pathParameters={"asset": "pay.css"})
    assert handler.lambda_handler(event, _context())["statusCode"] == 200
    event["pathParameters"] = {"asset": "../handler.py"}
    assert handler.lambda_handler(event, _context())["statusCode"] == 404


def test_a_new_session_sets_a_strict_cookie_scoped_to_the_link(handler, monkeypatch):
    screen = Screen("identity", 200, {**BASE, "identity": "date_of_birth", "csrf": CSRF, "language": "en"}, cookie="v")
    resp, stub = _run(handler, monkeypatch, screen, httpMethod="GET", resource="/pay/{secret}")
    assert resp["statusCode"] == 200 and stub.calls[0][0] == "open"
    (cookie,) = resp["multiValueHeaders"]["Set-Cookie"]
    assert cookie.startswith("pp_session=v; ")
    flags = [f.strip() for f in cookie.split(";")]
    assert {"HttpOnly", "Secure", "SameSite=Strict", f"Path=/pay/{'A' * 32}", "Max-Age=900"} <= set(flags)
    assert resp["headers"]["Content-Type"] == "text/html; charset=utf-8"
    assert _csp(resp["headers"])["frame-src"] == "'none'"


def test_the_stage_is_in_the_cookies_path_on_api_gateways_own_domain(handler, monkeypatch):
    screen = Screen("identity", 200, {**BASE, "identity": "date_of_birth", "csrf": CSRF, "language": "en"}, cookie="v")
    context = {"domainName": "abc.execute-api.us-east-1.amazonaws.com", "stage": "prod", "identity": {}}
    resp, _ = _run(handler, monkeypatch, screen, httpMethod="GET", resource="/pay/{secret}", requestContext=context)
    assert f"Path=/prod/pay/{'A' * 32};" in resp["multiValueHeaders"]["Set-Cookie"][0]
    assert 'href="/prod/pay/assets/pay.css"' in resp["body"]


def test_a_redirect_is_303_to_a_path_under_the_link_with_the_security_headers(handler, monkeypatch):
    form = urlencode({"csrf": CSRF, "dob_month": "3"})
    resp, stub = _run(handler, monkeypatch, Screen("redirect", 303, redirect="?lang=es"), body=form)
    assert resp["statusCode"] == 303 and resp["body"] == ""
    assert resp["headers"]["Location"] == f"/pay/{'A' * 32}?lang=es"
    assert resp["headers"]["Cache-Control"] == "no-store"
    assert stub.calls[0][0] == "verify" and stub.calls[0][1][3] == "203.0.113.9"
    resp, _ = _run(handler, monkeypatch, Screen("redirect", 303, redirect="receipts/rc_1?lang=en"), body=form)
    assert resp["headers"]["Location"] == f"/pay/{'A' * 32}/receipts/rc_1?lang=en"


def test_a_post_that_is_not_a_form_is_415_and_a_foreign_origin_403_before_the_service(handler, monkeypatch):
    screen = Screen("redirect", 303, redirect="")
    resp, stub = _run(
        handler, monkeypatch, screen, headers={"Host": "pay.example.org", "Content-Type": "application/json"}, body="{}"
    )
    assert resp["statusCode"] == 415 and stub.calls == []
    assert "Please start again" in resp["body"]
    headers = {"Host": "pay.example.org", "Content-Type": browser.FORM_TYPE, "Origin": "https://evil.example"}
    resp, stub = _run(handler, monkeypatch, screen, headers=headers, body="csrf=x")
    assert resp["statusCode"] == 403 and stub.calls == []
    assert resp["headers"]["Content-Security-Policy"] == security_headers(None)["Content-Security-Policy"]


@pytest.mark.parametrize(("resource", "call"), [("/pay/{secret}/payments", "pay"), ("/pay/{secret}/plan", "plan")])
def test_posts_route_to_the_service(handler, monkeypatch, resource, call):
    _, stub = _run(handler, monkeypatch, Screen("redirect", 303, redirect=""), resource=resource, body="csrf=x")
    assert [c[0] for c in stub.calls] == [call]


def test_a_failing_service_is_the_error_page_and_nothing_leaks(handler, monkeypatch):
    def boom() -> Any:
        raise RuntimeError("secret AAAA in a traceback")

    monkeypatch.setattr(handler, "pay_page_service", boom)
    resp = handler.lambda_handler(_event(httpMethod="GET", resource="/pay/{secret}"), _context())
    assert resp["statusCode"] == 500 and "Something went wrong" in resp["body"] and "AAAA" not in resp["body"]
    assert resp["headers"]["Cache-Control"] == "no-store"


def test_the_bill_screen_allows_the_payfields_origin(handler, monkeypatch):
    screen = Screen(
        "bill",
        200,
        {
            **{k: v for k, v in BASE.items() if k not in ("here", "back", "link_path")},
            **_bill("card", None, True),
            "language": "en",
        },
    )
    resp, _ = _run(handler, monkeypatch, screen, httpMethod="GET", resource="/pay/{secret}")
    assert resp["statusCode"] == 200
    csp = _csp(resp["headers"])
    assert csp["script-src"] == f"'self' {PAYFIELDS}" and csp["frame-src"] == PAYFIELDS
    assert f'action="/pay/{"A" * 32}/payments"' in resp["body"]
