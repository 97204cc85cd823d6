"""Pay links' rules without a table (ADR 0015): a link's status, what wrong identity answers do to it (locked at the
5th for 15 minutes, revoked at the 10th), the secret (192 random bits, URL-safe, kept only as its SHA-256), the URL
built from it, and what a staff request may ask for. The store's conditions run on moto in
tests/integration/test_pay_links_store.py."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from practicepay.api.urls import api_base_url
from practicepay.clock import iso
from practicepay.ids import new_id
from practicepay.paylinks.models import (
    LOCK_AFTER_FAILURES,
    LOCK_MINUTES,
    REVOKE_AFTER_FAILURES,
    SECRET_PATTERN,
    CreatePayLinkRequest,
    PageSession,
    PayLinkRecord,
    new_secret,
    secret_hash,
)
from practicepay.paylinks.service import _detail, link_url

pytestmark = pytest.mark.unit

NOW = datetime(2027, 1, 10, 14, 0, 0, 123_000, tzinfo=UTC)


def _link(**changes) -> PayLinkRecord:
    base = PayLinkRecord(
        practice_id="prc_alpha",
        id=new_id("pl"),
        secret_hash=secret_hash(new_secret()),
        scope="invoice",
        patient_id=new_id("pat"),
        invoice_id=new_id("inv"),
        expires_at=iso(NOW + timedelta(days=30)),
        max_uses=3,
        created_at=iso(NOW - timedelta(days=1)),
    )
    return replace(base, **changes)


# -- status ----------------------------------------------------------------------------------------------------


def test_a_new_link_is_active():
    assert _link().status(NOW) == "active"


def test_a_link_is_locked_until_its_lock_ends():
    link = _link(locked_until=iso(NOW + timedelta(minutes=1)))
    assert link.status(NOW) == "locked"
    assert link.status(NOW + timedelta(minutes=1)) == "active"  # the lock's end is past it
    assert _link(locked_until=iso(NOW - timedelta(seconds=1))).status(NOW) == "active"


def test_a_link_expires_at_its_expiry():
    link = _link(expires_at=iso(NOW + timedelta(seconds=1)))
    assert link.status(NOW) == "active"
    assert link.status(NOW + timedelta(seconds=1)) == "expired"
    assert link.status(NOW + timedelta(days=400)) == "expired"


def test_a_link_is_used_up_after_max_uses_verified_visits():
    assert _link(uses=2, max_uses=3).status(NOW) == "active"
    assert _link(uses=3, max_uses=3).status(NOW) == "used_up"
    assert _link(uses=1, max_uses=1).status(NOW) == "used_up"
    assert _link(opened=50, uses=0).status(NOW) == "active"  # opening the first screen is no use


def test_a_revoked_link_is_revoked_whatever_else_holds():
    revoked = {"revoked_at": iso(NOW - timedelta(hours=1)), "revoked_reason": "staff"}
    assert _link(**revoked).status(NOW) == "revoked"
    assert _link(**revoked, uses=3, locked_until=iso(NOW + timedelta(minutes=5))).status(NOW) == "revoked"
    assert _link(**revoked, expires_at=iso(NOW - timedelta(days=1))).status(NOW) == "revoked"


def test_expiry_comes_before_a_lock_or_the_uses():
    gone = iso(NOW - timedelta(seconds=1))
    assert _link(expires_at=gone, locked_until=iso(NOW + timedelta(minutes=5))).status(NOW) == "expired"
    assert _link(expires_at=gone, uses=3).status(NOW) == "expired"
    assert _link(uses=3, locked_until=iso(NOW + timedelta(minutes=5))).status(NOW) == "locked"


# -- wrong identity answers ------------------------------------------------------------------------------------


def test_the_rules_are_5_to_lock_for_15_minutes_and_10_to_revoke():
    assert (LOCK_AFTER_FAILURES, LOCK_MINUTES, REVOKE_AFTER_FAILURES) == (5, 15, 10)


@pytest.mark.parametrize("failures", [1, 4])
def test_fewer_than_5_wrong_answers_only_count(failures):
    link = _link(identity_failures=failures - 1)
    after = link.after_failure(failures, NOW)
    assert after == replace(link, identity_failures=failures)
    assert after.status(NOW) == "active"


def test_the_5th_wrong_answer_locks_the_link_for_15_minutes():
    after = _link(identity_failures=4).after_failure(5, NOW)
    assert (after.identity_failures, after.locked_until, after.revoked_at) == (
        5,
        iso(NOW + timedelta(minutes=15)),
        None,
    )
    assert after.status(NOW) == "locked"
    assert after.status(NOW + timedelta(minutes=14, seconds=59)) == "locked"
    assert after.status(NOW + timedelta(minutes=15)) == "active"


@pytest.mark.parametrize("failures", [6, 9])
def test_wrong_answers_after_the_lock_count_without_locking_again(failures):
    locked_until = iso(NOW - timedelta(minutes=1))  # the 5th answer's lock, over
    after = _link(identity_failures=failures - 1, locked_until=locked_until).after_failure(failures, NOW)
    assert (after.identity_failures, after.locked_until, after.revoked_at) == (failures, locked_until, None)
    assert after.status(NOW) == "active"


def test_the_10th_wrong_answer_revokes_the_link():
    after = _link(identity_failures=9).after_failure(10, NOW)
    assert (after.identity_failures, after.revoked_at, after.revoked_reason) == (10, iso(NOW), "too_many_failures")
    assert after.status(NOW) == "revoked"
    assert after.status(NOW + timedelta(days=1)) == "revoked"


def test_answers_past_the_10th_stay_revoked():
    assert _link(identity_failures=10).after_failure(11, NOW).status(NOW) == "revoked"


def test_after_failure_changes_nothing_but_the_failure_fields():
    link = _link(uses=1, opened=2)
    after = link.after_failure(5, NOW)
    assert replace(after, identity_failures=0, locked_until=None) == link


# -- the secret and the URL ------------------------------------------------------------------------------------


def test_a_secret_is_32_url_safe_characters_of_192_random_bits():
    secrets_ = {new_secret() for _ in range(200)}
    assert len(secrets_) == 200
    assert all(re.fullmatch(SECRET_PATTERN, s) for s in secrets_)
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{32}", s) for s in secrets_)
    assert len({c for s in secrets_ for c in s}) > 50  # the whole URL-safe alphabet, not hex


def test_only_the_secrets_sha256_is_kept():
    secret = new_secret()
    assert secret_hash(secret) == hashlib.sha256(secret.encode()).hexdigest()
    assert len(secret_hash(secret)) == 64 and secret not in secret_hash(secret)
    link = _link(secret_hash=secret_hash(secret))
    assert secret not in repr(link)
    view = link.view(NOW).model_dump_json()
    assert secret not in view and secret_hash(secret) not in view  # the staff view has neither


def test_the_url_is_the_base_then_pay_then_the_secret_and_nothing_else():
    secret = new_secret()
    assert link_url("https://pay.lakeside.example", secret) == f"https://pay.lakeside.example/pay/{secret}"
    assert link_url("https://pay.lakeside.example/", secret) == f"https://pay.lakeside.example/pay/{secret}"
    assert link_url("https://abc.execute-api.us-east-1.amazonaws.com/v1", secret).endswith(f"/v1/pay/{secret}")


@pytest.mark.parametrize(
    ("context", "base"),
    [
        ({"domainName": "abc123.execute-api.us-east-1.amazonaws.com", "stage": "v1"},
         "https://abc123.execute-api.us-east-1.amazonaws.com/v1"),
        ({"domainName": "api.practicepay.example", "stage": "v1"}, "https://api.practicepay.example"),
        ({"domainName": "localhost:8080", "stage": "local"}, "http://localhost:8080"),
        ({}, "http://localhost"),
    ],
)  # fmt: skip
def test_the_api_base_url_is_the_one_the_request_came_in_on(context, base):
    assert api_base_url(context) == base


def test_the_event_detail_has_ids_dates_and_counts_but_no_secret():
    link = _link()
    detail = _detail(link, reason="staff")
    assert detail == {
        "link_id": link.id,
        "scope": "invoice",
        "invoice_id": link.invoice_id,
        "patient_id": link.patient_id,
        "expires_at": link.expires_at,
        "max_uses": 3,
        "reason": "staff",
    }
    assert link.secret_hash not in str(detail)


# -- a staff request -------------------------------------------------------------------------------------------


def test_a_request_may_be_empty_and_then_takes_the_practices_defaults():
    body = CreatePayLinkRequest.model_validate({})
    assert (body.expires_in_days, body.max_uses) == (None, None)
    body = CreatePayLinkRequest.model_validate({"expires_in_days": 120, "max_uses": 20})
    assert (body.expires_in_days, body.max_uses) == (120, 20)


@pytest.mark.parametrize(
    "body",
    [
        {"expires_in_days": 0},
        {"expires_in_days": 121},
        {"expires_in_days": "14"},
        {"expires_in_days": 14.0},
        {"max_uses": 0},
        {"max_uses": 21},
        {"max_uses": True},
        {"invoice_id": "inv_x"},
        {"amount": 100},
    ],
)
def test_a_request_out_of_bounds_or_with_other_fields_is_refused(body):
    with pytest.raises(ValidationError):
        CreatePayLinkRequest.model_validate(body)


# -- the pay page's session -------------------------------------------------------------------------------------


def test_a_page_session_lives_until_its_expiry():
    session = PageSession(id_hash="a" * 64, link_hash="b" * 64, csrf="c", expires_at=iso(NOW + timedelta(minutes=15)))
    assert session.live(NOW) and not session.verified and session.language == "en"
    assert not session.live(NOW + timedelta(minutes=15))
