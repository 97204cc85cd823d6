"""Builds the disputes service from the function's configuration, once per cold start: for the disputes API (the
evidence packet needs the data key and the messages sent) and, lighter, for the status sync (alerts and the poll
only follow chargebacks and book their money)."""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from practicepay.adapters.vault import PhiVault
from practicepay.config import DisputesConfig, MoneyTables, load
from practicepay.disputes.service import DisputeService
from practicepay.disputes.store import DisputeStore
from practicepay.messages.store import MessageStore
from practicepay.patients.store import PatientStore
from practicepay.payments.book import PaymentBook
from practicepay.practices import PracticeStore
from practicepay.splash.wiring import splash_client


def following(cfg: MoneyTables, funds_table: str, book: PaymentBook, practices: PracticeStore) -> DisputeService:
    """The service the status sync applies chargebacks with (no packet: no data key, no messages)."""
    return DisputeService(
        book=book,
        disputes=DisputeStore(funds_table),
        practices=practices,
        patients=PatientStore(cfg.patients_table),
        splash=splash_client,
    )


@cache
def dispute_service() -> DisputeService:
    cfg = load(DisputesConfig)
    return DisputeService(
        book=PaymentBook.for_tables(cfg),
        disputes=DisputeStore(cfg.funds_table),
        practices=PracticeStore(cfg.practices_table),
        patients=PatientStore(cfg.patients_table),
        splash=splash_client,
        vault=PhiVault(cfg.data_key_arn),
        messages=MessageStore(cfg.messages_table),
        idempotency_store=DynamoDBPersistenceLayer(table_name=cfg.idempotency_table),
    )
