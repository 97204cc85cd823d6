"""Issue #19 in the template: the funds table is kept like the other tables, the disputes function has exactly the
grants its routes need, the sync, reports and billing functions gained only what disputes, deposits, fees and the
account updater use, and only the evidence packet (a PDF) is served as bytes."""

from __future__ import annotations

import json

import pytest

from infra.api import BINARY_MEDIA_TYPE
from infra.definitions import (
    ALERTS,
    BILLING,
    DISPUTES,
    FUNDS_TABLE,
    PATIENTS_TABLE,
    POLL,
    PRACTICES_TABLE,
    RECONCILER,
    REPORTS,
    ROUTES,
)
from tests.infra.conftest import resources
from tests.infra.test_stack import _function_of, _listed, _methods, _statements, _table_id

pytestmark = pytest.mark.infra


def _grants(template: dict, function: str, spec) -> dict[str, set[str]]:  # noqa: ANN001
    """Resource (the table, or the table's index by name) → the DynamoDB actions the function has on it."""
    arn = json.dumps({"Fn::GetAtt": [_table_id(template, spec), "Arn"]})
    granted: dict[str, set[str]] = {}
    for statement in _statements(template, function):
        for resource in _listed(statement["Resource"]):
            text = json.dumps(resource)
            if text == arn:
                name = "table"
            elif text.startswith('{"Fn::Join"') and arn in text:
                name = resource["Fn::Join"][1][-1].removeprefix("/index/")
            else:
                continue
            granted.setdefault(name, set()).update(_listed(statement["Action"]))
    return granted


def _dynamo(*actions: str) -> set[str]:
    return {f"dynamodb:{a}" for a in actions}


def test_the_funds_table_is_encrypted_recoverable_retained_and_has_its_three_indexes(template):
    table = resources(template, "AWS::DynamoDB::Table")[_table_id(template, FUNDS_TABLE)]
    props = table["Properties"]
    assert props["SSESpecification"]["SSEEnabled"] is True and "KMSMasterKeyId" in props["SSESpecification"]
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["DeletionProtectionEnabled"] is True and table["DeletionPolicy"] == "Retain"
    indexes = {i["IndexName"]: [k["AttributeName"] for k in i["KeySchema"]] for i in props["GlobalSecondaryIndexes"]}
    assert indexes == {"by_invoice": ["gsi1pk", "gsi1sk"], "by_date": ["gsi2pk", "gsi2sk"], "due": ["due_pk", "due_sk"]}
    patients = resources(template, "AWS::DynamoDB::Table")[_table_id(template, PATIENTS_TABLE)]["Properties"]
    by_token = [i for i in patients["GlobalSecondaryIndexes"] if i["IndexName"] == "by_token"]
    assert [k["AttributeName"] for k in by_token[0]["KeySchema"]] == ["splash_token_id"]


def test_the_disputes_routes_reach_the_disputes_function_through_the_authorizer(template):
    methods = _methods(template)
    routes = [(r.method, r.path) for r in ROUTES if r.function == DISPUTES.name]
    assert len(routes) == 5
    for key in routes:
        assert methods[key]["AuthorizationType"] == "CUSTOM" and _function_of(template, methods[key]) == DISPUTES.name
    for key in (("GET", "/reports/deposits"), ("GET", "/deposits/{deposit_id}")):
        assert methods[key]["AuthorizationType"] == "CUSTOM" and _function_of(template, methods[key]) == REPORTS.name


def test_only_the_evidence_pdf_is_served_as_bytes(template):
    (api,) = resources(template, "AWS::ApiGateway::RestApi").values()
    assert api["Properties"]["BinaryMediaTypes"] == [BINARY_MEDIA_TYPE] == ["application/pdf"]


def test_the_disputes_function_has_exactly_what_its_routes_use(template):
    funds = _grants(template, DISPUTES.name, FUNDS_TABLE)
    assert funds == {
        "table": _dynamo("GetItem", "PutItem", "UpdateItem", "Query"),
        "by_invoice": _dynamo("GetItem", "PutItem", "UpdateItem", "Query"),
        "by_date": _dynamo("GetItem", "PutItem", "UpdateItem", "Query"),
    }
    practices = _grants(template, DISPUTES.name, PRACTICES_TABLE)
    assert practices == {"table": _dynamo("GetItem", "Query"), "by_merchant": _dynamo("GetItem", "Query")}
    assert _grants(template, DISPUTES.name, PATIENTS_TABLE) == {"table": _dynamo("GetItem")}
    statements = _statements(template, DISPUTES.name)
    sids = {s["Sid"] for s in statements}
    assert {"Idempotency", "DataKey", "ReadSplashCredentials"} <= sids
    actions = [a for s in statements for a in _listed(s["Action"])]
    assert "dynamodb:Scan" not in actions and not any(a.endswith("*") for a in actions)
    assert [s["Sid"] for s in statements if "*" in _listed(s["Resource"])] == ["XRayTraces"]


@pytest.mark.parametrize("function", [ALERTS.name, POLL.name, RECONCILER.name])
def test_the_sync_functions_write_funds_and_find_a_card_by_its_token(template, function):
    funds = _grants(template, function, FUNDS_TABLE)
    assert set(funds) == {"table", "due"} and funds["table"] == _dynamo("GetItem", "PutItem", "UpdateItem", "Query")
    patients = _grants(template, function, PATIENTS_TABLE)
    assert set(patients) == {"table", "by_token"}
    assert patients["table"] == _dynamo("GetItem", "PutItem", "UpdateItem", "Query")


def test_reports_read_deposits_and_the_practice_and_write_nothing(template):
    funds = _grants(template, REPORTS.name, FUNDS_TABLE)
    assert funds == {
        "table": _dynamo("GetItem", "BatchGetItem", "Query"),
        "by_date": _dynamo("GetItem", "BatchGetItem", "Query"),
    }
    assert _grants(template, REPORTS.name, PRACTICES_TABLE) == {"table": _dynamo("GetItem")}


def test_the_daily_run_reads_autopay_methods_and_marks_them_once(template):
    assert _grants(template, BILLING.name, PATIENTS_TABLE) == {"table": _dynamo("GetItem", "BatchGetItem", "PutItem")}
    assert _grants(template, BILLING.name, FUNDS_TABLE) == {}
