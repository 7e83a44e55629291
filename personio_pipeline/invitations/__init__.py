"""Invitations: the outbox protocol over the Teammeter store (`outbox`), the message (`message`)
and the data team's alert about invitations that failed for good (`alert`).

Dagster wiring lives in `personio_pipeline.defs.invitations.assets` and
`personio_pipeline.defs.invitations.sensor`.
"""
