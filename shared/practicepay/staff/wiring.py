"""Builds the dashboard's services from the function's configuration, once per cold start. The services it shows and
acts through are the JSON API's own (their wiring reads the same environment)."""

from __future__ import annotations

from dataclasses import replace
from functools import cache

from practicepay.adapters.blind_index import BlindIndex
from practicepay.adapters.oidc import OidcProvider
from practicepay.config import DashboardConfig, load
from practicepay.practices.store import PracticeStore
from practicepay.staff.audit import Auditor
from practicepay.staff.dashboard import DashboardService
from practicepay.staff.sessions import SessionService
from practicepay.staff.store import AuditStore, SessionStore


@cache
def dashboard_config() -> DashboardConfig:
    return load(DashboardConfig)


@cache
def session_service() -> SessionService:
    cfg = dashboard_config()
    provider = None
    if cfg.staff_oidc_issuer and cfg.staff_oidc_client_id:
        provider = OidcProvider(str(cfg.staff_oidc_issuer), cfg.staff_oidc_client_id)
    return SessionService(
        SessionStore(cfg.staff_table),
        PracticeStore(cfg.practices_table),
        provider,
        idle_minutes=cfg.staff_idle_minutes,
        role_claim=cfg.staff_role_claim,
        practice_claim=cfg.staff_practice_claim,
        dev_signin=cfg.staff_dev_signin,
    )


@cache
def dashboard_service() -> DashboardService:
    from practicepay.billing.wiring import billing_service
    from practicepay.disputes.wiring import dispute_service
    from practicepay.invoices.wiring import invoice_service
    from practicepay.messages.wiring import messaging_service
    from practicepay.paylinks.wiring import pay_link_service
    from practicepay.payments.wiring import payment_service
    from practicepay.practices.wiring import practice_service
    from practicepay.reports.wiring import report_service

    payments = payment_service()
    return DashboardService(
        invoices=invoice_service(),
        patients=replace(payments.patients, index=BlindIndex(dashboard_config().search_key_arn)),
        payments=payments,
        billing=billing_service(),
        links=pay_link_service(),
        disputes=dispute_service(),
        reports=report_service(),
        messaging=messaging_service(),
        practices=practice_service(),
        auditor=Auditor(AuditStore(dashboard_config().audit_table)),
    )
