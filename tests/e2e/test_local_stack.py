"""`make run`'s local stack as a user meets it: started as a process, driven over real HTTP, stopped with Ctrl-C."""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid

import pytest
import requests

from tests.e2e.conftest import ROOT
from tests.helpers import free_port

pytestmark = pytest.mark.e2e


def test_banner_names_the_urls_and_the_demo_practice(stack):
    assert f"{stack.base}/health" in stack.banner
    assert f"{stack.base}/docs" in stack.banner
    assert "prc_demo" in stack.banner


def test_the_splash_sandbox_runs_beside_the_api_and_needs_its_key(stack):
    sandbox = f"http://127.0.0.1:{stack.env['PRACTICEPAY_SPLASH_PORT']}"
    assert sandbox in stack.banner
    assert requests.get(f"{sandbox}/_sandbox/health", timeout=5).json()["status"] == "ok"
    refused = requests.get(f"{sandbox}/txns", timeout=5)
    assert refused.status_code == 401
    listed = requests.get(f"{sandbox}/txns", headers={"APIKEY": "sandbox-private-key"}, timeout=5).json()
    assert listed["response"]["data"] == [] and listed["response"]["errors"] == []


def test_health_docs_and_openapi(stack):
    assert requests.get(f"{stack.base}/health", timeout=5).json()["status"] == "ok"
    docs = requests.get(f"{stack.base}/docs", timeout=5)
    assert docs.status_code == 200 and "swagger-ui" in docs.text
    assert requests.get(f"{stack.base}/docs/swagger-ui-bundle.js", timeout=5).status_code == 200
    spec = requests.get(f"{stack.base}/openapi.json", timeout=5).json()
    assert {"/invoices", "/invoices/{invoice_id}", "/health"} <= set(spec["paths"])
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_printed_token_creates_and_reads_back_an_invoice(stack):
    auth = {"Authorization": f"Bearer {stack.token}"}
    patient = requests.post(
        f"{stack.base}/patients",
        json={"external_id": "ehr-e2e", "first_name": "Eve", "last_name": "Patient"},
        headers={**auth, "Idempotency-Key": str(uuid.uuid4())},
        timeout=10,
    )
    assert patient.status_code == 201, patient.text
    body = {
        "patient_id": patient.json()["id"],
        "due_date": "2026-12-31",
        "line_items": [{"description": "Office visit", "cpt_code": "99213", "unit_amount": 12500}],
    }
    created = requests.post(
        f"{stack.base}/invoices", json=body, headers={**auth, "Idempotency-Key": str(uuid.uuid4())}, timeout=10
    )
    assert created.status_code == 201, created.text
    invoice = created.json()
    assert invoice["total"] == 12500
    read = requests.get(f"{stack.base}/invoices/{invoice['id']}", headers=auth, timeout=10)
    assert read.json() == invoice

    other = subprocess.run(
        [sys.executable, "-m", "local.token", "prc_other"],
        cwd=ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    hidden = requests.get(
        f"{stack.base}/invoices/{invoice['id']}", headers={"Authorization": f"Bearer {other}"}, timeout=10
    )
    assert hidden.status_code == 404
    assert requests.get(f"{stack.base}/invoices/{invoice['id']}", timeout=5).status_code == 401


def test_a_port_in_use_is_one_line_naming_it_and_the_variable(stack):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {
            **stack.env,
            "PRACTICEPAY_API_PORT": str(port),
            "PRACTICEPAY_AWS_PORT": str(free_port()),
            "PRACTICEPAY_SPLASH_PORT": str(free_port()),
        }
        result = subprocess.run(
            [sys.executable, "-m", "local.run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
    assert result.returncode != 0
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert str(port) in message and "PRACTICEPAY_API_PORT" in message


def test_ctrl_c_stops_everything_cleanly(stack):
    # Runs last in this module: it stops the shared stack.
    assert "stopped" in stack.stop(timeout=20)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{stack.base}/health", timeout=2)
    for name in ("PRACTICEPAY_AWS_PORT", "PRACTICEPAY_SPLASH_PORT"):
        with socket.socket() as probe:
            # SO_REUSEADDR: connections the servers closed may linger in TIME_WAIT on the port; only a socket
            # still listening there makes the bind fail.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", int(stack.env[name])))  # the embedded AWS and the sandbox released theirs
