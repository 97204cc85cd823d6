"""PracticePayStack composes the constructs; settings come from CDK context (cdk.json or -c key=value)."""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack, Tags
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra import nag
from infra.alarms import AlarmsConstruct
from infra.api import ApiConstruct
from infra.billing import BillingConstruct
from infra.bundling import ARCHITECTURE, RUNTIME, layer_code
from infra.clinical import ClinicalConstruct
from infra.dashboard import DashboardConstruct, grant_search_key
from infra.data import DataConstruct
from infra.definitions import (
    AUTHORIZER,
    DATA_KEY_ENV,
    DOCS,
    EVENTS_TABLE,
    FUNCTION_DLQ,
    IDEMPOTENCY_TABLE,
    INVOICES,
    INVOICES_TABLE,
    JWT_SECRET_ENV,
    PATIENTS,
    PATIENTS_TABLE,
    PAY_LINKS_TABLE,
    PAY_PAGE_URL_ENV,
    PAYMENTS,
    PAYMENTS_TABLE,
    PAYPAGE,
    PRACTICES_TABLE,
    RECONCILIATION_QUEUE,
    SPLASH_CREDENTIALS_ENV,
    SPLASH_HOST_ENV,
)
from infra.functions import PracticePayFunction, table_access
from infra.funds import FundsConstruct
from infra.messaging import MessagingConstruct
from infra.settings import StackSettings
from infra.sync import SyncConstruct


class PracticePayStack(Stack):
    DOCS_MEMORY_MB = 128  # the least Lambda gives: one read of a file, once per execution environment
    DOCS_CONCURRENCY = 2  # a public route that serves one static document

    def __init__(self, scope: Construct, construct_id: str, *, settings: StackSettings, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        removal = RemovalPolicy.RETAIN if settings.retain_data else RemovalPolicy.DESTROY
        Tags.of(self).add("app", "practicepay")
        Tags.of(self).add("data-classification", "phi")

        data = DataConstruct(self, "Data", removal_policy=removal, jwt_secret=not settings.jwt_jwks_url)
        key = data.key
        invoices_table = data.tables[INVOICES_TABLE.logical_id]
        idempotency_table = data.tables[IDEMPOTENCY_TABLE.logical_id]
        dlq = data.queues[FUNCTION_DLQ.logical_id]

        layer = lambda_.LayerVersion(
            self,
            "SharedLayer",
            code=layer_code(),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="practicepay package and its third-party dependencies",
        )
        common = {
            "layer": layer,
            "key": key,
            "dead_letter_queue": dlq,
            "removal_policy": removal,
            "detailed_tracing": settings.detailed_tracing,
        }

        auth_env = {"JWT_ISSUER": settings.jwt_issuer, "JWT_AUDIENCE": settings.jwt_audience}
        auth_statements: list[iam.PolicyStatement] = []
        if data.jwt_secret is None:
            auth_env["JWT_JWKS_URL"] = str(settings.jwt_jwks_url)
        else:
            auth_env[JWT_SECRET_ENV] = data.jwt_secret.secret_arn
            auth_statements = [
                iam.PolicyStatement(
                    sid="ReadSigningSecret",
                    actions=["secretsmanager:GetSecretValue"],
                    resources=[data.jwt_secret.secret_arn],
                ),
                iam.PolicyStatement(
                    sid="DecryptSigningSecret",
                    actions=["kms:Decrypt"],
                    resources=[key.key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"secretsmanager.{self.region}.amazonaws.com"}},
                ),
            ]
            CfnOutput(self, "JwtSecretArn", value=data.jwt_secret.secret_arn).override_logical_id("JwtSecretArn")
        authorizer = PracticePayFunction(
            self,
            "AuthorizerFn",
            name=AUTHORIZER.name,
            description="Verifies the clinical platform's JWT; puts the practice id on the request",
            environment=auth_env,
            statements=auth_statements,
            reserved_concurrency=settings.authorizer_concurrency,
            **common,
        )

        tables = data.tables
        patients_table = tables[PATIENTS_TABLE.logical_id]
        payments_table = tables[PAYMENTS_TABLE.logical_id]
        practices_table = tables[PRACTICES_TABLE.logical_id]
        pay_links_table = tables[PAY_LINKS_TABLE.logical_id]
        reconciliation = data.queues[RECONCILIATION_QUEUE.logical_id]

        # The one data key: table and queue encryption, and the PHI envelope of the API functions.
        key_use = iam.PolicyStatement(
            sid="DataKey",
            actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
            resources=[key.key_arn],
        )
        data_statements = [
            table_access("Idempotency", idempotency_table, ["GetItem", "PutItem", "UpdateItem", "DeleteItem"]),
            key_use,
        ]
        splash_statements = [
            iam.PolicyStatement(
                sid="ReadSplashCredentials",
                actions=["secretsmanager:GetSecretValue"],
                resources=[data.splash_secret.secret_arn],
            ),
        ]
        data_env = {IDEMPOTENCY_TABLE.env_var: idempotency_table.table_name, DATA_KEY_ENV: key.key_arn}
        # One Splash call must end well inside the function's 25 s (API Gateway stops waiting at 29 s):
        # 3 s connect + 8 s read, twice, and no waiting out 429 blocks inside a request.
        splash_env = {
            SPLASH_HOST_ENV: settings.splash_host,
            SPLASH_CREDENTIALS_ENV: f"secretsmanager:{data.splash_secret.secret_arn}",
            "SPLASH_CONNECT_TIMEOUT": "3",
            "SPLASH_READ_TIMEOUT": "8",
            "SPLASH_MAX_ATTEMPTS": "2",
            "SPLASH_RATE_LIMIT_BUDGET": "0",
        }
        splash_timeout = Duration.seconds(25)

        invoices = PracticePayFunction(
            self,
            "InvoicesFn",
            name=INVOICES.name,
            description="Invoices API: create, get, list, issue, cancel, write off; the pay links staff send",
            environment={
                INVOICES_TABLE.env_var: invoices_table.table_name,
                PATIENTS_TABLE.env_var: patients_table.table_name,
                EVENTS_TABLE.env_var: tables[EVENTS_TABLE.logical_id].table_name,
                PAY_LINKS_TABLE.env_var: pay_links_table.table_name,
                PRACTICES_TABLE.env_var: practices_table.table_name,
                # Empty: the function builds a link from the URL the request came in on (its stage included).
                PAY_PAGE_URL_ENV: settings.pay_page_url or "",
                **data_env,
            },
            statements=[
                table_access("Invoices", invoices_table, ["GetItem", "PutItem", "Query"], "by_patient", "by_status"),
                # An invoice's patient must exist; a balance link reads the patient it is for.
                table_access("Patients", patients_table, ["GetItem", "ConditionCheckItem"]),
                table_access("Practices", practices_table, ["GetItem"]),  # link defaults, the balance_links setting
                # Make a link (with its event, in one transaction), list an invoice's, find one by id, revoke it.
                table_access(
                    "PayLinks", pay_links_table, ["GetItem", "PutItem", "UpdateItem", "Query"], "by_owner", "by_id"
                ),
                table_access("Events", tables[EVENTS_TABLE.logical_id], ["PutItem"]),
                *data_statements,
            ],
            reserved_concurrency=settings.api_function_concurrency,
            **common,
        )
        patients = PracticePayFunction(
            self,
            "PatientsFn",
            name=PATIENTS.name,
            description="Patients API: patients (PHI) and payment methods on file",
            environment={
                PATIENTS_TABLE.env_var: patients_table.table_name,
                PRACTICES_TABLE.env_var: practices_table.table_name,
                **data_env,
                **splash_env,
            },
            statements=[
                # DeleteItem: a renamed patient's blind-index terms it no longer has (in the patient's transaction)
                table_access(
                    "Patients",
                    patients_table,
                    ["GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query"],
                    "by_patient",
                ),
                table_access("Practices", practices_table, ["GetItem"]),
                *data_statements,
                *splash_statements,
            ],
            reserved_concurrency=settings.api_function_concurrency,
            timeout=splash_timeout,
            **common,
        )
        payment_env = {
            PAYMENTS_TABLE.env_var: payments_table.table_name,
            INVOICES_TABLE.env_var: invoices_table.table_name,
            PATIENTS_TABLE.env_var: patients_table.table_name,
            PRACTICES_TABLE.env_var: practices_table.table_name,
            EVENTS_TABLE.env_var: tables[EVENTS_TABLE.logical_id].table_name,
            RECONCILIATION_QUEUE.env_var: reconciliation.queue_url,
            **data_env,
            **splash_env,
        }
        payment_statements = [
            table_access(
                "Payments",
                payments_table,
                ["GetItem", "BatchGetItem", "PutItem", "UpdateItem", "Query"],  # UpdateItem: a key's first answer
                "by_invoice",
                "by_status",
            ),
            table_access("InvoicesAndLedger", invoices_table, ["GetItem", "BatchGetItem", "PutItem", "Query"]),
            table_access("PaymentMethods", patients_table, ["GetItem", "BatchGetItem"]),
            table_access("Practices", practices_table, ["GetItem"]),
            table_access("Events", tables[EVENTS_TABLE.logical_id], ["PutItem"]),
            iam.PolicyStatement(
                sid="QueueUnknownOutcomes", actions=["sqs:SendMessage"], resources=[reconciliation.queue_arn]
            ),
            *data_statements,
            *splash_statements,
        ]
        payments = PracticePayFunction(
            self,
            "PaymentsFn",
            name=PAYMENTS.name,
            description="Payments API: charge methods on file, refunds, reads",
            environment=payment_env,
            statements=payment_statements,
            reserved_concurrency=settings.api_function_concurrency,
            timeout=splash_timeout,
            **common,
        )
        billing = BillingConstruct(
            self,
            "Billing",
            tables=tables,
            queues=data.queues,
            key=key,
            key_use=key_use,
            payment_env=payment_env,
            payment_statements=payment_statements,
            concurrency=settings.api_function_concurrency,
            api_timeout=splash_timeout,
            common=common,
        )
        # The patient's pay page (public HTML: a link's secret, an identity check, its own session cookie). It pays
        # and makes plans as the plans API does, so it has the plans API's grants, plus its links, sessions and
        # per-address counters, and the patient's open invoices for a balance link.
        paypage = PracticePayFunction(
            self,
            "PayPageFn",
            name=PAYPAGE.name,
            description="The patient's pay page (HTML, no JWT): pay an invoice or a balance, or enroll in a plan",
            environment={**billing.env, PAY_LINKS_TABLE.env_var: pay_links_table.table_name},
            statements=[
                *billing.plans_statements,
                table_access("PayLinks", pay_links_table, ["GetItem", "PutItem", "UpdateItem"]),
                table_access("BalanceInvoices", invoices_table, ["Query"], "by_patient"),
                # the card or bank account the patient typed: kept as a method (verified, removed when not saved)
                table_access("PatientMethods", patients_table, ["PutItem", "UpdateItem"]),
            ],
            reserved_concurrency=settings.api_function_concurrency,
            timeout=splash_timeout,
            **common,
        )
        AlarmsConstruct(self, "Alarms", queues=data.queues, key=key)

        sync = SyncConstruct(
            self,
            "Sync",
            tables=tables,
            queues=data.queues,
            key=key,
            shared_statements=[key_use, *splash_statements],
            splash_env=splash_env,
            concurrency=settings.api_function_concurrency,
            common=common,
        )
        clinical = ClinicalConstruct(
            self,
            "Clinical",
            tables=tables,
            key=key,
            key_use=key_use,
            dead_letter_queue=dlq,
            splash_env=splash_env,
            splash_statements=splash_statements,
            splash_timeout=splash_timeout,
            platform_bus_name=settings.platform_event_bus,
            platform_source=settings.platform_event_source,
            concurrency=settings.api_function_concurrency,
            common=common,
        )
        messaging = MessagingConstruct(
            self,
            "Messaging",
            tables=tables,
            queues=data.queues,
            key=key,
            key_use=key_use,
            bus=clinical.bus,
            messages_from=settings.messages_from,
            sms_origination_number=settings.sms_origination_number,
            pay_page_url=settings.pay_page_url,
            concurrency=settings.api_function_concurrency,
            common=common,
        )
        funds = FundsConstruct(
            self,
            "Funds",
            tables=tables,
            data_env=data_env,
            data_statements=data_statements,
            splash_env=splash_env,
            splash_statements=splash_statements,
            concurrency=settings.api_function_concurrency,
            timeout=splash_timeout,
            common=common,
        )
        dashboard = DashboardConstruct(
            self,
            "Dashboard",
            tables=tables,
            queues=data.queues,
            billing_env=billing.env,
            data_statements=data_statements,
            splash_statements=splash_statements,
            fingerprint_key=messaging.fingerprint_key,
            oidc_issuer=settings.staff_oidc_issuer,
            oidc_client_id=settings.staff_oidc_client_id,
            role_claim=settings.staff_role_claim,
            practice_claim=settings.staff_practice_claim,
            idle_minutes=settings.staff_idle_minutes,
            auth_domain_prefix=settings.staff_auth_domain_prefix,
            dashboard_url=settings.dashboard_url,
            pay_page_url=settings.pay_page_url,
            concurrency=settings.api_function_concurrency,
            timeout=splash_timeout,
            common=common,
        )
        # GET /openapi.json: the committed, generated document ships in the function's asset (functions/docs/);
        # it reads nothing else, so its policy is the one every function has (its logs, traces, dead letters).
        docs = PracticePayFunction(
            self,
            "DocsFn",
            name=DOCS.name,
            description="Serves the API's OpenAPI document (GET /openapi.json, no authentication)",
            environment={},
            statements=[],
            reserved_concurrency=self.DOCS_CONCURRENCY,
            memory_mb=self.DOCS_MEMORY_MB,
            **common,
        )
        route_functions = {
            fn.name: fn.function
            for fn in (
                docs,
                invoices,
                patients,
                payments,
                sync.webhook,
                billing.plans,
                clinical.practices,
                clinical.encounters,
                clinical.reports,
                paypage,
                messaging.messaging,
                funds.disputes,
                dashboard.dashboard,
            )
        }
        api = ApiConstruct(
            self,
            "Api",
            key=key,
            authorizer_function=authorizer.function,
            route_functions=route_functions,
            removal_policy=removal,
        )
        messaging.link_to(api.api)
        dashboard.link_to(api.api)
        CfnOutput(self, "ApiUrl", value=api.api.url).override_logical_id("ApiUrl")
        CfnOutput(self, "SplashSecretArn", value=data.splash_secret.secret_arn).override_logical_id("SplashSecretArn")
        functions = [
            authorizer,
            docs,
            invoices,
            patients,
            payments,
            paypage,
            *sync.functions,
            *billing.functions,
            *clinical.functions,
            *messaging.functions,
            *funds.functions,
            *dashboard.functions,
        ]
        grant_search_key(dashboard.search_key, functions)
        nag.acknowledge(self, data=data, api=api, messaging=messaging, functions=functions)
