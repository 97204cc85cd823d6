"""The pay links' store on the moto server (the unit suite has no DynamoDB fake): a link with its event in one
transaction, found by its secret's hash or its id, listed per owner; every count an atomic, conditioned update
(wrong answers, verified visits, opens), the lock or revocation with its event once, sessions, and the per-address
windows of wrong answers."""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from boto3.dynamodb.conditions import Key

from practicepay.adapters.dynamo import plain
from practicepay.clock import iso
from practicepay.events import event_item
from practicepay.events.publish import detail_of
from practicepay.ids import new_id
from practicepay.paylinks.models import IP_WINDOW_MINUTES, PageSession, PayLinkRecord, new_secret, secret_hash
from practicepay.paylinks.service import _detail, link_event
from practicepay.paylinks.store import LINK_RETENTION_DAYS, PayLinkStore
from tests.event_schemas import validate_detail

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def store(aws_env) -> PayLinkStore:
    return PayLinkStore(aws_env["PAY_LINKS_TABLE"])


@pytest.fixture(scope="module")
def events(aws_env) -> str:
    return aws_env["EVENTS_TABLE"]


def _practice() -> str:
    return f"prc_pls_{uuid.uuid4().hex[:8]}"


def _link(practice: str | None = None, **changes) -> PayLinkRecord:
    base = PayLinkRecord(
        practice_id=practice or _practice(),
        id=new_id("pl"),
        secret_hash=secret_hash(new_secret()),
        scope="invoice",
        patient_id=new_id("pat"),
        invoice_id=new_id("inv"),
        expires_at=iso(NOW + timedelta(days=30)),
        max_uses=3,
        created_at=iso(NOW),
    )
    return replace(base, **changes)


def _made(store: PayLinkStore, events: str, link: PayLinkRecord) -> PayLinkRecord:
    """Made a minute before NOW: its event sorts before the ones the tests write at NOW (ids are time-ordered)."""
    made = NOW - timedelta(minutes=1)
    store.create(link, events, event_item(link.practice_id, "pay_link.created", _detail(link), made))
    return link


def _rows(events: str, practice: str) -> list[dict]:
    table = boto3.resource("dynamodb").Table(events)
    return table.query(KeyConditionExpression=Key("pk").eq(f"PRACTICE#{practice}"))["Items"]


def _validated(rows: list[dict]) -> list[tuple[str, dict]]:
    out = []
    for row in rows:
        detail = detail_of(plain(dict(row)))
        validate_detail(row["detail_type"], detail)
        out.append((row["detail_type"], detail))
    return out


# -- links -------------------------------------------------------------------------------------------------------


def test_a_link_and_its_event_are_written_together_and_read_back(store, events, aws_env):
    link = _made(store, events, _link())
    assert store.get(link.secret_hash) == link
    assert store.get(secret_hash(new_secret())) is None
    assert store.by_id(link.practice_id, link.id) == link
    assert store.by_id(_practice(), link.id) is None  # another practice's id finds nothing
    [(detail_type, detail)] = _validated(_rows(events, link.practice_id))
    assert (detail_type, detail["link_id"]) == ("pay_link.created", link.id)

    item = boto3.resource("dynamodb").Table(aws_env["PAY_LINKS_TABLE"]).get_item(Key=store.key(link.secret_hash))
    expiration = datetime.fromtimestamp(int(item["Item"]["expiration"]), UTC)
    assert expiration == NOW + timedelta(days=30 + LINK_RETENTION_DAYS)  # TTL'd long after it stops working


def test_a_second_link_with_the_same_hash_writes_neither_it_nor_its_event(store, events):
    from practicepay.adapters.dynamo import TransactionConflict

    link = _made(store, events, _link())
    clash = replace(link, id=new_id("pl"))
    with pytest.raises(TransactionConflict):
        _made(store, events, clash)
    assert store.get(link.secret_hash) == link
    assert len(_rows(events, link.practice_id)) == 1


def test_an_owners_links_are_listed_newest_first_and_balance_links_apart(store, events):
    practice = _practice()
    patient, invoice = new_id("pat"), new_id("inv")
    older = _made(store, events, _link(practice, patient_id=patient, invoice_id=invoice))
    newer = _made(store, events, _link(practice, patient_id=patient, invoice_id=invoice))
    balance = _made(store, events, _link(practice, patient_id=patient, invoice_id=None, scope="balance"))
    _made(store, events, _link(practice, patient_id=patient))  # another invoice of the patient
    assert [x.id for x in store.for_owner(practice, invoice_id=invoice, patient_id=patient)] == [newer.id, older.id]
    assert [x.id for x in store.for_owner(practice, invoice_id=None, patient_id=patient)] == [balance.id]
    assert store.for_owner(_practice(), invoice_id=invoice, patient_id=patient) == []


# -- visits and uses ----------------------------------------------------------------------------------------------


def test_use_counts_verified_visits_up_to_max_uses_only(store, events):
    link = _made(store, events, _link(max_uses=2))
    assert store.use(link, NOW) and store.use(link, NOW)
    assert not store.use(link, NOW)  # the third
    after = store.get(link.secret_hash)
    assert after.uses == 2 and after.status(NOW) == "used_up"


def test_use_is_refused_on_an_expired_or_revoked_link(store, events):
    expired = _made(store, events, _link(expires_at=iso(NOW - timedelta(seconds=1))))
    assert not store.use(expired, NOW)
    revoked = _made(store, events, _link())
    event = link_event(revoked, "pay_link.revoked", NOW, reason="staff")
    assert store.revoke(revoked, NOW, "staff", events, event)
    assert not store.use(revoked, NOW)
    assert store.get(expired.secret_hash).uses == 0 and store.get(revoked.secret_hash).uses == 0


def test_racing_uses_never_exceed_max_uses(store, events):
    link = _made(store, events, _link(max_uses=3))
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(store.use(link, NOW))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 5 + [True] * 3
    assert store.get(link.secret_hash).uses == 3


def test_opens_are_counted_with_the_last_time(store, events):
    link = _made(store, events, _link())
    store.opened(link, NOW)
    store.opened(link, NOW + timedelta(minutes=1))
    after = store.get(link.secret_hash)
    assert (after.opened, after.last_opened_at, after.uses) == (2, iso(NOW + timedelta(minutes=1)), 0)


def test_payments_and_plans_made_through_a_link_are_kept_once_each(store, events):
    link = _made(store, events, _link())
    pay_a, pay_b, plan = new_id("pay"), new_id("pay"), new_id("pln")
    store.add_outcome(link, payment_id=pay_a)
    store.add_outcome(link, payment_id=pay_a)  # a replay
    store.add_outcome(link, payment_id=pay_b)
    store.add_outcome(link, plan_id=plan)
    after = store.get(link.secret_hash)
    assert (after.payment_ids, after.plan_ids) == (tuple(sorted([pay_a, pay_b])), (plan,))
    assert after.view(NOW).payment_ids == sorted([pay_a, pay_b])


# -- wrong answers ---------------------------------------------------------------------------------------------------


def test_racing_answers_each_get_their_own_count_and_no_more_than_the_cap_are_counted(store, events):
    link = _made(store, events, _link())
    counts: list[int | None] = []
    threads = [threading.Thread(target=lambda: counts.append(store.count_attempt(link, NOW, 5))) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # exactly one request sees each of 1..5; the other five are refused before they are judged
    assert sorted(c for c in counts if c is not None) == [1, 2, 3, 4, 5] and counts.count(None) == 5


def test_a_right_answer_is_taken_back_and_a_locked_or_revoked_link_takes_no_answer(store, events):
    link = _made(store, events, _link())
    assert store.count_attempt(link, NOW, 5) == 1
    assert store.use(link, NOW) and store.get(link.secret_hash).identity_failures == 0
    locked = _made(store, events, _link(locked_until=iso(NOW + timedelta(minutes=1))))
    assert store.count_attempt(locked, NOW, 10) is None
    assert store.count_attempt(locked, NOW + timedelta(minutes=2), 10) == 1  # the lock is over
    revoked = _made(store, events, _link(revoked_at=iso(NOW), revoked_reason="staff"))
    assert store.count_attempt(revoked, NOW, 10) is None


def _answer_wrong(store: PayLinkStore, events: str, link: PayLinkRecord, now: datetime) -> PayLinkRecord:
    """What the pay page does with a wrong answer: count it, then lock or revoke with the event at 5 and 10."""
    failures = store.count_attempt(link, now, 5 if store.get(link.secret_hash).locked_until is None else 10)
    assert failures is not None
    after = link.after_failure(failures, now)
    event = None
    if after.revoked_at is not None and failures == 10:
        event = link_event(after, "pay_link.revoked", now, reason="too_many_failures", identity_failures=failures)
    elif failures == 5:
        event = link_event(after, "pay_link.locked", now, locked_until=after.locked_until, identity_failures=failures)
    store.apply_failure(after, events, event)
    return store.get(link.secret_hash)


def test_the_5th_wrong_answer_locks_and_the_10th_revokes_each_with_its_event(store, events):
    link = _made(store, events, _link())
    for n in range(1, 5):
        assert _answer_wrong(store, events, link, NOW).status(NOW) == "active", n
    locked = _answer_wrong(store, events, link, NOW)
    assert (locked.identity_failures, locked.status(NOW), locked.locked_until) == (
        5,
        "locked",
        iso(NOW + timedelta(minutes=15)),
    )
    later = NOW + timedelta(minutes=16)
    for n in range(6, 10):
        assert _answer_wrong(store, events, link, later).status(later) == "active", n
    revoked = _answer_wrong(store, events, link, later)
    assert (revoked.identity_failures, revoked.status(later), revoked.revoked_reason) == (
        10,
        "revoked",
        "too_many_failures",
    )
    written = _validated(_rows(events, link.practice_id))
    assert [t for t, _ in written] == ["pay_link.created", "pay_link.locked", "pay_link.revoked"]
    assert written[1][1]["locked_until"] == locked.locked_until and written[1][1]["identity_failures"] == 5
    assert written[2][1]["reason"] == "too_many_failures" and written[2][1]["identity_failures"] == 10
    for _, detail in written:
        assert link.secret_hash not in str(detail)


def test_staff_revoke_is_once_and_a_repeat_changes_nothing(store, events):
    link = _made(store, events, _link())
    first = link_event(link, "pay_link.revoked", NOW, reason="staff")
    assert store.revoke(link, NOW, "staff", events, first)
    second = link_event(link, "pay_link.revoked", NOW + timedelta(hours=1), reason="staff")
    assert not store.revoke(link, NOW + timedelta(hours=1), "staff", events, second)
    after = store.get(link.secret_hash)
    assert (after.revoked_at, after.revoked_reason, after.status(NOW)) == (iso(NOW), "staff", "revoked")
    assert [t for t, _ in _validated(_rows(events, link.practice_id))] == ["pay_link.created", "pay_link.revoked"]


def test_a_staff_revoke_keeps_the_counts_the_pay_page_made_meanwhile(store, events):
    """revoke() puts the whole item: counts added since the caller read the link must survive it."""
    link = _made(store, events, _link())
    store.use(link, NOW)
    store.opened(link, NOW)
    store.add_outcome(link, payment_id=new_id("pay"))
    assert store.revoke(link, NOW, "staff", events, link_event(link, "pay_link.revoked", NOW, reason="staff"))
    after = store.get(link.secret_hash)
    assert (after.uses, after.opened, len(after.payment_ids)) == (1, 1, 1)


# -- sessions and addresses ------------------------------------------------------------------------------------------


def test_a_session_is_kept_by_its_hash_and_ended(store):
    id_hash = secret_hash(new_secret())
    session = PageSession(
        id_hash=id_hash, link_hash=secret_hash(new_secret()), csrf="tok", expires_at=iso(NOW + timedelta(minutes=15))
    )
    store.put_session(session)
    assert store.session(id_hash) == session
    assert store.session(secret_hash(new_secret())) is None
    store.end_session(session, NOW)
    ended = store.session(id_hash)
    assert ended is not None and ended.expires_at == iso(NOW) and not ended.live(NOW)


def test_answers_per_address_count_in_15_minute_windows(store):
    address = secret_hash(f"198.51.100.{uuid.uuid4().int % 250}-{uuid.uuid4().hex}")
    window = IP_WINDOW_MINUTES * 60
    start = datetime.fromtimestamp((int(NOW.timestamp()) // window) * window, UTC)
    counted = [store.count_address_attempt(address, start + timedelta(seconds=s)) for s in (0, 60, window - 1)]
    assert counted == [1, 2, 3]
    assert store.count_address_attempt(address, start + timedelta(minutes=5), back=True) == 2  # a right one
    assert store.count_address_attempt(address, start + timedelta(seconds=window)) == 1  # the next window
    other = secret_hash(uuid.uuid4().hex)
    assert store.count_address_attempt(other, start) == 1
