"""A short seeded chaos run (tests/chaos): concurrent clients pay and refund while the Splash sandbox loses
answers, fails, rate limits and garbles alerts and the poll and queues run; afterwards every invoice, payment
and refund the run made agrees with its ledger and with Splash, nothing is charged twice and nothing is lost.
Rerun a failing seed with more detail: `.venv/bin/python -m tests.chaos --seed 7 --operations 40 --clients 4`."""

from __future__ import annotations

import pytest

from tests.helpers import TEST_SECRET

pytestmark = pytest.mark.integration

SEED = 7


def test_a_seeded_chaos_run_keeps_the_books(aws_env, stack_sandbox, sync_stack, monkeypatch):
    from practicepay.sync.wiring import status_sync
    from tests.chaos.harness import GRACE_SECONDS, ChaosStack, run

    # The session's StatusSync is cached; whatever grace the run sets on it is undone after the test.
    monkeypatch.setattr(status_sync(), "grace_seconds", status_sync().grace_seconds)
    stack = ChaosStack(stack_sandbox.sandbox, stack_sandbox.url, TEST_SECRET, register_alert=False)  # sync_stack's
    try:
        report = run(
            SEED, 40, 4, 30.0, stack=stack, grace_seconds=GRACE_SECONDS, settle_limit_s=15.0, practice="prc_chaos"
        )
    finally:
        stack.close()
        stack.clear_faults()
    assert report.ran >= 20, report.render()
    assert not report.double_charges, report.render(first=40)
    assert not report.lost_payments, report.render(first=40)
    assert report.ok, report.render(first=40)
