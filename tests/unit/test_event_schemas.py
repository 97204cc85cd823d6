"""The domain events' JSON Schemas (docs/events) against the code that writes the events: each schema is valid
Draft 2020-12, every detail-type the code emits has one, the events the real builders write (the payment book and
its installment follower, the charge worker, the daily run's notices, the status sync) validate as the publisher
puts them on the bus, every field a schema declares is one the code writes, and the schemas refuse what they must
(an unknown field such as a patient's name, a float amount). DynamoDB transactions are recorded, never sent; the
pay links' service runs over fakes of its stores."""

from __future__ import annotations

import copy
import json
import re
import types
import typing
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest
from jsonschema import Draft202012Validator

import practicepay.billing.store as schedule_store_module
import practicepay.paylinks.service as pay_link_service_module
import practicepay.payments.book as book_module
from practicepay.billing.follow import InstallmentFollower
from practicepay.billing.models import InstallmentStatus
from practicepay.billing.run import ChargeWorker, DailyRun
from practicepay.billing.schedule import RetryPolicy
from practicepay.billing.store import InstallmentRecord, ScheduleStore, SubscriptionRecord
from practicepay.cards.service import AccountUpdater
from practicepay.clock import iso
from practicepay.errors import Conflict
from practicepay.events import PAYMENT_EVENTS, event_item
from practicepay.ids import new_id, ulid
from practicepay.invoices.models import InvoiceRecord
from practicepay.invoices.store import InvoiceStore
from practicepay.messages.models import Channel, MessageRecord, message_id
from practicepay.patients.store import MethodRecord, PatientStore
from practicepay.paylinks.models import CreatePayLinkRequest, PayLinkRecord, secret_hash
from practicepay.paylinks.service import PayLinkService, link_event
from practicepay.payments.book import PaymentBook
from practicepay.payments.models import NOT_SUBMITTED, Failure, Payment, PaymentRecord, PaymentStatus, RefundRecord
from practicepay.payments.store import PaymentStore
from practicepay.practices.models import Practice, PracticeSettings
from practicepay.splash import declines
from practicepay.splash.models import Merchant, MerchantStatus, PaymentUpdate, Token
from practicepay.sync import returns
from practicepay.sync.service import StatusSync
from tests.event_schemas import COMMON, SCHEMAS_DIR, detail_types, registry, schemas, validate_detail, validate_event

pytestmark = pytest.mark.unit

SHARED = Path(__file__).resolve().parents[2] / "shared" / "practicepay"
EVENTS_TABLE = "events"
MOMENT = datetime(2027, 1, 10, 14, 0, 0, 123_000, tzinfo=UTC)
NOW = iso(MOMENT)
PRACTICE = "prc_alpha"
PATIENT = new_id("pat")
INVOICE = new_id("inv")
PAYMENT = new_id("pay")
PLAN = new_id("pln")
SUB = new_id("sub")
LINK = new_id("pl")
MERCHANT = "t1_mer_6227be75a75b292bde6dbe2"
ISSUED = ["invoice.issued"]  # being added: no builder to call yet, so its samples are written out below
EMITTED_ELSEWHERE = {
    "invoice.paid",
    "installment.upcoming",
    "installment.paid",
    "installment.failed",
    "invoice.past_due",
    "practice.boarded",
}
PAY_PAGE_EVENTS = {"pay_link.locked", "pay_link.revoked"}  # the pay page's identity check (link_event)
MESSAGE_EVENTS = {"message.sent", "message.failed"}  # patient messages (messages.service._settle)
FUNDS_EVENTS = {  # the money after the payment (issue #19): disputes, deposits, cards kept current
    "dispute.opened",
    "dispute.due_soon",
    "dispute.won",
    "dispute.lost",
    "deposit.updated",
    "payment_method.updated",
    "payment_method.expiring",
}


# -- the schema files ----------------------------------------------------------------------------------------


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


@pytest.mark.parametrize("name", sorted(schemas()))
def test_every_schema_file_is_a_valid_draft_2020_12_schema_whose_refs_resolve_offline(name):
    schema = schemas()[name]
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(f"/events/{name}.json")
    assert schema["title"] and schema["description"] and "\n" not in schema["description"]
    resolver = registry().resolver(base_uri=schema["$id"])
    for ref in _refs(schema):
        resolver.lookup(ref)  # raises Unresolvable: nothing is fetched
    text = (SCHEMAS_DIR / f"{name}.json").read_text()
    assert text == json.dumps(schema, indent=2, ensure_ascii=False) + "\n"  # 2-space indent, as written


@pytest.mark.parametrize("detail_type", sorted(detail_types()))
def test_every_detail_schema_is_strict_and_requires_the_common_fields(detail_type):
    schema = schemas()[detail_type]
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert {"event_id", "occurred_at", "practice_id"} <= set(schema["required"]) <= set(schema["properties"])


def test_every_detail_type_the_code_emits_has_a_schema():
    expected = (
        set(PAYMENT_EVENTS.values())
        | EMITTED_ELSEWHERE
        | set(ISSUED)
        | {"pay_link.created"}
        | PAY_PAGE_EVENTS
        | MESSAGE_EVENTS
        | FUNDS_EVENTS
    )
    assert detail_types() == expected
    assert COMMON == "common.json" and (SCHEMAS_DIR / COMMON).exists()
    # a detail-type written anywhere in the code as a literal ("payment.succeeded", …) must have a schema
    literal = re.compile(
        r"\"((?:payment|invoice|installment|practice|pay_link|message|dispute|deposit|payment_method)\.[a-z_]+)\""
    )
    written = {m for path in SHARED.rglob("*.py") for m in literal.findall(path.read_text())}
    assert written and written <= detail_types(), written - detail_types()


def test_the_enums_cover_every_status_and_reason_code_the_code_has():
    defs = schemas()["common"]["$defs"]
    assert set(defs["payment_status"]["enum"]) == {s.value for s in PaymentStatus}
    assert set(defs["installment_status"]["enum"]) == {s.value for s in InstallmentStatus}
    decline_categories = {rule[0] for rule in declines._RULES} | {declines.classify("").category}
    assert set(defs["payment_failure_category"]["enum"]) == decline_categories | NOT_SUBMITTED
    return_categories = set(returns._CATEGORY_BY_CODE.values()) | set(returns._CATEGORY_BY_ACTION.values())
    assert set(defs["return_category"]["enum"]) == return_categories | {returns.category("R99")}
    assert set(defs["installment_failure_category"]["enum"]) == (
        decline_categories | NOT_SUBMITTED | return_categories | {"other", "not_chargeable"}
    )
    assert set(defs["channel"]["enum"]) == set(typing.get_args(Payment.model_fields["channel"].annotation))
    assert set(defs["pay_link_scope"]["enum"]) == set(
        typing.get_args(pay_link_service_module.PayLink.model_fields["scope"].annotation)
    )


# -- the events the code writes --------------------------------------------------------------------------------


class _Table:
    def __init__(self, name: str, items: dict[tuple[str, str], dict[str, Any]]):
        self.name, self.items = name, items

    def get_item(self, Key: dict[str, str], ConsistentRead: bool = False) -> dict[str, Any]:  # noqa: N803
        item = self.items.get((Key["pk"], Key["sk"]))
        return {"Item": copy.deepcopy(item)} if item else {}


class _ClientResource:
    """A boto3 resource whose tables have the `meta.client` a PatientStore takes (never called here)."""

    def Table(self, name: str) -> Any:  # noqa: N802
        return types.SimpleNamespace(name=name, meta=types.SimpleNamespace(client=None))


class _Resource:
    """A boto3 resource with tables that answer get_item from a dict (the stores are built, never called)."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    def Table(self, name: str) -> _Table:  # noqa: N802
        return _Table(name, self.items)


@pytest.fixture
def outbox(monkeypatch) -> list[dict[str, Any]]:
    """The outbox rows the code writes: its DynamoDB transactions are recorded and the events table's rows kept."""
    rows: list[dict[str, Any]] = []

    class RecordingTransaction:
        def __init__(self, client: Any = None) -> None:
            self.puts: list[tuple[str, dict[str, Any]]] = []

        def put(self, table: str, item: dict[str, Any], *conditions: Any) -> int:
            self.puts.append((table, copy.deepcopy(item)))
            return len(self.puts) - 1

        def update(self, table: str, key: dict[str, Any], *expression: Any) -> None:
            pass

        def commit(self) -> None:
            rows.extend(item for table, item in self.puts if table == EVENTS_TABLE)

    monkeypatch.setattr(book_module, "Transaction", RecordingTransaction)
    monkeypatch.setattr(schedule_store_module, "Transaction", RecordingTransaction)
    return rows


def published(row: dict[str, Any]) -> dict[str, Any]:
    """The EventBridge event the publisher makes of an outbox row."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": row["detail_type"],
        "source": "practicepay",
        "account": "123456789012",
        "time": row["occurred_at"],
        "region": "us-east-1",
        "resources": [],
        "detail": {"event_id": row["id"], "occurred_at": row["occurred_at"], **row["detail"]},
    }


def _invoice(**changes: Any) -> InvoiceRecord:
    base = InvoiceRecord(
        practice_id=PRACTICE,
        id=INVOICE,
        patient_id=PATIENT,
        status="open",
        currency="usd",
        due_date="2027-02-01",
        line_items_sealed="c2VhbGVk",  # base64 of b"sealed"
        line_item_count=1,
        subtotal=10_000,
        total=10_000,
        amount_paid=0,
        created_at=NOW,
        updated_at=NOW,
    )
    return replace(base, **changes)


def _payment(**changes: Any) -> PaymentRecord:
    base = PaymentRecord(
        practice_id=PRACTICE,
        id=PAYMENT,
        invoice_id=INVOICE,
        patient_id=PATIENT,
        payment_method_id=new_id("pm"),
        method_kind="card",
        amount=10_000,
        status="pending",
        created_at=NOW,
        updated_at=NOW,
    )
    return replace(base, **changes)


def _installment(**changes: Any) -> InstallmentRecord:
    base = InstallmentRecord(
        practice_id=PRACTICE,
        owner_id=PLAN,
        seq=2,
        invoice_id=INVOICE,
        patient_id=PATIENT,
        amount=5_000,
        due_on="2027-01-10",
        status="processing",
        policy=RetryPolicy().to_record(),
        created_at=NOW,
        updated_at=NOW,
        attempts=1,
        first_attempt_on="2027-01-10",
        attempted_on="2027-01-10",
        payment_id=PAYMENT,
    )
    return replace(base, **changes)


def _schedules(*installments: InstallmentRecord) -> ScheduleStore:
    resource = _Resource()
    store = ScheduleStore("schedules", resource=resource)
    for inst in installments:
        item = store.installment_item(inst)
        resource.items[(item["pk"], item["sk"])] = item
    return store


def _book(*installments: InstallmentRecord) -> PaymentBook:
    follower = InstallmentFollower(_schedules(*installments), PatientStore("patients", resource=_ClientResource()))
    return PaymentBook(
        PaymentStore("payments", resource=_Resource()),
        InvoiceStore("invoices", resource=_Resource()),
        EVENTS_TABLE,
        clock=lambda: MOMENT,
        followers=(follower,),
    )


def _failure(category: str, *, retryable: bool = False) -> dict[str, Any]:
    return Failure(category=category, processor_text="what the processor said", retryable=retryable).model_dump(
        exclude_none=True
    )


def _return(code: str | None) -> dict[str, Any]:
    if code is None:  # an approved eCheck reversed, or Splash had not recorded the R-code yet
        return {"code": None, "category": "other", "message": "reversed by Splash", "method_blocked": False}
    return {
        "code": code,
        "category": returns.category(code),
        "message": returns.meaning(code),
        "method_blocked": returns.blocks_method(code),
    }


def _autopay(inst: InstallmentRecord, **changes: Any) -> PaymentRecord:
    ref = {"id": inst.id, "attempt": inst.attempts, "on": inst.due_on}
    return _payment(**{"amount": inst.amount, "installment": ref, "channel": "autopay", **changes})


def _pays(amount: int) -> Callable[[InvoiceRecord], InvoiceRecord]:
    return lambda invoice: replace(invoice, amount_pending=invoice.amount_pending - amount, amount_paid=amount)


def _releases(amount: int) -> Callable[[InvoiceRecord], InvoiceRecord]:
    return lambda invoice: replace(invoice, amount_pending=invoice.amount_pending - amount)


def _to(**changes: Any) -> Callable[[PaymentRecord], PaymentRecord]:
    return lambda payment: replace(payment, **changes)


def card_sale_pays_the_invoice(rows):
    _book().commit(_payment(), _pays(10_000), _to(status="succeeded"), known=_invoice(amount_pending=10_000))


def pay_page_card_sale(rows):
    """The patient pays on the pay page (a pay link): the payment's channel says so."""
    known = _invoice(amount_pending=10_000)
    _book().commit(_payment(channel="pay_page"), _pays(10_000), _to(status="succeeded"), known=known)


def card_declined(rows):
    change = _to(status="failed", failure=_failure("do_not_honor"))
    _book().commit(_payment(), _releases(10_000), change, known=_invoice(amount_pending=10_000))


def never_reached_splash(rows):
    change = _to(status="failed", failure=_failure("processor_unavailable", retryable=True))
    _book().commit(_payment(), _releases(10_000), change, known=_invoice(amount_pending=10_000))


def _echeck_returned(code: str | None) -> Callable[[list], None]:
    def scenario(rows):
        payment = _payment(method_kind="bank_account", status="processing")
        paid = _invoice(status="processing", amount_paid=10_000, amount_processing=10_000)
        back = lambda invoice: replace(invoice, amount_paid=0, amount_processing=0)  # noqa: E731
        _book().commit(payment, back, _to(status="returned", return_info=_return(code)), known=paid)

    return scenario


def _refunded(kind: str, amount: int) -> Callable[[list], None]:
    def scenario(rows):
        inst = _installment(status="paid")
        payment = _autopay(inst, amount=10_000, status="succeeded", refund_pending=amount)
        refund = RefundRecord(PRACTICE, "rfd_" + ulid(), PAYMENT, INVOICE, amount, kind, "pending", NOW)
        invoice = _invoice(status="paid", amount_paid=10_000)
        _book(inst).refund_outcome(refund, replace(refund, status="succeeded"), payment=payment, invoice=invoice)

    return scenario


def installment_paid(owner: str) -> Callable[[list], None]:
    def scenario(rows):
        inst = _installment(owner_id=owner, amount=10_000)
        known = _invoice(status="in_progress", amount_pending=10_000, plan_id=owner)
        _book(inst).commit(_autopay(inst), _pays(10_000), _to(status="succeeded"), known=known)

    return scenario


def _installment_declined(category: str, *, retryable: bool, owner: str = PLAN) -> Callable[[list], None]:
    def scenario(rows):
        inst = _installment(owner_id=owner)
        known = _invoice(status="in_progress", amount_pending=5_000, plan_id=owner)
        change = _to(status="failed", failure=_failure(category, retryable=retryable))
        _book(inst).commit(_autopay(inst), _releases(5_000), change, known=known)

    return scenario


def _installment_returned(code: str) -> Callable[[list], None]:
    def scenario(rows):
        inst = _installment()
        payment = _autopay(inst, method_kind="bank_account", status="processing")
        known = _invoice(status="processing", amount_paid=5_000, amount_processing=5_000, plan_id=PLAN)
        back = lambda invoice: replace(invoice, amount_paid=0, amount_processing=0)  # noqa: E731
        _book(inst).commit(payment, back, _to(status="returned", return_info=_return(code)), known=known)

    return scenario


def refused_before_splash(rows):
    """The charge worker could not charge (a blocked method): past due, before any payment was made."""
    inst = _installment(status="scheduled", attempts=0, payment_id=None, first_attempt_on=None, attempted_on=None)
    book = SimpleNamespace(
        invoice=lambda practice_id, invoice_id: _invoice(status="in_progress"), events_table=EVENTS_TABLE
    )
    worker = ChargeWorker(_schedules(inst), SimpleNamespace(book=book), vault=None, clock=lambda: MOMENT)  # type: ignore[arg-type]
    assert worker._cannot_charge(inst, Conflict("The payment method is blocked.")) == "not_chargeable"


def plan_installment_notice(rows):
    inst = _installment(status="scheduled", attempts=0, payment_id=None, notice_on="2027-01-07")
    store = _schedules()
    run = DailyRun(store, queue=None, events_table=EVENTS_TABLE, clock=lambda: MOMENT)  # type: ignore[arg-type]
    assert run._notice(store.installment_item(inst), MOMENT) == 1


def membership_cycle_notice(rows):
    sub = SubscriptionRecord(
        practice_id=PRACTICE,
        id=SUB,
        patient_id=PATIENT,
        payment_method_id=new_id("pm"),
        amount=4_900,
        frequency="monthly",
        start_date="2026-12-13",
        status="active",
        consent={"max_amount": 4_900},
        policy=RetryPolicy().to_record(),
        next_cycle=2,
        created_at=NOW,
        updated_at=NOW,
        next_cycle_on="2027-01-13",
        noticed_cycle=1,
    )
    store = _schedules()
    run = DailyRun(store, queue=None, events_table=EVENTS_TABLE, clock=lambda: MOMENT)  # type: ignore[arg-type]
    assert run._notice(store.subscription_item(sub), MOMENT) == 1


def _card_method(**changes: Any) -> MethodRecord:
    base = MethodRecord(
        practice_id=PRACTICE,
        id=new_id("pm"),
        patient_id=PATIENT,
        kind="card",
        last4="4242",
        token_sealed="sealed",
        splash_token_id="t1_tok_6227be75a75b292bde6dbe2",
        consent={},
        created_at=NOW,
        brand="visa",
        exp_month=1,
        exp_year=2027,
    )
    return replace(base, **changes)


class _Cards:
    """The patients table as the account updater and the daily run's expiring check use it: every step is new."""

    def __init__(self, rows: list[dict[str, Any]], method: MethodRecord) -> None:
        self.rows, self.method = rows, method

    def methods_by_token(self, token_id: str) -> list[MethodRecord]:
        return [self.method]

    def methods_of(self, keys: list[tuple[str, str]]) -> list[MethodRecord]:
        return [self.method for _ in keys]

    def recorded(self, practice_id: str, sk: str) -> bool:
        return False

    def record_once(self, practice_id: str, sk: str, marker: dict, *, changes=(), events=(), events_table: str) -> bool:
        self.rows.extend(events)
        return True


def card_updated(message: str, outcome: str) -> Callable[[list], None]:
    def scenario(rows):
        update = PaymentUpdate.model_validate(
            {"id": "t1_pmu_6227be75a75b292bde6dbe2", "token": "t1_tok_6227be75a75b292bde6dbe2"}
            | {"status": "processed", "message": message, "expiration": "0130"}
        )
        token = Token.model_validate(
            {"id": update.token, "token": "f" * 32, "expiration": "0130", "payment": {"number": "4242"}}
        )
        splash = SimpleNamespace(get=lambda model, record_id: token)
        updater = AccountUpdater(
            _Cards(rows, _card_method()),  # type: ignore[arg-type]
            sync=None,  # type: ignore[arg-type]
            events_table=EVENTS_TABLE,
            splash=lambda: splash,  # type: ignore[arg-type, return-value]
            clock=lambda: MOMENT,
        )
        assert updater.apply(update) == outcome

    return scenario


def card_expiring(owner: str) -> Callable[[list], None]:
    def scenario(rows):
        method = _card_method()
        store = _schedules()
        if owner == SUB:
            sub = SubscriptionRecord(
                practice_id=PRACTICE,
                id=SUB,
                patient_id=PATIENT,
                payment_method_id=method.id,
                amount=4_900,
                frequency="monthly",
                start_date="2026-12-13",
                status="active",
                consent={"max_amount": 4_900},
                policy=RetryPolicy().to_record(),
                next_cycle=2,
                created_at=NOW,
                updated_at=NOW,
                next_cycle_on="2027-02-13",
                noticed_cycle=1,
            )
            items = [store.subscription_item(sub)]
        else:
            items = [store.installment_item(_installment(status="scheduled", due_on="2027-02-01", attempts=0))]
        plan = SimpleNamespace(payment_method_id=method.id, status="active")
        schedules = SimpleNamespace(
            due=lambda through, cursor=None: (items, None),
            get_plan=lambda practice_id, invoice_id, plan_id: plan,
            installment_from_item=store.installment_from_item,
            subscription_from_item=store.subscription_from_item,
        )
        run = DailyRun(
            schedules, queue=None, events_table=EVENTS_TABLE, clock=lambda: MOMENT, patients=_Cards(rows, method)
        )  # type: ignore[arg-type]
        assert run._expiring(run.patients, MOMENT.date()) == (1, 1)  # type: ignore[arg-type]

    return scenario


def practice_boarded(rows):
    practice = Practice(
        practice_id=PRACTICE, name="A clinic", splash_merchant_id=MERCHANT, merchant_status=1, updated_at=NOW
    )
    practices = SimpleNamespace(
        by_merchant=lambda merchant_id: practice,
        set_merchant_status=lambda p, status, now: p.model_copy(update={"merchant_status": status}),
    )
    sync = StatusSync(
        book=SimpleNamespace(put_event=rows.append),  # type: ignore[arg-type]
        practices=practices,  # type: ignore[arg-type]
        patients=None,  # type: ignore[arg-type]
        splash=None,  # type: ignore[arg-type]
        sync=None,  # type: ignore[arg-type]
        clock=lambda: MOMENT,
    )
    assert sync.apply_merchant(Merchant(id=MERCHANT, status=MerchantStatus.BOARDED)) == "boarding"


def _link(**changes: Any) -> PayLinkRecord:
    base = PayLinkRecord(
        practice_id=PRACTICE,
        id=LINK,
        secret_hash=secret_hash("a-secret-of-thirty-two-characters"),
        scope="invoice",
        patient_id=PATIENT,
        invoice_id=INVOICE,
        expires_at="2027-02-09T14:00:00.123Z",
        max_uses=3,
        created_at=NOW,
    )
    return replace(base, **changes)


class _LinkStore:
    """The pay links' store as the service calls it: each write's event goes to the outbox rows."""

    def __init__(self, rows: list[dict[str, Any]], link: PayLinkRecord | None = None) -> None:
        self.rows, self.link = rows, link

    def create(self, link: PayLinkRecord, events_table: str, event: dict[str, Any]) -> None:
        assert events_table == EVENTS_TABLE
        self.link = link
        self.rows.append(copy.deepcopy(event))

    def by_id(self, practice_id: str, link_id: str) -> PayLinkRecord | None:
        return self.link

    def get(self, link_hash: str) -> PayLinkRecord | None:
        return self.link

    def revoke(self, link, now, reason, events_table, event) -> bool:  # noqa: ANN001
        self.rows.append(copy.deepcopy(event))
        self.link = replace(link, revoked_at=iso(now), revoked_reason=reason)
        return True


def _link_service(rows: list[dict[str, Any]], link: PayLinkRecord | None = None, **settings: Any) -> PayLinkService:
    practice = Practice(
        practice_id=PRACTICE, name="A clinic", merchant_status=2, settings=PracticeSettings(**settings), updated_at=NOW
    )
    return PayLinkService(
        store=_LinkStore(rows, link),  # type: ignore[arg-type]
        invoices=SimpleNamespace(  # type: ignore[arg-type]
            get=lambda practice_id, invoice_id: _invoice(),
            open_for_patient=lambda practice_id, patient_id: [_invoice()],
        ),
        patients=SimpleNamespace(  # type: ignore[arg-type]
            get=lambda practice_id, patient_id: SimpleNamespace(id=patient_id, phi_sealed="c2VhbGVk")
        ),
        practices=SimpleNamespace(require=lambda practice_id: practice),  # type: ignore[arg-type]
        vault=SimpleNamespace(  # type: ignore[arg-type]
            seal=lambda data, **context: "c2VhbGVk",
            open=lambda blob, **context: {"first_name": "A", "last_name": "B", "date_of_birth": "1980-01-01"},
        ),
        events_table=EVENTS_TABLE,
        idempotency_store=None,  # type: ignore[arg-type]
        clock=lambda: MOMENT,
    )


@pytest.fixture(autouse=True)
def _run_once_runs(monkeypatch) -> None:
    """The pay links' service without its idempotency table: each request runs."""
    monkeypatch.setattr(pay_link_service_module, "run_once", lambda persistence, *, run, **kwargs: run())


def pay_link_for_an_invoice(rows):
    body = CreatePayLinkRequest(max_uses=5)
    made = _link_service(rows).create_for_invoice(PRACTICE, INVOICE, "key-1", body, "https://api.example")
    assert made.scope == "invoice" and made.url


def balance_link(rows):
    made = _link_service(rows, balance_links=True).create_for_patient(
        PRACTICE, PATIENT, "key-2", CreatePayLinkRequest(), "https://api.example"
    )
    assert made.scope == "balance" and made.invoice_id is None


def staff_revoke(rows):
    assert _link_service(rows, _link()).revoke(PRACTICE, LINK).status == "revoked"


def locked_after_five_wrong_answers(rows):
    """What the pay page writes when the 5th wrong answer locks the link (service.link_event)."""
    locked = _link(identity_failures=4).after_failure(5, MOMENT)
    rows.append(
        link_event(
            locked,
            "pay_link.locked",
            MOMENT,
            locked_until=locked.locked_until,
            identity_failures=locked.identity_failures,
        )
    )


def revoked_after_ten_wrong_answers(rows):
    revoked = _link(scope="balance", invoice_id=None, identity_failures=9).after_failure(10, MOMENT)
    assert revoked.revoked_reason == "too_many_failures"
    rows.append(
        link_event(
            revoked,
            "pay_link.revoked",
            MOMENT,
            reason=revoked.revoked_reason,
            identity_failures=revoked.identity_failures,
        )
    )


def _message(status: str, **fields: Any) -> Callable[[list], None]:
    """What the messages service writes when SES or SNS takes (or refuses) a message (service._settle)."""

    def settle(rows):
        record = MessageRecord(
            practice_id=PRACTICE,
            id=message_id(
                PRACTICE, fields.get("cause", f"statement:{INVOICE}"), Channel(fields.get("channel", "email"))
            ),
            cause=fields.get("cause", f"statement:{INVOICE}"),
            kind=fields.get("kind", "statement"),
            channel=fields.get("channel", "email"),
            patient_id=PATIENT,
            invoice_id=fields.get("invoice_id", INVOICE),
            event_id=fields.get("event_id"),
            status=status,
            status_reason=fields.get("status_reason"),
            language="en",
            created_at=iso(MOMENT),
            updated_at=iso(MOMENT),
        )
        rows.append(event_item(PRACTICE, f"message.{status}", record.event_detail(), MOMENT))

    return settle


def _dispute(detail_type: str, **fields: Any) -> Callable[[list], None]:
    """A dispute's event as DisputeRecord.event_detail writes it (practicepay.disputes.service)."""
    from practicepay.disputes.models import DisputeRecord, dispute_id

    chargeback = "t1_chb_6616a9de06fd751e5ae91e5"
    record = DisputeRecord(
        practice_id=PRACTICE,
        id=dispute_id(chargeback),
        splash_chargeback_id=chargeback,
        payment_id=new_id("pay"),
        invoice_id=INVOICE,
        patient_id=PATIENT,
        splash_txn_id="t1_txn_6616a925e796be0ebf69dd9",
        amount=18_000,
        status="needs_response",
        splash_status="open",
        created_at=iso(MOMENT),
        updated_at=iso(MOMENT),
        reason_code="10.4",
        reply_by="2026-12-12",
        debited=True,
        debit_count=1,
        fees={"t1_etr_0000000000000000000001": -3000},
    )
    record = replace(record, **fields)

    def emit(rows: list) -> None:
        rows.append(event_item(PRACTICE, detail_type, record.event_detail(), MOMENT))

    return emit


def _deposit(lines: int) -> Callable[[list], None]:
    """A deposit's event as DepositService writes it, with its FHIR PaymentReconciliation."""
    from practicepay.deposits.models import DepositRecord, LineRecord
    from practicepay.deposits.service import DepositService

    record = DepositRecord(
        practice_id=PRACTICE,
        id="dep_" + ulid(),
        splash_disbursement_id="t1_dbm_6616a9de06fd751e5ae91e5",
        status="processed",
        amount=17_448 * lines,
        created_at=iso(MOMENT),
        updated_at=iso(MOMENT),
        deposited_on="2026-12-02",
        lines=tuple(
            line
            for n in range(lines)
            for line in (
                LineRecord(entry_id=f"t1_etr_{n:023x}", kind="payment", amount=18_000, payment_id=new_id("pay")),
                LineRecord(entry_id=f"t1_etr_{n + 500:023x}", kind="fee", amount=-552),
            )
        ),
    )
    practice = SimpleNamespace(practice_id=PRACTICE, name="Riverside Family Practice")
    service = DepositService(book=None, deposits=None, practices=None, disputes=None, splash=None)  # type: ignore[arg-type]

    def emit(rows: list) -> None:
        rows.append(event_item(PRACTICE, "deposit.updated", service._event_detail(record, practice), MOMENT))

    return emit


SCENARIOS: dict[str, tuple[Callable[[list], None], list[str]]] = {
    "a card sale pays the invoice": (card_sale_pays_the_invoice, ["payment.succeeded", "invoice.paid"]),
    "a card sale on the pay page": (pay_page_card_sale, ["payment.succeeded", "invoice.paid"]),
    "a card declined": (card_declined, ["payment.failed"]),
    "a payment that never reached Splash": (never_reached_splash, ["payment.failed"]),
    "an eCheck returned R01": (_echeck_returned("R01"), ["payment.returned"]),
    "an eCheck reversed without an R-code": (_echeck_returned(None), ["payment.returned"]),
    "a partial refund of an autopay charge": (_refunded("refund", 4_000), ["payment.refunded"]),
    "a full refund": (_refunded("refund", 10_000), ["payment.refunded"]),
    "a void": (_refunded("void", 10_000), ["payment.refunded"]),
    "a plan installment paid": (installment_paid(PLAN), ["payment.succeeded", "invoice.paid", "installment.paid"]),
    "a membership cycle paid": (installment_paid(SUB), ["payment.succeeded", "invoice.paid", "installment.paid"]),
    "a soft decline, retried": (
        _installment_declined("insufficient_funds", retryable=True),
        ["payment.failed", "installment.failed"],
    ),
    "a hard decline, past due": (
        _installment_declined("lost_or_stolen", retryable=False),
        ["payment.failed", "installment.failed", "invoice.past_due"],
    ),
    "a membership charge not submitted, resent": (
        _installment_declined("not_submitted", retryable=True, owner=SUB),
        ["payment.failed", "installment.failed"],
    ),
    "an installment's eCheck returned R01, re-presented": (
        _installment_returned("R01"),
        ["payment.returned", "installment.failed"],
    ),
    "an installment's eCheck returned R02, past due": (
        _installment_returned("R02"),
        ["payment.returned", "installment.failed", "invoice.past_due"],
    ),
    "an installment refused before Splash": (refused_before_splash, ["installment.failed", "invoice.past_due"]),
    "a plan installment's notice": (plan_installment_notice, ["installment.upcoming"]),
    "a membership cycle's notice": (membership_cycle_notice, ["installment.upcoming"]),
    "a practice boarded": (practice_boarded, ["practice.boarded"]),
    "a card's new expiry from the account updater": (
        card_updated("Expiration date was changed", "expiry_changed"),
        ["payment_method.updated"],
    ),
    "a card closed, says the account updater": (
        card_updated("Account was closed", "closed"),
        ["payment_method.updated"],
    ),
    "a card expiring before a plan installment": (card_expiring(PLAN), ["payment_method.expiring"]),
    "a card expiring before a membership's next cycle": (card_expiring(SUB), ["payment_method.expiring"]),
    "a pay link for an invoice": (pay_link_for_an_invoice, ["pay_link.created"]),
    "a pay link for a patient's balance": (balance_link, ["pay_link.created"]),
    "a pay link revoked by staff": (staff_revoke, ["pay_link.revoked"]),
    "a pay link locked after 5 wrong answers": (locked_after_five_wrong_answers, ["pay_link.locked"]),
    "a pay link revoked after 10 wrong answers": (revoked_after_ten_wrong_answers, ["pay_link.revoked"]),
    "a statement emailed": (_message("sent", event_id=new_id("evt")), ["message.sent"]),
    "a reminder texted": (
        _message("sent", kind="reminder", channel="sms", cause=f"reminder:{INVOICE}:7"),
        ["message.sent"],
    ),
    "a receipt refused by SNS": (
        _message(
            "failed", kind="receipt", channel="sms", status_reason="SNS refused the phone number", invoice_id=None
        ),
        ["message.failed"],
    ),
    "a chargeback opened": (_dispute("dispute.opened"), ["dispute.opened"]),
    "a retrieval request due soon": (
        _dispute("dispute.due_soon", debited=False, debit_count=0, fees={}, cycle="retrieval", reason_code=None),
        ["dispute.due_soon"],
    ),
    "a dispute won": (
        _dispute("dispute.won", status="won", debited=False, fees={"a": -3000, "b": 3000}),
        ["dispute.won"],
    ),
    "a dispute closed unanswered": (_dispute("dispute.lost", status="closed", reply_by=None), ["dispute.lost"]),
    "a deposit processed": (_deposit(2), ["deposit.updated"]),
}

ISSUED_DETAILS = [
    {
        "invoice_id": INVOICE,
        "patient_id": PATIENT,
        "status": "open",
        "currency": "usd",
        "total": 12_500,
        "amount_due": 12_500,
        "due_date": "2027-02-01",
    },
    {
        "invoice_id": INVOICE,
        "patient_id": PATIENT,
        "status": "open",
        "currency": "usd",
        "total": 0,
        "amount_due": 0,
        "due_date": "2027-02-01",
        "encounter_id": "enc:2027-01-10.42",
    },
]


def _emit(name: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    scenario, _ = SCENARIOS[name]
    scenario(rows)
    return [published(row) for row in rows]


def _all_events(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    events = []
    for name in SCENARIOS:
        rows.clear()
        events.extend(_emit(name, rows))
    issued = [event_item(PRACTICE, "invoice.issued", detail, MOMENT) for detail in ISSUED_DETAILS]
    return events + [published(row) for row in issued]


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_events_the_code_writes_match_their_schemas(name, outbox):
    events = _emit(name, outbox)
    assert [event["detail-type"] for event in events] == SCENARIOS[name][1]
    for event in events:
        validate_event(event)
        assert event["detail"]["practice_id"] == PRACTICE


def test_the_invoice_issued_samples_match_their_schema():
    for detail in ISSUED_DETAILS:
        validate_event(published(event_item(PRACTICE, "invoice.issued", detail, MOMENT)))


def test_every_field_a_schema_declares_is_one_the_code_writes(outbox):
    """Both ways: the code's details validate (above), and no schema declares a field no builder writes."""
    written: dict[str, set[str]] = {}
    for event in _all_events(outbox):
        written.setdefault(event["detail-type"], set()).update(event["detail"])
    assert set(written) == detail_types()
    for detail_type, fields in written.items():
        assert set(schemas()[detail_type]["properties"]) == fields, detail_type


def test_optional_and_nullable_fields_are_written_as_the_schemas_say(outbox):
    by_type: dict[str, list[dict[str, Any]]] = {}
    for event in _all_events(outbox):
        by_type.setdefault(event["detail-type"], []).append(event["detail"])
    assert {d["return_code"] for d in by_type["payment.returned"]} == {"R01", "R02", None}
    assert {d["status"] for d in by_type["payment.refunded"]} == {"partially_refunded", "refunded", "voided"}
    failed = by_type["installment.failed"]
    assert {(d["status"], d["will_retry"], "next_attempt_on" in d) for d in failed} == {
        ("failed", True, True),
        ("past_due", False, False),
    }
    assert any("payment_id" not in d for d in failed) and any(d.get("failure_code") == "R01" for d in failed)
    upcoming = by_type["installment.upcoming"]
    assert sorted("installment_id" in d for d in upcoming) == [False, True]  # a membership's next cycle has none
    channels = {d["channel"] for t, ds in by_type.items() if t.startswith("payment.") for d in ds}
    assert channels == {"api", "pay_page", "autopay"}
    assert {(d["scope"], d["invoice_id"] is None) for d in by_type["pay_link.created"]} == {
        ("invoice", False),
        ("balance", True),
    }
    assert {(d["reason"], "identity_failures" in d) for d in by_type["pay_link.revoked"]} == {
        ("staff", False),
        ("too_many_failures", True),
    }
    for detail in (d for t, ds in by_type.items() if t.startswith("pay_link.") for d in ds):
        assert not {"secret", "secret_hash", "url"} & set(detail)  # never what opens the link


# -- strictness ------------------------------------------------------------------------------------------------


@pytest.fixture
def one_of_each(outbox) -> dict[str, dict[str, Any]]:
    """A valid event of every detail-type, as the code writes it."""
    events: dict[str, dict[str, Any]] = {}
    for event in _all_events(outbox):
        events.setdefault(event["detail-type"], event)
    assert set(events) == detail_types()
    return events


AMOUNT_FIELD = {
    "payment.succeeded": "amount",
    "payment.failed": "amount",
    "payment.returned": "amount",
    "payment.refunded": "refund_amount",
    "invoice.paid": "total",
    "invoice.issued": "amount_due",
    "installment.upcoming": "amount",
    "installment.paid": "amount",
    "installment.failed": "amount",
    "invoice.past_due": "amount",
}


@pytest.mark.parametrize("detail_type", sorted(detail_types()))
@pytest.mark.parametrize(
    "field, value",
    [("patient_name", "Jane Doe"), ("description", "Office visit"), ("cpt_code", "99213"), ("card_number", "4111")],
)
def test_a_detail_with_an_unknown_field_is_refused(one_of_each, detail_type, field, value):
    event = one_of_each[detail_type]
    validate_event(event)
    event["detail"][field] = value
    with pytest.raises(jsonschema.ValidationError, match="Additional properties"):
        validate_event(event)


@pytest.mark.parametrize("detail_type", sorted(AMOUNT_FIELD))
@pytest.mark.parametrize("amount", [10.5, 1050.0, "1050", -1, True, None, 1_000_000_000])
def test_an_amount_that_is_not_integer_cents_is_refused(one_of_each, detail_type, amount):
    event = one_of_each[detail_type]
    event["detail"][AMOUNT_FIELD[detail_type]] = amount
    with pytest.raises(jsonschema.ValidationError):
        validate_event(event)


@pytest.mark.parametrize("detail_type", sorted(detail_types()))
@pytest.mark.parametrize("field", ["event_id", "occurred_at", "practice_id"])
def test_the_common_fields_are_required_and_checked(one_of_each, detail_type, field):
    detail = one_of_each[detail_type]["detail"]
    validate_detail(detail_type, detail)
    with pytest.raises(jsonschema.ValidationError, match="required"):
        validate_detail(detail_type, {k: v for k, v in detail.items() if k != field})
    bad = {"event_id": "evt_" + "U" * 26, "occurred_at": "2027-01-10 14:00:00", "practice_id": "prc alpha"}[field]
    with pytest.raises(jsonschema.ValidationError):
        validate_detail(detail_type, {**detail, field: bad})


@pytest.mark.parametrize(
    "detail_type, field, value",
    [
        ("payment.succeeded", "payment_id", "pay_123"),
        ("payment.succeeded", "invoice_id", "pay_" + "0" * 26),
        ("payment.succeeded", "patient_id", "Jane Doe"),
        ("payment.succeeded", "status", "failed"),
        ("payment.succeeded", "method_kind", "cash"),
        ("payment.failed", "failure_category", "my dog ate it"),
        ("payment.returned", "return_code", "insufficient funds"),
        ("payment.returned", "return_category", "nsf_and_more"),
        ("payment.refunded", "refund_id", "re_1"),
        ("installment.paid", "installment_id", PLAN),
        ("installment.failed", "status", "paid"),
        ("installment.upcoming", "charge_on", "2027-02-30"),  # the pattern passes: the date format must not
        ("invoice.past_due", "due_on", "10/01/2027"),
        ("invoice.issued", "status", "draft"),
        ("invoice.issued", "currency", "eur"),
        ("invoice.issued", "encounter_id", "-enc"),
        ("practice.boarded", "splash_merchant_id", "mer_1"),
        ("payment.succeeded", "channel", "pay-page"),
        ("payment.failed", "channel", None),
        ("pay_link.created", "link_id", "pl_123"),
        ("pay_link.created", "scope", "patient"),
        ("pay_link.created", "invoice_id", None),  # an invoice link names its invoice
        ("pay_link.created", "expires_at", "2027-02-09"),
        ("pay_link.created", "max_uses", 0),
        ("pay_link.created", "max_uses", 3.0),
        ("pay_link.locked", "locked_until", "2027-01-10T14:15:00Z"),
        ("pay_link.locked", "identity_failures", 4),
        ("pay_link.revoked", "reason", "fraud"),
        ("pay_link.revoked", "identity_failures", 9),
    ],
)
def test_a_wrong_id_status_code_or_date_is_refused(one_of_each, detail_type, field, value):
    detail = one_of_each[detail_type]["detail"]
    with pytest.raises(jsonschema.ValidationError):
        validate_detail(detail_type, {**detail, field: value})


def test_the_shapes_that_depend_on_each_other_are_enforced(one_of_each):
    failed = one_of_each["installment.failed"]["detail"]
    assert failed["status"] == "failed"
    for broken in (
        {k: v for k, v in failed.items() if k != "next_attempt_on"},  # failed: says when it is tried again
        {**failed, "will_retry": False},
        {**failed, "status": "past_due"},  # past due: no next attempt, will not retry
        {**failed, "subscription_id": SUB},  # a plan's or a membership's, not both
        {k: v for k, v in failed.items() if k != "plan_id"},
    ):
        with pytest.raises(jsonschema.ValidationError):
            validate_detail("installment.failed", broken)
    upcoming = one_of_each["installment.upcoming"]["detail"]
    with pytest.raises(jsonschema.ValidationError):
        validate_detail("installment.upcoming", {**upcoming, "subscription_id": SUB})
    refunded = one_of_each["payment.refunded"]["detail"]
    with pytest.raises(jsonschema.ValidationError, match="required"):
        validate_detail("payment.refunded", {k: v for k, v in refunded.items() if k != "refund_id"})
    for detail_type in ("payment.succeeded", "payment.failed", "payment.returned", "payment.refunded"):
        detail = one_of_each[detail_type]["detail"]
        with pytest.raises(jsonschema.ValidationError, match="required"):
            validate_detail(detail_type, {k: v for k, v in detail.items() if k != "channel"})
    created = one_of_each["pay_link.created"]["detail"]
    assert created["scope"] == "invoice"
    validate_detail("pay_link.created", {**created, "scope": "balance", "invoice_id": None})
    with pytest.raises(jsonschema.ValidationError):  # a balance link is for no one invoice
        validate_detail("pay_link.created", {**created, "scope": "balance"})
    for secretive in ({"secret": "x" * 32}, {"secret_hash": "0" * 64}, {"url": "https://x.example/pay/" + "x" * 32}):
        with pytest.raises(jsonschema.ValidationError, match="Additional properties"):
            validate_detail("pay_link.created", {**created, **secretive})
    revoked = {**one_of_each["pay_link.revoked"]["detail"]}
    assert revoked["reason"] == "staff" and "identity_failures" not in revoked
    with pytest.raises(jsonschema.ValidationError):  # staff's revoke counts no failures
        validate_detail("pay_link.revoked", {**revoked, "identity_failures": 10})
    with pytest.raises(jsonschema.ValidationError, match="required"):  # the identity check's says how many
        validate_detail("pay_link.revoked", {**revoked, "reason": "too_many_failures"})
    validate_detail("pay_link.revoked", {**revoked, "reason": "too_many_failures", "identity_failures": 10})
    locked = one_of_each["pay_link.locked"]["detail"]
    with pytest.raises(jsonschema.ValidationError, match="required"):
        validate_detail("pay_link.locked", {k: v for k, v in locked.items() if k != "locked_until"})


def test_the_envelope_is_checked(one_of_each):
    event = one_of_each["payment.succeeded"]
    with pytest.raises(jsonschema.ValidationError):
        validate_event({**event, "source": "someone.else"})
    with pytest.raises(jsonschema.ValidationError):
        validate_event({k: v for k, v in event.items() if k != "detail"})
    with pytest.raises(AssertionError, match="no schema"):
        validate_event({**event, "detail-type": "payment.teleported"})
