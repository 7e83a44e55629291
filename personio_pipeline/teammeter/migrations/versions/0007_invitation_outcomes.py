"""invitation outcomes: failure reasons and recipient-level results

Reserved in the migration chain so that work on several issues can land in any order; its
upgrade is filled in by the change that needs it (a no-op until then).

Revision ID: 0007
Revises: 0006
"""

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
