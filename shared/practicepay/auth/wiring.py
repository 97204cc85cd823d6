"""Builds the token verifier from the authorizer's configuration, once per cold start."""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools.utilities import parameters

from practicepay.auth.tokens import TokenVerifier, hs256_keys, jwks_keys
from practicepay.config import AuthorizerConfig, load


@cache
def token_verifier() -> TokenVerifier:
    cfg = load(AuthorizerConfig)
    if cfg.jwt_jwks_url is not None:
        keys = jwks_keys(str(cfg.jwt_jwks_url))
    else:
        secret_id = cfg.jwt_secret_id
        # Powertools parameters caches the secret for max_age seconds, so a rotated secret is picked up.
        keys = hs256_keys(lambda: parameters.get_secret(secret_id, max_age=cfg.secret_max_age_seconds))
    return TokenVerifier(keys, issuer=cfg.jwt_issuer, audience=cfg.jwt_audience, role_claim=cfg.jwt_role_claim)
