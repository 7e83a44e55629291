"""Pure organisation model: raw Apideck records -> employees, teams, units, roles, reporting lines (no Dagster, no I/O)."""
