"""Patients as payers: demographics (PHI, sealed) and payment methods on file (Splash tokens, sealed)."""
