"""API contract models: request bodies and responses (they drive validation and the OpenAPI document), one module
per area of the API, so that a function loads only the models of its own routes (cold start)."""
