"""The org model, pure: raw Apideck records -> employees, teams, units, roles, reporting lines (no Dagster, no I/O)."""
