"""Builds the encounter service from the function's configuration, once per cold start."""

from __future__ import annotations

from functools import cache

from practicepay.adapters.vault import PhiVault
from practicepay.config import EncountersConfig, load
from practicepay.encounters.service import EncounterService
from practicepay.encounters.store import EncounterStore
from practicepay.invoices.service import InvoiceService
from practicepay.invoices.store import InvoiceStore
from practicepay.patients.store import PatientStore
from practicepay.practices.store import PracticeStore


@cache
def encounter_service() -> EncounterService:
    cfg = load(EncountersConfig)
    invoices = InvoiceService(
        store=InvoiceStore(cfg.invoices_table),
        patients_table=cfg.patients_table,
        events_table=cfg.events_table,
        vault=PhiVault(cfg.data_key_arn),
    )
    return EncounterService(
        invoices=invoices,
        patients=PatientStore(cfg.patients_table),
        practices=PracticeStore(cfg.practices_table),
        store=EncounterStore(invoices.store, patients_table=cfg.patients_table, events_table=cfg.events_table),
    )
