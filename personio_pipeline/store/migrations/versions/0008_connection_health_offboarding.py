"""connection health, offboarding and change-log retention

- organisations: when Vault was last asked about the connection (`connection_checked_at`), when
  its state last changed (`connection_changed_at`), which problem state the data team was alerted
  about (`connection_alerted_state`, so each problem is alerted once), and when the company was
  removed from the pipeline (`offboarded_at`).
- company_offboardings: who removed a company, when, and what was deleted.
- change_log.personal_data_removed_at: when retention stripped names and addresses from the
  entry's before/after; a partial index finds the user entries still to strip.
- company_sync_status: recreated with the connection and offboarding columns.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

RETENTION_INDEX = "ix_change_log_personal_data_due"
UNSTRIPPED_USER_ENTRIES = sa.text("entity = 'user' AND personal_data_removed_at IS NULL")

# Literal SQL, as in 0004: the newest attempt overall, the newest success and the newest
# failure per organisation, each by (finished_at, id); {extra} adds the columns of this revision.
VIEW = """
CREATE VIEW company_sync_status AS
SELECT
    o.id AS organisation_id,
    o.consumer_id AS consumer_id,
    o.name AS name,
    o.connection_state AS connection_state,
    o.auto_sync AS auto_sync,{extra}
    s.finished_at AS last_success_at,
    s.run_id AS last_success_run_id,
    s.employees_read AS last_success_employees_read,
    s.rows_written AS last_success_rows_written,
    s.counts AS last_success_counts,
    a.finished_at AS last_attempt_at,
    a.run_id AS last_attempt_run_id,
    a.status AS last_attempt_status,
    f.finished_at AS last_failure_at,
    f.run_id AS last_failure_run_id,
    f.failed_step AS last_failure_step,
    f.error AS last_failure_error,
    (SELECT COUNT(*) FROM sync_runs c
      WHERE c.organisation_id = o.id AND c.status = 'failed'
        AND (s.id IS NULL OR c.finished_at > s.finished_at
             OR (c.finished_at = s.finished_at AND c.id > s.id))) AS consecutive_failures
FROM organisations o
LEFT JOIN sync_runs s ON s.id = (
    SELECT r.id FROM sync_runs r WHERE r.organisation_id = o.id AND r.status = 'succeeded'
    ORDER BY r.finished_at DESC, r.id DESC LIMIT 1)
LEFT JOIN sync_runs a ON a.id = (
    SELECT r.id FROM sync_runs r WHERE r.organisation_id = o.id
    ORDER BY r.finished_at DESC, r.id DESC LIMIT 1)
LEFT JOIN sync_runs f ON f.id = (
    SELECT r.id FROM sync_runs r WHERE r.organisation_id = o.id AND r.status = 'failed'
    ORDER BY r.finished_at DESC, r.id DESC LIMIT 1)
"""
EXTRA_COLUMNS = """
    o.first_synced_at AS first_synced_at,
    o.connection_checked_at AS connection_checked_at,
    o.connection_changed_at AS connection_changed_at,
    o.offboarded_at AS offboarded_at,"""


def upgrade() -> None:
    op.execute(sa.text("DROP VIEW company_sync_status"))
    op.add_column("organisations", sa.Column("connection_checked_at", sa.DateTime(timezone=True)))
    op.add_column("organisations", sa.Column("connection_changed_at", sa.DateTime(timezone=True)))
    op.add_column("organisations", sa.Column("connection_alerted_state", sa.String(32)))
    op.add_column("organisations", sa.Column("offboarded_at", sa.DateTime(timezone=True)))
    op.add_column("change_log", sa.Column("personal_data_removed_at", sa.DateTime(timezone=True)))
    op.create_index(
        RETENTION_INDEX,
        "change_log",
        ["at"],
        sqlite_where=UNSTRIPPED_USER_ENTRIES,
        postgresql_where=UNSTRIPPED_USER_ENTRIES,
    )
    op.create_table(
        "company_offboardings",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("organisation_id", sa.Integer, nullable=False),
        sa.Column("consumer_id", sa.String(255), nullable=False),
        sa.Column("requested_by", sa.String(255), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("purge_people", sa.Boolean, nullable=False),
        sa.Column("report", sa.JSON),
        sa.PrimaryKeyConstraint("id", name="pk_company_offboardings"),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name="fk_company_offboardings_organisation_id_organisations"
        ),
    )
    op.create_index("ix_company_offboardings_organisation_id", "company_offboardings", ["organisation_id"])
    op.execute(sa.text(VIEW.format(extra=EXTRA_COLUMNS)))


def downgrade() -> None:
    op.execute(sa.text("DROP VIEW company_sync_status"))
    op.drop_index("ix_company_offboardings_organisation_id", table_name="company_offboardings")
    op.drop_table("company_offboardings")
    op.drop_index(RETENTION_INDEX, table_name="change_log")
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+), as in 0005: a batch copy would rebuild
    # tables other objects depend on.
    op.execute(sa.text("ALTER TABLE change_log DROP COLUMN personal_data_removed_at"))
    op.execute(sa.text("ALTER TABLE organisations DROP COLUMN offboarded_at"))
    op.execute(sa.text("ALTER TABLE organisations DROP COLUMN connection_alerted_state"))
    op.execute(sa.text("ALTER TABLE organisations DROP COLUMN connection_changed_at"))
    op.execute(sa.text("ALTER TABLE organisations DROP COLUMN connection_checked_at"))
    op.execute(sa.text(VIEW.format(extra="")))
