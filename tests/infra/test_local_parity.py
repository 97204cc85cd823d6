"""The local stack's resources equal the synthesized template's: key schemas, indexes, billing, encryption,
TTL, queue settings. Both come from infra.definitions; this proves neither side drifted."""

from __future__ import annotations

import json

import boto3
import pytest
from werkzeug.test import Client

from infra.definitions import QUEUES, TABLES
from tests.infra.conftest import resources

pytestmark = pytest.mark.infra


def _template_table(template: dict, logical_prefix: str) -> dict:
    (table,) = [v for k, v in resources(template, "AWS::DynamoDB::Table").items() if k.startswith(logical_prefix)]
    return table["Properties"]


def _keys(schema: list[dict]) -> list[tuple[str, str]]:
    return [(k["AttributeName"], k["KeyType"]) for k in schema]


@pytest.mark.parametrize("spec", TABLES, ids=lambda t: t.logical_id)
def test_local_table_matches_the_template(spec, template, aws_env):
    cfn = _template_table(template, f"Data{spec.logical_id}")
    local = boto3.client("dynamodb").describe_table(TableName=spec.local_name)["Table"]

    assert _keys(local["KeySchema"]) == _keys(cfn["KeySchema"])
    assert sorted(map(tuple, (d.values() for d in local["AttributeDefinitions"]))) == sorted(
        map(tuple, (d.values() for d in cfn["AttributeDefinitions"]))
    )
    local_gsis = {g["IndexName"]: g for g in local.get("GlobalSecondaryIndexes", [])}
    cfn_gsis = {g["IndexName"]: g for g in cfn.get("GlobalSecondaryIndexes", [])}
    assert local_gsis.keys() == cfn_gsis.keys()
    for name, gsi in cfn_gsis.items():
        assert _keys(local_gsis[name]["KeySchema"]) == _keys(gsi["KeySchema"])
        assert local_gsis[name]["Projection"]["ProjectionType"] == gsi["Projection"]["ProjectionType"]
    assert local["BillingModeSummary"]["BillingMode"] == cfn["BillingMode"]
    assert local["SSEDescription"]["Status"] == "ENABLED" and local["SSEDescription"]["SSEType"] == "KMS"
    assert cfn["SSESpecification"]["SSEType"] == "KMS"

    ttl = boto3.client("dynamodb").describe_time_to_live(TableName=spec.local_name)["TimeToLiveDescription"]
    if "TimeToLiveSpecification" in cfn:
        assert ttl.get("AttributeName") == cfn["TimeToLiveSpecification"]["AttributeName"]
    else:
        assert ttl["TimeToLiveStatus"] == "DISABLED"
    pitr = boto3.client("dynamodb").describe_continuous_backups(TableName=spec.local_name)
    status = pitr["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"]
    assert status == "ENABLED" and cfn["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"]


@pytest.mark.parametrize("spec", QUEUES, ids=lambda q: q.logical_id)
def test_local_queue_matches_the_template(spec, template, aws_env):
    (cfn,) = [
        v["Properties"]
        for k, v in resources(template, "AWS::SQS::Queue").items()
        if k.startswith(f"Data{spec.logical_id}")
    ]
    attrs = boto3.client("sqs").get_queue_attributes(QueueUrl=aws_env[spec.env_var], AttributeNames=["All"])[
        "Attributes"
    ]
    assert int(attrs["MessageRetentionPeriod"]) == cfn["MessageRetentionPeriod"]
    assert int(attrs["VisibilityTimeout"]) == cfn["VisibilityTimeout"]
    assert attrs["KmsMasterKeyId"] and "KmsMasterKeyId" in cfn
    assert (attrs.get("FifoQueue") == "true") == bool(cfn.get("FifoQueue"))
    local_redrive = json.loads(attrs.get("RedrivePolicy", "{}")).get("maxReceiveCount")
    assert local_redrive == (cfn.get("RedrivePolicy") or {}).get("maxReceiveCount")
    assert bool(spec.dead_letter) == ("RedrivePolicy" in cfn)


def test_the_local_front_caches_the_authorizer_as_long_as_api_gateway(template, aws_env, monkeypatch):
    """API Gateway keeps an authorizer's policy per Authorization header (CDK's RequestAuthorizer: the TTL in the
    template); the local front does the same, so a local request costs what it costs in AWS."""
    import local.front as front
    from infra.definitions import AUTHORIZER_CACHE_SECONDS
    from practicepay.auth.tokens import issue_hs256
    from tests.helpers import TEST_SECRET

    (authorizer,) = resources(template, "AWS::ApiGateway::Authorizer").values()
    assert authorizer["Properties"]["AuthorizerResultTtlInSeconds"] == AUTHORIZER_CACHE_SECONDS
    calls: list[str] = []
    real = front.invoke
    monkeypatch.setattr(front, "invoke", lambda fn, event: (calls.append(fn), real(fn, event))[1])
    client = Client(front.LocalApiGateway())
    tokens = {practice: issue_hs256(TEST_SECRET, practice) for practice in ("prc_cache_a", "prc_cache_b")}
    for practice in ("prc_cache_a", "prc_cache_a", "prc_cache_a", "prc_cache_b"):
        headers = {"Authorization": f"Bearer {tokens[practice]}"}
        assert client.get("/invoices", headers=headers).status_code == 200
    assert calls.count("authorizer") == 2  # once per token
    assert client.get("/invoices", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/invoices", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert calls.count("authorizer") == 4  # a refusal is not cached


def _template_routes(template: dict) -> set[tuple[str, str, bool, str | None]]:
    """(method, path, authorized, function) of every API Gateway method; function None for a mock integration."""
    api_resources = resources(template, "AWS::ApiGateway::Resource")
    services = {
        name: fn["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"].removeprefix("practicepay-")
        for name, fn in resources(template, "AWS::Lambda::Function").items()
    }

    def path(resource_id: dict) -> str:
        if "Ref" not in resource_id:  # the API's root resource
            return ""
        props = api_resources[resource_id["Ref"]]["Properties"]
        return f"{path(props['ParentId'])}/{props['PathPart']}"

    routes = set()
    for method in resources(template, "AWS::ApiGateway::Method").values():
        props = method["Properties"]
        integration = props["Integration"]
        function = None
        if integration["Type"] == "AWS_PROXY":
            (arn,) = [p for p in integration["Uri"]["Fn::Join"][1] if isinstance(p, dict) and "Fn::GetAtt" in p]
            function = services[arn["Fn::GetAtt"][0]]
        routes.add((props["HttpMethod"], path(props["ResourceId"]), props["AuthorizationType"] != "NONE", function))
    return routes


def test_the_local_front_serves_the_templates_routes_and_its_pages_shadow_none(template):
    """Each method API Gateway has, the local front routes the same way (path, authorizer or none, function), GET
    /openapi.json included; its local-only pages (/docs and Swagger UI's files) take no path of the API's."""
    from local import docs
    from local.front import LocalApiGateway

    front = LocalApiGateway(extra=docs.routes())
    local = {
        (method, rule.rule.replace("<", "{").replace(">", "}"), rule.endpoint.authorized, rule.endpoint.function)
        for rule in front.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert local == _template_routes(template)
    assert ("GET", "/openapi.json", False, "docs") in local
    # The pay page: public in both (no authorizer runs), its asset route not taken by the `{secret}` route.
    pay = {(m, p, authorized) for m, p, authorized, fn in local if fn == "paypage"}
    assert pay == {
        ("GET", "/pay/assets/{asset}", False),
        ("GET", "/pay/{secret}", False),
        ("POST", "/pay/{secret}/identity", False),
        ("POST", "/pay/{secret}/payments", False),
        ("POST", "/pay/{secret}/plan", False),
        ("GET", "/pay/{secret}/receipts/{receipt_id}", False),
    }
    adapter = front.url_map.bind("localhost")
    assert adapter.match("/pay/assets/app.css", "GET")[0].path == "/pay/assets/{asset}"
    assert adapter.match("/pay/" + "a" * 32, "GET")[1] == {"secret": "a" * 32}
    shadowed = [(m, p) for m, p, _, _ in local if (p if m == "GET" else f"{m} {p}") in front.extra]
    assert shadowed == [], "a local page answers before the route (local.front: `extra` is looked up first)"
