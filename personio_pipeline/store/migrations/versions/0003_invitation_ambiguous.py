"""invitations: status 'ambiguous' (a send whose outcome is unknown waits for an operator), user index

An invitation claimed by a sender that never recorded the outcome (the process died, or the SMTP
connection broke after the message may have been accepted) must be neither resent automatically
nor forgotten. 'ambiguous' names that state; it stays open in the one-open-invitation-per-user
index, so no second invitation is queued for that person while the question is open.

An index on user_id serves "has this person an invitation?" for all statuses (the partial
unique index covers open ones only).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

STATUSES = ("pending", "claimed", "sent", "failed", "ambiguous")
OPEN = sa.text("status IN ('pending', 'claimed', 'ambiguous')")
OLD_STATUSES = ("pending", "claimed", "sent", "failed")
OLD_OPEN = sa.text("status IN ('pending', 'claimed')")
CHECK = "ck_invitations_status_known"


def _rebuild(statuses: tuple[str, ...], open_condition) -> None:
    """New status CHECK and open-invitation index. The partial index is dropped first and made
    again afterwards because SQLite's batch mode copies the table and would lose its WHERE."""
    op.drop_index("uq_invitations_open", table_name="invitations")
    with op.batch_alter_table("invitations") as batch:
        batch.drop_constraint(op.f(CHECK), type_="check")
        batch.create_check_constraint(op.f(CHECK), sa.column("status").in_(statuses))
    op.create_index(
        "uq_invitations_open",
        "invitations",
        ["user_id"],
        unique=True,
        sqlite_where=open_condition,
        postgresql_where=open_condition,
    )


def upgrade() -> None:
    _rebuild(STATUSES, OPEN)
    op.create_index("ix_invitations_user_id", "invitations", ["user_id"])


def downgrade() -> None:
    # Without the status, an undecided send is a claim again (reported once it is stale).
    op.drop_index("ix_invitations_user_id", table_name="invitations")
    op.execute(sa.text("UPDATE invitations SET status = 'claimed' WHERE status = 'ambiguous'"))
    _rebuild(OLD_STATUSES, OLD_OPEN)
