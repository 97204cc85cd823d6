"""Seeds a practice the way onboarding (#7) will: boarded as a Splash merchant in the sandbox, with its
practice record pointing at that merchant. Used by `make run` for the demo practice and by the tests."""

from __future__ import annotations

from local.sandbox.server import SplashSandbox
from practicepay.clock import iso, utc_now
from practicepay.practices import Practice, PracticeStore
from practicepay.splash.client import SplashClient
from practicepay.splash.models import Merchant
from practicepay.splash.outbound import (
    AccountRequest,
    BankAccountDetails,
    EntityRequest,
    MemberRequest,
    MerchantRequest,
)


def practice_entity(name: str, *, ein: str | None = None) -> EntityRequest:
    """The boarding request of a test practice: the business, one owner, one bank account (no patient data)."""
    return EntityRequest(
        type=2,
        name=name,
        address1="100 Main St",
        city="Springfield",
        state="IL",
        zip="62701",
        phone="2175550100",
        email="billing@practice.example",
        ein=ein,
        clientIp="203.0.113.10",  # the practice's address when it accepted the terms (a documentation IP)
        timezone="cst",
        tcVersion="1.0",
        tcAcceptDate="202501021200",
        tcAcceptIp="203.0.113.10",
        merchant=MerchantRequest(
            dba=name[:50],
            members=[
                MemberRequest(first="Demo", last="Owner", dob=19700101, timezone="cst", ownership=10000, primary=1)
            ],
        ),
        accounts=[AccountRequest(account=BankAccountDetails(method=8, number="123456789", routing="021000021"))],
    )


def seed_practice(
    practice_id: str, name: str, client: SplashClient, sandbox: SplashSandbox, practices: PracticeStore
) -> Practice:
    _entity, merchant = client.board(practice_entity(name))
    sandbox.advance(days=2)  # ready → pending → boarded
    boarded = client.get(Merchant, merchant.id)
    practice = Practice(
        practice_id=practice_id,
        name=name,
        splash_merchant_id=boarded.id,
        merchant_status=boarded.status,
        updated_at=iso(utc_now()),
    )
    practices.put(practice)
    return practice
