"""connection health and company offboarding

Reserved in the migration chain so that work on several issues can land in any order; its
upgrade is filled in by the change that needs it (a no-op until then).

Revision ID: 0008
Revises: 0007
"""

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
