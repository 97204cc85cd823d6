"""Staff sign-in and sessions (ADR 0018): OpenID Connect (code flow, PKCE, nonce) with the practice's provider, or
the local stack's development sign-in; a session per sign-in, kept in an HttpOnly cookie, ended by 15 minutes idle
(a setting: HIPAA's automatic logoff), by 12 hours in all, or by signing out."""

from __future__ import annotations

import hmac
from datetime import timedelta

from practicepay.adapters.oidc import OidcError, OidcProvider
from practicepay.auth import PRACTICE_ID_RE
from practicepay.clock import Clock, iso, utc_now
from practicepay.errors import NotFound, PracticePayError
from practicepay.practices.store import PracticeStore
from practicepay.staff.models import DevSignInForm, SignIn, StaffSession, new_secret, pkce_challenge, secret_hash
from practicepay.staff.roles import Role
from practicepay.staff.store import SessionStore


class SignedOut(Exception):
    """No session: none given, unknown, idle, expired. `reason` is shown on the sign-in page."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class SignInRefused(PracticePayError):
    status = 403
    slug = "sign-in-refused"
    title = "Sign-in refused"


class SignInUnavailable(PracticePayError):
    status = 503
    slug = "sign-in-unavailable"
    title = "Sign-in unavailable"


class SessionService:
    def __init__(
        self,
        store: SessionStore,
        practices: PracticeStore,
        provider: OidcProvider | None,
        *,
        idle_minutes: int,
        role_claim: str,
        practice_claim: str,
        dev_signin: bool,
        clock: Clock = utc_now,
    ):
        self.store = store
        self.practices = practices
        self.provider = provider
        self.idle_minutes = idle_minutes
        self.role_claim = role_claim
        self.practice_claim = practice_claim
        self.dev_signin = dev_signin
        self.clock = clock

    def begin(self, redirect_uri: str, next_path: str) -> tuple[str, str]:
        """Where to send the browser to sign in (the provider's authorization endpoint, with this sign-in's state,
        nonce and PKCE challenge; the verifier stays here), and the state, which the browser must also keep in a
        cookie: the callback is accepted only from the browser that began the sign-in (RFC 6749 §10.12)."""
        if self.provider is None:
            raise SignInRefused("No identity provider is configured for staff sign-in.")
        state, verifier, nonce = new_secret(), new_secret() + new_secret(), new_secret()
        try:
            endpoint = self.provider.authorization_url(
                redirect_uri=redirect_uri, state=state, nonce=nonce, challenge=pkce_challenge(verifier)
            )
        except OidcError as exc:
            raise SignInUnavailable(f"The identity provider cannot be reached ({exc.reason}); try again.") from exc
        self.store.start(SignIn(secret_hash(state), verifier, nonce, next_path, iso(self.clock())))
        return endpoint, state

    def finish(self, code: str, state: str, redirect_uri: str, bound: str | None) -> tuple[str, StaffSession, str]:
        """The provider sent the browser back: the state must be the one this browser kept (`bound`, its sign-in
        cookie: else someone else's sign-in was pasted into it), the sign-in's state is taken (once), the code
        exchanged with its verifier, the ID token's practice and role read. The new session's cookie, the session,
        where to go."""
        if not bound or not hmac.compare_digest(bound.encode(), state.encode()):
            raise SignInRefused("This sign-in was not started in this browser; sign in again.")
        signin = self.store.take(secret_hash(state))
        if self.provider is None or signin is None or signin.expired(self.clock()):
            raise SignInRefused("This sign-in has expired or was already used; sign in again.")
        try:
            claims = self.provider.exchange(
                code=code, verifier=signin.verifier, redirect_uri=redirect_uri, nonce=signin.nonce
            )
        except OidcError as exc:
            raise SignInRefused(f"The identity provider's answer was refused ({exc.reason}).") from exc
        practice_id = claims.get(self.practice_claim)
        if not isinstance(practice_id, str) or not PRACTICE_ID_RE.match(practice_id):
            raise SignInRefused("Your account is not linked to a practice; ask your practice's administrator.")
        try:
            role = Role.from_claim(claims.get(self.role_claim))
        except ValueError:
            role = None
        if role is None:
            raise SignInRefused("Your account has no PracticePay role; ask your practice's administrator.")
        name = next((str(claims[c]) for c in ("name", "email", "preferred_username") if claims.get(c)), claims["sub"])
        cookie, session = self._open(practice_id, str(claims["sub"]), name[:80], role, "oidc")
        return cookie, session, signin.next_path

    def dev(self, form: DevSignInForm) -> tuple[str, StaffSession]:
        """The local stack's sign-in as any role of a practice (STAFF_DEV_SIGNIN=1: never in a deployed stack)."""
        if not self.dev_signin:
            raise NotFound("No route matches this method and path.")
        return self._open(form.practice_id, f"dev:{form.role.value}:{form.name}", form.name, form.role, "dev")

    def _open(self, practice_id: str, subject: str, name: str, role: Role, via: str) -> tuple[str, StaffSession]:
        if self.practices.get(practice_id) is None:
            raise SignInRefused(f"No practice {practice_id} exists.")
        cookie = new_secret()
        session = StaffSession.new(cookie, practice_id, subject, name, role, self.clock(), self.idle_minutes, via)
        self.store.create(session)
        return cookie, session

    def current(self, cookie: str | None) -> StaffSession:
        """The live session of this cookie (its last activity moved to now), or SignedOut with why."""
        if not cookie:
            raise SignedOut("none")
        session = self.store.get(secret_hash(cookie))
        if session is None:
            raise SignedOut("none")
        now = self.clock()
        ended = session.ended(now)
        if ended is not None:
            self.store.delete(session.id_hash)
            raise SignedOut(ended)
        if session.needs_touch(now):
            alive_after = iso(now - timedelta(minutes=session.idle_minutes))
            touched = session.touched(now)
            if self.store.touch(touched, alive_after):
                session = touched
        return session

    def end(self, cookie: str | None) -> None:
        if cookie:
            self.store.delete(secret_hash(cookie))
