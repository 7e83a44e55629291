"""The Dagster instance the CLI and the demo work on: the one in `DAGSTER_HOME` (default
`.dagster_home` here), given the embedded default configuration (`dagster_local.yaml`: a run
queue with one run per company at a time, the `apideck` and `teammeter_write` pools) the first
time. Deployments mount their own dagster.yaml there (deploy/dagster.yaml)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from personio_pipeline.common import settings

LOCAL_CONFIG = Path(__file__).with_name("dagster_local.yaml")


def ensure_dagster_home() -> Path:
    """`DAGSTER_HOME`, created with the local configuration unless it has one already."""
    home = settings.use_dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(LOCAL_CONFIG.read_text())
    return home


def dagster_instance() -> dg.DagsterInstance:
    ensure_dagster_home()
    return dg.DagsterInstance.get()
