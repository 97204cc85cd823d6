"""PracticePay's Lambda code: domain logic, API edge models and adapters, shared by every function."""
