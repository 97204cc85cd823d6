"""Builds the patient service from the function's configuration, once per cold start."""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from practicepay.adapters.blind_index import BlindIndex
from practicepay.adapters.vault import PhiVault
from practicepay.config import PatientsConfig, load
from practicepay.patients.service import PatientService
from practicepay.patients.store import PatientStore
from practicepay.practices import PracticeStore
from practicepay.splash.wiring import splash_client


@cache
def patient_service() -> PatientService:
    cfg = load(PatientsConfig)
    return PatientService(
        store=PatientStore(cfg.patients_table),
        practices=PracticeStore(cfg.practices_table),
        vault=PhiVault(cfg.data_key_arn),
        idempotency_store=DynamoDBPersistenceLayer(table_name=cfg.idempotency_table),
        splash=splash_client,
        idempotency_ttl_seconds=cfg.idempotency_ttl_seconds,
        index=BlindIndex(cfg.search_key_arn),
    )
