"""The one description of PracticePay's stateful resources and API routes.

Both the CDK stack (infra/) and the local stack (local/bootstrap.py) build from these definitions, so
the tables, queues and routes served by `make run` are the ones `cdk deploy` creates. This module must
not import aws_cdk: the local stack and the Lambda-free tests load it without CDK.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Index:
    name: str
    partition_key: str
    sort_key: str | None = None
    include: tuple[str, ...] | None = None
    """None projects every attribute (ALL); a tuple projects the keys and just these attributes (INCLUDE)."""


@dataclass(frozen=True)
class TableDef:
    """A DynamoDB table. Every attribute named here is a string (S) attribute."""

    logical_id: str
    local_name: str
    env_var: str
    partition_key: str
    sort_key: str | None = None
    indexes: tuple[Index, ...] = ()
    ttl_attribute: str | None = None
    stream: bool = False
    """A DynamoDB stream of new images (the events outbox feeds the publisher)."""


@dataclass(frozen=True)
class QueueDef:
    logical_id: str
    local_name: str
    env_var: str
    retention_days: int
    visibility_timeout_seconds: int = 30
    fifo: bool = False
    dead_letter: str | None = None
    """logical_id of the queue that receives messages after `max_receive_count` failed receives."""
    max_receive_count: int = 5


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str | None
    """Folder under functions/ that serves the route; None for a mock integration (no Lambda)."""
    authorized: bool = True


@dataclass(frozen=True)
class FunctionDef:
    name: str
    """Folder under functions/ holding handler.py."""
    env: tuple[str, ...] = field(default_factory=tuple)
    """Environment variables the function reads (resource names, key ARNs)."""


INVOICES_TABLE = TableDef(
    logical_id="InvoicesTable",
    local_name="practicepay-invoices",
    env_var="INVOICES_TABLE",
    partition_key="pk",
    sort_key="sk",
    indexes=(
        # The indexes sort by the item's own sort key (INVOICE#<time-ordered id>): no copy of it in the item.
        Index("by_patient", "gsi1pk", "sk"),
        Index("by_status", "gsi2pk", "sk"),
        # Sparse: only issued invoices with a balance owed carry ar_pk (one partition per practice, sorted by due
        # date), projecting just what the accounts-receivable aging needs: the report is a query, never a scan.
        Index(
            "receivables",
            "ar_pk",
            "ar_sk",
            include=("id", "patient_id", "status", "due_date", "total", "amount_paid", "amount_written_off"),
        ),
    ),
)

IDEMPOTENCY_TABLE = TableDef(
    logical_id="IdempotencyTable",
    local_name="practicepay-idempotency",
    env_var="IDEMPOTENCY_TABLE",
    partition_key="id",
    ttl_attribute="expiration",
)

PATIENTS_TABLE = TableDef(
    logical_id="PatientsTable",
    local_name="practicepay-patients",
    env_var="PATIENTS_TABLE",
    partition_key="pk",
    sort_key="sk",
    indexes=(
        Index("by_patient", "gsi1pk", "sk"),  # a patient's payment methods
        Index("by_token", "splash_token_id"),  # the method of a Splash token (account-updater results name tokens)
    ),
)

PAYMENTS_TABLE = TableDef(
    logical_id="PaymentsTable",
    local_name="practicepay-payments",
    env_var="PAYMENTS_TABLE",
    partition_key="pk",
    sort_key="sk",
    indexes=(
        Index("by_invoice", "gsi1pk", "sk"),
        Index("by_status", "gsi2pk", "sk"),
        # Sparse: only payments and refunds whose outcome may still change at Splash (pending, unknown,
        # processing) carry gsi3pk, so the status poll finds every one with one query and no scan.
        Index("open", "gsi3pk", "gsi3sk"),
    ),
)

PRACTICES_TABLE = TableDef(
    logical_id="PracticesTable",
    local_name="practicepay-practices",
    env_var="PRACTICES_TABLE",
    partition_key="practice_id",
    indexes=(
        Index("by_merchant", "splash_merchant_id"),  # Splash alerts and txns name the merchant
        # Sparse: practices whose boarding is still undecided, so the status poll checks each merchant's status.
        Index("onboarding", "onboarding_pk", "practice_id"),
    ),
)

# What we learn from Splash: raw web alerts (kept 30 days) and the status poll's cursor.
SYNC_TABLE = TableDef(
    logical_id="SplashSyncTable",
    local_name="practicepay-splash-sync",
    env_var="SYNC_TABLE",
    partition_key="pk",
    sort_key="sk",
    ttl_attribute="expiration",
)

# Domain events written in the same transaction as the change they describe (a transactional outbox, kept
# 30 days); its stream feeds the publisher, which puts each on the EventBridge bus.
EVENTS_TABLE = TableDef(
    logical_id="EventsTable",
    local_name="practicepay-events",
    env_var="EVENTS_TABLE",
    partition_key="pk",
    sort_key="sk",
    ttl_attribute="expiration",
    stream=True,
)

# Payment plans, memberships and their installments. Sparse indexes, one partition each, sorted by date: `due`
# holds what has a charge ahead (by its next charge date), `notices` the charges not yet announced (by notice
# date), so the daily run finds its work with range queries, never a scan.
SCHEDULES_TABLE = TableDef(
    logical_id="SchedulesTable",
    local_name="practicepay-schedules",
    env_var="SCHEDULES_TABLE",
    partition_key="pk",
    sort_key="sk",
    indexes=(Index("due", "due_pk", "due_sk"), Index("notices", "notice_pk", "notice_sk")),
)

# Pay links and the pay page's state (ADR 0015). A link is found by the SHA-256 of its secret (the URL's only
# part; the secret itself is never stored); `by_owner` lists an invoice's (or a patient's balance) links for staff,
# `by_id` finds one by its public id (revoke). Pay-page sessions and per-address identity-failure counters live
# here too, each expiring by TTL.
PAY_LINKS_TABLE = TableDef(
    logical_id="PayLinksTable",
    local_name="practicepay-pay-links",
    env_var="PAY_LINKS_TABLE",
    partition_key="pk",
    sort_key="sk",
    indexes=(Index("by_owner", "gsi1pk", "gsi1sk"), Index("by_id", "link_id")),
    ttl_attribute="expiration",
)

# Patient messages (ADR 0016): each message's delivery record (keyed by a digest of what caused it, so an event
# delivered twice writes one), a patient's messaging preferences and consent, the opt-out ledger (keyed by an
# HMAC of the address: inbound STOPs and SES bounces name an address, not a patient), and each open invoice's
# reminder schedule. `by_patient` and `by_invoice` list messages newest first; `due` (sparse, one partition)
# holds what waits for a time (the next reminder, a text held for quiet hours), so the sweep is a range query;
# `by_provider` finds a message by SES's or SMS's message id (delivery notifications).
MESSAGES_TABLE = TableDef(
    logical_id="MessagesTable",
    local_name="practicepay-messages",
    env_var="MESSAGES_TABLE",
    partition_key="pk",
    sort_key="sk",
    indexes=(
        Index("by_patient", "gsi1pk", "gsi1sk"),
        Index("by_invoice", "gsi2pk", "gsi2sk"),
        Index("due", "due_pk", "due_sk"),
        Index("by_provider", "provider_id"),
    ),
    ttl_attribute="expiration",
)

# The money after the payment (issue #19): disputes (one per Splash chargeback), the practice's fee ledger (each fee
# keyed by its source: a chargeback's debit, a Splash entry), deposits (one per Splash disbursement) with their lines
# (one per Splash entry), each payment's settlement (its deposit and its fees, by payment id: the payments report
# reads them in one BatchGetItem a page) and the card updates applied (one per Splash paymentUpdate). `by_invoice`
# lists an invoice's disputes; `by_date` a practice's disputes by reply date and deposits by date; `due` (sparse,
# one partition) holds the open disputes not yet announced as due soon, by reply date, for the daily check.
FUNDS_TABLE = TableDef(
    logical_id="FundsTable",
    local_name="practicepay-funds",
    env_var="FUNDS_TABLE",
    partition_key="pk",
    sort_key="sk",
    indexes=(
        Index("by_invoice", "gsi1pk", "gsi1sk"),
        Index("by_date", "gsi2pk", "gsi2sk"),
        Index("due", "due_pk", "due_sk"),
    ),
)

# Staff sign-in (ADR 0018): each dashboard session (keyed by the SHA-256 of its cookie; ended by TTL, by the idle
# limit and by sign-out) and each sign-in in flight (the OIDC state, its PKCE verifier and nonce, for 10 minutes).
STAFF_TABLE = TableDef(
    logical_id="StaffTable",
    local_name="practicepay-staff",
    env_var="STAFF_TABLE",
    partition_key="pk",
    sort_key="sk",
    ttl_attribute="expiration",
)

# The audit trail (ADR 0018): one item per staff action, written in the same DynamoDB transaction as the change it
# records (or alone, for a read of PHI or a refused action). Append-only: every function may only PutItem here (no
# UpdateItem, no DeleteItem, no TTL). `by_invoice` and `by_patient` read an invoice's or a patient's trail in order.
AUDIT_TABLE = TableDef(
    logical_id="AuditTable",
    local_name="practicepay-audit",
    env_var="AUDIT_TABLE",
    partition_key="pk",
    sort_key="sk",
    indexes=(Index("by_invoice", "gsi1pk", "sk"), Index("by_patient", "gsi2pk", "sk")),
)

TABLES: tuple[TableDef, ...] = (
    INVOICES_TABLE,
    IDEMPOTENCY_TABLE,
    PATIENTS_TABLE,
    PAYMENTS_TABLE,
    PRACTICES_TABLE,
    SYNC_TABLE,
    EVENTS_TABLE,
    SCHEDULES_TABLE,
    PAY_LINKS_TABLE,
    MESSAGES_TABLE,
    FUNDS_TABLE,
    STAFF_TABLE,
    AUDIT_TABLE,
)

# Asynchronous invocations of any function that fail after Lambda's own retries land here.
FUNCTION_DLQ = QueueDef(
    logical_id="FunctionDeadLetterQueue",
    local_name="practicepay-function-dlq",
    env_var="FUNCTION_DLQ_URL",
    retention_days=14,
)

# Payments whose outcome at Splash is unknown (timeouts, 5xx); the reconciler (#5) consumes it.
RECONCILIATION_DLQ = QueueDef(
    logical_id="ReconciliationDeadLetterQueue",
    local_name="practicepay-reconciliation-dlq",
    env_var="RECONCILIATION_DLQ_URL",
    retention_days=14,
)
RECONCILIATION_QUEUE = QueueDef(
    logical_id="ReconciliationQueue",
    local_name="practicepay-reconciliation",
    env_var="RECONCILIATION_QUEUE_URL",
    retention_days=14,
    visibility_timeout_seconds=120,
    dead_letter=RECONCILIATION_DLQ.logical_id,
    max_receive_count=10,
)

# Splash web alerts, in order per Splash record (message group = the record's id); deduplicated by body.
ALERTS_DLQ = QueueDef(
    logical_id="AlertsDeadLetterQueue",
    local_name="practicepay-alerts-dlq",
    env_var="ALERTS_DLQ_URL",
    retention_days=14,
    fifo=True,
)
ALERTS_QUEUE = QueueDef(
    logical_id="AlertsQueue",
    local_name="practicepay-alerts",
    env_var="ALERTS_QUEUE_URL",
    retention_days=4,
    visibility_timeout_seconds=120,
    fifo=True,
    dead_letter=ALERTS_DLQ.logical_id,
    max_receive_count=5,
)

# Autopay charges the daily run found due, one message per (installment or cycle, attempt); the charge worker
# consumes it. Retries days away are not delayed messages (SQS delays 15 minutes at most): a failed installment
# keeps its next attempt's date in the schedules table's `due` index, and the daily run queues it on that day.
CHARGE_DLQ = QueueDef(
    logical_id="ChargeDeadLetterQueue",
    local_name="practicepay-charge-dlq",
    env_var="CHARGE_DLQ_URL",
    retention_days=14,
)
CHARGE_QUEUE = QueueDef(
    logical_id="ChargeQueue",
    local_name="practicepay-charge",
    env_var="CHARGE_QUEUE_URL",
    retention_days=4,
    visibility_timeout_seconds=720,  # six times the charge worker's timeout (AWS's advice for event sources)
    dead_letter=CHARGE_DLQ.logical_id,
    max_receive_count=5,
)

# Our own domain events, delivered by an EventBridge rule on our bus to the messages function (ADR 0016).
MESSAGES_DLQ = QueueDef(
    logical_id="MessagesDeadLetterQueue",
    local_name="practicepay-messages-dlq",
    env_var="MESSAGES_DLQ_URL",
    retention_days=14,
)
MESSAGES_QUEUE = QueueDef(
    logical_id="MessagesQueue",
    local_name="practicepay-messages",
    env_var="MESSAGES_QUEUE_URL",
    retention_days=4,
    visibility_timeout_seconds=360,  # six times the messages function's timeout
    dead_letter=MESSAGES_DLQ.logical_id,
    max_receive_count=5,
)

QUEUES: tuple[QueueDef, ...] = (
    FUNCTION_DLQ,
    RECONCILIATION_DLQ,
    RECONCILIATION_QUEUE,
    ALERTS_DLQ,
    ALERTS_QUEUE,
    CHARGE_DLQ,
    CHARGE_QUEUE,
    MESSAGES_DLQ,
    MESSAGES_QUEUE,
)
DEAD_LETTER_QUEUES: tuple[QueueDef, ...] = (FUNCTION_DLQ, RECONCILIATION_DLQ, ALERTS_DLQ, CHARGE_DLQ, MESSAGES_DLQ)
"""Each has a CloudWatch alarm on its depth (a message there is work that failed for good)."""

DATA_KEY_ALIAS = "alias/practicepay-data"
DATA_KEY_ENV = "DATA_KEY_ARN"
JWT_SECRET_LOCAL_NAME = "practicepay/jwt-signing-secret"  # noqa: S105 (a name, not a secret)
JWT_SECRET_ENV = "JWT_SECRET_ID"  # noqa: S105 (a variable name)

# Splash credentials: a JSON secret {"api_key", "webhook_header_name", "webhook_header_value"}.
SPLASH_SECRET_LOCAL_NAME = "practicepay/splash"  # noqa: S105 (a name, not a secret)
SPLASH_CREDENTIALS_ENV = "SPLASH_CREDENTIALS"
SPLASH_HOST_ENV = "SPLASH_HOST"
SPLASH_WEBHOOK_HEADER = "X-PracticePay-Webhook"
# The pay page's public base URL (a custom domain, deploy option pay_page_url); empty: the API's own URL + /pay.
PAY_PAGE_URL_ENV = "PAY_PAGE_URL"

# Patient messages (ADR 0016). The sender address (an SES-verified identity: deploy option messages_from), the SES
# configuration set whose events (deliveries, bounces, complaints) reach the messages function through an SNS
# topic, the SMS origination number (a 10DLC or toll-free number registered in AWS End User Messaging SMS: deploy
# option sms_origination_number; empty: texts are not sent), the KMS HMAC key that fingerprints addresses for the
# opt-out ledger, and the public base URL links in messages point to.
MESSAGES_FROM_ENV = "MESSAGES_FROM"
SES_CONFIGURATION_SET_ENV = "SES_CONFIGURATION_SET"
SMS_ORIGINATION_ENV = "SMS_ORIGINATION_NUMBER"
FINGERPRINT_KEY_ENV = "FINGERPRINT_KEY_ARN"
FINGERPRINT_KEY_ALIAS = "alias/practicepay-fingerprint"
PUBLIC_URL_ENV = "PUBLIC_BASE_URL"
MESSAGE_EVENT_TYPES = (
    "invoice.issued",
    "installment.upcoming",
    "installment.failed",
    "payment.succeeded",
    "payment.failed",
    "payment.returned",
)
"""The detail-types the bus rule delivers to the messages queue."""

# The staff dashboard (ADR 0018). The KMS HMAC key whose per-practice MACs key the patients' name and birth-date
# blind index (search without decrypting); the OpenID Connect provider staff sign in with (the clinical platform's,
# or the Cognito user pool the stack creates when none is given), its client id, the claims naming a user's practice
# and role; the minutes of inactivity that end a session (HIPAA automatic logoff); the dashboard's public base URL
# (its OIDC redirect URI is this + /dashboard/callback). STAFF_DEV_SIGNIN=1 (the local stack only; never deployed)
# offers a sign-in form per practice and role.
SEARCH_KEY_ENV = "SEARCH_KEY_ARN"
SEARCH_KEY_ALIAS = "alias/practicepay-search"
STAFF_OIDC_ISSUER_ENV = "STAFF_OIDC_ISSUER"
STAFF_OIDC_CLIENT_ID_ENV = "STAFF_OIDC_CLIENT_ID"
STAFF_ROLE_CLAIM_ENV = "STAFF_ROLE_CLAIM"
STAFF_PRACTICE_CLAIM_ENV = "STAFF_PRACTICE_CLAIM"
STAFF_IDLE_MINUTES_ENV = "STAFF_IDLE_MINUTES"
STAFF_DEV_SIGNIN_ENV = "STAFF_DEV_SIGNIN"
DASHBOARD_URL_ENV = "DASHBOARD_URL"

# Outbound domain events: the publisher puts each outbox row on this bus (source "practicepay", docs/events/).
EVENT_BUS_LOCAL_NAME = "practicepay"
EVENT_BUS_ENV = "EVENT_BUS_NAME"
# Inbound encounters on the clinical platform's bus: a rule matches this source and detail-type (both
# configurable at deploy: cdk.json context platformEventBus, platformEventSource).
PLATFORM_EVENT_BUS_LOCAL_NAME = "clinical-platform"
PLATFORM_EVENT_SOURCE = "clinical-platform"
ENCOUNTER_DETAIL_TYPE = "encounter.charged"

AUTHORIZER = FunctionDef(name="authorizer", env=(JWT_SECRET_ENV,))
AUTHORIZER_CACHE_SECONDS = 300
"""API Gateway keeps an authorizer's Allow policy this long per Authorization header (the local front too)."""
INVOICES = FunctionDef(  # invoices, and the pay links staff send for them
    name="invoices",
    env=(
        INVOICES_TABLE.env_var,
        IDEMPOTENCY_TABLE.env_var,
        EVENTS_TABLE.env_var,
        DATA_KEY_ENV,
        PAY_LINKS_TABLE.env_var,
        PRACTICES_TABLE.env_var,
        PATIENTS_TABLE.env_var,
        PAY_PAGE_URL_ENV,
    ),
)
PATIENTS = FunctionDef(
    name="patients",
    env=(
        PATIENTS_TABLE.env_var,
        PRACTICES_TABLE.env_var,
        IDEMPOTENCY_TABLE.env_var,
        DATA_KEY_ENV,
        SEARCH_KEY_ENV,  # each patient write keeps the blind index of names and birth dates
        SPLASH_HOST_ENV,
        SPLASH_CREDENTIALS_ENV,
    ),
)
PAYMENTS = FunctionDef(
    name="payments",
    env=(
        PAYMENTS_TABLE.env_var,
        INVOICES_TABLE.env_var,
        PATIENTS_TABLE.env_var,
        PRACTICES_TABLE.env_var,
        IDEMPOTENCY_TABLE.env_var,
        DATA_KEY_ENV,
        SPLASH_HOST_ENV,
        SPLASH_CREDENTIALS_ENV,
        RECONCILIATION_QUEUE.env_var,
        EVENTS_TABLE.env_var,
    ),
)
WEBHOOK = FunctionDef(
    name="webhook",
    env=(SYNC_TABLE.env_var, ALERTS_QUEUE.env_var, SPLASH_HOST_ENV, SPLASH_CREDENTIALS_ENV),
)
_SYNC_ENV = (
    FUNDS_TABLE.env_var,  # chargebacks (disputes), disbursements (deposits) and the fee ledger
    PAYMENTS_TABLE.env_var,
    INVOICES_TABLE.env_var,
    PATIENTS_TABLE.env_var,
    PRACTICES_TABLE.env_var,
    EVENTS_TABLE.env_var,
    SYNC_TABLE.env_var,
    SCHEDULES_TABLE.env_var,  # a payment's status moves its installment (billing.follow)
    SPLASH_HOST_ENV,
    SPLASH_CREDENTIALS_ENV,
)
ALERTS = FunctionDef(name="alerts", env=_SYNC_ENV)  # consumes ALERTS_QUEUE
POLL = FunctionDef(name="poll", env=_SYNC_ENV)  # on a schedule
RECONCILER = FunctionDef(name="reconciler", env=_SYNC_ENV)  # consumes RECONCILIATION_QUEUE
_BILLING_ENV = (*PAYMENTS.env, SCHEDULES_TABLE.env_var)
PLANS = FunctionDef(name="plans", env=_BILLING_ENV)  # payment plans and memberships API
CHARGER = FunctionDef(name="charger", env=_BILLING_ENV)  # consumes CHARGE_QUEUE
BILLING = FunctionDef(  # the daily run, on a schedule
    name="billing", env=(SCHEDULES_TABLE.env_var, EVENTS_TABLE.env_var, CHARGE_QUEUE.env_var, PATIENTS_TABLE.env_var)
)
PRACTICES = FunctionDef(  # onboarding (boards the practice at Splash) and practice settings
    name="practices",
    env=(PRACTICES_TABLE.env_var, SPLASH_HOST_ENV, SPLASH_CREDENTIALS_ENV),
)
ENCOUNTERS = FunctionDef(  # encounter charges from the clinical platform (API and its EventBridge bus)
    name="encounters",
    env=(
        INVOICES_TABLE.env_var,
        PATIENTS_TABLE.env_var,
        PRACTICES_TABLE.env_var,
        EVENTS_TABLE.env_var,
        DATA_KEY_ENV,
    ),
)
REPORTS = FunctionDef(  # payments, accounts-receivable and deposits reports (JSON and CSV); a deposit (JSON, FHIR)
    name="reports",
    env=(
        INVOICES_TABLE.env_var,
        PAYMENTS_TABLE.env_var,
        PATIENTS_TABLE.env_var,
        FUNDS_TABLE.env_var,
        PRACTICES_TABLE.env_var,
    ),
)
DISPUTES = FunctionDef(  # chargebacks: list, read, the evidence packet, answer or accept at Splash
    name="disputes",
    env=(
        FUNDS_TABLE.env_var,
        PAYMENTS_TABLE.env_var,
        INVOICES_TABLE.env_var,
        PATIENTS_TABLE.env_var,
        PRACTICES_TABLE.env_var,
        EVENTS_TABLE.env_var,
        MESSAGES_TABLE.env_var,
        IDEMPOTENCY_TABLE.env_var,
        DATA_KEY_ENV,
        SPLASH_HOST_ENV,
        SPLASH_CREDENTIALS_ENV,
    ),
)
PUBLISHER = FunctionDef(name="publisher", env=(EVENT_BUS_ENV,))  # the events table's stream → the bus
DOCS = FunctionDef(name="docs")  # GET /openapi.json: the generated document in its asset; no table, no key
PAYPAGE = FunctionDef(  # the patient's pay page (HTML, no JWT: a pay link's secret and an identity check; ADR 0015)
    name="paypage",
    env=(*_BILLING_ENV, PAY_LINKS_TABLE.env_var),
)
_MESSAGES_ENV = (
    MESSAGES_TABLE.env_var,
    INVOICES_TABLE.env_var,
    PATIENTS_TABLE.env_var,
    PRACTICES_TABLE.env_var,
    SCHEDULES_TABLE.env_var,
    PAY_LINKS_TABLE.env_var,
    EVENTS_TABLE.env_var,
    DATA_KEY_ENV,
    FINGERPRINT_KEY_ENV,
)
MESSAGES = FunctionDef(  # patient messages: our bus's events (SQS), the sweep (schedule), SES and SMS feedback (SNS)
    name="messages",
    env=(
        *_MESSAGES_ENV,
        PAY_PAGE_URL_ENV,
        PUBLIC_URL_ENV,
        MESSAGES_FROM_ENV,
        SES_CONFIGURATION_SET_ENV,
        SMS_ORIGINATION_ENV,
    ),
)
MESSAGING = FunctionDef(  # staff's view of messages and a patient's preferences; the public unsubscribe page
    name="messaging", env=_MESSAGES_ENV
)
DASHBOARD = FunctionDef(  # the staff dashboard (HTML; its own OIDC sign-in and session cookie; ADR 0018)
    name="dashboard",
    env=(
        *_BILLING_ENV,
        PAY_LINKS_TABLE.env_var,
        FUNDS_TABLE.env_var,
        MESSAGES_TABLE.env_var,
        STAFF_TABLE.env_var,
        AUDIT_TABLE.env_var,
        SEARCH_KEY_ENV,
        FINGERPRINT_KEY_ENV,  # the messages a patient was sent (their opt-outs are keyed by address fingerprints)
        PAY_PAGE_URL_ENV,
        STAFF_OIDC_ISSUER_ENV,
        STAFF_OIDC_CLIENT_ID_ENV,
        STAFF_ROLE_CLAIM_ENV,
        STAFF_PRACTICE_CLAIM_ENV,
        STAFF_IDLE_MINUTES_ENV,
        DASHBOARD_URL_ENV,
    ),
)
FUNCTIONS: tuple[FunctionDef, ...] = (
    AUTHORIZER,
    INVOICES,
    PATIENTS,
    PAYMENTS,
    WEBHOOK,
    ALERTS,
    POLL,
    RECONCILER,
    PLANS,
    BILLING,
    CHARGER,
    PRACTICES,
    ENCOUNTERS,
    REPORTS,
    PUBLISHER,
    DOCS,
    PAYPAGE,
    MESSAGES,
    MESSAGING,
    DISPUTES,
    DASHBOARD,
)

# The status poll's schedule (EventBridge Scheduler; the local stack ticks it too).
POLL_EVERY_MINUTES = 5
# The daily billing run: 14:00 UTC is 9 or 10 a.m. US Eastern, inside business hours for a patient's questions.
BILLING_RUN_CRON = {"minute": "0", "hour": "14"}
# The messages sweep (reminders due, texts held for quiet hours): every 15 minutes, so a held text goes by 08:15.
MESSAGES_SWEEP_MINUTES = 15

DASHBOARD_ROUTES: tuple[Route, ...] = tuple(
    Route(method, path, DASHBOARD.name, authorized=False)
    for method, path in (
        ("GET", "/dashboard/assets/{asset}"),
        ("GET", "/dashboard/signin"),
        ("POST", "/dashboard/signin"),  # the local stack's development sign-in (404 unless STAFF_DEV_SIGNIN=1)
        ("GET", "/dashboard/callback"),  # the OIDC provider's redirect back with the code
        ("POST", "/dashboard/signout"),
        ("GET", "/dashboard"),  # today: payments by channel, expected deposits, the attention queue
        ("GET", "/dashboard/patients"),  # search
        ("GET", "/dashboard/patients/{patient_id}"),
        ("POST", "/dashboard/patients/{patient_id}/pay-links"),
        ("GET", "/dashboard/invoices/{invoice_id}"),
        ("POST", "/dashboard/invoices/{invoice_id}/payments"),  # at the desk: PayFields token or a card on file
        ("POST", "/dashboard/invoices/{invoice_id}/pay-links"),
        ("POST", "/dashboard/invoices/{invoice_id}/payment-plan"),
        ("POST", "/dashboard/invoices/{invoice_id}/write-off"),
        ("POST", "/dashboard/invoices/{invoice_id}/cancel"),
        ("POST", "/dashboard/payments/{payment_id}/refunds"),
        ("GET", "/dashboard/disputes"),
        ("GET", "/dashboard/disputes/{dispute_id}"),
        ("GET", "/dashboard/disputes/{dispute_id}/evidence"),  # the packet (PDF) respond sends
        ("POST", "/dashboard/disputes/{dispute_id}/respond"),
        ("POST", "/dashboard/disputes/{dispute_id}/accept"),
        ("GET", "/dashboard/reports"),
        ("GET", "/dashboard/reports/{report}/csv"),  # aging, payments, deposits, disputes
        ("GET", "/dashboard/deposits/{deposit_id}"),
        ("GET", "/dashboard/audit"),
        ("GET", "/dashboard/audit/csv"),  # for an auditor: the practice's trail, or one invoice's or patient's
        ("GET", "/dashboard/settings"),
        ("POST", "/dashboard/settings"),
        ("GET", "/dashboard/users"),  # who signed in lately, and what each role may do
    )
)

ROUTES: tuple[Route, ...] = (
    Route("GET", "/health", None, authorized=False),
    Route("GET", "/openapi.json", DOCS.name, authorized=False),  # the API's own document, public like /health
    Route("POST", "/invoices", INVOICES.name),
    Route("GET", "/invoices", INVOICES.name),
    Route("GET", "/invoices/{invoice_id}", INVOICES.name),
    Route("POST", "/invoices/{invoice_id}/issue", INVOICES.name),
    Route("POST", "/invoices/{invoice_id}/cancel", INVOICES.name),
    Route("POST", "/invoices/{invoice_id}/write-off", INVOICES.name),
    Route("POST", "/patients", PATIENTS.name),
    Route("GET", "/patients", PATIENTS.name),
    Route("GET", "/patients/{patient_id}", PATIENTS.name),
    Route("PATCH", "/patients/{patient_id}", PATIENTS.name),
    Route("POST", "/patients/{patient_id}/payment-methods", PATIENTS.name),
    Route("GET", "/patients/{patient_id}/payment-methods", PATIENTS.name),
    Route("DELETE", "/patients/{patient_id}/payment-methods/{method_id}", PATIENTS.name),
    Route("POST", "/invoices/{invoice_id}/payments", PAYMENTS.name),
    Route("GET", "/payments", PAYMENTS.name),
    Route("GET", "/payments/{payment_id}", PAYMENTS.name),
    Route("POST", "/payments/{payment_id}/refunds", PAYMENTS.name),
    Route("POST", "/invoices/{invoice_id}/payment-plan", PLANS.name),
    Route("GET", "/invoices/{invoice_id}/payment-plan", PLANS.name),
    Route("PATCH", "/invoices/{invoice_id}/payment-plan", PLANS.name),
    Route("POST", "/invoices/{invoice_id}/payment-plan/cancel", PLANS.name),
    Route("POST", "/invoices/{invoice_id}/payment-plan/installments/{seq}/pay", PLANS.name),
    Route("POST", "/patients/{patient_id}/subscriptions", PLANS.name),
    Route("GET", "/patients/{patient_id}/subscriptions", PLANS.name),
    Route("GET", "/subscriptions/{subscription_id}", PLANS.name),
    Route("POST", "/subscriptions/{subscription_id}/cancel", PLANS.name),
    Route("POST", "/practices", PRACTICES.name),
    Route("GET", "/practices/{practice_id}", PRACTICES.name),
    Route("PATCH", "/practices/{practice_id}/settings", PRACTICES.name),
    Route("POST", "/events/encounters", ENCOUNTERS.name),
    Route("GET", "/reports/payments", REPORTS.name),
    Route("GET", "/reports/receivables", REPORTS.name),
    Route("GET", "/reports/deposits", REPORTS.name),
    Route("GET", "/deposits/{deposit_id}", REPORTS.name),
    Route("GET", "/disputes", DISPUTES.name),
    Route("GET", "/disputes/{dispute_id}", DISPUTES.name),
    Route("GET", "/disputes/{dispute_id}/evidence", DISPUTES.name),
    Route("POST", "/disputes/{dispute_id}/respond", DISPUTES.name),
    Route("POST", "/disputes/{dispute_id}/accept", DISPUTES.name),
    Route("POST", "/invoices/{invoice_id}/pay-links", INVOICES.name),
    Route("GET", "/invoices/{invoice_id}/pay-links", INVOICES.name),
    Route("POST", "/patients/{patient_id}/pay-links", INVOICES.name),  # "pay my balance" (a practice setting)
    Route("POST", "/pay-links/{link_id}/revoke", INVOICES.name),
    Route("POST", "/webhooks/splash", WEBHOOK.name, authorized=False),  # the static header, checked in the function
    # The pay page: HTML for patients, authenticated by the link's secret, an identity check and a session cookie.
    Route("GET", "/pay/assets/{asset}", PAYPAGE.name, authorized=False),
    Route("GET", "/pay/{secret}", PAYPAGE.name, authorized=False),
    Route("POST", "/pay/{secret}/identity", PAYPAGE.name, authorized=False),
    Route("POST", "/pay/{secret}/payments", PAYPAGE.name, authorized=False),
    Route("POST", "/pay/{secret}/plan", PAYPAGE.name, authorized=False),
    Route("GET", "/pay/{secret}/receipts/{receipt_id}", PAYPAGE.name, authorized=False),
    Route("GET", "/patients/{patient_id}/messages", MESSAGING.name),
    Route("GET", "/patients/{patient_id}/messaging", MESSAGING.name),
    Route("POST", "/patients/{patient_id}/messaging", MESSAGING.name),
    Route("GET", "/invoices/{invoice_id}/messages", MESSAGING.name),
    # The email's unsubscribe link (reminders only), and RFC 8058 one-click unsubscribe (POST): the token is the auth.
    Route("GET", "/unsubscribe/{token}", MESSAGING.name, authorized=False),
    Route("POST", "/unsubscribe/{token}", MESSAGING.name, authorized=False),
    # The staff dashboard (ADR 0018): HTML, no JWT at the gateway. The function signs staff in (OIDC code + PKCE),
    # keeps their session in an HttpOnly cookie, checks its CSRF token on every POST and each role's permissions
    # on every route (practicepay.staff.roles.DASHBOARD_PERMISSIONS).
    *DASHBOARD_ROUTES,
)
