"""Splash credentials come from KMS-encrypted config through Powertools parameters, cached; never from code."""

from __future__ import annotations

import json

import boto3
import botocore.client
import pytest
from aws_lambda_powertools.utilities import parameters

from practicepay.config import SplashConfig
from practicepay.splash.wiring import splash_credentials

pytestmark = pytest.mark.integration


def _config(**env: str) -> SplashConfig:
    return SplashConfig.model_validate({"SPLASH_HOST": "http://127.0.0.1:3001", **env})


def test_credentials_from_the_local_secret_are_read_once_per_cache_window(aws_env, monkeypatch):
    parameters.clear_caches()
    calls: list[str] = []
    original = botocore.client.BaseClient._make_api_call

    def spy(self, operation, params):
        calls.append(operation)
        return original(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", spy)
    cfg = _config(SPLASH_CREDENTIALS=aws_env["SPLASH_CREDENTIALS"])
    first = splash_credentials(cfg)
    second = splash_credentials(cfg)
    assert first == second
    assert first.api_key.get_secret_value() == "sandbox-private-key"
    assert first.webhook_header_name == "X-PracticePay-Webhook"
    assert len(first.webhook_header_value.get_secret_value()) >= 32
    assert calls.count("GetSecretValue") == 1
    assert "sandbox-private-key" not in repr(first)  # SecretStr keeps it out of reprs and logs


def test_credentials_from_an_ssm_secure_string(aws_env):
    parameters.clear_caches()
    value = {"api_key": "ssm-held-api-key-123", "webhook_header_name": "X-Hook", "webhook_header_value": "v" * 40}
    boto3.client("ssm").put_parameter(
        Name="/practicepay/splash", Value=json.dumps(value), Type="SecureString", KeyId=aws_env["DATA_KEY_ARN"]
    )
    creds = splash_credentials(_config(SPLASH_CREDENTIALS="ssm:/practicepay/splash"))
    assert creds.api_key.get_secret_value() == "ssm-held-api-key-123"


def test_a_malformed_secret_fails_loudly(aws_env):
    parameters.clear_caches()
    boto3.client("secretsmanager").create_secret(Name="practicepay/bad-splash", SecretString='{"api_key": "x"}')
    with pytest.raises(ValueError):
        splash_credentials(_config(SPLASH_CREDENTIALS="secretsmanager:practicepay/bad-splash"))
