"""Staff sign in through an OpenID provider in a real browser (Chromium via Playwright), the code flow with PKCE end
to end: the local stack (`make run`) with STAFF_OIDC_ISSUER set, and a provider of our own on another site
(`localhost`, where the dashboard is `127.0.0.1`: the provider's redirect back is a cross-site navigation, as with
a real one). The provider signs whoever asks in at once, or holds the redirect back as a link to take it elsewhere.

- The session cookie is SameSite=Strict: after the cross-site callback the browser must still be signed in (a
  redirect there would go on without the cookie; the callback answers with a page that moves on itself).
- Login CSRF: the callback URL of a sign-in begun in one browser, opened in another, signs nobody in there, and
  the one who began it still finishes."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.e2e.conftest import environment, up
from tests.e2e.screens import assert_accessible
from tests.e2e.test_pay_page_browser import browser  # noqa: F401  (a fixture)
from tests.helpers import free_port

pytestmark = pytest.mark.e2e

CLIENT = "practicepay-dashboard"
PRACTICE = "prc_demo"


class Provider:
    """Discovery, the authorization endpoint (no login screen: everyone is Bo Billing of prc_demo), the token
    endpoint (the code once, for its client, redirect URI and PKCE verifier) and the JWKS."""

    def __init__(self) -> None:
        self.port = free_port()
        self.issuer = f"http://localhost:{self.port}"
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.codes: dict[str, dict[str, str]] = {}
        self.exchanged: list[dict[str, str]] = []
        self.hold = False
        self.server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @Request.application
    def app(self, request: Request) -> Response:
        if request.path == "/.well-known/openid-configuration":
            return self._json(
                {
                    "issuer": self.issuer,
                    "authorization_endpoint": f"{self.issuer}/authorize",
                    "token_endpoint": f"{self.issuer}/token",
                    "jwks_uri": f"{self.issuer}/jwks.json",
                }
            )
        if request.path == "/jwks.json":
            public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
            return self._json({"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]})
        if request.path == "/authorize":
            asked = dict(request.args)
            assert asked["response_type"] == "code" and asked["code_challenge_method"] == "S256", asked
            code = secrets.token_urlsafe(24)
            self.codes[code] = asked
            back = f"{asked['redirect_uri']}?{urlencode({'code': code, 'state': asked['state']})}"
            if self.hold:
                page = f'<!doctype html><html lang="en"><title>IdP</title><a id="back" href="{back}">Back</a></html>'
                return Response(page, content_type="text/html")
            return Response(status=302, headers={"Location": back})
        if request.path == "/token" and request.method == "POST":
            form = dict(request.form)
            asked = self.codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "").encode()
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=").decode()
            if (
                asked is None
                or form.get("client_id") != asked["client_id"]
                or form.get("redirect_uri") != asked["redirect_uri"]
                or challenge != asked["code_challenge"]
            ):
                return self._json({"error": "invalid_grant"}, 400)
            self.exchanged.append(form)
            now = int(time.time())
            claims = {
                "iss": self.issuer,
                "aud": CLIENT,
                "sub": "idp-user-7",
                "iat": now,
                "exp": now + 300,
                "nonce": asked["nonce"],
                "name": "Bo Billing",
                "practice_id": PRACTICE,
                "practicepay_role": "billing",
            }
            signed = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "k1"})
            return self._json({"id_token": signed, "access_token": "opaque", "token_type": "Bearer"})
        return Response("not found", status=404)

    @staticmethod
    def _json(body: dict[str, Any], status: int = 200) -> Response:
        return Response(json.dumps(body), status=status, content_type="application/json")


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    found = Provider()
    yield found
    found.server.shutdown()


@pytest.fixture(scope="module")
def oidc_stack(tmp_path_factory, provider):
    env = environment(
        tmp_path_factory.mktemp("local-oidc"), STAFF_OIDC_ISSUER=provider.issuer, STAFF_OIDC_CLIENT_ID=CLIENT
    )
    running = up(env)
    yield running
    running.kill()


@pytest.fixture
def contexts(browser) -> Iterator[Any]:  # noqa: F811  (browser: the imported fixture)
    made = []

    def new() -> Any:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        made.append(context)
        return context

    yield new
    for context in made:
        context.close()


def _names(context: Any) -> set[str]:
    return {c["name"] for c in context.cookies()}


def test_staff_sign_in_at_their_provider_and_arrive_signed_in(oidc_stack, provider, contexts):
    context = contexts()
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(oidc_stack.base + "/dashboard/patients")  # signed out: the sign-in page, to come back here
    page.get_by_role("link", name="Sign in with your practice account").click()
    page.wait_for_url(re.compile(r".*/dashboard/patients$"))
    assert_accessible(page, "patients after an OIDC sign-in")
    assert "Bo Billing" in page.locator("header").inner_text() and "Billing" in page.locator("header").inner_text()
    assert page.get_by_role("heading", name="Patients").is_visible()
    assert _names(context) == {"pp_staff"}  # the sign-in's own cookie is gone with it
    (exchanged,) = provider.exchanged[-1:]
    assert len(exchanged["code_verifier"]) >= 43  # PKCE: the verifier went to the token endpoint only


def test_a_callback_taken_to_another_browser_signs_nobody_in_there(oidc_stack, provider, contexts):
    provider.hold = True
    try:
        starter, other = contexts(), contexts()
        page = starter.new_page()
        page.set_default_timeout(20_000)
        page.goto(oidc_stack.base + "/dashboard/signin")
        page.get_by_role("link", name="Sign in with your practice account").click()
        callback = page.locator("#back").get_attribute("href")
        assert callback and "state=" in callback

        stolen = other.new_page()
        answer = stolen.goto(callback)
        assert answer is not None and answer.status == 403
        assert "not started in this browser" in stolen.locator("main").inner_text()
        assert "pp_staff" not in _names(other)
        stolen.goto(oidc_stack.base + "/dashboard")
        assert stolen.get_by_role("heading", name="Sign in to PracticePay").is_visible()

        page.locator("#back").click()  # the one who began it finishes: the refusal took nothing of theirs
        page.wait_for_url(re.compile(r".*/dashboard$"))
        assert "Bo Billing" in page.locator("header").inner_text()
    finally:
        provider.hold = False
