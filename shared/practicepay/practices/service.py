"""Onboarding: a practice is boarded as a Splash merchant with one POST /entities (the business, its owners and
its deposit account), then Splash underwrites it; alerts and the status poll carry its merchant status back.

The practice id is the natural key of the whole flow. The record is written first as `submitting`, with a
REQUEST-TOKEN of its own for the boarding request, so a retry after a timeout replays Splash's first answer
instead of boarding a second merchant. If Splash refuses the fields, the record is removed and the
refusal comes back as field errors in the request's own terms."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, get_args
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from practicepay.clock import Clock, iso, utc_now
from practicepay.errors import NotFound, ValidationFailed
from practicepay.observability import logger
from practicepay.practices.models import (
    BusinessType,
    OnboardPracticeRequest,
    PracticeView,
    SettingsChange,
    splash_timezone,
)
from practicepay.practices.store import Practice, PracticeSettings, PracticeStore
from practicepay.splash.errors import SplashValidationError
from practicepay.splash.models import MerchantStatus, PaymentMethod
from practicepay.splash.outbound import (
    AccountRequest,
    BankAccountDetails,
    EntityRequest,
    MemberRequest,
    MerchantRequest,
)

if TYPE_CHECKING:
    from practicepay.splash.client import SplashClient

BOARDING_STATUS = {
    MerchantStatus.NOT_READY: "not_ready",
    MerchantStatus.READY: "submitted",
    MerchantStatus.PENDING: "underwriting",
    MerchantStatus.BOARDED: "boarded",
    MerchantStatus.MANUAL_REVIEW: "manual_review",
    MerchantStatus.CLOSED: "closed",
    MerchantStatus.INCOMPLETE: "incomplete",
}
_ACCOUNT_METHOD = {
    "checking": PaymentMethod.CHECKING,
    "savings": PaymentMethod.SAVINGS,
    "corporate_checking": PaymentMethod.CORPORATE_CHECKING,
    "corporate_savings": PaymentMethod.CORPORATE_SAVINGS,
}
# Splash's field names -> the request's, so a refusal names a field the caller sent.
_ENTITY_FIELDS = {
    "name": "legal_name",
    "type": "business_type",
    "address1": "address.line1",
    "city": "address.city",
    "state": "address.state",
    "zip": "address.zip",
    "merchant.mcc": "mcc",
    "merchant.dba": "dba",
    "merchant.established": "established",
}
_ENTITY_FIELDS |= {
    "timezone": "timezone",
    "clientIp": "terms_acceptance.ip",
    "tcVersion": "terms_acceptance.version",
    "tcAcceptDate": "terms_acceptance.accepted_at",
    "tcAcceptIp": "terms_acceptance.ip",
}
_MEMBER_FIELDS = {"first": "first_name", "last": "last_name", "dob": "date_of_birth", "ownership": "ownership_bp"}
_ACCOUNT_FIELDS = {"number": "account_number", "routing": "routing_number", "method": "kind", "": ""}
_MEMBER = re.compile(r"^merchant\.members\[(\d+)\]\.?(.*)$")
_ACCOUNT = re.compile(r"^accounts\[\d+\]\.?(?:account\.?)?(.*)$")


def request_field(splash_field: str) -> str:
    """The request field a Splash field error is about (Splash's own name when it has no counterpart)."""
    if member := _MEMBER.match(splash_field):
        index, name = member.groups()
        if name == "timezone":  # an owner's zone is the practice's
            return "timezone"
        return f"owners[{index}]" + (f".{_MEMBER_FIELDS.get(name, name)}" if name else "")
    if account := _ACCOUNT.match(splash_field):
        name = _ACCOUNT_FIELDS.get(account.group(1), account.group(1))
        return "bank_account" + (f".{name}" if name else "")
    return _ENTITY_FIELDS.get(splash_field, splash_field)


_SPLASH_WALL_ZONE = ZoneInfo("America/New_York")


def _yyyymmdd(value: str | None) -> int | None:
    return int(value.replace("-", "")) if value else None


def entity_request(body: OnboardPracticeRequest) -> EntityRequest:
    """The boarding request: the business, its owners (the first is primary unless one is marked), the
    deposit account and the terms acceptance. Nothing about any patient."""
    primary = next((i for i, o in enumerate(body.owners) if o.primary), 0)
    timezone = splash_timezone(body.timezone)
    terms = body.terms_acceptance
    # tcAcceptDate is YYYYMMDDHHII (SDK); its zone is unstated, so US-Eastern wall time, as Splash writes its own.
    accepted = f"{terms.accepted_at.astimezone(_SPLASH_WALL_ZONE):%Y%m%d%H%M}"
    members = [
        MemberRequest(
            first=o.first_name,
            last=o.last_name,
            title=o.title,
            dob=int(o.date_of_birth.replace("-", "")),
            timezone=timezone,
            ownership=o.ownership_bp,
            email=o.email,
            ssn=o.ssn,
            primary=1 if i == primary else 0,
        )
        for i, o in enumerate(body.owners)
    ]
    return EntityRequest(
        type=get_args(BusinessType).index(body.business_type),
        name=body.legal_name,
        address1=body.address.line1,
        city=body.address.city,
        state=body.address.state,
        zip=body.address.zip,
        phone=body.phone,
        email=body.email,
        ein=body.ein,
        website=body.website,
        clientIp=terms.ip,  # the practice's address when it accepted the terms; our caller's is the platform's
        timezone=timezone,
        tcVersion=terms.version,
        tcAcceptDate=accepted,
        tcAcceptIp=terms.ip,
        merchant=MerchantRequest(
            mcc=body.mcc,
            dba=body.dba or body.legal_name,
            established=_yyyymmdd(body.established),
            members=members,
        ),
        accounts=[
            AccountRequest(
                account=BankAccountDetails(
                    method=_ACCOUNT_METHOD[body.bank_account.kind],
                    number=body.bank_account.account_number,
                    routing=body.bank_account.routing_number,
                )
            )
        ],
    )


def view(practice: Practice) -> PracticeView:
    if practice.splash_merchant_id is None:
        status = "submitting"
    else:
        status = BOARDING_STATUS.get(MerchantStatus(practice.merchant_status or 0), "not_ready")
    return PracticeView(
        id=practice.practice_id,
        name=practice.name,
        boarding_status=status,
        can_take_payments=practice.merchant_status == MerchantStatus.BOARDED and not practice.merchant_held,
        splash_merchant_id=practice.splash_merchant_id,
        bank_account_last4=practice.bank_account_last4,
        settings=practice.settings,
        created_at=practice.created_at,
        updated_at=practice.updated_at,
    )


@dataclass
class PracticeService:
    store: PracticeStore
    splash: Any  # () -> SplashClient, built on first use (reads of a practice never need it)
    clock: Clock = utc_now

    def onboard(self, body: OnboardPracticeRequest) -> tuple[PracticeView, bool]:
        """Board the practice; (its view, whether this call created it). A repeat for a practice already
        submitted returns it as it is; one still `submitting` (Splash's answer was lost) submits again under the
        same REQUEST-TOKEN, so Splash answers with the merchant it already made, if it made one."""
        # checked before any Splash call; the onboarding time zone is the messages' unless the settings name one
        settings = _settings(PracticeSettings(time_zone=body.timezone), body.settings, "settings.")
        existing = self.store.get(body.practice_id)
        if existing is not None and existing.splash_merchant_id is not None:
            return view(existing), False
        # One REQUEST-TOKEN per boarding attempt, kept on the record: a retry while Splash's answer is unknown
        # replays Splash's first answer (never a second merchant); after a refusal the record is gone, and a
        # corrected request is a new attempt with a new token.
        token = existing.boarding_token if existing and existing.boarding_token else f"board-{uuid.uuid4().hex}"
        now = iso(self.clock())
        pending = existing or Practice(
            practice_id=body.practice_id,
            name=body.dba or body.legal_name,
            bank_account_last4=body.bank_account.account_number[-4:],
            settings=settings,
            boarding_token=token,
            created_at=now,
            updated_at=now,
        )
        if existing is None:
            self.store.put_new(pending)
        client: SplashClient = self.splash()
        try:
            entity, merchant = client.board(entity_request(body), request_token=token)
        except SplashValidationError as exc:
            self.store.delete_unboarded(body.practice_id)
            errors = [{"field": request_field(i.field or ""), "message": i.msg} for i in exc.items] or [
                {"field": "", "message": str(exc)}
            ]
            detail = "Splash refused the boarding details; correct these fields and retry."
            raise ValidationFailed(detail, errors) from None
        boarded = pending.model_copy(
            update={
                "splash_entity_id": entity.id,
                "splash_merchant_id": merchant.id,
                "merchant_status": int(merchant.status or 0),
                "updated_at": iso(self.clock()),
                "version": pending.version + 1,
            }
        )
        self.store.replace(boarded, pending.version)
        logger.info("practice submitted for boarding", practice_id=body.practice_id, merchant=merchant.id)
        return view(boarded), existing is None

    def get(self, practice_id: str) -> PracticeView:
        return view(self._require(practice_id))

    def change_settings(self, practice_id: str, change: SettingsChange) -> PracticeView:
        practice = self._require(practice_id)
        settings = _settings(practice.settings, change)
        return view(self.store.set_settings(practice, settings, iso(self.clock())))

    def _require(self, practice_id: str) -> Practice:
        practice = self.store.get(practice_id)
        if practice is None:
            raise NotFound(f"No practice {practice_id} exists.")
        return practice


def _settings(base: PracticeSettings, change: SettingsChange, prefix: str = "") -> PracticeSettings:
    """`base` with the fields `change` sets, checked together (e.g. retry days in order)."""
    try:
        return PracticeSettings.model_validate({**base.model_dump(), **change.model_dump(exclude_unset=True)})
    except ValidationError as exc:
        errors = [{"field": prefix + ".".join(map(str, e["loc"])), "message": e["msg"]} for e in exc.errors()]
        raise ValidationFailed("These settings are not valid together.", errors) from None
