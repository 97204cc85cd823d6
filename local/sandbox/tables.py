"""Every code, enum, trigger amount and test account the sandbox uses: the one source for the rules, the
tests and the README. Facts from ../shared/splash-api.md (section in brackets); sandbox choices are marked."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


@dataclass(frozen=True)
class ErrorKind:
    code: int
    severity: int
    msg: str


# [§5] Observed: required_field/no_such_record 15/2, invalid_resource 13/4, invalid_auth 4/3, rate limit 64/2.
# Sandbox choice: the other field-level kinds reuse 15/2; a decline is 31/4; unparsable JSON is 13/4.
ERRORS: dict[str, ErrorKind] = {
    "required_field": ErrorKind(15, 2, "This field is required to be set"),
    "no_such_record": ErrorKind(15, 2, "The referenced resource does not exist"),
    "invalid_field": ErrorKind(15, 2, "This field has an invalid value"),
    "field_restricted": ErrorKind(15, 2, "This field may not be set"),
    "txn_type_payment_method_mismatch": ErrorKind(15, 2, "The payment method does not match the txn type"),
    "invalid_status": ErrorKind(15, 2, "The original txn's status does not allow this operation"),
    "query_error": ErrorKind(15, 2, "Invalid search, sort, paging or expand parameter"),
    "invalid_resource": ErrorKind(13, 4, "No such action and/or resource"),
    "invalid_json": ErrorKind(13, 4, "The request body is not valid JSON"),
    "invalid_auth": ErrorKind(4, 3, "Invalid authentication credentials"),
    "txn_declined": ErrorKind(31, 4, "Transaction declined"),
    "C_RATE_LIMIT_EXCEEDED_TEMP_BLOCK": ErrorKind(64, 2, "C_RATE_LIMIT_EXCEEDED_TEMP_BLOCK"),
}


class TxnType(IntEnum):
    """[§3.1] The types the sandbox implements (14 incremental auth is not)."""

    SALE = 1
    AUTH = 2
    CAPTURE = 3
    REVERSE = 4
    REFUND = 5
    ECHECK_SALE = 7
    ECHECK_REFUND = 8
    ECHECK_REDEPOSIT = 11
    ECHECK_VERIFICATION = 12  # eCheck account verification: checks a bank account, moves no money


CARD_TYPES = frozenset({TxnType.SALE, TxnType.AUTH, TxnType.CAPTURE, TxnType.REVERSE, TxnType.REFUND})
ECHECK_TYPES = frozenset({TxnType.ECHECK_SALE, TxnType.ECHECK_REFUND, TxnType.ECHECK_REDEPOSIT})
NEW_PAYMENT_TYPES = frozenset({TxnType.SALE, TxnType.AUTH, TxnType.ECHECK_SALE, TxnType.ECHECK_VERIFICATION})
# The txn types run on a bank account. An account verification is one, but it is no eCheck debit or credit:
# it is never settled, funded or returned (ECHECK_TYPES, which the day boundaries walk, leaves it out).
BANK_TXN_TYPES = ECHECK_TYPES | {TxnType.ECHECK_VERIFICATION}


class TxnStatus(IntEnum):
    """[§3.1] SDK TxnStatusEnum."""

    PENDING = 0
    APPROVED = 1
    FAILED = 2
    CAPTURED = 3
    SETTLED = 4
    RETURNED = 5


class MerchantStatus(IntEnum):
    """[§3.4] SDK MerchantStatusEnum."""

    NOT_READY = 0
    READY = 1
    BOARDED = 2
    MANUAL_REVIEW = 3
    DECLINED = 4
    INCOMPLETE = 5
    PENDING = 6


# Sandbox choice: a client may create a merchant only in these states; boarding moves it on.
CLIENT_MERCHANT_STATUSES = frozenset({MerchantStatus.NOT_READY, MerchantStatus.READY, MerchantStatus.INCOMPLETE})
DECLINE_BOARDING_MARKER = "DECLINE"  # [ADR 0004] an entity name containing it is declined at boarding

ENTITY_TYPES = range(0, 9)  # [§3.4] 0 sole prop … 8 S-corp
COUNTRIES = frozenset({"USA", "CAN"})
TXN_ORIGINS = range(0, 10)  # [§3.1] 0 unknown … 9 in writing
CARD_METHODS = frozenset({1, 2, 3, 4, 5, 7})  # [§3.2] Amex, Visa, MC, Diners, Discover, debit
BANK_METHODS = frozenset({8, 9, 10, 11})  # [§3.2] checking, savings, corporate checking, corporate savings
ALERT_ACTION_TYPES = frozenset({"web", "email", "sms", "app"})  # [§4]
MAX_OWNERSHIP = 10000  # [§3.4] basis points
PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX = 30, 100  # [§1]
REQUEST_TOKEN_MAX_LEN, REQUEST_TOKEN_TTL_HOURS = 100, 48  # [§1]
RATE_WINDOW_SECONDS = 10.0  # [§1]

# [§1] Record id prefixes: `t1_` + prefix + `_` + 23 lowercase hex (txnResults, entityReturns, members,
# accounts and the alert records use the sandbox's own three-letter prefixes).
ID_PREFIXES: dict[str, str] = {
    "entities": "ent",
    "merchants": "mer",
    "members": "mem",
    "accounts": "acc",
    "customers": "cus",
    "tokens": "tok",
    "txns": "txn",
    "txnResults": "trr",
    "entityReturns": "ern",  # the SDK's entity-returns example id
    "alerts": "alr",
    "alertTriggers": "alt",
    "alertActions": "ala",
    "txnSessions": "tss",  # [§7] t1_tss_… (AT, SDK txn-sessions example)
    "entries": "etr",  # [S entries-response] t1_etr_
    "fees": "fee",  # [S fees-response] t1_fee_
    "disbursements": "dbm",  # [S] t1_dbm_
    "disbursementEntries": "dbe",  # [S] t1_dbe_
    "payouts": "pay",  # [S] t1_pay_
    "chargebacks": "chb",  # [RS] t1_chb_
    "chargebackMessages": "chm",  # [RS]
    "chargebackStatuses": "chs",  # [RS]
    "chargebackDocuments": "chd",  # [RS]
    "paymentUpdates": "pmu",  # [S payment-updates]
    "paymentUpdateGroups": "pug",  # [S]
}

# [§4] SDK ResourceEnum, for the resources the sandbox serves and alerts on.
RESOURCE_ENUM: dict[str, int] = {
    "customers": 3,
    "merchants": 9,
    "tokens": 17,
    "txns": 18,
    "accounts": 22,
    "entities": 36,
    "entityReturns": 86,
    "disbursements": 26,
    "chargebacks": 34,
    "paymentUpdates": 115,
}


@dataclass(frozen=True)
class TxnResultCode:
    """One processor outcome: the txnResults `message`, Vantiv `originalCode` and normalized `bankCode`."""

    message: str
    original_code: str
    bank_code: str


APPROVED = TxnResultCode("Approved", "000", "approved")  # [§6.1] Vantiv 000

# [§6.1] Sandbox trigger amounts (cents) for card sales and auths, with the messages Payrix documents
# (resource.payrix.com/resources/sandbox-transaction-testing-triggers). originalCode: the Vantiv code of that
# message (resource.payrix.com/docs/processor-response-codes). bankCode: a value of the official list (SDK
# TerminalTxnResultsBankCodeEnum; practicepay.splash.bank_codes); which one Payrix sends for each trigger is not
# published, so that pairing is the sandbox's choice.
CARD_TRIGGERS: dict[int, TxnResultCode] = {
    9587: TxnResultCode("Declined", "350", "generic_decline"),
    50001: TxnResultCode("Exceeds Approval Amount Limit", "127", "exceeds_limit"),
    50004: TxnResultCode("Insufficient Funds", "110", "insufficient_funds"),
    50013: TxnResultCode("Corporate customer advises not authorized", "350", "unauthorized"),
    84800: TxnResultCode("Processing Network Unavailable", "100", "issuer_processor_or_switch_not_available"),
    84801: TxnResultCode("Issuer Unavailable", "101", "issuer_not_available"),
    84802: TxnResultCode("Re-submit Transaction", "102", "reenter_transaction"),
    84803: TxnResultCode("Call Issuer", "120", "call_issuer"),
    84804: TxnResultCode("Merchant not certified/enabled for IIAS", "192", "invalid_merchant_setup"),
    84805: TxnResultCode("Issuer Generated Error", "206", "processing_error"),
    84806: TxnResultCode("Restricted Card", "307", "restricted_card"),
    84807: TxnResultCode("Card Not Active", "218", "card_not_active"),
    84808: TxnResultCode("Illegal Transaction", "229", "illegal_transaction"),
    84809: TxnResultCode("Duplicate Transaction", "251", "duplicate_transaction"),
    84810: TxnResultCode("System Error", "252", "system_error"),
    84811: TxnResultCode("System Error (cannot process)", "258", "unable_to_process"),
    84812: TxnResultCode("Lost/Stolen Card", "304", "lost_card"),
    84813: TxnResultCode("Expired Card", "305", "expired_card"),
    84814: TxnResultCode("Restricted Card", "215", "restricted_card"),
    84815: TxnResultCode("No such issuer", "323", "no_such_issuer"),
    84816: TxnResultCode("Transaction not allowed at terminal", "325", "transaction_not_allowed"),
    84817: TxnResultCode("Cardholder transaction not permitted", "327", "transaction_not_permitted"),
    84818: TxnResultCode(
        "Cardholder requested that recurring or instalment payment be stopped", "328", "stop_recurring_payment_requests"
    ),
    84819: TxnResultCode("Do Not Honor", "349", "do_not_honor"),
    84820: TxnResultCode("Decline - Request Positive ID", "351", "drivers_license_or_id_required"),
    84821: TxnResultCode("Processing Network Error", "386", "try_again_later"),
    84822: TxnResultCode("Soft Decline - Primary Funding Source Failed", "601", "please_retry"),
}
# [§6.1, §10] Sandbox choice: card sale/auth amounts whose answer is not a plain success, each resolved at the
# next day boundary (card batch), so every state a POST or GET can report is producible on demand.
CARD_STATE_TRIGGERS: dict[int, str] = {
    84890: "fails_at_capture",  # approved, then status 2 at the next batch (`approved` stays set)
    84891: "pending",  # answered status 0; approved at the next batch (captured at the one after)
    84892: "reserved",  # approved with a risk hold (`reserved` 1), released (0) at the next batch
    84893: "reserved_not_captured",  # risk hold; next batch `reserved` 3 ("will not be captured") and failed
    84894: "partial",  # approved for half its total (as if `allowPartial` were set)
}
RESERVED_HOLD, RESERVED_NOT_CAPTURED = 1, 3

# [ADR 0004] Cents triggers (total % 100), applied only below SandboxSettings.suffix_trigger_below: an earlier
# reading of the $848.xx triggers, kept so small totals still decline; the codes are those of $848.xx.
SUFFIX_TRIGGERS: dict[int, TxnResultCode] = {
    1: TxnResultCode("Issuer unavailable", "101", "issuer_not_available"),
    3: TxnResultCode("Call issuer", "120", "call_issuer"),
    6: TxnResultCode("Restricted card", "307", "restricted_card"),
    9: TxnResultCode("Duplicate transaction", "251", "duplicate_transaction"),
    12: TxnResultCode("Lost/stolen card", "304", "lost_card"),
    13: TxnResultCode("Expired card", "305", "expired_card"),
    15: TxnResultCode("No such issuer", "323", "no_such_issuer"),
    19: TxnResultCode("Do Not Honor", "349", "do_not_honor"),
}
# [ADR 0004] A test card whose funds arrive late: its first sale is declined for insufficient funds (a soft
# decline), every later sale on it is approved, so a retry schedule can be seen to work.
FIRST_SALE_DECLINES: dict[str, TxnResultCode] = {"4000000000009995": CARD_TRIGGERS[50004]}
EXPIRED_CARD = SUFFIX_TRIGGERS[13]  # also the answer for a token whose expiration has passed
# [§6.1] "$500.13 corporate customer advises not authorized (eCheck ≈R29)".
ECHECK_TRIGGERS: dict[int, TxnResultCode] = {
    50013: TxnResultCode("Corporate customer advises not authorized", "R29", "unauthorized"),
}


@dataclass(frozen=True)
class ReturnCode:
    """A NACHA return reason: Payrix's description, its auto-hold category and whether it may be redeposited."""

    meaning: str
    action_code: str
    redepositable: bool = False


# [§6.2, §6.3] Meanings as in the Payrix SDK EntityReturnCodeEnum; actionCode per the Payrix categories
# (R01/R09 nsf, R02–R04 badAccount, R05/R07/R10/R29 unauthorized; the rest unknown, category not published).
NACHA_RETURNS: dict[str, ReturnCode] = {
    "R01": ReturnCode("Insufficient funds in account.", "nsf", redepositable=True),
    "R02": ReturnCode("Account is closed.", "badAccount"),
    "R03": ReturnCode("No account on file.", "badAccount"),
    "R04": ReturnCode("Invalid account number.", "badAccount"),
    "R05": ReturnCode("Unauthorized debit to consumer account.", "unauthorized"),
    "R06": ReturnCode("Returned at request of ODFI.", "unknown"),
    "R07": ReturnCode("Authorization revoked by customer.", "unauthorized"),
    "R08": ReturnCode("Payment stopped.", "unknown"),
    "R09": ReturnCode("Insufficient collected funds in account being charged.", "nsf", redepositable=True),
    "R10": ReturnCode("Customer advises not Authorized.", "unauthorized"),
    "R11": ReturnCode("Check truncation return.", "unknown"),
    "R12": ReturnCode("Account sold to another financial institution.", "unknown"),
    "R16": ReturnCode("Account funds have been frozen.", "unknown"),
    "R20": ReturnCode("Account does not allow ACH transactions.", "unknown"),
    "R29": ReturnCode("Corporate customer advised not authorized.", "unauthorized"),
}


@dataclass(frozen=True)
class ReturnPlan:
    """What the sandbox does with an eCheck debit from a test account: return it `after_days` sandbox days
    after the txn was created (at that day boundary), unless only the first presentment returns."""

    code: str
    after_days: int
    first_presentment_only: bool = False


# Sandbox test bank accounts (any valid routing number). Every other account settles normally.
RETURN_ACCOUNTS: dict[str, ReturnPlan] = {
    "9990000001": ReturnPlan("R01", 2),
    "9990000002": ReturnPlan("R02", 2),
    "9990000003": ReturnPlan("R03", 1),
    "9990000004": ReturnPlan("R04", 1),
    "9990000007": ReturnPlan("R07", 5),
    "9990000009": ReturnPlan("R09", 2),
    "9990000010": ReturnPlan("R10", 5),
    "9990000016": ReturnPlan("R16", 2),
    "9990000029": ReturnPlan("R29", 2),
    "9991000001": ReturnPlan("R01", 2, first_presentment_only=True),
}

# [§6.2] Redeposit limits and the processor's rejection texts (366, 367, 371); [§6.1] 365 credit > capture.
REDEPOSIT_MAX, REDEPOSIT_WINDOW_DAYS = 2, 180
REDEPOSIT_TOO_MANY = "366 More than two redeposits of this item within 180 days"
REDEPOSIT_NOT_NSF = "367 Original transaction was not returned for insufficient or uncollected funds"
REDEPOSIT_ALREADY_PROCESSED = "371 Original transaction already processed"
CREDIT_OVER_CAPTURE = "365 Credit amount exceeds the captured amount"
# Sandbox test bank accounts whose eCheck account verification (txn type 12) fails: status 2 with a declined
# txnResult naming the reason. Sandbox choice: Payrix publishes no verification triggers. Their own numbers, so
# that the RETURN_ACCOUNTS above still verify and then return as planned; every other account verifies.
# originalCode: the NACHA return code of the same reason; bankCode: a value of the official list (bank_codes).
VERIFICATION_FAILURES: dict[str, TxnResultCode] = {
    "9992000004": TxnResultCode("Invalid Account Number", "R04", "invalid_account"),
    "9992000002": TxnResultCode("Account Closed", "R02", "closed_account"),
    "9992000003": TxnResultCode("No Account on File", "R03", "bad_account"),
}

FUNDING_BUSINESS_DAYS = 3  # [ADR 0004] an eCheck is funded three business days after it settles
