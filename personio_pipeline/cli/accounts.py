"""`accounts`: the Teammeter accounts a company has outside Personio (coaches, people added by
hand, accounts from before the connection). The sync never changes, deactivates or invites them,
and links one to the Personio person with the same address (see `store/linking.py`).

Imports of the pipeline's modules are inside the commands (deliberately lazy, see `context.py`).
"""

from __future__ import annotations

import json

import click

from personio_pipeline.cli import context


@click.group()
def accounts() -> None:
    """Teammeter accounts outside Personio: add them, list every account and how it is linked."""


@accounts.command("add")
@click.argument("consumer_id")
@click.option("--name", required=True, help="The person's name as Teammeter shows it.")
@click.option("--email", required=True, help="Their login address (checked by the address policy).")
@click.option("--registered", is_flag=True, help="The person has signed in already: never invited.")
def accounts_add(consumer_id: str, name: str, email: str, registered: bool) -> None:
    """Add an account outside Personio to company CONSUMER_ID; prints its account id."""
    from personio_pipeline.companies import registry
    from personio_pipeline.store.db import company_transaction
    from personio_pipeline.store.hand_edits import create_user

    try:
        with company_transaction(context.engine()) as conn:
            account_id = create_user(conn, consumer_id, name, email, registered=registered)
    except registry.UnknownCompanyError as error:
        raise click.ClickException(str(error)) from None
    except ValueError as error:
        raise click.ClickException(f"Company '{consumer_id}': {error}") from None
    click.echo(account_id)


@accounts.command("list")
@click.argument("consumer_id")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def accounts_list(consumer_id: str, fmt: str) -> None:
    """Every account of company CONSUMER_ID: id, HR id (empty outside Personio), origin, how it was
    linked, registered, active, access."""
    from personio_pipeline.common.tables import cell, format_table
    from personio_pipeline.companies import registry
    from personio_pipeline.reporting.review import review_users

    try:
        with context.engine().connect() as conn:
            rows = review_users(conn, consumer_id)
    except registry.UnknownCompanyError as error:
        raise click.ClickException(str(error)) from None
    columns = ("account_id", "employee_id", "name", "origin", "linked_by", "registered", "active", "has_access")
    listed = [{column: row[column] for column in columns} for row in rows]
    if fmt == "json":
        click.echo(json.dumps(listed, ensure_ascii=False, indent=2))
        return
    click.echo(format_table(([cell(row[c], 60) for c in columns] for row in listed), columns, right=("account_id",)))
