import json

import pytest
from pydantic import ValidationError

from practicepay.api.problems import field_errors, field_path, problem_body
from practicepay.invoices.models import CreateInvoiceRequest

pytestmark = pytest.mark.unit

PHI = "Psychotherapy for Jane Q. Patient, DOB 1970-01-01"


@pytest.mark.parametrize(
    ("loc", "expected"),
    [
        (("body", "line_items", 0, "unit_amount"), "line_items[0].unit_amount"),
        (("header", "idempotency-key"), "Idempotency-Key header"),
        (("query", "limit"), "limit"),
        (("line_items", 3, "cpt_code"), "line_items[3].cpt_code"),
        ((), ""),
    ],
)
def test_field_path(loc, expected):
    assert field_path(loc) == expected


def validation_errors(line_item: dict) -> list[dict]:
    payload = {"patient_id": "pat_1", "due_date": "2026-12-31", "line_items": [line_item]}
    with pytest.raises(ValidationError) as exc_info:
        CreateInvoiceRequest.model_validate(payload)
    return exc_info.value.errors()


def test_float_cents_get_an_actionable_message():
    errors = field_errors(validation_errors({"description": PHI, "unit_amount": 10.5}))

    assert errors == [
        {
            "field": "line_items[0].unit_amount",
            "message": "line_items[0].unit_amount must be a whole number of cents, e.g. 1050 for $10.50",
        }
    ]


def test_missing_and_extra_fields_have_messages():
    errors = field_errors(validation_errors({"unit_amount": 100, "note": PHI}))

    assert {e["message"] for e in errors} == {
        "line_items[0].description is required",
        "line_items[0].note is not a field of this request; remove it",
    }


def test_problem_body_shape_and_no_echo_of_caller_input():
    # Given field errors raised by PHI-bearing input (too long, bad cpt, float cents, unknown field)
    raw = validation_errors({"description": PHI * 20, "cpt_code": PHI, "unit_amount": 12.37, "memo": PHI})
    errors = field_errors(raw)

    body = problem_body(
        422, "validation-error", "Your request has invalid fields", "See errors.", request_id="req-1", errors=errors
    )
    text = json.dumps(body)

    assert body["type"].startswith("urn:practicepay:problem:")
    assert body["type"] == "urn:practicepay:problem:validation-error"
    assert (body["status"], body["title"], body["detail"], body["request_id"]) == (
        422,
        "Your request has invalid fields",
        "See errors.",
        "req-1",
    )
    assert len(body["errors"]) == 4
    assert "Jane" not in text
    assert "Psychotherapy" not in text
    assert "12.37" not in text


def test_problem_body_omits_empty_optionals():
    assert problem_body(404, "not-found", "Not found", "No such invoice.") == {
        "type": "urn:practicepay:problem:not-found",
        "title": "Not found",
        "status": 404,
        "detail": "No such invoice.",
    }
