"""the store: users, units, teams, roles, their dated links, invitations outbox, change log

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SOURCES = ("hr", "teammeter")
OPEN_LINK = sa.text("ended_at IS NULL")
OPEN_INVITATION = sa.text("status IN ('pending', 'claimed')")


def _id_and_organisation(table: str) -> list:
    return [
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("organisation_id", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_" + table),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name="fk_" + table + "_organisation_id_organisations"
        ),
    ]


def _check(table: str, name: str, condition) -> sa.CheckConstraint:
    """op.f: the name is final, so the metadata's naming convention does not prefix it again."""
    return sa.CheckConstraint(condition, name=op.f("ck_" + table + "_" + name))


def _timestamps() -> list:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
        sa.Column("deactivated_at", sa.DateTime(timezone=True)),
    ]


def _structure(table: str, key: str, *extra) -> None:
    op.create_table(
        table,
        *_id_and_organisation(table),
        sa.Column(key, sa.String(255)),
        sa.Column("name", sa.String(255), nullable=False),
        *extra,
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        *_timestamps(),
        sa.UniqueConstraint("organisation_id", key, name="uq_" + table + "_organisation_id_" + key),
        _check(table, "source_known", sa.column("source").in_(SOURCES)),
        _check(table, "hr_rows_keyed", sa.or_(sa.column("source") == "teammeter", sa.column(key).is_not(None))),
    )


def _link(table: str, left: tuple[str, str], right: tuple[str, str], *extra) -> None:
    op.create_table(
        table,
        *_id_and_organisation(table),
        sa.Column(left[0], sa.Integer, nullable=False),
        sa.Column(right[0], sa.Integer, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.ForeignKeyConstraint([left[0]], [left[1] + ".id"], name="fk_" + table + "_" + left[0] + "_" + left[1]),
        sa.ForeignKeyConstraint([right[0]], [right[1] + ".id"], name="fk_" + table + "_" + right[0] + "_" + right[1]),
        _check(table, "source_known", sa.column("source").in_(SOURCES)),
        *extra,
    )
    op.create_index("ix_" + table + "_organisation_id", table, ["organisation_id"])
    op.create_index(
        "uq_" + table + "_open",
        table,
        [left[0], right[0], "source"],
        unique=True,
        sqlite_where=OPEN_LINK,
        postgresql_where=OPEN_LINK,
    )


def upgrade() -> None:
    op.add_column("organisations", sa.Column("max_deactivation_share", sa.Float))
    _structure("units", "unit_key")
    _structure(
        "teams",
        "team_key",
        sa.Column("unit_id", sa.Integer),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name="fk_teams_unit_id_units"),
    )
    _structure("roles", "role_key")
    op.create_table(
        "users",
        *_id_and_organisation("users"),
        sa.Column("employee_id", sa.String(255), nullable=False),
        sa.Column("display_name", sa.String(255), nullable=False),
        sa.Column("first_name", sa.String(255)),
        sa.Column("last_name", sa.String(255)),
        sa.Column("unit_id", sa.Integer),
        sa.Column("email", sa.String(320)),
        sa.Column("email_source", sa.String(16)),
        sa.Column("hr_email", sa.String(320)),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("has_access", sa.Boolean, nullable=False, server_default=sa.false()),
        *_timestamps(),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name="fk_users_unit_id_units"),
        sa.UniqueConstraint("organisation_id", "employee_id", name="uq_users_organisation_id_employee_id"),
        _check("users", "email_source_known", sa.column("email_source").in_(SOURCES)),
    )
    _link("team_memberships", ("team_id", "teams"), ("user_id", "users"))
    _link("user_roles", ("user_id", "users"), ("role_id", "roles"))
    _link(
        "reporting_lines",
        ("user_id", "users"),
        ("manager_user_id", "users"),
        _check("reporting_lines", "not_self", sa.column("user_id") != sa.column("manager_user_id")),
    )
    op.create_table(
        "invitations",
        *_id_and_organisation("invitations"),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("token_hash", sa.String(128)),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Column("claimed_at", sa.DateTime(timezone=True)),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_invitations_user_id_users"),
        _check("invitations", "status_known", sa.column("status").in_(("pending", "claimed", "sent", "failed"))),
    )
    op.create_index("ix_invitations_organisation_id_status", "invitations", ["organisation_id", "status"])
    op.create_index(
        "uq_invitations_open",
        "invitations",
        ["user_id"],
        unique=True,
        sqlite_where=OPEN_INVITATION,
        postgresql_where=OPEN_INVITATION,
    )
    op.create_table(
        "change_log",
        *_id_and_organisation("change_log"),
        sa.Column("run_id", sa.String(255)),
        sa.Column("entity", sa.String(32), nullable=False),
        sa.Column("entity_key", sa.String(600), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("before", sa.JSON),
        sa.Column("after", sa.JSON),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_change_log_organisation_id_run_id", "change_log", ["organisation_id", "run_id"])


def downgrade() -> None:
    for table in (
        "change_log",
        "invitations",
        "reporting_lines",
        "user_roles",
        "team_memberships",
        "users",
        "roles",
        "teams",
        "units",
    ):
        op.drop_table(table)
    with op.batch_alter_table("organisations") as batch:
        batch.drop_column("max_deactivation_share")
