"""The Teammeter database: `db` (schema migrations: the deploy step) and `retention` (strip
personal values from old change-log entries, as the daily `change_log_retention` job does).

Imports of SQLAlchemy and the store are inside the commands (deliberately lazy, see `context.py`).
"""

from __future__ import annotations

import sys

import click

from personio_pipeline.cli import context
from personio_pipeline.common import settings


@click.group()
def db() -> None:
    """The Teammeter database's schema (Alembic migrations)."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Migrate the Teammeter database to this code's revision: the deploy step (Helm hook, init
    container, `make prod-local`). Safe to start from several processes at once (PostgreSQL
    advisory lock)."""
    from personio_pipeline.store.db import create_engine, current_revision, head_revision, migrate

    url = settings.teammeter_database_url()
    engine = create_engine(url)
    try:
        before = migrate(engine)
        after = current_revision(engine)
    finally:
        engine.dispose()
    where = settings.printable_url(url)
    if before == after:
        click.echo(f"{where}: at revision {after} (this code's head {head_revision()}), nothing to do")
    else:
        click.echo(f"{where}: upgraded from {before or 'an empty database'} to revision {after}")


@db.command("current")
def db_current() -> None:
    """Print the database's revision and this code's; exit 1 when they differ."""
    from personio_pipeline.store.db import create_engine, current_revision, head_revision

    engine = create_engine(settings.teammeter_database_url())
    try:
        current = current_revision(engine)
    finally:
        engine.dispose()
    head = head_revision()
    click.echo(f"database {current or '(empty)'}, code {head}")
    if current != head:
        sys.exit(1)


@click.command()
@click.option("--days", type=click.IntRange(min=1), default=None,
              help="Keep this many days (default: CHANGE_LOG_RETENTION_DAYS, else 90).")
@click.option("--dry-run", is_flag=True, help="Only count the change-log entries due.")
def retention(days: int | None, dry_run: bool) -> None:
    """Strip names and e-mail addresses from change-log entries older than the retention period
    (the daily `change_log_retention` schedule does the same)."""
    from personio_pipeline.common.clock import utc_now
    from personio_pipeline.store import retention as change_log_retention

    try:
        days = days or settings.change_log_retention_days()
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    now = utc_now()
    older_than = change_log_retention.cutoff(now, days)
    engine = context.engine()
    if dry_run:
        with engine.connect() as conn:
            due = change_log_retention.count_due(conn, older_than)
        click.echo(f"{due} change-log entries before {older_than:%Y-%m-%d %H:%M}Z hold personal values ({days} days kept)")
        return
    stripped = change_log_retention.strip_personal_values(engine, older_than, now=now)
    click.echo(f"stripped personal values from {stripped} change-log entries before {older_than:%Y-%m-%d %H:%M}Z "
               f"({days} days kept)")
