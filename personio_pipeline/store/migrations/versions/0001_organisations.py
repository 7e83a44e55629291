"""organisations: one row per customer company (Apideck consumer id)

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("consumer_id", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("service_id", sa.String(64), nullable=False, server_default="personio"),
        sa.Column("connection_state", sa.String(32), nullable=False, server_default="registered"),
        sa.Column("auto_sync", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("first_synced_at", sa.DateTime(timezone=True)),
        sa.Column("last_synced_at", sa.DateTime(timezone=True)),
        sa.Column("verified_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_organisations"),
        sa.UniqueConstraint("consumer_id", name="uq_organisations_consumer_id"),
    )


def downgrade() -> None:
    op.drop_table("organisations")
