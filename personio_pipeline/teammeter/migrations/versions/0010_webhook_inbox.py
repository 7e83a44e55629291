"""inbox of Apideck webhook events

Reserved in the migration chain so that work on several issues can land in any order; its
upgrade is filled in by the change that needs it (a no-op until then).

Revision ID: 0010
Revises: 0009
"""

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
