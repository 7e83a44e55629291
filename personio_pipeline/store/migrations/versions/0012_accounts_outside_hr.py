"""users: accounts Teammeter has without an HR id (coaches, people added by hand, accounts from
before the connection), and how an account came to be linked to an HR person

- `employee_id` may be NULL: an account outside HR. The sync never changes, deactivates or invites
  it, and links it to an HR person whose address equals its own (normal form) — exactly one
  candidate (see `store/linking.py`).
- `origin`: where the account was made, 'hr' (by the sync) or 'teammeter' (by Teammeter). Every
  existing user was made by the sync: 'hr'.
- `registered`: the person has signed in already; a registered account is never invited.
- `linked_by` ('address' | 'rehire') and `linked_at`: how and when the sync linked an existing
  account to an HR id; NULL for accounts the sync made.

- `organisations.pre_start_days`: a pre-hire (an active person whose start date lies ahead) gets
  access on the start date minus these days; until then the account exists without access.
- `organisations.scope`: the departments and teams a rollout covers (JSON include lists, NULL for
  everyone), see `companies/scope.py`.
- `held_back_records.problem` may also be `several_accounts_with_address` or
  `address_of_another_hr_account`: an HR person the sync could not link with certainty.

SQLite cannot drop a NOT NULL in place: the table is copied (batch mode) with foreign-key
enforcement off for the copy (env.py), and `PRAGMA foreign_key_check` runs afterwards.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.alter_column("employee_id", existing_type=sa.String(255), nullable=True)
        batch.add_column(sa.Column("origin", sa.String(16), nullable=False, server_default="hr"))
        batch.add_column(sa.Column("registered", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("linked_by", sa.String(16)))
        batch.add_column(sa.Column("linked_at", sa.DateTime(timezone=True)))
        batch.create_check_constraint(op.f("ck_users_origin_known"), sa.text("origin IN ('hr', 'teammeter')"))
        batch.create_check_constraint(op.f("ck_users_linked_by_known"), sa.text("linked_by IN ('address', 'rehire')"))
    _held_back_problems(PROBLEMS + LINKING_PROBLEMS)
    op.add_column("organisations", sa.Column("pre_start_days", sa.Integer, nullable=False, server_default="0"))
    op.add_column("organisations", sa.Column("scope", sa.Text))
    _check_foreign_keys()


def downgrade() -> None:
    bind = op.get_bind()
    outside = bind.execute(sa.text("SELECT COUNT(*) FROM users WHERE employee_id IS NULL")).scalar()
    if outside:
        raise RuntimeError(f"{outside} accounts have no HR id; this revision cannot hold them. Remove them first.")
    linking_held = bind.execute(sa.text("SELECT COUNT(*) FROM held_back_records WHERE problem IN "
                                        "('several_accounts_with_address', 'address_of_another_hr_account')")).scalar()
    if linking_held:
        raise RuntimeError(f"{linking_held} held-back records name a linking problem; this revision cannot hold them.")
    _held_back_problems(PROBLEMS)
    # Not batch mode: a copy of `organisations` would break the view company_sync_status on SQLite
    # (ALTER TABLE … DROP COLUMN is native since SQLite 3.35).
    op.drop_column("organisations", "scope")
    op.drop_column("organisations", "pre_start_days")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(op.f("ck_users_linked_by_known"), type_="check")
        batch.drop_constraint(op.f("ck_users_origin_known"), type_="check")
        batch.drop_column("linked_at")
        batch.drop_column("linked_by")
        batch.drop_column("registered")
        batch.drop_column("origin")
        batch.alter_column("employee_id", existing_type=sa.String(255), nullable=False)
    _check_foreign_keys()


PROBLEMS = ("duplicate_email", "management_cycle")
LINKING_PROBLEMS = ("several_accounts_with_address", "address_of_another_hr_account")
OPEN = sa.text("released_at IS NULL")


def _held_back_problems(problems: tuple[str, ...]) -> None:
    # SQLite's batch mode copies the table and would lose the partial unique index's WHERE.
    op.drop_index("uq_held_back_records_open", table_name="held_back_records")
    with op.batch_alter_table("held_back_records") as batch:
        batch.drop_constraint(op.f("ck_held_back_records_problem_known"), type_="check")
        batch.create_check_constraint(op.f("ck_held_back_records_problem_known"), sa.column("problem").in_(problems))
    op.create_index("uq_held_back_records_open", "held_back_records", ["organisation_id", "employee_id", "problem"],
                    unique=True, sqlite_where=OPEN, postgresql_where=OPEN)


def _check_foreign_keys() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        broken = bind.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            raise RuntimeError(f"the users table copy broke {len(broken)} foreign keys: {broken[:5]}")
