"""alert bookkeeping: what the data team has been told, per company

Reserved in the migration chain so that work on several issues can land in any order; its
upgrade is filled in by the change that needs it (a no-op until then).

Revision ID: 0011
Revises: 0010
"""

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
