"""Patients and their payment methods. Demographics are PHI: sealed with the vault, returned only to the
practice's own callers, never sent to Splash (a patient's Splash customer carries our opaque id only)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING

from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer
from aws_lambda_powertools.utilities.typing import LambdaContext

from practicepay.adapters.blind_index import BlindIndex
from practicepay.adapters.vault import PhiVault
from practicepay.clock import Clock, iso, utc_now
from practicepay.errors import Conflict, MalformedRequest, NotFound, ValidationFailed
from practicepay.idempotency import Created, run_once
from practicepay.ids import id_pattern, new_id
from practicepay.observability import logger
from practicepay.patients.models import (
    DEMOGRAPHICS,
    AddPaymentMethodRequest,
    CreatePatientRequest,
    Demographics,
    MethodConsent,
    MethodKind,
    Patient,
    PatientList,
    PaymentMethod,
    PaymentMethodList,
    UpdatePatientRequest,
)
from practicepay.patients.search import matches, patient_terms, query_terms
from practicepay.patients.store import MethodRecord, PatientRecord, PatientStore
from practicepay.practices import PracticeStore
from practicepay.splash.errors import SplashDeclined, SplashNotFound, SplashValidationError
from practicepay.splash.models import Customer, Token, TxnStatus, TxnType
from practicepay.splash.outbound import CardOrBank, CustomerRequest, TokenRequest, TxnRequest
from practicepay.splash.search import Search

if TYPE_CHECKING:
    from practicepay.splash.client import SplashClient

METHOD_TOKEN = "payment-method-token"  # noqa: S105 (a vault purpose name)
PATIENT_ID = id_pattern("pat")
METHOD_ID = id_pattern("pm")
BRANDS = {1: "amex", 2: "visa", 3: "mastercard", 4: "diners", 5: "discover", 7: "debit"}
ACCOUNT_TYPES = {8: "checking", 9: "savings", 10: "checking", 11: "savings"}


@dataclass(frozen=True)
class ChargeSource:
    """What the payments service needs to charge a method: its record and the Splash token string."""

    method: MethodRecord
    token: str


@dataclass
class PatientService:
    store: PatientStore
    practices: PracticeStore
    vault: PhiVault
    idempotency_store: BasePersistenceLayer
    splash: Callable[[], SplashClient]
    idempotency_ttl_seconds: int = 24 * 3600
    clock: Clock = utc_now
    index: BlindIndex | None = None
    """The blind index's MACs (patients.search). Every function that writes patients has it; without it (a function
    that only reads patients and charges them) a write is refused rather than left unsearchable."""

    # -- patients --------------------------------------------------------------------------------------------

    def create(
        self, practice_id: str, idempotency_key: str, body: CreatePatientRequest, ctx: LambdaContext | None = None
    ) -> Patient:
        def create() -> Created:
            now = iso(self.clock())
            demographics = Demographics.model_validate(body.model_dump(exclude={"external_id"}))
            record = PatientRecord(
                practice_id=practice_id,
                id=new_id("pat"),
                external_id=body.external_id,
                phi_sealed=self._seal(practice_id, demographics),
                created_at=now,
                updated_at=now,
                search_macs=self._macs(practice_id, demographics),
            )
            self.store.create(record)
            return Created(id=record.id)

        created = run_once(
            self.idempotency_store,
            operation="create-patient",
            practice_id=practice_id,
            idempotency_key=idempotency_key,
            body=body,
            output=Created,
            run=create,
            ttl_seconds=self.idempotency_ttl_seconds,
            lambda_context=ctx,
        )
        return self.get(practice_id, created.id)

    def get(self, practice_id: str, patient_id: str) -> Patient:
        return self._view(self._patient(practice_id, patient_id))

    def list(self, practice_id: str, *, external_id: str | None, limit: int, cursor: str | None) -> PatientList:
        if external_id is not None:
            found = self.store.by_external_id(practice_id, external_id)
            return PatientList(data=[self._view(found)] if found else [], has_more=False)
        records, next_cursor = self.store.list(practice_id, limit=limit, cursor=cursor)
        return PatientList(
            data=[self._view(r) for r in records], has_more=next_cursor is not None, next_cursor=next_cursor
        )

    def update(self, practice_id: str, patient_id: str, patch: UpdatePatientRequest) -> Patient:
        record = self._patient(practice_id, patient_id)
        current = self._demographics(record)
        changes = {name: getattr(patch, name) for name in patch.model_fields_set}
        for required in ("first_name", "last_name"):
            if required in changes and changes[required] is None:
                raise ValidationFailed(
                    f"{required} cannot be removed", errors=[{"field": required, "message": f"{required} is required"}]
                )
        updated = Demographics.model_validate({**current.model_dump(), **changes})
        new = replace(
            record,
            phi_sealed=self._seal(practice_id, updated),
            updated_at=iso(self.clock()),
            version=record.version + 1,
            search_macs=self._macs(practice_id, updated),
        )
        self.store.replace(new, before=record)
        return self._view(new, updated)

    def search(
        self,
        practice_id: str,
        *,
        query: str | None = None,
        date_of_birth: date | None = None,
        external_id: str | None = None,
        limit: int = 25,
    ) -> list[Patient]:
        """Patients by name (every word, each as a prefix), date of birth, or the platform's id, through the blind
        index: the table is never decrypted, only candidates are unsealed (a page of `limit` at a time, each checked
        against the whole query, patients.search.matches: an index term is at most 8 letters, so "christopherson"
        finds every Christopher first), until `limit` match or the candidates run out. Sorted by name; `limit + 1`
        asked for tells whether more match."""
        if external_id:
            found = self.store.by_external_id(practice_id, external_id)
            records = [found] if found else []
            candidates: list[str] = []
        else:
            terms = query_terms(query, date_of_birth)
            if not terms:
                return []
            records, candidates = [], self.store.candidates(practice_id, self._index().macs(practice_id, terms))
        views: list[Patient] = []
        while True:
            views += [
                v
                for v in map(self._view, records)
                if matches(v.first_name, v.last_name, v.date_of_birth, query, date_of_birth)
            ]
            if len(views) >= limit or not candidates:
                break
            page, candidates = candidates[:limit], candidates[limit:]
            records = self.store.get_many(practice_id, page)
        return sorted(views, key=lambda v: (v.last_name.casefold(), v.first_name.casefold(), v.id))[:limit]

    def reindex(self, practice_id: str) -> int:
        """Index every patient of the practice written before the blind index existed (or under an older rule):
        each rewritten at its version, with its MACs. How many changed. No route: an operator runs it once."""
        changed, cursor = 0, None
        while True:
            records, cursor = self.store.list(practice_id, limit=100, cursor=cursor)
            for record in records:
                macs = self._macs(practice_id, self._demographics(record))
                if set(macs) != set(record.search_macs):
                    self.store.replace(replace(record, version=record.version + 1, search_macs=macs), before=record)
                    changed += 1
            if cursor is None:
                return changed

    def _index(self) -> BlindIndex:
        if self.index is None:
            raise RuntimeError("this function has no search key (SEARCH_KEY_ARN): it may not write or search patients")
        return self.index

    def _macs(self, practice_id: str, demographics: Demographics) -> tuple[str, ...]:
        terms = patient_terms(demographics.first_name, demographics.last_name, demographics.date_of_birth)
        return tuple(sorted(self._index().macs(practice_id, sorted(terms))))

    # -- payment methods -------------------------------------------------------------------------------------

    def add_method(
        self,
        practice_id: str,
        patient_id: str,
        idempotency_key: str,
        body: AddPaymentMethodRequest,
        ctx: LambdaContext | None = None,
    ) -> PaymentMethod:
        """A replay of the key answers the first answer (the method as it was then)."""
        return self._add_method(practice_id, patient_id, idempotency_key, body, ctx)[0]

    def add_method_record(
        self, practice_id: str, patient_id: str, idempotency_key: str, body: AddPaymentMethodRequest
    ) -> MethodRecord:
        """The same, for a caller that goes on with the record (the pay page): as written, or, on a replay, as it is
        now."""
        first, written = self._add_method(practice_id, patient_id, idempotency_key, body, None)
        return written or self._method(practice_id, patient_id, first.id)

    def _add_method(
        self,
        practice_id: str,
        patient_id: str,
        idempotency_key: str,
        body: AddPaymentMethodRequest,
        ctx: LambdaContext | None,
    ) -> tuple[PaymentMethod, MethodRecord | None]:
        """A method on file from a PayFields token (or, on the sandbox, test numbers), once per Idempotency-Key: the
        first answer, and the record when this call wrote it."""
        patient = self._patient(practice_id, patient_id)
        client = self.splash()
        if body.token is None and not client.is_sandbox:
            raise MalformedRequest(
                "Card and bank numbers are accepted only while the Splash sandbox is the configured host. "
                "Collect them with Splash PayFields in the browser and send the token it returns.",
                errors=[{"field": "card" if body.card else "bank_account", "message": "send `token` instead"}],
            )
        written: list[MethodRecord] = []

        def add() -> PaymentMethod:  # checks inside: a replay answers the first answer, whatever changed since
            merchant = self.practices.require(practice_id).merchant_for_charging()
            if body.card is not None:
                _require_unexpired(body.card.exp_year, body.card.exp_month, self.clock().date())
            if body.token is not None:  # the caller's PayFields token: checked before anything is created
                token = self._payfields_token(client, body.token, merchant, patient)
                self._customer(client, merchant, patient)
            else:
                token = self._tokenize(client, self._customer(client, merchant, patient), body)
            try:
                record = _method_record(practice_id, patient.id, token, body.consent, self.vault, iso(self.clock()))
                self.store.put_method(record)
            except Exception:
                if body.token is None:  # the token is ours and nothing points at it: no orphan card at Splash
                    _discard(client, token, practice_id, patient.id)
                raise
            written.append(record)
            return _method_view(record)

        first = run_once(
            self.idempotency_store,
            operation=f"add-payment-method:{patient_id}",
            practice_id=practice_id,
            idempotency_key=idempotency_key,
            body=body,
            output=PaymentMethod,
            run=add,
            ttl_seconds=self.idempotency_ttl_seconds,
            lambda_context=ctx,
        )
        return first, written[0] if written else None

    def methods(self, practice_id: str, patient_id: str) -> PaymentMethodList:
        self._patient(practice_id, patient_id)
        return PaymentMethodList(data=[_method_view(m) for m in self.store.methods(practice_id, patient_id)])

    def remove_method(self, practice_id: str, patient_id: str, method_id: str) -> PaymentMethod:
        return self.remove(self._method(practice_id, patient_id, method_id))

    def remove(self, method: MethodRecord) -> PaymentMethod:
        """Deactivate an already-read method (and delete its token at Splash)."""
        practice_id, patient_id, method_id = method.practice_id, method.patient_id, method.id
        if method.status == "active":
            with contextlib.suppress(SplashNotFound):  # already gone at Splash
                self.splash().delete(Token, method.splash_token_id, request_token=f"delete-{method.id}")
            self.store.deactivate_method(practice_id, patient_id, method_id)
            method = replace(method, status="inactive")
        return _method_view(method)

    def chargeable(self, method: MethodRecord, amount: int) -> ChargeSource:
        """Check an already-read method for charging `amount`, and open its token."""
        if method.status == "blocked":
            why = (
                "the bank returned a payment"
                if method.kind == MethodKind.BANK_ACCOUNT.value
                else "the cardholder asked their bank to stop recurring payments"
            )
            raise Conflict(
                f"This {method.kind.replace('_', ' ')} cannot be charged again: {why} ({method.blocked_reason}). "
                "Ask the patient for another payment method."
            )
        if method.status != "active":
            raise Conflict("This payment method was removed; ask the patient for another one.")
        today = self.clock().date()
        if method.exp_year and method.exp_month and (method.exp_year, method.exp_month) < (today.year, today.month):
            raise Conflict(f"This card expired in {method.exp_month:02d}/{method.exp_year}; ask for a new card.")
        cap = method.consent.get("max_amount")
        if cap is not None and amount > int(cap):
            raise Conflict(f"The patient's consent allows at most {int(cap)} cents per charge on this method.")
        token = self.vault.open(method.token_sealed, practice_id=method.practice_id, purpose=METHOD_TOKEN)
        return ChargeSource(method, token)

    def demographics_of(self, practice_id: str, patient_id: str) -> Demographics | None:
        """The patient's PHI (for a check the pay page makes), or None when there is no such patient."""
        record = self.store.get(practice_id, patient_id)
        return self._demographics(record) if record else None

    def splash_customer(self, practice_id: str, patient_id: str) -> str:
        """The patient's Splash customer (made on first need, our opaque id only): what a PayFields token is for."""
        merchant = self.practices.require(practice_id).merchant_for_charging()
        return self._customer(self.splash(), merchant, self._patient(practice_id, patient_id))

    def verify_account(self, method: MethodRecord) -> str | None:
        """Validate a bank account at Splash before its first WEB debit (NACHA's rule for accounts typed online):
        an eCheck verification txn (type 12), moving no money, once per method. None when Splash confirmed it (or
        already had); else what Splash said, and the method is removed (it cannot be debited)."""
        if method.kind != MethodKind.BANK_ACCOUNT.value or method.verified_at is not None:
            return None
        merchant = self.practices.require(method.practice_id).merchant_for_charging()
        token = self.vault.open(method.token_sealed, practice_id=method.practice_id, purpose=METHOD_TOKEN)
        request = TxnRequest(merchant=merchant, type=TxnType.ECHECK_VERIFY, token=token)
        try:
            txn = self.splash().txn(request, request_token=f"verify-{method.id}")
        except SplashDeclined as exc:
            reason = exc.decline.processor_text
        else:
            if txn.status in (TxnStatus.APPROVED, TxnStatus.CAPTURED, TxnStatus.SETTLED):
                self.store.set_verified(method.practice_id, method.id, iso(self.clock()))
                return None
            reason = "The bank account could not be verified"
        self.remove(method)
        return reason

    # -- internals -------------------------------------------------------------------------------------------

    def _patient(self, practice_id: str, patient_id: str) -> PatientRecord:
        record = self.store.get(practice_id, patient_id) if PATIENT_ID.match(patient_id) else None
        if record is None:
            raise NotFound(f"No patient {patient_id} exists for this practice.")
        return record

    def _method(self, practice_id: str, patient_id: str, method_id: str) -> MethodRecord:
        """The method, found under its patient's key (so another patient's method id finds nothing)."""
        method = self.store.get_method(practice_id, patient_id, method_id) if METHOD_ID.match(method_id) else None
        if method is None:
            raise NotFound(f"No payment method {method_id} exists for this patient.")
        return method

    def _seal(self, practice_id: str, demographics: Demographics) -> str:
        return self.vault.seal(demographics.model_dump(mode="json"), practice_id=practice_id, purpose=DEMOGRAPHICS)

    def _demographics(self, record: PatientRecord) -> Demographics:
        return Demographics.unsealed(self.vault, record.phi_sealed, record.practice_id)

    def _view(self, record: PatientRecord, demographics: Demographics | None = None) -> Patient:
        demographics = demographics or self._demographics(record)
        return Patient(
            id=record.id,
            external_id=record.external_id,
            created_at=record.created_at,
            updated_at=record.updated_at,
            **demographics.model_dump(),
        )

    def _customer(self, client: SplashClient, merchant: str, patient: PatientRecord) -> str:
        """The patient's Splash customer, created on first need with our opaque patient id only."""
        if patient.splash_customer_id:
            return patient.splash_customer_id
        customer = client.create_customer(
            CustomerRequest(merchant=merchant, custom=patient.id), request_token=f"customer-{patient.id}"
        )
        if not self.store.set_customer(patient.practice_id, patient.id, customer.id):
            current = self.store.get(patient.practice_id, patient.id)  # a concurrent request set it first
            return current.splash_customer_id if current and current.splash_customer_id else customer.id
        return customer.id

    @staticmethod
    def _payfields_token(client: SplashClient, value: str, merchant: str, patient: PatientRecord) -> Token:
        """The caller's PayFields token, if Splash knows it and it is this patient's (reads only)."""
        try:
            # Checked here, not trusted to the search: a search the API does not apply answers every token.
            tokens = client.iterate(Token, search=Search().equals("token", value), limit=10)
            found = next((t for t in tokens if t.token == value), None)
            if found is None or not _ours(client, found, patient.splash_customer_id, merchant, patient.id):
                raise ValidationFailed(
                    "This token is unknown to Splash or belongs to another patient.",
                    errors=[{"field": "token", "message": "token is not this patient's"}],
                )
            return found
        except SplashValidationError as exc:
            raise _refused(exc) from exc

    @staticmethod
    def _tokenize(client: SplashClient, customer: str, body: AddPaymentMethodRequest) -> Token:
        try:
            return client.tokenize(_token_request(customer, body))
        except SplashValidationError as exc:
            raise _refused(exc) from exc


def _refused(exc: SplashValidationError) -> ValidationFailed:
    return ValidationFailed(
        f"Splash refused the payment details: {exc}",
        errors=[{"field": f, "message": f"{f} was refused by Splash"} for f in exc.fields],
    )


def _require_unexpired(exp_year: int, exp_month: int, today: date) -> None:
    if (exp_year, exp_month) < (today.year, today.month):
        raise ValidationFailed(
            f"This card expired in {exp_month:02d}/{exp_year}.",
            errors=[{"field": "card.exp_year", "message": "the card has expired"}],
        )


def _discard(client: SplashClient, token: Token, practice_id: str, patient_id: str) -> None:
    """Compensation: delete at Splash the token this request created and could not store. Never raises: the
    caller re-raises the original error; a token left behind is logged (ids only) for an operator to delete."""
    try:
        client.delete(Token, token.id, request_token=f"discard-{token.id}")
    except SplashNotFound:
        pass
    except Exception as exc:  # must not mask the error that made the token an orphan
        logger.error(
            "orphan token left at Splash: the method was not stored and the token could not be deleted",
            practice_id=practice_id,
            patient_id=patient_id,
            splash_token_id=token.id,
            error=type(exc).__name__,
        )


def _ours(client: SplashClient, token: Token, customer: str | None, merchant: str, patient_id: str) -> bool:
    """A PayFields token belongs to this patient when its Splash customer is the patient's, or is a customer of
    the practice's merchant carrying the patient's opaque id (PayFields created it in the browser)."""
    if token.customer is None:
        return False
    if token.customer == customer:
        return True
    try:
        owner = client.get(Customer, token.customer)
    except SplashNotFound:
        return False
    return owner.merchant == merchant and owner.custom == patient_id


def _token_request(customer: str, body: AddPaymentMethodRequest) -> TokenRequest:
    if body.card is not None:
        card = body.card
        return TokenRequest(
            customer=customer,
            payment=CardOrBank(number=card.number, cvv=card.cvc),
            expiration=f"{card.exp_month:02d}{card.exp_year % 100:02d}",
        )
    assert body.bank_account is not None
    bank = body.bank_account
    method = 8 if bank.account_type == "checking" else 9
    return TokenRequest(
        customer=customer, payment=CardOrBank(number=bank.account_number, routing=bank.routing_number, method=method)
    )


def _method_record(
    practice_id: str, patient_id: str, token: Token, consent: MethodConsent, vault: PhiVault, now: str
) -> MethodRecord:
    payment = token.payment
    method = payment.method if payment and payment.method is not None else 0
    bank = method in ACCOUNT_TYPES
    exp_month = exp_year = None
    if not bank and token.expiration and len(token.expiration) == 4:
        exp_month, exp_year = int(token.expiration[:2]), 2000 + int(token.expiration[2:])
    return MethodRecord(
        practice_id=practice_id,
        id=new_id("pm"),
        patient_id=patient_id,
        kind=MethodKind.BANK_ACCOUNT.value if bank else MethodKind.CARD.value,
        brand=None if bank else BRANDS.get(method, "card"),
        account_type=ACCOUNT_TYPES.get(method),
        last4=(payment.number if payment and payment.number else "")[-4:],
        exp_month=exp_month,
        exp_year=exp_year,
        token_sealed=vault.seal(token.token, practice_id=practice_id, purpose=METHOD_TOKEN),
        splash_token_id=token.id,
        consent=consent.model_dump(mode="json", exclude_none=True),
        created_at=now,
    )


def _method_view(record: MethodRecord) -> PaymentMethod:
    return PaymentMethod(
        id=record.id,
        patient_id=record.patient_id,
        kind=MethodKind(record.kind),
        brand=record.brand,
        account_type=record.account_type,
        last4=record.last4,
        exp_month=record.exp_month,
        exp_year=record.exp_year,
        status=record.status,  # type: ignore[arg-type]
        blocked_reason=record.blocked_reason,
        verified_at=record.verified_at,
        update_required=record.update_reason is not None,
        update_reason=record.update_reason,  # type: ignore[arg-type]
        consent=MethodConsent.model_validate(record.consent, strict=False),  # as stored (numbers come back as Decimal)
        created_at=record.created_at,
    )
