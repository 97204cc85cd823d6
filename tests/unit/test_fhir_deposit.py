"""The deposit → FHIR R4 PaymentReconciliation mapping, checked with fhir.resources (R4B: its PaymentReconciliation
is R4's, not R5's) as the clinical platform's ledger would read it."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from decimal import Decimal
from typing import Any

import pytest
from fhir.resources.R4B.paymentreconciliation import PaymentReconciliation, PaymentReconciliationDetail

from practicepay.deposits.fhir import payment_reconciliation
from practicepay.deposits.models import Deposit, DepositRecord, DepositStatus, LineKind, LineRecord
from practicepay.invoices.fhir import EXTENSION_BASE

pytestmark = pytest.mark.unit

DEPOSIT_ID = "dep_01jq3v9x4k2m8n6p0r5t7w1y3d"
DISBURSEMENT_ID = "t1_dbm_65f097a1c57793ba6dad9b0"
PRACTICE_ID = "prac_01jq3v9x4k2m8n6p0r5t7w1y3a"
INVOICE_ID = "inv_01jq3v9x4k2m8n6p0r5t7w1y3z"
PATIENT_ID = "pat_01jq3v9x4k2m8n6p0r5t7w1y3p"
PAYMENT_ID = "pay_01jq3v9x4k2m8n6p0r5t7w1y3q"
LINE_KIND_SYSTEM = "https://practicepay.example/fhir/CodeSystem/deposit-line-kind"
PAYMENT_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/payment-type"
PAYMENT_TYPES = {"payment", "adjustment", "advance"}
"""R4's payment-type CodeSystem (terminology.hl7.org), the required binding of PaymentReconciliation.detail.type."""
STATUS_CODES = PaymentReconciliation.model_fields["status"].json_schema_extra["enum_values"]
OUTCOME_CODES = PaymentReconciliation.model_fields["outcome"].json_schema_extra["enum_values"]
REQUESTOR_TYPES = PaymentReconciliation.model_fields["requestor"].json_schema_extra["enum_reference_types"]
PAYEE_TYPES = PaymentReconciliationDetail.model_fields["payee"].json_schema_extra["enum_reference_types"]


def validated(resource: dict[str, Any]) -> PaymentReconciliation:
    """Parse the resource's JSON strictly. fhir.resources checks structure and datatypes but not JSON nulls (FHIR
    JSON allows none; it even takes a null for the required detail.type), required code bindings or the resource
    types a reference may name, so those are checked here."""
    doc = json.loads(json.dumps(resource))
    _refuse_nulls(doc, "")
    parsed = PaymentReconciliation.model_validate(doc)
    if parsed.status not in STATUS_CODES:
        raise ValueError(f"status {parsed.status!r} is not in {STATUS_CODES}")
    if parsed.outcome not in OUTCOME_CODES:
        raise ValueError(f"outcome {parsed.outcome!r} is not in {OUTCOME_CODES}")
    references = [(parsed.requestor, REQUESTOR_TYPES)]
    for detail in parsed.detail or []:
        codes = [c.code for c in detail.type.coding or [] if c.system == PAYMENT_TYPE_SYSTEM]
        if len(codes) != 1 or codes[0] not in PAYMENT_TYPES:
            raise ValueError(f"detail.type {codes!r} is not one code of {PAYMENT_TYPE_SYSTEM}")
        references.append((detail.payee, PAYEE_TYPES))
    for reference, types in references:
        if reference and reference.reference and reference.reference.split("/")[0] not in types:
            raise ValueError(f"{reference.reference!r} names none of {types}")
    return parsed


def _refuse_nulls(value: Any, path: str) -> None:
    if value is None:
        raise ValueError(f"{path or 'the resource'} is null")
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        _refuse_nulls(item, f"{path}.{key}")


def entry(n: int, kind: LineKind, amount: int, **matched: Any) -> LineRecord:
    return LineRecord(entry_id=f"t1_ent_65f097a1c57793ba6dad{n:03d}", kind=kind.value, amount=amount, **matched)


def paid(payment: str = PAYMENT_ID, **more: Any) -> dict[str, Any]:
    """What a line matched to one of our payments carries."""
    return {"payment_id": payment, "invoice_id": INVOICE_ID, "patient_id": PATIENT_ID, **more}


MIXED = (
    entry(1, LineKind.PAYMENT, 12500, **paid()),
    entry(2, LineKind.PAYMENT, 4000, **paid("pay_01jq3v9x4k2m8n6p0r5t7w1y3r")),
    entry(3, LineKind.FEE, -390, **paid()),
    entry(4, LineKind.REFUND, -2000, **paid(refund_id="rfd_01jq3v9x4k2m8n6p0r5t7w1y3s")),
    entry(5, LineKind.RETURN, -4000, **paid("pay_01jq3v9x4k2m8n6p0r5t7w1y3r")),
    entry(6, LineKind.CHARGEBACK, -3000, **paid(dispute_id="dsp_01jq3v9x4k2m8n6p0r5t7w1y3t")),
    entry(7, LineKind.FEE, -1500, **paid(dispute_id="dsp_01jq3v9x4k2m8n6p0r5t7w1y3t")),
    entry(8, LineKind.CHARGEBACK_REVERSAL, 3000, **paid(dispute_id="dsp_01jq3v9x4k2m8n6p0r5t7w1y3t")),
    entry(9, LineKind.ADJUSTMENT, -100),
)
"""Two sales, a fee, a refund, an eCheck return, a chargeback with its fee and its reversal, and a Splash
adjustment naming none of our records: 8510 cents."""


def deposit(lines: tuple[LineRecord, ...] = MIXED, amount: int | None = None, **overrides: Any) -> Deposit:
    """The view the API and the event serve, made the way the service makes it (totals and rounding included)."""
    fields: dict[str, Any] = {
        "practice_id": PRACTICE_ID,
        "id": DEPOSIT_ID,
        "splash_disbursement_id": DISBURSEMENT_ID,
        "status": DepositStatus.PROCESSED.value,
        "amount": sum(line.amount for line in lines) if amount is None else amount,
        "created_at": "2026-03-03T14:05:00.000Z",
        "updated_at": "2026-03-04T09:00:00.125Z",
        "deposited_on": "2026-03-03",
        "processed_at": "2026-03-04T09:00:00.125Z",
        "lines": lines,
    }
    return DepositRecord(**{**fields, **overrides}).view()


def extensions(element: dict[str, Any]) -> dict[str, Any]:
    """The element's PracticePay extensions by short name, each as its value."""
    values = {}
    for ext in element.get("extension", []):
        [(key, value)] = [(k, v) for k, v in ext.items() if k.startswith("value")]
        values[ext["url"].removeprefix(EXTENSION_BASE)] = value
    return values


def exact(resource: dict[str, Any]) -> dict[str, Any]:
    """The JSON as a consumer reads it, its numbers as Decimal (what the ledger posts)."""
    return json.loads(json.dumps(resource), parse_float=Decimal, parse_int=Decimal)


def assert_adds_up(resource: dict[str, Any]) -> None:
    """The ledger's invariant: the details plus the rounding are the payment, to the cent."""
    doc = exact(resource)
    details = sum((d["amount"]["value"] for d in doc.get("detail", [])), Decimal(0))
    rounding = extensions(doc)["deposit-rounding"]["value"]
    assert details + rounding == doc["paymentAmount"]["value"]
    assert extensions(doc)["deposit-net"]["value"] == details


def kinds(parsed: PaymentReconciliation) -> list[tuple[str, str]]:
    """Each detail's (payment-type code, our kind code)."""
    return [
        tuple(
            next(c.code for c in d.type.coding if c.system == system)
            for system in (PAYMENT_TYPE_SYSTEM, LINE_KIND_SYSTEM)
        )
        for d in parsed.detail
    ]


def test_maps_a_processed_deposit_line_by_line():
    resource = payment_reconciliation(deposit(), PRACTICE_ID, "Maple Street Pediatrics")

    parsed = validated(resource)

    assert parsed.id == "dep-01jq3v9x4k2m8n6p0r5t7w1y3d"
    assert [(i.system, i.value) for i in parsed.identifier] == [("urn:practicepay:deposit", DEPOSIT_ID)]
    assert (parsed.paymentIdentifier.system, parsed.paymentIdentifier.value) == (
        "urn:practicepay:splash-disbursement",
        DISBURSEMENT_ID,
    )
    assert (parsed.status, parsed.outcome) == ("active", "complete")
    assert (resource["created"], resource["meta"]["lastUpdated"]) == (
        "2026-03-03T14:05:00.000Z",
        "2026-03-04T09:00:00.125Z",
    )
    assert resource["paymentDate"] == "2026-03-03"
    assert exact(resource)["paymentAmount"] == {"value": Decimal("85.10"), "currency": "USD"}
    assert parsed.disposition == (
        "Deposit of $85.10 processed: 2 payments, 1 refund, 1 eCheck return, 1 chargeback, 1 chargeback reversal, "
        "1 adjustment, fees $18.90; 1 line unmatched."
    )
    assert (parsed.requestor.reference, parsed.requestor.display) == (None, "Maple Street Pediatrics")
    assert (parsed.requestor.identifier.system, parsed.requestor.identifier.value) == (
        "urn:practicepay:practice",
        PRACTICE_ID,
    )
    assert kinds(parsed) == [
        ("payment", "payment"),
        ("payment", "payment"),
        ("adjustment", "fee"),
        ("adjustment", "refund"),
        ("adjustment", "return"),
        ("adjustment", "chargeback"),
        ("adjustment", "fee"),
        ("adjustment", "chargeback_reversal"),
        ("adjustment", "adjustment"),
    ]
    assert [(d.identifier.system, d.identifier.value) for d in parsed.detail] == [
        ("urn:practicepay:splash-entry", line.entry_id) for line in MIXED
    ]
    assert [d.amount.value for d in parsed.detail] == [Decimal(line.amount).scaleb(-2) for line in MIXED]
    assert {str(d.date) for d in parsed.detail} == {"2026-03-03"}
    assert all(d.payee.model_dump() == parsed.requestor.model_dump() for d in parsed.detail)
    assert all(d.response is None for d in parsed.detail)
    assert_adds_up(resource)


def test_a_line_names_its_invoice_payment_refund_dispute_and_patient():
    parsed = validated(payment_reconciliation(deposit(), PRACTICE_ID))
    sale, _, fee, refund, _, chargeback, *_ = parsed.detail
    lines = payment_reconciliation(deposit(), PRACTICE_ID)["detail"]

    assert (sale.request.reference, sale.request.identifier.system, sale.request.identifier.value) == (
        "Invoice/inv-01jq3v9x4k2m8n6p0r5t7w1y3z",
        "urn:practicepay:invoice",
        INVOICE_ID,
    )
    patient = {"identifier": {"system": "urn:practicepay:patient", "value": PATIENT_ID}}
    assert extensions(lines[0]) == {
        "deposit-line-matched": True,
        "deposit-line-payment": {"system": "urn:practicepay:payment", "value": PAYMENT_ID},
        "deposit-line-patient": patient,
    }
    assert extensions(lines[2]) == extensions(lines[0])  # a sale's fee is the sale's
    assert extensions(lines[3])["deposit-line-refund"] == {
        "system": "urn:practicepay:refund",
        "value": "rfd_01jq3v9x4k2m8n6p0r5t7w1y3s",
    }
    assert extensions(lines[5])["deposit-line-dispute"] == {
        "system": "urn:practicepay:dispute",
        "value": "dsp_01jq3v9x4k2m8n6p0r5t7w1y3t",
    }
    assert fee.request.reference == refund.request.reference == chargeback.request.reference == sale.request.reference


def test_unmatched_lines_appear_without_a_request_and_flagged():
    lines = (
        entry(1, LineKind.PAYMENT, 5000, **paid()),
        entry(2, LineKind.PAYMENT, 2500),  # a sale made outside PracticePay (the Splash portal)
        entry(3, LineKind.FEE, -103),
        entry(4, LineKind.ADJUSTMENT, 40),  # an entry Splash no longer serves
    )
    resource = payment_reconciliation(deposit(lines), PRACTICE_ID)

    parsed = validated(resource)

    assert [d.request is not None for d in parsed.detail] == [True, False, False, False]
    assert [extensions(d) for d in resource["detail"][1:]] == [{"deposit-line-matched": False}] * 3
    assert extensions(resource["detail"][0])["deposit-line-matched"] is True
    assert parsed.disposition == "Deposit of $74.37 processed: 2 payments, 1 adjustment, fees $1.03; 3 lines unmatched."
    assert_adds_up(resource)


def test_a_negative_deposit_takes_money_from_the_practice():
    lines = (
        entry(1, LineKind.PAYMENT, 1000, **paid()),
        entry(2, LineKind.CHARGEBACK, -12500, **paid(dispute_id="dsp_01jq3v9x4k2m8n6p0r5t7w1y3t")),
        entry(3, LineKind.FEE, -1500, **paid(dispute_id="dsp_01jq3v9x4k2m8n6p0r5t7w1y3t")),
    )
    resource = payment_reconciliation(deposit(lines), PRACTICE_ID)

    parsed = validated(resource)

    assert (parsed.status, parsed.outcome) == ("active", "complete")
    assert exact(resource)["paymentAmount"] == {"value": Decimal("-130.00"), "currency": "USD"}
    assert parsed.disposition == "Deposit of -$130.00 processed: 1 payment, 1 chargeback, fees $15.00."
    ext = exact(resource)["extension"]
    totals = {e["url"].removeprefix(EXTENSION_BASE): e["valueMoney"]["value"] for e in ext if "valueMoney" in e}
    assert totals == {
        "deposit-gross": Decimal("10.00"),
        "deposit-refunds": Decimal("0.00"),
        "deposit-returns": Decimal("0.00"),
        "deposit-chargebacks": Decimal("-125.00"),
        "deposit-fees": Decimal("-15.00"),
        "deposit-adjustments": Decimal("0.00"),
        "deposit-net": Decimal("-130.00"),
        "deposit-rounding": Decimal("0.00"),
        "deposit-returned-amount": Decimal("0.00"),
    }
    assert_adds_up(resource)


def test_a_failed_deposit_is_cancelled_with_an_error_outcome():
    lines = (entry(1, LineKind.PAYMENT, 5000, **paid()), entry(2, LineKind.FEE, -175, **paid()))
    resource = payment_reconciliation(deposit(lines, status="failed"), PRACTICE_ID)

    parsed = validated(resource)

    assert (parsed.status, parsed.outcome) == ("cancelled", "error")
    assert extensions(resource)["deposit-status"] == "failed"
    assert parsed.disposition == "Deposit of $48.25 failed: 1 payment, fees $1.75."
    assert len(parsed.detail) == 2
    assert_adds_up(resource)


def test_a_returned_deposit_carries_what_the_bank_sent_back():
    resource = payment_reconciliation(deposit(status="returned", returned_amount=8510), PRACTICE_ID)

    parsed = validated(resource)

    assert (parsed.status, parsed.outcome) == ("cancelled", "error")
    assert extensions(resource)["deposit-returned-amount"] == {"value": 85.1, "currency": "USD"}
    assert parsed.disposition.startswith("Deposit of $85.10 returned by the bank: ")


EXPECTED = {
    DepositStatus.REQUESTED: ("active", "queued", "requested"),
    DepositStatus.PROCESSING: ("active", "queued", "in process"),
    DepositStatus.PROCESSED: ("active", "complete", "processed"),
    DepositStatus.FAILED: ("cancelled", "error", "failed"),
    DepositStatus.DENIED: ("cancelled", "error", "denied"),
    DepositStatus.RETURNED: ("cancelled", "error", "returned by the bank"),
}


@pytest.mark.parametrize("status", list(DepositStatus))
def test_every_status_maps_to_a_fhir_status_and_outcome_and_keeps_ours(status):
    resource = payment_reconciliation(deposit(status=status.value), PRACTICE_ID)

    parsed = validated(resource)

    fhir_status, outcome, words = EXPECTED[status]
    assert (parsed.status, parsed.outcome) == (fhir_status, outcome)
    assert parsed.disposition.startswith(f"Deposit of $85.10 {words}: ")
    assert extensions(resource)["deposit-status"] == status.value


def test_rounding_is_shown_and_the_details_still_add_up():
    lines = (entry(1, LineKind.PAYMENT, 10000, **paid()), entry(2, LineKind.FEE, -290, **paid()))
    resource = payment_reconciliation(deposit(lines, amount=9711), PRACTICE_ID)  # Splash's fee was 289.6 cents

    validated(resource)

    assert extensions(exact(resource))["deposit-rounding"]["value"] == Decimal("0.01")
    assert exact(resource)["paymentAmount"]["value"] == Decimal("97.11")
    assert_adds_up(resource)


def test_a_deposit_without_lines_has_no_detail():
    resource = payment_reconciliation(deposit((), amount=0, status="requested"), PRACTICE_ID)

    parsed = validated(resource)

    assert parsed.detail is None
    assert parsed.disposition == "Deposit of $0.00 requested: no lines."
    assert_adds_up(resource)


@pytest.mark.parametrize(
    ("cents", "expected"),
    [
        (1, "0.01"),
        (-7, "-0.07"),
        (1015, "10.15"),
        (-1999, "-19.99"),
        (33_333_333, "333333.33"),
        (999_999_999, "9999999.99"),
    ],
)
def test_money_is_exact_dollars_in_the_json(cents, expected):
    resource = payment_reconciliation(deposit((entry(1, LineKind.ADJUSTMENT, cents),)), PRACTICE_ID)

    doc = exact(resource)

    assert doc["paymentAmount"] == {"value": Decimal(expected), "currency": "USD"}
    assert doc["detail"][0]["amount"]["value"] == Decimal(expected)
    validated(resource)


@pytest.mark.parametrize(
    ("practice_id", "patient_id", "invoice_id", "practice_ref", "patient_ref", "invoice_ref"),
    [
        (PRACTICE_ID, PATIENT_ID, INVOICE_ID, None, None, "Invoice/inv-01jq3v9x4k2m8n6p0r5t7w1y3z"),
        ("org-7.a", "12345", "inv_" + "x" * 61, "Organization/org-7.a", "Patient/12345", None),
    ],
    ids=["our-ids", "valid-fhir-ids-and-an-overlong-invoice-id"],
)
def test_references_by_identifier_and_literally_when_a_valid_fhir_id(
    practice_id, patient_id, invoice_id, practice_ref, patient_ref, invoice_ref
):
    line = entry(1, LineKind.PAYMENT, 5000, payment_id=PAYMENT_ID, invoice_id=invoice_id, patient_id=patient_id)
    resource = payment_reconciliation(deposit((line,)), practice_id)

    parsed = validated(resource)

    [detail] = parsed.detail
    assert (parsed.requestor.reference, detail.payee.reference, detail.request.reference) == (
        practice_ref,
        practice_ref,
        invoice_ref,
    )
    assert (detail.request.identifier.system, detail.request.identifier.value) == (
        "urn:practicepay:invoice",
        invoice_id,
    )
    patient = extensions(resource["detail"][0])["deposit-line-patient"]
    assert patient.get("reference") == patient_ref
    assert patient["identifier"] == {"system": "urn:practicepay:patient", "value": patient_id}
    assert parsed.requestor.display is None


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
        _set(("status",), "processed"),
        _set(("outcome",), "processed"),
        _set(("detail", 2, "type", "coding", 0, "code"), "fee"),
        _set(("detail", 0, "type"), {"text": "Payment"}),
        _set(("detail", 0, "payee", "reference"), "Patient/12345"),
        _set(("paymentDate",), "2026-03-03T14:05:00Z"),
        _set(("created",), "yesterday"),
        _set(("paymentAmount", "value"), "85.10 USD"),
        _set(("detail", 0, "invoice"), {"reference": "Invoice/1"}),
        _set(("id",), DEPOSIT_ID),
        _set(("detail", 0, "type"), None),
    ],
    ids=[
        "status",
        "outcome",
        "payment-type",
        "no-payment-type",
        "payee-type",
        "date",
        "datetime",
        "decimal",
        "unknown-element",
        "id",
        "detail-type",
    ],
)
def test_the_validator_refuses_a_broken_resource(mutate):
    resource = payment_reconciliation(deposit(), PRACTICE_ID)
    validated(resource)
    broken = copy.deepcopy(resource)
    mutate(broken)

    with pytest.raises(ValueError):
        validated(broken)


def test_the_mapping_does_not_load_fhir_resources():
    """The Lambda runtime has no fhir.resources: the module must not import it."""
    code = "import sys, practicepay.deposits.fhir; print(sorted(m for m in sys.modules if m.split('.')[0] == 'fhir'))"

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert result.stdout.strip() == "[]"
