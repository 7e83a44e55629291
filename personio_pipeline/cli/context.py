"""What the commands share: the Teammeter database, the Dagster instance, the Apideck settings.

Every `personio-pipeline` call imports the command modules, so they import only click and the
standard library at module top; Dagster, SQLAlchemy, pandas and the pipeline modules that load
them are imported inside the commands that use them (deliberately lazy: `--help` and the simple
commands answer at once).
"""

from __future__ import annotations

import click

from personio_pipeline.common import settings


def engine():
    """The migrated Teammeter engine; a one-line error when the schema is behind this code."""
    from personio_pipeline.store.db import SchemaNotCurrentError, migrated_engine  # lazy: SQLAlchemy

    try:
        return migrated_engine(settings.teammeter_database_url())
    except SchemaNotCurrentError as error:
        raise click.ClickException(str(error)) from None


def instance():
    """The Dagster instance in DAGSTER_HOME (default `.dagster_home` here, as `make dev` uses)."""
    from personio_pipeline.runtime.instance import dagster_instance  # lazy: Dagster

    return dagster_instance()


def require_apideck_settings() -> None:
    missing = settings.missing_apideck_credentials()
    if missing:
        raise click.ClickException(
            f"{' and '.join(missing)} not set. Remedy: export the Apideck credentials, or run "
            "`personio-pipeline sandbox` and point APIDECK_BASE_URL at it (any key and app id work)."
        )


def apideck_options() -> dict[str, str]:
    """api_key, app_id and base_url of the configured Apideck (after `require_apideck_settings`)."""
    from personio_pipeline.apideck.http import DEFAULT_BASE_URL  # lazy: httpx

    require_apideck_settings()
    return {
        "api_key": settings.apideck_api_key(),
        "app_id": settings.apideck_app_id(),
        "base_url": settings.apideck_base_url(DEFAULT_BASE_URL),
    }
