"""Builds the payment service from the function's configuration, once per cold start."""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from practicepay.adapters.queues import ReconciliationQueue
from practicepay.adapters.vault import PhiVault
from practicepay.config import PaymentsConfig, load
from practicepay.patients.service import PatientService
from practicepay.patients.store import PatientStore
from practicepay.payments.book import PaymentBook
from practicepay.payments.service import PaymentService
from practicepay.practices import PracticeStore
from practicepay.splash.wiring import splash_client


@cache
def payment_service() -> PaymentService:
    cfg = load(PaymentsConfig)
    idempotency = DynamoDBPersistenceLayer(table_name=cfg.idempotency_table)
    practices = PracticeStore(cfg.practices_table)
    patients = PatientService(
        store=PatientStore(cfg.patients_table),
        practices=practices,
        vault=PhiVault(cfg.data_key_arn),
        idempotency_store=idempotency,
        splash=splash_client,
    )
    return PaymentService(
        book=PaymentBook.for_tables(cfg),
        patients=patients,
        practices=practices,
        splash=splash_client,
        queue=ReconciliationQueue(cfg.reconciliation_queue_url),
        idempotency_store=idempotency,
        idempotency_ttl_seconds=cfg.idempotency_ttl_seconds,
    )
