"""Practices: the record of which Splash merchant a practice charges through and its settings (`models`, stored
by `store`), and onboarding, which boards the practice as a Splash merchant (`service`)."""

from practicepay.practices.models import Practice, PracticeSettings
from practicepay.practices.store import PracticeStore

__all__ = ["Practice", "PracticeSettings", "PracticeStore"]
