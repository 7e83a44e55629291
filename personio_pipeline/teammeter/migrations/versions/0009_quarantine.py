"""records held back by the sync (quarantine)

Reserved in the migration chain so that work on several issues can land in any order; its
upgrade is filled in by the change that needs it (a no-op until then).

Revision ID: 0009
Revises: 0008
"""

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
