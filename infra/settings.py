"""The stack's deploy options: CDK context keys (cdk.json's `context`, then each `-c key=value`), validated.

Every key is a field of `StackSettings`; the README's "Deploy options" table lists each with its default (a test
keeps the two equal). A key that is not one of them (a typo such as `jwt_jwsk_url`) fails the synth instead of
being ignored, as does a value of the wrong kind. CDK's own context (feature flags `@aws-cdk/…`, `aws:cdk:…`,
lookups cached in cdk.context.json) is left to CDK.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from infra.definitions import PLATFORM_EVENT_SOURCE
from practicepay.splash.client import HOSTS

# CDK's own context: feature flags, internal keys and the CLI's cached lookups ("availability-zones:account=…").
_CDK_KEYS = frozenset({"acknowledged-issue-numbers", "cli-telemetry"})

# As the messages function checks them (practicepay.config.MessagesConfig).
_EMAIL = re.compile(r"[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+")
_E164 = re.compile(r"\+[1-9][0-9]{9,14}")

Concurrency = Annotated[int, Field(ge=1, le=1000)]


class StackSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    retain_data: bool = Field(
        default=True,
        description="`true`: tables, the KMS key and log groups outlive `make destroy`; tables are "
        "deletion-protected. `false` (test stacks only): they are deleted with the stack",
    )
    authorizer_concurrency: Concurrency = Field(default=20, description="reserved concurrency of the authorizer")
    api_function_concurrency: Concurrency = Field(
        default=20, description="reserved concurrency of each API and queue function (the poll and the daily run: 1)"
    )
    jwt_issuer: str = Field(default="practicepay-local", min_length=1, description="the `iss` every token must carry")
    jwt_audience: str = Field(default="practicepay", min_length=1, description="the `aud` every token must carry")
    jwt_jwks_url: str | None = Field(
        default=None,
        description="the clinical platform's JWKS (https): tokens are RS256/ES256, checked with its keys, and no "
        "HS256 secret is made. Unset: HS256 with a secret the stack creates (output `JwtSecretArn`)",
    )
    splash_host: str = Field(
        default="payrix-sandbox",
        description="the Splash/Payrix API: `payrix-sandbox`, `payrix` (production), `payrix-canada-sandbox`, "
        "`payrix-canada`, `splash-sandbox`, `splash`, or an https URL (a white-label host)",
    )
    detailed_tracing: bool = Field(
        default=False,
        description="`true` adds the Powertools Tracer's per-call X-Ray subsegments (about 450 ms more cold start, "
        "ADR 0006); X-Ray tracing of Lambda and API Gateway is on either way",
    )
    platform_event_bus: str = Field(
        default="default", min_length=1, description="name or ARN of the clinical platform's bus carrying encounters"
    )
    platform_event_source: str = Field(
        default=PLATFORM_EVENT_SOURCE, min_length=1, description="the `source` of the platform's encounter events"
    )
    pay_page_url: str | None = Field(
        default=None,
        description="https URL of a custom domain in front of the pay page (mapped to the API's stage at its root): "
        "pay links are `<pay_page_url>/pay/<secret>`. Unset: the link is built from the URL the staff request "
        "came in on (the API's own URL, stage included)",
    )
    messages_from: str | None = Field(
        default=None,
        description="the SES-verified address patient emails come from (its domain with DKIM; SES production "
        "access); unset: no email is sent",
    )
    sms_origination_number: str | None = Field(
        default=None,
        description="the E.164 10DLC or toll-free number registered in End User Messaging SMS that texts come from "
        "(its two-way channel to the stack's SmsInboundTopicArn output); unset: no text is sent",
    )
    staff_oidc_issuer: str | None = Field(
        default=None,
        description="the https issuer of the clinical platform's OpenID Connect provider staff sign in with "
        "(authorization code + PKCE; needs staff_oidc_client_id). Unset: the stack creates a Cognito user pool "
        "(MFA required; groups front_desk, billing, admin; the custom attribute practice_id)",
    )
    staff_oidc_client_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9._:-]{1,128}$",
        description="the dashboard's client id at staff_oidc_issuer (a public client: no secret)",
    )
    staff_role_claim: str | None = Field(
        default=None,
        pattern=r"^[\w:.-]{1,64}$",
        description="the ID token claim naming the user's role at staff_oidc_issuer (unset: `practicepay_role`; "
        "the Cognito pool: `cognito:groups`)",
    )
    staff_practice_claim: str | None = Field(
        default=None,
        pattern=r"^[\w:.-]{1,64}$",
        description="the ID token claim naming the user's practice at staff_oidc_issuer (unset: `practice_id`; "
        "the Cognito pool: `custom:practice_id`)",
    )
    staff_idle_minutes: int = Field(
        default=15, ge=1, le=60, description="minutes without a request that end a dashboard session (HIPAA logoff)"
    )
    staff_auth_domain_prefix: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$",
        description="the Cognito pool's hosted sign-in domain prefix (unique in the region; not `aws`, `amazon` "
        "or `cognito`). Unset: `<stack name>-staff-<account id>`, lower case",
    )
    dashboard_url: str | None = Field(
        default=None,
        description="https URL of a custom domain in front of the dashboard (mapped to the API's stage at its root): "
        "the sign-in redirect is `<dashboard_url>/dashboard/callback`. Unset: the API's own stage URL",
    )
    account: str | None = Field(
        default=None, pattern=r"^\d{12}$", description="target account (else `CDK_DEFAULT_ACCOUNT`)"
    )
    region: str | None = Field(
        default=None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d$", description="target region (else `CDK_DEFAULT_REGION`)"
    )

    @field_validator("jwt_jwks_url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if urlsplit(value).scheme != "https" or not urlsplit(value).hostname:
            raise ValueError("must be an https URL")
        return value

    @field_validator("staff_oidc_issuer")
    @classmethod
    def _issuer(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        parts = urlsplit(value)
        if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
            raise ValueError("must be an https URL with no query or fragment (the provider's `iss`)")
        return value.rstrip("/")

    @field_validator("staff_auth_domain_prefix")
    @classmethod
    def _domain_prefix(cls, value: str | None) -> str | None:
        if value and any(word in value for word in ("aws", "amazon", "cognito")):
            raise ValueError("Cognito refuses a domain prefix containing aws, amazon or cognito")
        return value or None

    @model_validator(mode="after")
    def _staff_provider(self) -> StackSettings:
        """An external provider needs its client id; the claims and client id mean nothing without the provider."""
        given = (self.staff_oidc_client_id, self.staff_role_claim, self.staff_practice_claim)
        if self.staff_oidc_issuer and not self.staff_oidc_client_id:
            raise ValueError("staff_oidc_issuer needs staff_oidc_client_id")
        if not self.staff_oidc_issuer and any(given):
            raise ValueError("staff_oidc_client_id, staff_role_claim and staff_practice_claim need staff_oidc_issuer")
        if self.staff_oidc_issuer and self.staff_auth_domain_prefix:
            raise ValueError("staff_auth_domain_prefix is the Cognito pool's, made only without staff_oidc_issuer")
        return self

    @field_validator("pay_page_url", "dashboard_url")
    @classmethod
    def _page_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        parts = urlsplit(value)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError("must be an https URL")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("must be an https URL with no query, fragment or credentials")
        return value.rstrip("/")

    @field_validator("messages_from")
    @classmethod
    def _sender(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not _EMAIL.fullmatch(value):
            raise ValueError("must be an email address (the SES-verified sender, no display name)")
        return value

    @field_validator("sms_origination_number")
    @classmethod
    def _e164(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not _E164.fullmatch(value):
            raise ValueError("must be an E.164 number: + and 10 to 15 digits, such as +15555550100")
        return value

    @field_validator("splash_host")
    @classmethod
    def _known_host(cls, value: str) -> str:
        if value in HOSTS:
            return value
        if urlsplit(value).scheme == "https" and urlsplit(value).hostname:
            return value
        raise ValueError(f"must be one of {', '.join(HOSTS)} or an https URL")

    @classmethod
    def from_context(cls, context: dict[str, Any]) -> StackSettings:
        """Our keys from the App's whole context; SystemExit naming every bad or unknown key."""
        ours = {k: v for k, v in context.items() if not _is_cdk_key(k)}
        unknown = sorted(set(ours) - set(cls.model_fields))
        problems = [f"unknown context key {k!r} (known: {', '.join(cls.model_fields)})" for k in unknown]
        try:
            settings = cls.model_validate({k: v for k, v in ours.items() if k in cls.model_fields})
        except ValidationError as exc:
            problems += [f"context {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        if problems:
            raise SystemExit("app.py: " + "; ".join(problems))
        return settings


def _is_cdk_key(key: str) -> bool:
    return key.startswith(("@", "aws:", "cdk")) or ":" in key or key in _CDK_KEYS
