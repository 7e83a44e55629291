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
        config.write_text((Path(__file__).with_name("dagster_local.yaml")).read_text())
    return home


def _instance():
    import dagster as dg

    _ensure_dagster_home()
    return dg.DagsterInstance.get()


def _engine():
    from personio_pipeline import settings
    from personio_pipeline.teammeter.db import migrated_engine

    return migrated_engine(settings.teammeter_database_url())


def _point_at_sandbox(url: str) -> None:
    """Route the pipeline's Apideck resource to a local sandbox (before definitions are loaded)."""
    os.environ["APIDECK_BASE_URL"] = url
    os.environ["APIDECK_API_KEY"] = SANDBOX_API_KEY
    os.environ["APIDECK_APP_ID"] = SANDBOX_APP_ID


@click.group()
def main() -> None:
    """Operate the Personio → Teammeter sync. PERSONIO_LOG_FORMAT=json logs in JSON lines."""
    from personio_pipeline.logs import configure_python_logging

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
@click.option("--api-key", default=None, help="Require this Bearer key (default: accept any).")
@click.option("--strict", is_flag=True, help="Validate every response against hris.yml before sending.")
def sandbox(host, port, default_size, companies, day, latency, rate_limit_every, retry_after, error_rate,
            reject_fields, api_key, strict) -> None:
    """Serve deterministic sandbox companies over Apideck's HRIS contract on HOST:PORT."""
    from personio_pipeline.apideck.sandbox.config import SandboxConfig
    from personio_pipeline.apideck.sandbox.server import serve

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
        api_key=api_key,
        strict=strict,
    )
    serve(config, host, port)


# -- tenants ----------------------------------------------------------------------------------


@main.group()
def tenants() -> None:
    """Register and list customer companies (one Dagster partition each)."""


def register_company(consumer_id: str, name: str, service_id: str = "personio"):
    """Record the company in Teammeter and add its partition to the Dagster instance."""
    from personio_pipeline.defs.partitions import companies
    from personio_pipeline.teammeter import organisations

    organisations.validate_consumer_id(consumer_id)
    with _engine().begin() as conn:
        organisation = organisations.register(conn, consumer_id, name, service_id)
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
    from personio_pipeline.teammeter import organisations

    try:
        with _engine().begin() as conn:
            organisations.set_auto_sync(conn, consumer_id, switch == "on")
    except organisations.UnknownCompanyError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"daily sync of '{consumer_id}' is {switch}")


@tenants.command("list")
def tenants_list() -> None:
    """Companies registered in Teammeter, with their sync state."""
    from personio_pipeline.defs.partitions import companies
    from personio_pipeline.teammeter import organisations, sync_runs

    with _engine().connect() as conn:
        rows = organisations.list_all(conn)
        health = {row.consumer_id: row for row in sync_runs.company_status(conn)}
    partitions = set(_instance().get_dynamic_partitions(companies.name))
    if not rows:
        click.echo("no companies registered; add one with `personio-pipeline tenants add ID --name NAME`")
        return
    header = (f"{'consumer id':<28} {'name':<28} {'service':<10} {'state':<12} {'auto':<5} {'partition':<9} "
              f"{'first sync':<16} {'last success':<16} last status")
    click.echo(header)
    for org in rows:
        first = org.first_synced_at.isoformat(timespec="minutes") if org.first_synced_at else "-"
        summary = health[org.consumer_id]
        last = summary.last_success_at.isoformat(timespec="minutes")[:16] if summary.last_success_at else "-"
        last_status = summary.last_attempt_status or "-"
        if summary.failing:
            last_status += f" ({summary.consecutive_failures} in a row)"
        click.echo(
            f"{org.consumer_id:<28} {org.name[:28]:<28} {org.service_id:<10} {org.connection_state:<12} "
            f"{'on' if org.auto_sync else 'off':<5} {'yes' if org.consumer_id in partitions else 'no':<9} "
            f"{first[:16]:<16} {last:<16} {last_status}"
        )


@main.command()
@click.option("--company", "consumer_id", default=None, help="Only this company (consumer id).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def status(consumer_id: str | None, fmt: str) -> None:
    """Sync health per company: last success and its counts, last attempt, last failure and how
    many attempts failed since the last success (failing companies first, marked `!`).

    Informational: the exit code is 0 whatever the companies' state (non-zero only for an
    unknown --company); alert on the `failing` field of the JSON, or on the SQL view
    company_sync_status."""
    import json

    from personio_pipeline.teammeter import organisations, sync_runs

    try:
        with _engine().connect() as conn:
            rows = sync_runs.company_status(conn, consumer_id)
    except organisations.UnknownCompanyError as error:
        raise click.ClickException(str(error)) from None
    if fmt == "json":
        payload = [{**row.as_json(), "failing": row.failing} for row in rows]
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        click.echo(sync_runs.format_status_table(rows))


@main.command()
@click.argument("consumer_id")
@click.option("--name", required=True, help="The company's display name (shown to its admin in Vault).")
@click.option("--service-id", default="personio", show_default=True, help="Apideck connector id.")
@click.option("--session-length", default="1h", show_default=True, help="How long the link stays valid (max 1w).")
def connect(consumer_id: str, name: str, service_id: str, session_length: str) -> None:
    """Register CONSUMER_ID and print a secure Apideck Vault link for its admin to connect Personio."""
    from personio_pipeline.apideck.errors import ApideckError
    from personio_pipeline.apideck.http import DEFAULT_BASE_URL
    from personio_pipeline.defs.resources import ApideckResource
    from personio_pipeline.teammeter import organisations

    _require_apideck_settings()
    try:
        organisations.validate_consumer_id(consumer_id)
        with _engine().begin() as conn:
            organisations.register(conn, consumer_id, name, service_id)
        apideck = ApideckResource(
            api_key=os.environ["APIDECK_API_KEY"],
            app_id=os.environ["APIDECK_APP_ID"],
            base_url=os.environ.get("APIDECK_BASE_URL", DEFAULT_BASE_URL),
        )
        with apideck.vault_client() as vault:
            link = vault.create_connection_link(consumer_id, name, service_id=service_id, session_length=session_length)
        with _engine().begin() as conn:
            if organisations.get(conn, consumer_id).connection_state == "registered":
                organisations.set_connection_state(conn, consumer_id, "link_sent")
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


def run_sync(consumer_id: str, run_config: dict | None = None, job_name: str | None = None, verbose: bool = True):
    """Run the company sync job (or `job_name`) on the current instance, so the run shows in the UI.
    Not `verbose`: Dagster's console log (which prints every failure's stack trace) stays quiet and
    `_print_run_summary` says what happened, one line per cause; JSON logs (no traces) always flow."""
    from personio_pipeline.defs.jobs import SYNC_JOB_NAME
    from personio_pipeline.defs.partitions import companies
    from personio_pipeline.definitions import build_defs
    from personio_pipeline.logs import json_logs_enabled
    from personio_pipeline.teammeter.organisations import UnknownCompanyError

    if not _instance().has_dynamic_partition(companies.name, consumer_id):
        raise click.ClickException(str(UnknownCompanyError(consumer_id)))
    job = build_defs().resolve_job_def(job_name or SYNC_JOB_NAME)
    log_level = "INFO" if verbose or json_logs_enabled() else "CRITICAL"
    return job.execute_in_process(
        instance=_instance(),
        partition_key=consumer_id,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}, **(run_config or {})},
        raise_on_error=False,
        tags={"personio_pipeline/trigger": "cli"},
    )


@main.command()
@click.argument("consumer_id")
@click.option("--approve-deactivations", is_flag=True, help="Write although the safeguard would stop the run.")
@click.option("--max-deactivation-share", type=float, default=None,
              help="Allowed share of active users deactivated in this run (default 0.2 or the company's own).")
@click.option("--full", "full_sync", is_flag=True,
              help="Compare with the store even if nothing changed since the last sync (after raw SQL edits).")
@click.option("--max-held-back-share", type=float, default=None,
              help="Share of active people that may newly be held back before the run stops (default 0.05).")
@click.option("--verbose", is_flag=True, help="Show Dagster's run log and the full trace of a failure.")
def sync(consumer_id: str, approve_deactivations: bool, max_deactivation_share: float | None, full_sync: bool,
         max_held_back_share: float | None, verbose: bool) -> None:
    """Sync company CONSUMER_ID now (everything but invitations), as a run on this instance.
    Prints one line per problem (company, step, employee ids and HR field); --verbose adds the
    run log and stack traces, which the Dagster UI keeps for every run anyway."""
    _require_apideck_settings()
    config = {
        "approve_deactivations": approve_deactivations,
        "max_deactivation_share": max_deactivation_share,
        "full_sync": full_sync,
        "max_held_back_share": max_held_back_share,
    }
    result = run_sync(consumer_id, {"ops": {"teammeter_sync": {"config": config}}}, verbose=verbose)
    _print_run_summary(consumer_id, result, verbose=verbose)
    if not result.success:
        sys.exit(1)


@main.command()
@click.argument("consumer_id")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
def review(consumer_id: str, fmt: str) -> None:
    """Print company CONSUMER_ID as Teammeter holds it, for the verification step."""
    from personio_pipeline.teammeter import organisations
    from personio_pipeline.teammeter.review import format_review, review_summary, review_users

    try:
        with _engine().connect() as conn:
            rows, summary = review_users(conn, consumer_id), review_summary(conn, consumer_id)
    except organisations.UnknownCompanyError as error:
        raise click.ClickException(str(error)) from None
    click.echo(format_review(rows, summary, fmt))


@main.command()
@click.argument("consumer_id")
def verify(consumer_id: str) -> None:
    """Mark company CONSUMER_ID's imported organisation as verified: releases its invitations."""
    from personio_pipeline.teammeter import organisations
    from personio_pipeline.teammeter.manual import mark_verified

    try:
        with _engine().begin() as conn:
            organisation = organisations.get(conn, consumer_id)
            if organisation.first_synced_at is None:
                raise click.ClickException(
                    f"Company '{consumer_id}' has not been synced yet: run `personio-pipeline sync {consumer_id}` "
                    "and review it first."
                )
            mark_verified(conn, consumer_id)
    except organisations.UnknownCompanyError as error:
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

    from personio_pipeline.invitations.outbox import format_invitations, list_invitations
    from personio_pipeline.teammeter import organisations

    try:
        with _engine().connect() as conn:
            rows = list_invitations(conn, consumer_id)
    except organisations.UnknownCompanyError as error:
        raise click.ClickException(str(error)) from None
    click.echo(json.dumps(rows, indent=2, ensure_ascii=False) if fmt == "json" else format_invitations(rows))


@invitations.command("send")
@click.argument("consumer_id")
def invitations_send(consumer_id: str) -> None:
    """Run the invitation job for CONSUMER_ID now (the invitation sensor does this on its own)."""
    from personio_pipeline.defs.assets.invitations import invite_company_job

    result = run_sync(consumer_id, job_name=invite_company_job.name)
    _print_run_summary(consumer_id, result)
    if not result.success:
        sys.exit(1)


def _invitation_decision(name: str, help_text: str):
    @invitations.command(name, help=help_text)
    @click.argument("consumer_id")
    @click.argument("invitation_ids", nargs=-1, type=int, required=True)
    def decide(consumer_id: str, invitation_ids: tuple[int, ...]) -> None:
        from personio_pipeline.invitations import outbox
        from personio_pipeline.teammeter import organisations
        from personio_pipeline.teammeter.sync import company_transaction

        action = getattr(outbox, name.replace("-", "_"))
        try:
            with company_transaction(_engine()) as conn:
                done = action(conn, consumer_id, invitation_ids)
        except (organisations.UnknownCompanyError, outbox.InvitationDecisionError) as error:
            raise click.ClickException(str(error)) from None
        click.echo(f"{name}: {', '.join(map(str, done))}")

    return decide


_invitation_decision("release-stale", "Ambiguous invitations were NOT delivered: send them again (new token).")
_invitation_decision("confirm-delivered", "Ambiguous invitations DID arrive: record them as sent.")
_invitation_decision("retry-failed", "Failed invitations: try again with a fresh allowance of attempts.")


@main.command()
def demo() -> None:
    """Sync the sandbox company into the local SQLite Teammeter (the embedded default)."""
    from personio_pipeline.apideck.sandbox.config import SandboxConfig
    from personio_pipeline.apideck.sandbox.server import SandboxServer

    home = _ensure_dagster_home()
    with SandboxServer(SandboxConfig(api_key=SANDBOX_API_KEY, app_id=SANDBOX_APP_ID)) as server:
        _point_at_sandbox(server.url)
        register_company(DEMO_COMPANY, DEMO_COMPANY_NAME)
        result = run_sync(DEMO_COMPANY)
    _print_run_summary(DEMO_COMPANY, result)
    from personio_pipeline import settings

    click.echo(f"Teammeter database: {settings.teammeter_database_url()}")
    click.echo(f"Data folder:        {settings.data_dir()}")
    click.echo(f"Dagster home:       {home}")
    click.echo("Open the UI with `make dev` (http://127.0.0.1:3000), company partition "
               f"'{DEMO_COMPANY}'.")
    if not result.success:
        sys.exit(1)


@main.command()
@click.option("--sandbox-port", default=8711, show_default=True, help="Port of the local sandbox.")
@click.option("--port", default=3000, show_default=True, help="Port of the Dagster UI.")
def dev(sandbox_port: int, port: int) -> None:
    """Start the sandbox and `dagster dev` on this instance (UI on 127.0.0.1:PORT)."""
    import subprocess

    from personio_pipeline.apideck.sandbox.config import SandboxConfig
    from personio_pipeline.apideck.sandbox.server import SandboxServer

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
    click.echo(f"sync of '{consumer_id}' {status} (run {result.run_id})")
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
    from personio_pipeline.logs import error_summary

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
    from personio_pipeline.redaction import redact, secrets_from_env

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
)


if __name__ == "__main__":
    main()
