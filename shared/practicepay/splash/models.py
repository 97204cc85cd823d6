"""Typed records as Splash returns them. Numbers that arrive as strings (POST responses) are normalized to
int; unknown fields are kept (Splash adds fields freely) but never relied on.

Every variant recorded from the live API parses to one type (splash-api.md §1 "Type quirk", §10):
- text fields that flip int/str across records (`order`, `mcc`, `originalCode`, `dob`, `tcAcceptDate` …) become
  str; codes with a fixed width keep their leading zeros (`mcc` "0763", `originalCode` "010", `expiration` "0125");
- a reference that arrives expanded (`expand[customer][]` gives the customer object instead of its id) becomes the
  id; a txn's expanded `token` becomes its token string;
- a `payment` that arrives unexpanded (its record id, "g157968b6df1534") becomes `Payment(id=…)`."""

from __future__ import annotations

import json
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


def _text(width: int = 0) -> Any:
    """An int (or a float with no fraction) where text is expected becomes that text, zero-padded to `width`."""

    def convert(value: Any) -> Any:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{value:0{width}d}" if value >= 0 else str(value)
        return value

    return BeforeValidator(convert)


def _ref(key: str = "id") -> Any:
    """A reference: its id as sent, or the `key` of the record it points to when it arrives expanded."""

    def convert(value: Any) -> Any:
        return value.get(key) if isinstance(value, dict) else value

    return BeforeValidator(convert)


def _payment(value: Any) -> Any:
    """An unexpanded payment is its record id (`"g157968b6df1534"`); expanded, the object itself."""
    if isinstance(value, str):
        return {"id": value} if value.strip() else None
    return value


Int = Annotated[int, BeforeValidator(_int)]
OptInt = Annotated[int | None, BeforeValidator(_int)]
# Dates arrive as "YYYY-MM-DD HH:MM:SS.ssss" strings or YYYYMMDD integers depending on the field and era.
DateLike = Annotated[str | None, _text()]
Text = Annotated[str | None, _text()]
Ref = Annotated[str | None, _ref(), _text()]


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
    ECHECK_VERIFY = 12  # the same member (an alias): eCheck account verification, moves no money
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
    PLANS = 23
    SUBSCRIPTIONS = 24
    DISBURSEMENTS = 26
    ENTRIES = 27
    PAYOUTS = 31
    CHARGEBACKS = 34
    ENTITIES = 36
    BATCHES = 43
    ENTITY_RETURNS = 86
    INVOICES = 95
    DISBURSEMENT_ENTRIES = 111
    PAYMENT_UPDATES = 115


class Record(BaseModel):
    # defer_build: a function builds the validators of the records it reads, not of all of them at import.
    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True, defer_build=True)
    resource: ClassVar[str]

    id: str
    created: str | None = None
    modified: str | None = None
    login: Ref = None
    inactive: OptInt = None
    frozen: OptInt = None


class Entity(Record):
    resource: ClassVar[str] = "entities"
    name: str | None = None
    type: OptInt = None
    email: str | None = None
    tcAcceptDate: Text = None  # noqa: N815 (Splash's name; int YYYYMMDD or str, recorded both ways)


class Merchant(Record):
    resource: ClassVar[str] = "merchants"
    entity: Ref = None
    status: OptInt = None
    mcc: Annotated[str | None, _text(4)] = None
    dba: Text = None

    @property
    def merchant_status(self) -> MerchantStatus | None:
        return MerchantStatus(self.status) if self.status is not None else None


class Member(Record):
    resource: ClassVar[str] = "members"
    merchant: Ref = None
    ownership: OptInt = None
    dob: Text = None
    """YYYYMMDD as int or str, or only the year ("1973"), as recorded."""


class Account(Record):
    resource: ClassVar[str] = "accounts"
    entity: Ref = None
    primary: OptInt = None
    status: OptInt = None


class Customer(Record):
    resource: ClassVar[str] = "customers"
    merchant: Ref = None
    custom: Text = None


class Payment(BaseModel):
    """A payment instrument as Splash shows it: `id` only when it arrived unexpanded."""

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)
    id: str | None = None
    number: Text = None
    """Last four digits only."""
    bin: Text = None
    method: OptInt = None
    routing: Text = None


PaymentRef = Annotated[Payment | None, BeforeValidator(_payment)]


class Token(Record):
    resource: ClassVar[str] = "tokens"
    token: str = Field(repr=False)  # a credential: kept out of reprs, str() and logs
    customer: Ref = None
    status: Text = None
    expiration: Annotated[str | None, _text(4)] = None
    payment: PaymentRef = None


class Txn(Record):
    resource: ClassVar[str] = "txns"
    merchant: Ref = None
    type: Int
    status: Int
    total: OptInt = None
    approved: OptInt = None
    refunded: OptInt = None
    reversed: OptInt = None
    origin: OptInt = None
    order: Text = None
    fortxn: Ref = None
    token: Annotated[str | None, _ref("token")] = Field(default=None, repr=False)
    """The token string (an expanded token record gives its `token`, not its id)."""
    payment: PaymentRef = None
    authorization: Text = None
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
    txn: Ref = None
    type: OptInt = None
    code: OptInt = None
    message: str | None = None
    originalCode: Annotated[str | None, _text(3)] = None  # noqa: N815 (Vantiv codes are 3 digits: "010")
    bankCode: Text = None  # noqa: N815


class EntityReturn(Record):
    resource: ClassVar[str] = "entityReturns"
    entity: Ref = None
    txn: Ref = None
    code: Text = None
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


def _object(value: Any) -> Any:
    """A JSON-object field: as an object, a JSON string of one (some Payrix fields arrive encoded), or an empty
    list / empty string for none (a PHP empty array)."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            value = json.loads(text)
        except ValueError:
            return value  # left for the model to refuse
    if isinstance(value, list) and not value:
        return None
    return value


class TxnSessionConfigurations(BaseModel):
    """A txnSession's limits (the official SDK's TxnSessionsConfigurations): minutes, then counts."""

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)
    duration: OptInt = None
    maxTimesApproved: OptInt = None  # noqa: N815 (Splash's names)
    maxTimesUse: OptInt = None  # noqa: N815


class TxnSession(Record):
    """A short-lived key for PayFields in a browser (POST /txnSessions with the private key; splash-api.md §7).
    `key` goes to the page as PayFields.config.txnSessionKey with the public API key: kept out of reprs."""

    resource: ClassVar[str] = "txnSessions"
    merchant: Ref = None
    key: str = Field(repr=False)
    status: Text = None
    """"created" when made (recorded); "expired" afterwards (the SDK's example)."""
    configurations: Annotated[TxnSessionConfigurations | None, BeforeValidator(_object)] = None
    durationAvailable: OptInt = None  # noqa: N815 (minutes left)
    timesUsed: OptInt = None  # noqa: N815
    timesApproved: OptInt = None  # noqa: N815
    origin: Text = None

    @property
    def duration(self) -> int | None:
        """The session's life in minutes, as configured."""
        return self.configurations.duration if self.configurations else None


# -- the money after the payment (issue #19; shapes: splash-api.md §3.6 and §10, the SDK's doc/models, and the
# chargebacks recorded from the live sandbox in payrix-rs mock_data, tests/fixtures/splash/recorded/) --------------


def _cents(value: Any) -> Any:
    """Entry and disbursement-entry amounts arrive as floats of cents with up to three decimals (payrix-rs
    API_INCONSISTENCIES.md: 1855189.609): rounded half away from zero to whole cents, the only money we keep."""
    if isinstance(value, str):
        value = _int(value)
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                return value
    if isinstance(value, float):
        whole = int(abs(value) * 1000 + 0.5)  # thousandths of a cent, then half away from zero
        cents = (whole + 500) // 1000
        return cents if value >= 0 else -cents
    return value


Cents = Annotated[int | None, BeforeValidator(_cents)]


class Chargeback(Record):
    resource: ClassVar[str] = "chargebacks"
    merchant: Ref = None
    txn: Ref = None
    total: OptInt = None
    representedTotal: OptInt = None  # noqa: N815 (Splash's names)
    cycle: str | None = None
    currency: str | None = None
    ref: Text = None
    reason: str | None = None
    reasonCode: Text = None  # noqa: N815
    issued: DateLike = None
    received: DateLike = None
    reply: DateLike = None
    """The reply deadline, YYYYMMDD."""
    status: str | None = None
    """open, closed, won or lost."""
    actionable: OptInt = None
    paymentMethod: OptInt = None  # noqa: N815
    lastStatusChange: Ref = None  # noqa: N815


class ChargebackMessage(Record):
    resource: ClassVar[str] = "chargebackMessages"
    chargeback: Ref = None
    type: str | None = None
    date: DateLike = None
    amount: OptInt = None
    status: str | None = None
    note: str | None = Field(default=None, repr=False)


class ChargebackDocument(Record):
    resource: ClassVar[str] = "chargebackDocuments"
    chargeback: Ref = None
    type: str | None = None
    name: str | None = None
    description: str | None = None
    ref: Text = None
    status: str | None = None
    """created, then processed or failed (the file's integration)."""
    documentSource: str | None = None  # noqa: N815


class ChargebackStatus(Record):
    resource: ClassVar[str] = "chargebackStatuses"
    chargeback: Ref = None
    chargebackMessage: Ref = None  # noqa: N815
    status: str | None = None


class EntryEvent(IntEnum):
    """What made an entry (the SDK's EntryEventEnum; the ones a practice's deposit is made of)."""

    AUTH = 6
    CAPTURE = 7
    REFUND = 8
    PAYOUT = 10
    CHARGEBACK = 11
    ADJUSTMENT = 18
    RETRIEVAL = 19
    ARBITRATION = 20
    ECSALE = 21
    ECREFUND = 22
    ECRETURN = 23
    SETTLEMENT = 24
    PAYMENTUPDATE = 44
    PREARBITRATION = 87
    REVERSAL = 94
    REPRESENTMENT = 95


class Entry(Record):
    """A line of a merchant's balance: a sale captured, a refund, a return, a chargeback, a fee (`isFee`), …"""

    resource: ClassVar[str] = "entries"
    entity: Ref = None
    txn: Ref = None
    chargeback: Ref = None
    fee: Ref = None
    disbursement: Ref = None
    event: OptInt = None
    eventId: Text = None  # noqa: N815
    description: str | None = None
    amount: Cents = None
    """Signed whole cents (rounded from Splash's float): positive credits the merchant, negative debits it."""
    isFee: OptInt = None  # noqa: N815
    pending: OptInt = None


class DisbursementStatus(IntEnum):
    REQUESTED = 1
    PROCESSING = 2
    PROCESSED = 3
    FAILED = 4
    DENIED = 5
    RETURNED = 6


class Disbursement(Record):
    """Money sent to (or, negative, taken from) the merchant's bank account."""

    resource: ClassVar[str] = "disbursements"
    entity: Ref = None
    account: Text = None
    payout: Ref = None
    description: str | None = None
    amount: OptInt = None
    returnedAmount: OptInt = None  # noqa: N815
    status: OptInt = None
    currency: str | None = None
    processed: DateLike = None
    fundingStatus: str | None = None  # noqa: N815
    disbursementEntriesStatus: str | None = None  # noqa: N815


class DisbursementEntry(Record):
    resource: ClassVar[str] = "disbursementEntries"
    disbursement: Ref = None
    entry: Ref = None
    event: OptInt = None
    eventId: Text = None  # noqa: N815
    amount: Cents = None
    description: str | None = None


class PaymentUpdate(Record):
    """An account-updater result for a stored card: the outcome is the free-text `message` (no code, no old/new
    pair), the card's expiration after it "MMYY"; the token id does not change (Payrix's account-updater page)."""

    resource: ClassVar[str] = "paymentUpdates"
    token: Ref = None
    payment: Ref = None
    paymentUpdateGroup: Ref = None  # noqa: N815
    status: str | None = None
    """pending, processing, failed or processed."""
    platform: str | None = None
    message: str | None = None
    expiration: Annotated[str | None, _text(4)] = None
