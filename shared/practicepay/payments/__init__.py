"""Payments and refunds: charging a method on file through the practice's Splash merchant, exactly once."""
