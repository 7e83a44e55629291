"""What every layer may use: settings (the one reader of the environment), the clock, logs,
redaction, tables and lists, memory helpers. No Dagster wiring, no database."""
