"""The deployed API serves its OpenAPI document: GET /openapi.json is a public method integrated with the docs
function, whose asset holds the committed document (and which is granted nothing beyond what every function has)."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import pytest

from tests.infra.conftest import resources

pytestmark = pytest.mark.infra
ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "functions" / "docs" / "openapi.json"
EVERY_FUNCTION = {"WriteOwnLogs", "XRayTraces", "DeadLetters", "DeadLetterEncryption"}
"""The statements infra.functions.PracticePayFunction gives every function (its logs, traces, dead letters)."""


def _docs_function(template: dict) -> tuple[str, dict]:
    ((name, fn),) = [
        (k, v) for k, v in resources(template, "AWS::Lambda::Function").items() if k.startswith("DocsFnFunction")
    ]
    return name, fn["Properties"]


def _method(template: dict, path_part: str, http_method: str) -> dict:
    (resource,) = [
        k
        for k, v in resources(template, "AWS::ApiGateway::Resource").items()
        if v["Properties"]["PathPart"] == path_part and "RootResourceId" in json.dumps(v["Properties"]["ParentId"])
    ]
    (method,) = [
        v["Properties"]
        for v in resources(template, "AWS::ApiGateway::Method").values()
        if v["Properties"]["ResourceId"] == {"Ref": resource} and v["Properties"]["HttpMethod"] == http_method
    ]
    return method


def test_get_openapi_json_is_a_public_method_proxied_to_the_docs_function(template):
    docs, _ = _docs_function(template)
    method = _method(template, "openapi.json", "GET")
    assert method["AuthorizationType"] == "NONE" and "AuthorizerId" not in method
    integration = method["Integration"]
    assert integration["Type"] == "AWS_PROXY" and integration["IntegrationHttpMethod"] == "POST"
    assert {"Fn::GetAtt": [docs, "Arn"]} in integration["Uri"]["Fn::Join"][1]
    permissions = [
        p["Properties"]
        for p in resources(template, "AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [docs, "Arn"]}
    ]
    assert permissions and all(p["Principal"] == "apigateway.amazonaws.com" for p in permissions)
    assert any("/GET/openapi.json" in json.dumps(p["SourceArn"]) for p in permissions)


def test_the_docs_function_is_small_and_granted_only_what_every_function_has(template):
    docs, props = _docs_function(template)
    assert props["MemorySize"] == 128
    assert set(props["Environment"]["Variables"]) == {
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "POWERTOOLS_LOG_LEVEL",
        "PRACTICEPAY_DETAILED_TRACING",
    }  # no table, queue, key or secret to name
    (policy,) = [
        p["Properties"]["PolicyDocument"]
        for k, p in resources(template, "AWS::IAM::ManagedPolicy").items()
        if k.startswith("DocsFnPolicy")
    ]
    assert {s["Sid"] for s in policy["Statement"]} == EVERY_FUNCTION


def _docs_asset(synth: dict) -> Path:
    _, props = _docs_function(synth["template"])
    key = props["Code"]["S3Key"]
    manifest = json.loads((synth["outdir"] / "PracticePay.assets.json").read_text())
    (source,) = [f["source"] for f in manifest["files"].values() if key in json.dumps(f["destinations"])]
    assert source["packaging"] == "zip"
    return synth["outdir"] / source["path"]


def test_the_docs_function_asset_holds_the_committed_document(synth):
    asset = _docs_asset(synth)
    document = asset / "openapi.json"
    assert not document.is_symlink() and document.read_bytes() == DOC.read_bytes()
    assert json.loads(document.read_text())["paths"]["/openapi.json"]["get"]["security"] == []
    assert sorted(p.name for p in asset.iterdir()) == ["handler.py", "openapi.json"]


def test_the_staged_handler_answers_the_document_beside_it(synth):
    """The asset as Lambda unzips it: its handler, given API Gateway's event for GET /openapi.json, answers the
    document it ships with (read from its own folder, nothing generated), as JSON with a Cache-Control."""
    from local.front import LambdaContext

    asset = _docs_asset(synth)
    spec = importlib.util.spec_from_file_location("practicepay_docs_asset", asset / "handler.py")
    assert spec and spec.loader
    handler = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(handler)
    event = copy.deepcopy(json.loads((ROOT / "events" / "invoices_get.json").read_text()))
    event.update(resource="/openapi.json", path="/openapi.json", pathParameters=None, headers={}, multiValueHeaders={})
    event["requestContext"].update(resourcePath="/openapi.json", path="/v1/openapi.json")
    event["requestContext"].pop("authorizer", None)
    answer = handler.lambda_handler(event, LambdaContext("docs"))
    assert answer["statusCode"] == 200, answer
    headers = {**answer.get("headers", {}), **{k: v[-1] for k, v in answer.get("multiValueHeaders", {}).items()}}
    assert headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"] == "public, max-age=300"
    assert answer["body"] == (asset / "openapi.json").read_text()
