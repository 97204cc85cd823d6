"""Chargebacks (issue #19): the disputes API function. Deposits are served by the reports function
(infra/clinical.py); the sync functions write disputes, deposits and fees (infra/sync.py).

The role is immutable (infra/functions.py): its managed policy names exactly the tables and indexes it uses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.definitions import (
    DISPUTES,
    EVENTS_TABLE,
    FUNDS_TABLE,
    INVOICES_TABLE,
    MESSAGES_TABLE,
    PATIENTS_TABLE,
    PAYMENTS_TABLE,
    PRACTICES_TABLE,
)
from infra.functions import PracticePayFunction, table_access


class FundsConstruct(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tables: Mapping[str, dynamodb.ITable],
        data_env: dict[str, str],
        data_statements: Sequence[iam.PolicyStatement],  # the idempotency table and the data key (sealed lines)
        splash_env: dict[str, str],
        splash_statements: Sequence[iam.PolicyStatement],
        concurrency: int,
        timeout: Duration,
        common: dict[str, Any],
    ) -> None:
        super().__init__(scope, construct_id)
        funds, payments = tables[FUNDS_TABLE.logical_id], tables[PAYMENTS_TABLE.logical_id]
        invoices, patients = tables[INVOICES_TABLE.logical_id], tables[PATIENTS_TABLE.logical_id]
        practices, messages = tables[PRACTICES_TABLE.logical_id], tables[MESSAGES_TABLE.logical_id]
        events = tables[EVENTS_TABLE.logical_id]
        self.disputes = PracticePayFunction(
            self,
            "DisputesFn",
            name=DISPUTES.name,
            description="Disputes API: list and read chargebacks, the evidence packet, respond or accept at Splash",
            environment={
                FUNDS_TABLE.env_var: funds.table_name,
                PAYMENTS_TABLE.env_var: payments.table_name,
                INVOICES_TABLE.env_var: invoices.table_name,
                PATIENTS_TABLE.env_var: patients.table_name,
                PRACTICES_TABLE.env_var: practices.table_name,
                EVENTS_TABLE.env_var: events.table_name,
                MESSAGES_TABLE.env_var: messages.table_name,
                **data_env,
                **splash_env,
            },
            statements=[
                table_access("Disputes", funds, ["GetItem", "PutItem", "UpdateItem", "Query"], "by_invoice", "by_date"),
                table_access("Payments", payments, ["GetItem", "PutItem"]),
                # the invoice and its ledger entries (one table); the evidence packet lists the invoice's lines
                table_access("InvoicesAndLedger", invoices, ["GetItem", "PutItem", "Query"]),
                table_access("Patients", patients, ["GetItem"]),
                table_access("Practices", practices, ["GetItem", "Query"], "by_merchant"),
                table_access("InvoiceMessages", messages, ["Query"], "by_invoice"),  # the evidence: what was sent
                table_access("Events", events, ["PutItem"]),
                *data_statements,
                *splash_statements,
            ],
            reserved_concurrency=concurrency,
            timeout=timeout,
            **common,
        )

    @property
    def functions(self) -> list[PracticePayFunction]:
        return [self.disputes]
