"""Outgoing messages: mail transports (SMTP, file outbox) and webhooks, shared by alerts and invitations."""
