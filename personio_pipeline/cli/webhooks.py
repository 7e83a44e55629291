"""`webhooks`: the receiver of Apideck's signed events, the subscription that sends them, and the
inbox they land in (see README, event-driven updates).

Imports of the receiver, the clients and the store are inside the commands (deliberately lazy,
see `context.py`).
"""

from __future__ import annotations

import json

import click

from personio_pipeline.cli import context
from personio_pipeline.cli.output import when
from personio_pipeline.common import settings


@click.group()
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

    api_key = settings.apideck_api_key()
    if not api_key:
        raise click.ClickException(
            "APIDECK_API_KEY not set: the receiver checks each event's signature with the Apideck API key. "
            "Remedy: export it (the same key the pipeline uses)."
        )
    app = create_app(context.engine(), api_key, max_body_bytes=max_body_bytes)
    click.echo(f"webhook receiver on http://{host}:{port}/webhooks/apideck (health: /healthz)")
    serve(app, host, port, access_log=access_log)


def _webhook_client():
    from personio_pipeline.webhooks.subscription import ApideckWebhookClient

    return ApideckWebhookClient(**context.apideck_options())


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
    from personio_pipeline.apideck.errors import ApideckError
    from personio_pipeline.webhooks import inbox

    subscriptions, problem = [], None
    if not offline:
        try:
            with _webhook_client() as client:
                subscriptions = client.list()
        except (ApideckError, click.ClickException) as error:
            problem = str(getattr(error, "message", error))
    with context.engine().connect() as conn:
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
    click.echo(f"inbox: {counts}; last event received {when(backlog.last_received_at)}")
    if backlog.pending_by_company:
        click.echo(f"pending since {when(backlog.oldest_pending_at)}:")
        for consumer_id, count in backlog.pending_by_company.items():
            click.echo(f"  {consumer_id or '-':<32} {count}")
