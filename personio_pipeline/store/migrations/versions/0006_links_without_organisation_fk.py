"""links and change_log: organisation_id without a foreign key

`organisation_id` on memberships, role assignments, reporting lines and the change log is a copy
of the owner's (their users, teams and roles carry the foreign key, and organisations are never
deleted): it is there so that per-company queries need no join. Its foreign key made PostgreSQL
run a referential check per inserted row: on PostgreSQL, `sync_company` of 100,000 people into an
empty store took 12.1 s with these keys and 9.6 s without (the Teammeter step of `bench/run.py`:
11.5 s at 1757659, 8.7 s after). The foreign keys to users, teams and roles
stay.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

LINKS = {  # table -> columns of its open-link unique index
    "team_memberships": ("team_id", "user_id"),
    "user_roles": ("user_id", "role_id"),
    "reporting_lines": ("user_id", "manager_user_id"),
}
TABLES = (*LINKS, "change_log")
OPEN_LINK = sa.text("ended_at IS NULL")


def _foreign_key(table: str) -> str:
    return f"fk_{table}_organisation_id_organisations"


def upgrade() -> None:
    for table in TABLES:
        if op.get_context().dialect.name == "sqlite":
            _rebuild_on_sqlite(table, lambda batch, t=table: batch.drop_constraint(_foreign_key(t), type_="foreignkey"))
        else:
            op.drop_constraint(_foreign_key(table), table, type_="foreignkey")


def downgrade() -> None:
    for table in TABLES:
        if op.get_context().dialect.name == "sqlite":
            _rebuild_on_sqlite(
                table,
                lambda batch, t=table: batch.create_foreign_key(_foreign_key(t), "organisations", ["organisation_id"], ["id"]),
            )
        else:
            op.create_foreign_key(_foreign_key(table), table, "organisations", ["organisation_id"], ["id"])


def _rebuild_on_sqlite(table: str, change) -> None:
    """SQLite changes foreign keys by copying the table, which would lose the WHERE of the
    partial open-link index: drop it first, make it again afterwards."""
    if table in LINKS:
        op.drop_index(f"uq_{table}_open", table_name=table)
    with op.batch_alter_table(table, recreate="always") as batch:
        change(batch)
    if table in LINKS:
        op.create_index(
            f"uq_{table}_open",
            table,
            [*LINKS[table], "source"],
            unique=True,
            sqlite_where=OPEN_LINK,
            postgresql_where=OPEN_LINK,
        )
