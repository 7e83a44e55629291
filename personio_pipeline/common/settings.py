"""Where the pipeline keeps local state when nothing else is configured (the embedded default)."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

DATA_DIR_ENV = "PERSONIO_PIPELINE_DATA_DIR"
DATABASE_URL_ENV = "TEAMMETER_DATABASE_URL"
STEP_RETRIES_ENV = "PERSONIO_STEP_RETRIES"
TODAY_ENV = "PERSONIO_PIPELINE_TODAY"
STEP_RETRY_DELAY_ENV = "PERSONIO_STEP_RETRY_DELAY_SECONDS"


def data_dir() -> Path:
    """Local folder for raw extracts, model tables and the SQLite Teammeter database."""
    return Path(os.environ.get(DATA_DIR_ENV, Path.cwd() / "data")).resolve()


def teammeter_database_url() -> str:
    """`TEAMMETER_DATABASE_URL`, else a SQLite file in the data folder."""
    url = os.environ.get(DATABASE_URL_ENV)
    if url:
        return url
    return f"sqlite:///{data_dir() / 'teammeter.sqlite'}"


def teammeter_database_kind(url: str | None = None) -> str:
    """The Teammeter database's engine as a Dagster kind ('sqlite', 'postgres'), so the UI shows
    the store the definitions were built for."""
    from sqlalchemy.engine import make_url

    backend = make_url(url or teammeter_database_url()).get_backend_name()
    return "postgres" if backend == "postgresql" else backend


def printable_url(url: str) -> str:
    """The URL with its password masked, for what the CLI prints."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def step_retries() -> tuple[int, float]:
    """How often a step that touches Apideck or the database is tried again after a transient
    failure, and the base delay of the exponential backoff: `PERSONIO_STEP_RETRIES` (default 3)
    and `PERSONIO_STEP_RETRY_DELAY_SECONDS` (default 5: retries after about 5, 15 and 35 s)."""
    return int(os.environ.get(STEP_RETRIES_ENV) or 3), float(os.environ.get(STEP_RETRY_DELAY_ENV) or 5)


def today() -> date:
    """The date the organisation model is built for (an employment that ended before it is over):
    the machine's date, or `PERSONIO_PIPELINE_TODAY` (YYYY-MM-DD), which tests use to pin it."""
    pinned = os.environ.get(TODAY_ENV)
    return date.fromisoformat(pinned) if pinned else date.today()
