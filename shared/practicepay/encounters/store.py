"""DynamoDB adapter for encounters: the link item that names an encounter's invoice (`ENCOUNTER#<id>` in the invoices
table) and the transactions that write it with its invoice, so an encounter never makes two invoices and a
revision is applied once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from practicepay.adapters.dynamo import Transaction, TransactionConflict, patient_key, plain, practice_pk
from practicepay.encounters.models import EncounterLink
from practicepay.errors import Conflict
from practicepay.invoices.models import InvoiceRecord
from practicepay.invoices.store import InvoiceStore


@dataclass
class EncounterStore:
    invoices: InvoiceStore
    """The invoices table, where the links live next to the invoices they name."""
    patients_table: str
    """Where an invoice's patient must exist when the encounter's invoice is made."""
    events_table: str
    """The outbox the invoice's events are written to, with the invoice."""

    @staticmethod
    def link_key(practice_id: str, encounter_id: str) -> dict[str, str]:
        return {"pk": practice_pk(practice_id), "sk": f"ENCOUNTER#{encounter_id}"}

    @classmethod
    def link_item(cls, link: EncounterLink) -> dict[str, Any]:
        return {
            **cls.link_key(link.practice_id, link.encounter_id),
            "invoice_id": link.invoice_id,
            "revision": link.revision,
        }

    def link(self, practice_id: str, encounter_id: str) -> EncounterLink | None:
        """The encounter's link, if the encounter was applied before (a strongly consistent read)."""
        item = self.invoices.resource.get_item(
            TableName=self.invoices.table_name, Key=self.link_key(practice_id, encounter_id), ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        stored = plain(item)
        return EncounterLink(practice_id, encounter_id, str(stored["invoice_id"]), int(stored["revision"]))

    def create(self, invoice: InvoiceRecord, link: EncounterLink, *, outbox: Sequence[dict[str, Any]] = ()) -> None:
        """A new encounter's invoice and its link, if the invoice's patient still exists, with the events'
        outbox rows (practicepay.events), together. Conflict when the encounter was applied meanwhile or the
        patient deleted."""
        tx = Transaction()
        tx.put(self.invoices.table_name, self.invoices.item(invoice), "attribute_not_exists(pk)")
        tx.put(self.invoices.table_name, self.link_item(link), "attribute_not_exists(pk)")
        tx.check(self.patients_table, patient_key(invoice.practice_id, invoice.patient_id), "attribute_exists(pk)")
        for row in outbox:
            tx.put(self.events_table, row)
        try:
            tx.commit()
        except TransactionConflict as exc:  # the same encounter applied at the same moment, or its patient deleted
            detail = f"Encounter {link.encounter_id} changed while this request ran; send it again."
            raise Conflict(detail) from exc

    def correct(
        self, invoice: InvoiceRecord, invoice_version: int, link: EncounterLink, *, applied_revision: int
    ) -> None:
        """A draft invoice brought up to a later revision of its encounter, and its link moved to that revision,
        together, if neither changed since they were read (the link still at `applied_revision`). Conflict if one
        did."""
        tx = Transaction()
        tx.put(self.invoices.table_name, self.link_item(link), "revision = :r", {":r": applied_revision})
        self.invoices.replace(invoice, invoice_version, also=tx)
