"""sync_runs: one row per sync attempt of a company; company_sync_status: the summary per company

Until now the store knew only when a company was last synced; failures lived in Dagster alone.
`sync_runs` records each attempt (a success inside the sync's own transaction, a failure from the
run-failure sensor), one row per Dagster run id. The view answers "how is each company doing?"
in plain SQL: last success and its counts, last attempt, last failure, and how many attempts have
failed since the last success. Written in SQL that SQLite and PostgreSQL both run.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

STATUSES = ("succeeded", "failed")


# Literal SQL (no composition): the newest attempt overall, the newest success and the newest
# failure per organisation, each by (finished_at, id).
VIEW = """
CREATE VIEW company_sync_status AS
SELECT
    o.id AS organisation_id,
    o.consumer_id AS consumer_id,
    o.name AS name,
    o.connection_state AS connection_state,
    o.auto_sync AS auto_sync,
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


def upgrade() -> None:
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("organisation_id", sa.Integer, nullable=False),
        sa.Column("run_id", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("employees_read", sa.Integer),
        sa.Column("rows_written", sa.Integer),
        sa.Column("counts", sa.JSON),
        sa.Column("failed_step", sa.String(255)),
        sa.Column("error", sa.Text),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_sync_runs"),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name="fk_sync_runs_organisation_id_organisations"
        ),
        sa.UniqueConstraint("organisation_id", "run_id", name="uq_sync_runs_organisation_id_run_id"),
        sa.CheckConstraint(sa.column("status").in_(STATUSES), name=op.f("ck_sync_runs_status_known")),
    )
    op.create_index(
        "ix_sync_runs_organisation_id_status_finished_at", "sync_runs", ["organisation_id", "status", "finished_at"]
    )
    op.execute(sa.text(VIEW))
    # Companies synced before this migration start with their last known success (no counts).
    op.execute(
        sa.text(
            "INSERT INTO sync_runs (organisation_id, run_id, status, finished_at) "
            "SELECT id, 'before-sync-runs', 'succeeded', last_synced_at FROM organisations "
            "WHERE last_synced_at IS NOT NULL"
        )
    )


def downgrade() -> None:
    op.execute(sa.text("DROP VIEW company_sync_status"))
    op.drop_index("ix_sync_runs_organisation_id_status_finished_at", table_name="sync_runs")
    op.drop_table("sync_runs")
