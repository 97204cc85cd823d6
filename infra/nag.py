"""cdk-nag: the AwsSolutions and HIPAA.Security packs, and every acknowledgment with its reason.

Each acknowledgment is attached to the narrowest construct it concerns and names the finding's exact id
(including the granular resource or action where cdk-nag reports one)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from aws_cdk import Acknowledgment, App, Stack, Validations
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks
from constructs import IConstruct

if TYPE_CHECKING:
    from infra.api import ApiConstruct
    from infra.data import DataConstruct
    from infra.functions import PracticePayFunction
    from infra.messaging import MessagingConstruct


def attach_packs(app: App) -> None:
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), HIPAASecurityChecks(app))


def _ack(scope: IConstruct, rule: str, reason: str) -> None:
    Validations.of(scope).acknowledge(Acknowledgment(id=rule, reason=reason))


def acknowledge(
    stack: Stack,
    *,
    data: DataConstruct,
    api: ApiConstruct,
    messaging: MessagingConstruct,
    functions: Sequence[PracticePayFunction],
) -> None:
    xray = "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions"
    for fn in functions:
        reason = f"{xray}; the only * statement."
        if fn is messaging.messages and messaging.sends_texts:
            reason = (
                f"{xray}; and sns:Publish to a phone number (statement SendTexts: a text to a patient through the "
                "End User Messaging SMS origination number, ADR 0016), which has no ARN and no condition key to narrow "
                "it. The function publishes to no topic. The only two * statements."
            )
        _ack(fn.policy, "AwsSolutions-IAM5[Resource::*]", reason)
        log_group = stack.resolve(fn.log_group.log_group_arn)["Fn::GetAtt"][0]
        _ack(
            fn.policy,
            f"AwsSolutions-IAM5[Resource::<{log_group}.Arn>:log-stream:*]",
            "Lambda names its log streams at run time; the grant is limited to the function's own log group.",
        )
        _ack(
            fn.function,
            "HIPAA.Security::HIPAA.Security-LambdaInsideVPC",
            "The functions reach only AWS APIs (DynamoDB, KMS, Secrets Manager, SQS) over TLS with IAM auth and hold "
            "no network listeners; a VPC would add NAT/endpoint cost and cold-start latency without narrowing access. "
            "Revisit when a function must reach a private network.",
        )
    _ack(
        data.node.find_child("BackupPlan").node.find_child("Tables").node.find_child("Role"),
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup]",
        "AWS Backup's own service role policy, the documented way to let AWS Backup snapshot the tables.",
    )
    _ack(
        api.api.node.find_child("CloudWatchRole"),
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
        "The account-level role API Gateway needs to write execution and access logs; AWS's own service policy.",
    )
    if data.jwt_secret is not None:
        reason = (
            "The HS256 secret is shared with the clinical platform, so rotating it needs a coordinated roll-out; "
            "production deployments set jwt_jwks_url (the platform's RS256/ES256 keys) and this secret is not created."
        )
        _ack(data.jwt_secret, "AwsSolutions-SMG4", reason)
        _ack(data.jwt_secret, "HIPAA.Security::HIPAA.Security-SecretsManagerRotationEnabled", reason)
    splash_reason = (
        "The Payrix API key is issued by Payrix and rotated in their portal; a Lambda rotator cannot obtain a new "
        "one. Rotation is an operator runbook step (docs/adr/0004); the KMS key itself rotates yearly."
    )
    _ack(data.splash_secret, "AwsSolutions-SMG4", splash_reason)
    _ack(data.splash_secret, "HIPAA.Security::HIPAA.Security-SecretsManagerRotationEnabled", splash_reason)
    _ack(
        api.api.deployment_stage,
        "HIPAA.Security::HIPAA.Security-APIGWCacheEnabledAndEncrypted",
        "Responses are per-practice PHI that changes with every payment; caching them would serve stale or "
        "cross-request data, so the stage cache is off by design.",
    )
    for method in api.api.methods:
        _ack(
            method,
            "AwsSolutions-COG4",
            "Callers are the clinical platform's services with its own identity provider; a Lambda authorizer "
            "verifies its JWTs (practice-scoped) instead of a Cognito user pool.",
        )
        if method.resource.path == "/health":
            _ack(method, "AwsSolutions-APIG4", "Public liveness check: a mock integration that returns no data.")
        if method.resource.path == "/openapi.json":
            _ack(
                method,
                "AwsSolutions-APIG4",
                "Public API description: the docs function returns the OpenAPI document shipped in its asset (the "
                "routes and schemas, no data) and reads nothing else; its role has no table, key or secret access.",
            )
        if method.resource.path == "/pay" or method.resource.path.startswith("/pay/"):
            _ack(
                method,
                "AwsSolutions-APIG4",
                "The patient's pay page: a browser following a pay link has no JWT. The function authenticates each "
                "request itself: the link's 192-bit secret (kept only as a SHA-256), an identity answer (date of "
                "birth, or last name and ZIP) before anything is shown, then its own short-lived HttpOnly session "
                "cookie with a CSRF token; wrong answers lock the link and the address, and WAF rate-limits the "
                "identity form per address.",
            )
        if method.resource.path.startswith("/unsubscribe/"):
            _ack(
                method,
                "AwsSolutions-APIG4",
                "An email's unsubscribe link and RFC 8058 one-click unsubscribe (a mail client's POST): neither can "
                "carry a JWT. The token in the path is the authorization: 192 random bits, kept only as a SHA-256, "
                "which can do one thing (stop that patient's reminder emails) and answers only a confirmation page.",
            )
        if method.resource.path == "/dashboard" or method.resource.path.startswith("/dashboard/"):
            _ack(
                method,
                "AwsSolutions-APIG4",
                "The staff dashboard: HTML for a browser, which carries no bearer token. The function signs staff in "
                "itself (OpenID Connect authorization code with PKCE at the clinical platform's provider or the "
                "stack's Cognito pool, MFA required there), then keeps an HttpOnly, Secure, SameSite=Strict session "
                "cookie that ends after the idle limit, checks a CSRF token on every POST and the role's permission "
                "on every route (ADR 0018); the sign-in, callback and asset routes show no data.",
            )
        if method.resource.path == "/webhooks/splash":
            _ack(
                method,
                "AwsSolutions-APIG4",
                "Splash web alerts cannot carry a JWT or SigV4; the function authenticates the static header "
                "configured on the alert action (KMS-encrypted secret, constant-time compare) before reading the "
                "body, and only queues a hint: the record is fetched from Splash's API before anything changes.",
            )
