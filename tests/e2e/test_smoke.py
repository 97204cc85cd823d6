"""`make smoke`: local/smoke.py run as a user runs it after a deploy, here against `make run`'s local stack (the
`stack` fixture of test_local_stack.py: a process of its own, real HTTP), and against APIs that answer wrong."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from local.smoke import Report, Smoke, invoice_mismatches
from tests.e2e.conftest import ROOT
from tests.helpers import free_port

pytestmark = pytest.mark.e2e


def _smoke(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "local.smoke", *args],
        cwd=ROOT,
        env=env or {**os.environ},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _lines(out: str, status: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(f"{status} ")]


def test_every_check_passes_against_the_local_stack(stack):
    result = _smoke(f"{stack.base}/", "--token", stack.token)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not _lines(result.stdout, "FAIL")
    ok = "\n".join(_lines(result.stdout, "ok"))
    for check in (
        "health: 200",
        "auth: GET /invoices with no token: 401",
        "auth: GET /invoices with a forged token: 401",
        "openapi: 200 OpenAPI 3.",
        "round trip: card on file",
        "round trip: replay",
        "round trip: invoice read back: status refunded, total 16700, amount_paid 16700, amount_refunded 16700",
        "round trip: payment read back",
        "clean up: remove the card: 200, status inactive",
    ):
        assert check in ok, result.stdout
    ids = json.loads(next(line for line in result.stdout.splitlines() if "ids:" in line).split("ids:", 1)[1])
    assert {"patient", "payment_method", "invoice", "payment", "refund_1", "refund_2"} <= set(ids)
    auth = {"Authorization": f"Bearer {stack.token}"}
    method = requests.get(f"{stack.base}/patients/{ids['patient']}/payment-methods", headers=auth, timeout=10).json()
    assert [m["status"] for m in method["data"]] == ["inactive"]  # cleaned up


def test_without_a_token_the_round_trip_is_skipped_with_a_line(stack):
    result = _smoke(stack.base)
    assert result.returncode == 0, result.stdout + result.stderr
    assert any(line.startswith("skip  round trip: no --token") for line in result.stdout.splitlines())


def test_a_token_signed_with_the_stacks_secret_is_accepted(stack):
    """`make token SECRET=<JwtSecretArn>` reads the HS256 secret with boto3 (here the local stack's, in its embedded
    AWS) and signs a token the API accepts: how an operator gets the first admin token after a deploy."""
    env = {
        **stack.env,
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{stack.env['PRACTICEPAY_AWS_PORT']}",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
    }

    def token(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "local.token", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )

    minted = token("prc_demo", "--secret", "practicepay/jwt-signing-secret")
    assert minted.returncode == 0, minted.stderr
    listed = requests.get(
        f"{stack.base}/invoices", headers={"Authorization": f"Bearer {minted.stdout.strip()}"}, timeout=10
    )
    assert listed.status_code == 200, listed.text
    admin = token("ops", "--admin", "--secret", "practicepay/jwt-signing-secret").stdout.strip()
    practice = requests.get(
        f"{stack.base}/practices/prc_demo", headers={"Authorization": f"Bearer {admin}"}, timeout=10
    )
    assert practice.status_code == 200, practice.text
    missing = token("prc_demo", "--secret", "no/such-secret")
    assert missing.returncode == 2 and "no/such-secret" in missing.stderr and "Traceback" not in missing.stderr


@pytest.fixture
def failing_api() -> Iterator[str]:
    """An API that answers 500 to everything."""
    server = make_server("127.0.0.1", free_port(), lambda e, s: Response("boom", status=500)(e, s), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/v1/"
    server.shutdown()


def test_a_failing_health_check_exits_1_and_names_the_check(failing_api):
    result = _smoke(failing_api)
    assert result.returncode == 1
    failed = _lines(result.stdout, "FAIL")
    assert any(line.startswith("FAIL  health: expected 200") and "got 500 boom" in line for line in failed)


def test_an_api_that_does_not_answer_exits_1(tmp_path):
    result = _smoke(f"http://127.0.0.1:{free_port()}/")  # nothing listens there
    assert result.returncode == 1
    assert any(line.startswith("FAIL  health: no answer from") for line in result.stdout.splitlines())


class _Tamper(requests.Session):
    """Passes every request to the real local stack; after the first refund, invoices read back one cent short of
    what was refunded (the kind of wrong total the round trip must catch)."""

    def __init__(self) -> None:
        super().__init__()
        self.refunded = False

    def request(self, method, url, *args, **kwargs):
        resp = super().request(method, url, *args, **kwargs)
        if method == "POST" and url.endswith("/refunds"):
            self.refunded = True
        if method == "GET" and "/invoices/inv_" in url and self.refunded and resp.status_code == 200:
            body = resp.json()
            body["amount_refunded"] -= 1
            resp._content = json.dumps(body).encode()
        return resp


def test_the_round_trip_catches_a_wrong_total_and_still_cleans_up(stack):
    lines: list[str] = []
    code = Smoke(stack.base, token=stack.token, session=_Tamper(), report=Report(out=lines.append)).run()
    assert code == 1
    failed = [line for line in lines if line.startswith("FAIL")]
    assert failed == ["FAIL  round trip: invoice read back: amount_refunded: expected 16700, got 16699"], "\n".join(
        lines
    )
    assert any(line.startswith("ok    clean up: remove the card: 200") for line in lines)


class _NotSandbox(requests.Session):
    """The local stack, except that adding raw card numbers answers as the patients function does when its Splash
    host is not a sandbox (practicepay.patients.service.add_method)."""

    def request(self, method, url, *args, **kwargs):
        if method == "POST" and url.endswith("/payment-methods"):
            resp = requests.Response()
            resp.status_code = 400
            resp.headers["Content-Type"] = "application/problem+json"
            resp._content = json.dumps(
                {
                    "type": "urn:practicepay:problem:malformed-request",
                    "title": "The request could not be read",
                    "status": 400,
                    "detail": "Card and bank numbers are accepted only while the Splash sandbox is the configured "
                    "host. Collect them with Splash PayFields in the browser and send the token it returns.",
                    "errors": [{"field": "card", "message": "send `token` instead"}],
                }
            ).encode()
            return resp
        return super().request(method, url, *args, **kwargs)


def test_a_host_that_is_not_a_sandbox_skips_the_round_trip(stack):
    lines: list[str] = []
    code = Smoke(stack.base, token=stack.token, session=_NotSandbox(), report=Report(out=lines.append)).run()
    assert code == 0, "\n".join(lines)
    skipped = [line for line in lines if line.startswith("skip  round trip")]
    assert len(skipped) == 1 and "not a sandbox host: round trip skipped" in skipped[0]
    assert not any("clean up" in line for line in lines)  # nothing but the patient was made


@pytest.mark.parametrize("gateway", ["problem+json", "api-gateway-default"])
def test_an_api_without_openapi_json_fails_that_check(gateway):
    """A PracticePay stack serves GET /openapi.json (the docs function): API Gateway's answer for a route it does not
    have (this stack's gateway response, or its default) is a FAIL naming the route (smoke then exits 1)."""

    def app(environ, start_response):
        request = Request(environ)
        assert request.path == "/v1/openapi.json"
        if gateway == "problem+json":
            body = {"type": "urn:practicepay:problem:no-such-route", "title": "No such route", "status": 404}
            answer = Response(json.dumps(body), status=404, content_type="application/problem+json")
        else:
            answer = Response(json.dumps({"message": "Missing Authentication Token"}), status=403)
        return answer(environ, start_response)

    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        lines: list[str] = []
        smoke = Smoke(f"http://127.0.0.1:{server.server_port}/v1", report=Report(out=lines.append))
        smoke.openapi()
        status = 404 if gateway == "problem+json" else 403
        assert lines == [
            f"FAIL  openapi: no route GET /openapi.json ({status}): this stack predates it; redeploy (make deploy)"
        ]
        assert smoke.report.failures == ["openapi"]
    finally:
        server.shutdown()


def test_invoice_mismatches_names_each_wrong_field():
    invoice = {"status": "refunded", "total": 16700, "amount_refunded": 16699}
    assert invoice_mismatches(invoice, {"status": "refunded", "total": 16700}) == []
    assert invoice_mismatches(invoice, {"total": 16701, "amount_refunded": 16700, "amount_due": 0}) == [
        "total: expected 16701, got 16700",
        "amount_refunded: expected 16700, got 16699",
        "amount_due: expected 0, got None",
    ]
