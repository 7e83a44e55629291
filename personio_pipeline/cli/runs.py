"""`sync`: run one company's sync now, and how every CLI run is started and followed (`sync`,
`invitations send`): submitted to the instance's run queue when a dagster-daemon is there to
start it, else (or with --in-process) in this process. The running itself is
`runtime/company_runs.py`; this module chooses and prints.

Imports of Dagster and the runtime are inside the functions (deliberately lazy, see `context.py`).
"""

from __future__ import annotations

import sys

import click

from personio_pipeline.cli import context, output

IN_PROCESS_HELP = "Run in this process even if a dagster-daemon could run it (no run queue, no per-company limit)."
WORKSPACE_HELP = ("The deployment's workspace.yaml to take the code location from (default: this environment's "
                  "personio_pipeline.definitions, location 'personio_pipeline').")


def run_in_process(consumer_id: str, run_config: dict | None = None, job_name: str | None = None,
                   verbose: bool = True, instance=None):
    """The company's job (default: the sync) in this process on `instance` (default: the current
    one); the result. An unknown company is a one-line error."""
    from personio_pipeline.companies.registry import UnknownCompanyError
    from personio_pipeline.defs.shared.keys import SYNC_JOB
    from personio_pipeline.runtime.company_runs import run_in_process as run

    try:
        return run(instance or context.instance(), consumer_id, context.engine, job_name=job_name or SYNC_JOB,
                   run_config=run_config, verbose=verbose)
    except UnknownCompanyError as error:
        raise click.ClickException(str(error)) from None


def run_company_job(consumer_id: str, job_name: str, ops_config: dict | None, *, in_process: bool,
                    workspace_file: str | None, needs_apideck: bool, verbose: bool | None = None) -> bool:
    """Submit the company's run to the instance and follow it to its end; in this process instead
    when the instance cannot start it (no daemon) or `--in-process` asks for it. True on success."""
    from personio_pipeline.companies.registry import UnknownCompanyError
    from personio_pipeline.runtime.company_runs import require_partition
    from personio_pipeline.runtime.instance_runs import why_not_through_instance

    instance = context.instance()
    try:
        require_partition(instance, consumer_id)
    except UnknownCompanyError as error:
        raise click.ClickException(str(error)) from None
    reason = "--in-process" if in_process else why_not_through_instance(instance)
    if reason is None:
        return _run_through_instance(instance, consumer_id, job_name, ops_config or {}, workspace_file)
    click.echo(f"{reason}: running {job_name} for '{consumer_id}' in this process "
               "(no run queue, no per-company limit, no run launcher)")
    if needs_apideck:
        context.require_apideck_settings()
    # verbose None (invitations send): Dagster's run log as before, summary without traces.
    result = run_in_process(consumer_id, ops_config, job_name, verbose=True if verbose is None else verbose,
                            instance=instance)
    output.print_run_summary(consumer_id, result, verbose=bool(verbose))
    return result.success


def _run_through_instance(instance, consumer_id: str, job_name: str, run_config: dict, workspace_file: str | None) -> bool:
    import dagster as dg  # lazy, see the module docstring

    from personio_pipeline.runtime.company_runs import submit_and_follow

    submitted = []

    def on_submitted(run) -> None:
        submitted.append(run)
        click.echo(f"run {run.run_id} of {job_name} for '{consumer_id}' submitted to the instance's run queue "
                   "(Ctrl-C stops following it, not the run)")

    try:
        run = submit_and_follow(instance, consumer_id, job_name, run_config, workspace_file,
                                on_submitted=on_submitted, on_event=output.print_followed_event,
                                on_status=lambda status: click.echo(f"  run {status.value.lower()}"))
    except KeyboardInterrupt:
        if not submitted:
            raise
        click.echo(f"\nstopped following; run {submitted[0].run_id} goes on (Dagster UI, `personio-pipeline status`)")
        sys.exit(130)
    success = run.status == dg.DagsterRunStatus.SUCCESS
    outcome = "succeeded" if success else "FAILED" if run.status == dg.DagsterRunStatus.FAILURE else run.status.value
    click.echo(f"{job_name} of '{consumer_id}' {outcome} (run {run.run_id})")
    return success


@click.command()
@click.argument("consumer_id")
@click.option("--approve-deactivations", is_flag=True, help="Write although the safeguard would stop the run.")
@click.option("--max-deactivation-share", type=float, default=None,
              help="Allowed share of active users deactivated in this run (default 0.2 or the company's own).")
@click.option("--full", "full_sync", is_flag=True,
              help="Compare with the store even if nothing changed since the last sync (after raw SQL edits).")
@click.option("--max-held-back-share", type=float, default=None,
              help="Share of active people that may newly be held back before the run stops (default 0.05).")
@click.option("--verbose", is_flag=True, help="Show Dagster's run log and the full trace of a failure (in-process runs).")
@click.option("--in-process", is_flag=True, help=IN_PROCESS_HELP)
@click.option("-w", "--workspace", "workspace_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help=WORKSPACE_HELP)
def sync(consumer_id: str, approve_deactivations: bool, max_deactivation_share: float | None, full_sync: bool,
         max_held_back_share: float | None, verbose: bool, in_process: bool, workspace_file: str | None) -> None:
    """Sync company CONSUMER_ID now (everything but invitations): a run submitted to this instance's
    run queue and followed until it ends (exit code 1 if it fails). Without a running
    dagster-daemon, or with --in-process, the run executes in this process. Prints one line per
    problem (company, step, employee ids and HR field); --verbose adds the run log and stack
    traces, which the Dagster UI keeps for every run anyway."""
    from personio_pipeline.defs.shared.keys import SYNC_JOB, SYNC_WRITE_STEP

    config = {
        "approve_deactivations": approve_deactivations,
        "max_deactivation_share": max_deactivation_share,
        "full_sync": full_sync,
        "max_held_back_share": max_held_back_share,
    }
    ops_config = {"ops": {SYNC_WRITE_STEP: {"config": config}}}
    if not run_company_job(consumer_id, SYNC_JOB, ops_config, in_process=in_process,
                           workspace_file=workspace_file, needs_apideck=True, verbose=verbose):
        sys.exit(1)
