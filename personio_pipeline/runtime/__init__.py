"""Running the code location's jobs outside the daemon and keeping the instance healthy: the
instance the CLI uses, submitting and following runs, recording failed runs, which failures are
transient, and the pooled PostgreSQL event log (deploy/dagster.yaml)."""
