"""Builds the invoice service from the function's configuration, once per cold start."""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from practicepay.adapters.vault import PhiVault
from practicepay.config import InvoicesConfig, load
from practicepay.invoices.service import InvoiceService
from practicepay.invoices.store import InvoiceStore


@cache
def invoice_service() -> InvoiceService:
    cfg = load(InvoicesConfig)
    return InvoiceService(
        store=InvoiceStore(cfg.invoices_table),
        patients_table=cfg.patients_table,
        events_table=cfg.events_table,
        vault=PhiVault(cfg.data_key_arn),
        idempotency_store=DynamoDBPersistenceLayer(table_name=cfg.idempotency_table),
        idempotency_ttl_seconds=cfg.idempotency_ttl_seconds,
    )
