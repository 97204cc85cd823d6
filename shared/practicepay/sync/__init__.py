"""Splash → PracticePay: web alerts, the status poll and the reconciler keep statuses true (issue #5)."""
