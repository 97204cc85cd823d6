"""The audit trail of staff actions (ADR 0018): who (subject, name, role), when, what, the reason code, from which
address, and how it ended.

A change is audited in its own transaction: while a staff action runs (`Auditor.action`), every DynamoDB transaction
it commits carries an audit entry (practicepay.adapters.dynamo.riding), so the entry exists if and only if the change
does, whichever service made it. An action that fails is written alone with its error, after the entries of what it
did write; so are a refusal (403) and a read of a patient's records (HIPAA's audit controls ask who saw what)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from practicepay.adapters.dynamo import Transaction, riding
from practicepay.api.problems import describe
from practicepay.clock import Clock, iso, utc_now
from practicepay.ids import new_id
from practicepay.staff.models import Actor, AuditEntry, Outcome
from practicepay.staff.store import AuditStore


class Auditor:
    def __init__(self, store: AuditStore, clock: Clock = utc_now):
        self.store = store
        self.clock = clock

    def entry(self, actor: Actor, action: str, outcome: Outcome, **fields: Any) -> AuditEntry:
        now = self.clock()
        return AuditEntry(
            id=new_id("aud", int(now.timestamp() * 1000)),
            practice_id=actor.practice_id,
            at=iso(now),
            subject=actor.subject,
            name=actor.name,
            role=actor.role,
            address=actor.address,
            action=action,
            outcome=outcome,
            **fields,
        )

    @contextmanager
    def action(self, actor: Actor, action: str, **fields: Any) -> Iterator[None]:
        """Run a staff action: each transaction it commits carries its entry (`done`: what it wrote); if it raises,
        its failure is written too, alone, with the error's slug (and the error goes on). So a payment reserved,
        then declined, reads `done` (the reservation), `done` (the decline recorded), `failed` (payment-declined)."""

        def ride(tx: Transaction) -> None:
            self.store.add(tx, self.entry(actor, action, "done", records=len(tx), **fields))

        try:
            with riding(ride):
                yield
        except Exception as exc:
            known = describe(exc)
            self.store.put(self.entry(actor, action, "failed", error=known[1] if known else "fault", **fields))
            raise

    def denied(self, actor: Actor, action: str, **fields: Any) -> None:
        self.store.put(self.entry(actor, action, "denied", error="forbidden", **fields))

    def viewed(self, actor: Actor, action: str, **fields: Any) -> None:
        self.store.put(self.entry(actor, action, "viewed", **fields))
