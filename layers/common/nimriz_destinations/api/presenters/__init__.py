"""Records -> response models, one module per area of the API (a function loads only its own area's models)."""
