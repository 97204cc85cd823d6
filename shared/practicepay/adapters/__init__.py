"""Adapters: the only code that talks to AWS (DynamoDB, KMS, Secrets Manager) or the network."""
