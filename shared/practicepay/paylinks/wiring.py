"""Builds the pay links service (the invoices function's staff routes) from configuration, once per cold start."""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from practicepay.adapters.vault import PhiVault
from practicepay.config import InvoicesConfig, load
from practicepay.invoices.store import InvoiceStore
from practicepay.patients.store import PatientStore
from practicepay.paylinks.service import PayLinkService
from practicepay.paylinks.store import PayLinkStore
from practicepay.practices import PracticeStore


@cache
def pay_link_service() -> PayLinkService:
    cfg = load(InvoicesConfig)
    return PayLinkService(
        store=PayLinkStore(cfg.pay_links_table),
        invoices=InvoiceStore(cfg.invoices_table),
        patients=PatientStore(cfg.patients_table),
        practices=PracticeStore(cfg.practices_table, cache_seconds=0),  # settings staff just changed
        vault=PhiVault(cfg.data_key_arn),
        events_table=cfg.events_table,
        idempotency_store=DynamoDBPersistenceLayer(table_name=cfg.idempotency_table),
        base_url=cfg.pay_page_url or None,
        idempotency_ttl_seconds=cfg.idempotency_ttl_seconds,
    )
