"""held_back_records: people the sync holds back (quarantine) instead of stopping the company

A record that cannot be applied safely (an address shared by active people, a management
cycle) is held back on its own while the rest of the company is synced. Each such person and
problem is one open row (`released_at` NULL) until a sync finds the record fixed; the rows stay
as history. `personio-pipeline review` marks the people with an open row.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

PROBLEMS = ("duplicate_email", "management_cycle")


def upgrade() -> None:
    op.create_table(
        "held_back_records",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("organisation_id", sa.Integer, nullable=False),
        sa.Column("employee_id", sa.String(255), nullable=False),
        sa.Column("problem", sa.String(32), nullable=False),
        sa.Column("field", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.String(255)),
        sa.Column("released_at", sa.DateTime(timezone=True)),
        sa.Column("released_run_id", sa.String(255)),
        sa.CheckConstraint(sa.column("problem").in_(PROBLEMS), name=op.f("ck_held_back_records_problem_known")),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"],
                                name="fk_held_back_records_organisation_id_organisations"),
        sa.PrimaryKeyConstraint("id", name="pk_held_back_records"),
    )
    op.create_index(
        "uq_held_back_records_open",
        "held_back_records",
        ["organisation_id", "employee_id", "problem"],
        unique=True,
        sqlite_where=sa.text("released_at IS NULL"),
        postgresql_where=sa.text("released_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_held_back_records_open", table_name="held_back_records")
    op.drop_table("held_back_records")
