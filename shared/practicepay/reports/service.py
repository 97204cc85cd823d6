"""Reports: payments created in a date range, and the accounts-receivable aging. Both are read with DynamoDB
key-range or index queries, never a scan.

Payments: payment ids are ULIDs (time-ordered, practicepay.ids), so "created between two UTC dates" is a key range
on the practice's partition of the payments table (or of its `by_status` index): the lowest id possible at
`from` 00:00:00.000 to the highest possible at `to` 23:59:59.999. The payment-method details (brand, last4) come
from the patients table, one BatchGetItem per 100 distinct methods of the page.

Receivables: the invoices table's sparse `receivables` index holds only owed invoices (InvoiceStore.item puts its
keys on an issued, unsettled invoice with a balance), one partition per practice sorted by due date. Every page of
it is read and aged by the pure function `age`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from practicepay.adapters.cursors import decode_cursor, encode_cursor
from practicepay.adapters.dynamo import batch_get, plain, practice_pk
from practicepay.clock import Clock, iso, utc_now
from practicepay.errors import MalformedRequest, ValidationFailed
from practicepay.ids import ALPHABET
from practicepay.reports.models import (
    BASIS,
    BUCKETS,
    AgingTotals,
    PatientAging,
    PaymentReport,
    PaymentRow,
    ReceivablesReport,
)

MAX_RANGE_DAYS = 366
"""A payments report covers at most 366 days (a leap year), `from` and `to` included."""
MAX_DEPOSIT_REPORT_PAGES = 20
"""A deposits report checks at most 20,000 payments of its range for one that reached no deposit."""
MAX_QUERIES_PER_PAGE = 10
"""With a patient filter, DynamoDB may return few matches per 1 MB read: a page reads at most this many times,
then answers what it found with a cursor to carry on."""
RECEIVABLES_INDEX = "receivables"
RECEIVABLE_ATTRIBUTES = ("id", "patient_id", "status", "due_date", "total", "amount_paid", "amount_written_off")
"""What the `receivables` index projects (infra.definitions.INVOICES_TABLE): the report reads nothing else."""

_EPOCH = date(1970, 1, 1)
_DAY_MS = 86_400_000
_MAX_ULID_MS = 2**48 - 1
_DECODE = {c: i for i, c in enumerate(ALPHABET)}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# -- ULID bounds -------------------------------------------------------------------------------------------------


def ulid_time(ms: int) -> str:
    """The 10-character timestamp part of a ULID made at `ms` (ms since the epoch)."""
    return "".join(ALPHABET[(ms >> (5 * shift)) & 31] for shift in range(9, -1, -1))


def ulid_ms(ulid: str) -> int:
    """The millisecond a ULID was made (its first 10 characters)."""
    ms = 0
    for char in ulid[:10]:
        ms = (ms << 5) | _DECODE[char]
    return ms


def id_date(record_id: str) -> date:
    """The UTC date a time-ordered id (`<prefix>_<ulid>`) was made."""
    return _EPOCH + timedelta(days=ulid_ms(record_id.rpartition("_")[2]) // _DAY_MS)


def payment_id_bounds(start: date, end: date) -> tuple[str, str]:
    """The lowest payment id possible at `start` 00:00:00.000 UTC and the highest possible at `end` 23:59:59.999
    UTC: every payment created on those days, and no other, has an id between them (inclusive)."""

    def clamp(ms: int) -> int:  # a ULID's time is 0 … 2^48 − 1 ms: days before 1970 hold no payment
        return min(max(ms, 0), _MAX_ULID_MS)

    low_ms = clamp((start - _EPOCH).days * _DAY_MS)
    high_ms = clamp((end - _EPOCH).days * _DAY_MS + _DAY_MS - 1)
    return f"pay_{ulid_time(low_ms)}{'0' * 16}", f"pay_{ulid_time(high_ms)}{'z' * 16}"


# -- aging (pure) ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Receivable:
    """An owed invoice as the `receivables` index gives it."""

    invoice_id: str
    patient_id: str
    due_date: date
    balance: int
    """total − amount_paid − amount_written_off, in cents (amount_paid includes eChecks in flight)."""
    created_on: date
    """The UTC date the invoice was created (from its time-ordered id: created_at is not in the index)."""

    @classmethod
    def from_index_item(cls, item: dict[str, dict[str, str]]) -> Receivable:
        """From a low-level (typed) DynamoDB item of the index."""

        def cents(name: str) -> int:
            return int(item[name]["N"]) if name in item else 0

        invoice_id = item["id"]["S"]
        return cls(
            invoice_id=invoice_id,
            patient_id=item["patient_id"]["S"],
            due_date=date.fromisoformat(item["due_date"]["S"]),
            balance=cents("total") - cents("amount_paid") - cents("amount_written_off"),
            created_on=id_date(invoice_id),
        )


def bucket(days_late: int) -> str:
    """The aging bucket of a balance `days_late` days past its due date (0 or less: not yet due)."""
    if days_late <= 0:
        return "current"
    if days_late <= 30:
        return "1_30"
    if days_late <= 60:
        return "31_60"
    if days_late <= 90:
        return "61_90"
    return "over_90"


@dataclass(frozen=True)
class Aging:
    totals: AgingTotals
    patients: list[PatientAging]
    """Sorted by patient_id."""


def age(rows: Iterable[Receivable], as_of: date) -> Aging:
    """Age owed balances as of `as_of`: each invoice's balance goes to the bucket of its days past due on that date
    (due on `as_of` or later: `current`). Invoices created after `as_of` are left out, as are rows with nothing
    owed. Totals per bucket, overall and per patient, with invoice counts. Reads `rows` once (may be a stream)."""
    slot = {name: i for i, name in enumerate(BUCKETS)}
    per_patient: dict[str, list[int]] = {}  # [invoices, *buckets, total]
    for row in rows:
        if row.created_on > as_of or row.balance <= 0:
            continue
        sums = per_patient.get(row.patient_id)
        if sums is None:
            sums = per_patient[row.patient_id] = [0] * (len(BUCKETS) + 2)
        sums[0] += 1
        sums[1 + slot[bucket((as_of - row.due_date).days)]] += row.balance
        sums[-1] += row.balance
    overall = [sum(column) for column in zip(*per_patient.values(), strict=True)] or [0] * (len(BUCKETS) + 2)
    return Aging(
        totals=AgingTotals(patients=len(per_patient), **_aging_fields(overall)),
        patients=[PatientAging(patient_id=p, **_aging_fields(per_patient[p])) for p in sorted(per_patient)],
    )


def _aging_fields(sums: list[int]) -> dict[str, int]:
    return {"invoices": sums[0], **dict(zip(BUCKETS, sums[1:-1], strict=True)), "total": sums[-1]}


# -- CSV -------------------------------------------------------------------------------------------------------

PAYMENT_COLUMNS = (
    ("id", "id"),
    ("created_at", "created_at"),
    ("amount_cents", "amount"),
    ("currency", "currency"),
    ("status", "status"),
    ("payment_method_id", "payment_method_id"),
    ("method_kind", "method_kind"),
    ("method_brand", "method_brand"),
    ("method_last4", "method_last4"),
    ("failure_code", "failure_code"),
    ("failure_message", "failure_message"),
    ("return_code", "return_code"),
    ("return_message", "return_message"),
    ("amount_refunded_cents", "amount_refunded"),
    ("invoice_id", "invoice_id"),
    ("patient_id", "patient_id"),
    ("installment_id", "installment_id"),
    ("amount_charged_back_cents", "amount_charged_back"),
    ("fee_cents", "fee"),
    ("net_cents", "net"),
    ("deposit_id", "deposit_id"),
)
"""(CSV header, PaymentRow field): amounts in cents, as integers, and the header says so."""
RECEIVABLE_COLUMNS = ("patient_id", "invoices", *(f"{b}_cents" for b in BUCKETS), "total_cents")
TOTAL_ROW = "TOTAL"


def prefers_csv(accept: str | None) -> bool:
    """Whether an Accept header asks for CSV: `text/csv` listed with a quality above 0 and at least that of
    `application/json` (wildcards choose nothing: JSON stays the default)."""
    quality: dict[str, float] = {}
    for part in (accept or "").split(","):
        media, *params = (p.strip() for p in part.split(";"))
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        quality[media.lower()] = max(quality.get(media.lower(), 0.0), weight)
    wanted = quality.get("text/csv", 0.0)
    return wanted > 0 and wanted >= quality.get("application/json", 0.0)


def _cell(value: Any) -> str:
    """A CSV cell. Text that a spreadsheet would run as a formula is prefixed with ' (OWASP CSV injection)."""
    if value is None:
        return ""
    text = str(value)  # a StrEnum gives its value
    return f"'{text}" if isinstance(value, str) and text.startswith(_FORMULA_START) else text


def _csv(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)  # RFC 4180: CRLF line ends, quotes where needed
    writer.writerow(header)
    writer.writerows([_cell(v) for v in row] for row in rows)
    return out.getvalue()


def payments_csv(report: PaymentReport) -> str:
    return _csv(
        (header for header, _ in PAYMENT_COLUMNS),
        ([getattr(row, field) for _, field in PAYMENT_COLUMNS] for row in report.data),
    )


def receivables_csv(report: ReceivablesReport) -> str:
    """One row per patient, then a TOTAL row; amounts in integer cents."""

    def line(label: str, aging: PatientAging | AgingTotals) -> list[Any]:
        figures = aging.model_dump(by_alias=True)
        return [label, figures["invoices"], *(figures[b] for b in BUCKETS), figures["total"]]

    rows = [line(p.patient_id, p) for p in report.patients]
    return _csv(RECEIVABLE_COLUMNS, [*rows, line(TOTAL_ROW, report.totals)])


# -- the service -------------------------------------------------------------------------------------------------


@dataclass
class ReportService:
    resource: Any
    """A boto3 DynamoDB resource (plain values): payments and payment methods."""
    client: Any
    """A low-level DynamoDB client: the receivables index, read raw (no Decimal conversion for 100,000s of rows)."""
    payments_table: str
    patients_table: str
    invoices_table: str
    funds_table: str | None = None
    """Deposits and each payment's settlement (its deposit and fees); None: no fee, net or deposit columns."""
    practices_table: str | None = None
    clock: Clock = utc_now

    # -- payments ---------------------------------------------------------------------------------------------

    def payments(
        self,
        practice_id: str,
        *,
        start: date,
        end: date,
        status: str | None = None,
        patient_id: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> PaymentReport:
        """Payments created from `start` to `end` (UTC dates, both included), oldest first, one page."""
        if end < start:
            raise ValidationFailed(
                "`to` is before `from`; give a range whose end is on or after its start.",
                [{"field": "to", "message": "to must be on or after from"}],
            )
        days = (end - start).days + 1
        if days > MAX_RANGE_DAYS:
            raise ValidationFailed(
                f"The range covers {days} days; a report covers at most {MAX_RANGE_DAYS}. Ask for several ranges.",
                [{"field": "to", "message": f"to must be at most {MAX_RANGE_DAYS - 1} days after from"}],
            )
        pk = practice_pk(practice_id)
        low, high = (f"PAYMENT#{bound}" for bound in payment_id_bounds(start, end))
        if status:
            partition_attr, partition, sort_attr = "gsi2pk", f"{pk}#STATUS#{status}", "sk"
            key_attrs: tuple[str, ...] = ("pk", "sk", "gsi2pk")
        else:
            partition_attr, partition, sort_attr, key_attrs = "pk", pk, "sk", ("pk", "sk")
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key(partition_attr).eq(partition) & Key(sort_attr).between(low, high),
            "ScanIndexForward": True,
        }
        if status:
            kwargs["IndexName"] = "by_status"
        if patient_id:
            kwargs["FilterExpression"] = Attr("patient_id").eq(patient_id)
        last_key = self._start_key(cursor, pk, partition_attr, partition, sort_attr, key_attrs, low, high)
        table = self.resource.Table(self.payments_table)
        items: list[dict[str, Any]] = []
        for _ in range(MAX_QUERIES_PER_PAGE):
            if last_key:
                kwargs["ExclusiveStartKey"] = last_key
            if not patient_id:  # with a filter, Limit would count items read, not matches: read 1 MB at a time
                kwargs["Limit"] = limit + 1 - len(items)
            out = table.query(**kwargs)
            items.extend(out.get("Items", []))
            last_key = out.get("LastEvaluatedKey")
            if len(items) > limit or not last_key:
                break
        if len(items) > limit:  # one more than asked for: there is more, from the last item shown
            items = items[:limit]
            last_key = {k: items[-1][k] for k in key_attrs}
        methods = self._methods(practice_id, {i["payment_method_id"] for i in items})
        settled = self._settlements(practice_id, [i["id"] for i in items])
        return PaymentReport(
            data=[_payment_row(plain(i), methods, settled.get(i["id"])) for i in items],
            has_more=last_key is not None,
            next_cursor=encode_cursor(last_key) if last_key else None,
        )

    @staticmethod
    def _start_key(
        cursor: str | None,
        pk: str,
        partition_attr: str,
        partition: str,
        sort_attr: str,
        key_attrs: tuple[str, ...],
        low: str,
        high: str,
    ) -> dict[str, str] | None:
        """The cursor's key, only if it belongs to this practice, this listing (status or not) and this range."""
        if not cursor:
            return None
        key = decode_cursor(cursor, partition_attr, partition)
        if set(key) != set(key_attrs) or key["pk"] != pk or not low <= key[sort_attr] <= high:
            raise MalformedRequest(
                "The cursor is not valid for this report; start again without `cursor` and pass `next_cursor` "
                "with the same from, to, status and patient_id.",
                errors=[{"field": "cursor", "message": "cursor is invalid for this report"}],
            )
        return key

    def _methods(self, practice_id: str, method_ids: set[str]) -> dict[str, dict[str, Any]]:
        """kind, brand and last4 of each payment method, by id (no token, no consent)."""
        pk = practice_pk(practice_id)
        keys = [(self.patients_table, {"pk": pk, "sk": f"METHOD#{m}"}) for m in sorted(method_ids)]
        items = batch_get(self.resource, keys, ("kind", "brand", "last4"))
        return {item["sk"].removeprefix("METHOD#"): item for item in items if item is not None}

    def _settlements(self, practice_id: str, payment_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Each payment's settlement (deposit and fees) from the funds table, by payment id."""
        if self.funds_table is None or not payment_ids:
            return {}
        pk = practice_pk(practice_id)
        keys = [(self.funds_table, {"pk": pk, "sk": f"SETTLE#{p}"}) for p in payment_ids]
        items = batch_get(self.resource, keys, ("fee_total", "deposit_id"))
        return {pid: item for pid, item in zip(payment_ids, items, strict=True) if item is not None}

    # -- deposits ---------------------------------------------------------------------------------------------

    def _deposits(self) -> Any:
        from practicepay.deposits.service import DepositService
        from practicepay.deposits.store import DepositStore
        from practicepay.practices import PracticeStore

        assert self.funds_table and self.practices_table
        return DepositService(
            book=None,
            deposits=DepositStore(self.funds_table, self.resource),
            practices=PracticeStore(self.practices_table),
            disputes=None,
            splash=None,  # type: ignore[arg-type]  (reads only)
            clock=self.clock,
        )

    def deposits(self, practice_id: str, start: date, end: date) -> Any:
        """The deposits made from `start` to `end` with their lines, and the range's payments that succeeded but
        reached no deposit (practicepay.deposits.service.DepositService.report)."""
        payments: list[PaymentRow] = []
        cursor = None
        for _ in range(MAX_DEPOSIT_REPORT_PAGES):
            page = self.payments(practice_id, start=start, end=end, limit=1000, cursor=cursor)
            payments += page.data
            cursor = page.next_cursor
            if cursor is None:
                break
        return self._deposits().report(practice_id, start, end, payments)

    def deposit(self, practice_id: str, deposit_id: str) -> Any:
        return self._deposits().get(practice_id, deposit_id)

    def deposit_fhir(self, practice_id: str, deposit_id: str) -> dict[str, Any]:
        return self._deposits().fhir(practice_id, deposit_id)

    # -- receivables ------------------------------------------------------------------------------------------

    def receivables(self, practice_id: str, as_of: date | None = None) -> ReceivablesReport:
        """The accounts-receivable aging as of `as_of` (default: today, UTC).

        The balances are today's, not as of `as_of`: the index holds each owed invoice as it is now, so a payment,
        a return or a write-off recorded after `as_of` already counts, and an invoice paid since then is gone.
        Point-in-time balances would have to be rebuilt from the invoices' ledgers. Invoices created after `as_of`
        are left out. The index is eventually consistent: a change made a moment ago may not show yet."""
        now = self.clock()
        as_of = as_of or now.astimezone(UTC).date()
        aging = age(self._receivables(practice_id), as_of)
        return ReceivablesReport(
            as_of=as_of, generated_at=iso(now), basis=BASIS, totals=aging.totals, patients=aging.patients
        )

    def _receivables(self, practice_id: str) -> Iterator[Receivable]:
        """Every owed invoice of the practice, page after page of the `receivables` index."""
        kwargs: dict[str, Any] = {  # no ProjectionExpression: the index projects only RECEIVABLE_ATTRIBUTES
            "TableName": self.invoices_table,
            "IndexName": RECEIVABLES_INDEX,
            "KeyConditionExpression": "ar_pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": f"{practice_pk(practice_id)}#AR"}},
        }
        while True:
            out = self.client.query(**kwargs)
            for item in out.get("Items", []):
                yield Receivable.from_index_item(item)
            if not out.get("LastEvaluatedKey"):
                return
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]


def _payment_row(
    item: dict[str, Any], methods: dict[str, dict[str, Any]], settlement: dict[str, Any] | None = None
) -> PaymentRow:
    method = methods.get(item["payment_method_id"], {})
    fee = -int(settlement["fee_total"]) if settlement and "fee_total" in settlement else None
    given_back = item.get("amount_refunded", 0) + item.get("amount_charged_back", 0)
    kept = item["amount"] - given_back if item["status"] in _KEPT else 0
    failure = item.get("failure") or {}
    returned = item.get("return_info") or {}
    return PaymentRow(
        id=item["id"],
        created_at=item["created_at"],
        amount=item["amount"],
        status=item["status"],
        payment_method_id=item["payment_method_id"],
        method_kind=method.get("kind") or item["method_kind"],
        method_brand=method.get("brand"),
        method_last4=method.get("last4"),
        failure_code=failure.get("category"),
        failure_message=failure.get("processor_text"),
        return_code=returned.get("code"),
        return_message=returned.get("message"),
        amount_refunded=item.get("amount_refunded", 0),
        invoice_id=item["invoice_id"],
        patient_id=item["patient_id"],
        installment_id=(item.get("installment") or {}).get("id"),
        amount_charged_back=item.get("amount_charged_back", 0),
        fee=fee,
        net=None if fee is None else kept - fee,
        deposit_id=(settlement or {}).get("deposit_id"),
    )


_KEPT = frozenset({"succeeded", "partially_refunded", "refunded", "processing"})
"""Statuses whose amount the practice took (less refunds and chargebacks); a failed, voided or returned payment
kept nothing, though its fees (if any) are still a cost."""
