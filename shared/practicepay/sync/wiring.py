"""Builds the webhook intake and the status sync from the function's configuration, once per cold start."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from practicepay.config import SyncConfig, WebhookConfig, load
from practicepay.splash.wiring import splash_credentials
from practicepay.sync.intake import AlertIntake, AlertQueue
from practicepay.sync.store import SyncStore

if TYPE_CHECKING:
    from practicepay.sync.service import StatusSync


def _webhook_header() -> tuple[str, str]:
    creds = splash_credentials()  # Powertools parameters: cached, and a rotated value is picked up
    return creds.webhook_header_name, creds.webhook_header_value.get_secret_value()


@cache
def alert_intake() -> AlertIntake:
    cfg = load(WebhookConfig)
    return AlertIntake(header=_webhook_header, store=SyncStore(cfg.sync_table), queue=AlertQueue(cfg.alerts_queue_url))


@cache
def status_sync() -> StatusSync:
    # The payment book, the stores and the Splash client: the alert processor, the poll and the reconciler take
    # them; the webhook (alert_intake) never does.
    from zoneinfo import ZoneInfo

    from practicepay.cards.service import AccountUpdater
    from practicepay.deposits.service import DepositService
    from practicepay.deposits.store import DepositStore
    from practicepay.disputes.wiring import following
    from practicepay.patients.store import PatientStore
    from practicepay.payments.book import PaymentBook
    from practicepay.practices import PracticeStore
    from practicepay.splash.wiring import splash_client
    from practicepay.sync.service import StatusSync

    cfg = load(SyncConfig)
    book, practices = PaymentBook.for_tables(cfg), PracticeStore(cfg.practices_table)
    disputes = following(cfg, cfg.funds_table, book, practices)
    return StatusSync(
        book=book,
        practices=practices,
        patients=PatientStore(cfg.patients_table),
        disputes=disputes,
        cards=AccountUpdater(
            patients=PatientStore(cfg.patients_table),
            sync=SyncStore(cfg.sync_table),
            events_table=cfg.events_table,
            splash=splash_client,
            overlap_seconds=cfg.poll_overlap_seconds,
            lookback_seconds=cfg.poll_lookback_seconds,
            splash_zone=ZoneInfo(cfg.splash_timezone),
        ),
        deposits=DepositService(
            book=book,
            deposits=DepositStore(cfg.funds_table),
            practices=practices,
            disputes=disputes,
            splash=splash_client,
        ),
        splash=splash_client,
        sync=SyncStore(cfg.sync_table),
        grace_seconds=cfg.reconcile_grace_seconds,
        overlap_seconds=cfg.poll_overlap_seconds,
        lookback_seconds=cfg.poll_lookback_seconds,
        splash_zone=ZoneInfo(cfg.splash_timezone),
    )
