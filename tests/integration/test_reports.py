"""Reports through the local API front: the accounts-receivable aging of a hand-computed scenario (JSON and CSV),
and the payments report of real card, declined and eCheck payments at the Splash sandbox: rows, date edges,
filters, pagination, CSV, problems, and no Scan. Each test has its own practice, so every count is exact."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest

from local.calls import CallLog
from tests.integration.test_money_core import add_bank, add_card, new_patient, ok, pay

pytestmark = pytest.mark.integration

AS_OF = "2030-06-30"  # after every invoice here is created; the due dates are set around it
BUCKETS = ("current", "1_30", "31_60", "61_90", "over_90")


def invoice(api, practice: str, patient: str, due: str, amount: int, issue: bool = True) -> str:
    body = {"patient_id": patient, "due_date": due, "line_items": [{"description": "Visit", "unit_amount": amount}]}
    created = ok(api.call("POST", "/invoices", practice=practice, body=body), 201)
    if issue:
        ok(api.call("POST", f"/invoices/{created['id']}/issue", practice=practice))
    return created["id"]


def problem(resp, status: int) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.headers["Content-Type"] == "application/problem+json"
    return resp.get_json(force=True)


def csv_rows(resp) -> list[dict[str, str]]:
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.headers["Content-Type"].startswith("text/csv")
    assert resp.headers["Content-Disposition"].startswith("attachment; filename=")
    return list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))


# -- receivables ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def receivables(api, boarded) -> dict:
    """Two patients' invoices around AS_OF. Owed (figures by hand):
    first:  A due 06-30 (0 days) 10000 → current; B due 05-31 (30 days) 20000 less 5000 by card → 1_30 15000;
            C due 03-31 (91 days) 7000 → over_90.                          3 invoices, 32000
    second: F due 05-30 (31 days) 3100 → 31_60; G due 04-01 (90 days) 9000 → 61_90;
            I due 07-15 (not yet) 2500 less a 1000 eCheck in flight → current 1500.   3 invoices, 13600
    Left out: D paid in full, E a draft, H written off."""
    practice = boarded("prc_reports")
    first, second = new_patient(api, practice, "ehr-ar-1"), new_patient(api, practice, "ehr-ar-2")
    card = add_card(api, practice, first)["id"]
    bank = add_bank(api, practice, second)["id"]
    invoice(api, practice, first, "2030-06-30", 10000)  # A
    pay(api, practice, invoice(api, practice, first, "2030-05-31", 20000), card, 5000)  # B
    invoice(api, practice, first, "2030-03-31", 7000)  # C
    pay(api, practice, invoice(api, practice, first, "2030-06-01", 4000), card)  # D: paid in full
    invoice(api, practice, first, "2030-01-01", 9999, issue=False)  # E: draft
    invoice(api, practice, second, "2030-05-30", 3100)  # F
    invoice(api, practice, second, "2030-04-01", 9000)  # G
    written = invoice(api, practice, second, "2030-04-30", 8000)  # H: written off
    ok(api.call("POST", f"/invoices/{written}/write-off", practice=practice, body={"reason": "bad_debt"}))
    echeck = pay(api, practice, invoice(api, practice, second, "2030-07-15", 2500), bank, 1000)  # I
    assert echeck["status"] == "processing"
    return {"practice": practice, "first": first, "second": second}


def test_receivables_aging_per_bucket_per_patient_and_overall(api, receivables):
    practice, first, second = receivables["practice"], receivables["first"], receivables["second"]

    report = ok(api.call("GET", "/reports/receivables", practice=practice, query={"as_of": AS_OF}))

    assert report["as_of"] == AS_OF
    assert report["basis"] == "current_balances" and "not a point-in-time balance" in report["basis_detail"]
    expected = {
        first: {"invoices": 3, "current": 10000, "1_30": 15000, "31_60": 0, "61_90": 0, "over_90": 7000},
        second: {"invoices": 3, "current": 1500, "1_30": 0, "31_60": 3100, "61_90": 9000, "over_90": 0},
    }
    expected[first]["total"], expected[second]["total"] = 32000, 13600
    assert report["patients"] == [{"patient_id": p, **expected[p]} for p in sorted(expected)]
    assert report["totals"] == {
        "patients": 2,
        "invoices": 6,
        "current": 11500,
        "1_30": 15000,
        "31_60": 3100,
        "61_90": 9000,
        "over_90": 7000,
        "total": 45600,
    }


def test_receivables_csv_gives_the_same_figures_in_cents(api, receivables):
    practice, first, second = receivables["practice"], receivables["first"], receivables["second"]

    resp = api.call(
        "GET", "/reports/receivables", practice=practice, query={"as_of": AS_OF}, headers={"Accept": "text/csv"}
    )

    rows = csv_rows(resp)
    assert list(rows[0]) == [
        "patient_id",
        "invoices",
        "current_cents",
        "1_30_cents",
        "31_60_cents",
        "61_90_cents",
        "over_90_cents",
        "total_cents",
    ]
    figures = {
        r["patient_id"]: [int(r["invoices"]), *(int(r[f"{b}_cents"]) for b in BUCKETS), int(r["total_cents"])]
        for r in rows
    }
    assert [r["patient_id"] for r in rows] == [*sorted([first, second]), "TOTAL"]
    assert figures[first] == [3, 10000, 15000, 0, 0, 7000, 32000]
    assert figures[second] == [3, 1500, 0, 3100, 9000, 0, 13600]
    assert figures["TOTAL"] == [6, 11500, 15000, 3100, 9000, 7000, 45600]
    assert "Visit" not in resp.get_data(as_text=True)  # no line-item text, ever


def test_receivables_leave_out_invoices_created_after_as_of_and_default_to_today(api, receivables):
    practice = receivables["practice"]

    before = ok(api.call("GET", "/reports/receivables", practice=practice, query={"as_of": "2026-01-01"}))
    assert before["patients"] == [] and before["totals"]["total"] == 0 and before["totals"]["invoices"] == 0

    today = ok(api.call("GET", "/reports/receivables", practice=practice))
    assert today["as_of"] == datetime.now(UTC).date().isoformat()
    # Everything here falls due in 2030: today all of it is current.
    assert (today["totals"]["current"], today["totals"]["total"], today["totals"]["invoices"]) == (45600, 45600, 6)


def test_receivables_refuse_a_bad_date_and_see_only_the_callers_practice(api, receivables):
    practice = receivables["practice"]
    bad = problem(api.call("GET", "/reports/receivables", practice=practice, query={"as_of": "30/06/2030"}), 400)
    assert bad["errors"][0]["field"] == "as_of"

    other = ok(api.call("GET", "/reports/receivables", practice="prc_reports_nobody", query={"as_of": AS_OF}))
    assert other["patients"] == [] and other["totals"]["total"] == 0


# -- payments ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def payments(api, boarded) -> dict:
    """Four payments, in this order: a declined Visa sale (insufficient funds), a Visa sale, a Mastercard sale and
    an eCheck of another patient. The Visa sale is then partly voided."""
    practice = boarded("prc_reports_pay")
    first, second = new_patient(api, practice, "ehr-pay-1"), new_patient(api, practice, "ehr-pay-2")
    visa = add_card(api, practice, first)["id"]
    mastercard = add_card(api, practice, second, number="5555555555554444")["id"]
    bank = add_bank(api, practice, second)["id"]
    big = invoice(api, practice, first, "2030-06-30", 60000)
    declined = problem(
        api.call(
            "POST", f"/invoices/{big}/payments", practice=practice, body={"payment_method_id": visa, "amount": 50004}
        ),
        402,
    )
    failed_id = declined["instance"].rsplit("/", 1)[1]
    card = pay(api, practice, big, visa, 12000)
    small = invoice(api, practice, second, "2030-06-30", 20000)
    master = pay(api, practice, small, mastercard, 7000)
    echeck = pay(api, practice, small, bank, 5000)
    ok(api.call("POST", f"/payments/{card['id']}/refunds", practice=practice, body={"amount": 1000}), 201)
    ids = [failed_id, card["id"], master["id"], echeck["id"]]
    stored = [ok(api.call("GET", f"/payments/{i}", practice=practice)) for i in ids]
    days = {p["created_at"][:10] for p in stored}
    if len(days) != 1:
        pytest.skip("the payments straddle midnight UTC; run again")
    return {
        "practice": practice,
        "first": first,
        "second": second,
        "ids": ids,
        "stored": stored,
        "invoices": (big, small),
        "day": date.fromisoformat(days.pop()),
    }


def report(api, payments, **query) -> dict:
    day = payments["day"].isoformat()
    query = {"from": day, "to": day, **query}
    return ok(api.call("GET", "/reports/payments", practice=payments["practice"], query=query))


def test_payments_report_rows_carry_amount_method_status_and_reason(api, payments):
    got = report(api, payments)

    failed, card, master, echeck = got["data"]
    assert [r["id"] for r in got["data"]] == payments["ids"]  # oldest first
    assert (got["has_more"], got["next_cursor"]) == (False, None)
    big, small = payments["invoices"]
    assert (failed["amount"], failed["status"], failed["method_kind"], failed["method_brand"]) == (
        50004,
        "failed",
        "card",
        "visa",
    )
    assert (failed["method_last4"], failed["failure_code"], failed["invoice_id"]) == ("4242", "insufficient_funds", big)
    assert "Insufficient Funds" in failed["failure_message"]
    assert (card["amount"], card["amount_refunded"], card["method_brand"], card["failure_code"]) == (
        12000,
        1000,
        "visa",
        None,
    )
    assert card["status"] == payments["stored"][1]["status"] == "partially_refunded"  # after the $10.00 void
    assert (master["amount"], master["status"], master["method_brand"], master["method_last4"]) == (
        7000,
        "succeeded",
        "mastercard",
        "4444",
    )
    assert (echeck["amount"], echeck["status"], echeck["method_kind"], echeck["method_brand"]) == (
        5000,
        "processing",
        "bank_account",
        None,
    )
    assert (echeck["method_last4"], echeck["patient_id"], echeck["invoice_id"]) == ("6789", payments["second"], small)
    assert [r["patient_id"] for r in got["data"]] == [payments["first"]] * 2 + [payments["second"]] * 2
    assert all(r["created_at"] == s["created_at"] for r, s in zip(got["data"], payments["stored"], strict=True))
    assert all(r["installment_id"] is None and r["return_code"] is None for r in got["data"])


def test_payments_report_date_range_edges(api, payments):
    day = payments["day"]
    before, after = (day - timedelta(days=1)).isoformat(), (day + timedelta(days=1)).isoformat()

    assert report(api, payments, **{"from": after, "to": after})["data"] == []  # from after the day
    assert report(api, payments, **{"from": before, "to": before})["data"] == []  # to before the day
    assert len(report(api, payments, **{"from": before, "to": day.isoformat()})["data"]) == 4
    assert len(report(api, payments, **{"from": day.isoformat(), "to": after})["data"]) == 4


def test_payments_report_filters_by_status_and_patient(api, payments):
    failed, card, master, echeck = payments["ids"]

    assert [r["id"] for r in report(api, payments, status="failed")["data"]] == [failed]
    assert [r["id"] for r in report(api, payments, status="processing")["data"]] == [echeck]
    assert [r["id"] for r in report(api, payments, status="succeeded")["data"]] == [master]
    assert [r["id"] for r in report(api, payments, status="partially_refunded")["data"]] == [card]
    assert [r["id"] for r in report(api, payments, patient_id=payments["second"])["data"]] == [master, echeck]
    assert [r["id"] for r in report(api, payments, patient_id=payments["first"], status="failed")["data"]] == [failed]
    assert report(api, payments, patient_id="pat_nobody")["data"] == []


@pytest.mark.parametrize("filters", [{}, {"patient_id": "second"}])
def test_payments_report_pages_one_row_at_a_time_through_the_cursor(api, payments, filters):
    filters = {k: payments[v] for k, v in filters.items()}
    expected = payments["ids"] if not filters else payments["ids"][2:]
    seen, cursor = [], None
    for _ in range(len(expected)):
        page = report(api, payments, limit=1, **filters, **({"cursor": cursor} if cursor else {}))
        assert len(page["data"]) == 1
        seen.append(page["data"][0]["id"])
        cursor = page["next_cursor"]
        assert page["has_more"] is (cursor is not None)
    assert seen == expected
    assert cursor is None  # the last page says there is no more


def test_payments_report_as_csv_with_the_cursor_in_a_header(api, payments):
    day = payments["day"].isoformat()
    query = {"from": day, "to": day, "limit": 3}
    headers = {"Accept": "text/csv"}

    first = api.call("GET", "/reports/payments", practice=payments["practice"], query=query, headers=headers)
    rows = csv_rows(first)
    cursor = first.headers["X-Next-Cursor"]
    second = api.call(
        "GET", "/reports/payments", practice=payments["practice"], query={**query, "cursor": cursor}, headers=headers
    )
    rows += csv_rows(second)

    assert "X-Next-Cursor" not in second.headers
    assert list(rows[0])[:5] == ["id", "created_at", "amount_cents", "currency", "status"]
    assert [r["id"] for r in rows] == payments["ids"]
    assert [int(r["amount_cents"]) for r in rows] == [50004, 12000, 7000, 5000]
    assert [r["status"] for r in rows][::2] == ["failed", "succeeded"]
    assert [(r["method_brand"], r["method_last4"]) for r in rows] == [
        ("visa", "4242"),
        ("visa", "4242"),
        ("mastercard", "4444"),
        ("", "6789"),
    ]
    assert rows[0]["failure_code"] == "insufficient_funds" and int(rows[1]["amount_refunded_cents"]) == 1000


def test_payments_report_problems(api, payments):
    practice, day = payments["practice"], payments["day"]

    backwards = problem(
        api.call(
            "GET",
            "/reports/payments",
            practice=practice,
            query={"from": day.isoformat(), "to": (day - timedelta(days=1)).isoformat()},
        ),
        422,
    )
    assert backwards["errors"] == [{"field": "to", "message": "to must be on or after from"}]
    year = {"from": "2024-01-01", "to": "2024-12-31"}  # 366 days (a leap year): the most allowed
    assert ok(api.call("GET", "/reports/payments", practice=practice, query=year))["data"] == []
    too_long = problem(api.call("GET", "/reports/payments", practice=practice, query={**year, "to": "2025-01-01"}), 422)
    assert "367 days" in too_long["detail"]
    ancient = {"from": "0001-01-01", "to": "0001-01-02"}  # before any payment id: nothing, not an error
    assert ok(api.call("GET", "/reports/payments", practice=practice, query=ancient))["data"] == []
    problem(api.call("GET", "/reports/payments", practice=practice, query={"to": "2026-01-01"}), 400)  # from missing
    problem(api.call("GET", "/reports/payments", practice=practice, query={**year, "from": "2024-1-1"}), 400)
    problem(api.call("GET", "/reports/payments", practice=practice, query={**year, "limit": 1001}), 400)

    cursor = report(api, payments, limit=1)["next_cursor"]
    query = {"from": day.isoformat(), "to": day.isoformat(), "limit": 1, "cursor": cursor}
    foreign = problem(api.call("GET", "/reports/payments", practice="prc_reports", query=query), 400)
    assert foreign["errors"][0]["field"] == "cursor"
    problem(api.call("GET", "/reports/payments", practice=practice, query={**query, "status": "failed"}), 400)
    later = (day + timedelta(days=1)).isoformat()
    problem(api.call("GET", "/reports/payments", practice=practice, query={**query, "from": later, "to": later}), 400)


def test_reports_never_scan(api, payments, receivables):
    log = CallLog.install()  # installed with the embedded AWS: every call a function made this session
    report(api, payments)
    report(api, payments, status="failed", patient_id=payments["first"])
    ok(api.call("GET", "/reports/receivables", practice=receivables["practice"], query={"as_of": AS_OF}))

    calls = {(action, resource) for function, action, resource in log.calls if function == "reports"}
    assert ("dynamodb:Query", "practicepay-payments") in calls
    assert ("dynamodb:Query", "practicepay-payments/index/by_status") in calls
    assert ("dynamodb:Query", "practicepay-invoices/index/receivables") in calls
    assert ("dynamodb:BatchGetItem", "practicepay-patients") in calls
    assert not [c for c in calls if c[0] == "dynamodb:Scan"]
    assert {action for action, _ in calls} <= {
        "dynamodb:Query",
        "dynamodb:BatchGetItem",
        "dynamodb:GetItem",
    }  # reads only
