"""The practice's staff: who they are (roles and what each may do), their dashboard sessions, the audit trail of
what they did, and what the dashboard shows them (ADR 0018)."""
