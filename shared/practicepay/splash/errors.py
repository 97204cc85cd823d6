"""Typed Splash failures. Splash reports most of them inside HTTP 200 (`response.errors[]` or a top-level
`errors`); the client turns every variant into one of these."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SplashErrorItem:
    code: str
    msg: str
    field: str | None = None
    severity: int | None = None
    error_code: str | None = None


class SplashError(Exception):
    """Base class. `items` holds what Splash said, never our request."""

    def __init__(self, message: str, items: tuple[SplashErrorItem, ...] = ()):
        super().__init__(message)
        self.items = items


class SplashValidationError(SplashError):
    """Splash refused the request's fields (required_field, invalid_field, txn_type_payment_method_mismatch …)."""

    @property
    def fields(self) -> list[str]:
        return [i.field for i in self.items if i.field]


class SplashInvalidOperation(SplashValidationError):
    """The operation is not allowed in the record's state (refund before capture, redeposit rules 366/367 …)."""


class SplashNotFound(SplashError):
    """An unknown id: a GET answered 200 with empty data, a referenced record (`no_such_record`), or a malformed
    id (Splash answers HTTP 404 with an empty text/html body). Not worth retrying."""


class SplashAuthError(SplashError):
    """The API key was refused (`invalid_auth`, HTTP 401 or 400)."""


class SplashRateLimited(SplashError):
    """HTTP 429 / code 64: the path is blocked for `retry_after` seconds and the client's wait budget was spent."""

    def __init__(self, message: str, retry_after: float, items: tuple[SplashErrorItem, ...] = ()):
        super().__init__(message, items)
        self.retry_after = retry_after


class SplashUnavailable(SplashError):
    """Splash could not be reached, or did not answer a read usefully; nothing was written. Safe to retry later."""


class SplashOutcomeUnknown(SplashError):
    """A write reached Splash (timeout, 5xx) and may have been committed. Never treat as a failure: look the txn
    up by its `order`, and retry only with the same REQUEST-TOKEN."""


class SplashUnexpectedRecord(SplashError):
    """Splash answered a record our models cannot read (a shape never recorded). `problems` names the fields and
    what was wrong with them, never their values (they may be credentials). Raised as one of the two below."""

    def __init__(self, message: str, problems: tuple[str, ...] = ()):
        super().__init__(message)
        self.problems = problems


class SplashUnexpectedReadRecord(SplashUnexpectedRecord, SplashUnavailable):
    """A read's answer could not be parsed: nothing was written."""


class SplashUnexpectedWriteRecord(SplashUnexpectedRecord, SplashOutcomeUnknown):
    """A write's answer could not be parsed: the write may well have been committed (look it up, never fail it)."""


class SplashRequestTokenReused(SplashError):
    """Splash answered a REQUEST-TOKEN with the record of another operation: the token was reused by mistake."""


@dataclass
class Decline:
    category: str
    retryable: bool
    processor_text: str
    processor_code: str | None = None
    bank_code: str | None = None
    txn_id: str | None = None


class SplashDeclined(SplashError):
    """The processor or bank declined the payment. `decline.category` is ours (insufficient_funds, …);
    `decline.processor_text` is Splash's own text, safe to show to staff."""

    def __init__(self, decline: Decline, items: tuple[SplashErrorItem, ...] = ()):
        super().__init__(f"declined: {decline.category} ({decline.processor_text})", items)
        self.decline = decline
