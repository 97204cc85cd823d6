"""The invoice view model as a FHIR R4 Invoice resource (JSON as a plain dict), for `Accept: application/fhir+json`.

- `id` is our invoice id with `_` written as `-` (a FHIR id allows only `A-Za-z0-9-.`); `identifier` keeps it exactly.
- `status`: draft → draft; open, partially_paid, in_progress, processing → issued (still owed or settling); paid,
  partially_refunded, refunded, uncollectible → balanced (nothing is owed: paid, or written off); canceled → cancelled.
  Our exact status, the money FHIR has no element for (paid, due, refunded, written off) and the write-off reason
  code are extensions under `EXTENSION_BASE`.
- `subject` and `issuer` name the patient and the practice by identifier, and by a literal reference
  (`Patient/{id}`, `Organization/{id}`) only when the value is a valid FHIR id.
- Each line has one `base` price component: `factor` is the quantity and `amount` the line amount (R4: "the amount
  calculated for this component"). A line's service date, when known, is an extension (R4 lines have none).
- Money is exact: cents become dollars through Decimal, emitted as JSON numbers (10.5, never 10.499999).
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from practicepay.clock import iso
from practicepay.invoices.models import Invoice, InvoiceStatus, LineItem

FHIR_CONTENT_TYPE = "application/fhir+json"
EXTENSION_BASE = "https://practicepay.example/fhir/StructureDefinition/"
INVOICE_SYSTEM = "urn:practicepay:invoice"
PATIENT_SYSTEM = "urn:practicepay:patient"
PRACTICE_SYSTEM = "urn:practicepay:practice"
CPT_SYSTEM = "http://www.ama-assn.org/go/cpt"

FHIR_STATUS: dict[InvoiceStatus, str] = {
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

FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def fhir_invoice(invoice: Invoice, practice_id: str) -> dict[str, Any]:
    """The FHIR R4 Invoice for `invoice`, issued by the practice `practice_id`."""
    currency = invoice.currency.upper()
    extensions = [
        {"url": f"{EXTENSION_BASE}invoice-status", "valueCode": invoice.status.value},
        *(
            {"url": f"{EXTENSION_BASE}{name}", "valueMoney": money(cents, currency)}
            for name, cents in (
                ("amount-paid", invoice.amount_paid),
                ("amount-due", invoice.amount_due),
                ("amount-refunded", invoice.amount_refunded),
                ("amount-written-off", invoice.amount_written_off),
            )
        ),
    ]
    if invoice.write_off_reason:
        extensions.append({"url": f"{EXTENSION_BASE}write-off-reason", "valueCode": invoice.write_off_reason})
    return {
        "resourceType": "Invoice",
        "id": invoice.id.replace("_", "-"),
        "meta": {"lastUpdated": instant(invoice.updated_at)},
        "extension": extensions,
        "identifier": [{"system": INVOICE_SYSTEM, "value": invoice.id}],
        "status": FHIR_STATUS[invoice.status],
        "subject": reference("Patient", PATIENT_SYSTEM, invoice.patient_id),
        "date": instant(invoice.created_at),
        "issuer": reference("Organization", PRACTICE_SYSTEM, practice_id),
        "lineItem": [_line(n, item, currency) for n, item in enumerate(invoice.line_items, start=1)],
        "totalNet": money(invoice.total, currency),
        "totalGross": money(invoice.total, currency),
        "paymentTerms": f"Due {invoice.due_date.isoformat()}",
    }


def _line(sequence: int, item: LineItem, currency: str) -> dict[str, Any]:
    concept: dict[str, Any] = {"text": item.description}
    if item.cpt_code:
        concept["coding"] = [{"system": CPT_SYSTEM, "code": item.cpt_code}]
    line: dict[str, Any] = {
        "sequence": sequence,
        "chargeItemCodeableConcept": concept,
        "priceComponent": [{"type": "base", "factor": item.quantity, "amount": money(item.amount, currency)}],
    }
    service_date = getattr(item, "service_date", None)
    if service_date is not None:
        line["extension"] = [{"url": f"{EXTENSION_BASE}service-date", "valueDate": service_date.isoformat()}]
    return line


def money(cents: int, currency: str) -> dict[str, Any]:
    """Exact: a two-place Decimal's float prints back as the same decimal (amounts stay far below 15 digits)."""
    return {"value": float(Decimal(cents).scaleb(-2)), "currency": currency}


def instant(timestamp: str) -> str:
    return iso(datetime.fromisoformat(timestamp))


def reference(resource_type: str, system: str, value: str) -> dict[str, Any]:
    literal = {"reference": f"{resource_type}/{value}"} if FHIR_ID.match(value) else {}
    return {**literal, "identifier": {"system": system, "value": value}}
