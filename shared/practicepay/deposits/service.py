"""Deposits: each Splash disbursement read with the entries it paid out, matched to our payments, refunds and
disputes, kept once (every line and every fee keyed by its Splash entry), announced with its FHIR R4
PaymentReconciliation, and reported (JSON and CSV, unmatched lines and undeposited payments called out).

Reading a disbursement (`apply_disbursement`, from an alert or the poll) costs: one merchants search (the entity's
practice), ⌈entries/100⌉ disbursementEntries pages and as many entries searches, one txns search per 100 txns (the
refunds' originals in one more), and for a chargeback we have no dispute for yet, what `apply_chargeback` costs."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from practicepay.clock import Clock, from_iso, iso, utc_now
from practicepay.deposits import fhir
from practicepay.deposits.models import (
    DEPOSIT_ID,
    STATUS_BY_SPLASH,
    Deposit,
    DepositRecord,
    DepositReport,
    DepositStatus,
    LineKind,
    LineRecord,
    UndepositedPayment,
    deposit_id,
    line_kind,
)
from practicepay.deposits.store import DepositStore
from practicepay.disputes.models import dispute_id
from practicepay.disputes.service import DisputeService
from practicepay.errors import NotFound, ValidationFailed
from practicepay.observability import logger
from practicepay.payments.book import PaymentBook
from practicepay.payments.models import outside_refund_id
from practicepay.practices import PracticeStore
from practicepay.practices.models import Practice
from practicepay.splash.client import SplashClient
from practicepay.splash.errors import SplashNotFound
from practicepay.splash.models import Chargeback, Disbursement, DisbursementEntry, Entry, Merchant, Txn
from practicepay.splash.search import Search

PAGE = 100
MAX_REPORT_DAYS = 366
UNDEPOSITED_AFTER_DAYS = 5
"""A payment that succeeded this many days ago and is in no deposit is called out (cards settle next day and pay
out the day after; eChecks fund three business days after settling)."""
FHIR_ON_BUS_MAX_BYTES = 200_000
"""A deposit's PaymentReconciliation rides on its event when it fits well inside EventBridge's 256 KB; a bigger
one is announced with its id only (GET /deposits/{id} with Accept: application/fhir+json serves it)."""


@dataclass
class DepositService:
    book: PaymentBook
    deposits: DepositStore
    practices: PracticeStore
    disputes: DisputeService
    splash: Callable[[], SplashClient]
    clock: Clock = utc_now
    undeposited_after_days: int = UNDEPOSITED_AFTER_DAYS

    # -- following Splash --------------------------------------------------------------------------------

    def apply_disbursement(self, disbursement: Disbursement) -> str:
        """Keep the disbursement as a deposit: its new lines once each (a fee in the fee ledger and on its payment,
        a sale's deposit on its payment), then its summary at the version read, with a `deposit.updated` event
        carrying the PaymentReconciliation when its status or lines changed. Outcome: not_ours, unchanged, created,
        or updated."""
        client = self.splash()
        practice = self._practice(client, disbursement.entity)
        if practice is None:
            logger.info("disbursement is not one of our practices'", disbursement=disbursement.id)
            return "not_ours"
        existing = self.deposits.get(practice.practice_id, deposit_id(disbursement.id))
        known = {line.entry_id for line in existing.lines} if existing else set()
        lines = list(existing.lines) if existing else []
        now = iso(self.clock())
        base = existing or DepositRecord(
            practice_id=practice.practice_id,
            id=deposit_id(disbursement.id),
            splash_disbursement_id=disbursement.id,
            status=DepositStatus.REQUESTED.value,
            amount=int(disbursement.amount or 0),
            created_at=now,
            updated_at=now,
            deposited_on=_day(disbursement.created) or self.clock().date().isoformat(),
            version=0,
        )
        fresh = [line for line in self._lines(client, practice, disbursement) if line.entry_id not in known]
        for line in fresh:
            self.deposits.put_line(practice.practice_id, base, line)  # False: a concurrent reader wrote it
        lines += fresh
        status = STATUS_BY_SPLASH.get(int(disbursement.status or 1), DepositStatus.REQUESTED)
        after = replace(
            base,
            status=status.value,
            amount=int(disbursement.amount or 0),
            returned_amount=int(disbursement.returnedAmount or 0),
            processed_at=disbursement.processed or base.processed_at,
            lines=tuple(sorted(lines, key=lambda line: line.entry_id)),
            version=base.version + 1,
            updated_at=now,
        )
        if existing is not None and not fresh and _same(existing, after):
            return "unchanged"
        event = ("deposit.updated", self._event_detail(after, practice), self.clock())
        if not self.deposits.put(after, existing, self.book.events_table, [event]):
            return "unchanged"  # another reader kept this state first
        logger.info("deposit kept", deposit_id=after.id, status=after.status, lines=len(after.lines))
        return "created" if existing is None else "updated"

    def _practice(self, client: SplashClient, entity: str | None) -> Practice | None:
        if not entity:
            return None
        for merchant in client.list(Merchant, search=Search().equals("entity", entity), limit=10).items:
            if merchant.entity == entity:
                practice = self.practices.by_merchant(merchant.id)
                if practice is not None:
                    return practice
        return None

    def _lines(self, client: SplashClient, practice: Practice, disbursement: Disbursement) -> list[LineRecord]:
        """The disbursement's entries as our lines: amounts from disbursementEntries (what this disbursement paid
        of each entry), links from the entries (txn, chargeback, isFee), matched to our records."""
        paid: dict[str, int] = {}
        search = Search().equals("disbursement", disbursement.id)
        for part in client.iterate(DisbursementEntry, search=search, limit=PAGE):
            if part.disbursement == disbursement.id and part.entry:
                paid[part.entry] = paid.get(part.entry, 0) + int(part.amount or 0)
        entries: dict[str, Entry] = {}
        ids = list(paid)
        for start in range(0, len(ids), PAGE):
            for entry in client.list(Entry, search=Search().in_("id", ids[start : start + PAGE]), limit=PAGE).items:
                if entry.id in paid:
                    entries[entry.id] = entry
        txns = self._txns(client, {e.txn for e in entries.values() if e.txn})
        originals = self._txns(client, {t.fortxn for t in txns.values() if t.fortxn and t.fortxn not in txns})
        txns.update(originals)
        lines = []
        for entry_id, amount in paid.items():
            entry = entries.get(entry_id)
            lines.append(self._line(practice, entry_id, amount, entry, txns))
        return lines

    @staticmethod
    def _txns(client: SplashClient, ids: set[str | None]) -> dict[str, Txn]:
        wanted = sorted(i for i in ids if i)
        found: dict[str, Txn] = {}
        for start in range(0, len(wanted), PAGE):
            for txn in client.list(Txn, search=Search().in_("id", wanted[start : start + PAGE]), limit=PAGE).items:
                found[txn.id] = txn
        return found

    def _line(
        self, practice: Practice, entry_id: str, amount: int, entry: Entry | None, txns: dict[str, Txn]
    ) -> LineRecord:
        if entry is None:
            return LineRecord(entry_id=entry_id, kind=LineKind.ADJUSTMENT.value, amount=amount)
        kind = line_kind(entry.event, bool(entry.isFee))
        line = LineRecord(
            entry_id=entry_id,
            kind=kind.value,
            amount=amount,
            event=entry.event,
            description=(entry.description or "")[:100] or None,
            splash_txn_id=entry.txn,
            splash_chargeback_id=entry.chargeback,
        )
        if entry.chargeback:
            return self._chargeback_line(practice, line, entry.chargeback)
        txn = txns.get(entry.txn or "")
        if txn is None:
            return line
        order = str(txn.order or "")
        payment_order = order
        refund_id = None
        if order.startswith("rfd_") or (txn.fortxn and not order.startswith("pay_")):
            original = txns.get(txn.fortxn or "")
            payment_order = str(original.order or "") if original else ""
            refund_id = order if order.startswith("rfd_") else None
        elif txn.fortxn and order.startswith("pay_"):
            refund_id = outside_refund_id(txn.id)  # a refund made in the portal inherits the payment's order
        payment = self.book.store.get(practice.practice_id, payment_order) if payment_order.startswith("pay_") else None
        if payment is None:
            return line
        return replace(
            line,
            payment_id=payment.id,
            refund_id=refund_id if kind is LineKind.REFUND else None,
            invoice_id=payment.invoice_id,
            patient_id=payment.patient_id,
        )

    def _chargeback_line(self, practice: Practice, line: LineRecord, chargeback_id: str) -> LineRecord:
        record = self.disputes.disputes.get(practice.practice_id, dispute_id(chargeback_id))
        if record is None:  # an alert lost: the dispute (and the chargeback's fees) first
            try:
                self.disputes.apply_chargeback(self.splash().get(Chargeback, chargeback_id))
            except SplashNotFound:
                return line
            record = self.disputes.disputes.get(practice.practice_id, dispute_id(chargeback_id))
        if record is None:
            return line
        return replace(
            line,
            dispute_id=record.id,
            payment_id=record.payment_id,
            invoice_id=record.invoice_id,
            patient_id=record.patient_id,
        )

    def _event_detail(self, record: DepositRecord, practice: Practice) -> dict[str, Any]:
        view = record.view()
        resource = fhir.payment_reconciliation(view, practice.practice_id, practice.name)
        detail: dict[str, Any] = {
            "deposit_id": view.id,
            "status": view.status.value,
            "amount": view.amount,
            "deposited_on": view.deposited_on,
            "gross": view.gross,
            "fees": view.fees,
            "net": view.net,
            "lines": len(view.lines),
            "unmatched": view.unmatched,
        }
        text = json.dumps(resource)
        if len(text) <= FHIR_ON_BUS_MAX_BYTES:  # its dollars as Decimal: DynamoDB keeps no float
            detail["payment_reconciliation"] = json.loads(text, parse_float=Decimal)
        return detail

    # -- staff ----------------------------------------------------------------------------------------------

    def get(self, practice_id: str, deposit_id_: str) -> Deposit:
        return self._require(practice_id, deposit_id_).view()

    def fhir(self, practice_id: str, deposit_id_: str) -> dict[str, Any]:
        view = self.get(practice_id, deposit_id_)
        practice = self.practices.get(practice_id)
        return fhir.payment_reconciliation(view, practice_id, practice.name if practice else None)

    def _require(self, practice_id: str, deposit_id_: str) -> DepositRecord:
        record = self.deposits.get(practice_id, deposit_id_) if DEPOSIT_ID.match(deposit_id_) else None
        if record is None:
            raise NotFound(f"No deposit {deposit_id_} exists for this practice.")
        return record

    def report(self, practice_id: str, start: date, end: date, payments: list[Any]) -> DepositReport:
        """The deposits made from `start` to `end`, their totals, their unmatched lines, and the payments (of
        those given: the range's, as the payments report's rows) that succeeded more than `undeposited_after_days`
        ago and reached no deposit."""
        if end < start:
            raise ValidationFailed(
                "`to` must not be before `from`.", errors=[{"field": "to", "message": "before from"}]
            )
        if (end - start).days >= MAX_REPORT_DAYS:
            raise ValidationFailed(f"A deposits report covers at most {MAX_REPORT_DAYS} days.")
        records = self.deposits.between(practice_id, start.isoformat(), end.isoformat())
        views = [r.view() for r in records]
        totals = {
            name: sum(getattr(v, name) for v in views)
            for name in ("amount", "gross", "refunds", "returns", "chargebacks", "fees", "net", "rounding")
        }
        now = self.clock()
        undeposited = []
        for p in payments:  # reports.models.PaymentRow: its deposit_id from its settlement
            if p.status not in ("succeeded", "partially_refunded", "refunded") or p.deposit_id:
                continue
            days = (now - from_iso(p.created_at)).days
            if days > self.undeposited_after_days:
                undeposited.append(
                    UndepositedPayment(
                        payment_id=p.id,
                        invoice_id=p.invoice_id,
                        patient_id=p.patient_id,
                        amount=p.amount,
                        created_at=p.created_at,
                        days=days,
                    )
                )
        return DepositReport(
            from_date=start.isoformat(),
            to_date=end.isoformat(),
            totals=totals,
            data=views,
            unmatched_lines=[line for v in views for line in v.lines if not line.matched],
            undeposited=undeposited,
            undeposited_after_days=self.undeposited_after_days,
        )


CSV_COLUMNS = (
    "deposit_id",
    "splash_disbursement_id",
    "deposited_on",
    "status",
    "deposit_amount",
    "line",
    "entry_id",
    "kind",
    "amount",
    "matched",
    "payment_id",
    "refund_id",
    "dispute_id",
    "invoice_id",
    "patient_id",
    "splash_txn_id",
    "description",
)


def report_csv(report: DepositReport) -> str:
    """One row per line (a deposit with no lines: one row), amounts in cents; text a spreadsheet would run as a
    formula is quoted (practicepay.reports.service's CSV rules)."""
    from practicepay.reports.service import _csv

    rows = []
    for deposit in report.data:
        head = [deposit.id, deposit.splash_disbursement_id, deposit.deposited_on, deposit.status.value, deposit.amount]
        if not deposit.lines:
            rows.append([*head, 0, *([None] * (len(CSV_COLUMNS) - 6))])
        for n, line in enumerate(deposit.lines, start=1):
            rows.append(
                [
                    *head,
                    n,
                    line.entry_id,
                    line.kind.value,
                    line.amount,
                    "yes" if line.matched else "no",
                    line.payment_id,
                    line.refund_id,
                    line.dispute_id,
                    line.invoice_id,
                    line.patient_id,
                    line.splash_txn_id,
                    line.description,
                ]
            )
    return _csv(CSV_COLUMNS, rows)


def _day(value: str | None) -> str | None:
    try:
        return datetime.strptime(str(value)[:10], "%Y-%m-%d").date().isoformat() if value else None
    except ValueError:
        return None


def _same(a: DepositRecord, b: DepositRecord) -> bool:
    return replace(a, version=0, updated_at="") == replace(b, version=0, updated_at="")
