"""Invitations: who is invited (`eligibility`), the outbox protocol over the Teammeter store
(`outbox`, `claims`, `outcomes`), what is due (`due`), the operator's decisions (`decisions`),
their state (`state`) and the message (`message`). The data team's alert about invitations that
failed for good is `notify/invitation_alerts.py`.

Dagster wiring lives in `personio_pipeline.defs.invitations.assets` and
`personio_pipeline.defs.invitations.sensor`.
"""
