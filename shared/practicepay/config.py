"""One pydantic settings model per function, read from the environment once (cold start) and cached.

Logic never reads os.environ; handlers call `load(ModelClass)`.
"""

from __future__ import annotations

import os
from functools import cache
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

from practicepay.auth import ROLE_CLAIM

_KMS_ARN = r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$"


class _Env(BaseModel):
    # defer_build: a function validates one or two of these models; each is built the first time it is loaded.
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True, defer_build=True)


class AuthorizerConfig(_Env):
    jwt_secret_id: str | None = Field(default=None, alias="JWT_SECRET_ID", min_length=1)
    """Secrets Manager id of the HS256 signing secret (local stack, or a shared-secret deployment)."""
    jwt_jwks_url: HttpUrl | None = Field(default=None, alias="JWT_JWKS_URL")
    """The clinical platform's JWKS endpoint; when set, tokens are verified with its RS256/ES256 keys."""
    jwt_issuer: str = Field(default="practicepay-local", alias="JWT_ISSUER", min_length=1)
    jwt_audience: str = Field(default="practicepay", alias="JWT_AUDIENCE", min_length=1)
    secret_max_age_seconds: int = Field(default=300, alias="JWT_SECRET_MAX_AGE", ge=0, le=3600)
    jwt_role_claim: str = Field(default=ROLE_CLAIM, alias="JWT_ROLE_CLAIM", min_length=1)
    """The claim naming a staff token's role (a string, or a list such as Cognito's `cognito:groups`)."""

    def model_post_init(self, _context: object) -> None:
        if (self.jwt_secret_id is None) == (self.jwt_jwks_url is None):
            raise ValueError("set exactly one of JWT_SECRET_ID (HS256) or JWT_JWKS_URL (RS256/ES256)")


class _DataConfig(_Env):
    idempotency_table: str = Field(alias="IDEMPOTENCY_TABLE", min_length=3)
    data_key_arn: str = Field(alias="DATA_KEY_ARN", pattern=_KMS_ARN)
    idempotency_ttl_seconds: int = Field(default=24 * 3600, alias="IDEMPOTENCY_TTL_SECONDS", ge=60)


class InvoicesConfig(_DataConfig):
    invoices_table: str = Field(alias="INVOICES_TABLE", min_length=3)
    patients_table: str = Field(alias="PATIENTS_TABLE", min_length=3)
    """Only to check, when an invoice is created, that its patient exists (no read of the patient's PHI)."""
    events_table: str = Field(alias="EVENTS_TABLE", min_length=3)
    """invoice.issued goes to the outbox in the same transaction as the issued invoice."""
    pay_links_table: str = Field(alias="PAY_LINKS_TABLE", min_length=3)
    practices_table: str = Field(alias="PRACTICES_TABLE", min_length=3)
    """A pay link's defaults (lifetime, uses) are the practice's settings."""
    pay_page_url: str | None = Field(
        default=None, alias="PAY_PAGE_URL", pattern=r"^(https://[A-Za-z0-9.:/_-]{4,200})?$"
    )
    """The pay page's public base URL (a custom domain); unset or empty: the API's own URL."""


class EncountersConfig(_Env):
    invoices_table: str = Field(alias="INVOICES_TABLE", min_length=3)
    patients_table: str = Field(alias="PATIENTS_TABLE", min_length=3)
    practices_table: str = Field(alias="PRACTICES_TABLE", min_length=3)
    events_table: str = Field(alias="EVENTS_TABLE", min_length=3)
    data_key_arn: str = Field(alias="DATA_KEY_ARN", pattern=_KMS_ARN)


class ReportsConfig(_Env):
    """The reports function reads three tables and writes nothing (no idempotency table, no data key: no PHI)."""

    invoices_table: str = Field(alias="INVOICES_TABLE", min_length=3)
    """The `receivables` index only."""
    payments_table: str = Field(alias="PAYMENTS_TABLE", min_length=3)
    patients_table: str = Field(alias="PATIENTS_TABLE", min_length=3)
    """Payment methods' kind, brand and last4 only (never a patient's sealed PHI)."""
    funds_table: str = Field(alias="FUNDS_TABLE", min_length=3)
    """Deposits and each payment's settlement (its deposit and fees)."""
    practices_table: str = Field(alias="PRACTICES_TABLE", min_length=3)
    """The practice's name, for a deposit's FHIR PaymentReconciliation."""


class PublisherConfig(_Env):
    event_bus_name: str = Field(alias="EVENT_BUS_NAME", min_length=1)


class PracticesConfig(_Env):
    practices_table: str = Field(alias="PRACTICES_TABLE", min_length=3)


class PatientsConfig(_DataConfig):
    patients_table: str = Field(alias="PATIENTS_TABLE", min_length=3)
    practices_table: str = Field(alias="PRACTICES_TABLE", min_length=3)
    search_key_arn: str = Field(alias="SEARCH_KEY_ARN", pattern=_KMS_ARN)
    """The KMS HMAC key of the patients' blind index (name and birth-date search, ADR 0018)."""


class MoneyTables(_Env):
    """The tables money moves through (payments.book.PaymentBook), and where its methods and practices live."""

    payments_table: str = Field(alias="PAYMENTS_TABLE", min_length=3)
    invoices_table: str = Field(alias="INVOICES_TABLE", min_length=3)
    patients_table: str = Field(alias="PATIENTS_TABLE", min_length=3)
    practices_table: str = Field(alias="PRACTICES_TABLE", min_length=3)
    events_table: str = Field(alias="EVENTS_TABLE", min_length=3)
    schedules_table: str | None = Field(default=None, alias="SCHEDULES_TABLE", min_length=3)
    """Plans' and memberships' installments, moved with their payments; the functions that never write an
    installment's payment (the payments API) leave it unset."""


class PaymentsConfig(_DataConfig, MoneyTables):
    reconciliation_queue_url: str = Field(alias="RECONCILIATION_QUEUE_URL", min_length=10)


class BillingConfig(PaymentsConfig):
    """The plans API and the charge worker: payments, plus the plans' and memberships' schedules."""

    schedules_table: str = Field(alias="SCHEDULES_TABLE", min_length=3)


class PayPageConfig(BillingConfig):
    """The pay page: what a payment and a plan need, plus pay links and page sessions."""

    pay_links_table: str = Field(alias="PAY_LINKS_TABLE", min_length=3)


class BillingRunConfig(_Env):
    """The daily run: what is due (the schedules' indexes), its notices (events) and the charge queue."""

    schedules_table: str = Field(alias="SCHEDULES_TABLE", min_length=3)
    events_table: str = Field(alias="EVENTS_TABLE", min_length=3)
    charge_queue_url: str = Field(alias="CHARGE_QUEUE_URL", min_length=10)
    patients_table: str | None = Field(default=None, alias="PATIENTS_TABLE", min_length=3)
    """Stored cards: one expiring before its next autopay charge is flagged (payment_method.expiring)."""


class DisputesConfig(_DataConfig, MoneyTables):
    """The disputes API: reads disputes, builds the evidence packet (invoice lines: the data key; messages sent) and
    answers Splash."""

    funds_table: str = Field(alias="FUNDS_TABLE", min_length=3)
    messages_table: str = Field(alias="MESSAGES_TABLE", min_length=3)


class MessagingConfig(_Env):
    """Staff's view of patient messages and preferences, and the unsubscribe page (the messaging function)."""

    messages_table: str = Field(alias="MESSAGES_TABLE", min_length=3)
    invoices_table: str = Field(alias="INVOICES_TABLE", min_length=3)
    patients_table: str = Field(alias="PATIENTS_TABLE", min_length=3)
    practices_table: str = Field(alias="PRACTICES_TABLE", min_length=3)
    schedules_table: str = Field(alias="SCHEDULES_TABLE", min_length=3)
    pay_links_table: str = Field(alias="PAY_LINKS_TABLE", min_length=3)
    events_table: str = Field(alias="EVENTS_TABLE", min_length=3)
    data_key_arn: str = Field(alias="DATA_KEY_ARN", pattern=_KMS_ARN)
    fingerprint_key_arn: str = Field(alias="FINGERPRINT_KEY_ARN", pattern=_KMS_ARN)


class MessagesConfig(MessagingConfig):
    """The messages function: what a message is made of, and where it goes."""

    public_base_url: str = Field(alias="PUBLIC_BASE_URL", pattern=r"^https?://[A-Za-z0-9.:/_-]{4,200}$")
    """The API's public URL: the unsubscribe page, and pay links unless PAY_PAGE_URL is set."""
    pay_page_url: str | None = Field(
        default=None, alias="PAY_PAGE_URL", pattern=r"^(https://[A-Za-z0-9.:/_-]{4,200})?$"
    )
    messages_from: str | None = Field(
        default=None, alias="MESSAGES_FROM", pattern=r"^([^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+)?$"
    )
    """The SES-verified sender address; empty: no email is sent (messages are recorded as suppressed)."""
    ses_configuration_set: str | None = Field(default=None, alias="SES_CONFIGURATION_SET", max_length=64)
    sms_origination_number: str | None = Field(
        default=None, alias="SMS_ORIGINATION_NUMBER", pattern=r"^(\+[0-9]{10,15})?$"
    )
    """The 10DLC or toll-free number texts come from; empty: no text is sent."""


class WebhookConfig(_Env):
    sync_table: str = Field(alias="SYNC_TABLE", min_length=3)
    alerts_queue_url: str = Field(alias="ALERTS_QUEUE_URL", min_length=10)


class SyncConfig(MoneyTables):
    """The alert processor, the status poll and the reconciler."""

    sync_table: str = Field(alias="SYNC_TABLE", min_length=3)
    funds_table: str = Field(alias="FUNDS_TABLE", min_length=3)
    """Disputes (chargebacks), deposits (disbursements) and the fee ledger (issue #19)."""
    reconcile_grace_seconds: int = Field(default=600, alias="RECONCILE_GRACE_SECONDS", ge=1, le=86400)
    """How long a payment may stay unknown with no txn at Splash before it is failed as not submitted."""
    poll_overlap_seconds: int = Field(default=600, alias="POLL_OVERLAP_SECONDS", ge=0, le=86400)
    poll_lookback_seconds: int = Field(default=86400, alias="POLL_LOOKBACK_SECONDS", ge=60, le=30 * 86400)
    splash_timezone: str = Field(default="America/New_York", alias="SPLASH_TIMEZONE", pattern=r"^[\w/+-]{1,64}$")
    """The IANA zone of Splash's wall-clock `created`/`modified` stamps (Payrix: US-Eastern)."""


class SplashConfig(_Env):
    splash_host: str = Field(default="payrix-sandbox", alias="SPLASH_HOST", min_length=3)
    """A name from practicepay.splash.client.HOSTS or a full URL (white-label host, the local sandbox)."""
    splash_credentials: str = Field(
        alias="SPLASH_CREDENTIALS", pattern=r"^(secretsmanager|ssm):[A-Za-z0-9/_+=.@:-]{1,512}$"
    )
    """Where the API key and webhook header live: `secretsmanager:<secret id>` or `ssm:<SecureString name>`, a
    JSON object {"api_key", "webhook_header_name", "webhook_header_value"} encrypted with KMS."""
    splash_credentials_max_age: int = Field(default=300, alias="SPLASH_CREDENTIALS_MAX_AGE", ge=0, le=3600)
    splash_connect_timeout: float = Field(default=3.05, alias="SPLASH_CONNECT_TIMEOUT", gt=0, le=30)
    splash_read_timeout: float = Field(default=10.0, alias="SPLASH_READ_TIMEOUT", gt=0, le=60)
    splash_max_attempts: int = Field(default=3, alias="SPLASH_MAX_ATTEMPTS", ge=1, le=6)
    splash_rate_limit_budget: float = Field(default=10.0, alias="SPLASH_RATE_LIMIT_BUDGET", ge=0, le=60)


class DashboardConfig(PayPageConfig):
    """The staff dashboard (ADR 0018): the services it shows and acts through read their own config from the same
    environment; these are its own."""

    staff_table: str = Field(alias="STAFF_TABLE", min_length=3)
    audit_table: str = Field(alias="AUDIT_TABLE", min_length=3)
    search_key_arn: str = Field(alias="SEARCH_KEY_ARN", pattern=_KMS_ARN)
    funds_table: str = Field(alias="FUNDS_TABLE", min_length=3)
    messages_table: str = Field(alias="MESSAGES_TABLE", min_length=3)
    staff_oidc_issuer: HttpUrl | None = Field(default=None, alias="STAFF_OIDC_ISSUER")
    staff_oidc_client_id: str | None = Field(
        default=None, alias="STAFF_OIDC_CLIENT_ID", pattern=r"^[A-Za-z0-9._:-]{1,128}$"
    )
    staff_role_claim: str = Field(default="practicepay_role", alias="STAFF_ROLE_CLAIM", pattern=r"^[\w:.-]{1,64}$")
    staff_practice_claim: str = Field(default="practice_id", alias="STAFF_PRACTICE_CLAIM", pattern=r"^[\w:.-]{1,64}$")
    staff_idle_minutes: int = Field(default=15, alias="STAFF_IDLE_MINUTES", ge=1, le=60)
    """HIPAA automatic logoff: a session ends after this long without a request."""
    staff_dev_signin: bool = Field(default=False, alias="STAFF_DEV_SIGNIN")
    """The local stack's sign-in as any practice and role ("1"); never set in a deployed stack."""
    dashboard_url: HttpUrl | None = Field(default=None, alias="DASHBOARD_URL")
    """The dashboard's public base URL (its OIDC redirect is this + /dashboard/callback); unset: the request's."""

    @field_validator("staff_oidc_issuer", "dashboard_url", "staff_oidc_client_id", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if value == "" else value


C = TypeVar("C", bound=_Env)


@cache
def load(model: type[C]) -> C:
    """Validate the environment against `model` once per process; a bad config fails the cold start loudly."""
    return model.model_validate(dict(os.environ))
