"""The code location the daemon test loads: the project's definitions as they are (schedule,
sensors, assets, checks, resources), with steps executed in the run worker's process.

Dagster's default executor starts a fresh Python process per step; with this project's
13 steps that is ~40 CPU-seconds per company on the 2-core test machine, most of it imports,
against ~4 s in process. Until definitions.py chooses an executor (proposed in deploy/README.md),
the test runs in process so several companies fit its time budget; run queue limits, the
per-company limit and pools apply the same way to both executors.
"""

import dagster as dg

import personio_pipeline.definitions as project  # a module: one Definitions object at module scope

defs = (
    project.defs
    if project.defs.executor is not None
    else dg.Definitions.merge(project.defs, dg.Definitions(executor=dg.in_process_executor))
)
