"""Typed records as Splash returns them. Numbers that arrive as strings (POST responses) are normalized to
int; unknown fields are kept (Splash adds fields freely) but never relied on."""

from __future__ import annotations

from enum import IntEnum
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _int(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return None
        if text.lstrip("-").isdigit():
            return int(text)
    return value


Int = Annotated[int, BeforeValidator(_int)]
OptInt = Annotated[int | None, BeforeValidator(_int)]
# Dates arrive as "YYYY-MM-DD HH:MM:SS.ssss" strings or YYYYMMDD integers depending on the field and era.
DateLike = Annotated[str | None, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)]


class TxnType(IntEnum):
    CARD_SALE = 1
    CARD_AUTH = 2
    CARD_CAPTURE = 3
    CARD_REVERSE = 4
    CARD_REFUND = 5
    ECHECK_SALE = 7
    ECHECK_REFUND = 8
    ECHECK_REDEPOSIT = 11
    ECHECK_VERIFICATION = 12
    INCREMENTAL_AUTH = 14


class TxnStatus(IntEnum):
    PENDING = 0
    APPROVED = 1
    FAILED = 2
    CAPTURED = 3
    SETTLED = 4
    RETURNED = 5


class TxnOrigin(IntEnum):
    UNKNOWN = 0
    TERMINAL = 1
    ECOMMERCE = 2
    MOTO = 3
    APPLE_PAY = 4
    RECURRING = 7
    PAYFRAME = 8
    IN_WRITING = 9


class MerchantStatus(IntEnum):
    NOT_READY = 0
    READY = 1
    BOARDED = 2
    MANUAL_REVIEW = 3
    CLOSED = 4
    INCOMPLETE = 5
    PENDING = 6


class PaymentMethod(IntEnum):
    UNKNOWN = 0
    AMEX = 1
    VISA = 2
    MASTERCARD = 3
    DINERS = 4
    DISCOVER = 5
    DEBIT = 7
    CHECKING = 8
    SAVINGS = 9
    CORPORATE_CHECKING = 10
    CORPORATE_SAVINGS = 11


class Resource(IntEnum):
    """Splash's ResourceEnum, for alert triggers (splash-api.md §4)."""

    CUSTOMERS = 3
    MERCHANTS = 9
    TOKENS = 17
    TXNS = 18
    ACCOUNTS = 22
    ENTITIES = 36
    ENTITY_RETURNS = 86


class Record(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)
    resource: ClassVar[str]

    id: str
    created: str | None = None
    modified: str | None = None
    login: str | None = None
    inactive: OptInt = None
    frozen: OptInt = None


class Entity(Record):
    resource: ClassVar[str] = "entities"
    name: str | None = None
    type: OptInt = None
    email: str | None = None


class Merchant(Record):
    resource: ClassVar[str] = "merchants"
    entity: str | None = None
    status: OptInt = None
    mcc: str | None = None
    dba: str | None = None

    @property
    def merchant_status(self) -> MerchantStatus | None:
        return MerchantStatus(self.status) if self.status is not None else None


class Member(Record):
    resource: ClassVar[str] = "members"
    merchant: str | None = None
    ownership: OptInt = None


class Account(Record):
    resource: ClassVar[str] = "accounts"
    entity: str | None = None
    primary: OptInt = None
    status: OptInt = None


class Customer(Record):
    resource: ClassVar[str] = "customers"
    merchant: str | None = None
    custom: str | None = None


class TokenPayment(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    number: str | None = None
    """Last four digits only."""
    bin: str | None = None
    method: OptInt = None
    routing: str | None = None


class Token(Record):
    resource: ClassVar[str] = "tokens"
    token: str = Field(repr=False)  # a credential: kept out of reprs, str() and logs
    customer: str | None = None
    status: str | None = None
    expiration: str | None = None
    payment: TokenPayment | None = None


class Txn(Record):
    resource: ClassVar[str] = "txns"
    merchant: str | None = None
    type: Int
    status: Int
    total: OptInt = None
    approved: OptInt = None
    refunded: OptInt = None
    reversed: OptInt = None
    origin: OptInt = None
    order: str | None = None
    fortxn: str | None = None
    token: str | None = Field(default=None, repr=False)
    authorization: str | None = None
    captured: DateLike = None
    settled: DateLike = None
    settledTotal: OptInt = None  # noqa: N815 (Splash's name)
    funded: DateLike = None
    returned: DateLike = None
    description: str | None = None

    @property
    def txn_type(self) -> TxnType:
        return TxnType(self.type)

    @property
    def txn_status(self) -> TxnStatus:
        return TxnStatus(self.status)


class TxnResult(Record):
    resource: ClassVar[str] = "txnResults"
    txn: str | None = None
    type: OptInt = None
    code: OptInt = None
    message: str | None = None
    originalCode: str | None = None  # noqa: N815
    bankCode: str | None = None  # noqa: N815


class EntityReturn(Record):
    resource: ClassVar[str] = "entityReturns"
    entity: str | None = None
    txn: str | None = None
    code: str | None = None
    actionCode: str | None = None  # noqa: N815
    message: str | None = None


class AlertTrigger(Record):
    resource: ClassVar[str] = "alertTriggers"
    alert: str | None = None
    event: str | None = None
    resource_id: OptInt = Field(default=None, alias="resource")


class AlertAction(Record):
    """The static header's value is a secret: not modelled, and unknown fields are dropped."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)
    resource: ClassVar[str] = "alertActions"
    alert: str | None = None
    type: str | None = None
    value: str | None = None
    headerName: str | None = None  # noqa: N815


class Alert(Record):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)
    resource: ClassVar[str] = "alerts"
    name: str | None = None
    forlogin: str | None = None
