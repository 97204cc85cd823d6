"""Reports, the pure parts: the aging buckets and totals, the payment-id bounds of a date range, which invoices carry
the receivables index keys, CSV rendering and content negotiation. Every expected figure is worked out by hand."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from practicepay.ids import new_id
from practicepay.invoices.models import InvoiceRecord
from practicepay.invoices.store import InvoiceStore
from practicepay.reports.models import PaymentReport, PaymentRow
from practicepay.reports.service import (
    Receivable,
    age,
    id_date,
    payment_id_bounds,
    payments_csv,
    prefers_csv,
    receivables_csv,
)

pytestmark = pytest.mark.unit

AS_OF = date(2026, 6, 30)


def owed(patient: str, due: str, balance: int, created: str = "2026-01-15") -> Receivable:
    return Receivable(
        invoice_id=new_id("inv"),
        patient_id=patient,
        due_date=date.fromisoformat(due),
        balance=balance,
        created_on=date.fromisoformat(created),
    )


@pytest.mark.parametrize(
    ("due", "bucket"),
    [
        ("2026-07-01", "current"),  # due tomorrow
        ("2026-06-30", "current"),  # due on as_of: not late yet
        ("2026-06-29", "1_30"),  # 1 day late
        ("2026-05-31", "1_30"),  # 30 days
        ("2026-05-30", "31_60"),  # 31 days
        ("2026-05-01", "31_60"),  # 60 days (May has 31)
        ("2026-04-30", "61_90"),  # 61 days
        ("2026-04-01", "61_90"),  # 90 days
        ("2026-03-31", "over_90"),  # 91 days
    ],
)
def test_each_balance_lands_in_the_bucket_of_its_days_past_due(due, bucket):
    aging = age([owed("pat_a", due, 1234)], AS_OF)

    figures = aging.totals.model_dump(by_alias=True)
    assert figures[bucket] == 1234
    assert figures["total"] == 1234
    assert sum(figures[b] for b in ("current", "1_30", "31_60", "61_90", "over_90")) == 1234


def test_totals_per_bucket_per_patient_and_overall():
    rows = [
        owed("pat_b", "2026-05-30", 3100),  # 31 days
        owed("pat_b", "2026-05-01", 6000),  # 60 days
        owed("pat_b", "2026-04-30", 6100),  # 61 days
        owed("pat_b", "2026-04-01", 9000),  # 90 days
        owed("pat_b", "2026-03-31", 9100),  # 91 days
        owed("pat_a", "2026-06-30", 10000),  # due today
        owed("pat_a", "2026-07-15", 2500),  # due later
        owed("pat_a", "2026-06-29", 101),  # 1 day
        owed("pat_a", "2026-05-31", 130),  # 30 days
        owed("pat_a", "2026-06-01", 50, created="2026-06-30"),  # created on as_of: counts (29 days)
        owed("pat_a", "2026-06-01", 0),  # nothing owed: left out
        owed("pat_c", "2026-01-01", 777, created="2026-07-01"),  # created after as_of: left out
    ]

    aging = age(rows, AS_OF)

    assert [p.model_dump(by_alias=True) for p in aging.patients] == [
        {
            "patient_id": "pat_a",
            "invoices": 5,
            "current": 12500,
            "1_30": 281,
            "31_60": 0,
            "61_90": 0,
            "over_90": 0,
            "total": 12781,
        },
        {
            "patient_id": "pat_b",
            "invoices": 5,
            "current": 0,
            "1_30": 0,
            "31_60": 9100,
            "61_90": 15100,
            "over_90": 9100,
            "total": 33300,
        },
    ]
    assert aging.totals.model_dump(by_alias=True) == {
        "patients": 2,
        "invoices": 10,
        "current": 12500,
        "1_30": 281,
        "31_60": 9100,
        "61_90": 15100,
        "over_90": 9100,
        "total": 46081,
    }


def test_nothing_owed_is_an_empty_report_of_zeros():
    aging = age([], AS_OF)

    assert aging.patients == []
    assert aging.totals.model_dump(by_alias=True)["total"] == 0 and aging.totals.patients == 0


def test_an_index_item_gives_the_balance_and_the_creation_date_of_its_id():
    made = int(datetime(2026, 3, 9, 23, 59, 59, 999_000, tzinfo=UTC).timestamp() * 1000)
    invoice_id = new_id("inv", made)
    item = {
        "id": {"S": invoice_id},
        "patient_id": {"S": "pat_x"},
        "status": {"S": "partially_paid"},
        "due_date": {"S": "2026-04-01"},
        "total": {"N": "20000"},
        "amount_paid": {"N": "12000"},
        "amount_written_off": {"N": "500"},
    }

    row = Receivable.from_index_item(item)

    assert (row.patient_id, row.due_date, row.balance) == ("pat_x", date(2026, 4, 1), 7500)
    assert row.created_on == date(2026, 3, 9)
    assert id_date(new_id("inv", made + 1)) == date(2026, 3, 10)


# -- payment ids of a date range --------------------------------------------------------------------------------


def ms(moment: datetime) -> int:
    return int(moment.replace(tzinfo=UTC).timestamp() * 1000)


def test_the_range_holds_every_payment_id_made_from_the_first_to_the_last_millisecond():
    low, high = payment_id_bounds(date(2026, 3, 10), date(2026, 3, 12))
    first = ms(datetime(2026, 3, 10, 0, 0, 0))
    last = ms(datetime(2026, 3, 12, 23, 59, 59, 999_000))
    assert first == 1_773_100_800_000  # 2026-01-01 is 1_767_225_600_000, plus 68 days

    for _ in range(200):  # the random part varies: every draw must fall on the right side
        assert low <= new_id("pay", first) <= high
        assert low <= new_id("pay", last) <= high
        assert low <= new_id("pay", ms(datetime(2026, 3, 11, 12, 0))) <= high
        assert new_id("pay", first - 1) < low  # 2026-03-09 23:59:59.999
        assert new_id("pay", last + 1) > high  # 2026-03-13 00:00:00.000


def test_one_day_range_and_its_neighbours():
    low, high = payment_id_bounds(date(2026, 11, 27), date(2026, 11, 27))
    day = ms(datetime(2026, 11, 27))

    assert low <= new_id("pay", day) <= high
    assert low <= new_id("pay", day + 86_399_999) <= high
    assert new_id("pay", day - 1) < low
    assert new_id("pay", day + 86_400_000) > high


def test_days_outside_the_ulid_era_give_an_ordered_range_with_no_payment_in_it():
    low, high = payment_id_bounds(date(1, 1, 1), date(1969, 12, 31))  # before any id: an empty range, not an error
    assert low <= high < new_id("pay", 1)

    low, high = payment_id_bounds(date(9999, 12, 31), date(9999, 12, 31))
    assert low <= high and new_id("pay") < low


# -- the receivables index keys ---------------------------------------------------------------------------------

INVOICE = InvoiceRecord(
    practice_id="prc_r",
    id="inv_01kb0000000000000000000000",
    patient_id="pat_1",
    status="open",
    currency="usd",
    due_date="2026-07-01",
    line_items_sealed="c2VhbGVk",  # base64 of b"sealed"
    line_item_count=1,
    subtotal=10000,
    total=10000,
    amount_paid=0,
    created_at="2026-06-01T10:00:00.000Z",
    updated_at="2026-06-01T10:00:00.000Z",
)


@pytest.mark.parametrize(
    "changes",
    [
        {"status": "open"},
        {"status": "partially_paid", "amount_paid": 4000},
        {"status": "in_progress", "plan_id": "pln_1", "amount_paid": 3333},
        {"status": "processing", "amount_paid": 6000, "amount_processing": 6000},  # 4000 still owed
    ],
)
def test_an_owed_invoice_carries_the_receivables_keys(changes):
    item = InvoiceStore.item(replace(INVOICE, **changes))

    assert item["ar_pk"] == "PRACTICE#prc_r#AR"
    assert item["ar_sk"] == "2026-07-01#inv_01kb0000000000000000000000"


@pytest.mark.parametrize(
    "changes",
    [
        {"status": "draft"},
        {"status": "paid", "amount_paid": 10000},
        {"status": "processing", "amount_paid": 10000, "amount_processing": 10000},  # all paid, an eCheck in flight
        {"status": "uncollectible", "amount_written_off": 10000},
        {"status": "canceled"},
        {"status": "refunded", "amount_paid": 10000, "amount_refunded": 10000},
        {"status": "partially_refunded", "amount_paid": 10000, "amount_refunded": 100},
        {"status": "partially_paid", "amount_paid": 4000, "amount_written_off": 6000},  # nothing left owed
    ],
)
def test_an_invoice_not_owed_stays_out_of_the_receivables_index(changes):
    item = InvoiceStore.item(replace(INVOICE, **changes))

    assert "ar_pk" not in item and "ar_sk" not in item


# -- CSV and content negotiation --------------------------------------------------------------------------------


def test_receivables_csv_has_a_row_per_patient_and_a_total_in_cents():
    from practicepay.reports.models import ReceivablesReport

    aging = age(
        [owed("pat_a", "2026-06-30", 10000), owed("pat_b", "2026-05-30", 3100), owed("pat_b", "2026-03-31", 9100)],
        AS_OF,
    )
    report = ReceivablesReport(as_of=AS_OF, generated_at="2026-11-27T00:00:00.000Z", **vars(aging))

    rows = list(csv.reader(io.StringIO(receivables_csv(report))))

    assert rows == [
        [
            "patient_id",
            "invoices",
            "current_cents",
            "1_30_cents",
            "31_60_cents",
            "61_90_cents",
            "over_90_cents",
            "total_cents",
        ],
        ["pat_a", "1", "10000", "0", "0", "0", "0", "10000"],
        ["pat_b", "2", "0", "0", "3100", "0", "9100", "12200"],
        ["TOTAL", "3", "10000", "0", "3100", "0", "9100", "22200"],
    ]


def test_payments_csv_keeps_cents_and_defuses_spreadsheet_formulas():
    row = PaymentRow(
        id="pay_1",
        created_at="2026-11-27T10:00:00.000Z",
        amount=50004,
        status="failed",
        payment_method_id="pm_1",
        method_kind="card",
        method_brand="visa",
        method_last4="4242",
        failure_code="insufficient_funds",
        failure_message='=HYPERLINK("http://x")',
        invoice_id="inv_1",
        patient_id="pat_1",
    )

    header, line = list(csv.reader(io.StringIO(payments_csv(PaymentReport(data=[row], has_more=False)))))

    record = dict(zip(header, line, strict=True))
    assert record["amount_cents"] == "50004" and record["amount_refunded_cents"] == "0"
    assert (record["status"], record["method_brand"], record["method_last4"]) == ("failed", "visa", "4242")
    assert record["failure_message"] == '\'=HYPERLINK("http://x")'
    assert record["return_code"] == "" and record["installment_id"] == ""


@pytest.mark.parametrize(
    ("accept", "csv_wanted"),
    [
        ("text/csv", True),
        ("text/csv; charset=utf-8", True),
        ("application/json;q=0.5, text/csv", True),
        ("text/csv, application/json", True),
        (None, False),
        ("", False),
        ("*/*", False),
        ("application/json", False),
        ("application/json, text/csv;q=0.5", False),
        ("text/csv;q=0", False),
    ],
)
def test_csv_only_when_the_accept_header_prefers_it(accept, csv_wanted):
    assert prefers_csv(accept) is csv_wanted
