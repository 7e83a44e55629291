"""webhook_events: the inbox of signed Apideck webhook events

The receiver (`personio-pipeline webhooks serve`) stores each event once, keyed by Apideck's
`x-apideck-idempotency-key`, and answers at once; the webhook sensor reads the pending rows and
turns them into sync runs (debounced per company) or connection-state changes. Rows are never
deleted by the pipeline: an event's status says what became of it (`pending`, `handled`, or
`ignored` with the reason, e.g. an unknown consumer id, which never creates a company).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

STATUSES = ("pending", "handled", "ignored")


def upgrade() -> None:
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("event_id", sa.String(255)),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("consumer_id", sa.String(255)),
        sa.Column("organisation_id", sa.Integer),
        sa.Column("service_id", sa.String(64)),
        sa.Column("entity_id", sa.String(255)),
        sa.Column("connection_state", sa.String(32)),
        sa.Column("occurred_at", sa.DateTime(timezone=True)),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("ignored_reason", sa.String(64)),
        sa.Column("handled_at", sa.DateTime(timezone=True)),
        sa.Column("run_key", sa.String(255)),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_events"),
        sa.UniqueConstraint("idempotency_key", name="uq_webhook_events_idempotency_key"),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name="fk_webhook_events_organisation_id_organisations"
        ),
        sa.CheckConstraint(sa.column("status").in_(STATUSES), name=op.f("ck_webhook_events_status_known")),
    )
    op.create_index("ix_webhook_events_status_organisation_id", "webhook_events", ["status", "organisation_id"])


def downgrade() -> None:
    op.drop_index("ix_webhook_events_status_organisation_id", table_name="webhook_events")
    op.drop_table("webhook_events")
