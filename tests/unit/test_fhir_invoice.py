"""The invoice → FHIR R4 Invoice mapping, checked with fhir.resources (R4B: its Invoice is R4's) as a consumer would."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from fhir.resources.R4B.invoice import Invoice as FhirInvoice
from fhir.resources.R4B.invoice import InvoiceLineItemPriceComponent

from practicepay.invoices.fhir import EXTENSION_BASE, fhir_invoice
from practicepay.invoices.models import Invoice, InvoiceStatus, LineItem

pytestmark = pytest.mark.unit

INVOICE_ID = "inv_01jq3v9x4k2m8n6p0r5t7w1y3z"
PRACTICE_ID = "prac_01jq3v9x4k2m8n6p0r5t7w1y3a"
STATUS_CODES = FhirInvoice.model_fields["status"].json_schema_extra["enum_values"]
PRICE_TYPES = InvoiceLineItemPriceComponent.model_fields["type"].json_schema_extra["enum_values"]


def validated(resource: dict[str, Any]) -> FhirInvoice:
    """Parse the resource's JSON strictly. fhir.resources checks structure and datatypes but not required code
    bindings, so the two this mapping sets (status, priceComponent.type) are checked against its value sets here."""
    parsed = FhirInvoice.model_validate(json.loads(json.dumps(resource)))
    if parsed.status not in STATUS_CODES:
        raise ValueError(f"status {parsed.status!r} is not in {STATUS_CODES}")
    for line in parsed.lineItem or []:
        for component in line.priceComponent or []:
            if component.type not in PRICE_TYPES:
                raise ValueError(f"priceComponent.type {component.type!r} is not in {PRICE_TYPES}")
    return parsed


def line(
    unit_amount: int, quantity: int = 1, cpt_code: str | None = None, description: str = "Office visit"
) -> LineItem:
    return LineItem(
        description=description,
        cpt_code=cpt_code,
        quantity=quantity,
        unit_amount=unit_amount,
        amount=quantity * unit_amount,
    )


def invoice(items: list[LineItem] | None = None, **overrides: Any) -> Invoice:
    items = items or [line(12500, cpt_code="99213"), line(1450, quantity=2, description="Flu vaccine")]
    total = sum(item.amount for item in items)
    fields: dict[str, Any] = {
        "id": INVOICE_ID,
        "patient_id": "pat_123",
        "status": InvoiceStatus.OPEN,
        "currency": "usd",
        "due_date": date(2026, 12, 31),
        "line_items": items,
        "subtotal": total,
        "total": total,
        "amount_paid": 0,
        "amount_due": total,
        "created_at": "2026-01-05T09:30:00.000Z",
        "updated_at": "2026-01-06T14:00:00.250Z",
    }
    return Invoice(**{**fields, **overrides})


def extensions(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource's PracticePay extensions by short name, each as its value."""
    values = {}
    for ext in resource["extension"]:
        [(key, value)] = [(k, v) for k, v in ext.items() if k.startswith("value")]
        values[ext["url"].removeprefix(EXTENSION_BASE)] = value
    return values


def dollars(money: Any) -> Decimal:
    assert money.currency == "USD"
    return money.value


def test_maps_an_open_invoice_with_exact_amounts_and_cpt_codes():
    resource = fhir_invoice(invoice(), PRACTICE_ID)

    parsed = validated(resource)

    assert parsed.id == "inv-01jq3v9x4k2m8n6p0r5t7w1y3z"
    assert [(i.system, i.value) for i in parsed.identifier] == [("urn:practicepay:invoice", INVOICE_ID)]
    assert parsed.status == "issued"
    assert resource["date"] == "2026-01-05T09:30:00.000Z"
    assert resource["meta"]["lastUpdated"] == "2026-01-06T14:00:00.250Z"
    assert parsed.paymentTerms == "Due 2026-12-31"
    assert dollars(parsed.totalGross) == dollars(parsed.totalNet) == Decimal("154.00")
    office, vaccine = parsed.lineItem
    assert (office.sequence, vaccine.sequence) == (1, 2)
    assert office.chargeItemCodeableConcept.text == "Office visit"
    assert [(c.system, c.code) for c in office.chargeItemCodeableConcept.coding] == [
        ("http://www.ama-assn.org/go/cpt", "99213")
    ]
    assert vaccine.chargeItemCodeableConcept.text == "Flu vaccine"
    assert vaccine.chargeItemCodeableConcept.coding is None
    [office_price], [vaccine_price] = office.priceComponent, vaccine.priceComponent
    assert (office_price.type, office_price.factor, dollars(office_price.amount)) == ("base", 1, Decimal("125.00"))
    assert (vaccine_price.type, vaccine_price.factor, dollars(vaccine_price.amount)) == ("base", 2, Decimal("29.00"))
    assert "write-off-reason" not in extensions(resource)
    assert office.extension is None


@pytest.mark.parametrize(
    ("cents", "expected"),
    [
        (1, "0.01"),
        (7, "0.07"),
        (1015, "10.15"),
        (1999, "19.99"),
        (33_333_333, "333333.33"),
        (999_999_999, "9999999.99"),
    ],
)
def test_money_is_exact_dollars_in_the_json(cents, expected):
    resource = fhir_invoice(invoice([line(cents)]), PRACTICE_ID)

    amounts = json.loads(json.dumps(resource), parse_float=Decimal)

    assert amounts["totalGross"] == {"value": Decimal(expected), "currency": "USD"}
    assert amounts["lineItem"][0]["priceComponent"][0]["amount"]["value"] == Decimal(expected)
    validated(resource)


EXPECTED_STATUS = {
    InvoiceStatus.DRAFT: "draft",
    InvoiceStatus.OPEN: "issued",
    InvoiceStatus.PARTIALLY_PAID: "issued",
    InvoiceStatus.IN_PROGRESS: "issued",
    InvoiceStatus.PROCESSING: "issued",
    InvoiceStatus.PAID: "balanced",
    InvoiceStatus.PARTIALLY_REFUNDED: "balanced",
    InvoiceStatus.REFUNDED: "balanced",
    InvoiceStatus.UNCOLLECTIBLE: "balanced",
    InvoiceStatus.CANCELED: "cancelled",
}


@pytest.mark.parametrize("status", list(InvoiceStatus))
def test_every_status_maps_to_a_fhir_status_and_keeps_ours(status):
    resource = fhir_invoice(invoice(status=status), PRACTICE_ID)

    assert validated(resource).status == EXPECTED_STATUS[status]
    assert extensions(resource)["invoice-status"] == status.value


def test_amounts_fhir_has_no_element_for_are_money_extensions():
    resource = fhir_invoice(
        invoice(status=InvoiceStatus.PARTIALLY_PAID, amount_paid=5000, amount_due=10400, amount_refunded=1000),
        PRACTICE_ID,
    )

    validated(resource)
    ext = extensions(resource)
    assert ext["amount-paid"] == {"value": 50.0, "currency": "USD"}
    assert ext["amount-due"] == {"value": 104.0, "currency": "USD"}
    assert ext["amount-refunded"] == {"value": 10.0, "currency": "USD"}
    assert ext["amount-written-off"] == {"value": 0.0, "currency": "USD"}


def test_a_written_off_invoice_is_balanced_with_its_reason_code():
    resource = fhir_invoice(
        invoice(
            status=InvoiceStatus.UNCOLLECTIBLE,
            amount_paid=4000,
            amount_due=0,
            amount_written_off=11400,
            write_off_reason="bad_debt",
        ),
        PRACTICE_ID,
    )

    assert validated(resource).status == "balanced"
    ext = extensions(resource)
    assert (ext["invoice-status"], ext["write-off-reason"]) == ("uncollectible", "bad_debt")
    assert (ext["amount-written-off"]["value"], ext["amount-due"]["value"]) == (114.0, 0.0)


@pytest.mark.parametrize(
    ("patient_id", "practice_id", "patient_ref", "practice_ref"),
    [
        ("pat_123", PRACTICE_ID, None, None),
        ("12345", "org-7.a", "Patient/12345", "Organization/org-7.a"),
    ],
)
def test_subject_and_issuer_by_identifier_and_by_reference_when_a_valid_fhir_id(
    patient_id, practice_id, patient_ref, practice_ref
):
    resource = fhir_invoice(invoice(patient_id=patient_id), practice_id)

    parsed = validated(resource)
    assert (parsed.subject.reference, parsed.issuer.reference) == (patient_ref, practice_ref)
    assert (parsed.subject.identifier.system, parsed.subject.identifier.value) == (
        "urn:practicepay:patient",
        patient_id,
    )
    assert (parsed.issuer.identifier.system, parsed.issuer.identifier.value) == (
        "urn:practicepay:practice",
        practice_id,
    )


def test_timestamps_are_utc_instants():
    resource = fhir_invoice(
        invoice(created_at="2026-01-05T11:30:00+02:00", updated_at="2026-01-06T14:00:00Z"), PRACTICE_ID
    )

    validated(resource)
    assert (resource["date"], resource["meta"]["lastUpdated"]) == (
        "2026-01-05T09:30:00.000Z",
        "2026-01-06T14:00:00.000Z",
    )


def test_a_line_service_date_is_an_extension():
    dated = line(12500, cpt_code="99213").model_copy(update={"service_date": date(2026, 3, 4)})
    resource = fhir_invoice(invoice([dated, line(1450)]), PRACTICE_ID)

    first, second = validated(resource).lineItem
    assert [(e.url, e.valueDate) for e in first.extension] == [(f"{EXTENSION_BASE}service-date", date(2026, 3, 4))]
    assert second.extension is None


def _set(path: tuple[Any, ...], value: Any):
    def mutate(resource: dict[str, Any]) -> None:
        *parents, last = path
        target = resource
        for key in parents:
            target = target[key]
        target[last] = value

    return mutate


@pytest.mark.parametrize(
    "mutate",
    [
        _set(("status",), "paid"),
        _set(("lineItem", 0, "priceComponent", 0, "type"), "unit"),
        _set(("lineItem", 0, "sequence"), 0),
        _set(("meta", "lastUpdated"), "2026-01-06"),
        _set(("totalGross", "value"), "154 USD"),
        _set(("amountDue",), {"value": 1, "currency": "USD"}),
        _set(("id",), INVOICE_ID),
        _set(("lineItem", 0, "chargeItemCodeableConcept"), None),
    ],
    ids=["status", "price-type", "sequence", "instant", "decimal", "unknown-element", "id", "charge-item"],
)
def test_the_validator_refuses_a_broken_resource(mutate):
    resource = fhir_invoice(invoice(), PRACTICE_ID)
    validated(resource)
    broken = copy.deepcopy(resource)
    mutate(broken)

    with pytest.raises(ValueError):
        validated(broken)


def test_the_mapping_does_not_load_fhir_resources():
    """The Lambda runtime has no fhir.resources: the module must not import it."""
    code = "import sys, practicepay.invoices.fhir; print(sorted(m for m in sys.modules if m.split('.')[0] == 'fhir'))"

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert result.stdout.strip() == "[]"
