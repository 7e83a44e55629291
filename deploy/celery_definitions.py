"""The personio_pipeline code location with every step executed by Celery workers.

This is the scale-out path for machines without Kubernetes: the daemon launches each company's
run as usual, and the run worker hands every step to the Celery queue instead of running it
itself, so any number of worker machines share the companies' steps. The Kubernetes path
(deploy/helm/values.yaml) does not need it: there each run gets its own pod.

Load it instead of `personio_pipeline.definitions`:
    dagster code-server start -f deploy/celery_definitions.py        # or in a workspace.yaml
and start workers with the same settings (deploy/celery.yaml):
    dagster-celery worker start -A dagster_celery.app -y deploy/celery.yaml -q "$DAGSTER_CELERY_QUEUE"

Settings (environment): DAGSTER_CELERY_BROKER_URL, DAGSTER_CELERY_BACKEND_URL, and
DAGSTER_CELERY_QUEUE (default `dagster`; one queue per deployment when several share a broker).
Workers need what the run needs: the Teammeter database, the Apideck settings, the Dagster
instance (PostgreSQL: DAGSTER_HOME with deploy/dagster.yaml) and a data folder that every worker
and run worker sees (PERSONIO_PIPELINE_DATA_DIR on shared storage), since steps hand their
outputs to each other through it.
"""

from __future__ import annotations

import os

import dagster as dg
from dagster_celery import celery_executor

import personio_pipeline.definitions as project  # a module: one Definitions object at module scope

CELERY_QUEUE = os.environ.get("DAGSTER_CELERY_QUEUE", "dagster")

celery = celery_executor.configured(
    {
        "broker": {"env": "DAGSTER_CELERY_BROKER_URL"},
        "backend": {"env": "DAGSTER_CELERY_BACKEND_URL"},
        "config_source": {"task_default_queue": CELERY_QUEUE},
    },
    name="celery",
)


def with_executor(defs: dg.Definitions, executor: dg.ExecutorDefinition) -> dg.Definitions:
    """The same definitions with `executor` as the default of every job (replacing any other)."""
    return dg.Definitions(
        assets=defs.assets,
        asset_checks=defs.asset_checks,
        jobs=defs.jobs,
        schedules=defs.schedules,
        sensors=defs.sensors,
        resources=defs.resources,
        loggers=defs.loggers,
        executor=executor,
    )


defs = with_executor(project.defs, celery)
