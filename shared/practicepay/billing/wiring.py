"""Builds the plans service, the daily run and the charge worker from the function's configuration, once per
cold start. Their payment service's book follows installments (SCHEDULES_TABLE is set for these functions)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from practicepay.adapters.queues import ChargeQueue
from practicepay.billing.run import DailyRun
from practicepay.billing.store import ScheduleStore
from practicepay.config import BillingConfig, BillingRunConfig, load

if TYPE_CHECKING:
    from practicepay.billing.run import ChargeWorker
    from practicepay.billing.service import BillingService

# Imports by entry point (ADR 0013): the payment stack (payments, patients, the vault's Encryption SDK, the Splash
# client) is imported by the builders that use it, so the daily run, which only queues charges, never loads it.


@cache
def billing_service() -> BillingService:
    from practicepay.billing.service import BillingService
    from practicepay.payments.wiring import payment_service

    cfg = load(BillingConfig)
    payments = payment_service()
    return BillingService(
        store=ScheduleStore(cfg.schedules_table),
        payments=payments,
        idempotency_store=payments.idempotency_store,
        idempotency_ttl_seconds=cfg.idempotency_ttl_seconds,
    )


@cache
def charge_worker() -> ChargeWorker:
    from practicepay.adapters.vault import PhiVault
    from practicepay.billing.run import ChargeWorker
    from practicepay.payments.wiring import payment_service

    cfg = load(BillingConfig)
    return ChargeWorker(
        store=ScheduleStore(cfg.schedules_table), payments=payment_service(), vault=PhiVault(cfg.data_key_arn)
    )


@cache
def daily_run() -> DailyRun:
    cfg = load(BillingRunConfig)
    from practicepay.patients.store import PatientStore

    return DailyRun(
        store=ScheduleStore(cfg.schedules_table),
        queue=ChargeQueue(cfg.charge_queue_url),
        events_table=cfg.events_table,
        patients=PatientStore(cfg.patients_table) if cfg.patients_table else None,
    )
