"""Invitations: the outbox protocol over the Teammeter store (`outbox`) and the message (`message`).

Dagster wiring lives in `personio_pipeline.defs.assets.invitations` and
`personio_pipeline.defs.invitation_sensor`.
"""
