"""Teammeter tables (SQLAlchemy Core). Alembic migrations in `migrations/` create them.

Every row belongs to one organisation; external ids are unique per organisation, so two
companies can both have employee "1". Rows the sync manages carry `source` ('hr' or
'teammeter', see `ownership.py`): the sync only ever changes 'hr' rows. Nothing is deleted:
people and structures are deactivated, links (memberships, role assignments, reporting lines)
get `ended_at`, so history stays.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

organisations = sa.Table(
    "organisations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("consumer_id", sa.String(255), nullable=False, unique=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("service_id", sa.String(64), nullable=False, server_default="personio"),
    sa.Column("connection_state", sa.String(32), nullable=False, server_default="registered"),
    sa.Column("auto_sync", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("first_synced_at", sa.DateTime(timezone=True)),
    sa.Column("last_synced_at", sa.DateTime(timezone=True)),
    sa.Column("verified_at", sa.DateTime(timezone=True)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    # Share of active users one run may deactivate before the safeguard refuses; None = default.
    sa.Column("max_deactivation_share", sa.Float),
    # What the last committed sync applied; NULL = unknown, the next sync diffs in full.
    sa.Column("synced_model_fingerprint", sa.String(64)),
    sa.Column("synced_store_signature", sa.String(64)),
    sa.Column("synced_diffed_at", sa.DateTime(timezone=True)),
    # Connection health (migration 0008): the last Vault check, the last change of
    # connection_state, the problem state the data team was alerted about (each once).
    sa.Column("connection_checked_at", sa.DateTime(timezone=True)),
    sa.Column("connection_changed_at", sa.DateTime(timezone=True)),
    sa.Column("connection_alerted_state", sa.String(32)),
    # Set by `personio-pipeline tenants remove`: never synced again (see offboarding.py).
    sa.Column("offboarded_at", sa.DateTime(timezone=True)),
    # Pre-hires get access this many days before their start date (migration 0012).
    sa.Column("pre_start_days", sa.Integer, nullable=False, server_default="0"),
    # The departments and teams a rollout covers, JSON include lists; NULL: everyone (scope.py).
    sa.Column("scope", sa.Text),
    # Migration 0013: what a sync does with an unknown HR status ('keep' | 'deactivate'), and the
    # company's own clock: its time zone (NULL: UTC) and the hour of its daily sync (NULL: default).
    sa.Column("unknown_status", sa.String(16), nullable=False, server_default="keep"),
    sa.Column("timezone", sa.String(64)),
    sa.Column("sync_hour", sa.Integer),
)


SOURCES = ("hr", "teammeter")
INVITATION_STATUSES = ("pending", "claimed", "sent", "failed", "ambiguous")


def _organisation_id(*, referenced: bool = True) -> sa.Column:
    """The owning company. Links and the change log hold a copy of their owner's without a
    foreign key: it spared PostgreSQL one referential check per row (migration 0006)."""
    if not referenced:
        return sa.Column("organisation_id", sa.Integer, nullable=False)
    return sa.Column("organisation_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False)


def _source() -> sa.Column:
    return sa.Column("source", sa.String(16), nullable=False)


def _one_of(column: sa.Column, values: tuple[str, ...], name: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(column.in_(values), name=name)


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
        sa.Column("deactivated_at", sa.DateTime(timezone=True)),
    ]


def _structure(name: str, key_name: str, *extra: sa.Column) -> sa.Table:
    """Units, teams and roles: HR rows carry the model's stable key, Teammeter-made rows none."""
    key, source = sa.Column(key_name, sa.String(255)), _source()
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        _organisation_id(),
        key,
        sa.Column("name", sa.String(255), nullable=False),
        *extra,
        source,
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        *_timestamps(),
        sa.UniqueConstraint("organisation_id", key_name),
        _one_of(source, SOURCES, "source_known"),
        sa.CheckConstraint(sa.or_(source == "teammeter", key.is_not(None)), name="hr_rows_keyed"),
    )


def _link(name: str, left: tuple[str, str], right: tuple[str, str]) -> sa.Table:
    """A dated link (column, referenced table) pairs; at most one open link per pair and source."""
    source = _source()
    open_link = sa.text("ended_at IS NULL")
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        _organisation_id(referenced=False),
        sa.Column(left[0], sa.Integer, sa.ForeignKey(left[1] + ".id"), nullable=False),
        sa.Column(right[0], sa.Integer, sa.ForeignKey(right[1] + ".id"), nullable=False),
        source,
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        _one_of(source, SOURCES, "source_known"),
        sa.Index("ix_" + name + "_organisation_id", "organisation_id"),
        sa.Index(
            "uq_" + name + "_open",
            left[0],
            right[0],
            "source",
            unique=True,
            sqlite_where=open_link,
            postgresql_where=open_link,
        ),
    )


units = _structure("units", "unit_key")
teams = _structure("teams", "team_key", sa.Column("unit_id", sa.Integer, sa.ForeignKey("units.id")))
roles = _structure("roles", "role_key")

_email_source = sa.Column("email_source", sa.String(16))
ORIGINS = ("hr", "teammeter")
LINKED_BY = ("address", "rehire")
_origin = sa.Column("origin", sa.String(16), nullable=False, server_default="hr")
_linked_by = sa.Column("linked_by", sa.String(16))
users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _organisation_id(),
    # NULL: an account outside HR (a coach, someone added in Teammeter), migration 0012.
    sa.Column("employee_id", sa.String(255)),
    sa.Column("display_name", sa.String(255), nullable=False),
    sa.Column("first_name", sa.String(255)),
    sa.Column("last_name", sa.String(255)),
    sa.Column("unit_id", sa.Integer, sa.ForeignKey("units.id")),
    # The login address, who set it, and the last address HR sent (to log each conflict once).
    sa.Column("email", sa.String(320)),
    _email_source,
    sa.Column("hr_email", sa.String(320)),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("has_access", sa.Boolean, nullable=False, server_default=sa.false()),
    # Where the account was made, whether its person has signed in, how the sync linked it.
    _origin,
    sa.Column("registered", sa.Boolean, nullable=False, server_default=sa.false()),
    _linked_by,
    sa.Column("linked_at", sa.DateTime(timezone=True)),
    # The HR start date and status ('active' | 'unknown' | 'out_of_scope'), migration 0013: pre-hires,
    # people kept on an unknown status, people who left the scope; NULL for accounts outside HR.
    sa.Column("starts_on", sa.Date),
    sa.Column("hr_status", sa.String(16)),
    *_timestamps(),
    sa.UniqueConstraint("organisation_id", "employee_id"),
    _one_of(_email_source, SOURCES, "email_source_known"),
    _one_of(_origin, ORIGINS, "origin_known"),
    _one_of(_linked_by, LINKED_BY, "linked_by_known"),
)

team_memberships = _link("team_memberships", ("team_id", "teams"), ("user_id", "users"))
user_roles = _link("user_roles", ("user_id", "users"), ("role_id", "roles"))
reporting_lines = _link("reporting_lines", ("user_id", "users"), ("manager_user_id", "users"))
reporting_lines.append_constraint(
    sa.CheckConstraint(reporting_lines.c.user_id != reporting_lines.c.manager_user_id, name="not_self")
)

_status = sa.Column("status", sa.String(16), nullable=False, server_default="pending")
invitations = sa.Table(
    "invitations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _organisation_id(),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("token_hash", sa.String(128)),
    _status,
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text),
    sa.Column("failure_reason", sa.String(64)),  # why not (yet) sent, see migration 0007
    sa.Column("claimed_at", sa.DateTime(timezone=True)),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    _one_of(_status, INVITATION_STATUSES, "status_known"),
    sa.Index("ix_invitations_organisation_id_status", "organisation_id", "status"),
    sa.Index("ix_invitations_user_id", "user_id"),
    # An invitation is open until it is sent or has failed for good ('ambiguous' waits for an
    # operator's decision, see personio_pipeline.invitations.outbox): one open per user.
    sa.Index(
        "uq_invitations_open",
        "user_id",
        unique=True,
        sqlite_where=sa.text("status IN ('pending', 'claimed', 'ambiguous')"),
        postgresql_where=sa.text("status IN ('pending', 'claimed', 'ambiguous')"),
    ),
)

change_log = sa.Table(
    "change_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _organisation_id(referenced=False),
    sa.Column("run_id", sa.String(255)),
    sa.Column("entity", sa.String(32), nullable=False),
    sa.Column("entity_key", sa.String(600), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("before", sa.JSON),
    sa.Column("after", sa.JSON),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    # When retention removed names and addresses from before/after (store/retention.py).
    sa.Column("personal_data_removed_at", sa.DateTime(timezone=True)),
    sa.Index("ix_change_log_organisation_id_run_id", "organisation_id", "run_id"),
    sa.Index(
        "ix_change_log_personal_data_due",
        "at",
        sqlite_where=sa.text("entity = 'user' AND personal_data_removed_at IS NULL"),
        postgresql_where=sa.text("entity = 'user' AND personal_data_removed_at IS NULL"),
    ),
)

# Who removed a company from the pipeline, when, and what was deleted (migration 0008).
company_offboardings = sa.Table(
    "company_offboardings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _organisation_id(),
    sa.Column("consumer_id", sa.String(255), nullable=False),
    sa.Column("requested_by", sa.String(255), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),  # NULL: interrupted, `tenants remove` again
    sa.Column("purge_people", sa.Boolean, nullable=False),
    sa.Column("report", sa.JSON),  # what was removed: partition, runs, files per kind, rows per table
    sa.Index("ix_company_offboardings_organisation_id", "organisation_id"),
)

# -- held back: people the sync holds back (migration 0009) ------------------------------------

# The model's problems (org/held_back.py), then the sync's: an HR person it could not link with
# certainty to an account Teammeter already has (store/linking.py, migration 0012).
HELD_BACK_PROBLEMS = ("duplicate_email", "management_cycle", "several_accounts_with_address",
                      "address_of_another_hr_account")

_problem = sa.Column("problem", sa.String(32), nullable=False)
held_back_records = sa.Table(
    "held_back_records",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _organisation_id(),
    sa.Column("employee_id", sa.String(255), nullable=False),
    _problem,
    sa.Column("field", sa.String(32), nullable=False),  # the HR field to fix: email | manager
    sa.Column("detail", sa.Text),  # who else is involved (ids, a cycle), never an address
    sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("run_id", sa.String(255)),  # the sync that first held it back
    sa.Column("released_at", sa.DateTime(timezone=True)),  # NULL while held back
    sa.Column("released_run_id", sa.String(255)),
    _one_of(_problem, HELD_BACK_PROBLEMS, "problem_known"),
    # One open record per person and problem; released ones stay as history.
    sa.Index(
        "uq_held_back_records_open",
        "organisation_id",
        "employee_id",
        "problem",
        unique=True,
        sqlite_where=sa.text("released_at IS NULL"),
        postgresql_where=sa.text("released_at IS NULL"),
    ),
)

# -- observability: one row per sync attempt of a company, and the per-company summary view ----

SYNC_RUN_STATUSES = ("succeeded", "failed")
ERROR_MESSAGE_LIMIT = 2000

_sync_status = sa.Column("status", sa.String(16), nullable=False)
sync_runs = sa.Table(
    "sync_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _organisation_id(),
    # The Dagster run id: one row per run, so a replayed sensor tick cannot add a second one.
    sa.Column("run_id", sa.String(255), nullable=False),
    _sync_status,
    # When the Dagster run started, when known (failures, from the run record). A success is
    # recorded inside the Teammeter write, which does not know it.
    sa.Column("started_at", sa.DateTime(timezone=True)),
    # When the outcome happened: the sync time of a success (= organisations.last_synced_at),
    # the end of the run for a failure.
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("employees_read", sa.Integer),
    sa.Column("rows_written", sa.Integer),
    sa.Column("counts", sa.JSON),  # entity -> action -> changes (SyncResult.counts)
    sa.Column("failed_step", sa.String(255)),
    sa.Column("error", sa.Text),  # redacted: no e-mail addresses or secrets, ≤ ERROR_MESSAGE_LIMIT
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.UniqueConstraint("organisation_id", "run_id"),
    _one_of(_sync_status, SYNC_RUN_STATUSES, "status_known"),
    sa.Index("ix_sync_runs_organisation_id_status_finished_at", "organisation_id", "status", "finished_at"),
)

# A view (created by migration 0004, recreated by 0008; not by this metadata): one row per organisation.
company_sync_status = sa.table(
    "company_sync_status",
    sa.column("organisation_id", sa.Integer),
    sa.column("consumer_id", sa.String),
    sa.column("name", sa.String),
    sa.column("connection_state", sa.String),
    sa.column("auto_sync", sa.Boolean),
    sa.column("first_synced_at", sa.DateTime(timezone=True)),
    sa.column("connection_checked_at", sa.DateTime(timezone=True)),
    sa.column("connection_changed_at", sa.DateTime(timezone=True)),
    sa.column("offboarded_at", sa.DateTime(timezone=True)),
    sa.column("last_success_at", sa.DateTime(timezone=True)),
    sa.column("last_success_run_id", sa.String),
    sa.column("last_success_employees_read", sa.Integer),
    sa.column("last_success_rows_written", sa.Integer),
    sa.column("last_success_counts", sa.JSON),
    sa.column("last_attempt_at", sa.DateTime(timezone=True)),
    sa.column("last_attempt_run_id", sa.String),
    sa.column("last_attempt_status", sa.String),
    sa.column("last_failure_at", sa.DateTime(timezone=True)),
    sa.column("last_failure_run_id", sa.String),
    sa.column("last_failure_step", sa.String),
    sa.column("last_failure_error", sa.Text),
    sa.column("consecutive_failures", sa.Integer),
)

# -- alert bookkeeping: who the data team has been told about (see alert_log.py) -------------------

_open_alert = sa.text("cleared_at IS NULL")
alerted_people = sa.Table(
    "alerted_people",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _organisation_id(),
    sa.Column("check_name", sa.String(64), nullable=False),  # the asset check that reported them
    # The HR id as the check reported it, or a digest when it cannot be stored (alert_log.person_key).
    sa.Column("employee_id", sa.String(255), nullable=False),
    sa.Column("alerted_at", sa.DateTime(timezone=True), nullable=False),
    # When a later result no longer reported them; a new problem after that is alerted again.
    sa.Column("cleared_at", sa.DateTime(timezone=True)),
    sa.Index(
        "uq_alerted_people_open",
        "organisation_id",
        "check_name",
        "employee_id",
        unique=True,
        sqlite_where=_open_alert,
        postgresql_where=_open_alert,
    ),
)

# -- webhook inbox: each signed Apideck event once, and what became of it (migration 0010) -----

WEBHOOK_EVENT_STATUSES = ("pending", "handled", "ignored")

_webhook_status = sa.Column("status", sa.String(16), nullable=False, server_default="pending")
webhook_events = sa.Table(
    "webhook_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    # Apideck's x-apideck-idempotency-key: a redelivered event is the same row, never a second.
    sa.Column("idempotency_key", sa.String(255), nullable=False, unique=True),
    sa.Column("event_id", sa.String(255)),
    sa.Column("event_type", sa.String(64), nullable=False),
    # As the event named it; organisation_id only when Teammeter knew the company on receipt.
    sa.Column("consumer_id", sa.String(255)),
    sa.Column("organisation_id", sa.Integer, sa.ForeignKey("organisations.id")),
    sa.Column("service_id", sa.String(64)),
    sa.Column("entity_id", sa.String(255)),  # the HR id of the employee, or the Vault connection id
    sa.Column("connection_state", sa.String(32)),  # vault.connection.*: the state the event reports
    sa.Column("occurred_at", sa.DateTime(timezone=True)),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    _webhook_status,
    sa.Column("ignored_reason", sa.String(64)),
    sa.Column("handled_at", sa.DateTime(timezone=True)),
    sa.Column("run_key", sa.String(255)),  # the sync run requested for the event (its batch)
    _one_of(_webhook_status, WEBHOOK_EVENT_STATUSES, "status_known"),
    sa.Index("ix_webhook_events_status_organisation_id", "status", "organisation_id"),
)
