import datetime

import pytest
from pydantic import ValidationError

from practicepay.invoices.models import MAX_INVOICE_TOTAL, MAX_LINE_ITEMS, MAX_UNIT_AMOUNT, CreateInvoiceRequest

pytestmark = pytest.mark.unit


def item(**overrides) -> dict:
    return {"description": "Office visit", "cpt_code": "99213", "quantity": 1, "unit_amount": 1050, **overrides}


def request(**overrides) -> dict:
    return {"patient_id": "pat_123", "due_date": "2026-12-31", "line_items": [item()], **overrides}


def error_locs(payload: dict) -> set[tuple]:
    with pytest.raises(ValidationError) as exc_info:
        CreateInvoiceRequest.model_validate(payload)
    return {tuple(e["loc"]) for e in exc_info.value.errors()}


def test_accepts_good_request_with_defaults_and_stripped_whitespace():
    payload = request(
        patient_id="  pat_123 ",
        line_items=[{"description": "  Office visit \n", "cpt_code": " 99213 ", "unit_amount": 1050}],
    )

    req = CreateInvoiceRequest.model_validate(payload)

    assert req.patient_id == "pat_123"
    assert req.due_date == datetime.date(2026, 12, 31)
    assert req.currency == "usd"
    [line] = req.line_items
    assert (line.description, line.cpt_code, line.quantity, line.unit_amount) == ("Office visit", "99213", 1, 1050)


@pytest.mark.parametrize("amount", [10.5, 10.0, "1050", True, False, 0, -1, MAX_UNIT_AMOUNT + 1, None])
def test_rejects_unit_amount_that_is_not_positive_integer_cents(amount):
    assert error_locs(request(line_items=[item(unit_amount=amount)])) == {("line_items", 0, "unit_amount")}


@pytest.mark.parametrize("quantity", [0, -2, 1.5, "2", True])
def test_rejects_bad_quantity(quantity):
    assert error_locs(request(line_items=[item(quantity=quantity)])) == {("line_items", 0, "quantity")}


def test_rejects_empty_line_items():
    assert error_locs(request(line_items=[])) == {("line_items",)}


def test_accepts_max_line_items_and_rejects_one_more():
    assert len(CreateInvoiceRequest.model_validate(request(line_items=[item()] * MAX_LINE_ITEMS)).line_items) == 100

    assert error_locs(request(line_items=[item()] * (MAX_LINE_ITEMS + 1))) == {("line_items",)}


def test_rejects_unknown_top_level_field():
    assert error_locs(request(patient_name="Jane Doe")) == {("patient_name",)}


def test_rejects_unknown_line_item_field():
    assert error_locs(request(line_items=[item(discount=5)])) == {("line_items", 0, "discount")}


@pytest.mark.parametrize(
    "due_date", ["12/31/2026", "2026-12-31T00:00:00", "2026-2-3", "", 20261231, None, "2026-02-30"]
)
def test_rejects_due_date_not_written_yyyy_mm_dd(due_date):
    assert error_locs(request(due_date=due_date)) == {("due_date",)}


@pytest.mark.parametrize("cpt_code", ["9921", "992134", "9921a", "ABCDE", "99-13", ""])
def test_rejects_bad_cpt_code(cpt_code):
    assert error_locs(request(line_items=[item(cpt_code=cpt_code)])) == {("line_items", 0, "cpt_code")}


def test_cpt_code_is_optional():
    payload = request(line_items=[{"description": "Copay", "unit_amount": 2500}])

    assert CreateInvoiceRequest.model_validate(payload).line_items[0].cpt_code is None


@pytest.mark.parametrize("patient_id", ["", "-leading-dash", "has space", "x" * 65])
def test_rejects_bad_patient_id(patient_id):
    assert error_locs(request(patient_id=patient_id)) == {("patient_id",)}


def test_rejects_non_usd_currency():
    assert error_locs(request(currency="eur")) == {("currency",)}


def test_total_at_maximum_is_accepted_and_one_cent_more_is_rejected():
    # 10 x 99,999,999 + 9 == MAX_INVOICE_TOTAL
    at_max = [item(quantity=10, unit_amount=MAX_UNIT_AMOUNT), item(unit_amount=9)]
    assert sum(i["quantity"] * i["unit_amount"] for i in at_max) == MAX_INVOICE_TOTAL
    CreateInvoiceRequest.model_validate(request(line_items=at_max))

    with pytest.raises(ValidationError, match="exceeds the maximum"):
        CreateInvoiceRequest.model_validate(request(line_items=[*at_max[:1], item(unit_amount=10)]))
