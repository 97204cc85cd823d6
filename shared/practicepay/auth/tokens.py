"""JWT verification and (for the local stack and tests) issuing.

The clinical platform calls us with one JWT per practice. The practice id comes only from the token's
`practice_id` claim; nothing in a request body or path can change it.

Two key sources:
- HS256 with a shared secret kept in Secrets Manager (the local stack, or a deployment sharing a secret);
- the clinical platform's asymmetric keys (RS256/ES256) from its JWKS URL, for production.

A staff member's token also names a role (the claim AuthorizerConfig.jwt_role_claim): the API then limits it to
what that role may do (practicepay.staff.roles). A role claim naming no known role makes the token invalid: a token
must never pass as the platform's own (unlimited) because its role was misspelt.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import jwt

from practicepay.auth import PRACTICE_ID_RE, ROLE_CLAIM
from practicepay.staff.roles import Role

ASYMMETRIC_ALGORITHMS = ("RS256", "ES256")
LEEWAY_SECONDS = 30


class InvalidToken(Exception):
    """The token is missing, malformed, expired, or not ours. `reason` is safe to log (no token text)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Principal:
    practice_id: str
    subject: str
    scopes: frozenset[str] = frozenset()
    """From the token's `scope` claim (space-separated, as OAuth writes it); ADMIN_SCOPE onboards practices."""
    role: Role | None = None
    """A staff member's role; None for the clinical platform's own token (not limited by role)."""


KeyResolver = Callable[[str], tuple[object, tuple[str, ...]]]
"""Given the raw token, returns the verification key and the algorithms it may be used with."""


def hs256_keys(get_secret: Callable[[], str]) -> KeyResolver:
    return lambda _token: (get_secret(), ("HS256",))


def jwks_keys(jwks_url: str) -> KeyResolver:
    client = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300, timeout=5)

    def resolve(token: str) -> tuple[object, tuple[str, ...]]:
        try:
            return client.get_signing_key_from_jwt(token).key, ASYMMETRIC_ALGORITHMS
        except jwt.PyJWTError as exc:  # unreadable header, unknown kid, JWKS unreachable
            raise InvalidToken("signing key not found") from exc

    return resolve


class TokenVerifier:
    def __init__(self, keys: KeyResolver, *, issuer: str, audience: str, role_claim: str = ROLE_CLAIM):
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._role_claim = role_claim

    def verify(self, authorization: str | None) -> Principal:
        token = bearer_token(authorization)
        key, algorithms = self._keys(token)
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=list(algorithms),
                audience=self._audience,
                issuer=self._issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("expired") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken(type(exc).__name__) from exc
        except (TypeError, ValueError) as exc:
            # The header's `alg` names an allowed algorithm of another key type (e.g. ES256 with an RSA key).
            raise InvalidToken("algorithm does not match the key") from exc
        practice_id = claims.get("practice_id")
        if not isinstance(practice_id, str) or not PRACTICE_ID_RE.match(practice_id):
            raise InvalidToken("practice_id claim missing or malformed")
        scope = claims.get("scope")
        scopes = frozenset(scope.split()) if isinstance(scope, str) else frozenset()
        try:
            role = Role.from_claim(claims.get(self._role_claim))
        except ValueError as exc:
            raise InvalidToken("role claim names no known role") from exc
        return Principal(practice_id=practice_id, subject=str(claims["sub"]), scopes=scopes, role=role)


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise InvalidToken("no Authorization header")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("Authorization is not a Bearer token")
    return token.strip()


def issue_hs256(
    secret: str,
    practice_id: str,
    *,
    issuer: str = "practicepay-local",
    audience: str = "practicepay",
    subject: str = "local-developer",
    ttl_seconds: int = 12 * 3600,
    now: float | None = None,
    scope: str | None = None,
    role: Role | None = None,
) -> str:
    """A token as the clinical platform would mint it. For the local stack and tests only."""
    if not PRACTICE_ID_RE.match(practice_id):
        raise ValueError("practice id must be 1-64 letters, digits, '_' or '-'")
    iat = int(time.time() if now is None else now)
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "practice_id": practice_id,
        "iat": iat,
        "exp": iat + ttl_seconds,
    }
    if scope:
        claims["scope"] = scope
    if role is not None:
        claims[ROLE_CLAIM] = role.value
    return jwt.encode(claims, secret, algorithm="HS256")
