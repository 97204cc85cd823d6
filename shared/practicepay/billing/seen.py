"""The installment one autopay charge works on, as last read or written during that charge (one charge message):
handed from the charge worker (billing.run.ChargeWorker) to the installment follower (billing.follow), so the
charge's two payment transactions (the reservation, then the outcome) do not read the installment again.

Only inside `one_charge()`; elsewhere (an early payment through the API, the status sync) nothing is remembered and
the follower reads the installment itself. A write the follower adds to a payment's transaction is tentative until
that transaction commits; the follower knows it did when the next payment change it is shown starts from the
payment it wrote (the same id and version). Any doubt (a transaction retried, another payment) forgets the entry,
and the installment is read again. The follower's write is guarded by the installment's version either way, so a
stale entry could only fail a transaction, never overwrite a newer installment. (Pure: no I/O.)"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from practicepay.billing.models import InstallmentRecord
    from practicepay.payments.models import PaymentRecord


@dataclass(frozen=True)
class _Seen:
    known: InstallmentRecord
    """As last read, or as written by a transaction known to have committed."""
    written: InstallmentRecord | None = None
    """Added to a payment's transaction not known to have committed yet."""
    by: tuple[str, int] | None = None
    """That transaction's payment: its id and the version it wrote."""


_SEEN: ContextVar[dict[tuple[str, str], _Seen] | None] = ContextVar("practicepay_billing_seen", default=None)


@contextmanager
def one_charge() -> Iterator[None]:
    """Remember installments for the duration of one charge (nested or concurrent charges each have their own)."""
    token = _SEEN.set({})
    try:
        yield
    finally:
        _SEEN.reset(token)


def remember(inst: InstallmentRecord) -> None:
    """The installment as just read (or as written by a transaction that committed)."""
    seen = _SEEN.get()
    if seen is not None:
        seen[(inst.practice_id, inst.id)] = _Seen(inst)


def wrote(read: InstallmentRecord, written: InstallmentRecord, payment: PaymentRecord) -> None:
    """`written` (changed from `read`) was added to the transaction that writes `payment`."""
    seen = _SEEN.get()
    if seen is not None:
        seen[(read.practice_id, read.id)] = _Seen(read, written, (payment.id, payment.version))


def recall(practice_id: str, inst_id: str, before: PaymentRecord | None) -> InstallmentRecord | None:
    """The installment as it stands, if known, for a payment change starting from `before`; None: read it."""
    seen = _SEEN.get()
    entry = seen.get((practice_id, inst_id)) if seen is not None else None
    if seen is None or entry is None:
        return None
    if entry.written is None:
        return entry.known
    if before is not None and (before.id, before.version) == entry.by:  # that transaction committed
        seen[(practice_id, inst_id)] = _Seen(entry.written)
        return entry.written
    del seen[(practice_id, inst_id)]
    return None
