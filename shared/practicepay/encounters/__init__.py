"""Encounter charges from the clinical platform, turned into invoices (`service`)."""
