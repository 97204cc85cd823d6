"""Builds the "Today" screen's service from the dashboard function's configuration, once per cold start: its
stores read the tables DashboardConfig names (read-only: Today writes nothing); the deposits come from the reports
service the dashboard's Reports screen uses."""

from __future__ import annotations

from functools import cache

import boto3

from practicepay.billing.store import ScheduleStore
from practicepay.disputes.store import DisputeStore
from practicepay.events import EventLog
from practicepay.messages.store import MessageStore
from practicepay.patients.store import PatientStore
from practicepay.paylinks.store import PayLinkStore
from practicepay.payments.store import PaymentStore
from practicepay.practices.store import PracticeStore
from practicepay.reports.wiring import report_service
from practicepay.staff.attention import TodayService
from practicepay.staff.wiring import dashboard_config


@cache
def today_service() -> TodayService:
    cfg = dashboard_config()
    resource = boto3.resource("dynamodb")
    return TodayService(
        practices=PracticeStore(cfg.practices_table),
        payments=PaymentStore(cfg.payments_table, resource),
        schedules=ScheduleStore(cfg.schedules_table, resource),
        patients=PatientStore(cfg.patients_table, resource),
        disputes=DisputeStore(cfg.funds_table, resource),
        messages=MessageStore(cfg.messages_table, resource),
        links=PayLinkStore(cfg.pay_links_table, resource),
        events=EventLog(cfg.events_table, resource),
        reports=report_service(),
    )
