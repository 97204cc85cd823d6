"""Property: whatever the interleaving of charges, Splash clock advances (settlement, returns), alerts that are
duplicated, reordered, delayed or dropped, and status polls, every payment ends with the status its Splash txn
implies, and every invoice's ledger equals its totals and Splash's txns."""

from __future__ import annotations

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from practicepay.splash.wiring import splash_client
from tests.integration.test_money_core import add_bank, add_card, ledger_matches, new_patient, ok, open_invoice

pytestmark = pytest.mark.integration

DECLINED = 50004  # the sandbox's "insufficient funds" trigger amount
ACCOUNTS = {"clean": "123456789", "r01": "9990000001", "r02": "9990000002", "r10": "9990000010"}
# (kind, Splash txn status) -> the payment status it implies (design.md §5)
EXPECTED = {
    ("card", 1): "succeeded",
    ("card", 3): "succeeded",
    ("card", 4): "succeeded",
    ("card", 2): "failed",
    ("bank_account", 1): "processing",
    ("bank_account", 3): "processing",
    ("bank_account", 4): "succeeded",
    ("bank_account", 5): "returned",
}

charge = st.one_of(
    st.tuples(st.just("card"), st.sampled_from([4000, 7500, DECLINED])),
    st.tuples(st.just("echeck"), st.sampled_from(sorted(ACCOUNTS))),
    st.tuples(st.just("lost_answer"), st.just(3000)),
)
anything = st.one_of(
    charge,
    st.tuples(st.just("advance"), st.integers(1, 3)),
    st.tuples(st.just("alerts"), st.sampled_from(["drop", "duplicate", "reorder", "delay"])),
    st.tuples(st.just("deliver"), st.none()),
    st.tuples(st.just("poll"), st.none()),
)
# Some payments first (eChecks, so settlement and returns are in play), then anything, in any order.
steps = st.tuples(
    st.lists(st.tuples(st.just("echeck"), st.sampled_from(sorted(ACCOUNTS))), min_size=1, max_size=2),
    st.lists(anything, min_size=2, max_size=6),
).map(lambda parts: parts[0] + parts[1])
_payer: dict[str, object] = {}


def payer(api, practice: str) -> tuple[str, str, dict[str, str]]:
    """One patient with a card and a bank account per return behaviour, made once for every example."""
    if not _payer:
        patient = new_patient(api, practice, "ehr-property")
        _payer.update(
            patient=patient,
            card=add_card(api, practice, patient)["id"],
            banks={name: add_bank(api, practice, patient, account=n)["id"] for name, n in ACCOUNTS.items()},
        )
    return _payer["patient"], _payer["card"], _payer["banks"]  # type: ignore[return-value]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=steps)
def test_every_payment_ends_as_splash_says(api, aws_env, boarded, sync_stack, plan):
    practice = boarded("prc_property")
    patient, card, banks = payer(api, practice)
    made: list[tuple[str, str]] = []  # (invoice id, payment id)
    faults = f"{sync_stack.url}/_sandbox/faults"
    for action, arg in plan:
        if action in ("card", "echeck", "lost_answer"):
            amount = arg if action != "echeck" else 6000
            invoice = open_invoice(api, practice, patient, unit_amount=amount)
            method = banks[arg] if action == "echeck" else card
            if action == "lost_answer":
                lost = {"kind": "timeout_after_commit", "count": 3, "path": "/txns", "delay_seconds": 1.1}
                requests.post(faults, json=lost, timeout=5).raise_for_status()
            resp = api.call(
                "POST", f"/invoices/{invoice['id']}/payments", practice=practice, body={"payment_method_id": method}
            )
            if action == "lost_answer":
                requests.delete(faults, timeout=5)
            if resp.status_code == 409:  # an account a return blocked in an earlier step or example
                assert "cannot be charged again" in resp.get_json()["detail"]
                continue
            assert resp.status_code in (201, 202, 402), resp.get_data(as_text=True)
            body = resp.get_json()
            payment_id = body["id"] if resp.status_code != 402 else body["instance"].rsplit("/", 1)[1]
            made.append((invoice["id"], payment_id))
        elif action == "advance":
            sync_stack.sandbox.advance(days=arg)
        elif action == "alerts":
            requests.post(faults, json={"kind": "alerts", "mode": arg, "count": 3}, timeout=5).raise_for_status()
        elif action == "deliver":
            sync_stack.deliver()
        else:
            sync_stack.poll()

    # Settle: no more faults, held alerts out, queues drained, one last poll (dropped alerts are never resent).
    requests.delete(faults, timeout=5)
    sync_stack.sandbox.advance(seconds=1)
    sync_stack.deliver()
    sync_stack.poll()
    for invoice_id, payment_id in made:
        payment = ok(api.call("GET", f"/payments/{payment_id}", practice=practice))
        (txn,) = splash_client().txns_by_order(payment_id)
        assert payment["status"] == EXPECTED[(payment["method_kind"], txn.status)], (plan, payment, txn.status)
        ledger_matches(aws_env, practice, ok(api.call("GET", f"/invoices/{invoice_id}", practice=practice)))
