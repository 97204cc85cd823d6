"""The clinical platform's side, over HTTP against the local stack: encounters (API and the platform's EventBridge
bus) turned into invoices, the FHIR view of an invoice, and every event published on our bus checked against
its JSON Schema in docs/events/."""

from __future__ import annotations

import json
from datetime import timedelta

import boto3
import pytest
from fhir.resources.R4B.invoice import Invoice as FhirInvoice

from infra.definitions import ENCOUNTER_DETAIL_TYPE, PLATFORM_EVENT_BUS_LOCAL_NAME, PLATFORM_EVENT_SOURCE
from practicepay.auth import ADMIN_SCOPE
from practicepay.auth.tokens import issue_hs256
from practicepay.clock import utc_now
from tests.event_schemas import detail_types, validate_event
from tests.helpers import TEST_SECRET
from tests.integration.test_billing import make_plan, setup
from tests.integration.test_money_core import add_bank, add_card, new_patient, ok, open_invoice, pay
from tests.integration.test_practices import BOARDING

pytestmark = pytest.mark.integration

R01 = "9990000001"
VISIT = {
    "encounter_id": "enc-1001",
    "revision": 1,
    "patient_external_id": "ehr-enc-1",
    "charges": [
        {
            "service_date": "2026-11-20",
            "description": "Office visit, new patient",
            "cpt_code": "99203",
            "amount": 18000,
        },
        {
            "service_date": "2026-11-20",
            "description": "Lipid panel",
            "cpt_code": "80061",
            "quantity": 2,
            "amount": 2250,
        },
    ],
}


def encounter(api, practice: str, body: dict, status: int):
    resp = api.call("POST", "/events/encounters", practice=practice, body=body)
    assert resp.status_code == status, resp.get_data(as_text=True)
    return resp.get_json()


def test_an_encounter_becomes_a_draft_invoice_and_its_corrections_replace_the_lines(api, boarded):
    practice = boarded("prc_enc_draft")
    new_patient(api, practice, "ehr-enc-1")
    first = encounter(api, practice, VISIT, 201)
    inv = first["invoice"]
    assert (first["result"], first["revision"], inv["status"], inv["total"]) == ("created", 1, "draft", 22_500)
    assert inv["encounter_id"] == "enc-1001"
    assert [(i["cpt_code"], i["quantity"], i["amount"], i["service_date"]) for i in inv["line_items"]] == [
        ("99203", 1, 18_000, "2026-11-20"),
        ("80061", 2, 4_500, "2026-11-20"),
    ]

    replay = encounter(api, practice, VISIT, 200)  # the same revision again: nothing changes
    assert (replay["result"], replay["invoice"]["id"]) == ("unchanged", inv["id"])

    corrected = {**VISIT, "revision": 2, "charges": [{**VISIT["charges"][0], "amount": 15_000}]}
    second = encounter(api, practice, corrected, 200)
    assert (second["result"], second["invoice"]["id"], second["invoice"]["total"]) == ("updated", inv["id"], 15_000)
    assert len(second["invoice"]["line_items"]) == 1
    stale = encounter(api, practice, VISIT, 200)  # revision 1 arriving late: ignored
    assert (stale["result"], stale["revision"], stale["invoice"]["total"]) == ("unchanged", 2, 15_000)
    listed = ok(api.call("GET", "/invoices", practice=practice))["data"]
    assert [i["id"] for i in listed] == [inv["id"]]  # one invoice per encounter

    ok(api.call("POST", f"/invoices/{inv['id']}/issue", practice=practice))
    refused = api.call("POST", "/events/encounters", practice=practice, body={**corrected, "revision": 3})
    assert refused.status_code == 409
    assert "already open" in refused.get_json()["detail"] and inv["id"] in refused.get_json()["detail"]
    assert ok(api.call("GET", f"/invoices/{inv['id']}", practice=practice))["total"] == 15_000


def test_a_correction_may_move_a_draft_to_the_right_patient(api, boarded):
    practice = boarded("prc_enc_move")
    wrong, right = new_patient(api, practice, "ehr-enc-1"), new_patient(api, practice, "ehr-enc-2")
    first = encounter(api, practice, VISIT, 201)["invoice"]
    assert first["patient_id"] == wrong
    moved = encounter(api, practice, {**VISIT, "revision": 2, "patient_external_id": "ehr-enc-2"}, 200)["invoice"]
    assert (moved["id"], moved["patient_id"]) == (first["id"], right)
    by_patient = ok(api.call("GET", "/invoices", practice=practice, query={"patient_id": right}))["data"]
    assert [i["id"] for i in by_patient] == [first["id"]]
    assert ok(api.call("GET", "/invoices", practice=practice, query={"patient_id": wrong}))["data"] == []


def test_bad_encounters_are_refused_with_the_field_and_write_nothing(api, boarded):
    practice = boarded("prc_enc_bad")
    unknown = api.call(
        "POST", "/events/encounters", practice=practice, body={**VISIT, "patient_external_id": "ehr-nobody"}
    )
    assert unknown.status_code == 422
    assert [e["field"] for e in unknown.get_json()["errors"]] == ["patient_external_id"]
    new_patient(api, practice, "ehr-enc-1")
    float_amount = {**VISIT, "charges": [{**VISIT["charges"][0], "amount": 180.0}]}
    assert api.call("POST", "/events/encounters", practice=practice, body=float_amount).status_code == 422
    no_charges = {**VISIT, "charges": []}
    assert api.call("POST", "/events/encounters", practice=practice, body=no_charges).status_code == 422
    assert ok(api.call("GET", "/invoices", practice=practice))["data"] == []


def test_an_encounter_on_the_platforms_bus_is_billed_and_issued_per_the_practices_setting(api, boarded, sync_stack):
    practice = boarded("prc_enc_bus")
    ok(
        api.call(
            "PATCH",
            f"/practices/{practice}/settings",
            practice=practice,
            body={"encounter_invoice_status": "open", "payment_terms_days": 15},
        )
    )
    patient = new_patient(api, practice, "ehr-enc-1")
    detail = {**VISIT, "encounter_id": "enc-bus-7", "practice_id": practice}
    put = boto3.client("events").put_events(
        Entries=[
            {
                "Source": PLATFORM_EVENT_SOURCE,
                "DetailType": ENCOUNTER_DETAIL_TYPE,
                "Detail": json.dumps(detail),
                "EventBusName": PLATFORM_EVENT_BUS_LOCAL_NAME,
            }
        ]
    )
    assert put["FailedEntryCount"] == 0
    sync_stack.triggers.drain_all()
    invoices = ok(api.call("GET", "/invoices", practice=practice, query={"patient_id": patient}))["data"]
    assert [(i["status"], i["total"], i["encounter_id"]) for i in invoices] == [("open", 22_500, "enc-bus-7")]
    assert invoices[0]["due_date"] == (utc_now().date() + timedelta(days=15)).isoformat()
    issued = [e for e in sync_stack.triggers.events.published() if e["detail-type"] == "invoice.issued"]
    mine = [e["detail"] for e in issued if e["detail"]["invoice_id"] == invoices[0]["id"]]
    assert mine and mine[0]["encounter_id"] == "enc-bus-7" and mine[0]["amount_due"] == 22_500


def test_an_invoice_reads_as_a_valid_fhir_r4_invoice(api, boarded):
    practice = boarded("prc_enc_fhir")
    new_patient(api, practice, "ehr-enc-1")
    inv = encounter(api, practice, VISIT, 201)["invoice"]
    resp = api.call("GET", f"/invoices/{inv['id']}", practice=practice, headers={"Accept": "application/fhir+json"})
    assert resp.status_code == 200 and resp.content_type == "application/fhir+json"
    resource = json.loads(resp.get_data(as_text=True))
    parsed = FhirInvoice.model_validate(resource)
    assert parsed.status == "draft"
    assert float(parsed.totalGross.value) == 225.00 and parsed.totalGross.currency == "USD"
    codes = [line.chargeItemCodeableConcept.coding[0].code for line in parsed.lineItem]
    assert codes == ["99203", "80061"]
    plain = api.call("GET", f"/invoices/{inv['id']}", practice=practice)
    assert plain.content_type == "application/json" and plain.get_json()["total"] == 22_500


def test_every_event_published_on_the_bus_matches_its_schema(api, boarded, sync_stack):
    """Drive every kind of event, then read our bus back (everything earlier tests published too) and validate
    each one against docs/events/<detail-type>.json."""
    token = issue_hs256(TEST_SECRET, "platform-ops", scope=ADMIN_SCOPE)
    headers = {"Authorization": f"Bearer {token}"}
    onboard = api.call(
        "POST", "/practices", practice=None, body={**BOARDING, "practice_id": "prc_events_new"}, headers=headers
    )
    assert onboard.status_code == 201
    practice = boarded("prc_events")
    patient = new_patient(api, practice, "ehr-events")
    card, bank = add_card(api, practice, patient)["id"], add_bank(api, practice, patient, account=R01)["id"]
    paid = pay(api, practice, open_invoice(api, practice, patient, unit_amount=5_000)["id"], card)
    ok(api.call("POST", f"/payments/{paid['id']}/refunds", practice=practice, body={"amount": 1_000}), 201)
    declined = api.call(
        "POST",
        f"/invoices/{open_invoice(api, practice, patient, unit_amount=12)['id']}/payments",
        practice=practice,
        body={"payment_method_id": card},
    )
    assert declined.status_code == 402
    pay(api, practice, open_invoice(api, practice, patient, unit_amount=7_000)["id"], bank)  # returned R01
    _, lost_card, plan_invoice = setup(api, boarded, "prc_events_plan", amount=24)  # 12-cent installments: declined
    day = sync_stack.sandbox.today
    make_plan(api, "prc_events_plan", plan_invoice["id"], lost_card, day + timedelta(days=3), count=2)
    sync_stack.bill(day)  # installment.upcoming
    sync_stack.advance(days=3)  # boarding decided, the eCheck settled then returned
    sync_stack.bill(sync_stack.sandbox.today)  # the installment charged and declined: past due

    published = sync_stack.triggers.events.published()
    for event in published:
        validate_event(event)
    wanted = {
        "invoice.issued",
        "invoice.paid",
        "invoice.past_due",
        "payment.succeeded",
        "payment.failed",
        "payment.returned",
        "payment.refunded",
        "installment.upcoming",
        "installment.failed",
        "practice.boarded",
    }
    seen = {e["detail-type"] for e in published}
    assert wanted <= seen, wanted - seen
    assert seen <= detail_types()
    assert all(e["source"] == "practicepay" for e in published)
