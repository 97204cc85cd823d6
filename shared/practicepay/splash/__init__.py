"""The Splash Payments (Payrix) integration: a typed client, its errors, and the PHI firewall for payloads."""
