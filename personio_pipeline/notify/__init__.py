"""Outgoing messages: mail transports (SMTP, file outbox) and the texts of the data team's alerts
(`alerts`, `invitation_alerts`), shared by the sensors and the invitations."""
