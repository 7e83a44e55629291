"""`personio-pipeline`: the data team's command line for companies, syncs and the sandbox.

One module per command group: `companies` (tenants, connect, status), `accounts` (Teammeter
accounts outside Personio), `runs` (sync), `review`
(review, verify), `invitations`, `store` (db, retention), `webhooks` and `sandbox` (sandbox, demo,
dev); `output` prints runs and problems, `context` gives the commands the database, the instance
and the Apideck settings. The work itself is done by the pipeline's packages (`runtime/` runs
jobs); the commands choose and print.
"""

from __future__ import annotations

import click

from personio_pipeline.cli import accounts, companies, invitations, review, runs, sandbox, store, webhooks


class _Main(click.Group):
    """The command group, with `companies` as another name for `tenants`."""

    ALIASES = {"companies": "tenants"}

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, self.ALIASES.get(cmd_name, cmd_name))


@click.group(cls=_Main)
def main() -> None:
    """Operate the Personio → Teammeter sync. PERSONIO_LOG_FORMAT=json logs in JSON lines."""
    # Lazy: the JSON log handler comes with Dagster, which `--help` does not need.
    from personio_pipeline.common.logs import configure_python_logging

    configure_python_logging()


for _command in (
    companies.tenants, companies.connect, companies.status, accounts.accounts,
    runs.sync,
    review.review, review.verify, review.explain,
    invitations.invitations,
    store.db, store.retention,
    webhooks.webhooks,
    sandbox.sandbox, sandbox.demo, sandbox.dev,
):
    main.add_command(_command)
