"""Issue #20 in the template: the staff and audit tables kept like the others (the audit trail never expires and no
role may change or remove an entry), the dashboard's public routes and its function, the search key's MAC granted
exactly to the functions that read it, staff sign-in through the stack's Cognito pool or, given
`staff_oidc_issuer`, through the clinical platform's provider, and no development sign-in in a deployed stack."""

from __future__ import annotations

import json

import pytest

from infra.definitions import (
    AUDIT_TABLE,
    DASHBOARD,
    DASHBOARD_ROUTES,
    FUNCTIONS,
    SEARCH_KEY_ALIAS,
    SEARCH_KEY_ENV,
    STAFF_DEV_SIGNIN_ENV,
    STAFF_TABLE,
)
from tests.infra.conftest import resources
from tests.infra.test_funds_stack import _dynamo, _grants
from tests.infra.test_stack import _function_of, _listed, _methods, _statements, _table_id

pytestmark = pytest.mark.infra

ISSUER = "https://idp.clinic.example/realms/staff"
OIDC_CONTEXT = {
    "staff_oidc_issuer": ISSUER,
    "staff_oidc_client_id": "practicepay-dashboard",
    "staff_role_claim": "roles",
    "dashboard_url": "https://billing.clinic.example",
    "staff_idle_minutes": "10",
}
WRITES = {"dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}


@pytest.fixture(scope="module")
def oidc_template(tmp_path_factory) -> dict:
    """The stack given the clinical platform's provider (both nag packs attached: an unacknowledged finding fails)."""
    from app import build_app

    outdir = tmp_path_factory.mktemp("cdk.out.oidc")
    app, _ = build_app(outdir=str(outdir), context={"aws:cdk:bundling-stacks": [], **OIDC_CONTEXT})
    return app.synth().get_stack_by_name("PracticePay").template


def _environments(template: dict) -> dict[str, dict]:
    """Function name → its environment variables."""
    out = {}
    for fn in resources(template, "AWS::Lambda::Function").values():
        variables = fn["Properties"].get("Environment", {}).get("Variables", {})
        if "POWERTOOLS_SERVICE_NAME" in variables:
            out[variables["POWERTOOLS_SERVICE_NAME"].removeprefix("practicepay-")] = variables
    return out


def _policies(template: dict) -> dict[str, list[dict]]:
    """Function name → its managed policy's statements."""
    prefix, suffix = "PracticePay ", " function: least privilege"
    return {
        p["Properties"]["Description"].removeprefix(prefix).removesuffix(suffix): p["Properties"]["PolicyDocument"][
            "Statement"
        ]
        for p in resources(template, "AWS::IAM::ManagedPolicy").values()
        if p["Properties"].get("Description", "").endswith(suffix)
    }


def _names(statement: dict, logical_id: str) -> bool:
    return any(logical_id in json.dumps(resource) for resource in _listed(statement["Resource"]))


@pytest.mark.parametrize("spec", [STAFF_TABLE, AUDIT_TABLE], ids=lambda t: t.logical_id)
def test_the_staff_and_audit_tables_are_encrypted_recoverable_and_retained(template, spec):
    table = template["Resources"][_table_id(template, spec)]
    props = table["Properties"]
    assert props["SSESpecification"]["SSEType"] == "KMS" and "Fn::GetAtt" in props["SSESpecification"]["KMSMasterKeyId"]
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["DeletionProtectionEnabled"] is True and table["DeletionPolicy"] == "Retain"


def test_sessions_expire_and_the_audit_trail_never_does(template):
    staff = template["Resources"][_table_id(template, STAFF_TABLE)]["Properties"]
    assert staff["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    audit = template["Resources"][_table_id(template, AUDIT_TABLE)]["Properties"]
    assert "TimeToLiveSpecification" not in audit
    assert {i["IndexName"] for i in audit["GlobalSecondaryIndexes"]} == {"by_invoice", "by_patient"}


def test_every_role_that_names_the_audit_table_may_only_append_to_it(template):
    audit = _table_id(template, AUDIT_TABLE)
    naming = {name: s for name, s in _policies(template).items() if any(_names(x, audit) for x in s)}
    assert set(naming) == {DASHBOARD.name}  # the one function that writes audited changes, for now
    for name, statements in naming.items():
        allowed = {a for s in statements if s["Effect"] == "Allow" and _names(s, audit) for a in _listed(s["Action"])}
        assert "dynamodb:PutItem" in allowed, name
        assert allowed <= _dynamo("PutItem", "GetItem", "Query"), name
        assert not any(a.endswith("*") for a in allowed), name
        (deny,) = [s for s in statements if s["Effect"] == "Deny"]
        assert set(_listed(deny["Action"])) == WRITES and _names(deny, audit)
        assert any("/index/*" in json.dumps(r) for r in _listed(deny["Resource"]))
    reads = [s for s in naming[DASHBOARD.name] if s["Effect"] == "Allow" and "dynamodb:Query" in _listed(s["Action"])]
    (read,) = [s for s in reads if _names(s, audit)]
    indexes = {r["Fn::Join"][1][-1] for r in _listed(read["Resource"]) if "Fn::Join" in r}
    assert indexes == {"/index/by_invoice", "/index/by_patient"}  # the trail per invoice and per patient


def test_the_dashboard_routes_are_public_and_reach_the_dashboard_function(template):
    methods = _methods(template)
    assert DASHBOARD_ROUTES
    for route in DASHBOARD_ROUTES:
        method = methods[(route.method, route.path)]
        assert method["AuthorizationType"] == "NONE" and "AuthorizerId" not in method, route
        assert _function_of(template, method) == DASHBOARD.name, route
    dashboard = [k for k, v in _environments(template).items() if k == DASHBOARD.name]
    assert dashboard  # one function, one API-scoped invoke permission (not two per route)
    (fn_id,) = [
        k
        for k, v in resources(template, "AWS::Lambda::Function").items()
        if v["Properties"]["Environment"]["Variables"].get("POWERTOOLS_SERVICE_NAME") == "practicepay-dashboard"
    ]
    permissions = [
        p["Properties"]
        for p in resources(template, "AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [fn_id, "Arn"]}
    ]
    assert len(permissions) == 1 and permissions[0]["Principal"] == "apigateway.amazonaws.com"


def test_the_dashboard_reads_its_definitions_environment_and_the_stacks_sign_in(template):
    env = _environments(template)[DASHBOARD.name]
    assert set(DASHBOARD.env) <= set(env)
    assert env["STAFF_IDLE_MINUTES"] == "15" and env["STAFF_ROLE_CLAIM"] == "cognito:groups"
    assert env["STAFF_PRACTICE_CLAIM"] == "custom:practice_id"
    (pool,) = resources(template, "AWS::Cognito::UserPool")
    (client,) = resources(template, "AWS::Cognito::UserPoolClient")
    issuer = env["STAFF_OIDC_ISSUER"]["Fn::Join"][1]
    assert issuer[0] == "https://cognito-idp." and {"Ref": pool} in issuer
    assert env["STAFF_OIDC_CLIENT_ID"] == {"Ref": client}
    assert json.dumps(env["DASHBOARD_URL"]).endswith('"/v1"]]}')  # the API's stage URL: no custom domain given


def test_without_an_issuer_the_stack_makes_a_cognito_pool_with_mfa_groups_and_a_pkce_client(template):
    (pool,) = resources(template, "AWS::Cognito::UserPool").values()
    props = pool["Properties"]
    assert props["MfaConfiguration"] == "ON" and props["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
    assert props["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert props["UsernameAttributes"] == ["email"]
    assert props["UserPoolTier"] == "PLUS" and props["UserPoolAddOns"] == {"AdvancedSecurityMode": "ENFORCED"}
    policy = props["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] >= 14 and all(
        policy[k] for k in ("RequireLowercase", "RequireUppercase", "RequireNumbers", "RequireSymbols")
    )
    (practice,) = [a for a in props["Schema"] if a["Name"] == "practice_id"]
    assert practice["Mutable"] is False and practice["AttributeDataType"] == "String"
    groups = {g["Properties"]["GroupName"] for g in resources(template, "AWS::Cognito::UserPoolGroup").values()}
    assert groups == {"front_desk", "billing", "admin"}
    (domain,) = resources(template, "AWS::Cognito::UserPoolDomain").values()
    assert domain["Properties"]["Domain"]["Fn::Join"][1][0] == "practicepay-staff-"
    (client,) = resources(template, "AWS::Cognito::UserPoolClient").values()
    c = client["Properties"]
    assert c["AllowedOAuthFlows"] == ["code"] and c["AllowedOAuthFlowsUserPoolClient"] is True
    assert c["GenerateSecret"] is False  # a public client: the code is bound to the dashboard's PKCE verifier
    assert c["ExplicitAuthFlows"] == ["ALLOW_REFRESH_TOKEN_AUTH"]  # no password or SRP sign-in past the hosted page
    assert sorted(c["AllowedOAuthScopes"]) == ["email", "openid", "profile"]
    assert c["SupportedIdentityProviders"] == ["COGNITO"]
    assert c["IdTokenValidity"] == 60 and c["TokenValidityUnits"]["IdToken"] == "minutes"
    assert c["RefreshTokenValidity"] == 60 and c["TokenValidityUnits"]["RefreshToken"] == "minutes"
    (callback,) = c["CallbackURLs"]
    (logout,) = c["LogoutURLs"]
    assert callback["Fn::Join"][1][-1] == "/v1/dashboard/callback"
    assert logout["Fn::Join"][1][-1] == "/v1/dashboard/signin"


def test_given_an_issuer_there_is_no_pool_and_the_dashboard_uses_the_platforms_provider(oidc_template):
    assert not [r for r in oidc_template["Resources"].values() if r["Type"].startswith("AWS::Cognito::")]
    env = _environments(oidc_template)[DASHBOARD.name]
    assert env["STAFF_OIDC_ISSUER"] == ISSUER and env["STAFF_OIDC_CLIENT_ID"] == "practicepay-dashboard"
    assert env["STAFF_ROLE_CLAIM"] == "roles" and "STAFF_PRACTICE_CLAIM" not in env  # unset: the function's default
    assert env["DASHBOARD_URL"] == "https://billing.clinic.example" and env["STAFF_IDLE_MINUTES"] == "10"


@pytest.mark.parametrize("which", ["cognito", "oidc"])
def test_no_deployed_function_offers_the_development_sign_in(template, oidc_template, which):
    environments = _environments(template if which == "cognito" else oidc_template)
    assert len(environments) == len(FUNCTIONS)
    assert [name for name, env in environments.items() if STAFF_DEV_SIGNIN_ENV in env] == []


def test_the_search_key_is_an_hmac_key_only_the_functions_that_read_it_may_use(template):
    keys = resources(template, "AWS::KMS::Key")
    (alias,) = [
        a["Properties"]
        for a in resources(template, "AWS::KMS::Alias").values()
        if a["Properties"]["AliasName"] == SEARCH_KEY_ALIAS
    ]
    search = alias["TargetKeyId"]["Fn::GetAtt"][0]
    assert keys[search]["Properties"]["KeySpec"] == "HMAC_256"
    assert keys[search]["Properties"]["KeyUsage"] == "GENERATE_VERIFY_MAC"
    assert keys[search]["DeletionPolicy"] == "Retain"  # the index cannot be searched without it
    readers = {spec.name for spec in FUNCTIONS if SEARCH_KEY_ENV in spec.env}
    assert DASHBOARD.name in readers
    arn = {"Fn::GetAtt": [search, "Arn"]}
    may_mac = {
        name
        for name, statements in _policies(template).items()
        for s in statements
        if s["Effect"] == "Allow" and "kms:GenerateMac" in _listed(s["Action"]) and arn in _listed(s["Resource"])
    }
    assert may_mac == readers
    has_env = {name for name, env in _environments(template).items() if env.get(SEARCH_KEY_ENV) == arn}
    assert has_env == readers
    for name, statements in _policies(template).items():  # nobody gets it through a wildcard
        for s in statements:
            if "*" in _listed(s["Resource"]):
                assert not any(a.startswith("kms:") for a in _listed(s["Action"])), name


def test_the_dashboard_is_granted_what_its_services_use_and_no_wildcard(template):
    statements = _statements(template, DASHBOARD.name)
    sids = [s["Sid"] for s in statements]
    assert len(sids) == len(set(sids))
    assert {"Idempotency", "DataKey", "ReadSplashCredentials", "QueueUnknownOutcomes", "StaffSessions"} <= set(sids)
    actions = [a for s in statements if s["Effect"] == "Allow" for a in _listed(s["Action"])]
    assert "dynamodb:Scan" not in actions and not any(a.endswith("*") for a in actions)
    assert [s["Sid"] for s in statements if "*" in _listed(s["Resource"])] == ["XRayTraces"]
    assert _grants(template, DASHBOARD.name, STAFF_TABLE) == {
        "table": _dynamo("GetItem", "PutItem", "UpdateItem", "DeleteItem")
    }


@pytest.mark.parametrize(
    ("context", "named"),
    [
        ({"staff_oidc_issuer": ISSUER}, "needs staff_oidc_client_id"),
        ({"staff_oidc_client_id": "x"}, "need staff_oidc_issuer"),
        ({"staff_oidc_issuer": "http://idp.example", "staff_oidc_client_id": "x"}, "context staff_oidc_issuer"),
        ({"staff_auth_domain_prefix": "my-aws-staff"}, "context staff_auth_domain_prefix"),
        ({"staff_auth_domain_prefix": "Staff"}, "context staff_auth_domain_prefix"),
        ({"staff_idle_minutes": "0"}, "context staff_idle_minutes"),
        ({"dashboard_url": "http://billing.example"}, "context dashboard_url"),
    ],
)
def test_a_bad_staff_sign_in_option_fails_the_synth(context, named):
    from infra.settings import StackSettings

    with pytest.raises(SystemExit, match=named):
        StackSettings.from_context(context)
