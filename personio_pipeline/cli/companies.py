"""Commands about the customer companies: `tenants` (add, auto-sync, list, remove; also called
`companies`), `connect` (the Vault link for a company's admin) and `status` (sync health).

Imports of the pipeline's modules are inside the commands (deliberately lazy, see `context.py`).
"""

from __future__ import annotations

import getpass
import json

import click

from personio_pipeline.cli import context


@click.group()
def tenants() -> None:
    """Register and list customer companies (one Dagster partition each).

    `personio-pipeline companies …` is the same group."""


def register_company(consumer_id: str, name: str, service_id: str = "personio"):
    """Record the company in Teammeter and add its partition to the Dagster instance."""
    from personio_pipeline.companies import registry
    from personio_pipeline.defs.shared.partitions import companies

    registry.validate_consumer_id(consumer_id)
    with context.engine().begin() as conn:
        company = registry.register(conn, consumer_id, name, service_id)
    instance = context.instance()
    if not instance.has_dynamic_partition(companies.name, consumer_id):
        instance.add_dynamic_partitions(companies.name, [consumer_id])
    return company


@tenants.command("add")
@click.argument("consumer_id")
@click.option("--name", required=True, help="The company's display name.")
@click.option("--service-id", default="personio", show_default=True, help="Apideck connector id.")
def tenants_add(consumer_id: str, name: str, service_id: str) -> None:
    """Register company CONSUMER_ID (its Apideck consumer id)."""
    try:
        company = register_company(consumer_id, name, service_id)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"registered {company.consumer_id} ({company.name}, {company.service_id})")


@tenants.command("auto-sync")
@click.argument("consumer_id")
@click.argument("switch", type=click.Choice(["on", "off"]))
def tenants_auto_sync(consumer_id: str, switch: str) -> None:
    """Switch the daily sync of CONSUMER_ID on or off."""
    from personio_pipeline.companies import registry

    try:
        with context.engine().begin() as conn:
            registry.set_auto_sync(conn, consumer_id, switch == "on")
    except registry.UnknownCompanyError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"daily sync of '{consumer_id}' is {switch}")


@tenants.command("set")
@click.argument("consumer_id")
@click.option("--pre-start-days", type=click.IntRange(0, 365), default=None,
              help="Pre-hires get access (and their invitation) this many days before their start date.")
@click.option("--scope", "scope_text", default=None, metavar="'department=A,B;team=C'",
              help="Only people in these departments or teams ('' for everyone, the default).")
@click.option("--unknown-status", type=click.Choice(["keep", "deactivate"]), default=None,
              help="A person whose HR status is unknown (Apideck's 'other', e.g. on leave): keep the account "
              "as it is (the default) or deactivate it.")
@click.option("--timezone", "timezone_name", default=None, metavar="Europe/Berlin",
              help="The company's time zone: its date for start and end dates, and its sync hour (default UTC).")
@click.option("--sync-hour", type=click.IntRange(0, 23), default=None,
              help="The hour (0-23, the company's time zone) of its daily sync.")
def tenants_set(consumer_id: str, pre_start_days: int | None, scope_text: str | None, unknown_status: str | None,
                timezone_name: str | None, sync_hour: int | None) -> None:
    """Change company CONSUMER_ID's sync policy; the next sync applies it."""
    from personio_pipeline.companies import registry
    from personio_pipeline.companies import scope as company_scope
    from personio_pipeline.store import unchanged

    if all(value is None for value in (pre_start_days, scope_text, unknown_status, timezone_name, sync_hour)):
        raise click.UsageError("Nothing to set: give --pre-start-days, --scope, --unknown-status, --timezone "
                               "and/or --sync-hour.")
    try:
        scope = None if scope_text is None else company_scope.parse(scope_text)
        with context.engine().begin() as conn:
            if pre_start_days is not None:
                registry.set_pre_start_days(conn, consumer_id, pre_start_days)
                click.echo(f"company '{consumer_id}': pre-hires get access {pre_start_days} days before their start date")
            if scope is not None:
                registry.set_scope(conn, consumer_id, scope.stored())
                unchanged.forget(conn, registry.get(conn, consumer_id).id)
                click.echo(f"company '{consumer_id}': scope " + (scope.text() or "everyone"))
            if unknown_status is not None:
                registry.set_unknown_status(conn, consumer_id, unknown_status)
                unchanged.forget(conn, registry.get(conn, consumer_id).id)
                click.echo(f"company '{consumer_id}': a person with an unknown HR status is "
                           + ("kept as they are" if unknown_status == "keep" else "deactivated"))
            if timezone_name is not None or sync_hour is not None:
                registry.set_clock(conn, consumer_id, timezone=timezone_name, sync_hour=sync_hour)
                company = registry.get(conn, consumer_id)
                hour = "the schedule's default hour" if company.sync_hour is None else f"{company.sync_hour:02d}:00"
                click.echo(f"company '{consumer_id}': time zone {company.timezone or 'UTC'}, daily sync at {hour}")
    except (registry.UnknownCompanyError, ValueError) as error:
        raise click.ClickException(f"Company '{consumer_id}': {error}" if isinstance(error, ValueError)
                                   and not str(error).startswith("Company") else str(error)) from None


@tenants.command("list")
def tenants_list() -> None:
    """Companies registered in Teammeter, with their sync state."""
    from personio_pipeline.common.tables import format_table
    from personio_pipeline.companies import connection_health, registry, sync_runs
    from personio_pipeline.defs.shared.partitions import companies

    with context.engine().connect() as conn:
        rows = registry.list_all(conn)
        health = {row.consumer_id: row for row in sync_runs.company_status(conn)}
    partitions = set(context.instance().get_dynamic_partitions(companies.name))
    if not rows:
        click.echo("no companies registered; add one with `personio-pipeline tenants add ID --name NAME`")
        return
    table, skipped = [], []
    for company in rows:
        summary = health[company.consumer_id]
        last_status = summary.last_attempt_status or "-"
        if summary.failing:
            last_status += f" ({summary.consecutive_failures} in a row)"
        table.append([
            company.consumer_id,
            company.name,
            company.service_id,
            "removed" if company.offboarded else company.connection_state,
            "on" if company.auto_sync else "off",
            "yes" if company.consumer_id in partitions else "no",
            company.first_synced_at.isoformat(timespec="minutes")[:16] if company.first_synced_at else "-",
            summary.last_success_at.isoformat(timespec="minutes")[:16] if summary.last_success_at else "-",
            last_status,
        ])
        if blocker := connection_health.daily_sync_blocker(company):
            skipped.append(f"  {company.consumer_id}: daily sync skips it: {blocker}")
    headers = ("consumer id", "name", "service", "state", "auto", "partition", "first sync", "last success", "last status")
    click.echo("\n".join([format_table(table, headers).rstrip("\n"), *skipped]))


@tenants.command("remove")
@click.argument("consumer_id")
@click.option("--yes", is_flag=True, help="Do it without asking (required when not at a terminal).")
@click.option("--purge-people", is_flag=True,
              help="Also delete the company's people data in Teammeter (default: deactivate, keep rows).")
@click.option("--by", "requested_by", default=None, help="Who asks for the removal (default: the OS user).")
def tenants_remove(consumer_id: str, yes: bool, purge_people: bool, requested_by: str | None) -> None:
    """Take company CONSUMER_ID out of the pipeline: stop its syncs, delete its partition and runs,
    its raw extracts, model files, spools and mail files; deactivate its people in Teammeter (or
    delete them with --purge-people). Recorded in Teammeter's company_offboardings."""
    from personio_pipeline.common import settings
    from personio_pipeline.companies import registry
    from personio_pipeline.companies.removal import RunsInProgressError, describe, remove_company

    people = "DELETE its people data in Teammeter" if purge_people else "deactivate its people in Teammeter"
    if not yes and not click.confirm(
        f"Remove '{consumer_id}': stop syncing, delete its partition, runs and local files, and {people}?"
    ):
        raise click.ClickException(f"'{consumer_id}' not removed (confirm, or pass --yes).")
    try:
        removal = remove_company(
            context.engine(), context.instance(), settings.data_dir(), consumer_id,
            requested_by=requested_by or getpass.getuser(), purge_people=purge_people,
        )
    except (registry.UnknownCompanyError, RunsInProgressError) as error:
        raise click.ClickException(str(error)) from None
    for line in describe(removal):
        click.echo(line)


@click.command()
@click.argument("consumer_id")
@click.option("--name", required=True, help="The company's display name (shown to its admin in Vault).")
@click.option("--service-id", default="personio", show_default=True, help="Apideck connector id.")
@click.option("--session-length", default="1h", show_default=True, help="How long the link stays valid (max 1w).")
def connect(consumer_id: str, name: str, service_id: str, session_length: str) -> None:
    """Register CONSUMER_ID and print a secure Apideck Vault link for its admin to connect Personio."""
    from personio_pipeline.apideck.errors import ApideckError
    from personio_pipeline.companies import connection_health, registry
    from personio_pipeline.defs.shared.resources import ApideckResource

    options = context.apideck_options()
    try:
        registry.validate_consumer_id(consumer_id)
        with context.engine().begin() as conn:
            registry.register(conn, consumer_id, name, service_id)
        with ApideckResource(**options).vault_client() as vault:
            link = vault.create_connection_link(consumer_id, name, service_id=service_id, session_length=session_length)
        with context.engine().begin() as conn:
            if registry.get(conn, consumer_id).connection_state == "registered":
                connection_health.set_connection_state(conn, consumer_id, "link_sent")
    except (ValueError, ApideckError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Send this link to the admin of {name} ({consumer_id}):")
    click.echo(f"  {link.session_uri}")
    click.echo(f"It expires at {link.expires_at.isoformat(timespec='minutes')}. Once the connection is callable, "
               "the connection sensor adds the company; then launch its first sync with "
               f"`personio-pipeline sync {consumer_id}`.")


@click.command()
@click.option("--company", "consumer_id", default=None, help="Only this company (consumer id).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def status(consumer_id: str | None, fmt: str) -> None:
    """Sync health per company: last success and its counts, last attempt, last failure and how
    many attempts failed since the last success (failing companies first, marked `!`), and why
    the daily sync skips a company (connection revoked, auto-sync off, removed …).

    Informational: the exit code is 0 whatever the companies' state (non-zero only for an
    unknown --company); alert on the `failing` field of the JSON, or on the SQL view
    company_sync_status."""
    from personio_pipeline.companies import registry, sync_runs

    try:
        with context.engine().connect() as conn:
            rows = sync_runs.company_status(conn, consumer_id)
    except registry.UnknownCompanyError as error:
        raise click.ClickException(str(error)) from None
    if fmt == "json":
        payload = [{**row.as_json(), "failing": row.failing} for row in rows]
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        click.echo(sync_runs.format_status_table(rows))
