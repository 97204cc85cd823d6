import pytest
from pydantic import ValidationError

from practicepay.config import AuthorizerConfig, InvoicesConfig

pytestmark = pytest.mark.unit

KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_authorizer_with_secret_only():
    cfg = AuthorizerConfig.model_validate({"JWT_SECRET_ID": "practicepay/jwt", "UNRELATED": "x"})

    assert (cfg.jwt_secret_id, cfg.jwt_jwks_url, cfg.jwt_issuer) == ("practicepay/jwt", None, "practicepay-local")


def test_authorizer_with_jwks_only():
    cfg = AuthorizerConfig.model_validate({"JWT_JWKS_URL": "https://idp.example.com/.well-known/jwks.json"})

    assert cfg.jwt_secret_id is None
    assert str(cfg.jwt_jwks_url) == "https://idp.example.com/.well-known/jwks.json"


@pytest.mark.parametrize(
    "env",
    [{}, {"JWT_SECRET_ID": "practicepay/jwt", "JWT_JWKS_URL": "https://idp.example.com/jwks.json"}],
    ids=["neither", "both"],
)
def test_authorizer_requires_exactly_one_key_source(env):
    with pytest.raises(ValidationError, match="exactly one of JWT_SECRET_ID"):
        AuthorizerConfig.model_validate(env)


def test_authorizer_rejects_non_url_jwks():
    with pytest.raises(ValidationError):
        AuthorizerConfig.model_validate({"JWT_JWKS_URL": "not a url"})


def invoices_env(**overrides) -> dict:
    env = {
        "INVOICES_TABLE": "invoices",
        "PATIENTS_TABLE": "patients",
        "IDEMPOTENCY_TABLE": "idempotency",
        "EVENTS_TABLE": "events",
        "PAY_LINKS_TABLE": "pay-links",
        "PRACTICES_TABLE": "practices",
    }
    return {**env, "DATA_KEY_ARN": KEY_ARN, **overrides}


def test_invoices_config_accepts_kms_key_arn():
    assert InvoicesConfig.model_validate(invoices_env()).data_key_arn == KEY_ARN


@pytest.mark.parametrize(
    "arn",
    [
        "alias/practicepay-data",
        "arn:aws:kms:us-east-1:123456789012:alias/practicepay-data",
        "arn:aws:s3:::bucket",
        "arn:aws:kms:us-east-1:1234:key/abc",
        "1234abcd-12ab-34cd-56ef-1234567890ab",
        "",
    ],
)
def test_invoices_config_rejects_non_kms_key_arn(arn):
    with pytest.raises(ValidationError) as exc_info:
        InvoicesConfig.model_validate(invoices_env(DATA_KEY_ARN=arn))
    assert [e["loc"] for e in exc_info.value.errors()] == [("DATA_KEY_ARN",)]
