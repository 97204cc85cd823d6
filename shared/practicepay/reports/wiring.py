"""Builds the report service from the function's configuration, once per cold start."""

from __future__ import annotations

from functools import cache

import boto3
from pydantic import BaseModel, ConfigDict, Field

from practicepay.config import load
from practicepay.reports.service import ReportService


class ReportsConfig(BaseModel):
    """The reports function reads three tables and writes nothing (no idempotency table, no data key: no PHI)."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    invoices_table: str = Field(alias="INVOICES_TABLE", min_length=3)
    """The `receivables` index only."""
    payments_table: str = Field(alias="PAYMENTS_TABLE", min_length=3)
    patients_table: str = Field(alias="PATIENTS_TABLE", min_length=3)
    """Payment methods' kind, brand and last4 only (never a patient's sealed PHI)."""


@cache
def report_service() -> ReportService:
    cfg = load(ReportsConfig)  # type: ignore[type-var]  # load takes any settings model
    return ReportService(
        resource=boto3.resource("dynamodb"),
        client=boto3.client("dynamodb"),
        payments_table=cfg.payments_table,
        patients_table=cfg.patients_table,
        invoices_table=cfg.invoices_table,
    )
