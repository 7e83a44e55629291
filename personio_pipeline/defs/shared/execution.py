"""How runs execute and log, for every job of the code location."""

import dagster as dg

from personio_pipeline.common.logs import configure_python_logging, run_loggers


@dg.definitions
def execution() -> dg.Definitions:
    configure_python_logging()
    return dg.Definitions(
        # A company run is a short chain of steps: one process per run (one pod per run on
        # Kubernetes) is much cheaper than a process per step.
        executor=dg.in_process_executor,
        # PERSONIO_LOG_FORMAT=json: run logs as JSON lines (common/logs.py).
        loggers=run_loggers(),
    )
