"""The local stack: moto server as the embedded AWS, resources from infra.definitions, and an HTTP front
that turns requests into API Gateway REST events for the real handlers."""
