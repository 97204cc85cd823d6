"""Deposits: Splash disbursements matched to our payments, refunds and disputes; reports and FHIR."""
