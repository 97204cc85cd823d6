import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from practicepay.auth import ROLE_CLAIM
from practicepay.auth.tokens import (
    ASYMMETRIC_ALGORITHMS,
    InvalidToken,
    Principal,
    TokenVerifier,
    hs256_keys,
    issue_hs256,
    jwks_keys,
)
from practicepay.staff.roles import Role

pytestmark = pytest.mark.unit

SECRET = "s" * 48
ISSUER = "practicepay-local"
AUDIENCE = "practicepay"


@pytest.fixture
def verifier() -> TokenVerifier:
    return TokenVerifier(hs256_keys(lambda: SECRET), issuer=ISSUER, audience=AUDIENCE)


def claims(**overrides) -> dict:
    now = int(time.time())
    base = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "practice_id": "prac_a", "iat": now, "exp": now + 600}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def rejection(verifier: TokenVerifier, authorization: str | None) -> str:
    with pytest.raises(InvalidToken) as exc_info:
        verifier.verify(authorization)
    return exc_info.value.reason


def test_valid_token_yields_principal_from_claims(verifier):
    token = issue_hs256(SECRET, "prac_a", subject="dr-who")

    assert verifier.verify(f"Bearer {token}") == Principal(practice_id="prac_a", subject="dr-who")


def test_bearer_scheme_is_case_insensitive(verifier):
    token = issue_hs256(SECRET, "prac_a")

    assert verifier.verify(f"bearer {token}").practice_id == "prac_a"


def test_expired_token_is_rejected_as_expired(verifier):
    token = issue_hs256(SECRET, "prac_a", ttl_seconds=60, now=time.time() - 3600)

    assert rejection(verifier, f"Bearer {token}") == "expired"


def test_token_within_leeway_is_still_accepted(verifier):
    # Given a token that expired 10 s ago (clock skew allowance is 30 s)
    token = issue_hs256(SECRET, "prac_a", ttl_seconds=60, now=time.time() - 70)

    assert verifier.verify(f"Bearer {token}").practice_id == "prac_a"


def test_wrong_secret_is_rejected(verifier):
    token = issue_hs256("x" * 48, "prac_a")

    assert rejection(verifier, f"Bearer {token}") == "InvalidSignatureError"


def test_wrong_audience_is_rejected(verifier):
    token = issue_hs256(SECRET, "prac_a", audience="someone-else")

    assert rejection(verifier, f"Bearer {token}") == "InvalidAudienceError"


def test_wrong_issuer_is_rejected(verifier):
    token = issue_hs256(SECRET, "prac_a", issuer="evil-issuer")

    assert rejection(verifier, f"Bearer {token}") == "InvalidIssuerError"


@pytest.mark.parametrize("missing", ["exp", "iat", "sub", "iss", "aud"])
def test_token_missing_a_required_claim_is_rejected(verifier, missing):
    token = jwt.encode(claims(**{missing: None}), SECRET, algorithm="HS256")

    rejection(verifier, f"Bearer {token}")


@pytest.mark.parametrize("practice_id", [None, "", "a/b", "PRACTICE#a", "x" * 65, 123, ["prac_a"]])
def test_missing_or_malformed_practice_id_is_rejected(verifier, practice_id):
    body = claims()
    if practice_id is None:
        del body["practice_id"]
    else:
        body["practice_id"] = practice_id
    token = jwt.encode(body, SECRET, algorithm="HS256")

    assert rejection(verifier, f"Bearer {token}") == "practice_id claim missing or malformed"


def test_issue_refuses_malformed_practice_id():
    with pytest.raises(ValueError):
        issue_hs256(SECRET, "a b")


def test_alg_none_token_is_rejected(verifier):
    token = jwt.encode(claims(), None, algorithm="none")

    rejection(verifier, f"Bearer {token}")


def test_rs256_token_is_rejected_when_only_hs256_is_allowed(verifier):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(claims(), key, algorithm="RS256")

    assert rejection(verifier, f"Bearer {token}") == "InvalidAlgorithmError"


@pytest.mark.parametrize(
    "authorization",
    [None, "", "   ", "Bearer", "Bearer    ", "Basic dXNlcjpwYXNz", "Token abc.def.ghi", "Bearer not-a-jwt"],
)
def test_missing_or_non_bearer_authorization_is_rejected(verifier, authorization):
    rejection(verifier, authorization)


# --- asymmetric keys (the production path, with a custom KeyResolver instead of a JWKS fetch) ---


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def rsa_verifier(rsa_key) -> TokenVerifier:
    return TokenVerifier(lambda _token: (rsa_key.public_key(), ASYMMETRIC_ALGORITHMS), issuer=ISSUER, audience=AUDIENCE)


def test_valid_rs256_token_verifies(rsa_verifier, rsa_key):
    token = jwt.encode(claims(practice_id="prac_b", sub="svc"), rsa_key, algorithm="RS256")

    assert rsa_verifier.verify(f"Bearer {token}") == Principal(practice_id="prac_b", subject="svc")


def test_rs256_token_signed_by_another_key_is_rejected(rsa_verifier):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(claims(), other, algorithm="RS256")

    assert rejection(rsa_verifier, f"Bearer {token}") == "InvalidSignatureError"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_hs256_token_forged_with_public_key_pem_is_rejected(rsa_verifier, rsa_key):
    # Given an attacker who HMAC-signs a token using the (public) RSA key PEM as the secret
    pem = rsa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    signing_input = (
        _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + _b64(json.dumps(claims()).encode())
    )
    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{_b64(signature)}"

    assert rejection(rsa_verifier, f"Bearer {forged}") == "InvalidAlgorithmError"


def test_token_whose_alg_does_not_match_the_key_type_is_rejected_as_invalid(rsa_verifier):
    # Given a token claiming ES256 (an allowed algorithm) while the resolved key is RSA
    token = jwt.encode(claims(), ec.generate_private_key(ec.SECP256R1()), algorithm="ES256")

    rejection(rsa_verifier, f"Bearer {token}")


def test_jwks_resolver_rejects_garbage_token_as_invalid(monkeypatch):
    # No network: any key fetch fails as if the JWKS endpoint were unreachable.
    def no_fetch(self):
        raise jwt.PyJWKClientConnectionError("network disabled in unit tests")

    monkeypatch.setattr(jwt.PyJWKClient, "fetch_data", no_fetch)
    verifier = TokenVerifier(jwks_keys("https://jwks.invalid/.well-known/jwks.json"), issuer=ISSUER, audience=AUDIENCE)

    rejection(verifier, "Bearer garbage")


# --- staff roles (the role claim; practicepay.staff.roles) ---


def test_a_token_without_a_role_is_the_platforms_own(verifier):
    assert verifier.verify(f"Bearer {issue_hs256(SECRET, 'prac_a')}").role is None


@pytest.mark.parametrize("role", list(Role))
def test_an_issued_staff_token_carries_its_role(verifier, role):
    token = issue_hs256(SECRET, "prac_a", role=role)

    assert verifier.verify(f"Bearer {token}").role is role


@pytest.mark.parametrize(
    "value, expected",
    [("billing", Role.BILLING), (["front_desk", "admin"], Role.ADMIN), (["nurses", "front_desk"], Role.FRONT_DESK)],
)
def test_the_role_claims_name_is_configurable_and_a_group_list_takes_its_highest_role(value, expected):
    cognito = TokenVerifier(hs256_keys(lambda: SECRET), issuer=ISSUER, audience=AUDIENCE, role_claim="cognito:groups")
    token = jwt.encode(claims(**{"cognito:groups": value}), SECRET, algorithm="HS256")

    assert cognito.verify(f"Bearer {token}").role is expected


def test_a_role_under_another_claim_name_is_not_read(verifier):
    token = jwt.encode(claims(**{"cognito:groups": ["admin"]}), SECRET, algorithm="HS256")

    assert verifier.verify(f"Bearer {token}").role is None


@pytest.mark.parametrize("value", ["superuser", "ADMIN", ["nurses"], 7, {"name": "admin"}, ["admin", None]])
def test_a_role_claim_naming_no_known_role_makes_the_token_invalid(verifier, value):
    token = jwt.encode(claims(**{ROLE_CLAIM: value}), SECRET, algorithm="HS256")

    assert rejection(verifier, f"Bearer {token}") == "role claim names no known role"
