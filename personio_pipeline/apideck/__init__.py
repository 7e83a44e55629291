"""Talking to Apideck: the HRIS and Vault clients (the local stand-in for Apideck is `sandbox/`)."""
