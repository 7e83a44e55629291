"""Talking to Apideck: the HRIS and Vault clients, and a local Apideck-compatible sandbox."""
