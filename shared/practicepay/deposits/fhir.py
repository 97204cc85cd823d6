"""The deposit view model as a FHIR R4 PaymentReconciliation (JSON as a plain dict), for the clinical platform's
ledger: on the deposit's event and at `GET /deposits/{id}` with `Accept: application/fhir+json`.

It follows the invoice mapping (practicepay.invoices.fhir): `id` is our deposit id with `_` written as `-` and
`identifier` keeps it exactly; references name our records by identifier, and literally only when the id is a
valid FHIR id; money is exact dollars; what FHIR has no element for is an extension under `EXTENSION_BASE`.

- `status` is R4's FinancialResourceStatusCodes: a deposit that failed, was denied or came back from the bank is
  `cancelled` (no money moved), every other one `active`. `outcome` is R4's RemittanceOutcome: processed →
  complete, requested and processing → queued, failed, denied and returned → error. Our exact status is an extension.
- `paymentAmount` is what the disbursement moved (negative: taken from the practice's account); `paymentIdentifier`
  is Splash's disbursement id. The totals a ledger posts (gross, refunds, returns, chargebacks, fees, adjustments,
  net, rounding, returned amount) are money extensions.
- One `detail` per line, in the deposit's order, amount signed. Its `type` is R4's payment-type (`payment` for a
  captured sale, `adjustment` for everything else) and our exact kind as a second coding. `request` is the invoice
  the line pays, when we know it. Which payment, refund, dispute and patient the line is, and whether it matched one
  of our records at all, are extensions: an unmatched line is still there, so the details always add up:
  sum(detail.amount) + rounding = paymentAmount.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from practicepay.deposits.models import Deposit, DepositLine, DepositStatus, LineKind
from practicepay.invoices.fhir import (
    EXTENSION_BASE,
    FHIR_ID,
    INVOICE_SYSTEM,
    PATIENT_SYSTEM,
    PRACTICE_SYSTEM,
    instant,
    money,
    reference,
)

DEPOSIT_SYSTEM = "urn:practicepay:deposit"
DISBURSEMENT_SYSTEM = "urn:practicepay:splash-disbursement"
ENTRY_SYSTEM = "urn:practicepay:splash-entry"
PAYMENT_SYSTEM = "urn:practicepay:payment"
REFUND_SYSTEM = "urn:practicepay:refund"
DISPUTE_SYSTEM = "urn:practicepay:dispute"
PAYMENT_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/payment-type"
LINE_KIND_SYSTEM = EXTENSION_BASE.removesuffix("StructureDefinition/") + "CodeSystem/deposit-line-kind"

FHIR_STATUS: dict[DepositStatus, str] = {
    DepositStatus.REQUESTED: "active",
    DepositStatus.PROCESSING: "active",
    DepositStatus.PROCESSED: "active",
    DepositStatus.FAILED: "cancelled",
    DepositStatus.DENIED: "cancelled",
    DepositStatus.RETURNED: "cancelled",
}

FHIR_OUTCOME: dict[DepositStatus, str] = {
    DepositStatus.REQUESTED: "queued",
    DepositStatus.PROCESSING: "queued",
    DepositStatus.PROCESSED: "complete",
    DepositStatus.FAILED: "error",
    DepositStatus.DENIED: "error",
    DepositStatus.RETURNED: "error",
}

_STATUS_WORDS: dict[DepositStatus, str] = {
    DepositStatus.REQUESTED: "requested",
    DepositStatus.PROCESSING: "in process",
    DepositStatus.PROCESSED: "processed",
    DepositStatus.FAILED: "failed",
    DepositStatus.DENIED: "denied",
    DepositStatus.RETURNED: "returned by the bank",
}

KIND_DISPLAY: dict[LineKind, str] = {
    LineKind.PAYMENT: "Payment",
    LineKind.REFUND: "Refund",
    LineKind.RETURN: "eCheck return",
    LineKind.CHARGEBACK: "Chargeback",
    LineKind.CHARGEBACK_REVERSAL: "Chargeback reversal",
    LineKind.FEE: "Fee",
    LineKind.ADJUSTMENT: "Adjustment",
}

_COUNTED: dict[LineKind, tuple[str, str]] = {
    LineKind.PAYMENT: ("payment", "payments"),
    LineKind.REFUND: ("refund", "refunds"),
    LineKind.RETURN: ("eCheck return", "eCheck returns"),
    LineKind.CHARGEBACK: ("chargeback", "chargebacks"),
    LineKind.CHARGEBACK_REVERSAL: ("chargeback reversal", "chargeback reversals"),
    LineKind.ADJUSTMENT: ("adjustment", "adjustments"),
}
"""The kinds the disposition counts (singular, plural); fees it sums instead."""


def payment_reconciliation(deposit: Deposit, practice_id: str, practice_name: str | None = None) -> dict[str, Any]:
    """The FHIR R4 PaymentReconciliation for `deposit`, paid out to the practice `practice_id` (its requestor and
    every line's payee)."""
    currency = deposit.currency.upper()
    extensions = [
        {"url": f"{EXTENSION_BASE}deposit-status", "valueCode": deposit.status.value},
        *(
            {"url": f"{EXTENSION_BASE}deposit-{name}", "valueMoney": money(cents, currency)}
            for name, cents in (
                ("gross", deposit.gross),
                ("refunds", deposit.refunds),
                ("returns", deposit.returns),
                ("chargebacks", deposit.chargebacks),
                ("fees", deposit.fees),
                ("adjustments", deposit.adjustments),
                ("net", deposit.net),
                ("rounding", deposit.rounding),
                ("returned-amount", deposit.returned_amount),
            )
        ),
    ]
    resource: dict[str, Any] = {
        "resourceType": "PaymentReconciliation",
        "id": deposit.id.replace("_", "-"),
        "meta": {"lastUpdated": instant(deposit.updated_at)},
        "extension": extensions,
        "identifier": [{"system": DEPOSIT_SYSTEM, "value": deposit.id}],
        "status": FHIR_STATUS[deposit.status],
        "created": instant(deposit.created_at),
        "requestor": _practice(practice_id, practice_name),
        "outcome": FHIR_OUTCOME[deposit.status],
        "disposition": disposition(deposit),
        "paymentDate": deposit.deposited_on,
        "paymentAmount": money(deposit.amount, currency),
        "paymentIdentifier": {"system": DISBURSEMENT_SYSTEM, "value": deposit.splash_disbursement_id},
    }
    if deposit.lines:
        resource["detail"] = [
            _detail(line, deposit.deposited_on, _practice(practice_id, practice_name), currency)
            for line in deposit.lines
        ]
    return resource


def disposition(deposit: Deposit) -> str:
    """One English sentence a bookkeeper can read at a glance, e.g. "Deposit of $123.45 processed: 3 payments,
    1 refund, fees $5.52." Fees are told as a sum (one fee line per payment would only be noise), the rest counted."""
    counts = dict.fromkeys(LineKind, 0)
    for line in deposit.lines:
        counts[line.kind] += 1
    parts = [f"{counts[kind]} {words[counts[kind] != 1]}" for kind, words in _COUNTED.items() if counts[kind]]
    if counts[LineKind.FEE]:
        parts.append(f"fees {_dollars(-deposit.fees)}")
    summary = ", ".join(parts) or "no lines"
    if deposit.unmatched:
        summary += f"; {deposit.unmatched} {'line' if deposit.unmatched == 1 else 'lines'} unmatched"
    return f"Deposit of {_dollars(deposit.amount)} {_STATUS_WORDS[deposit.status]}: {summary}."


def _detail(line: DepositLine, deposited_on: str, payee: dict[str, Any], currency: str) -> dict[str, Any]:
    extensions: list[dict[str, Any]] = [{"url": f"{EXTENSION_BASE}deposit-line-matched", "valueBoolean": line.matched}]
    for name, system, value in (
        ("payment", PAYMENT_SYSTEM, line.payment_id),
        ("refund", REFUND_SYSTEM, line.refund_id),
        ("dispute", DISPUTE_SYSTEM, line.dispute_id),
    ):
        if value is not None:
            extensions.append(
                {"url": f"{EXTENSION_BASE}deposit-line-{name}", "valueIdentifier": {"system": system, "value": value}}
            )
    if line.patient_id is not None:
        extensions.append(
            {
                "url": f"{EXTENSION_BASE}deposit-line-patient",
                "valueReference": reference("Patient", PATIENT_SYSTEM, line.patient_id),
            }
        )
    payment_type = "payment" if line.kind is LineKind.PAYMENT else "adjustment"
    invoice = {"request": _invoice_reference(line.invoice_id)} if line.invoice_id is not None else {}
    return {
        "extension": extensions,
        "identifier": {"system": ENTRY_SYSTEM, "value": line.entry_id},
        "type": {
            "coding": [
                {"system": PAYMENT_TYPE_SYSTEM, "code": payment_type, "display": payment_type.capitalize()},
                {"system": LINE_KIND_SYSTEM, "code": line.kind.value, "display": KIND_DISPLAY[line.kind]},
            ]
        },
        **invoice,
        "date": deposited_on,
        "payee": payee,
        "amount": money(line.amount, currency),
    }


def _practice(practice_id: str, practice_name: str | None) -> dict[str, Any]:
    """The practice as an Organization reference, named when we know its name (a person reading sees whose it is).
    A fresh dict each time: the requestor and every payee are separate JSON objects, never one shared."""
    practice = reference("Organization", PRACTICE_SYSTEM, practice_id)
    if practice_name:
        practice["display"] = practice_name
    return practice


def _invoice_reference(invoice_id: str) -> dict[str, Any]:
    """The invoice a line pays. Its literal reference is the id our Invoice resource is served with (`_` as `-`,
    practicepay.invoices.fhir), so a consumer holding that resource resolves it; the identifier keeps ours exactly."""
    fhir_id = invoice_id.replace("_", "-")
    literal = {"reference": f"Invoice/{fhir_id}"} if FHIR_ID.match(fhir_id) else {}
    return {**literal, "identifier": {"system": INVOICE_SYSTEM, "value": invoice_id}}


def _dollars(cents: int) -> str:
    """$1,234.50, or -$12.00 for money taken from the practice."""
    sign = "-" if cents < 0 else ""
    return f"{sign}${Decimal(abs(cents)).scaleb(-2):,.2f}"
