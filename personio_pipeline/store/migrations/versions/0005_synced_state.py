"""organisations: what the last full diff applied (model fingerprint, store signature, when)

A daily sync that finds the same organisation model and an untouched store can skip the diff
(see personio_pipeline.store.unchanged). NULL means "unknown": the next sync diffs in full.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("organisations", sa.Column("synced_model_fingerprint", sa.String(64)))
    op.add_column("organisations", sa.Column("synced_store_signature", sa.String(64)))
    op.add_column("organisations", sa.Column("synced_diffed_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): a batch copy of the table would break the
    # company_sync_status view that reads it.
    op.execute(sa.text("ALTER TABLE organisations DROP COLUMN synced_diffed_at"))
    op.execute(sa.text("ALTER TABLE organisations DROP COLUMN synced_store_signature"))
    op.execute(sa.text("ALTER TABLE organisations DROP COLUMN synced_model_fingerprint"))
