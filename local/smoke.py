"""`make smoke URL=https://…/v1/ [TOKEN=…]`: after a deploy (or against `make run`), check the API answers as it
should, one line per check (`ok`, `FAIL` or `skip` and what was seen); exit 1 on any FAIL.

1. GET /health answers 200 and the health body;
2. an authenticated route without a token (and with a forged one) answers 401 problem+json;
3. GET /openapi.json is served without a token: the OpenAPI document (JSON) of this API, itself included (a stack
   deployed before the route existed fails this check: redeploy);
4. with a practice token, on a Splash sandbox host: a patient, a test card on file, an invoice, issued, paid by
   card (replayed with the same Idempotency-Key), refunded in two parts, read back and its totals checked; then
   cleaned up (the card removed; an invoice left unpaid canceled; money left refunded). The patient stays: the
   API has no route that deletes one.

The token: `--token <jwt>` (in HS256 mode after a deploy: `make token PRACTICE=<id> SECRET=<JwtSecretArn>`).
Needs only the runtime dependencies (requests)."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from practicepay.api.contract import HEALTH_BODY, PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 30  # seconds: a cold Lambda behind API Gateway may take several
SANDBOX_CARD = "4242424242424242"
LINES = ((12500, "Smoke test: office visit", "99213"), (4200, "Smoke test: lipid panel", "80061"))
FIRST_REFUND = 2000
# API Gateway's answer for a path it has no route for: 403 {"message": "Missing Authentication Token"} by default,
# 404 problem+json `no-such-route` with this stack's gateway responses (practicepay.api.contract).
NO_ROUTE_MESSAGE = "Missing Authentication Token"
NO_ROUTE_TYPE = f"{PROBLEM_TYPE_BASE}no-such-route"
# What the served document must describe: the public routes (itself among them) and the money path.
OPENAPI_PATHS = frozenset({"/health", "/openapi.json", "/invoices", "/invoices/{invoice_id}/payments"})


class NotSandbox(Exception):
    """The API refused raw card numbers: its Splash host is not a sandbox."""


class StepFailed(Exception):
    pass


@dataclass
class Report:
    out: Callable[[str], None] = print
    failures: list[str] = field(default_factory=list)

    def ok(self, check: str, seen: str) -> None:
        self.out(f"ok    {check}: {seen}")

    def fail(self, check: str, seen: str) -> None:
        self.failures.append(check)
        self.out(f"FAIL  {check}: {seen}")

    def skip(self, check: str, why: str) -> None:
        self.out(f"skip  {check}: {why}")


def _seen(resp: requests.Response, limit: int = 300) -> str:
    text = resp.text.strip().replace("\n", " ")
    return f"{resp.status_code} {text[:limit]}{'…' if len(text) > limit else ''}"


def _json(resp: requests.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


def _is_problem(resp: requests.Response, slug: str) -> bool:
    body = _json(resp)
    return (
        resp.headers.get("Content-Type", "").startswith(PROBLEM_CONTENT_TYPE)
        and isinstance(body, dict)
        and body.get("type") == f"{PROBLEM_TYPE_BASE}{slug}"
        and body.get("status") == resp.status_code
    )


def _refuses_raw_numbers(body: Any) -> bool:
    """The patients function's refusal of raw card numbers when its Splash host is not a sandbox: 400
    malformed-request saying so, with `card: send token instead` among its errors."""
    if not isinstance(body, dict) or body.get("type") != f"{PROBLEM_TYPE_BASE}malformed-request":
        return False
    fields = {e.get("field"): str(e.get("message", "")) for e in body.get("errors") or [] if isinstance(e, dict)}
    return "sandbox" in str(body.get("detail", "")).lower() or "token" in fields.get("card", "")


def invoice_mismatches(invoice: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """The fields of `invoice` that differ from `expected`, as `field: expected X, got Y` (empty when all match)."""
    return [
        f"{name}: expected {want!r}, got {invoice.get(name)!r}"
        for name, want in expected.items()
        if invoice.get(name) != want
    ]


class Smoke:
    def __init__(self, base_url: str, *, token: str | None = None, session: Any = None, report: Report | None = None):
        self.base = base_url if base_url.endswith("/") else base_url + "/"
        self.token = token
        self.http = session or requests.Session()
        self.report = report or Report()

    def url(self, path: str) -> str:
        return self.base + path.lstrip("/")

    def run(self) -> int:
        for check in (self.health, self.auth_refused, self.openapi):
            try:
                check()
            except requests.RequestException as exc:
                self.report.fail(check.__name__.replace("_", " "), f"no answer from {self.base}: {exc}")
        if self.token:
            self.round_trip()
        else:
            self.report.skip("round trip", "no --token: the patient → refund trip not run")
        return 1 if self.report.failures else 0

    # -- 1-3: no token ---------------------------------------------------------------------------------------

    def health(self) -> None:
        resp = self.http.get(self.url("health"), timeout=TIMEOUT)
        if resp.status_code == 200 and _json(resp) == HEALTH_BODY:
            self.report.ok("health", _seen(resp))
        else:
            self.report.fail("health", f"expected 200 {json.dumps(HEALTH_BODY)}, got {_seen(resp)}")

    def auth_refused(self) -> None:
        for what, headers in (("no token", {}), ("a forged token", {"Authorization": "Bearer not.a.jwt"})):
            resp = self.http.get(self.url("invoices"), headers=headers, timeout=TIMEOUT)
            check = f"auth: GET /invoices with {what}"
            if resp.status_code == 401 and _is_problem(resp, "unauthorized"):
                self.report.ok(check, _seen(resp, 120))
            else:
                self.report.fail(check, f"expected 401 problem+json unauthorized, got {_seen(resp)}")

    def openapi(self) -> None:
        resp = self.http.get(self.url("openapi.json"), timeout=TIMEOUT)
        body = _json(resp)
        json_type = resp.headers.get("Content-Type", "").split(";")[0].strip() == "application/json"
        version = str(body.get("openapi", "")) if isinstance(body, dict) else ""
        if resp.status_code == 200 and json_type and version.startswith("3."):
            paths = set(body.get("paths") or {})
            missing = OPENAPI_PATHS - paths
            if missing:
                self.report.fail("openapi", f"served, but without {sorted(missing)} ({len(paths)} paths)")
            else:
                self.report.ok("openapi", f"200 OpenAPI {body['openapi']}, {len(paths)} paths")
        elif resp.status_code in (403, 404) and (NO_ROUTE_MESSAGE in resp.text or _is_problem(resp, "no-such-route")):
            self.report.fail(
                "openapi",
                f"no route GET /openapi.json ({resp.status_code}): this stack predates it; redeploy (make deploy)",
            )
        else:
            self.report.fail("openapi", f"expected 200 application/json OpenAPI, got {_seen(resp)}")

    # -- 4: the round trip -----------------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: dict | None = None, *, key: str | None = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        if method == "POST":  # API Gateway requires Idempotency-Key on every POST (the request validator)
            headers["Idempotency-Key"] = key or str(uuid.uuid4())
        if body is not None:
            headers["Content-Type"] = "application/json"
        return self.http.request(
            method,
            self.url(path),
            headers=headers,
            data=json.dumps(body) if body is not None else None,
            timeout=TIMEOUT,
        )

    def _expect(self, step: str, resp: requests.Response, status: int | tuple[int, ...]) -> dict[str, Any]:
        statuses = (status,) if isinstance(status, int) else status
        body = _json(resp)
        if resp.status_code not in statuses or not isinstance(body, dict):
            raise StepFailed(f"{step}: expected {' or '.join(map(str, statuses))}, got {_seen(resp)}")
        return body

    def round_trip(self) -> None:
        created: dict[str, str] = {}
        state = {"paid": False, "refunded": False}
        try:
            self._round_trip(created, state)
        except NotSandbox as exc:
            self.report.skip("round trip", f"not a sandbox host: round trip skipped ({exc})")
        except StepFailed as exc:
            self.report.fail("round trip", str(exc))
        except requests.RequestException as exc:
            self.report.fail("round trip", f"no answer: {exc}")
        finally:
            self._clean_up(created, state)
            if created:
                self.report.out(f"      ids: {json.dumps(created)}")

    def _round_trip(self, created: dict[str, str], state: dict[str, bool]) -> None:
        r = self.report
        now = datetime.now(UTC)
        patient = self._expect(
            "create patient",
            self._call(
                "POST",
                "patients",
                {"external_id": f"smoke-{uuid.uuid4().hex[:16]}", "first_name": "Smoke", "last_name": "Test"},
            ),
            201,
        )
        created["patient"] = patient["id"]
        r.ok("round trip: patient", f"{patient['id']} (external_id {patient['external_id']})")

        consent = {
            "text_version": "smoke",
            "accepted_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "captured_by": "practicepay-smoke",
            "channel": "online",
        }
        card = {"number": SANDBOX_CARD, "exp_month": 12, "exp_year": now.year + 3, "cvc": "123"}
        resp = self._call("POST", f"patients/{patient['id']}/payment-methods", {"card": card, "consent": consent})
        body = _json(resp)
        if resp.status_code == 400 and _refuses_raw_numbers(body):
            raise NotSandbox(f"400 {body.get('detail')}; the patient {patient['id']} stays")
        method = self._expect("add the test card", resp, 201)
        created["payment_method"] = method["id"]
        r.ok("round trip: card on file", f"{method['id']} ({method.get('brand')} …{method.get('last4')})")

        total = sum(amount for amount, _, _ in LINES)
        items = [{"description": d, "cpt_code": c, "unit_amount": a} for a, d, c in LINES]
        invoice = self._expect(
            "create invoice",
            self._call(
                "POST",
                "invoices",
                {"patient_id": patient["id"], "due_date": now.date().isoformat(), "line_items": items},
            ),
            201,
        )
        created["invoice"] = invoice["id"]
        self._totals("invoice created", invoice, {"status": "draft", "total": total, "amount_due": total})
        issued = self._expect("issue", self._call("POST", f"invoices/{invoice['id']}/issue"), 200)
        self._totals("invoice issued", issued, {"status": "open", "total": total, "amount_due": total})

        key = str(uuid.uuid4())
        pay_body = {"payment_method_id": method["id"], "amount": total}
        payment = self._expect(
            "pay by card", self._call("POST", f"invoices/{invoice['id']}/payments", pay_body, key=key), 201
        )
        created["payment"] = payment["id"]
        state["paid"] = True
        if payment.get("status") != "succeeded" or payment.get("amount") != total:
            got = f"{payment.get('status')} {payment.get('amount')}"
            raise StepFailed(f"pay by card: expected succeeded {total}, got {got}")
        r.ok("round trip: card payment", f"{payment['id']} {payment['status']} {payment['amount']} cents")
        again = self._expect(
            "pay again, same Idempotency-Key",
            self._call("POST", f"invoices/{invoice['id']}/payments", pay_body, key=key),
            201,
        )
        if again.get("id") != payment["id"]:
            raise StepFailed(f"replay: the same Idempotency-Key answered another payment {again.get('id')}")
        r.ok("round trip: replay", f"the same Idempotency-Key answers the same payment {payment['id']}")
        self._totals(
            "invoice paid", self._read_invoice(invoice["id"]), {"status": "paid", "amount_paid": total, "amount_due": 0}
        )

        for n, amount in ((1, FIRST_REFUND), (2, total - FIRST_REFUND)):
            refund = self._expect(
                f"refund {n}", self._call("POST", f"payments/{payment['id']}/refunds", {"amount": amount}), 201
            )
            created[f"refund_{n}"] = refund["id"]
            if refund.get("status") != "succeeded" or refund.get("amount") != amount:
                got = f"{refund.get('status')} {refund.get('amount')}"
                raise StepFailed(f"refund {n}: expected succeeded {amount}, got {got}")
            r.ok(f"round trip: refund {n}", f"{refund['id']} {refund['kind']} {refund['amount']} cents")
        state["refunded"] = True

        self._totals(
            "invoice read back",
            self._read_invoice(invoice["id"]),
            {
                "status": "refunded",
                "total": total,
                "amount_paid": total,
                "amount_refunded": total,
                "amount_due": 0,
                "amount_written_off": 0,
            },
        )
        paid = self._expect("read the payment", self._call("GET", f"payments/{payment['id']}"), 200)
        if paid.get("amount_refunded") != total or paid.get("status") not in ("refunded", "voided"):
            raise StepFailed(
                f"payment read back: expected refunded/voided with {total} refunded, "
                f"got {paid.get('status')} with {paid.get('amount_refunded')}"
            )
        r.ok("round trip: payment read back", f"{paid['status']}, {paid['amount_refunded']} cents refunded")

    def _read_invoice(self, invoice_id: str) -> dict[str, Any]:
        return self._expect("read the invoice", self._call("GET", f"invoices/{invoice_id}"), 200)

    def _totals(self, step: str, invoice: dict[str, Any], expected: dict[str, Any]) -> None:
        wrong = invoice_mismatches(invoice, expected)
        if wrong:
            raise StepFailed(f"{step}: {'; '.join(wrong)}")
        self.report.ok(f"round trip: {step}", ", ".join(f"{k} {v}" for k, v in expected.items()))

    def _clean_up(self, created: dict[str, str], state: dict[str, bool]) -> None:
        """What the API can undo: money left on the card refunded, an unpaid invoice canceled, the card removed."""
        r = self.report
        steps: list[tuple[str, str, str, dict | None, tuple[int, ...]]] = []
        if "payment" in created and not state["refunded"]:
            steps.append(("refund what is left", "POST", f"payments/{created['payment']}/refunds", {}, (201, 202)))
        elif "invoice" in created and not state["paid"]:
            steps.append(("cancel the invoice", "POST", f"invoices/{created['invoice']}/cancel", None, (200,)))
        if "payment_method" in created:
            path = f"patients/{created['patient']}/payment-methods/{created['payment_method']}"
            steps.append(("remove the card", "DELETE", path, None, (200,)))
        for what, method, path, body, statuses in steps:
            try:
                resp = self._call(method, path, body)
            except requests.RequestException as exc:
                r.fail(f"clean up: {what}", f"no answer: {exc}")
                continue
            if resp.status_code in statuses:
                body = _json(resp)
                status = body.get("status") if isinstance(body, dict) else None
                r.ok(f"clean up: {what}", f"{resp.status_code}" + (f", status {status}" if status else ""))
            else:
                r.fail(f"clean up: {what}", _seen(resp))
        if "patient" in created:
            r.out(f"      the patient {created['patient']} stays (the API has no route that deletes a patient)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.smoke", description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the API's base URL: the stack output ApiUrl (https://…/v1/) or the local stack's")
    parser.add_argument("--token", help="a practice token (the round trip runs only with a token)")
    args = parser.parse_args(argv)
    return Smoke(args.url, token=args.token).run()


if __name__ == "__main__":
    sys.exit(main())
