"""Unknown HR statuses, start dates on accounts, and each company's own clock

- `organisations.unknown_status`: what a sync does with a person whose HR status is neither
  active, inactive nor terminated (Apideck's `other`, a missing or an unknown value; Personio's
  `leave` and `onboarding` probably arrive so): 'keep' (the default: an existing account keeps its
  access and memberships, a new person gets an account without access) or 'deactivate'.
- `organisations.timezone` (IANA name, NULL: UTC) and `organisations.sync_hour` (0–23, NULL: the
  daily schedule's default hour): the company's "today" for start and end dates, and the hour of
  its daily sync, both in its own time zone.
- `users.starts_on` (the HR start date) and `users.hr_status` ('active' | 'unknown' |
  'out_of_scope' for an account deactivated as its person left the scope; NULL for
  accounts outside HR): what the review and the report show about pre-hires and people kept on an
  unknown status. The companies' remembered fingerprints are cleared, so that the next sync diffs
  in full and fills them in.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("organisations", sa.Column("unknown_status", sa.String(16), nullable=False, server_default="keep"))
    op.add_column("organisations", sa.Column("timezone", sa.String(64)))
    op.add_column("organisations", sa.Column("sync_hour", sa.Integer))
    op.add_column("users", sa.Column("starts_on", sa.Date))
    op.add_column("users", sa.Column("hr_status", sa.String(16)))
    op.execute(sa.text("UPDATE organisations SET synced_model_fingerprint = NULL"))


def downgrade() -> None:
    # Not batch mode: a copy of `organisations` would break the view company_sync_status on SQLite
    # (ALTER TABLE … DROP COLUMN is native since SQLite 3.35).
    op.drop_column("users", "hr_status")
    op.drop_column("users", "starts_on")
    op.drop_column("organisations", "sync_hour")
    op.drop_column("organisations", "timezone")
    op.drop_column("organisations", "unknown_status")
