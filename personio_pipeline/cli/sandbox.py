"""The local sandbox: `sandbox` (serve Apideck-compatible companies), `demo` (sync the sandbox
company into the local SQLite Teammeter) and `dev` (the sandbox and the Dagster UI).

Imports of the sandbox and the runtime are inside the commands (deliberately lazy, see
`context.py`).
"""

from __future__ import annotations

import subprocess
import sys

import click

from personio_pipeline.cli import output
from personio_pipeline.cli.companies import register_company
from personio_pipeline.cli.runs import run_in_process
from personio_pipeline.common import settings

SANDBOX_API_KEY = "sandbox-api-key"
SANDBOX_APP_ID = "sandbox-app"
DEMO_COMPANY = "acme-sandbox"
DEMO_COMPANY_NAME = "ACME (sandbox)"
HISTORY_COMPANY = "acme-history"
HISTORY_COMPANY_NAME = "ACME with history (sandbox)"


@click.command()
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
@click.option("--history", "history_companies", multiple=True, metavar="ID",
              help="A company with history: pre-hires, leaves, and on days 1-2 leavers, a rehire under a new id "
              "and a recycled address (see `demo --history` for its Teammeter accounts).")
def sandbox(host, port, default_size, companies, day, latency, rate_limit_every, retry_after, error_rate,
            reject_fields, api_key, strict, ignore_fields=False, profile="diverse",
            shared_active_addresses=False, webhook_url=None, history_companies=()) -> None:
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
        history_companies=frozenset(history_companies),
    )
    serve(config, host, port)


# -- tenants ----------------------------------------------------------------------------------




@click.command()
@click.option("--history", is_flag=True,
              help=f"Sync '{HISTORY_COMPANY}' instead: a customer who used Teammeter before (existing accounts, "
              "two coaches, pre-hires, leaves), over three days (leavers, a rehire under a new id, a recycled address).")
def demo(history: bool = False) -> None:
    """Sync the sandbox company into the local SQLite Teammeter (the embedded default)."""
    from personio_pipeline.companies.files import report_file
    from personio_pipeline.runtime.instance import ensure_dagster_home
    from personio_pipeline.sandbox.config import SandboxConfig
    from personio_pipeline.sandbox.server import SandboxServer

    home = ensure_dagster_home()
    company = HISTORY_COMPANY if history else DEMO_COMPANY
    config = SandboxConfig(api_key=SANDBOX_API_KEY, app_id=SANDBOX_APP_ID,
                           history_companies=frozenset({HISTORY_COMPANY}) if history else frozenset())
    with SandboxServer(config) as server:
        settings.point_apideck_at(server.url, SANDBOX_API_KEY, SANDBOX_APP_ID)
        register_company(company, HISTORY_COMPANY_NAME if history else DEMO_COMPANY_NAME)
        if history:
            result = _history_days(server, config)
        else:
            result = run_in_process(company)
    output.print_run_summary(company, result)
    click.echo(f"Teammeter database: {settings.printable_url(settings.teammeter_database_url())}")
    click.echo(f"Data folder:        {settings.data_dir()}")
    click.echo(f"Dagster home:       {home}")
    click.echo("Open the UI with `make dev` (http://127.0.0.1:3000), company partition "
               f"'{company}'.")
    if not result.success:
        sys.exit(1)
    if history:
        _print_history(company)
    click.echo(f"Verification report for the customer's admin (open it in a browser): "
               f"{report_file(settings.data_dir(), company)}")


def _history_days(server, config):
    """Teammeter's accounts from before the connection, then the sandbox's days 0, 1 and 2, one
    sync each (as the daily schedule would run them)."""
    from personio_pipeline.cli import context
    from personio_pipeline.companies import registry
    from personio_pipeline.sandbox import history
    from personio_pipeline.sandbox.generator import build_company
    from personio_pipeline.store import hand_edits
    from personio_pipeline.store.db import company_transaction
    from personio_pipeline.store.schema import users

    import sqlalchemy as sa

    company = build_company(HISTORY_COMPANY, config.company_size(HISTORY_COMPANY), history=True)
    seeded = history.existing_accounts(company)
    with company_transaction(context.engine()) as conn:
        organisation_id = registry.get(conn, HISTORY_COMPANY).id
        has_accounts = conn.execute(sa.select(users.c.id).where(users.c.organisation_id == organisation_id).limit(1)).first()
        if not has_accounts:  # a second demo run keeps what the first made and synced
            for account in seeded:
                hand_edits.create_user(conn, HISTORY_COMPANY, account.name, account.email, registered=account.registered)
    click.echo("Teammeter's accounts from before the connection are there already" if has_accounts else
               f"Teammeter had {len(seeded)} accounts before the connection ({len(history.COACHES)} coaches among them)")
    result = None
    for day in (0, history.LEAVERS_DAY, history.REHIRE_DAY):
        server.config.day = day
        click.echo(f"-- sandbox day {day}")
        result = run_in_process(HISTORY_COMPANY)
        if not result.success:
            break
    return result


def _print_history(consumer_id: str) -> None:
    """What the history demo shows, counted from the review's rows."""
    from personio_pipeline.cli import context
    from personio_pipeline.reporting.review import review_users

    with context.engine().connect() as conn:
        rows = review_users(conn, consumer_id)
    notes = [row["note"] for row in rows]
    counted = {
        "existing accounts linked by address": sum(row["linked_by"] == "address" for row in rows),
        "rehires back on their old account": sum(row["linked_by"] == "rehire" for row in rows),
        "recycled addresses (a new account)": sum("recycled address" in note for note in notes),
        "accounts outside Personio (coaches)": sum(row["employee_id"] is None for row in rows),
        "pre-hires without access yet": sum(note.startswith("pre-hire") for note in notes),
        "kept on an unknown HR status (leave)": sum("unknown HR status" in note for note in notes),
    }
    click.echo("History: " + "; ".join(f"{label} {count}" for label, count in counted.items()))
    click.echo(f"Each person's story: personio-pipeline explain {consumer_id} EMPLOYEE_ID "
               f"(the review: personio-pipeline review {consumer_id})")


@click.command()
@click.option("--sandbox-port", default=8711, show_default=True, help="Port of the local sandbox.")
@click.option("--port", default=3000, show_default=True, help="Port of the Dagster UI.")
def dev(sandbox_port: int, port: int) -> None:
    """Start the sandbox and `dagster dev` on this instance (UI on 127.0.0.1:PORT)."""
    from personio_pipeline.runtime.instance import ensure_dagster_home
    from personio_pipeline.sandbox.config import SandboxConfig
    from personio_pipeline.sandbox.server import SandboxServer

    ensure_dagster_home()
    with SandboxServer(SandboxConfig(api_key=SANDBOX_API_KEY, app_id=SANDBOX_APP_ID), port=sandbox_port) as server:
        settings.point_apideck_at(server.url, SANDBOX_API_KEY, SANDBOX_APP_ID)
        register_company(DEMO_COMPANY, DEMO_COMPANY_NAME)
        click.echo(f"sandbox on {server.url}; Dagster UI on http://127.0.0.1:{port}")
        command = [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", "-p", str(port)]
        try:
            subprocess.run(command, check=False)
        except KeyboardInterrupt:
            pass
