"""Resources: the only way assets reach Apideck and the Teammeter database."""

from __future__ import annotations

import os
from typing import Any

import dagster as dg
import sqlalchemy as sa
from pydantic import Field

from personio_pipeline import settings
from personio_pipeline.apideck.client import DEFAULT_BASE_URL, ApideckHrisClient, RetrySettings
from personio_pipeline.teammeter.db import migrated_engine


class ApideckResource(dg.ConfigurableResource):
    """Apideck Unify credentials; the key comes from `APIDECK_API_KEY` and is never logged."""

    api_key: str = Field(description="Apideck API key (secret); set through the APIDECK_API_KEY env var.")
    app_id: str = Field(description="Apideck application id (APIDECK_APP_ID).")
    base_url: str = Field(default=DEFAULT_BASE_URL, description="Apideck base URL (APIDECK_BASE_URL).")
    timeout_seconds: float = Field(default=30.0, description="Per-request timeout.")
    max_retry_seconds: float = Field(default=300.0, description="Total time budget for retries per listing.")
    max_attempts: int = Field(default=8, description="Attempts per page before giving up.")

    def hris_client(self, logger: Any = None) -> ApideckHrisClient:
        return ApideckHrisClient(
            api_key=self.api_key,
            app_id=self.app_id,
            base_url=self.base_url,
            timeout_seconds=self.timeout_seconds,
            retry=RetrySettings(max_attempts=self.max_attempts, max_total_seconds=self.max_retry_seconds),
            logger=logger,
        )


class TeammeterDatabase(dg.ConfigurableResource):
    """Teammeter's database (`TEAMMETER_DATABASE_URL`; SQLite in the data folder by default)."""

    url: str = Field(description="SQLAlchemy URL of the Teammeter database.")

    def engine(self) -> sa.Engine:
        return migrated_engine(self.url)


def default_resources() -> dict[str, Any]:
    """Resources as deployed: secrets through `dg.EnvVar`, plain settings with local defaults."""
    from personio_pipeline.defs.io import LocalFilesIOManager

    return {
        "apideck": ApideckResource(
            api_key=dg.EnvVar("APIDECK_API_KEY"),
            app_id=dg.EnvVar("APIDECK_APP_ID"),
            base_url=os.environ.get("APIDECK_BASE_URL", DEFAULT_BASE_URL),
        ),
        "teammeter_db": TeammeterDatabase(url=settings.teammeter_database_url()),
        "io_manager": LocalFilesIOManager(base_dir=str(settings.data_dir())),
    }
