"""`personio-pipeline`: the data team's command line for companies, syncs and the sandbox."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

SANDBOX_API_KEY = "sandbox-api-key"
SANDBOX_APP_ID = "sandbox-app"
DEMO_COMPANY = "acme-sandbox"
DEMO_COMPANY_NAME = "ACME (sandbox)"


def _ensure_dagster_home() -> Path:
    """Use `DAGSTER_HOME`, defaulting to `.dagster_home` here, as `make dev` does."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path.cwd() / ".dagster_home"))).resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text((Path(__file__).parent.parent / "runtime" / "dagster_local.yaml").read_text())
    return home


def _instance():
    import dagster as dg

    _ensure_dagster_home()
    return dg.DagsterInstance.get()


def _engine():
    from personio_pipeline.common import settings
    from personio_pipeline.store.db import SchemaNotCurrentError, migrated_engine

    try:
        return migrated_engine(settings.teammeter_database_url())
    except SchemaNotCurrentError as error:
        raise click.ClickException(str(error)) from None


def _point_at_sandbox(url: str) -> None:
    """Route the pipeline's Apideck resource to a local sandbox (before definitions are loaded)."""
    os.environ["APIDECK_BASE_URL"] = url
    os.environ["APIDECK_API_KEY"] = SANDBOX_API_KEY
    os.environ["APIDECK_APP_ID"] = SANDBOX_APP_ID


@click.group()
def main() -> None:
    """Operate the Personio → Teammeter sync. PERSONIO_LOG_FORMAT=json logs in JSON lines."""
    from personio_pipeline.common.logs import configure_python_logging

    configure_python_logging()


# -- sandbox ----------------------------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8711, show_default=True, type=int)
@click.option("--size", "default_size", default=120, show_default=True, help="Employees per company.")
@click.option("--company", "companies", multiple=True, metavar="ID=SIZE", help="Size for one company.")
@click.option("--day", default=0, show_default=True, help="Churn day to serve (hires, leavers, moves).")
@click.option("--latency", default=0.0, show_default=True, help="Seconds added to every response.")
@click.option("--rate-limit-every", default=0, show_default=True, help="Every Nth request answers 429.")
@click.option("--retry-after", default=1.0, show_default=True, help="Retry-After seconds on 429.")
@click.option("--error-rate", default=0.0, show_default=True, help="Share of requests answering 503.")
@click.option("--reject-fields", is_flag=True, help="Behave like a connector that rejects `fields=`.")
@click.option("--ignore-fields", is_flag=True, help="Behave like a connector that ignores `fields=` (all attributes).")
@click.option("--profile", type=click.Choice(["diverse", "standard"]), default="diverse", show_default=True,
              help="Company data: as varied as real HR data, or the tidier standard profile.")
@click.option("--shared-active-addresses", is_flag=True,
              help="Diverse profile: ~1% of active people share their team's mailbox.")
@click.option("--api-key", default=None, help="Require this Bearer key (default: accept any).")
@click.option("--strict", is_flag=True, help="Validate every response against hris.yml before sending.")
@click.option("--webhook-url", default=None, help="Also deliver every signed webhook event here (churn days: POST /_sandbox/day).")
def sandbox(host, port, default_size, companies, day, latency, rate_limit_every, retry_after, error_rate,
            reject_fields, api_key, strict, ignore_fields=False, profile="diverse",
            shared_active_addresses=False, webhook_url=None) -> None:
    """Serve deterministic sandbox companies over Apideck's HRIS contract on HOST:PORT."""
    from personio_pipeline.sandbox.config import SandboxConfig
    from personio_pipeline.sandbox.server import serve

    sizes = {}
    for item in companies:
        consumer_id, _, size = item.partition("=")
        if not size.isdigit():
            raise click.BadParameter(f"expected ID=SIZE, got {item!r}", param_hint="--company")
        sizes[consumer_id] = int(size)
    config = SandboxConfig(
        default_company_size=default_size,
        company_sizes=sizes,
        day=day,
        latency_seconds=latency,
        rate_limit_every=rate_limit_every,
        retry_after_seconds=retry_after,
        error_rate=error_rate,
        reject_fields=reject_fields,
        ignore_fields=ignore_fields,
        profile=profile,
        shared_active_addresses=shared_active_addresses,
        api_key=api_key,
        strict=strict,
        webhook_url=webhook_url,
    )
    serve(config, host, port)


# -- tenants ----------------------------------------------------------------------------------


@main.group()
def tenants() -> None:
    """Register and list customer companies (one Dagster partition each)."""


def register_company(consumer_id: str, name: str, service_id: str = "personio"):
    """Record the company in Teammeter and add its partition to the Dagster instance."""
    from personio_pipeline.defs.shared.partitions import companies
    from personio_pipeline.companies import registry

    registry.validate_consumer_id(consumer_id)
    with _engine().begin() as conn:
        organisation = registry.register(conn, consumer_id, name, service_id)
    instance = _instance()
    if not instance.has_dynamic_partition(companies.name, consumer_id):
        instance.add_dynamic_partitions(companies.name, [consumer_id])
    return organisation


@tenants.command("add")
@click.argument("consumer_id")
@click.option("--name", required=True, help="The company's display name.")
@click.option("--service-id", default="personio", show_default=True, help="Apideck connector id.")
def tenants_add(consumer_id: str, name: str, service_id: str) -> None:
    """Register company CONSUMER_ID (its Apideck consumer id)."""
    try:
        organisation = register_company(consumer_id, name, service_id)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"registered {organisation.consumer_id} ({organisation.name}, {organisation.service_id})")


@tenants.command("auto-sync")
@click.argument("consumer_id")
@click.argument("switch", type=click.Choice(["on", "off"]))
def tenants_auto_sync(consumer_id: str, switch: str) -> None:
    """Switch the daily sync of CONSUMER_ID on or off."""
    from personio_pipeline.companies import registry

    try:
        with _engine().begin() as conn:
            registry.set_auto_sync(conn, consumer_id, switch == "on")
    except registry.UnknownCompanyError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"daily sync of '{consumer_id}' is {switch}")


@tenants.command("list")
def tenants_list() -> None:
    """Companies registered in Teammeter, with their sync state."""
    from personio_pipeline.defs.shared.partitions import companies
    from personio_pipeline.common.tables import format_table
    from personio_pipeline.companies import connection_health, registry, sync_runs

    with _engine().connect() as conn:
        rows = registry.list_all(conn)
        health = {row.consumer_id: row for row in sync_runs.company_status(conn)}
    partitions = set(_instance().get_dynamic_partitions(companies.name))
    if not rows:
        click.echo("no companies registered; add one with `personio-pipeline tenants add ID --name NAME`")
        return
    table, skipped = [], []
    for org in rows:
        summary = health[org.consumer_id]
        last_status = summary.last_attempt_status or "-"
        if summary.failing:
            last_status += f" ({summary.consecutive_failures} in a row)"
        table.append([
            org.consumer_id,
            org.name,
            org.service_id,
            "removed" if org.offboarded else org.connection_state,
            "on" if org.auto_sync else "off",
            "yes" if org.consumer_id in partitions else "no",
            org.first_synced_at.isoformat(timespec="minutes")[:16] if org.first_synced_at else "-",
            summary.last_success_at.isoformat(timespec="minutes")[:16] if summary.last_success_at else "-",
            last_status,
        ])
        if blocker := connection_health.daily_sync_blocker(org):
            skipped.append(f"  {org.consumer_id}: daily sync skips it: {blocker}")
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
    import getpass

    from personio_pipeline.common import settings
    from personio_pipeline.companies.removal import RunsInProgressError, describe, remove_company
    from personio_pipeline.companies import registry

    people = "DELETE its people data in Teammeter" if purge_people else "deactivate its people in Teammeter"
    if not yes and not click.confirm(
        f"Remove '{consumer_id}': stop syncing, delete its partition, runs and local files, and {people}?"
    ):
        raise click.ClickException(f"'{consumer_id}' not removed (confirm, or pass --yes).")
    try:
        removal = remove_company(
            _engine(), _instance(), settings.data_dir(), consumer_id,
            requested_by=requested_by or getpass.getuser(), purge_people=purge_people,
        )
    except (registry.UnknownCompanyError, RunsInProgressError) as error:
        raise click.ClickException(str(error)) from None
    for line in describe(removal):
        click.echo(line)


@main.command()
@click.option("--company", "consumer_id", default=None, help="Only this company (consumer id).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def status(consumer_id: str | None, fmt: str) -> None:
    """Sync health per company: last success and its counts, last attempt, last failure and how
    many attempts failed since the last success (failing companies first, marked `!`), and why
    the daily sync skips a company (connection revoked, auto-sync off, removed …).

    Informational: the exit code is 0 whatever the companies' state (non-zero only for an
    unknown --company); alert on the `failing` field of the JSON, or on the SQL view
    company_sync_status."""
    import json

    from personio_pipeline.companies import registry, sync_runs

    try:
        with _engine().connect() as conn:
            rows = sync_runs.company_status(conn, consumer_id)
    except registry.UnknownCompanyError as error:
        raise click.ClickException(str(error)) from None
    if fmt == "json":
        payload = [{**row.as_json(), "failing": row.failing} for row in rows]
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        click.echo(sync_runs.format_status_table(rows))


@main.command()
@click.option("--days", type=click.IntRange(min=1), default=None,
              help="Keep this many days (default: CHANGE_LOG_RETENTION_DAYS, else 90).")
@click.option("--dry-run", is_flag=True, help="Only count the change-log entries due.")
def retention(days: int | None, dry_run: bool) -> None:
    """Strip names and e-mail addresses from change-log entries older than the retention period
    (the daily `change_log_retention` schedule does the same)."""
    from datetime import datetime, timezone

    from personio_pipeline.common import settings
    from personio_pipeline.store import retention as change_log_retention

    try:
        days = days or settings.change_log_retention_days()
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    now = datetime.now(timezone.utc)
    older_than = change_log_retention.cutoff(now, days)
    engine = _engine()
    if dry_run:
        with engine.connect() as conn:
            due = change_log_retention.count_due(conn, older_than)
        click.echo(f"{due} change-log entries before {older_than:%Y-%m-%d %H:%M}Z hold personal values ({days} days kept)")
        return
    stripped = change_log_retention.strip_personal_values(engine, older_than, now=now)
    click.echo(f"stripped personal values from {stripped} change-log entries before {older_than:%Y-%m-%d %H:%M}Z "
               f"({days} days kept)")


@main.command()
@click.argument("consumer_id")
@click.option("--name", required=True, help="The company's display name (shown to its admin in Vault).")
@click.option("--service-id", default="personio", show_default=True, help="Apideck connector id.")
@click.option("--session-length", default="1h", show_default=True, help="How long the link stays valid (max 1w).")
def connect(consumer_id: str, name: str, service_id: str, session_length: str) -> None:
    """Register CONSUMER_ID and print a secure Apideck Vault link for its admin to connect Personio."""
    from personio_pipeline.apideck.errors import ApideckError
    from personio_pipeline.apideck.http import DEFAULT_BASE_URL
    from personio_pipeline.defs.shared.resources import ApideckResource
    from personio_pipeline.companies import connection_health, registry

    _require_apideck_settings()
    try:
        registry.validate_consumer_id(consumer_id)
        with _engine().begin() as conn:
            registry.register(conn, consumer_id, name, service_id)
        apideck = ApideckResource(
            api_key=os.environ["APIDECK_API_KEY"],
            app_id=os.environ["APIDECK_APP_ID"],
            base_url=os.environ.get("APIDECK_BASE_URL", DEFAULT_BASE_URL),
        )
        with apideck.vault_client() as vault:
            link = vault.create_connection_link(consumer_id, name, service_id=service_id, session_length=session_length)
        with _engine().begin() as conn:
            if registry.get(conn, consumer_id).connection_state == "registered":
                connection_health.set_connection_state(conn, consumer_id, "link_sent")
    except (ValueError, ApideckError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Send this link to the admin of {name} ({consumer_id}):")
    click.echo(f"  {link.session_uri}")
    click.echo(f"It expires at {link.expires_at.isoformat(timespec='minutes')}. Once the connection is callable, "
               "the connection sensor adds the company; then launch its first sync with "
               f"`personio-pipeline sync {consumer_id}`.")


# -- sync -------------------------------------------------------------------------------------


def _require_apideck_settings() -> None:
    missing = [name for name in ("APIDECK_API_KEY", "APIDECK_APP_ID") if not os.environ.get(name)]
    if missing:
        raise click.ClickException(
            f"{' and '.join(missing)} not set. Remedy: export the Apideck credentials, or run "
            "`personio-pipeline sandbox` and point APIDECK_BASE_URL at it (any key and app id work)."
        )


def run_company_job_in_process(
    consumer_id: str, run_config: dict | None = None, job_name: str | None = None, verbose: bool = True
):
    """Run the company's `job_name` (default: the sync job) in this process on the current
    instance, so the run shows in the UI.
    Not `verbose`: Dagster's console log (which prints every failure's stack trace) stays quiet and
    `_print_run_summary` says what happened, one line per cause; JSON logs (no traces) always flow."""
    from personio_pipeline.defs.shared.keys import SYNC_JOB
    from personio_pipeline.defs.shared.partitions import companies
    from personio_pipeline.definitions import build_defs
    from personio_pipeline.common.settings import json_logs_enabled
    from personio_pipeline.companies.registry import UnknownCompanyError

    if not _instance().has_dynamic_partition(companies.name, consumer_id):
        raise click.ClickException(str(UnknownCompanyError(consumer_id)))
    job = build_defs().resolve_job_def(job_name or SYNC_JOB)
    log_level = "INFO" if verbose or json_logs_enabled() else "CRITICAL"
    result = job.execute_in_process(
        instance=_instance(),
        partition_key=consumer_id,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}, **(run_config or {})},
        raise_on_error=False,
        tags={TRIGGER_TAG: "cli"},
    )
    if not result.success:
        _record_in_process_failure(result)
    return result


def _record_in_process_failure(result) -> None:
    """A sync run in this process has no code location, so the failure sensor does not see it:
    record its failure in Teammeter here, as the sensor records the instance's runs."""
    import logging

    import dagster as dg

    from personio_pipeline.runtime.run_failures import failure_details_from, is_company_sync, record_sync_failure

    instance = _instance()
    run = instance.get_run_by_id(result.run_id)
    if run is None or not is_company_sync(run.job_name, run.tags, run.asset_selection, run.step_keys_to_execute):
        return
    events = result.all_events
    step, error = failure_details_from(
        [e for e in events if e.event_type == dg.DagsterEventType.STEP_FAILURE],
        next((e for e in events if e.event_type == dg.DagsterEventType.RUN_FAILURE), None),
    )
    record_sync_failure(instance, run, step, error, _engine(), logging.getLogger("personio_pipeline.cli"))


TRIGGER_TAG = "personio_pipeline/trigger"
_IN_PROCESS_HELP = "Run in this process even if a dagster-daemon could run it (no run queue, no per-company limit)."
_WORKSPACE_HELP = ("The deployment's workspace.yaml to take the code location from (default: this environment's "
                   "personio_pipeline.definitions, location 'personio_pipeline').")


def run_company_job(consumer_id: str, job_name: str, ops_config: dict | None, *, in_process: bool,
                    workspace_file: str | None, needs_apideck: bool, verbose: bool | None = None) -> bool:
    """Submit the company's run to the instance and follow it to its end; in this process instead
    when the instance cannot start it (no daemon) or `--in-process` asks for it. True on success."""
    from personio_pipeline.defs.shared.partitions import companies
    from personio_pipeline.runtime.instance_runs import why_not_through_instance
    from personio_pipeline.companies.registry import UnknownCompanyError

    instance = _instance()
    if not instance.has_dynamic_partition(companies.name, consumer_id):
        raise click.ClickException(str(UnknownCompanyError(consumer_id)))
    reason = "--in-process" if in_process else why_not_through_instance(instance)
    if reason is None:
        return _run_through_instance(instance, consumer_id, job_name, ops_config or {}, workspace_file)
    click.echo(f"{reason}: running {job_name} for '{consumer_id}' in this process "
               "(no run queue, no per-company limit, no run launcher)")
    if needs_apideck:
        _require_apideck_settings()
    # verbose None (invitations send): Dagster's run log as before, summary without traces.
    result = run_company_job_in_process(consumer_id, ops_config, job_name, verbose=True if verbose is None else verbose)
    _print_run_summary(consumer_id, result, verbose=bool(verbose))
    return result.success


def _run_through_instance(instance, consumer_id: str, job_name: str, run_config: dict, workspace_file: str | None) -> bool:
    import dagster as dg

    from personio_pipeline.runtime.instance_runs import code_location_workspace, follow, submit

    with code_location_workspace(instance, workspace_file) as workspace:
        run = submit(instance, workspace, job_name, run_config, {"dagster/partition": consumer_id, TRIGGER_TAG: "cli"})
    click.echo(f"run {run.run_id} of {job_name} for '{consumer_id}' submitted to the instance's run queue "
               "(Ctrl-C stops following it, not the run)")
    try:
        run = follow(instance, run.run_id, on_event=_print_followed_event,
                     on_status=lambda status: click.echo(f"  run {status.value.lower()}"))
    except KeyboardInterrupt:
        click.echo(f"\nstopped following; run {run.run_id} goes on (Dagster UI, `personio-pipeline status`)")
        sys.exit(130)
    success = run.status == dg.DagsterRunStatus.SUCCESS
    outcome = "succeeded" if success else "FAILED" if run.status == dg.DagsterRunStatus.FAILURE else run.status.value
    click.echo(f"{job_name} of '{consumer_id}' {outcome} (run {run.run_id})")
    return success


def _print_followed_event(event) -> None:
    import dagster as dg

    from personio_pipeline.common.logs import error_summary

    kind = event.event_type
    if kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
        materialization = event.event_specific_data.materialization
        shown = {k: v.value for k, v in materialization.metadata.items() if k in _SUMMARY_KEYS}
        described = ", ".join(f"{k.removeprefix('dagster/')}={v}" for k, v in shown.items())
        click.echo(f"  {materialization.asset_key.to_user_string():<32} {described}")
    elif kind == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
        evaluation = event.event_specific_data
        if not evaluation.passed:
            click.echo(f"  check {evaluation.check_name} on {evaluation.asset_key.to_user_string()} failed "
                       f"({evaluation.severity.value})")
    elif kind == dg.DagsterEventType.STEP_FAILURE:
        data = event.event_specific_data
        described = (data.user_failure_data.description if data.user_failure_data and data.user_failure_data.description
                     else error_summary(data.error) if data.error else "failed")
        click.echo(f"  step {event.step_key} failed: {described.strip()}")
    elif kind == dg.DagsterEventType.STEP_UP_FOR_RETRY:
        click.echo(f"  step {event.step_key} failed transiently; it will be retried")
    elif kind in (dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_RESTARTED):
        click.echo(f"  step {event.step_key} {'started' if kind == dg.DagsterEventType.STEP_START else 'restarted'}")
    elif kind == dg.DagsterEventType.RUN_FAILURE:
        click.echo(f"  run failed: {event.message}")


@main.command()
@click.argument("consumer_id")
@click.option("--approve-deactivations", is_flag=True, help="Write although the safeguard would stop the run.")
@click.option("--max-deactivation-share", type=float, default=None,
              help="Allowed share of active users deactivated in this run (default 0.2 or the company's own).")
@click.option("--full", "full_sync", is_flag=True,
              help="Compare with the store even if nothing changed since the last sync (after raw SQL edits).")
@click.option("--max-held-back-share", type=float, default=None,
              help="Share of active people that may newly be held back before the run stops (default 0.05).")
@click.option("--verbose", is_flag=True, help="Show Dagster's run log and the full trace of a failure (in-process runs).")
@click.option("--in-process", is_flag=True, help=_IN_PROCESS_HELP)
@click.option("-w", "--workspace", "workspace_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help=_WORKSPACE_HELP)
def sync(consumer_id: str, approve_deactivations: bool, max_deactivation_share: float | None, full_sync: bool,
         max_held_back_share: float | None, verbose: bool, in_process: bool, workspace_file: str | None) -> None:
    """Sync company CONSUMER_ID now (everything but invitations): a run submitted to this instance's
    run queue and followed until it ends (exit code 1 if it fails). Without a running
    dagster-daemon, or with --in-process, the run executes in this process. Prints one line per
    problem (company, step, employee ids and HR field); --verbose adds the run log and stack
    traces, which the Dagster UI keeps for every run anyway."""
    from personio_pipeline.defs.shared.keys import SYNC_JOB

    config = {
        "approve_deactivations": approve_deactivations,
        "max_deactivation_share": max_deactivation_share,
        "full_sync": full_sync,
        "max_held_back_share": max_held_back_share,
    }
    ops_config = {"ops": {"teammeter_sync": {"config": config}}}
    if not run_company_job(consumer_id, SYNC_JOB, ops_config, in_process=in_process,
                           workspace_file=workspace_file, needs_apideck=True, verbose=verbose):
        sys.exit(1)


@main.command()
@click.argument("consumer_id")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "html"]), default="table",
              show_default=True, help="html: the verification report for the customer's admin (one self-contained page).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write to this file instead of printing.")
def review(consumer_id: str, fmt: str, output: str | None) -> None:
    """Print company CONSUMER_ID as Teammeter holds it, for the verification step."""
    from personio_pipeline.companies import registry

    try:
        with _engine().connect() as conn:
            text = _review_html(conn, consumer_id) if fmt == "html" else _review_text(conn, consumer_id, fmt)
    except registry.UnknownCompanyError as error:
        raise click.ClickException(str(error)) from None
    if output is None:
        click.echo(text, nl=fmt != "html")
        return
    Path(output).write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    click.echo(f"review of company '{consumer_id}' written to {Path(output).resolve()}", err=True)


def _review_text(conn, consumer_id: str, fmt: str) -> str:
    from personio_pipeline.reporting.review import format_review, review_summary, review_users

    return format_review(review_users(conn, consumer_id), review_summary(conn, consumer_id), fmt)


def _review_html(conn, consumer_id: str) -> str:
    """The report from the store, with the organisation model's employees from the data folder
    when a sync has left them there (why addresses are unusable, merged spellings)."""
    import pandas as pd

    from personio_pipeline.common import settings
    from personio_pipeline.companies.files import model_file
    from personio_pipeline.reporting.verification import build_report

    employees_file = model_file(settings.data_dir(), ("org", "employees"), consumer_id)
    employees = pd.read_parquet(employees_file) if employees_file.exists() else None
    return build_report(conn, consumer_id, employees)[1]


@main.command()
@click.argument("consumer_id")
def verify(consumer_id: str) -> None:
    """Mark company CONSUMER_ID's imported organisation as verified: releases its invitations."""
    from personio_pipeline.companies import registry
    from personio_pipeline.store.hand_edits import mark_verified

    try:
        with _engine().begin() as conn:
            organisation = registry.get(conn, consumer_id)
            if organisation.first_synced_at is None:
                raise click.ClickException(
                    f"Company '{consumer_id}' has not been synced yet: run `personio-pipeline sync {consumer_id}` "
                    "and review it first."
                )
            mark_verified(conn, consumer_id)
    except registry.UnknownCompanyError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"company '{consumer_id}' verified; invitations will go out on the next sensor tick")


@main.group()
def invitations() -> None:
    """See invitations and decide on those the pipeline could not settle on its own."""


@invitations.command("list")
@click.argument("consumer_id")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def invitations_list(consumer_id: str, fmt: str) -> None:
    """Invitations of CONSUMER_ID with their status (pending, sent, failed, ambiguous …)."""
    import json

    from personio_pipeline.invitations.state import format_invitations, list_invitations
    from personio_pipeline.companies import registry

    try:
        with _engine().connect() as conn:
            rows = list_invitations(conn, consumer_id)
    except registry.UnknownCompanyError as error:
        raise click.ClickException(str(error)) from None
    click.echo(json.dumps(rows, indent=2, ensure_ascii=False) if fmt == "json" else format_invitations(rows))


@invitations.command("send")
@click.argument("consumer_id")
@click.option("--in-process", is_flag=True, help=_IN_PROCESS_HELP)
@click.option("-w", "--workspace", "workspace_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help=_WORKSPACE_HELP)
def invitations_send(consumer_id: str, in_process: bool, workspace_file: str | None) -> None:
    """Run the invitation job for CONSUMER_ID now (the invitation sensor does this on its own),
    through the instance's run queue like `sync` (in this process without a daemon)."""
    from personio_pipeline.defs.shared.jobs import invite_company_job

    if not run_company_job(consumer_id, invite_company_job.name, None, in_process=in_process,
                           workspace_file=workspace_file, needs_apideck=False):
        sys.exit(1)


def _invitation_decision(name: str, help_text: str):
    @invitations.command(name, help=help_text)
    @click.argument("consumer_id")
    @click.argument("invitation_ids", nargs=-1, type=int, required=True)
    def decide(consumer_id: str, invitation_ids: tuple[int, ...]) -> None:
        from personio_pipeline.invitations import decisions
        from personio_pipeline.companies import registry
        from personio_pipeline.store.db import company_transaction

        action = getattr(decisions, name.replace("-", "_"))
        try:
            with company_transaction(_engine()) as conn:
                done = action(conn, consumer_id, invitation_ids)
        except (registry.UnknownCompanyError, decisions.InvitationDecisionError) as error:
            raise click.ClickException(str(error)) from None
        click.echo(f"{name}: {', '.join(map(str, done))}")

    return decide


_invitation_decision("release-stale", "Ambiguous invitations were NOT delivered: send them again (new token).")
_invitation_decision("confirm-delivered", "Ambiguous invitations DID arrive: record them as sent.")
_invitation_decision("retry-failed", "Failed invitations: try again with a fresh allowance of attempts.")


# -- database ---------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """The Teammeter database's schema (Alembic migrations)."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Migrate the Teammeter database to this code's revision: the deploy step (Helm hook, init
    container, `make prod-local`). Safe to start from several processes at once (PostgreSQL
    advisory lock)."""
    from personio_pipeline.common import settings
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
    from personio_pipeline.common import settings
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


# -- webhooks ---------------------------------------------------------------------------------


@main.group()
def webhooks() -> None:
    """Apideck webhooks: the receiver, the subscription, the inbox (see README, event-driven updates)."""


@webhooks.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface (0.0.0.0 in a container).")
@click.option("--port", default=8780, show_default=True, type=int)
@click.option("--max-body-bytes", default=64 * 1024, show_default=True, type=int, help="Larger bodies get 413.")
@click.option("--access-log", is_flag=True, help="Log every request line (paths and status codes only).")
def webhooks_serve(host: str, port: int, max_body_bytes: int, access_log: bool) -> None:
    """Receive signed Apideck events on POST /webhooks/apideck into the Teammeter inbox (GET /healthz)."""
    from personio_pipeline.webhooks.receiver import create_app, serve

    api_key = os.environ.get("APIDECK_API_KEY")
    if not api_key:
        raise click.ClickException(
            "APIDECK_API_KEY not set: the receiver checks each event's signature with the Apideck API key. "
            "Remedy: export it (the same key the pipeline uses)."
        )
    app = create_app(_engine(), api_key, max_body_bytes=max_body_bytes)
    click.echo(f"webhook receiver on http://{host}:{port}/webhooks/apideck (health: /healthz)")
    serve(app, host, port, access_log=access_log)


def _webhook_client():
    from personio_pipeline.apideck.http import DEFAULT_BASE_URL
    from personio_pipeline.webhooks.subscription import ApideckWebhookClient

    _require_apideck_settings()
    return ApideckWebhookClient(api_key=os.environ["APIDECK_API_KEY"], app_id=os.environ["APIDECK_APP_ID"],
                                base_url=os.environ.get("APIDECK_BASE_URL", DEFAULT_BASE_URL))


@webhooks.command("register")
@click.argument("url")
def webhooks_register(url: str) -> None:
    """Create or update the Apideck subscription that delivers employee and connection events to URL."""
    from personio_pipeline.apideck.errors import ApideckError
    from personio_pipeline.webhooks.subscription import ensure

    if not url.startswith(("https://", "http://")):
        raise click.BadParameter("the delivery URL must start with https:// (or http:// locally)", param_hint="URL")
    try:
        with _webhook_client() as client:
            action, subscription = ensure(client, url)
    except ApideckError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"subscription {subscription.id} {action}: {subscription.delivery_url} "
               f"({subscription.status}; {len(subscription.events)} event types)")
    if subscription.problem:
        raise click.ClickException(subscription.problem)


@webhooks.command("status")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--offline", is_flag=True, help="Only the inbox; do not ask Apideck for the subscription.")
def webhooks_status(fmt: str, offline: bool) -> None:
    """The Apideck subscription and the inbox: events per status, pending per company, oldest pending."""
    import json

    from personio_pipeline.apideck.errors import ApideckError
    from personio_pipeline.webhooks import inbox

    subscriptions, problem = [], None
    if not offline:
        try:
            with _webhook_client() as client:
                subscriptions = client.list()
        except (ApideckError, click.ClickException) as error:
            problem = str(getattr(error, "message", error))
    with _engine().connect() as conn:
        backlog = inbox.backlog(conn)
    if fmt == "json":
        click.echo(json.dumps({
            "subscriptions": [vars(s) | {"events": list(s.events), "problem": s.problem} for s in subscriptions],
            "subscription_error": problem,
            "inbox": {"by_status": backlog.by_status, "pending_by_company": backlog.pending_by_company,
                      "oldest_pending_at": backlog.oldest_pending_at and backlog.oldest_pending_at.isoformat(),
                      "last_received_at": backlog.last_received_at and backlog.last_received_at.isoformat()},
        }, indent=2))
        return
    if problem:
        click.echo(f"subscription: unknown ({problem})")
    elif not offline and not subscriptions:
        click.echo("subscription: none; create it with `personio-pipeline webhooks register URL`")
    for subscription in subscriptions:
        click.echo(f"subscription {subscription.id}: {subscription.delivery_url} {subscription.status}, "
                   f"{len(subscription.events)} event types" + (f" - {subscription.problem}" if subscription.problem else ""))
    counts = ", ".join(f"{status} {count}" for status, count in backlog.by_status.items())
    click.echo(f"inbox: {counts}; last event received {_when(backlog.last_received_at)}")
    if backlog.pending_by_company:
        click.echo(f"pending since {_when(backlog.oldest_pending_at)}:")
        for consumer_id, count in backlog.pending_by_company.items():
            click.echo(f"  {consumer_id or '-':<32} {count}")


def _when(moment) -> str:
    return moment.isoformat(timespec="seconds") if moment else "never"


@main.command()
def demo() -> None:
    """Sync the sandbox company into the local SQLite Teammeter (the embedded default)."""
    from personio_pipeline.sandbox.config import SandboxConfig
    from personio_pipeline.sandbox.server import SandboxServer

    home = _ensure_dagster_home()
    with SandboxServer(SandboxConfig(api_key=SANDBOX_API_KEY, app_id=SANDBOX_APP_ID)) as server:
        _point_at_sandbox(server.url)
        register_company(DEMO_COMPANY, DEMO_COMPANY_NAME)
        result = run_company_job_in_process(DEMO_COMPANY)
    _print_run_summary(DEMO_COMPANY, result)
    from personio_pipeline.common import settings

    click.echo(f"Teammeter database: {settings.printable_url(settings.teammeter_database_url())}")
    click.echo(f"Data folder:        {settings.data_dir()}")
    click.echo(f"Dagster home:       {home}")
    click.echo("Open the UI with `make dev` (http://127.0.0.1:3000), company partition "
               f"'{DEMO_COMPANY}'.")
    if not result.success:
        sys.exit(1)
    from personio_pipeline.companies.files import report_file

    click.echo(f"Verification report for the customer's admin (open it in a browser): "
               f"{report_file(settings.data_dir(), DEMO_COMPANY)}")


@main.command()
@click.option("--sandbox-port", default=8711, show_default=True, help="Port of the local sandbox.")
@click.option("--port", default=3000, show_default=True, help="Port of the Dagster UI.")
def dev(sandbox_port: int, port: int) -> None:
    """Start the sandbox and `dagster dev` on this instance (UI on 127.0.0.1:PORT)."""
    import subprocess

    from personio_pipeline.sandbox.config import SandboxConfig
    from personio_pipeline.sandbox.server import SandboxServer

    _ensure_dagster_home()
    with SandboxServer(SandboxConfig(api_key=SANDBOX_API_KEY, app_id=SANDBOX_APP_ID), port=sandbox_port) as server:
        _point_at_sandbox(server.url)
        register_company(DEMO_COMPANY, DEMO_COMPANY_NAME)
        click.echo(f"sandbox on {server.url}; Dagster UI on http://127.0.0.1:{port}")
        command = [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", "-p", str(port)]
        try:
            subprocess.run(command, check=False)
        except KeyboardInterrupt:
            pass


def _print_run_summary(consumer_id: str, result, verbose: bool = False) -> None:
    import dagster as dg

    status = "succeeded" if result.success else "FAILED"
    click.echo(f"{result.job_def.name} for '{consumer_id}' {status} (run {result.run_id})")
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            materialization = event.event_specific_data.materialization
            metadata = materialization.metadata
            shown = {k: v.value for k, v in metadata.items() if k in _SUMMARY_KEYS}
            described = ", ".join(f"{k.removeprefix('dagster/')}={v}" for k, v in shown.items())
            click.echo(f"  {materialization.asset_key.to_user_string():<32} {described}")
        elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            line = check_problem_line(consumer_id, event.step_key, event.event_specific_data)
            if line:
                click.echo(f"  {line}")
        elif event.event_type == dg.DagsterEventType.STEP_FAILURE:
            click.echo(f"  {failure_line(consumer_id, event.step_key, event.event_specific_data)}")
            if verbose:
                click.echo(event.event_specific_data.error.to_string())


def failure_line(consumer_id: str, step: str | None, failure) -> str:
    """One line for a failed step: company, step, what went wrong and, for data problems, the
    employee ids and HR fields (from the failure's metadata). No stack trace, no address."""
    from personio_pipeline.common.logs import error_summary

    data = failure.user_failure_data
    text = data.description if data is not None and data.description else error_summary(failure.error)
    line = f"FAILED company '{consumer_id}', step '{step or '(run)'}': {_one_line(text)}"
    metadata = data.metadata if data is not None else {}
    ids, fields = metadata.get("employee_ids"), metadata.get("fields")
    if ids is not None and ids.value:
        line += f" [employee ids: {_listed(ids.value)}; fields: {', '.join(fields.value) if fields else '-'}]"
    return line


def check_problem_line(consumer_id: str, step: str | None, evaluation) -> str | None:
    """One line for a failed ERROR check (a data problem: people held back), else None."""
    import dagster as dg

    if evaluation.passed or evaluation.severity != dg.AssetCheckSeverity.ERROR:
        return None
    metadata = evaluation.metadata
    ids = metadata.get("employee_ids")
    fields = metadata.get("fields") or metadata.get("field")
    field_text = ", ".join(fields.value) if fields is not None and isinstance(fields.value, list) else (
        fields.value if fields is not None else "-")
    return (f"HELD BACK company '{consumer_id}', step '{step}', check {evaluation.check_name}: "
            f"employee ids {_listed(ids.value if ids is not None else [])} (field: {field_text})")


def _one_line(text: str, limit: int = 600) -> str:
    """Whitespace (line breaks included) collapsed, addresses and secrets removed, capped."""
    from personio_pipeline.common.redaction import redact, secrets_from_env

    flat = " ".join(text.split())
    return redact(flat, secrets_from_env(), limit=limit)


def _listed(ids: list, limit: int = 20) -> str:
    more = f" … and {len(ids) - limit} more" if len(ids) > limit else ""
    return ", ".join(map(str, ids[:limit])) + more


_SUMMARY_KEYS = (
    "dagster/row_count",
    "pages",
    "requests",
    "retries",
    "duration_seconds",
    "create",
    "update",
    "deactivate",
    "reactivate",
    "end",
    "changes",
    "sent",
    "pending_after",
    "people",
    "with_access",
    "without_access",
)


if __name__ == "__main__":
    main()
