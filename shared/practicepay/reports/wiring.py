"""Builds the report service from the function's configuration, once per cold start."""

from __future__ import annotations

from functools import cache

import boto3

from practicepay.config import ReportsConfig, load
from practicepay.reports.service import ReportService


@cache
def report_service() -> ReportService:
    cfg = load(ReportsConfig)
    return ReportService(
        resource=boto3.resource("dynamodb"),
        client=boto3.client("dynamodb"),
        payments_table=cfg.payments_table,
        patients_table=cfg.patients_table,
        invoices_table=cfg.invoices_table,
        funds_table=cfg.funds_table,
        practices_table=cfg.practices_table,
    )
