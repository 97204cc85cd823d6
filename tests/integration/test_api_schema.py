"""Property-based API testing (schemathesis) over every route of the OpenAPI document: generated requests,
valid and invalid, never get a 5xx, and every response matches the documented schema and status codes.

Each operation is driven in three runs: positive data (what the document allows), negative data (what it
forbids: wrong types, out-of-range integers, broken patterns, missing required fields...), and, for routes with
path parameters, positive data against real records of prc_fuzz (so GETs and actions answer 200 and 409, not
only 404, and their success bodies are checked too). PRACTICEPAY_FUZZ_EXAMPLES sets the examples per operation
and run (default 50: about a minute on two cores). The counts are printed at the end of the session
(tests/integration/conftest.py, pytest_terminal_summary)."""

from __future__ import annotations

import os
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from tests.integration.conftest import FUZZ, Api

# What must hold for every response. Semantic refusals of schema-valid input (an unknown id, a foreign cursor)
# are correct 4xx answers, so "positive data acceptance" is not among them; negative cases are refused with a
# 4xx, which must be one the operation documents (status_code_conformance) in the documented shape.
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
]
EXAMPLES = int(os.environ.get("PRACTICEPAY_FUZZ_EXAMPLES", "50"))
PRACTICE = "prc_fuzz"

pytestmark = pytest.mark.integration


def real_records(api: Api) -> dict[str, str]:
    """prc_fuzz's records, by the path parameter that names them: a patient with a card, an open invoice with a
    payment plan, a card payment, a membership."""
    from tests.integration.test_money_core import add_card, new_patient, ok, open_invoice, pay

    later = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()
    consent = {"text_version": "plan-2026-01", "accepted_at": "2026-11-26T10:00:00Z", "max_amount": 100_000}
    patient = new_patient(api, PRACTICE, "ehr-fuzz")
    card = add_card(api, PRACTICE, patient)["id"]
    payment = pay(api, PRACTICE, open_invoice(api, PRACTICE, patient)["id"], card, amount=5000)["id"]
    invoice = open_invoice(api, PRACTICE, patient)["id"]
    plan = {"installment_count": 2, "frequency": "monthly", "first_date": later, "payment_method_id": card}
    ok(api.call("POST", f"/invoices/{invoice}/payment-plan", practice=PRACTICE, body={**plan, "consent": consent}), 201)
    membership = {"amount": 4900, "frequency": "monthly", "start_date": later, "payment_method_id": card}
    subscription = ok(
        api.call(
            "POST", f"/patients/{patient}/subscriptions", practice=PRACTICE, body={**membership, "consent": consent}
        ),
        201,
    )["id"]
    return {
        "practice_id": PRACTICE,
        "patient_id": patient,
        "method_id": card,
        "invoice_id": invoice,
        "payment_id": payment,
        "subscription_id": subscription,
    }


def test_no_route_answers_5xx_or_breaks_its_schema(aws_env, boarded, api, request):
    from local import docs
    from local.front import LocalApiGateway
    from practicepay.splash.wiring import splash_credentials

    boarded(PRACTICE)
    records = real_records(api)
    app = LocalApiGateway(extra=docs.routes())
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    token = api.token(PRACTICE)
    creds = splash_credentials()
    webhook_header = {creds.webhook_header_name: creds.webhook_header_value.get_secret_value()}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 17

    tally: dict[str, Counter] = request.config.stash.setdefault(FUZZ, {})
    failures: list[tuple[str, str]] = []  # (one line, the details)

    def run(operation, mode: GenerationMode, fixed: dict[str, str] | None, name: str) -> None:
        counts = tally.setdefault(operation.label, Counter())
        auth = webhook_header if operation.path == "/webhooks/splash" else {"Authorization": f"Bearer {token}"}

        @given(case=operation.as_strategy(generation_mode=mode, path_parameters=fixed))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as generated
        )
        def check(case) -> None:
            case.headers = {**(case.headers or {}), **auth}
            response = case.call()
            counts[name] += 1
            counts[f"status {response.status_code}"] += 1
            if response.status_code >= 500:
                counts["server errors"] += 1
            case.validate_response(response, checks=CHECKS)

        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis's FailureGroup is a BaseExceptionGroup
            where = f"{operation.label} [{name}]"
            failures.append((f"{where}: {brief(exc)}", f"--- {where}\n{str(exc).strip()[:2000]}"))

    for operation in operations:
        run(operation, GenerationMode.POSITIVE, None, "positive")
        if any([operation.path_parameters, operation.query, operation.headers, operation.body]):
            run(operation, GenerationMode.NEGATIVE, None, "negative")  # (/health, the webhook: nothing to negate)
        names = {p.name for p in operation.path_parameters}
        if names and names - {"seq"} <= set(records):
            run(operation, GenerationMode.POSITIVE, {k: records[k] for k in names if k in records}, "real ids")

    server_errors = sum(c["server errors"] for c in tally.values())
    assert not failures and not server_errors, (
        f"{len(failures)} operation run(s) failed, {server_errors} server error(s):\n"
        + "\n".join(line for line, _ in failures)
        + "\n\n"
        + "\n\n".join(details for _, details in failures)
    )


def brief(exc: BaseException) -> str:
    """A failure in one line: each check's code and title, with the status received where it is the point."""
    parts = []
    for failure in exc.exceptions if isinstance(exc, BaseExceptionGroup) else (exc,):
        code = getattr(failure, "code", type(failure).__name__)
        title = getattr(failure, "title", str(failure).splitlines()[0] if str(failure) else "")
        message = getattr(failure, "message", "") or ""
        received = next((line.strip() for line in message.splitlines() if line.strip().startswith("Received")), "")
        parts.append(f"{code} {title}" + (f" ({received})" if received else ""))
    return "; ".join(parts)
