"""Who is calling: JWT verification for the authorizer, and the tenancy context for handlers."""
