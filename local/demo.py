"""The banner's demo pay link: a demo patient's issued invoice and a link to pay it on the pay page, made through
the same services as the API (in this process, before the front answers). The patient's date of birth is
DEMO_DOB; each start bills a new visit (with PRACTICEPAY_LOCAL_STATE the patient is kept and reused)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

DEMO_PATIENT = "demo-patient"
DEMO_DOB = date(1980, 1, 1)


def demo_link(practice_id: str, base: str) -> str:
    from practicepay.invoices.models import CreateInvoiceRequest
    from practicepay.invoices.wiring import invoice_service
    from practicepay.patients.models import CreatePatientRequest
    from practicepay.patients.wiring import patient_service
    from practicepay.paylinks.models import CreatePayLinkRequest
    from practicepay.paylinks.wiring import pay_link_service

    patients = patient_service()
    patient = patients.store.by_external_id(practice_id, DEMO_PATIENT)
    if patient is None:
        body = CreatePatientRequest.model_validate(
            {
                "external_id": DEMO_PATIENT,
                "first_name": "Demo",
                "last_name": "Patient",
                "date_of_birth": DEMO_DOB.isoformat(),
            }
        )
        patient_id = patients.create(practice_id, uuid.uuid4().hex, body).id
    else:
        patient_id = patient.id
    invoices = invoice_service()
    invoice = invoices.create(
        practice_id,
        uuid.uuid4().hex,
        CreateInvoiceRequest.model_validate(
            {
                "patient_id": patient_id,
                "due_date": (date.today() + timedelta(days=30)).isoformat(),
                "line_items": [
                    {"description": "Office visit, established patient", "unit_amount": 12500},
                    {"description": "Lipid panel", "unit_amount": 4200},
                ],
            }
        ),
    )
    invoices.act(practice_id, invoice.id, "issue")
    link = pay_link_service().create_for_invoice(
        practice_id, invoice.id, uuid.uuid4().hex, CreatePayLinkRequest(), base
    )
    assert link.url is not None
    return link.url
