"""The staff dashboard (issue #20, ADR 0018): its function, the KMS HMAC key of the patients' search index, the audit
trail's append-only grant and, for a practice without an identity provider of its own, the Cognito user pool staff
sign in with.

The staff and audit tables are made with the others (infra/data.py, from infra.definitions.TABLES). The role is
immutable (infra/functions.py): its managed policy names exactly the tables and indexes the services it calls in
process use (the same services the JSON API's functions run)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.api import stage_url
from infra.definitions import (
    AUDIT_TABLE,
    DASHBOARD,
    DASHBOARD_URL_ENV,
    EVENTS_TABLE,
    FINGERPRINT_KEY_ENV,
    FUNCTIONS,
    FUNDS_TABLE,
    INVOICES_TABLE,
    MESSAGES_TABLE,
    PATIENTS_TABLE,
    PAY_LINKS_TABLE,
    PAY_PAGE_URL_ENV,
    PAYMENTS_TABLE,
    PRACTICES_TABLE,
    RECONCILIATION_QUEUE,
    SCHEDULES_TABLE,
    SEARCH_KEY_ALIAS,
    SEARCH_KEY_ENV,
    STAFF_IDLE_MINUTES_ENV,
    STAFF_OIDC_CLIENT_ID_ENV,
    STAFF_OIDC_ISSUER_ENV,
    STAFF_PRACTICE_CLAIM_ENV,
    STAFF_ROLE_CLAIM_ENV,
    STAFF_TABLE,
)
from infra.functions import PracticePayFunction, table_access
from practicepay.staff.roles import Role

PRACTICE_ATTRIBUTE = "practice_id"
"""The Cognito pool's custom attribute naming a user's practice (its ID token claim: custom:practice_id)."""
COGNITO_ROLE_CLAIM = "cognito:groups"
CALLBACK_PATH = "/dashboard/callback"
SIGNIN_PATH = "/dashboard/signin"
TOKEN_VALIDITY = Duration.hours(1)
"""The ID token is read once, at the callback; the dashboard's own session cookie (idle limit) takes over."""
REFRESH_VALIDITY = Duration.minutes(60)  # Cognito's least; the dashboard never asks for a refresh token


def audit_trail_access(audit: dynamodb.ITable, *, reads: bool) -> list[iam.PolicyStatement]:
    """What a function that writes the audit trail may do with it: PutItem (an entry, alone or in the transaction of
    the change it records) and, for the dashboard that shows the trail, GetItem and Query on it and its indexes.
    An explicit Deny of every way to change or remove an entry keeps the trail append-only whatever else the role
    is ever granted (TTL is off on the table: infra.definitions.AUDIT_TABLE)."""
    indexes = [index.name for index in AUDIT_TABLE.indexes] if reads else []
    statements = [table_access("AuditAppend", audit, ["PutItem"])]
    if reads:
        statements.append(table_access("AuditRead", audit, ["GetItem", "Query"], *indexes))
    statements.append(
        iam.PolicyStatement(
            sid="AuditAppendOnly",
            effect=iam.Effect.DENY,
            actions=["dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"],
            resources=[audit.table_arn, f"{audit.table_arn}/index/*"],
        )
    )
    return statements


def grant_search_key(key: kms.IKey, functions: Iterable[PracticePayFunction]) -> None:
    """Each function whose FunctionDef reads SEARCH_KEY_ENV gets the key's ARN and kms:GenerateMac on it (the blind
    index of patient names and birth dates is a MAC per practice), and no other function does."""
    readers = {spec.name for spec in FUNCTIONS if SEARCH_KEY_ENV in spec.env}
    for fn in functions:
        if fn.name in readers:
            fn.function.add_environment(SEARCH_KEY_ENV, key.key_arn)
            fn.policy.add_statements(
                iam.PolicyStatement(sid="SearchIndexMac", actions=["kms:GenerateMac"], resources=[key.key_arn])
            )


class DashboardConstruct(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tables: Mapping[str, dynamodb.ITable],
        queues: Mapping[str, sqs.IQueue],
        billing_env: dict[str, str],
        data_statements: Sequence[iam.PolicyStatement],  # the idempotency table and the data key
        splash_statements: Sequence[iam.PolicyStatement],
        fingerprint_key: kms.IKey,
        oidc_issuer: str | None,
        oidc_client_id: str | None,
        role_claim: str | None,
        practice_claim: str | None,
        idle_minutes: int,
        auth_domain_prefix: str | None,
        dashboard_url: str | None,
        pay_page_url: str | None,
        concurrency: int,
        timeout: Duration,
        common: dict[str, Any],
    ) -> None:
        super().__init__(scope, construct_id)
        invoices, patients = tables[INVOICES_TABLE.logical_id], tables[PATIENTS_TABLE.logical_id]
        payments, practices = tables[PAYMENTS_TABLE.logical_id], tables[PRACTICES_TABLE.logical_id]
        schedules, pay_links = tables[SCHEDULES_TABLE.logical_id], tables[PAY_LINKS_TABLE.logical_id]
        funds, messages = tables[FUNDS_TABLE.logical_id], tables[MESSAGES_TABLE.logical_id]
        staff, audit = tables[STAFF_TABLE.logical_id], tables[AUDIT_TABLE.logical_id]
        events = tables[EVENTS_TABLE.logical_id]
        reconciliation = queues[RECONCILIATION_QUEUE.logical_id]
        self._dashboard_url = dashboard_url
        self._auth_domain_prefix = auth_domain_prefix
        self._removal_policy: RemovalPolicy = common["removal_policy"]

        # As the fingerprint key (infra/messaging.py): an HMAC key cannot rotate (a new key is a re-indexed table).
        self.search_key = kms.Key(
            self,
            "SearchKey",
            alias=SEARCH_KEY_ALIAS,
            description="PracticePay: HMAC-SHA-256 blind index of patient names and birth dates (staff search)",
            key_spec=kms.KeySpec.HMAC_256,
            key_usage=kms.KeyUsage.GENERATE_VERIFY_MAC,
            removal_policy=RemovalPolicy.RETAIN,  # the index is unsearchable without it
        )

        environment = {
            **billing_env,
            PAY_LINKS_TABLE.env_var: pay_links.table_name,
            FUNDS_TABLE.env_var: funds.table_name,
            MESSAGES_TABLE.env_var: messages.table_name,
            STAFF_TABLE.env_var: staff.table_name,
            AUDIT_TABLE.env_var: audit.table_name,
            FINGERPRINT_KEY_ENV: fingerprint_key.key_arn,
            PAY_PAGE_URL_ENV: pay_page_url or "",  # empty: links from the URL the staff request came in on
            STAFF_IDLE_MINUTES_ENV: str(idle_minutes),
        }
        if oidc_issuer:
            environment[STAFF_OIDC_ISSUER_ENV] = oidc_issuer
            environment[STAFF_OIDC_CLIENT_ID_ENV] = str(oidc_client_id)
            # unset: the function's defaults (practicepay.config.DashboardConfig)
            environment |= {
                k: v for k, v in ((STAFF_ROLE_CLAIM_ENV, role_claim), (STAFF_PRACTICE_CLAIM_ENV, practice_claim)) if v
            }
        self.dashboard = PracticePayFunction(
            self,
            "DashboardFn",
            name=DASHBOARD.name,
            description="Staff dashboard (HTML, its own OIDC sign-in): today, patients, invoices, reports, audit",
            environment=environment,
            statements=[
                # desk payments and refunds; an invoice's payments; today's by channel; outcomes still unknown
                table_access(
                    "DeskPayments",
                    payments,
                    ["GetItem", "BatchGetItem", "PutItem", "UpdateItem", "Query"],
                    "by_invoice",
                    "by_status",
                    "open",
                ),
                # an invoice, its ledger, a patient's invoices; write-off, cancel, a plan's in_progress; the aging
                table_access(
                    "InvoicesLedger",
                    invoices,
                    ["GetItem", "BatchGetItem", "PutItem", "Query"],
                    "by_patient",
                    "by_status",
                    "receivables",
                ),
                # a patient and its methods; the desk card kept for one payment (then removed); a stopped card blocked
                table_access(
                    "PatientsAndMethods",
                    patients,
                    ["GetItem", "BatchGetItem", "PutItem", "UpdateItem", "Query"],
                    "by_patient",
                ),
                table_access("PracticeSettings", practices, ["GetItem", "UpdateItem"]),
                table_access("PlansAndAutopay", schedules, ["GetItem", "PutItem", "Query"], "due"),
                table_access(
                    "SendPayLinks", pay_links, ["GetItem", "PutItem", "UpdateItem", "Query"], "by_owner", "by_id"
                ),
                # disputes (accept) by invoice and by reply date; deposits by date with their lines; settlements
                table_access(
                    "DisputesAndDeposits",
                    funds,
                    ["GetItem", "BatchGetItem", "PutItem", "UpdateItem", "Query"],
                    "by_invoice",
                    "by_date",
                ),
                table_access("MessagesSent", messages, ["GetItem", "Query"], "by_patient", "by_invoice"),
                table_access(
                    "DomainEvents", events, ["PutItem", "Query"]
                ),  # locked pay links (Today) read recent events
                table_access("StaffSessions", staff, ["GetItem", "PutItem", "UpdateItem", "DeleteItem"]),
                *audit_trail_access(audit, reads=True),
                iam.PolicyStatement(
                    sid="FingerprintOptOuts", actions=["kms:GenerateMac"], resources=[fingerprint_key.key_arn]
                ),
                iam.PolicyStatement(
                    sid="QueueUnknownOutcomes", actions=["sqs:SendMessage"], resources=[reconciliation.queue_arn]
                ),
                *data_statements,
                *splash_statements,
            ],
            reserved_concurrency=concurrency,
            timeout=timeout,
            **common,
        )
        self.user_pool: cognito.UserPool | None = None
        self.client: cognito.UserPoolClient | None = None
        if not oidc_issuer:
            self.user_pool = self._user_pool()

    def _user_pool(self) -> cognito.UserPool:
        """Staff accounts for a practice without an identity provider: made by an administrator only, email
        sign-in, TOTP MFA required, Cognito's Plus plan threat protection (compromised credentials, risky sign-ins)
        enforced; each user is in one group (the role) and has the immutable practice_id attribute."""
        retain = self._removal_policy == RemovalPolicy.RETAIN
        pool = cognito.UserPool(
            self,
            "StaffUserPool",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True),
            sign_in_case_sensitive=False,
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            standard_attributes=cognito.StandardAttributes(
                email=cognito.StandardAttribute(required=True, mutable=True)
            ),
            custom_attributes={PRACTICE_ATTRIBUTE: cognito.StringAttribute(min_len=1, max_len=64, mutable=False)},
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            password_policy=cognito.PasswordPolicy(
                min_length=14,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                password_history_size=12,
                temp_password_validity=Duration.days(3),
            ),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            feature_plan=cognito.FeaturePlan.PLUS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION,
            deletion_protection=retain,
            removal_policy=self._removal_policy,
        )
        for role in Role:
            cognito.UserPoolGroup(
                self,
                f"Group{role.value.title().replace('_', '')}",
                user_pool=pool,
                group_name=role.value,
                description=f"PracticePay dashboard: {role.label}",
            )
        return pool

    def link_to(self, api: apigw.RestApi) -> None:
        """The dashboard's base URL (the custom domain, else the API's stage URL) and, with the Cognito pool, its
        hosted sign-in domain and the app client whose redirect URIs are under that base. Set after the API exists:
        the client and the function's environment name the API's id and stage, never its deployment, so the
        function the API's methods integrate with makes no cycle."""
        base = self._dashboard_url or stage_url(api)
        fn = self.dashboard.function
        fn.add_environment(DASHBOARD_URL_ENV, base)
        if self.user_pool is None:
            return
        stack = Stack.of(self)
        self.domain = self.user_pool.add_domain(
            "HostedSignIn",
            cognito_domain=cognito.CognitoDomainOptions(
                domain_prefix=self._auth_domain_prefix or f"{stack.stack_name.lower()}-staff-{stack.account}"
            ),
        )
        self.client = self.user_pool.add_client(
            "DashboardClient",
            generate_secret=False,  # a public client: PKCE (the dashboard always sends an S256 challenge)
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, cognito.OAuthScope.PROFILE],
                callback_urls=[f"{base}{CALLBACK_PATH}"],
                logout_urls=[f"{base}{SIGNIN_PATH}"],
            ),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
            id_token_validity=TOKEN_VALIDITY,
            access_token_validity=TOKEN_VALIDITY,
            refresh_token_validity=REFRESH_VALIDITY,
            write_attributes=cognito.ClientAttributes().with_standard_attributes(email=True),
        )
        # No password or SRP sign-in through Cognito's API (which would skip the hosted page): CDK leaves the
        # property out when no flow is chosen, and Cognito then allows SRP and custom auth by default.
        self.client.node.default_child.explicit_auth_flows = ["ALLOW_REFRESH_TOKEN_AUTH"]
        # The ID token's `iss`. Not the pool's ProviderURL attribute: that one has no https:// in front.
        issuer = f"https://cognito-idp.{stack.region}.{stack.url_suffix}/{self.user_pool.user_pool_id}"
        fn.add_environment(STAFF_OIDC_ISSUER_ENV, issuer)
        fn.add_environment(STAFF_OIDC_CLIENT_ID_ENV, self.client.user_pool_client_id)
        fn.add_environment(STAFF_ROLE_CLAIM_ENV, COGNITO_ROLE_CLAIM)
        fn.add_environment(STAFF_PRACTICE_CLAIM_ENV, f"custom:{PRACTICE_ATTRIBUTE}")

    @property
    def functions(self) -> list[PracticePayFunction]:
        return [self.dashboard]
