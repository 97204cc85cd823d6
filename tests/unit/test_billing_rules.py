"""The plan arithmetic (splits, dates, retry policy) and what each payment outcome does to its installment."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from practicepay.billing.follow import react
from practicepay.billing.models import InstallmentRecord
from practicepay.billing.schedule import MAX_INSTALLMENTS, Frequency, RetryPolicy, nth_date, split
from practicepay.payments.models import PaymentRecord

pytestmark = pytest.mark.unit

NOW = "2027-01-10T14:00:00.000Z"


@given(balance=st.integers(2, 10_000_000), count=st.integers(2, MAX_INSTALLMENTS))
def test_a_count_split_adds_up_exactly_with_the_remainder_last(balance, count):
    if count > balance:
        with pytest.raises(ValueError):
            split(balance, count=count)
        return
    parts = split(balance, count=count)
    assert sum(parts) == balance and len(parts) == count
    assert len(set(parts[:-1])) == 1 and parts[-1] >= parts[0] and parts[-1] - parts[0] < count


def test_an_amount_split_puts_the_smaller_remainder_last_and_refuses_bad_plans():
    assert split(30_000, amount=12_000) == [12_000, 12_000, 6_000]
    assert split(24_000, amount=12_000) == [12_000, 12_000]
    with pytest.raises(ValueError, match="at least two"):
        split(10_000, amount=10_000)
    with pytest.raises(ValueError, match="at most"):
        split(100_000, amount=1)
    with pytest.raises(ValueError, match="exactly|either"):
        split(100, count=2, amount=50)


def test_monthly_dates_keep_the_day_or_the_month_end_and_never_drift():
    first = date(2027, 1, 31)
    months = [nth_date(first, Frequency.MONTHLY, n) for n in range(4)]
    assert months == [date(2027, 1, 31), date(2027, 2, 28), date(2027, 3, 31), date(2027, 4, 30)]
    assert nth_date(date(2027, 12, 15), Frequency.MONTHLY, 1) == date(2028, 1, 15)
    assert nth_date(first, Frequency.WEEKLY, 2) == date(2027, 2, 14)
    assert nth_date(first, Frequency.EVERY_TWO_WEEKS, 1) == date(2027, 2, 14)


def test_the_retry_policy_follows_the_practice_schedule_and_nacha_limits():
    policy = RetryPolicy()
    first = date(2027, 1, 10)
    assert [policy.next_card_retry(first, n) for n in (1, 2, 3, 4)] == [
        date(2027, 1, 11),
        date(2027, 1, 13),
        date(2027, 1, 17),
        None,
    ]
    assert policy.next_redeposit(first, first, 0) == date(2027, 1, 15)
    assert policy.next_redeposit(first, date(2027, 1, 15), 1) == date(2027, 1, 20)
    assert policy.next_redeposit(first, date(2027, 1, 20), 2) is None  # two re-presentments at most
    assert policy.next_redeposit(first, date(2027, 7, 8), 0) is None  # beyond 180 days of the original
    assert RetryPolicy.from_record(RetryPolicy(card_retry_days=(2, 5)).to_record()).card_retry_days == (2, 5)


def _installment(**changes) -> InstallmentRecord:
    base = InstallmentRecord(
        practice_id="prc_a",
        owner_id="pln_01",
        seq=1,
        invoice_id="inv_01",
        patient_id="pat_01",
        amount=10_000,
        due_on="2027-01-10",
        status="processing",
        policy=RetryPolicy().to_record(),
        created_at=NOW,
        updated_at=NOW,
        attempts=1,
        first_attempt_on="2027-01-10",
        attempted_on="2027-01-10",
        payment_id="pay_01",
    )
    return replace(base, **changes)


def _payment(status: str, kind: str = "card", **changes) -> PaymentRecord:
    base = PaymentRecord(
        practice_id="prc_a",
        id="pay_01",
        invoice_id="inv_01",
        patient_id="pat_01",
        payment_method_id="pm_01",
        method_kind=kind,
        amount=10_000,
        status=status,
        created_at=NOW,
        updated_at=NOW,
        installment={"id": "pln_01.001", "attempt": 1, "on": "2027-01-10"},
    )
    return replace(base, **changes)


def _decline(category: str, retryable: bool) -> dict:
    return {"category": category, "processor_text": category, "retryable": retryable}


def test_a_new_attempt_records_its_payment_and_date():
    inst = _installment(status="failed", attempts=1, next_attempt_on="2027-01-11", payment_id="pay_00")
    after, events = react(
        inst, None, _payment("pending", installment={"id": "x", "attempt": 2, "on": "2027-01-11"}), NOW
    )
    assert (after.status, after.attempts, after.attempted_on, after.payment_id) == (
        "processing",
        2,
        "2027-01-11",
        "pay_01",
    )
    assert after.first_attempt_on == "2027-01-10" and after.next_attempt_on is None and events == []


def test_success_pays_the_installment_once():
    after, events = react(_installment(), _payment("pending"), _payment("succeeded"), NOW)
    assert after.status == "paid" and [e[0] for e in events] == ["installment.paid"]
    assert react(after, _payment("succeeded"), _payment("succeeded"), NOW) is None


@pytest.mark.parametrize(("attempts", "next_on"), [(1, "2027-01-11"), (2, "2027-01-13"), (3, "2027-01-17"), (4, None)])
def test_a_soft_decline_is_retried_on_schedule_then_past_due(attempts, next_on):
    failed = _payment("failed", failure=_decline("insufficient_funds", True))
    after, events = react(_installment(attempts=attempts), _payment("pending"), failed, NOW)
    assert after.next_attempt_on == next_on
    if next_on:
        assert after.status == "failed" and [e[0] for e in events] == ["installment.failed"]
        assert events[0][1]["will_retry"] is True
    else:
        assert after.status == "past_due" and [e[0] for e in events] == ["installment.failed", "invoice.past_due"]


@pytest.mark.parametrize("category", ["lost_or_stolen", "invalid_card", "expired_card", "suspected_fraud"])
def test_a_hard_decline_is_past_due_at_once(category):
    after, events = react(
        _installment(), _payment("pending"), _payment("failed", failure=_decline(category, False)), NOW
    )
    assert after.status == "past_due" and after.failure["will_retry"] is False
    assert [e[0] for e in events] == ["installment.failed", "invoice.past_due"]


def test_nothing_submitted_sends_the_same_attempt_again_the_next_day_a_few_times():
    failure = {"category": "processor_refused", "processor_text": "refused", "retryable": True}
    inst = _installment()
    for _ in range(3):
        inst, _ = react(inst, _payment("pending"), _payment("failed", failure=failure), NOW)
        assert (inst.status, inst.next_attempt_on, inst.failure["resend"]) == ("failed", "2027-01-11", True)
        inst = replace(inst, status="processing")
    after, events = react(inst, _payment("pending"), _payment("failed", failure=failure), NOW)
    assert after.status == "past_due" and [e[0] for e in events] == ["installment.failed", "invoice.past_due"]


def _returned(code: str | None) -> PaymentRecord:
    info = {"code": code, "category": "nsf" if code in ("R01", "R09") else "other", "message": "m"}
    return _payment("returned", kind="bank_account", return_info=info)


@pytest.mark.parametrize(("redeposits", "next_on"), [(0, "2027-01-15"), (1, "2027-01-15"), (2, None)])
def test_an_r01_return_is_re_presented_at_most_twice(redeposits, next_on):
    inst = _installment(redeposits=redeposits)
    after, events = react(inst, _payment("processing", kind="bank_account"), _returned("R01"), NOW)
    assert after.next_attempt_on == next_on
    assert after.redeposit_of == ("pay_01" if next_on else None)
    assert after.status == ("failed" if next_on else "past_due")


@pytest.mark.parametrize("code", ["R02", "R03", "R07", "R10", "R29"])
def test_other_returns_are_never_re_presented_even_after_the_installment_was_paid(code):
    paid = _installment(status="paid")
    after, events = react(paid, _payment("succeeded", kind="bank_account"), _returned(code), NOW)
    assert after.status == "past_due" and after.redeposit_of is None
    assert [e[0] for e in events] == ["installment.failed", "invoice.past_due"]


def test_a_late_r01_code_turns_a_past_due_return_into_a_re_presentment():
    without_code = _returned(None)
    past_due, _ = react(_installment(), _payment("processing", kind="bank_account"), without_code, NOW)
    assert past_due.status == "past_due"
    after, _ = react(past_due, without_code, _returned("R01"), NOW)
    assert after.status == "failed" and after.redeposit_of == "pay_01"


def test_an_earlier_attempts_news_and_refunds_change_nothing():
    assert react(_installment(payment_id="pay_02"), _payment("pending"), _payment("succeeded"), NOW) is None
    paid = _installment(status="paid")
    assert react(paid, _payment("succeeded"), _payment("refunded"), NOW) is None
