"""Builds the onboarding service from the function's configuration, once per cold start."""

from __future__ import annotations

from functools import cache

from practicepay.config import PracticesConfig, load
from practicepay.practices.service import PracticeService
from practicepay.practices.store import PracticeStore
from practicepay.splash.wiring import splash_client


@cache
def practice_service() -> PracticeService:
    cfg = load(PracticesConfig)
    return PracticeService(store=PracticeStore(cfg.practices_table, cache_seconds=0), splash=splash_client)
