"""Sync attempts per company and the summary view over them (`company_sync_status`).

A success is recorded by `sync.sync_company` inside its own transaction, so the row commits
with the data or not at all. A failure is recorded afterwards by the run-failure sensor, from the
Dagster run. Both are keyed by the run id: recording the same run again changes nothing for a
failure (a sensor tick may be replayed) and overwrites for a success (the write is the truth).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from personio_pipeline.common.redaction import redact
from personio_pipeline.common.tables import cell, format_table
from personio_pipeline.companies import connection_health, registry
from personio_pipeline.store.db import as_utc
from personio_pipeline.store.schema import ERROR_MESSAGE_LIMIT, company_sync_status, sync_runs

SUCCEEDED, FAILED = "succeeded", "failed"


@dataclass(frozen=True)
class CompanyStatus:
    """One row of `company_sync_status`."""

    consumer_id: str
    name: str
    connection_state: str
    auto_sync: bool
    first_synced_at: datetime | None
    connection_checked_at: datetime | None
    connection_changed_at: datetime | None
    offboarded_at: datetime | None
    last_success_at: datetime | None
    last_success_run_id: str | None
    last_success_employees_read: int | None
    last_success_rows_written: int | None
    last_success_counts: dict[str, dict[str, int]] | None
    last_attempt_at: datetime | None
    last_attempt_run_id: str | None
    last_attempt_status: str | None
    last_failure_at: datetime | None
    last_failure_run_id: str | None
    last_failure_step: str | None
    last_failure_error: str | None
    consecutive_failures: int

    @property
    def failing(self) -> bool:
        """The newest attempt failed (there may be an older success)."""
        return self.consecutive_failures > 0

    @property
    def daily_sync_skipped(self) -> str | None:
        """Why the daily schedule leaves this company out (and the remedy), None when it is due."""
        return connection_health.daily_sync_blocker(self)

    def as_json(self) -> dict[str, Any]:
        values = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(self).items()}
        return {**values, "daily_sync_skipped": self.daily_sync_skipped}


def record_success(
    conn: sa.Connection,
    organisation_id: int,
    run_id: str,
    *,
    finished_at: datetime,
    employees_read: int,
    rows_written: int,
    counts: dict[str, dict[str, int]],
) -> None:
    """Record a successful sync of the organisation (call inside the sync's transaction)."""
    values = {
        "status": SUCCEEDED,
        "finished_at": as_utc(finished_at),
        "employees_read": employees_read,
        "rows_written": rows_written,
        "counts": counts,
        "failed_step": None,
        "error": None,
    }
    _upsert(conn, {"organisation_id": organisation_id, "run_id": run_id, **values}, update=values)


def record_failure(
    conn: sa.Connection,
    consumer_id: str,
    run_id: str,
    *,
    finished_at: datetime,
    started_at: datetime | None = None,
    failed_step: str | None = None,
    error: str | None = None,
    secrets: tuple[str, ...] = (),
) -> bool:
    """Record a failed sync of the company; True if recorded, False if the run already has a
    row. `error` is stored without e-mail addresses, `secrets` or NUL characters, at most
    ERROR_MESSAGE_LIMIT characters. Raises `registry.UnknownCompanyError` for a company not registered."""
    company = registry.get(conn, consumer_id)
    values = {
        "organisation_id": company.id,
        "run_id": run_id,
        "status": FAILED,
        "started_at": as_utc(started_at) if started_at else None,
        "finished_at": as_utc(finished_at),
        "failed_step": _storable(failed_step)[:255] if failed_step else None,
        "error": redact(_storable(error), secrets, ERROR_MESSAGE_LIMIT) if error else None,
    }
    return _upsert(conn, values, update=None)


def _storable(text: str) -> str:
    """Without NUL characters, which PostgreSQL refuses in text (an error may quote HR data)."""
    return text.replace("\x00", "\ufffd")


def company_status(conn: sa.Connection, consumer_id: str | None = None) -> list[CompanyStatus]:
    """The summary of every company (or of one; UnknownCompanyError if it is not registered),
    companies whose newest attempt failed first, then by consumer id."""
    view = company_sync_status
    query = sa.select(*(view.c[name] for name in CompanyStatus.__dataclass_fields__))
    if consumer_id is not None:
        registry.get(conn, consumer_id)
        query = query.where(view.c.consumer_id == consumer_id)
    rows = [_from_row(row) for row in conn.execute(query)]
    return sorted(rows, key=lambda row: (not row.failing, row.consumer_id))


def attempts(conn: sa.Connection, consumer_id: str) -> list[dict[str, Any]]:
    """Every recorded attempt of the company, newest first."""
    company = registry.get(conn, consumer_id)
    query = (
        sa.select(sync_runs)
        .where(sync_runs.c.organisation_id == company.id)
        .order_by(sync_runs.c.finished_at.desc(), sync_runs.c.id.desc())
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def _upsert(conn: sa.Connection, values: dict[str, Any], update: dict[str, Any] | None) -> bool:
    """INSERT ... ON CONFLICT (organisation_id, run_id): DO UPDATE with `update`, or DO NOTHING."""
    dialect = {"postgresql": postgresql, "sqlite": sqlite}[conn.dialect.name]
    statement = dialect.insert(sync_runs).values(values)
    conflict = ["organisation_id", "run_id"]
    if update is None:
        statement = statement.on_conflict_do_nothing(index_elements=conflict)
    else:
        statement = statement.on_conflict_do_update(index_elements=conflict, set_=update)
    return conn.execute(statement.returning(sync_runs.c.id)).first() is not None


def _from_row(row: sa.Row) -> CompanyStatus:
    values = dict(row._mapping)
    for name in ("last_success_at", "last_attempt_at", "last_failure_at", "first_synced_at",
                 "connection_checked_at", "connection_changed_at", "offboarded_at"):
        if values[name] is not None:
            values[name] = as_utc(values[name])
    values["auto_sync"] = bool(values["auto_sync"])
    values["consecutive_failures"] = int(values["consecutive_failures"] or 0)
    return CompanyStatus(**values)


def format_status_table(rows: list[CompanyStatus], error_width: int = 70) -> str:
    """A plain-text table for the operator: failing companies first, marked with `!`."""
    if not rows:
        return "no companies registered; add one with `personio-pipeline tenants add ID --name NAME`"
    failing = sum(row.failing for row in rows)
    never = sum(row.last_attempt_at is None for row in rows)
    summary = f"{len(rows)} {'company' if len(rows) == 1 else 'companies'}, {failing} failing (newest attempt failed), {never} never synced"
    table = format_table(
        (
            [
                f"{'!' if row.failing else ' '} {row.consumer_id}",
                row.name,
                _state(row),
                row.last_attempt_status or "never",
                _minute(row.last_success_at),
                "-" if row.last_success_employees_read is None else row.last_success_employees_read,
                row.consecutive_failures,
                _last_failure(row, error_width),
            ]
            for row in rows
        ),
        STATUS_COLUMNS,
        right=("employees", "fails"),
    )
    skipped = [f"  {row.consumer_id}: daily sync skips it: {row.daily_sync_skipped}" for row in rows if row.daily_sync_skipped]
    return "\n".join([summary, table.rstrip("\n"), *skipped])


STATUS_COLUMNS = (
    "  consumer id", "name", "state", "last status", "last success", "employees", "fails", "last failure"
)


def _last_failure(row: CompanyStatus, width: int) -> str:
    if row.last_failure_at is None:
        return "-"
    step, error = row.last_failure_step or "(run)", " ".join((row.last_failure_error or "").split())
    return cell(f"{_minute(row.last_failure_at)} {step}: {error}", width)


def _state(row: CompanyStatus) -> str:
    return "removed" if row.offboarded_at is not None else row.connection_state


def _minute(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%MZ") if value else "never"
