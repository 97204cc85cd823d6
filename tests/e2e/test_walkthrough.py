"""The README's walkthrough as a new user runs it, twice on one `make run` stack; and `make run` with
PRACTICEPAY_LOCAL_STATE, stopped and started again, still holding (and decrypting) what it made."""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import ROOT, Running, environment, up

pytestmark = pytest.mark.e2e

README = ROOT / "README.md"
IDS = ("PAT", "CARD", "BANK", "INV", "PAY", "INV2", "INV4", "PRACTICE")
ID_SHAPE = re.compile(r"^[a-z]+_[A-Za-z0-9_]+$")


def walkthrough(readme: Path = README) -> str:
    """The section's two bash blocks (the bill, the onboarding) as one script."""
    section = readme.read_text().split("### Walkthrough", 1)[1].split("\n## ", 1)[0]
    blocks = [block.split("\n```", 1)[0] for block in section.split("```bash\n")[1:3]]
    assert len(blocks) == 2, "the walkthrough has a bill block and an onboarding block"
    return "\n".join(blocks)


def _tools() -> None:
    """curl (≥ 7.76, for --fail-with-body) and jq are the walkthrough's tools; the test installs nothing."""
    missing = [tool for tool in ("curl", "jq") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"the README walkthrough needs {' and '.join(missing)}: install it (e.g. apt-get install jq curl)")
    version = subprocess.run(["curl", "--version"], capture_output=True, text=True, check=True).stdout.split()[1]
    if tuple(int(n) for n in re.findall(r"\d+", version)[:2]) < (7, 76):
        pytest.fail(f"the README walkthrough needs curl >= 7.76 (--fail-with-body); this is curl {version}")


def run_walkthrough(running: Running, script: str) -> tuple[subprocess.CompletedProcess, dict[str, str]]:
    # The README's old block had the API's URL written out; the current one reads PRACTICEPAY_API_PORT.
    script = script.replace("API=http://127.0.0.1:3000;", f"API={running.base};")
    script += "\n" + "echo WALKTHROUGH-IDS " + " ".join(f"{name}=${{{name}-}}" for name in IDS) + "\n"
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=ROOT,
        env={**running.env, "TOKEN": running.token},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    tail = [line for line in result.stdout.splitlines() if line.startswith("WALKTHROUGH-IDS ")]
    ids = dict(pair.split("=", 1) for pair in tail[-1].split()[1:]) if tail else {}
    return result, ids


@pytest.fixture(scope="module", autouse=True)
def tools() -> None:
    _tools()


def test_the_readme_walkthrough_runs_twice_on_one_stack(stack):
    script = walkthrough()
    seen: set[str] = set()
    for attempt in (1, 2):
        result, ids = run_walkthrough(stack, script)
        assert result.returncode == 0, f"run {attempt} failed:\n{result.stderr}\n{result.stdout[-3000:]}"
        assert set(ids) == set(IDS), result.stdout[-2000:]
        for name, value in ids.items():
            assert value != "null" and ID_SHAPE.match(value), f"run {attempt}: {name}={value!r}"
        assert not seen & set(ids.values()), f"run {attempt} reused ids: {seen & set(ids.values())}"
        seen |= set(ids.values())
        assert '"id": null' not in result.stdout and '"result": "created"' in result.stdout, result.stdout
        assert '"can_take_payments": true' in result.stdout, result.stdout
        _says_what_the_readme_says(result.stdout)


def _says_what_the_readme_says(out: str) -> None:
    """What each step prints, as the README tells it."""
    assert '"status": "open"' in out and '"total": 16700' in out  # issued
    assert '"status": "processing"' in out  # the eCheck
    assert '"kind": "void"' in out and '"status": "succeeded"' in out  # the refund of the unsettled card sale
    # $20 back is a refund whatever Splash calls it: the balance stays (ADR 0014)
    assert '"status": "partially_refunded"' in out and '"amount_refunded": 2000' in out, out
    # step 7: the settlement's web alert went sandbox → webhook → queue → processor, by itself
    assert '"method_kind": "bank_account",\n  "status": "succeeded"' in out, out
    assert '"amount_processing": 0' in out and '"amount_due": 0' in out, out
    # step 8: the plan's first installment charged by the daily run, the invoice in progress
    assert '"amount_paid": 10000' in out and '"status": "in_progress"' in out, out
    assert '"seq": 1,\n      "status": "paid"' in out, out
    # step 9: the encounter's draft invoice, its FHIR view, the events published on the bus
    assert '"result": "created"' in out and '"resourceType": "Invoice"' in out, out
    assert '"type": "invoice.paid"' in out or '"type": "installment.paid"' in out, out
    # step 10: the payments report and the aging, as JSON and as CSV
    assert '"method_last4": "4242"' in out and "patient_id,invoices," in out, out
    # step 11: a pay link for the patient, listed with what happened on it
    assert re.search(r'"url": "http://127\.0\.0\.1:\d+/pay/[A-Za-z0-9_-]{32}"', out) and '"max_uses": 3' in out, out
    assert '"status": "active",\n  "uses": 0' in out, out
    # step 12: the statement, by email and by text, sent, the text with its pay link
    assert '{"email":"active","sms":"active"}' in out.replace(" ", "").replace("\n", ""), out
    assert '{"kind":"statement","channel":"email","status":"sent"' in out, out
    if '{"kind":"statement","channel":"sms","status":"held","to":"•••0142"}' not in out:  # 21:00-08:00 in New York
        assert '{"kind":"statement","channel":"sms","status":"sent","to":"•••0142"}' in out, out
        assert re.search(r"your bill of \$48\.00 is due Jan 31\. Pay: http://127\.0\.0\.1:\d+/pay/[\w-]{32}", out), out
    # onboarding: submitted, then boarded two sandbox days later
    assert '"boarding_status": "submitted"' in out and '"can_take_payments": true' in out, out


def test_the_walkthrough_stops_at_the_first_error_with_the_problem(stack):
    script = walkthrough().replace("Bearer $TOKEN", "Bearer not-a-token", 1)
    result, ids = run_walkthrough(stack, script)
    assert result.returncode != 0
    assert "urn:practicepay:problem:unauthorized" in result.stderr, result.stderr  # the problem, on stderr
    assert "urn:practicepay:problem" not in result.stdout  # never passed on as data
    assert not ids  # nothing after the first request ran


def test_local_state_survives_a_restart(tmp_path):
    local, state = tmp_path / "local", tmp_path / "state"
    first = up(environment(local, PRACTICEPAY_LOCAL_STATE=str(state)))
    try:
        assert f"local state    {state}" in first.banner and "(new;" in first.banner
        auth = {"Authorization": f"Bearer {first.token}"}
        external = f"ehr-{uuid.uuid4().hex[:8]}"
        made = requests.post(
            f"{first.base}/patients",
            json={"external_id": external, "first_name": "Grace", "last_name": "Kept", "date_of_birth": "1971-05-06"},
            headers={**auth, "Idempotency-Key": str(uuid.uuid4())},
            timeout=20,
        )
        assert made.status_code == 201, made.text
        patient = made.json()
        card = requests.post(
            f"{first.base}/patients/{patient['id']}/payment-methods",
            json={
                "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"},
                "consent": {
                    "text_version": "2026-01",
                    "accepted_at": "2026-11-26T10:00:00Z",
                    "captured_by": "front-desk",
                    "channel": "in_person",
                },
            },
            headers={**auth, "Idempotency-Key": str(uuid.uuid4())},
            timeout=20,
        )
        assert card.status_code == 201, card.text
    finally:
        printed = first.stop()
    assert "local state saved" in printed, printed
    assert any(state.iterdir())

    second = up(environment(local, PRACTICEPAY_LOCAL_STATE=str(state)))  # other ports: the state is not tied to them
    try:
        assert "(restored;" in second.banner, second.banner
        auth = {"Authorization": f"Bearer {second.token}"}
        read = requests.get(f"{second.base}/patients/{patient['id']}", headers=auth, timeout=20)
        assert read.status_code == 200, read.text
        assert read.json() == patient  # the sealed PHI decrypts: the KMS key material was kept
        found = requests.get(f"{second.base}/patients", params={"external_id": external}, headers=auth, timeout=20)
        assert [p["id"] for p in found.json()["data"]] == [patient["id"]]
        # The card on file is still vaulted at the sandbox and the demo practice's merchant still boarded.
        invoice = requests.post(
            f"{second.base}/invoices",
            json={
                "patient_id": patient["id"],
                "due_date": "2026-12-31",
                "line_items": [{"description": "Office visit", "unit_amount": 5000}],
            },
            headers={**auth, "Idempotency-Key": str(uuid.uuid4())},
            timeout=20,
        ).json()
        issued = requests.post(f"{second.base}/invoices/{invoice['id']}/issue", headers=auth, timeout=20)
        assert issued.status_code == 200, issued.text
        paid = requests.post(
            f"{second.base}/invoices/{invoice['id']}/payments",
            json={"payment_method_id": card.json()["id"]},
            headers={**auth, "Idempotency-Key": str(uuid.uuid4())},
            timeout=30,
        )
        assert paid.status_code == 201 and paid.json()["status"] == "succeeded", paid.text
    finally:
        second.stop()
