"""The HTTP edge shared by every API function: resolver factory, problem+json, request guards."""
