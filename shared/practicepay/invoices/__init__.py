"""Invoices: what a practice bills a patient for (office visits, lab tests, treatments)."""
