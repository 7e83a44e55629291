"""Dagster wiring only, by domain, loaded by `personio_pipeline/definitions.py`: ingest (Apideck),
org (the org model and its checks), store (the Teammeter write and the verification report),
invitations, lifecycle (schedules, connection and failure sensors, retention), webhooks, alerts,
and shared (keys, resources, IO, partitions, retries, jobs)."""
