"""Reports API: GET /reports/payments, /reports/receivables and /reports/deposits, as JSON or as CSV
(`Accept: text/csv`), and one deposit as JSON or as a FHIR R4 PaymentReconciliation. Thin: validate, call the
service, render the format asked for."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from practicepay.api.problems import responses
from practicepay.api.resolver import build_resolver, resolve
from practicepay.auth.context import practice_id
from practicepay.deposits.models import Deposit, DepositReport
from practicepay.deposits.service import report_csv as deposits_csv
from practicepay.invoices.fhir import FHIR_CONTENT_TYPE
from practicepay.invoices.models import EXTERNAL_ID, IsoDate
from practicepay.observability import entrypoint
from practicepay.payments.models import PaymentStatus
from practicepay.reports.models import PaymentReport, ReceivablesReport
from practicepay.reports.service import payments_csv, prefers_csv, receivables_csv
from practicepay.reports.wiring import report_service

app = build_resolver()
CSV_TYPE = "text/csv; charset=utf-8"
NEXT_CURSOR_HEADER = "X-Next-Cursor"


def _with_csv(spec: dict[int, dict[str, Any]], description: str) -> dict[int, dict[str, Any]]:
    """The route's responses, with text/csv beside JSON for its 200 (content negotiation on Accept)."""
    spec[200]["content"]["text/csv"] = {"schema": {"type": "string", "description": description}}
    return spec


def _answer(model: BaseModel, csv_text: str | None, filename: str, headers: dict[str, str]) -> Response:
    if csv_text is None:
        return Response(status_code=200, content_type="application/json", body=model, headers=headers)
    return Response(
        status_code=200,
        content_type=CSV_TYPE,
        body=csv_text,
        headers={**headers, "Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _wants_csv() -> bool:
    return prefers_csv(app.current_event.headers.get("accept"))


@app.get(
    "/reports/payments",
    summary="Payments created in a date range, oldest first (JSON or CSV)",
    description="Every payment created from `from` to `to` (UTC dates, both included; at most 366 days), with its "
    "method (kind, brand, last4), status, decline or return reason, and amounts in cents. One page of at most "
    "`limit`; pass `next_cursor` as `cursor` with the same filters for the next. Send `Accept: text/csv` for CSV "
    f"(a header line, amounts in integer cents); its next cursor is in the `{NEXT_CURSOR_HEADER}` response header.",
    tags=["reports"],
    responses=_with_csv(
        responses((200, "One page of payments", PaymentReport), 400, 401, 422),
        "CSV: id, created_at, amount_cents, currency, status, payment_method_id, method_kind, method_brand, "
        "method_last4, failure_code, failure_message, return_code, return_message, amount_refunded_cents, "
        "invoice_id, patient_id, installment_id",
    ),
)
def payments_report(
    from_: Annotated[IsoDate, Query(alias="from", description="First day, YYYY-MM-DD (UTC), included")],
    to: Annotated[IsoDate, Query(description="Last day, YYYY-MM-DD (UTC), included; on or after `from`")],
    status: Annotated[PaymentStatus | None, Query()] = None,
    patient_id: Annotated[str | None, Query(pattern=EXTERNAL_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
):  # no return annotation: the body is a PaymentReport or CSV text
    report = report_service().payments(
        practice_id(app),
        start=from_,
        end=to,
        status=status.value if status else None,
        patient_id=patient_id,
        limit=limit,
        cursor=cursor,
    )
    headers = {NEXT_CURSOR_HEADER: report.next_cursor} if report.next_cursor else {}
    csv_text = payments_csv(report) if _wants_csv() else None
    return _answer(report, csv_text, f"payments_{from_.isoformat()}_{to.isoformat()}.csv", headers)


@app.get(
    "/reports/receivables",
    summary="Accounts-receivable aging (JSON or CSV)",
    description="What each patient owes, in cents, by days past due as of `as_of` (default today, UTC): `current` "
    "(due on or after as_of), `1_30`, `31_60`, `61_90`, `over_90`, with totals. The balances are today's, aged as "
    "of as_of (see `basis`); invoices created after as_of are left out. Send `Accept: text/csv` for CSV: one row "
    "per patient and a final TOTAL row.",
    tags=["reports"],
    responses=_with_csv(
        responses((200, "The aging", ReceivablesReport), 400, 401),
        "CSV: patient_id, invoices, current_cents, 1_30_cents, 31_60_cents, 61_90_cents, over_90_cents, total_cents; "
        "the last row's patient_id is TOTAL",
    ),
)
def receivables_report(
    as_of: Annotated[IsoDate | None, Query(description="Age as of this day, YYYY-MM-DD (UTC); default today")] = None,
):
    report = report_service().receivables(practice_id(app), as_of)
    headers = {"X-Report-Basis": report.basis}
    csv_text = receivables_csv(report) if _wants_csv() else None
    day: date = report.as_of
    return _answer(report, csv_text, f"receivables_{day.isoformat()}.csv", headers)


@app.get(
    "/reports/deposits",
    summary="Deposits made in a date range, with their lines (JSON or CSV)",
    description="Every deposit (a Splash disbursement) made from `from` to `to` (both included; at most 366 days): "
    "its status, amount, gross, refunds, returns, chargebacks, fees and net, and each line matched to our payment, "
    "refund or dispute. Called out: lines naming none of our records, and payments of the range that succeeded "
    "more than `undeposited_after_days` ago and reached no deposit. `Accept: text/csv`: one row per line.",
    tags=["reports"],
    responses=_with_csv(
        responses((200, "The deposits", DepositReport), 400, 401, 422),
        "CSV: deposit_id, splash_disbursement_id, deposited_on, status, deposit_amount, line, entry_id, kind, amount, "
        "matched, payment_id, refund_id, dispute_id, invoice_id, patient_id, splash_txn_id, description (cents)",
    ),
)
def deposits_report(
    from_: Annotated[IsoDate, Query(alias="from", description="First day, YYYY-MM-DD, included")],
    to: Annotated[IsoDate, Query(description="Last day, YYYY-MM-DD, included; on or after `from`")],
):
    report = report_service().deposits(practice_id(app), from_, to)
    csv_text = deposits_csv(report) if _wants_csv() else None
    return _answer(report, csv_text, f"deposits_{from_.isoformat()}_{to.isoformat()}.csv", {})


_DEPOSIT_RESPONSES = responses((200, "The deposit", Deposit), 401, 404)
_DEPOSIT_RESPONSES[200]["content"][FHIR_CONTENT_TYPE] = {
    "schema": {"type": "object", "description": "A FHIR R4 PaymentReconciliation (send Accept: application/fhir+json)"}
}


@app.get(
    "/deposits/<deposit_id>",
    summary="Get a deposit (as JSON, or as a FHIR R4 PaymentReconciliation)",
    tags=["reports"],
    responses=_DEPOSIT_RESPONSES,
)
def get_deposit(deposit_id: Annotated[str, Path(max_length=64)]):
    if FHIR_CONTENT_TYPE in (app.current_event.get_header_value("accept", default_value="") or ""):
        body = json.dumps(report_service().deposit_fhir(practice_id(app), deposit_id))
        return Response(status_code=200, content_type=FHIR_CONTENT_TYPE, body=body)
    return report_service().deposit(practice_id(app), deposit_id)


@entrypoint(correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return resolve(app, event, context)
