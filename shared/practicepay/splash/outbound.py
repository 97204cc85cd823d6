"""The PHI firewall: every request body the client sends is one of these allow-listed models.

Nothing else can reach Splash: the client's write methods accept only `Outbound` instances, every model
forbids unknown fields, and the free-text fields a human could fill with clinical detail are closed:
`description` is one of a few generic phrases, `order` and a customer's `custom` are our opaque ids, and the
statement `descriptor` is the practice's own setting (letters, digits and a little punctuation). No patient name,
birth date, contact, address, diagnosis, CPT code or line-item text has a field to go in
(tests/unit/test_splash_outbound.py proves it). Credentials and payment numbers are left out of reprs.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, IPvAnyAddress, StrictInt, model_validator

from practicepay.splash.models import PaymentMethod, Resource, TxnOrigin, TxnType

OpaqueRef = Annotated[str, Field(pattern=r"^[a-z]{2,4}_[0-9a-z]{10,40}$", description="One of our record ids")]
MerchantId = Annotated[str, Field(pattern=r"^[tp]1_mer_[0-9a-f]{20,32}$")]
CustomerId = Annotated[str, Field(pattern=r"^[tp]1_cus_[0-9a-f]{20,32}$")]
TxnId = Annotated[str, Field(pattern=r"^[tp]1_txn_[0-9a-f]{20,32}$")]
LoginId = Annotated[str, Field(pattern=r"^[tp]1_log_[0-9a-z]{20,32}$")]
TokenString = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$", description="The 32-hex token string")]
Cents = Annotated[StrictInt, Field(gt=0, le=999_999_999)]
SplashTimezone = Literal["ast", "est", "cst", "mst", "pst", "akst", "hst"]
"""Splash's time zone names: lowercase US abbreviations (recorded: "mst", "cst"; the rest of the list is a guess)."""
StatementDescriptor = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9 .&*-]{1,21}$", description="The practice's statement descriptor")
]

GenericDescription = Literal[
    "Medical services",
    "Medical services - installment",
    "Medical services - membership",
    "Medical services - refund",
]
GENERIC_DESCRIPTIONS: tuple[str, ...] = get_args(GenericDescription)


class Outbound(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    def payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class TxnRequest(Outbound):
    """A payment operation: sale (1, 7), auth (2), capture (3), reverse (4), refund (5, 8), redeposit (11), or an
    eCheck account verification (12: a bank token, no total and no fortxn; it moves no money)."""

    merchant: MerchantId | None = None
    type: TxnType
    origin: TxnOrigin = TxnOrigin.ECOMMERCE
    total: Cents | None = None
    token: TokenString | None = Field(default=None, repr=False)
    fortxn: TxnId | None = None
    order: OpaqueRef | None = None
    description: GenericDescription | None = None
    descriptor: StatementDescriptor | None = None
    cofType: Literal["single", "scheduled", "unscheduled", "installment"] | None = None  # noqa: N815

    @model_validator(mode="after")
    def _verification(self) -> TxnRequest:
        if self.type == TxnType.ECHECK_VERIFY:
            if self.token is None:
                raise ValueError("an eCheck account verification (type 12) verifies a bank token: token is required")
            if self.total is not None or self.fortxn is not None:
                raise ValueError("an eCheck account verification (type 12) takes no total and no fortxn")
        return self


class TxnSessionConfigurations(Outbound):
    """A txnSession's limits: how many minutes it lives, how many PayFields calls it allows and how many of them
    may succeed (the official SDK's TxnSessionsConfigurations)."""

    duration: Annotated[StrictInt, Field(ge=1, le=1440)]
    maxTimesUse: Annotated[StrictInt, Field(ge=1, le=1000)]  # noqa: N815
    maxTimesApproved: Annotated[StrictInt, Field(ge=1, le=1000)] | None = None  # noqa: N815


class TxnSessionRequest(Outbound):
    """POST /txnSessions (private key): a short-lived key for one merchant's PayFields page. `login` may be left
    out: Splash then uses the login of the API key (the SDK's description of the field)."""

    login: LoginId | None = None
    merchant: MerchantId
    configurations: TxnSessionConfigurations


class CustomerRequest(Outbound):
    """A payer at Splash: the merchant and our opaque reference, nothing about the person."""

    merchant: MerchantId
    custom: OpaqueRef


class CardOrBank(Outbound):
    """Raw payment numbers, for tokenizing test numbers against a sandbox host only (the client refuses
    otherwise); in production tokens come from PayFields in the patient's browser."""

    method: PaymentMethod | None = None
    number: Annotated[str, Field(pattern=r"^[0-9]{4,19}$", repr=False)]
    routing: Annotated[str, Field(pattern=r"^[0-9]{9}$")] | None = Field(default=None, repr=False)
    cvv: Annotated[str, Field(pattern=r"^[0-9]{3,4}$")] | None = Field(default=None, repr=False)


class TokenRequest(Outbound):
    customer: CustomerId
    payment: CardOrBank
    expiration: Annotated[str, Field(pattern=r"^(0[1-9]|1[0-2])[0-9]{2}$")] | None = None


class MemberRequest(Outbound):
    """A practice owner (boarding KYC: the owner's data, never a patient's)."""

    first: Annotated[str, Field(min_length=1, max_length=100)]
    last: Annotated[str, Field(min_length=1, max_length=100)]
    title: str | None = None
    dob: Annotated[StrictInt, Field(ge=19000101, le=21001231)]  # the SDK marks dob and timezone required (§10)
    timezone: SplashTimezone
    ownership: Annotated[StrictInt, Field(ge=0, le=10000)]
    email: str | None = None
    ssn: Annotated[str, Field(pattern=r"^[0-9]{9}$")] | None = Field(default=None, repr=False)
    primary: Literal[0, 1] = 0


class BankAccountDetails(Outbound):
    method: Literal[
        PaymentMethod.CHECKING, PaymentMethod.SAVINGS, PaymentMethod.CORPORATE_CHECKING, PaymentMethod.CORPORATE_SAVINGS
    ]
    number: Annotated[str, Field(pattern=r"^[0-9]{4,17}$", repr=False)]
    routing: Annotated[str, Field(pattern=r"^[0-9]{9}$")]


class AccountRequest(Outbound):
    primary: Literal[0, 1] = 1
    account: BankAccountDetails
    currency: Literal["USD", "CAD"] = "USD"


class MerchantRequest(Outbound):
    mcc: Annotated[str, Field(pattern=r"^[0-9]{4}$")] = "8011"  # doctors
    dba: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    new: Literal[0, 1] = 0
    established: Annotated[StrictInt, Field(ge=19000101, le=21001231)] | None = None
    annualCCSales: StrictInt | None = None  # noqa: N815 (Splash's names)
    avgTicket: StrictInt | None = None  # noqa: N815
    environment: Literal["ecommerce", "moto", "cardPresent"] = "ecommerce"
    status: Literal[0, 1] = 1
    members: list[MemberRequest] = Field(min_length=1)


class EntityRequest(Outbound):
    """Boarding a practice as a merchant: one POST /entities with the merchant, owners and bank accounts."""

    login: LoginId | None = None
    type: Annotated[StrictInt, Field(ge=0, le=8)]
    name: Annotated[str, Field(min_length=1, max_length=100)]
    address1: str
    city: str
    state: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    zip: Annotated[str, Field(pattern=r"^[0-9]{5}(-[0-9]{4})?$|^[A-Z][0-9][A-Z] ?[0-9][A-Z][0-9]$")]
    country: Literal["USA", "CAN"] = "USA"
    phone: Annotated[str, Field(pattern=r"^[0-9]{10}$")]
    email: str
    ein: Annotated[str, Field(pattern=r"^[0-9]{9}$")] | None = None
    website: str | None = None
    # The SDK marks these required (splash-api.md §10; enforcement unknown): the terms acceptance and the
    # practice's own address (clientIp is where the practice accepted the terms, not our API caller).
    clientIp: IPvAnyAddress  # noqa: N815
    timezone: SplashTimezone
    tcVersion: Annotated[str, Field(min_length=1, max_length=20)]  # noqa: N815
    tcAcceptDate: Annotated[str, Field(pattern=r"^[0-9]{12}$", description="YYYYMMDDHHII")]  # noqa: N815
    tcAcceptIp: IPvAnyAddress  # noqa: N815
    merchant: MerchantRequest
    accounts: list[AccountRequest] = Field(min_length=1)


class AlertTriggerRequest(Outbound):
    event: Annotated[str, Field(pattern=r"^[a-z]+(\.[a-zA-Z]+)*$")]
    resource: Resource


class AlertActionRequest(Outbound):
    type: Literal["web"] = "web"
    value: HttpUrl
    options: Literal["JSON"] = "JSON"
    headerName: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,64}$")]  # noqa: N815
    headerValue: Annotated[str, Field(min_length=16, max_length=256, repr=False)]  # noqa: N815
    retries: Annotated[StrictInt, Field(ge=0, le=10)] = 5


class AlertRequest(Outbound):
    """`login` owns the alert (required by the official SDK's AlertsPostRequest); the alert fires on the activity
    of exactly one scope: a login (`forlogin`), a team or a division (splash-api.md §10)."""

    login: LoginId
    name: Annotated[str, Field(min_length=1, max_length=100)]
    description: str | None = None
    forlogin: LoginId | None = None
    team: Annotated[str, Field(pattern=r"^[tp]1_tem_[0-9a-z]{20,32}$")] | None = None
    division: Annotated[str, Field(pattern=r"^[tp]1_div_[0-9a-z]{20,32}$")] | None = None
    alertTriggers: list[AlertTriggerRequest] = Field(min_length=1)  # noqa: N815
    alertActions: list[AlertActionRequest] = Field(min_length=1)  # noqa: N815

    @model_validator(mode="after")
    def _one_scope(self) -> AlertRequest:
        if sum(scope is not None for scope in (self.forlogin, self.team, self.division)) != 1:
            raise ValueError("an alert watches exactly one of forlogin, team or division")
        return self


ChargebackId = Annotated[str, Field(pattern=r"^[tp]1_chb_[0-9a-f]{20,32}$")]
SplashDay = Annotated[StrictInt, Field(ge=20000101, le=21001231, description="YYYYMMDD")]

# The one free text that reaches Splash: the practice's reply to a chargeback, written by staff for the card
# networks. It is screened before it gets here (disputes.models.screen_note: no patient name, no diagnosis or
# procedure code, no contact details); this model bounds its size and refuses what no reply needs.
ChargebackNote = Annotated[str, Field(min_length=1, max_length=2000, pattern=r"^[^<>{}\\]*$", repr=False)]


class ChargebackMessageRequest(Outbound):
    """POST /chargebackMessages (the SDK's chargeback-message-post-request: `note` carries the text; there is no
    subject or message field). `represent` answers with evidence; `acceptLiability` gives the chargeback up."""

    chargeback: ChargebackId
    type: Literal["represent", "acceptLiability"]
    date: SplashDay
    note: ChargebackNote | None = None
    amount: Annotated[StrictInt, Field(ge=0, le=999_999_999)] | None = None
    currency: Literal["USD"] = "USD"


class ChargebackDocumentRequest(Outbound):
    """POST /chargebackDocuments: the document's record (its file follows, SplashClient.upload_document). Its name
    is ours (`evidence-<dispute id>.pdf`) and its description fixed: nothing about the patient."""

    chargeback: ChargebackId
    type: Literal["pdf"] = "pdf"
    name: Annotated[str, Field(pattern=r"^evidence-dsp_[0-9a-z]{26}(-[0-9]+)?\.pdf$")]
    description: Literal["Evidence packet"] = "Evidence packet"
    documentSource: Literal["merchant"] = "merchant"  # noqa: N815 (Splash's name)
