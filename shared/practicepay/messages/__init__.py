"""Patient messages: statements, reminders, autopay notices, failed-payment notices, receipts (ADR 0016)."""
