"""Apideck-compatible sandbox server and its deterministic company generator."""
