"""Practices: the record of which Splash merchant a practice charges through and its settings (`store`), and
onboarding, which boards the practice as a Splash merchant (`service`)."""

from practicepay.practices.store import Practice, PracticeSettings, PracticeStore

__all__ = ["Practice", "PracticeSettings", "PracticeStore"]
