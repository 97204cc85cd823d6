"""Staff rules over in-memory fakes (ADR 0018): a session's idle and absolute limits, PKCE, the OIDC sign-in (state
used once, nonce, the ID token verified against the provider's JWKS, practice and role claims), the role claim,
dollar amounts from forms, and the audit entry that rides in a change's own transaction (or is written alone when the
action fails first)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import jwt
import pytest
import responses
from cryptography.hazmat.primitives.asymmetric import rsa

from practicepay.adapters.dynamo import Transaction, TransactionConflict
from practicepay.adapters.oidc import OidcProvider
from practicepay.clock import iso
from practicepay.errors import Conflict, NotFound, PaymentDeclined
from practicepay.staff.audit import Auditor
from practicepay.staff.models import (
    ABSOLUTE_HOURS,
    Actor,
    AuditEntry,
    DevSignInForm,
    SignIn,
    StaffSession,
    cents,
    pkce_challenge,
    secret_hash,
)
from practicepay.staff.roles import API_PERMISSIONS, DASHBOARD_PERMISSIONS, GRANTS, Permission, Role, allowed
from practicepay.staff.sessions import SessionService, SignedOut, SignInRefused, SignInUnavailable

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
ISSUER = "https://idp.example.org"
CLIENT = "practicepay-dashboard"
CALLBACK = "https://dash.example/dashboard/callback"


# -- records and rules -------------------------------------------------------------------------------------------


def session(**changes: Any) -> StaffSession:
    s = StaffSession.new("cookie", "prc_a", "sub-1", "Dana", Role.FRONT_DESK, NOW, 15, "dev")
    return StaffSession(**{**s.__dict__, **changes})


def test_a_session_ends_after_its_idle_minutes_and_after_twelve_hours_whatever_happens():
    s = session()
    assert s.ended(NOW + timedelta(minutes=14, seconds=59)) is None
    assert s.ended(NOW + timedelta(minutes=15)) == "idle"
    busy = s.touched(NOW + timedelta(hours=ABSOLUTE_HOURS) - timedelta(minutes=1))
    assert busy.ended(NOW + timedelta(hours=ABSOLUTE_HOURS) - timedelta(seconds=1)) is None
    assert busy.ended(NOW + timedelta(hours=ABSOLUTE_HOURS)) == "expired"


def test_the_pages_idle_timer_counts_from_the_last_activity_the_server_recorded():
    """Activity is recorded at most every 30 s: a page shown 20 s after it must count down 20 s less, or it would
    let staff type into a form the server has already signed out."""
    session = StaffSession.new("c" * 43, "prc_a", "sub", "Bo", Role.BILLING, NOW, 15, "dev")
    assert session.idle_left(NOW) == 900
    assert session.idle_left(NOW + timedelta(seconds=20)) == 880
    assert session.idle_left(NOW + timedelta(minutes=16)) == 0


def test_the_session_is_known_by_its_hash_and_carries_its_own_csrf_token():
    a, b = session(), StaffSession.new("other", "prc_a", "s", "n", Role.BILLING, NOW, 15, "dev")
    assert a.id_hash == secret_hash("cookie") != "cookie"
    assert a.csrf != b.csrf and len(a.csrf) >= 43


def test_pkce_s256_matches_rfc_7636_appendix_b():
    assert (
        pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


@pytest.mark.parametrize(("typed", "want"), [("12", 1200), ("12.5", 1250), ("12.50", 1250), ("0.07", 7), ("", None)])
def test_dollars_typed_become_exact_cents(typed, want):
    assert cents(typed) == want


@pytest.mark.parametrize(
    ("claim", "want"),
    [
        ("billing", Role.BILLING),
        (["front_desk"], Role.FRONT_DESK),
        (["front_desk", "admin", "billing"], Role.ADMIN),
        (["everyone", "billing"], Role.BILLING),
        (None, None),
        ([], None),
    ],
)
def test_the_role_claim_names_the_most_powerful_known_role(claim, want):
    assert Role.from_claim(claim) == want


@pytest.mark.parametrize("claim", ["superuser", ["everyone"], 7, [1, "billing"]])
def test_a_role_claim_naming_no_known_role_is_refused(claim):
    with pytest.raises(ValueError, match="role"):
        Role.from_claim(claim)


def test_the_grants_nest_and_every_permission_is_someones():
    assert GRANTS[Role.FRONT_DESK] < GRANTS[Role.BILLING] < GRANTS[Role.ADMIN]
    assert set(GRANTS[Role.ADMIN]) == set(Permission)
    assert not allowed(Role.FRONT_DESK, Permission.REFUND) and allowed(Role.BILLING, Permission.REFUND)
    assert not allowed(Role.BILLING, Permission.SETTINGS) and allowed(Role.ADMIN, Permission.SETTINGS)
    assert {p for p in DASHBOARD_PERMISSIONS.values() if p} | set(API_PERMISSIONS.values()) == set(Permission)


# -- sessions and OIDC sign-in, over fakes -------------------------------------------------------------------------


class FakeSessions:
    def __init__(self) -> None:
        self.sessions: dict[str, StaffSession] = {}
        self.signins: dict[str, SignIn] = {}

    def create(self, s: StaffSession) -> None:
        self.sessions[s.id_hash] = s

    def get(self, id_hash: str) -> StaffSession | None:
        return self.sessions.get(id_hash)

    def touch(self, s: StaffSession, alive_after: str) -> bool:
        held = self.sessions.get(s.id_hash)
        if held is None or not held.last_seen > alive_after:
            return False
        self.sessions[s.id_hash] = s
        return True

    def delete(self, id_hash: str) -> None:
        self.sessions.pop(id_hash, None)

    def start(self, signin: SignIn) -> None:
        self.signins[signin.state_hash] = signin

    def take(self, state_hash: str) -> SignIn | None:
        return self.signins.pop(state_hash, None)


class FakePractices:
    def get(self, practice_id: str) -> object | None:
        return object() if practice_id == "prc_a" else None


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def service(provider: OidcProvider | None = None, dev: bool = True, clock: Clock | None = None) -> SessionService:
    return SessionService(
        FakeSessions(),
        FakePractices(),  # type: ignore[arg-type]
        provider,
        idle_minutes=15,
        role_claim="cognito:groups",
        practice_claim="custom:practice_id",
        dev_signin=dev,
        clock=clock or Clock(),
    )


def test_the_current_session_moves_its_last_activity_and_ends_when_idle():
    clock = Clock()
    svc = service(clock=clock)
    cookie, _ = svc.dev(DevSignInForm.model_validate({"practice_id": "prc_a", "role": "billing", "name": "Bo"}))
    clock.now = NOW + timedelta(minutes=10)
    assert svc.current(cookie).last_seen == iso(clock.now)
    clock.now = NOW + timedelta(minutes=24)  # 14 after the last request
    assert svc.current(cookie).role == "billing"
    clock.now = NOW + timedelta(minutes=40)
    with pytest.raises(SignedOut) as out:
        svc.current(cookie)
    assert out.value.reason == "idle"
    with pytest.raises(SignedOut) as gone:
        svc.current(cookie)
    assert gone.value.reason == "none"  # removed, not only refused once


def test_the_development_sign_in_is_404_unless_enabled_and_needs_a_real_practice():
    form = DevSignInForm.model_validate({"practice_id": "prc_a", "role": "admin", "name": "Ada"})
    with pytest.raises(NotFound):
        service(dev=False).dev(form)
    with pytest.raises(SignInRefused):
        service().dev(form.model_copy(update={"practice_id": "prc_nope"}))


@pytest.fixture
def idp():
    """An OpenID provider: discovery, JWKS with one RSA key, and a token endpoint answering what `issue` queued."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    queued: list[dict[str, Any]] = []
    seen: list[dict[str, list[str]]] = []
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(
            f"{ISSUER}/.well-known/openid-configuration",
            json={
                "issuer": ISSUER,
                "authorization_endpoint": f"{ISSUER}/oauth2/authorize",
                "token_endpoint": f"{ISSUER}/oauth2/token",
                "jwks_uri": f"{ISSUER}/jwks.json",
            },
        )
        mock.get(f"{ISSUER}/jwks.json", json={"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]})

        def token(request):
            seen.append(parse_qs(request.body))
            claims = queued.pop(0)
            signed = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})
            return 200, {}, json.dumps({"id_token": signed, "access_token": "a", "token_type": "Bearer"})

        mock.add_callback(responses.POST, f"{ISSUER}/oauth2/token", callback=token)
        yield {"queue": queued, "seen": seen, "key": key}


def claims(nonce: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": ISSUER,
        "aud": CLIENT,
        "sub": "user-7",
        "iat": now,
        "exp": now + 3600,
        "nonce": nonce,
        "email": "bo@lakeside.example",
        "cognito:groups": ["billing"],
        "custom:practice_id": "prc_a",
        **changes,
    }


def begin(svc: SessionService) -> dict[str, str]:
    url, state = svc.begin("https://dash.example/dashboard/callback", "/dashboard/patients")
    query = {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}
    assert url.startswith(f"{ISSUER}/oauth2/authorize?") and query["state"] == state
    assert query["code_challenge_method"] == "S256" and query["response_type"] == "code"
    return query


def test_an_oidc_sign_in_uses_its_state_once_and_proves_its_pkce_verifier(idp):
    svc = service(OidcProvider(ISSUER, CLIENT))
    query = begin(svc)
    idp["queue"].append(claims(svc.store.signins[secret_hash(query["state"])].nonce))
    cookie, made, next_path = svc.finish("code-1", query["state"], CALLBACK, query["state"])
    assert (made.practice_id, made.role, made.name, made.via) == ("prc_a", "billing", "bo@lakeside.example", "oidc")
    assert next_path == "/dashboard/patients" and svc.current(cookie) == made
    sent = idp["seen"][0]
    assert pkce_challenge(sent["code_verifier"][0]) == query["code_challenge"]
    assert sent["grant_type"] == ["authorization_code"] and sent["client_id"] == [CLIENT]
    with pytest.raises(SignInRefused, match="already used"):
        svc.finish("code-1", query["state"], CALLBACK, query["state"])


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"nonce": "another"}, "nonce"),
        ({"aud": "someone-else"}, "id token refused"),
        ({"iss": "https://evil.example"}, "id token refused"),
        ({"exp": int(time.time()) - 3600}, "id token refused"),
        ({"cognito:groups": ["everyone"]}, "no PracticePay role"),
        ({"cognito:groups": None}, "no PracticePay role"),
        ({"custom:practice_id": None}, "not linked to a practice"),
        ({"custom:practice_id": "prc_nope"}, "No practice"),
    ],
)
def test_an_id_token_that_does_not_verify_or_names_no_role_or_practice_signs_nobody_in(idp, change, why):
    svc = service(OidcProvider(ISSUER, CLIENT))
    query = begin(svc)
    nonce = svc.store.signins[secret_hash(query["state"])].nonce
    idp["queue"].append({k: v for k, v in {**claims(nonce), **change}.items() if v is not None})
    with pytest.raises(SignInRefused, match=why):
        svc.finish("code-1", query["state"], CALLBACK, query["state"])
    assert svc.store.sessions == {}


@pytest.mark.parametrize("bound", [None, "", "another-browsers-state"])
def test_a_callback_in_a_browser_that_did_not_begin_the_sign_in_is_refused_and_leaves_the_sign_in(idp, bound):
    """Login CSRF (RFC 6749 §10.12): someone's callback URL pasted into another browser signs nobody in there, and
    the one who began it can still finish."""
    svc = service(OidcProvider(ISSUER, CLIENT))
    query = begin(svc)
    idp["queue"].append(claims(svc.store.signins[secret_hash(query["state"])].nonce))
    with pytest.raises(SignInRefused, match="not started in this browser"):
        svc.finish("code-1", query["state"], CALLBACK, bound)
    assert svc.store.sessions == {} and idp["seen"] == []
    cookie, made, _ = svc.finish("code-1", query["state"], CALLBACK, query["state"])
    assert svc.current(cookie) == made


def test_a_provider_that_cannot_be_reached_is_a_503_problem_and_starts_nothing():
    svc = service(OidcProvider(ISSUER, CLIENT))
    with responses.RequestsMock() as mock:
        mock.get(f"{ISSUER}/.well-known/openid-configuration", status=502)
        with pytest.raises(SignInUnavailable, match="discovery failed") as raised:
            svc.begin(CALLBACK, "/dashboard")
    assert raised.value.status == 503 and svc.store.signins == {}


def test_an_issuer_spelled_with_a_trailing_slash_verifies_as_the_provider_spells_it():
    """Auth0 and others put the slash in `iss`: the token is checked against the discovered issuer, not ours."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    provider = OidcProvider(ISSUER + "/", CLIENT)
    with responses.RequestsMock() as mock:
        mock.get(
            f"{ISSUER}/.well-known/openid-configuration",
            json={"issuer": ISSUER + "/", "jwks_uri": f"{ISSUER}/jwks.json", "token_endpoint": f"{ISSUER}/t"},
        )
        mock.get(f"{ISSUER}/jwks.json", json={"keys": [{**public, "kid": "k1", "alg": "RS256"}]})
        token = jwt.encode(claims("n", iss=ISSUER + "/"), key, algorithm="RS256", headers={"kid": "k1"})
        assert provider.verify(token)["iss"] == ISSUER + "/"


def test_a_sign_in_older_than_ten_minutes_is_refused(idp):
    clock = Clock()
    svc = service(OidcProvider(ISSUER, CLIENT), clock=clock)
    query = begin(svc)
    clock.now = NOW + timedelta(minutes=10)
    with pytest.raises(SignInRefused, match="expired"):
        svc.finish("code-1", query["state"], CALLBACK, query["state"])
    assert idp["seen"] == []  # the code was never exchanged


# -- the audit entry rides in the change's transaction ---------------------------------------------------------------


class FakeClient:
    class exceptions:  # noqa: N801 (boto3's shape)
        class TransactionCanceledException(Exception):
            pass

    def __init__(self) -> None:
        self.committed: list[list[dict[str, Any]]] = []

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> None:  # noqa: N803 (boto3's name)
        self.committed.append(TransactItems)


class FakeAudit:
    table_name = "practicepay-audit"

    def __init__(self) -> None:
        self.alone: list[AuditEntry] = []

    def add(self, tx: Transaction, entry: AuditEntry) -> None:
        tx.put(self.table_name, {"pk": f"PRACTICE#{entry.practice_id}", "sk": f"AUDIT#{entry.id}", **entry.__dict__})

    def put(self, entry: AuditEntry) -> None:
        self.alone.append(entry)


ACTOR = Actor("prc_a", "sub-1", "Bea", "billing", "203.0.113.9")


def change(client: FakeClient, items: int = 2) -> Transaction:
    tx = Transaction(client)
    for n in range(items):
        tx.put("practicepay-invoices", {"pk": "PRACTICE#prc_a", "sk": f"X#{n}"})
    return tx


def test_every_transaction_of_an_action_carries_its_audit_entry_after_its_own_items():
    client, audit = FakeClient(), FakeAudit()
    auditor = Auditor(audit, clock=lambda: NOW)  # type: ignore[arg-type]
    with auditor.action(ACTOR, "refund:sent", invoice_id="inv_1", reason="billing_error", amount=1500):
        change(client).commit()
        change(client, 1).commit()
    change(client).commit()  # outside the action: no entry
    tables = [[next(iter(op.values()))["TableName"] for op in items] for items in client.committed]
    assert tables == [
        ["practicepay-invoices", "practicepay-invoices", "practicepay-audit"],
        ["practicepay-invoices", "practicepay-audit"],
        ["practicepay-invoices", "practicepay-invoices"],
    ]
    entry = client.committed[0][2]["Put"]["Item"]
    assert entry["action"] == {"S": "refund:sent"} and entry["outcome"] == {"S": "done"}
    assert entry["records"] == {"N": "2"} and entry["reason"] == {"S": "billing_error"}
    assert entry["address"] == {"S": "203.0.113.9"} and entry["role"] == {"S": "billing"}
    assert audit.alone == []


def test_an_action_that_fails_before_writing_is_audited_alone_with_its_error():
    audit = FakeAudit()
    auditor = Auditor(audit, clock=lambda: NOW)  # type: ignore[arg-type]
    with pytest.raises(Conflict), auditor.action(ACTOR, "invoice:canceled", invoice_id="inv_1"):
        raise Conflict("The invoice has payments.")
    assert [(e.action, e.outcome, e.error) for e in audit.alone] == [("invoice:canceled", "failed", "conflict")]


def test_an_action_that_fails_after_writing_keeps_what_it_wrote_and_says_it_failed():
    """A payment reserved and then declined: the reservation's entry rides its transaction, and the failure is
    written after it (an auditor must not read `done` for a charge that never went through)."""
    client, audit = FakeClient(), FakeAudit()
    auditor = Auditor(audit, clock=lambda: NOW)  # type: ignore[arg-type]
    with pytest.raises(PaymentDeclined), auditor.action(ACTOR, "payment:taken", invoice_id="inv_1", amount=4000):
        change(client, 1).commit()
        raise PaymentDeclined("Declined by the card's bank.", "insufficient_funds")
    assert client.committed[0][1]["Put"]["Item"]["outcome"] == {"S": "done"}
    assert [(e.action, e.outcome, e.error, e.amount) for e in audit.alone] == [
        ("payment:taken", "failed", "payment-declined:insufficient-funds", 4000)
    ]


def test_a_transaction_that_does_not_commit_leaves_the_failure_in_the_trail():
    client, audit = FakeClient(), FakeAudit()

    def refuse(TransactItems: list[dict[str, Any]]) -> None:  # noqa: N803 (boto3's name)
        refused = FakeClient.exceptions.TransactionCanceledException()
        refused.response = {"CancellationReasons": [{"Code": "ConditionalCheckFailed"}]}  # type: ignore[attr-defined]
        raise refused

    client.transact_write_items = refuse  # type: ignore[method-assign]
    auditor = Auditor(audit, clock=lambda: NOW)  # type: ignore[arg-type]
    with pytest.raises(TransactionConflict), auditor.action(ACTOR, "invoice:written_off", invoice_id="inv_1"):
        change(client, 1).commit()
    assert [(e.outcome, e.error) for e in audit.alone] == [("failed", "conflict")]


def test_a_transaction_committed_twice_carries_one_entry():
    client, audit = FakeClient(), FakeAudit()
    auditor = Auditor(audit, clock=lambda: NOW)  # type: ignore[arg-type]
    with auditor.action(ACTOR, "plan:started"):
        tx = change(client, 1)
        tx.commit()
        tx.commit()
    assert [len(items) for items in client.committed] == [2, 2]
