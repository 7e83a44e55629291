"""The data team's alerts from asset-check results (missing emails, people held back)."""
