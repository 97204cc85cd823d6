"""Domain exceptions. The API edge maps each to one RFC 9457 problem (practicepay.api.problems)."""

from __future__ import annotations


class PracticePayError(Exception):
    """Base of every error the API turns into a 4xx problem."""

    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, errors: list[dict] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class ValidationFailed(PracticePayError):
    status = 422
    slug = "validation-error"
    title = "Your request has invalid fields"


class UnknownParameter(PracticePayError):
    """A query parameter the route does not take (a 400, like every query and header problem)."""

    status = 400
    slug = "validation-error"
    title = "Your request has invalid fields"


class Unauthenticated(PracticePayError):
    status = 401
    slug = "unauthorized"
    title = "Unauthorized"


class Forbidden(PracticePayError):
    status = 403
    slug = "forbidden"
    title = "Forbidden"


class MalformedRequest(PracticePayError):
    status = 400
    slug = "malformed-request"
    title = "The request could not be read"


class PayloadTooLarge(PracticePayError):
    status = 413
    slug = "payload-too-large"
    title = "Request body too large"


class UnsupportedMediaType(PracticePayError):
    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported content type"


class NotFound(PracticePayError):
    status = 404
    slug = "not-found"
    title = "Not found"


class Conflict(PracticePayError):
    status = 409
    slug = "conflict"
    title = "Conflict"


class IdempotencyKeyReused(PracticePayError):
    status = 422
    slug = "idempotency-key-reused"
    title = "Idempotency-Key reused with a different request"


class IdempotencyInProgress(PracticePayError):
    status = 409
    slug = "idempotency-in-progress"
    title = "A request with this Idempotency-Key is still in progress"


class PaymentDeclined(PracticePayError):
    """402: the processor or bank declined; the payment is recorded as failed with its reason."""

    status = 402
    title = "The payment was declined"

    def __init__(self, detail: str, category: str, instance: str | None = None):
        super().__init__(detail)
        self.slug = f"payment-declined:{category.replace('_', '-')}"
        self.instance = instance


class ProcessorUnavailable(PracticePayError):
    """503: Splash could not be reached or refused before processing; nothing was charged. Retry shortly."""

    status = 503
    slug = "processor-unavailable"
    title = "The payment processor is unavailable"
