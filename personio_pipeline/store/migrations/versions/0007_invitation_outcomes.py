"""invitations: failure_reason, why an invitation is not (yet) sent

`last_error` holds the relay's words; `failure_reason` names the case in a fixed vocabulary the
CLI, run metadata, the `invitations_delivered` check and the data team's alert can group by:
`smtputf8_unsupported` (the relay cannot carry a non-ASCII local part), `recipient_refused`,
`recipient_deferred`, `message_refused`, `message_not_encodable`, `invalid_address`,
`relay_unavailable`, `relay_auth_failed`, `sender_refused`, `delivery_unknown` (ambiguous).
NULL for invitations that never failed, and cleared when one is sent.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("invitations", sa.Column("failure_reason", sa.String(64)))


def downgrade() -> None:
    # SQLite's batch mode copies the table and would lose the partial unique index's WHERE.
    op.drop_index("uq_invitations_open", table_name="invitations")
    with op.batch_alter_table("invitations") as batch:
        batch.drop_column("failure_reason")
    open_condition = sa.text("status IN ('pending', 'claimed', 'ambiguous')")
    op.create_index(
        "uq_invitations_open", "invitations", ["user_id"], unique=True,
        sqlite_where=open_condition, postgresql_where=open_condition,
    )
