"""How the CLI reports a run: one line per materialised table and per problem (company, step, what
went wrong, the employee ids and HR fields), no stack traces, no addresses. Tables are printed
with `common/tables.py`.

Dagster and `tabulate` (`common/tables.py`) are imported inside the functions (deliberately lazy,
see `context.py`).
"""

from __future__ import annotations

from datetime import datetime

import click

from personio_pipeline.common.redaction import redact, secrets_from_env

# Metadata of a materialisation worth a word in a run summary.
SUMMARY_KEYS = (
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


def one_line(text: str, limit: int = 600) -> str:
    """Whitespace (line breaks included) collapsed, addresses and secrets removed, capped."""
    return redact(" ".join(text.split()), secrets_from_env(), limit=limit)


def when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else "never"


def materialization_line(materialization) -> str:
    shown = {k: v.value for k, v in materialization.metadata.items() if k in SUMMARY_KEYS}
    described = ", ".join(f"{k.removeprefix('dagster/')}={v}" for k, v in shown.items())
    return f"  {materialization.asset_key.to_user_string():<32} {described}"


def failure_line(consumer_id: str, step: str | None, failure) -> str:
    """One line for a failed step: company, step, what went wrong and, for data problems, the
    employee ids and HR fields (from the failure's metadata). No stack trace, no address."""
    from personio_pipeline.common.logs import error_summary  # lazy: Dagster
    from personio_pipeline.common.tables import listed

    data = failure.user_failure_data
    text = data.description if data is not None and data.description else error_summary(failure.error)
    line = f"FAILED company '{consumer_id}', step '{step or '(run)'}': {one_line(text)}"
    metadata = data.metadata if data is not None else {}
    ids, fields = metadata.get("employee_ids"), metadata.get("fields")
    if ids is not None and ids.value:
        line += f" [employee ids: {listed(ids.value)}; fields: {', '.join(fields.value) if fields else '-'}]"
    return line


def check_problem_line(consumer_id: str, step: str | None, evaluation) -> str | None:
    """One line for a failed ERROR check (a data problem: people held back), else None."""
    import dagster as dg  # lazy, see the module docstring

    from personio_pipeline.common.tables import listed

    if evaluation.passed or evaluation.severity != dg.AssetCheckSeverity.ERROR:
        return None
    metadata = evaluation.metadata
    ids = metadata.get("employee_ids")
    fields = metadata.get("fields") or metadata.get("field")
    field_text = ", ".join(fields.value) if fields is not None and isinstance(fields.value, list) else (
        fields.value if fields is not None else "-")
    return (f"HELD BACK company '{consumer_id}', step '{step}', check {evaluation.check_name}: "
            f"employee ids {listed(ids.value if ids is not None else [])} (field: {field_text})")


def print_run_summary(consumer_id: str, result, verbose: bool = False) -> None:
    """What a run in this process did: its outcome, each table written, each problem."""
    import dagster as dg  # lazy, see the module docstring

    status = "succeeded" if result.success else "FAILED"
    click.echo(f"{result.job_def.name} for '{consumer_id}' {status} (run {result.run_id})")
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            click.echo(materialization_line(event.event_specific_data.materialization))
        elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            line = check_problem_line(consumer_id, event.step_key, event.event_specific_data)
            if line:
                click.echo(f"  {line}")
        elif event.event_type == dg.DagsterEventType.STEP_FAILURE:
            click.echo(f"  {failure_line(consumer_id, event.step_key, event.event_specific_data)}")
            if verbose:
                click.echo(event.event_specific_data.error.to_string())


def print_followed_event(event) -> None:
    """One line per step and asset event of a run followed on the instance."""
    import dagster as dg  # lazy, see the module docstring

    from personio_pipeline.common.logs import error_summary

    kind = event.event_type
    if kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
        click.echo(materialization_line(event.event_specific_data.materialization))
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
