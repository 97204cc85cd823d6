"""Staff's side of pay links: make one for an invoice (or a patient's whole balance), list an invoice's, revoke.

Making a link is idempotent per Idempotency-Key: a retry after a lost answer gets the same link and URL. The URL's
secret is kept for that only in the idempotency record, sealed with the data key (24 h); the link itself keeps its
hash."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from practicepay.adapters.vault import PhiVault
from practicepay.clock import Clock, utc_now
from practicepay.errors import Conflict, NotFound
from practicepay.events import event_item
from practicepay.idempotency import run_once
from practicepay.ids import id_pattern
from practicepay.invoices import lifecycle
from practicepay.invoices.store import InvoiceStore
from practicepay.patients.models import Demographics
from practicepay.patients.store import PatientStore
from practicepay.paylinks.models import (
    CreatePayLinkRequest,
    PayLink,
    PayLinkList,
    PayLinkRecord,
    secret_hash,
)
from practicepay.paylinks.store import PayLinkStore
from practicepay.practices import PracticeSettings, PracticeStore

INVOICE_ID = id_pattern("inv")
PATIENT_ID = id_pattern("pat")
LINK_ID = id_pattern("pl")
SECRET_PURPOSE = "pay-link-secret"  # noqa: S105 (a KMS context label)


class _Made(BaseModel):
    """What the Idempotency-Key remembers: the link's id and its secret, sealed."""

    id: str
    secret_sealed: str


def link_url(base: str, secret: str) -> str:
    return f"{base.rstrip('/')}/pay/{secret}"


@dataclass
class PayLinkService:
    store: PayLinkStore
    invoices: InvoiceStore
    patients: PatientStore
    practices: PracticeStore
    vault: PhiVault
    events_table: str
    idempotency_store: BasePersistenceLayer
    base_url: str | None = None
    """The pay page's public base (PAY_PAGE_URL); None: the caller's API URL."""
    idempotency_ttl_seconds: int = 24 * 3600
    clock: Clock = utc_now

    def create_for_invoice(
        self,
        practice_id: str,
        invoice_id: str,
        key: str,
        body: CreatePayLinkRequest,
        api_base: str,
        ctx: LambdaContext | None = None,
    ) -> PayLink:
        def owner(settings: PracticeSettings) -> tuple[str, str | None]:
            invoice = self.invoices.get(practice_id, invoice_id) if INVOICE_ID.match(invoice_id) else None
            if invoice is None:
                raise NotFound(f"No invoice {invoice_id} exists for this practice.")
            if invoice.status not in lifecycle.PAYABLE:
                raise Conflict(
                    f"This invoice is {invoice.status}: a pay link is for an issued invoice with a balance"
                    + (" (issue it first)." if invoice.status == "draft" else ".")
                )
            self._require_answerable(practice_id, invoice.patient_id, settings.pay_page_identity)
            return invoice.patient_id, invoice.id

        return self._create(f"pay-link:{invoice_id}", practice_id, key, body, api_base, owner, ctx)

    def create_for_patient(
        self,
        practice_id: str,
        patient_id: str,
        key: str,
        body: CreatePayLinkRequest,
        api_base: str,
        ctx: LambdaContext | None = None,
    ) -> PayLink:
        def owner(settings: PracticeSettings) -> tuple[str, str | None]:
            if not settings.balance_links:
                raise Conflict(
                    "This practice sends links per invoice. Turn on the balance_links setting to send one link for "
                    "a patient's whole balance."
                )
            if not PATIENT_ID.match(patient_id):
                raise NotFound(f"No patient {patient_id} exists for this practice.")
            self._require_answerable(practice_id, patient_id, settings.pay_page_identity)
            owed = [i for i in self.invoices.open_for_patient(practice_id, patient_id) if i.payable_balance > 0]
            if not owed:
                raise Conflict("This patient has no issued invoice with a balance: there is nothing to pay.")
            return patient_id, None

        return self._create(f"pay-link:{patient_id}", practice_id, key, body, api_base, owner, ctx)

    def list_for_invoice(self, practice_id: str, invoice_id: str) -> PayLinkList:
        invoice = self.invoices.get(practice_id, invoice_id) if INVOICE_ID.match(invoice_id) else None
        if invoice is None:
            raise NotFound(f"No invoice {invoice_id} exists for this practice.")
        now = self.clock()
        links = self.store.for_owner(practice_id, invoice_id=invoice_id, patient_id=invoice.patient_id)
        balance = self.store.for_owner(practice_id, invoice_id=None, patient_id=invoice.patient_id)
        return PayLinkList(data=[link.view(now) for link in [*links, *balance]])

    def revoke(self, practice_id: str, link_id: str) -> PayLink:
        link = self.store.by_id(practice_id, link_id) if LINK_ID.match(link_id) else None
        if link is None:
            raise NotFound(f"No pay link {link_id} exists for this practice.")
        now = self.clock()
        if link.revoked_at is None:
            event = link_event(link, "pay_link.revoked", now, reason="staff")
            self.store.revoke(link, now, "staff", self.events_table, event)
            link = self.store.get(link.secret_hash) or link
        return link.view(now)

    def _require_answerable(self, practice_id: str, patient_id: str, identity: str) -> None:
        """The patient exists, and the pay page can ask them to prove who they are: a link is refused when their
        record cannot answer the practice's question (no date of birth on file; or no address for last name + ZIP)."""
        record = self.patients.get(practice_id, patient_id)
        if record is None:
            raise NotFound(f"No patient {patient_id} exists for this practice.")
        if not Demographics.unsealed(self.vault, record.phi_sealed, practice_id).answers(identity):
            what = "date of birth" if identity == "date_of_birth" else "address (ZIP code)"
            raise Conflict(
                f"The patient's {what} is not on file, and the pay page asks for it before it shows the bill: add "
                f"it (PATCH /patients/{patient_id}) first."
            )

    def _create(
        self,
        operation: str,
        practice_id: str,
        key: str,
        body: CreatePayLinkRequest,
        api_base: str,
        owner: Callable[[PracticeSettings], tuple[str, str | None]],
        ctx: LambdaContext | None,
    ) -> PayLink:
        made: list[tuple[PayLinkRecord, str]] = []

        def make() -> _Made:
            settings = self.practices.require(practice_id).settings  # read once (uncached: staff may just have set it)
            patient_id, invoice_id = owner(settings)
            now = self.clock()
            link, secret = PayLinkRecord.new(
                practice_id,
                patient_id,
                invoice_id,
                now,
                days=body.expires_in_days or settings.pay_link_days,
                max_uses=body.max_uses or settings.pay_link_max_uses,
            )
            sealed = self.vault.seal(secret, practice_id=practice_id, purpose=SECRET_PURPOSE)  # before: no orphan
            event = event_item(practice_id, "pay_link.created", _detail(link), now)
            self.store.create(link, self.events_table, event)
            made.append((link, secret))
            return _Made(id=link.id, secret_sealed=sealed)

        first = run_once(
            self.idempotency_store,
            operation=operation,
            practice_id=practice_id,
            idempotency_key=key,
            body=body,
            output=_Made,
            run=make,
            ttl_seconds=self.idempotency_ttl_seconds,
            lambda_context=ctx,
        )
        if made:
            link, secret = made[0]
        else:  # a replay: the same link, its URL rebuilt from the sealed secret
            secret = self.vault.open(first.secret_sealed, practice_id=practice_id, purpose=SECRET_PURPOSE)
            link = self.store.get(secret_hash(secret))
            if link is None:
                raise NotFound(f"Pay link {first.id} no longer exists.")
        return link.view(self.clock(), url=link_url(self.base_url or api_base, secret))


def _detail(link: PayLinkRecord, **extra: object) -> dict[str, object]:
    """A pay_link.* event's detail: ids, dates and counts only (never the secret or its hash)."""
    return {
        "link_id": link.id,
        "scope": link.scope,
        "invoice_id": link.invoice_id,
        "patient_id": link.patient_id,
        "expires_at": link.expires_at,
        "max_uses": link.max_uses,
        **extra,
    }


def link_event(link: PayLinkRecord, detail_type: str, now: datetime, **extra: object) -> dict[str, Any]:
    return event_item(link.practice_id, detail_type, _detail(link, **extra), now)
