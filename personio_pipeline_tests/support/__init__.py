"""Fixtures and helpers shared by the whole suite, registered as pytest plugins in the root
`conftest.py` (`pytest_plugins`), so tests request them by name and import nothing from a conftest."""
