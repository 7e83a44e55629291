"""alerted_people: who the data team has been told about, per company and check

The missing-email alert tells the data team about each person once. That memory lived in the
sensor's cursor, a JSON blob that grew with every company; here it is a table: one open row per
person currently reported and already alerted, closed (`cleared_at`) when a later check result no
longer reports them, so a problem that comes back is alerted again and the history stays.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

OPEN = sa.text("cleared_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "alerted_people",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("organisation_id", sa.Integer, nullable=False),
        sa.Column("check_name", sa.String(64), nullable=False),
        sa.Column("employee_id", sa.String(255), nullable=False),
        sa.Column("alerted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True)),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name="fk_alerted_people_organisation_id_organisations"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_alerted_people"),
    )
    op.create_index(
        "uq_alerted_people_open",
        "alerted_people",
        ["organisation_id", "check_name", "employee_id"],
        unique=True,
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )


def downgrade() -> None:
    op.drop_index("uq_alerted_people_open", table_name="alerted_people")
    op.drop_table("alerted_people")
