"""The verification step: `review` (a company as Teammeter holds it, or its verification report),
`explain` (one person, and why they look so) and `verify` (the data team's approval, which
releases the invitations).

Imports of the pipeline's modules are inside the commands (deliberately lazy, see `context.py`).
"""

from __future__ import annotations

from pathlib import Path

import click

from personio_pipeline.cli import context


@click.command()
@click.argument("consumer_id")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "html"]), default="table",
              show_default=True, help="html: the verification report for the customer's admin (one self-contained page).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write to this file instead of printing (html, large company: its CSV lists go next to it).")
def review(consumer_id: str, fmt: str, output: str | None) -> None:
    """Print company CONSUMER_ID as Teammeter holds it, for the verification step."""
    from personio_pipeline.companies import registry

    try:
        with context.engine().connect() as conn:
            if fmt == "html":
                report = _review_html(conn, consumer_id, Path(output) if output else None)
                text = report.page
            else:
                text = _review_text(conn, consumer_id, fmt)
    except registry.UnknownCompanyError as error:
        raise click.ClickException(str(error)) from None
    if fmt == "html" and report.lists:
        if output is None:
            click.echo(f"company '{consumer_id}' is large: this is its summary page; its full lists are CSV files "
                       "written next to the page with -o FILE", err=True)
        else:
            from personio_pipeline.reporting.verification import write_report

            write_report(Path(output), report)
            names = ", ".join(sorted(path.name for path in report.files(Path(output)) if path != Path(output)))
            click.echo(f"review of company '{consumer_id}' written to {Path(output).resolve()} with {names} "
                       "next to it", err=True)
            return
    if output is None:
        click.echo(text, nl=fmt != "html")
        return
    Path(output).write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    click.echo(f"review of company '{consumer_id}' written to {Path(output).resolve()}", err=True)


def _review_text(conn, consumer_id: str, fmt: str) -> str:
    from personio_pipeline.reporting.review import format_review, review_summary, review_users

    return format_review(review_users(conn, consumer_id), review_summary(conn, consumer_id), fmt)


def _review_html(conn, consumer_id: str, output: Path | None):
    """The report from the store, with the org model's employees from the data folder
    when a sync has left them there (why addresses are unusable, merged spellings); a large
    company's CSV lists are named after the output file."""
    import pandas as pd

    from personio_pipeline.common import settings
    from personio_pipeline.companies.files import model_file
    from personio_pipeline.defs.shared.keys import ORG_EMPLOYEES
    from personio_pipeline.reporting.verification import make_report, page_stem

    employees_file = model_file(settings.data_dir(), tuple(ORG_EMPLOYEES.path), consumer_id)
    employees = pd.read_parquet(employees_file) if employees_file.exists() else None
    return make_report(conn, consumer_id, employees, stem=page_stem(output) if output else consumer_id)


@click.command()
@click.argument("consumer_id")
def verify(consumer_id: str) -> None:
    """Mark company CONSUMER_ID's imported organisation as verified: releases its invitations."""
    from personio_pipeline.companies import registry
    from personio_pipeline.store.hand_edits import mark_verified

    try:
        with context.engine().begin() as conn:
            company = registry.get(conn, consumer_id)
            if company.first_synced_at is None:
                raise click.ClickException(
                    f"Company '{consumer_id}' has not been synced yet: run `personio-pipeline sync {consumer_id}` "
                    "and review it first."
                )
            mark_verified(conn, consumer_id)
    except registry.UnknownCompanyError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"company '{consumer_id}' verified; invitations will go out on the next sensor tick")


@click.command()
@click.argument("consumer_id")
@click.argument("employee_id")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def explain(consumer_id: str, employee_id: str, fmt: str) -> None:
    """Why person EMPLOYEE_ID of company CONSUMER_ID looks as it does in Teammeter: the raw
    attributes read, the model row, the account and its access, held back or not, the invitation
    decision and the last changes. `account:N` names an account outside Personio."""
    from personio_pipeline.common import settings
    from personio_pipeline.companies import registry
    from personio_pipeline.reporting.explain import explain as explain_person
    from personio_pipeline.reporting.explain import format_explanation

    try:
        with context.engine().connect() as conn:
            found = explain_person(conn, consumer_id, employee_id, settings.data_dir())
    except (registry.UnknownCompanyError, LookupError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(format_explanation(found, fmt))
