"""Builds the pay page service from configuration, once per cold start."""

from __future__ import annotations

from functools import cache

from practicepay.config import PayPageConfig, load
from practicepay.paylinks.store import PayLinkStore
from practicepay.paypage.service import PayPageService


@cache
def pay_page_service() -> PayPageService:
    from practicepay.billing.wiring import billing_service
    from practicepay.payments.wiring import payment_service

    cfg = load(PayPageConfig)
    payments = payment_service()
    return PayPageService(
        links=PayLinkStore(cfg.pay_links_table),
        payments=payments,
        billing=billing_service,
        vault=payments.patients.vault,
        events_table=cfg.events_table,
    )
