"""`invitations`: see a company's invitations, send the due ones now, and decide on those the
pipeline could not settle on its own (ambiguous deliveries, failures).

Imports of the pipeline's modules are inside the commands (deliberately lazy, see `context.py`).
"""

from __future__ import annotations

import json
import sys

import click

from personio_pipeline.cli import context
from personio_pipeline.cli.runs import IN_PROCESS_HELP, WORKSPACE_HELP, run_company_job


@click.group()
def invitations() -> None:
    """See invitations and decide on those the pipeline could not settle on its own."""


@invitations.command("list")
@click.argument("consumer_id")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def invitations_list(consumer_id: str, fmt: str) -> None:
    """Invitations of CONSUMER_ID with their status (pending, sent, failed, ambiguous …)."""
    from personio_pipeline.companies import registry
    from personio_pipeline.invitations.state import format_invitations, list_invitations

    try:
        with context.engine().connect() as conn:
            rows = list_invitations(conn, consumer_id)
    except registry.UnknownCompanyError as error:
        raise click.ClickException(str(error)) from None
    click.echo(json.dumps(rows, indent=2, ensure_ascii=False) if fmt == "json" else format_invitations(rows))


@invitations.command("send")
@click.argument("consumer_id")
@click.option("--in-process", is_flag=True, help=IN_PROCESS_HELP)
@click.option("-w", "--workspace", "workspace_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help=WORKSPACE_HELP)
def invitations_send(consumer_id: str, in_process: bool, workspace_file: str | None) -> None:
    """Run the invitation job for CONSUMER_ID now (the invitation sensor does this on its own),
    through the instance's run queue like `sync` (in this process without a daemon)."""
    from personio_pipeline.defs.shared.keys import INVITE_JOB

    if not run_company_job(consumer_id, INVITE_JOB, None, in_process=in_process,
                           workspace_file=workspace_file, needs_apideck=False):
        sys.exit(1)


def _invitation_decision(name: str, help_text: str):
    @invitations.command(name, help=help_text)
    @click.argument("consumer_id")
    @click.argument("invitation_ids", nargs=-1, type=int, required=True)
    def decide(consumer_id: str, invitation_ids: tuple[int, ...]) -> None:
        from personio_pipeline.companies import registry
        from personio_pipeline.invitations import decisions
        from personio_pipeline.store.db import company_transaction

        action = getattr(decisions, name.replace("-", "_"))
        try:
            with company_transaction(context.engine()) as conn:
                done = action(conn, consumer_id, invitation_ids)
        except (registry.UnknownCompanyError, decisions.InvitationDecisionError) as error:
            raise click.ClickException(str(error)) from None
        click.echo(f"{name}: {', '.join(map(str, done))}")

    return decide


_invitation_decision("release-stale", "Ambiguous invitations were NOT delivered: send them again (new token).")
_invitation_decision("confirm-delivered", "Ambiguous invitations DID arrive: record them as sent.")
_invitation_decision("retry-failed", "Failed invitations: try again with a fresh allowance of attempts.")
