"""Chargebacks (disputes): the records, their money, the evidence packet and the reply to Splash."""
