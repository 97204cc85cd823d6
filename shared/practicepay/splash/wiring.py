"""Builds the Splash client from configuration; credentials come from KMS-encrypted config through Powertools
parameters (cached for SPLASH_CREDENTIALS_MAX_AGE seconds, so a rotated key is picked up)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from aws_lambda_powertools.utilities import parameters
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from practicepay.config import SplashConfig, load

if TYPE_CHECKING:
    from practicepay.splash.client import SplashClient


class SplashCredentials(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    api_key: SecretStr = Field(min_length=8)
    webhook_header_name: str = Field(pattern=r"^[A-Za-z0-9-]{1,64}$")
    webhook_header_value: SecretStr = Field(min_length=16)
    login_id: str | None = Field(
        default=None,
        pattern=r"^[tp]1_log_[0-9a-z]{20,32}$",
        description="The Payrix login the API key belongs to: it owns the web alert and is the alert's scope",
    )
    public_api_key: str | None = Field(
        default=None,
        min_length=8,
        description="The PayFields public API key: not secret (a pay page sends it to browsers), kept here with "
        "the private key it pairs with; it only tokenizes, with a txnSession key",
    )


def splash_credentials(cfg: SplashConfig | None = None) -> SplashCredentials:
    cfg = cfg or load(SplashConfig)
    store, _, name = cfg.splash_credentials.partition(":")
    if store == "ssm":
        raw = parameters.get_parameter(name, decrypt=True, transform="json", max_age=cfg.splash_credentials_max_age)
    else:
        raw = parameters.get_secret(name, transform="json", max_age=cfg.splash_credentials_max_age)
    return SplashCredentials.model_validate(raw)


@cache
def splash_client() -> SplashClient:
    from practicepay.splash.client import RetryPolicy, SplashClient  # requests: only where the client is built

    cfg = load(SplashConfig)
    return SplashClient(
        cfg.splash_host,
        api_key=lambda: splash_credentials(cfg).api_key.get_secret_value(),
        connect_timeout=cfg.splash_connect_timeout,
        read_timeout=cfg.splash_read_timeout,
        retry=RetryPolicy(max_attempts=cfg.splash_max_attempts, rate_limit_budget=cfg.splash_rate_limit_budget),
    )
