"""The invoice slice through the local API Gateway front: authorizer, handler, DynamoDB and KMS on moto."""

from __future__ import annotations

import copy
import json

import boto3
import botocore.client
import pytest

from practicepay.api.problems import Problem
from tests.integration.conftest import VISIT, count_items

pytestmark = pytest.mark.integration


def _problem(resp, status: int) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.headers["Content-Type"] == "application/problem+json"
    body = resp.get_json(force=True)
    assert body["status"] == status and body["type"].startswith("urn:practicepay:problem:")
    assert "Traceback" not in json.dumps(body)
    Problem.model_validate(body)  # the documented shape
    return body


def test_create_computes_totals_on_the_server_and_reads_back(api):
    resp = api.call("POST", "/invoices", body=api.visit())
    assert resp.status_code == 201
    invoice = resp.get_json()
    assert resp.headers["Location"] == f"/invoices/{invoice['id']}"
    assert invoice["status"] == "draft"
    assert [i["amount"] for i in invoice["line_items"]] == [12500, 2900]
    assert invoice["subtotal"] == invoice["total"] == invoice["amount_due"] == 15400
    assert invoice["amount_paid"] == 0
    assert invoice["line_items"][1]["quantity"] == 2

    again = api.call("GET", f"/invoices/{invoice['id']}")
    assert again.status_code == 200
    assert again.get_json() == invoice


def test_client_supplied_totals_are_refused(api):
    body = {**api.visit(), "total": 1}
    problem = _problem(api.call("POST", "/invoices", body=body), 422)
    assert problem["errors"] == [{"field": "total", "message": "total is not a field of this request; remove it"}]


def test_line_item_text_is_encrypted_at_rest(api, invoices_table):
    invoice = api.call("POST", "/invoices", body=api.visit()).get_json()
    item = invoices_table.get_item(Key={"pk": "PRACTICE#prc_alpha", "sk": f"INVOICE#{invoice['id']}"})["Item"]
    stored = json.dumps(item, default=lambda v: v.value.decode("latin-1") if hasattr(v, "value") else str(v))
    for line in VISIT["line_items"]:
        assert line["description"] not in stored
        assert line["cpt_code"] not in stored
    assert item["line_items_sealed"].value and item["line_item_count"] == 2  # sealed, stored as bytes


def test_data_keys_are_cached_not_one_kms_call_per_invoice(api, monkeypatch):
    body = api.visit("prc_cache")
    calls: list[str] = []
    original = botocore.client.BaseClient._make_api_call

    def spy(self, operation, params):
        if self.meta.service_model.service_name == "kms":
            calls.append(operation)
        return original(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", spy)
    for _ in range(10):
        assert api.call("POST", "/invoices", body=body, practice="prc_cache").status_code == 201
    listed = api.call("GET", "/invoices", practice="prc_cache", query={"limit": 100}).get_json()
    assert len(listed["data"]) == 10
    assert calls.count("GenerateDataKey") <= 1, calls
    assert calls.count("Decrypt") <= 1, calls


def test_missing_or_bad_tokens_get_401(api):
    _problem(api.call("GET", "/invoices", practice=None), 401)
    _problem(api.call("GET", "/invoices", practice=None, headers={"Authorization": "Bearer not-a-jwt"}), 401)
    _problem(api.call("GET", "/invoices", practice=None, headers={"Authorization": "Basic dXNlcjpwdw=="}), 401)
    from practicepay.auth.tokens import issue_hs256

    expired = issue_hs256("integration-test-signing-secret-0123456789abcdef", "prc_alpha", now=0)
    _problem(api.call("GET", "/invoices", practice=None, headers={"Authorization": f"Bearer {expired}"}), 401)
    forged = issue_hs256("some-other-secret-that-is-long-enough-0000", "prc_alpha")
    _problem(api.call("GET", "/invoices", practice=None, headers={"Authorization": f"Bearer {forged}"}), 401)


def test_another_practice_sees_404_and_nothing_in_lists(api):
    visit = api.visit("prc_alpha")
    invoice = api.call("POST", "/invoices", body=visit, practice="prc_alpha").get_json()
    theirs = _problem(api.call("GET", f"/invoices/{invoice['id']}", practice="prc_beta"), 404)
    unknown = _problem(api.call("GET", "/invoices/inv_00000000000000000000000000", practice="prc_beta"), 404)
    assert theirs["title"] == unknown["title"]  # no hint that the record exists elsewhere
    listed = api.call("GET", "/invoices", practice="prc_beta", query={"patient_id": visit["patient_id"]}).get_json()
    assert invoice["id"] not in {i["id"] for i in listed["data"]}


@pytest.mark.parametrize("whose", ["nobody's", "another practice's"])
def test_an_invoice_for_a_patient_the_practice_does_not_have_is_422_and_writes_nothing(api, invoices_table, whose):
    patient = "pat_00000000000000000000000000" if whose == "nobody's" else api.visit("prc_other")["patient_id"]
    before = count_items(invoices_table, "prc_nopat")
    body = {**api.visit("prc_nopat"), "patient_id": patient}
    problem = _problem(api.call("POST", "/invoices", body=body, practice="prc_nopat"), 422)
    assert problem["errors"][0]["field"] == "patient_id"
    assert count_items(invoices_table, "prc_nopat") == before


def test_practice_id_in_the_body_is_refused_not_honoured(api, invoices_table):
    before = count_items(invoices_table, "prc_victim")
    _problem(
        api.call("POST", "/invoices", body={**api.visit(), "practice_id": "prc_victim"}, practice="prc_alpha"), 422
    )
    assert count_items(invoices_table, "prc_victim") == before


def test_idempotent_repeat_returns_the_first_response(api, invoices_table):
    before = count_items(invoices_table, "prc_idem")
    first = api.call("POST", "/invoices", body=api.visit("prc_idem"), practice="prc_idem", key="visit-2026-11-26-001")
    second = api.call("POST", "/invoices", body=api.visit("prc_idem"), practice="prc_idem", key="visit-2026-11-26-001")
    assert first.status_code == second.status_code == 201
    assert first.get_json() == second.get_json()
    assert count_items(invoices_table, "prc_idem") == before + 1


def test_same_key_with_another_body_is_422_and_writes_nothing(api, invoices_table):
    visit = api.visit("prc_idem2")
    api.call("POST", "/invoices", body=visit, practice="prc_idem2", key="k-reuse")
    before = count_items(invoices_table, "prc_idem2")
    other = copy.deepcopy(visit)
    other["line_items"][0]["unit_amount"] = 13000
    problem = _problem(api.call("POST", "/invoices", body=other, practice="prc_idem2", key="k-reuse"), 422)
    assert "Idempotency-Key" in problem["detail"]
    assert count_items(invoices_table, "prc_idem2") == before


def test_the_same_key_in_two_practices_makes_two_invoices(api):
    a = api.call("POST", "/invoices", body=api.visit("prc_k1"), practice="prc_k1", key="shared-key").get_json()
    b = api.call("POST", "/invoices", body=api.visit("prc_k2"), practice="prc_k2", key="shared-key").get_json()
    assert a["id"] != b["id"]


# Refused before any lookup, so the patient need not exist.
ANY_PATIENT = {**VISIT, "patient_id": "pat_any"}


def _with_item(**changes) -> dict:
    body = copy.deepcopy(ANY_PATIENT)
    body["line_items"][0].update(changes)
    return body


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (_with_item(unit_amount=125.5), "line_items[0].unit_amount", "whole number of cents"),
        (_with_item(unit_amount=12500.0), "line_items[0].unit_amount", "whole number of cents"),
        (_with_item(unit_amount="12500"), "line_items[0].unit_amount", "whole number of cents"),
        (_with_item(unit_amount=-100), "line_items[0].unit_amount", "at least 1"),
        (_with_item(unit_amount=0), "line_items[0].unit_amount", "at least 1"),
        (_with_item(quantity=0), "line_items[0].quantity", "at least 1"),
        (_with_item(diagnosis="J45.909"), "line_items[0].diagnosis", "not a field"),
        ({**ANY_PATIENT, "line_items": []}, "line_items", "at least 1"),
        ({**ANY_PATIENT, "due_date": "12/31/2026"}, "due_date", "YYYY-MM-DD"),
        (VISIT, "patient_id", "required"),
    ],
)
def test_bad_input_is_a_problem_naming_the_field_and_writes_nothing(api, invoices_table, body, field, words):
    before = count_items(invoices_table, "prc_bad")
    problem = _problem(api.call("POST", "/invoices", body=body, practice="prc_bad"), 422)
    messages = {e["field"]: e["message"] for e in problem["errors"]}
    assert field in messages and words in messages[field], messages
    assert count_items(invoices_table, "prc_bad") == before


def test_malformed_json_oversized_and_non_json_bodies(api, invoices_table):
    before = count_items(invoices_table, "prc_bad")
    problem = _problem(api.call("POST", "/invoices", raw='{"patient_id": "pat_1",', practice="prc_bad"), 400)
    assert "not valid JSON" in problem["detail"]
    huge = json.dumps({**api.visit(), "padding": "x" * (256 * 1024)})
    problem = _problem(api.call("POST", "/invoices", raw=huge, practice="prc_bad"), 413)
    assert "262144" in problem["detail"]
    _problem(api.call("POST", "/invoices", raw="a=b", practice="prc_bad", headers={"Content-Type": "text/plain"}), 415)
    assert count_items(invoices_table, "prc_bad") == before


def test_missing_idempotency_key_is_400(api):
    problem = _problem(api.call("POST", "/invoices", body=api.visit(), key=None), 400)
    assert problem["errors"][0]["field"] == "Idempotency-Key header"


def test_list_filters_and_pages_without_gaps_or_repeats(api):
    practice = "prc_pages"
    pat_a = api.visit(practice)["patient_id"]
    pat_b = api.patient(practice, "ehr-pages-b")
    made = []
    for n in range(5):
        body = {**api.visit(practice), "patient_id": pat_a if n % 2 == 0 else pat_b}
        made.append(api.call("POST", "/invoices", body=body, practice=practice).get_json()["id"])

    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.call("GET", "/invoices", practice=practice, query=query).get_json()
        seen += [i["id"] for i in page["data"]]
        pages += 1
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        cursor = page["next_cursor"]
    assert seen == list(reversed(made))  # newest first, each exactly once
    assert pages == 3

    by_patient = api.call("GET", "/invoices", practice=practice, query={"patient_id": pat_a}).get_json()
    assert {i["id"] for i in by_patient["data"]} == {made[0], made[2], made[4]}
    drafts = api.call("GET", "/invoices", practice=practice, query={"status": "draft", "patient_id": pat_b})
    assert {i["id"] for i in drafts.get_json()["data"]} == {made[1], made[3]}
    paid = api.call("GET", "/invoices", practice=practice, query={"status": "paid"}).get_json()
    assert paid["data"] == []


def test_a_cursor_cannot_be_replayed_by_another_practice_or_forged(api):
    for _n in range(3):
        api.call("POST", "/invoices", body=api.visit("prc_cur"), practice="prc_cur")
    cursor = api.call("GET", "/invoices", practice="prc_cur", query={"limit": 1}).get_json()["next_cursor"]
    assert cursor
    _problem(api.call("GET", "/invoices", practice="prc_other", query={"cursor": cursor}), 400)
    _problem(api.call("GET", "/invoices", practice="prc_cur", query={"cursor": "not-a-cursor"}), 400)


def test_bad_query_parameters_are_400(api):
    problem = _problem(api.call("GET", "/invoices", query={"status": "shipped"}), 400)
    assert problem["errors"][0]["field"] == "status"
    _problem(api.call("GET", "/invoices", query={"limit": 0}), 400)
    _problem(api.call("GET", "/invoices", query={"limit": 101}), 400)


def test_unknown_route_is_a_404_problem(api):
    _problem(api.call("GET", "/nope"), 404)
    _problem(api.call("DELETE", "/invoices"), 404)


def test_health_needs_no_token(api):
    resp = api.call("GET", "/health", practice=None)
    assert resp.status_code == 200 and resp.get_json()["status"] == "ok"


def test_idempotency_records_expire(api, aws_env):
    ddb = boto3.client("dynamodb")
    ttl = ddb.describe_time_to_live(TableName=aws_env["IDEMPOTENCY_TABLE"])["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expiration" and ttl["TimeToLiveStatus"] == "ENABLED"
    api.call("POST", "/invoices", body=api.visit("prc_ttl"), practice="prc_ttl", key="ttl-key")
    items = ddb.scan(TableName=aws_env["IDEMPOTENCY_TABLE"])["Items"]
    assert items and all("expiration" in i for i in items)
