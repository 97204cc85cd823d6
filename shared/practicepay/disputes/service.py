"""Disputes: following Splash's chargebacks (alerts and the poll both end in `apply_chargeback`), the money each
state implies (PaymentBook: exactly once), the evidence packet, and the practice's answer to Splash.

Money (disputes.models): a debit takes the chargeback's amount off the invoice's `amount_paid` (the patient owes it
again, unless the practice writes it off) with a `chargeback` ledger entry; a restore (a won dispute) puts it back
with a `chargeback_reversal`. The chargeback's fees are Splash's own entries for it (`isFee`), each booked once in
the practice's fee ledger under the entry's id, so the fees we book are the fees Splash took, reversals included.

Answering (`respond`): the packet (a PDF from our own records: disputes.evidence) and the practice's note go to
Splash as a chargebackDocument (its record, then its file) and a `represent` chargebackMessage, each under a
REQUEST-TOKEN derived from the dispute and the cycle, so a retry after any failure replays what Splash already did
and finishes the rest. Only then is the dispute `under_review`. Nothing about the patient goes: the packet names
services generically and never the patient; the note is screened (`screen_note`)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer

from practicepay.adapters.vault import PhiVault
from practicepay.clock import Clock, iso, utc_now
from practicepay.disputes import evidence as ev
from practicepay.disputes.models import (
    DISPUTE_ID,
    Dispute,
    DisputeList,
    DisputeRecord,
    DisputeStatus,
    RespondRequest,
    dispute_id,
    followed,
    same_facts,
    screen_note,
)
from practicepay.disputes.store import DisputeStore
from practicepay.errors import Conflict, NotFound, ValidationFailed
from practicepay.idempotency import run_once
from practicepay.invoices.models import InvoiceRecord
from practicepay.invoices.service import LINE_ITEMS_PURPOSE
from practicepay.messages.store import MessageStore
from practicepay.observability import logger
from practicepay.patients.models import Demographics
from practicepay.patients.store import PatientStore
from practicepay.payments.book import CONFLICT_RETRIES, AlreadyApplied, PaymentBook
from practicepay.payments.models import PaymentRecord
from practicepay.practices import PracticeStore
from practicepay.splash.client import SplashClient
from practicepay.splash.errors import SplashNotFound
from practicepay.splash.models import Chargeback, ChargebackDocument, ChargebackMessage, Entry, Txn
from practicepay.splash.outbound import ChargebackDocumentRequest, ChargebackMessageRequest
from practicepay.splash.search import Search

OUTCOME_EVENTS = {
    DisputeStatus.WON: "dispute.won",
    DisputeStatus.LOST: "dispute.lost",
    DisputeStatus.CLOSED: "dispute.lost",
}


@dataclass
class DisputeService:
    book: PaymentBook
    disputes: DisputeStore
    practices: PracticeStore
    patients: PatientStore
    splash: Callable[[], SplashClient]
    vault: PhiVault | None = None
    messages: MessageStore | None = None
    idempotency_store: BasePersistenceLayer | None = None
    clock: Clock = utc_now

    # -- following Splash --------------------------------------------------------------------------------

    def apply_chargeback(self, chargeback: Chargeback) -> str:
        """Bring the chargeback's dispute (new, or as stored) to what Splash says now, with its money and fees,
        once. The outcome: not_ours, mismatch, unchanged, opened, or the status it moved to."""
        practice = self.practices.by_merchant(chargeback.merchant) if chargeback.merchant else None
        if practice is None or not chargeback.txn:
            logger.info("chargeback is not on one of our practices", chargeback=chargeback.id)
            return "not_ours"
        client = self.splash()
        found = client.iterate(Entry, search=Search().equals("chargeback", chargeback.id), max_pages=5)
        fees = [e for e in found if e.isFee and e.chargeback == chargeback.id and e.amount]
        for _ in range(CONFLICT_RETRIES):
            existing = self.disputes.get(practice.practice_id, dispute_id(chargeback.id))
            payment = self._payment(practice.practice_id, existing, chargeback, client)
            if payment is None:
                return "not_ours"
            if isinstance(payment, str):
                return payment
            base = existing or self._new(payment, chargeback)
            after = followed(base, chargeback, iso(self.clock()))
            new_fees = {e.id: int(e.amount or 0) for e in fees if e.id not in base.fees}
            after = replace(after, fees={**base.fees, **new_fees})
            if existing is not None and same_facts(existing, after):
                return "unchanged"
            try:
                self._write(payment, existing, after, new_fees)
            except AlreadyApplied:
                continue  # another applier wrote this chargeback's move: ask again from a fresh read
            outcome = "opened" if existing is None else after.status
            logger.info("dispute moved", dispute_id=after.id, status=after.status, debited=after.debited)
            return outcome
        raise Conflict(f"The dispute of chargeback {chargeback.id} kept changing; retry.")

    def _payment(
        self, practice_id: str, existing: DisputeRecord | None, chargeback: Chargeback, client: SplashClient
    ) -> PaymentRecord | str | None:
        if existing is not None:
            return self.book.payment(practice_id, existing.payment_id)
        try:
            txn = client.get(Txn, chargeback.txn or "")
        except SplashNotFound:
            return None
        payment = self.book.store.get(practice_id, txn.order or "") if (txn.order or "").startswith("pay_") else None
        if payment is None:
            return None
        if payment.method_kind != "card" or payment.splash_txn_id != txn.id:
            logger.error("chargeback does not match its payment", payment_id=payment.id, chargeback=chargeback.id)
            return "mismatch"
        return payment

    def _new(self, payment: PaymentRecord, chargeback: Chargeback) -> DisputeRecord:
        now = iso(self.clock())
        return DisputeRecord(
            practice_id=payment.practice_id,
            id=dispute_id(chargeback.id),
            splash_chargeback_id=chargeback.id,
            payment_id=payment.id,
            invoice_id=payment.invoice_id,
            patient_id=payment.patient_id,
            splash_txn_id=payment.splash_txn_id or "",
            amount=chargeback.total or payment.amount,
            status=DisputeStatus.NEEDS_RESPONSE.value,
            splash_status=chargeback.status or "open",
            created_at=now,
            updated_at=now,
            version=0,
        )

    def _write(
        self, payment: PaymentRecord, existing: DisputeRecord | None, after: DisputeRecord, new_fees: dict[str, int]
    ) -> None:
        before = existing or replace(after, debited=False, version=0)
        move = before.money_move(after)
        count = after.debit_count + (1 if move == "debit" else 0)
        written = replace(after, version=(existing.version if existing else 0) + 1, debit_count=count)
        amount = written.amount
        ledger: list[dict[str, Any]] = []
        if move is not None:
            entry_type = "chargeback" if move == "debit" else "chargeback_reversal"
            ledger.append(
                {
                    "type": entry_type,
                    "amount": -amount if move == "debit" else amount,
                    "payment_id": payment.id,
                    "dispute_id": written.id,
                    "splash_txn_id": written.splash_txn_id,
                    "splash_chargeback_id": written.splash_chargeback_id,
                    "sequence": count,
                }
            )
        taken = -amount if move == "debit" else amount if move == "restore" else 0

        def on_invoice(invoice: InvoiceRecord) -> InvoiceRecord:
            return replace(
                invoice,
                amount_paid=invoice.amount_paid + taken,
                amount_charged_back=invoice.amount_charged_back - taken,
            )

        def on_payment(p: PaymentRecord) -> PaymentRecord:
            return replace(p, amount_charged_back=p.amount_charged_back - taken, dispute=written.ref())

        events = self._events(existing, written)

        def also(tx: Any) -> list[int]:
            indexes = [self.disputes.put(tx, written, existing)]
            for entry_id, fee in new_fees.items():
                indexes.append(
                    self.disputes.put_fee(
                        tx,
                        payment.practice_id,
                        entry_id,
                        type="fee",
                        kind="chargeback",
                        amount=fee,
                        dispute_id=written.id,
                        payment_id=payment.id,
                        splash_chargeback_id=written.splash_chargeback_id,
                        created_at=written.updated_at,
                    )
                )
            for detail_type, detail in events:
                self.book.add_event(tx, payment.practice_id, detail_type, detail)
            return indexes

        self.book.commit(payment, on_invoice, on_payment, pinned=False, ledger=ledger, also=also)

    @staticmethod
    def _events(existing: DisputeRecord | None, after: DisputeRecord) -> list[tuple[str, dict[str, Any]]]:
        out = []
        if existing is None:
            out.append(("dispute.opened", after.event_detail()))
        elif existing.status != after.status and DisputeStatus(after.status) in OUTCOME_EVENTS:
            out.append((OUTCOME_EVENTS[DisputeStatus(after.status)], after.event_detail()))
        return out

    def announce_due(self) -> int:
        """`dispute.due_soon` for every open, unanswered dispute within DUE_SOON_DAYS of its deadline, once each
        (the record's due_soon_at, written with the event at the version read). How many went out."""
        today = self.clock().date()
        sent = 0
        for record in self.disputes.due(through=(today + timedelta(days=3)).isoformat()):
            if not record.due_soon(today):
                continue
            after = replace(record, due_soon_at=iso(self.clock()), version=record.version + 1)
            if self.disputes.save(after, record, self.book.events_table, [("dispute.due_soon", after.event_detail())]):
                sent += 1
        return sent

    # -- staff ----------------------------------------------------------------------------------------------

    def get(self, practice_id: str, dispute_id_: str) -> Dispute:
        return self._require(practice_id, dispute_id_).view()

    def list(
        self,
        practice_id: str,
        *,
        status: DisputeStatus | None,
        due_before: str | None,
        limit: int,
        invoice_id: str | None = None,
    ) -> DisputeList:
        """A practice's disputes, soonest deadline first; `invoice_id`: the invoice's (by the `by_invoice` index)."""
        if invoice_id:
            found = self.disputes.for_invoice(practice_id, invoice_id)
            records = sorted(
                (
                    r
                    for r in found
                    if (status is None or r.status == status) and (not due_before or (r.reply_by or "") <= due_before)
                ),
                key=lambda r: (r.reply_by or "9999-12-31", r.id),
            )
        else:
            records = self.disputes.query(practice_id, status=status.value if status else None, due_before=due_before)
        return DisputeList(data=[r.view() for r in records[:limit]], has_more=len(records) > limit)

    def evidence(self, practice_id: str, dispute_id_: str, note: str | None = None) -> bytes:
        """The evidence packet as it stands (what `respond` would send, without the note unless given)."""
        record = self._require(practice_id, dispute_id_)
        return ev.render_packet(self._gather(record, note))

    def respond(
        self, practice_id: str, dispute_id_: str, idempotency_key: str, body: RespondRequest, context: Any = None
    ) -> Dispute:
        assert self.idempotency_store is not None
        return run_once(
            self.idempotency_store,
            operation="respond_dispute",
            practice_id=practice_id,
            idempotency_key=idempotency_key,
            body=body,
            output=Dispute,
            run=lambda: self._respond(practice_id, dispute_id_, body),
            lambda_context=context,
        )

    def _respond(self, practice_id: str, dispute_id_: str, body: RespondRequest) -> Dispute:
        record = self._require(practice_id, dispute_id_)
        if record.status == DisputeStatus.UNDER_REVIEW and record.answered(record.cycle):
            raise Conflict("This dispute was answered already; Splash has not decided it yet.")
        if record.status != DisputeStatus.NEEDS_RESPONSE:
            raise Conflict(f"This dispute is {record.status}; only a dispute that needs a response can be answered.")
        today = self.clock().date()
        if record.reply_by and record.reply_by < today.isoformat():
            raise Conflict(f"The deadline to respond was {record.reply_by}; Splash no longer takes an answer.")
        self._screen(record, body.note)
        pdf = ev.render_packet(self._gather(record, body.note))
        if len(pdf) > ev.MAX_PACKET_BYTES:
            raise ValidationFailed("The evidence packet is larger than Splash accepts (2 MB).")
        token = f"{record.id}.{record.cycle or 'first'}"
        client = self.splash()
        name = f"evidence-{record.id}.pdf"
        document = client.create(
            ChargebackDocument,
            ChargebackDocumentRequest(chargeback=record.splash_chargeback_id, name=name),
            request_token=f"{token}.document",
        )
        client.upload_document(document, name, pdf, request_token=f"{token}.file")
        message = client.create(
            ChargebackMessage,
            ChargebackMessageRequest(
                chargeback=record.splash_chargeback_id,
                type="represent",
                date=int(today.strftime("%Y%m%d")),
                note=body.note,
            ),
            request_token=f"{token}.message",
        )
        now = iso(self.clock())
        response = {
            "cycle": record.cycle,
            "document_id": document.id,
            "message_id": message.id,
            "evidence_sha256": hashlib.sha256(pdf).hexdigest(),
            "pages": pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages"),
            "bytes": len(pdf),
            "note_chars": len(body.note),
        }
        for _ in range(CONFLICT_RETRIES):
            after = replace(
                record,
                status=DisputeStatus.UNDER_REVIEW.value,
                responded_at=now,
                response=response,
                updated_at=now,
                version=record.version + 1,
            )
            if self.disputes.save(after, record, self.book.events_table, []):
                logger.info("dispute answered", dispute_id=record.id, bytes=len(pdf))
                return after.view()
            record = self._require(practice_id, dispute_id_)
            if not record.open:
                return record.view()  # decided meanwhile (the answer reached Splash all the same)
        raise Conflict("The dispute kept changing while its answer was recorded; retry with the same Idempotency-Key.")

    def accept(self, practice_id: str, dispute_id_: str, idempotency_key: str, context: Any = None) -> Dispute:
        """The practice gives the chargeback up (an `acceptLiability` message for the whole amount): Splash marks it
        lost, which is read back at once and applied like any other read (the money was debited already)."""
        assert self.idempotency_store is not None
        return run_once(
            self.idempotency_store,
            operation="accept_dispute",
            practice_id=practice_id,
            idempotency_key=idempotency_key,
            body=None,
            output=Dispute,
            run=lambda: self._accept(practice_id, dispute_id_),
            lambda_context=context,
        )

    def _accept(self, practice_id: str, dispute_id_: str) -> Dispute:
        record = self._require(practice_id, dispute_id_)
        if not record.open:
            raise Conflict(f"This dispute is {record.status} already.")
        client = self.splash()
        client.create(
            ChargebackMessage,
            ChargebackMessageRequest(
                chargeback=record.splash_chargeback_id,
                type="acceptLiability",
                date=int(self.clock().date().strftime("%Y%m%d")),
                amount=record.amount,
            ),
            request_token=f"{record.id}.{record.cycle or 'first'}.accept",
        )
        self.apply_chargeback(client.get(Chargeback, record.splash_chargeback_id))
        return self._require(practice_id, dispute_id_).view()

    def _require(self, practice_id: str, dispute_id_: str) -> DisputeRecord:
        record = self.disputes.get(practice_id, dispute_id_) if DISPUTE_ID.match(dispute_id_) else None
        if record is None:
            raise NotFound(f"No dispute {dispute_id_} exists for this practice.")
        return record

    # -- the evidence ---------------------------------------------------------------------------------------

    def _demographics(self, record: DisputeRecord) -> Demographics | None:
        patient = self.patients.get(record.practice_id, record.patient_id)
        if patient is None or self.vault is None:
            return None
        return Demographics.unsealed(self.vault, patient.phi_sealed, record.practice_id)

    def _screen(self, record: DisputeRecord, note: str) -> None:
        demographics = self._demographics(record)
        names = [demographics.first_name, demographics.last_name] if demographics else []
        problem = screen_note(note, names)
        if problem:
            raise ValidationFailed(
                f"The note {problem}: it goes to the card networks, so it must not carry the patient's health "
                "information or identity.",
                errors=[{"field": "note", "message": problem}],
            )

    def _gather(self, record: DisputeRecord, note: str | None) -> ev.Evidence:
        practice = self.practices.require(record.practice_id)
        payment = self.book.payment(record.practice_id, record.payment_id)
        invoice = self.book.invoice(record.practice_id, record.invoice_id)
        method = self.patients.get_method(record.practice_id, record.patient_id, payment.payment_method_id)
        consent = (method.consent or {}) if method else {}
        lines = []
        if self.vault is not None:
            items = self.vault.open(
                invoice.line_items_sealed, practice_id=invoice.practice_id, purpose=LINE_ITEMS_PURPOSE
            )
            for item in items:
                lines.append(
                    ev.EvidenceLine(
                        description=ev.generic_description(item.get("cpt_code")),
                        service_date=str(item["service_date"]) if item.get("service_date") else None,
                        quantity=int(item["quantity"]),
                        unit_amount=int(item["unit_amount"]),
                        amount=int(item["amount"]),
                    )
                )
        sent = self.messages.for_invoice(record.practice_id, record.invoice_id) if self.messages else []
        settings = practice.settings
        identity = None
        if payment.channel == "pay_page":
            question = "date of birth" if settings.pay_page_identity == "date_of_birth" else "last name and ZIP code"
            identity = ev.IdentityCheck(at=payment.created_at, question=question, outcome="passed")
        contact = " / ".join(c for c in (settings.contact_phone, settings.contact_email) if c) or None
        return ev.Evidence(
            practice_name=practice.name,
            practice_contact=contact,
            merchant_id=practice.splash_merchant_id or "",
            chargeback_id=record.splash_chargeback_id,
            reason_code=record.reason_code,
            reason=record.reason,
            cycle=record.cycle,
            dispute_amount=record.amount,
            reply_by=record.reply_by,
            issued_on=record.issued_on,
            payment_id=payment.id,
            payment_amount=payment.amount,
            payment_created_at=payment.created_at,
            payment_channel=payment.channel,
            method_kind=payment.method_kind,
            method_brand=method.brand if method else None,
            method_last4=method.last4 if method else None,
            splash_txn_id=payment.splash_txn_id,
            amount_refunded=payment.amount_refunded,
            invoice_id=invoice.id,
            invoice_issued_at=invoice.created_at if invoice.status != "draft" else None,
            invoice_due_date=invoice.due_date,
            invoice_total=invoice.total,
            lines=tuple(lines),
            consent=ev.EvidenceConsent(
                text_version=str(consent.get("text_version")),
                accepted_at=str(consent.get("accepted_at")),
                channel=str(consent.get("channel")),
                captured_by=str(consent.get("captured_by")),
                max_amount=consent.get("max_amount"),
                text=None,
            )
            if consent.get("text_version")
            else None,
            messages=tuple(
                ev.EvidenceMessage(
                    kind=m.kind,
                    channel=m.channel,
                    to=m.to_hint or "",
                    status=m.status,
                    sent_at=m.sent_at,
                    delivered_at=m.delivered_at,
                )
                for m in sorted(sent, key=lambda m: m.created_at)
            ),
            identity=identity,
            note=note,
            generated_at=iso(self.clock()),
        )
