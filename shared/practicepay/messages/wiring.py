"""Builds the messages service from configuration, once per cold start."""

from __future__ import annotations

from functools import cache

from practicepay.adapters.vault import PhiVault
from practicepay.billing.store import ScheduleStore
from practicepay.config import MessagesConfig, MessagingConfig, load
from practicepay.invoices.store import InvoiceStore
from practicepay.messages.channels import Email, Fingerprints, Sms
from practicepay.messages.service import MessageService
from practicepay.messages.store import MessageStore
from practicepay.patients.store import PatientStore
from practicepay.paylinks.store import PayLinkStore
from practicepay.practices import PracticeStore


def _service(cfg: MessagingConfig, **channels: object) -> MessageService:
    return MessageService(
        store=MessageStore(cfg.messages_table),
        invoices=InvoiceStore(cfg.invoices_table),
        patients=PatientStore(cfg.patients_table),
        practices=PracticeStore(cfg.practices_table, cache_seconds=5),  # a settings change counts within 5 s
        schedules=ScheduleStore(cfg.schedules_table),
        links=PayLinkStore(cfg.pay_links_table),
        vault=PhiVault(cfg.data_key_arn),
        fingerprints=Fingerprints(cfg.fingerprint_key_arn),
        events_table=cfg.events_table,
        **channels,  # type: ignore[arg-type]
    )


@cache
def message_service() -> MessageService:
    """The messages function's: it sends."""
    cfg = load(MessagesConfig)
    return _service(
        cfg,
        email=Email(cfg.messages_from, cfg.ses_configuration_set),
        sms=Sms(cfg.sms_origination_number),
        public_url=cfg.public_base_url,
        pay_page_url=cfg.pay_page_url or None,
    )


@cache
def messaging_service() -> MessageService:
    """The messaging function's (staff's routes, the unsubscribe page): it never sends."""
    cfg = load(MessagingConfig)
    return _service(cfg, email=Email(None, None), sms=Sms(None), public_url="")
