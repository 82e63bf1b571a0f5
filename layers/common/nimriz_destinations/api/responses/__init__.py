"""OpenAPI response declarations per route, one module per area of the API: a function loads only its own routes'
models (cold start)."""
