"""A local Apideck: an Apideck-compatible HRIS, Vault and Webhook server, its deterministic company
generator and the OpenAPI specs it checks its answers against (`spec/`)."""
