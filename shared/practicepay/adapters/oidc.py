"""An OpenID Connect provider, as the dashboard's sign-in uses it: discovery, the authorization request (code flow
with PKCE S256 and a nonce), the code exchange at the token endpoint, and the ID token's verification against the
provider's JWKS (RS256/ES256 only; iss, aud, exp, iat, sub and the nonce checked). Works with the clinical
platform's provider and with Amazon Cognito alike (both publish /.well-known/openid-configuration)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import jwt
import requests

from practicepay.auth.tokens import ASYMMETRIC_ALGORITHMS, LEEWAY_SECONDS

TIMEOUT_SECONDS = 5


class OidcError(Exception):
    """The provider could not be reached, or what it answered does not verify. `reason` is safe to log."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class OidcProvider:
    def __init__(self, issuer: str, client_id: str, session: requests.Session | None = None):
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self._http = session or requests.Session()
        self._config: dict[str, Any] | None = None
        self._keys: dict[str, Any] = {}

    def config(self) -> dict[str, Any]:
        """The provider's metadata (fetched once per cold start); its issuer must be the one configured."""
        if self._config is None:
            url = f"{self.issuer}/.well-known/openid-configuration"
            try:
                answer = self._http.get(url, timeout=TIMEOUT_SECONDS)
                answer.raise_for_status()
                config = answer.json()
            except (requests.RequestException, ValueError) as exc:
                raise OidcError("discovery failed") from exc
            if config.get("issuer", "").rstrip("/") != self.issuer:
                raise OidcError("discovery names another issuer")
            self._config = config
        return self._config

    def authorization_url(self, *, redirect_uri: str, state: str, nonce: str, challenge: str) -> str:
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": "openid email profile",
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        return f"{self.config()['authorization_endpoint']}?{urlencode(query)}"

    def exchange(self, *, code: str, verifier: str, redirect_uri: str, nonce: str) -> dict[str, Any]:
        """The verified claims of the ID token the provider gives for this code."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": self.client_id,
            "code_verifier": verifier,
        }
        try:
            answer = self._http.post(self.config()["token_endpoint"], data=form, timeout=TIMEOUT_SECONDS)
            tokens = answer.json() if answer.ok else None
        except (requests.RequestException, ValueError) as exc:
            raise OidcError("token endpoint unreachable") from exc
        id_token = tokens.get("id_token") if isinstance(tokens, dict) else None
        if not isinstance(id_token, str):
            raise OidcError("the code was refused")
        claims = self.verify(id_token)
        if claims.get("nonce") != nonce:
            raise OidcError("nonce mismatch")
        return claims

    def verify(self, id_token: str) -> dict[str, Any]:
        try:
            key = self._key(jwt.get_unverified_header(id_token).get("kid"))
            return jwt.decode(
                id_token,
                key=key,
                algorithms=list(ASYMMETRIC_ALGORITHMS),
                audience=self.client_id,
                issuer=self.config()["issuer"],  # as the provider spells it (a trailing slash is part of `iss`)
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except (jwt.PyJWTError, TypeError, ValueError) as exc:
            raise OidcError(f"id token refused: {type(exc).__name__}") from exc

    def _key(self, kid: object) -> Any:
        """The provider's signing key `kid` (its JWKS read once, again when a key rotated in)."""
        if not isinstance(kid, str):
            raise OidcError("id token names no key")
        if kid not in self._keys:
            try:
                answer = self._http.get(self.config()["jwks_uri"], timeout=TIMEOUT_SECONDS)
                answer.raise_for_status()
                keys = jwt.PyJWKSet.from_dict(answer.json())
            except (requests.RequestException, ValueError, jwt.PyJWTError) as exc:
                raise OidcError("jwks unreachable") from exc
            self._keys = {k.key_id: k.key for k in keys.keys if k.key_id}
        if kid not in self._keys:
            raise OidcError("id token signed with an unknown key")
        return self._keys[kid]
