"""The one place that reads the environment: every setting of the pipeline, its variable and its
default. Values are read when asked for (a changed environment is honoured within one process),
except where Dagster needs them when the definitions are built (schedule cron, sensor interval).

Secrets (APIDECK_API_KEY, TEAMMETER_DATABASE_URL, SMTP_USER/SMTP_PASSWORD, DATA_TEAM_WEBHOOK_URL)
reach Dagster resources as `dg.EnvVar` (`defs/shared/resources.py`): Dagster then shows the
variable's name, never its value; here they are only tested for presence (`is_set`) or read by the
CLI and the redaction of logs.

Kept light (standard library only): the CLI imports it before it knows what a command needs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path

# -- local state ---------------------------------------------------------------------------------
DATA_DIR_ENV = "PERSONIO_PIPELINE_DATA_DIR"
DATABASE_URL_ENV = "TEAMMETER_DATABASE_URL"
DAGSTER_HOME_ENV = "DAGSTER_HOME"
TODAY_ENV = "PERSONIO_PIPELINE_TODAY"
# -- step retries --------------------------------------------------------------------------------
STEP_RETRIES_ENV = "PERSONIO_STEP_RETRIES"
STEP_RETRY_DELAY_ENV = "PERSONIO_STEP_RETRY_DELAY_SECONDS"
# -- Apideck -------------------------------------------------------------------------------------
APIDECK_API_KEY_ENV = "APIDECK_API_KEY"
APIDECK_APP_ID_ENV = "APIDECK_APP_ID"
APIDECK_BASE_URL_ENV = "APIDECK_BASE_URL"
# -- mail and alerts -----------------------------------------------------------------------------
SMTP_HOST_ENV = "SMTP_HOST"
SMTP_PORT_ENV = "SMTP_PORT"
SMTP_USER_ENV = "SMTP_USER"
SMTP_PASSWORD_ENV = "SMTP_PASSWORD"
SMTP_FROM_ENV = "SMTP_FROM"
DEFAULT_SMTP_PORT = 587
DEFAULT_SENDER = "Teammeter <no-reply@teammeter.local>"
DATA_TEAM_EMAIL_ENV = "DATA_TEAM_EMAIL"
DATA_TEAM_WEBHOOK_URL_ENV = "DATA_TEAM_WEBHOOK_URL"
INVITE_URL_ENV = "TEAMMETER_INVITE_URL"
DEFAULT_INVITE_URL = "https://app.teammeter.example/invite"
# -- schedules and sensors -----------------------------------------------------------------------
DAILY_SYNC_CRON_ENV = "DAILY_SYNC_CRON"
DAILY_SYNC_TIMEZONE_ENV = "DAILY_SYNC_TIMEZONE"
DAILY_SYNC_HOUR_ENV = "DAILY_SYNC_HOUR"
# The schedule ticks every hour; each company is synced once a day, at its own hour (its time zone).
DEFAULT_DAILY_SYNC_CRON = "0 * * * *"
DEFAULT_DAILY_SYNC_HOUR = 5
DEFAULT_DAILY_SYNC_TIMEZONE = "Europe/Berlin"
CONNECTION_RECHECK_HOURS_ENV = "CONNECTION_RECHECK_HOURS"
DEFAULT_CONNECTION_RECHECK_HOURS = 12.0
WEBHOOK_SENSOR_INTERVAL_ENV = "WEBHOOK_SENSOR_INTERVAL_SECONDS"
DEFAULT_WEBHOOK_SENSOR_INTERVAL_SECONDS = 30
DEBOUNCE_QUIET_ENV = "WEBHOOK_DEBOUNCE_QUIET_SECONDS"
DEBOUNCE_MAX_WAIT_ENV = "WEBHOOK_DEBOUNCE_MAX_WAIT_SECONDS"
DEFAULT_DEBOUNCE_QUIET_SECONDS = 60.0
DEFAULT_DEBOUNCE_MAX_WAIT_SECONDS = 600.0
# -- retention and logs --------------------------------------------------------------------------
CHANGE_LOG_RETENTION_ENV = "CHANGE_LOG_RETENTION_DAYS"
DEFAULT_CHANGE_LOG_RETENTION_DAYS = 90
LOG_FORMAT_ENV = "PERSONIO_LOG_FORMAT"
# Environment variables holding secrets whose values must never appear in text we emit.
SECRET_ENV_VARS = (APIDECK_API_KEY_ENV, SMTP_PASSWORD_ENV, "DAGSTER_PG_PASSWORD")


def is_set(name: str) -> bool:
    """The variable is set to something (an empty value counts as unset)."""
    return bool(os.environ.get(name))


def _value(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name) or default


# -- local state ---------------------------------------------------------------------------------


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
    from sqlalchemy.engine import make_url  # lazy: the CLI's start-up does not need SQLAlchemy

    backend = make_url(url or teammeter_database_url()).get_backend_name()
    return "postgres" if backend == "postgresql" else backend


def printable_url(url: str) -> str:
    """The URL with its password masked, for what the CLI prints."""
    from sqlalchemy.engine import make_url  # lazy: the CLI's start-up does not need SQLAlchemy

    return make_url(url).render_as_string(hide_password=True)


def use_dagster_home() -> Path:
    """`DAGSTER_HOME` as an absolute path, set to `.dagster_home` here when unset (as `make dev`
    does), so Dagster and the processes the CLI starts find the same instance."""
    home = Path(os.environ.setdefault(DAGSTER_HOME_ENV, str(Path.cwd() / ".dagster_home"))).resolve()
    os.environ[DAGSTER_HOME_ENV] = str(home)
    return home


def pinned_today() -> date | None:
    """`PERSONIO_PIPELINE_TODAY` (YYYY-MM-DD) when set: every company's date, pinned (tests,
    replaying a day); otherwise each company's date is its own (`companies.clock.company_today`)."""
    pinned = os.environ.get(TODAY_ENV)
    return date.fromisoformat(pinned) if pinned else None


def step_retries() -> tuple[int, float]:
    """How often a step that touches Apideck or the database is tried again after a transient
    failure, and the base delay of the exponential backoff: `PERSONIO_STEP_RETRIES` (default 3)
    and `PERSONIO_STEP_RETRY_DELAY_SECONDS` (default 5: retries after about 5, 15 and 35 s)."""
    return int(os.environ.get(STEP_RETRIES_ENV) or 3), float(os.environ.get(STEP_RETRY_DELAY_ENV) or 5)


# -- Apideck -------------------------------------------------------------------------------------


def apideck_api_key() -> str | None:
    return _value(APIDECK_API_KEY_ENV)


def apideck_app_id() -> str | None:
    return _value(APIDECK_APP_ID_ENV)


def apideck_base_url(default: str) -> str:
    """`APIDECK_BASE_URL` (the sandbox's URL locally), else `default` (Apideck's)."""
    return os.environ.get(APIDECK_BASE_URL_ENV, default)


def missing_apideck_credentials() -> list[str]:
    """The names of the Apideck credentials that are not set."""
    return [name for name in (APIDECK_API_KEY_ENV, APIDECK_APP_ID_ENV) if not is_set(name)]


def point_apideck_at(base_url: str, api_key: str, app_id: str) -> None:
    """Route this process (and the runs it starts) to another Apideck, the local sandbox: before
    the definitions are loaded, which read these when they build their resources."""
    os.environ[APIDECK_BASE_URL_ENV] = base_url
    os.environ[APIDECK_API_KEY_ENV] = api_key
    os.environ[APIDECK_APP_ID_ENV] = app_id


# -- mail and alerts -----------------------------------------------------------------------------


def smtp_host() -> str | None:
    """`SMTP_HOST`; unset: mail goes to the file outbox in the data folder."""
    return _value(SMTP_HOST_ENV)


def smtp_port() -> int:
    return int(_value(SMTP_PORT_ENV, str(DEFAULT_SMTP_PORT)))


def smtp_sender() -> str:
    return _value(SMTP_FROM_ENV, DEFAULT_SENDER)


def data_team_email() -> str | None:
    return _value(DATA_TEAM_EMAIL_ENV)


def invite_base_url() -> str:
    """`TEAMMETER_INVITE_URL`, else the default; the token is appended as the last path segment."""
    return (_value(INVITE_URL_ENV) or DEFAULT_INVITE_URL).rstrip("/")


def secret_values(names: Iterable[str] = SECRET_ENV_VARS) -> tuple[str, ...]:
    """The values of the named secret variables that are set."""
    return tuple(value for value in (os.environ.get(name) or "" for name in names) if value)


# -- schedules and sensors -----------------------------------------------------------------------


def daily_sync_cron() -> str:
    return os.environ.get(DAILY_SYNC_CRON_ENV, DEFAULT_DAILY_SYNC_CRON)


def daily_sync_timezone() -> str:
    """The time zone of a company that has none of its own (its date and its sync hour)."""
    return os.environ.get(DAILY_SYNC_TIMEZONE_ENV, DEFAULT_DAILY_SYNC_TIMEZONE)


def daily_sync_hour() -> int:
    """The hour of the daily sync of a company that has none of its own: `DAILY_SYNC_HOUR` (0-23)."""
    return int(os.environ.get(DAILY_SYNC_HOUR_ENV) or DEFAULT_DAILY_SYNC_HOUR)


def webhook_sensor_interval_seconds() -> int:
    return int(os.environ.get(WEBHOOK_SENSOR_INTERVAL_ENV, str(DEFAULT_WEBHOOK_SENSOR_INTERVAL_SECONDS)))


def connection_recheck_after() -> timedelta:
    """How long a working connection goes unchecked: `CONNECTION_RECHECK_HOURS` (default 12)."""
    return timedelta(hours=float(os.environ.get(CONNECTION_RECHECK_HOURS_ENV) or DEFAULT_CONNECTION_RECHECK_HOURS))


def webhook_debounce_seconds() -> tuple[float, float]:
    """(quiet, max wait): `WEBHOOK_DEBOUNCE_QUIET_SECONDS` (60) and
    `WEBHOOK_DEBOUNCE_MAX_WAIT_SECONDS` (600); a clear error unless 0 <= quiet <= max wait."""
    quiet = float(os.environ.get(DEBOUNCE_QUIET_ENV) or DEFAULT_DEBOUNCE_QUIET_SECONDS)
    max_wait = float(os.environ.get(DEBOUNCE_MAX_WAIT_ENV) or DEFAULT_DEBOUNCE_MAX_WAIT_SECONDS)
    if quiet < 0 or max_wait < quiet:
        raise ValueError(f"{DEBOUNCE_QUIET_ENV}={quiet} and {DEBOUNCE_MAX_WAIT_ENV}={max_wait}: need 0 <= quiet <= max wait")
    return quiet, max_wait


# -- retention and logs --------------------------------------------------------------------------


def change_log_retention_days() -> int:
    """`CHANGE_LOG_RETENTION_DAYS`, default 90; a clear error for anything but a positive integer."""
    raw = os.environ.get(CHANGE_LOG_RETENTION_ENV) or str(DEFAULT_CHANGE_LOG_RETENTION_DAYS)
    if not raw.strip().isdigit() or int(raw) < 1:
        raise ValueError(
            f"{CHANGE_LOG_RETENTION_ENV}={raw!r}: use a whole number of days, at least 1 "
            f"(default {DEFAULT_CHANGE_LOG_RETENTION_DAYS})."
        )
    return int(raw)


def json_logs_enabled() -> bool:
    """`PERSONIO_LOG_FORMAT=json`: run logs and the project's loggers as JSON lines."""
    return os.environ.get(LOG_FORMAT_ENV, "").strip().lower() == "json"
