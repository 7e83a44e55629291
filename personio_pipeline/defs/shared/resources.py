"""Resources: the only way assets reach Apideck and the Teammeter database."""

from __future__ import annotations

import functools
import ssl
from typing import Any

import dagster as dg
import httpx
import sqlalchemy as sa
from pydantic import Field

from personio_pipeline.apideck.client import DEFAULT_BASE_URL, ApideckHrisClient, RetrySettings
from personio_pipeline.apideck.vault import ApideckVaultClient
from personio_pipeline.common import settings
from personio_pipeline.defs.shared.io import LocalFilesIOManager
from personio_pipeline.notify.mail import FileOutbox, MailTransport, SmtpTransport, build_message
from personio_pipeline.store.db import migrated_engine


class ApideckResource(dg.ConfigurableResource):
    """Apideck Unify credentials; the key comes from `APIDECK_API_KEY` and is never logged."""

    api_key: str = Field(description="Apideck API key (secret); set through the APIDECK_API_KEY env var.")
    app_id: str = Field(description="Apideck application id (APIDECK_APP_ID).")
    base_url: str = Field(default=DEFAULT_BASE_URL, description="Apideck base URL (APIDECK_BASE_URL).")
    timeout_seconds: float = Field(default=30.0, description="Per-request timeout.")
    max_retry_seconds: float = Field(default=300.0, description="Total time budget for retries per listing.")
    max_attempts: int = Field(default=8, description="Attempts per page before giving up.")

    def _options(self, logger: Any, max_total_seconds: float, max_attempts: int) -> dict[str, Any]:
        return dict(
            api_key=self.api_key,
            app_id=self.app_id,
            base_url=self.base_url,
            timeout_seconds=self.timeout_seconds,
            retry=RetrySettings(max_attempts=max_attempts, max_total_seconds=max_total_seconds),
            logger=logger,
        )

    def hris_client(self, logger: Any = None) -> ApideckHrisClient:
        return ApideckHrisClient(**self._options(logger, self.max_retry_seconds, self.max_attempts))

    def vault_client(self, logger: Any = None, *, max_total_seconds: float = 20.0) -> ApideckVaultClient:
        """Vault calls come from sensors and the CLI, which must answer quickly: a short budget."""
        return ApideckVaultClient(**self._options(logger, max_total_seconds, 3))


class TeammeterDatabase(dg.ConfigurableResource):
    """Teammeter's database (`TEAMMETER_DATABASE_URL`; SQLite in the data folder by default)."""

    url: str = Field(
        description="SQLAlchemy URL of the Teammeter database (TEAMMETER_DATABASE_URL, secret: it carries the password)."
    )

    def engine(self) -> sa.Engine:
        return migrated_engine(self.url)


class Mailer(dg.ConfigurableResource):
    """Outgoing mail: SMTP when `SMTP_HOST` is set, else .eml files in a local outbox folder."""

    smtp_host: str | None = Field(default=None, description="SMTP server (SMTP_HOST); unset → file outbox.")
    smtp_port: int = Field(default=587, description="SMTP port (SMTP_PORT).")
    smtp_user: str | None = Field(default=None, description="SMTP user name (SMTP_USER, secret).")
    smtp_password: str | None = Field(default=None, description="SMTP password (SMTP_PASSWORD, secret).")
    require_tls: bool = Field(default=False, description="Refuse servers without STARTTLS.")
    sender: str = Field(default=settings.DEFAULT_SENDER, description="From address (SMTP_FROM).")
    outbox_dir: str = Field(default="", description="Folder for the file outbox when no SMTP host is set.")

    def transport(self) -> MailTransport:
        if self.smtp_host:
            return SmtpTransport(self.smtp_host, self.smtp_port, self.smtp_user, self.smtp_password, self.require_tls)
        return FileOutbox(self.outbox_dir or str(settings.data_dir() / "outbox"))

    def send(self, *, to: str, subject: str, text: str, to_name: str | None = None) -> None:
        with self.transport() as transport:
            transport.send(build_message(sender=self.sender, to=to, subject=subject, text=text, to_name=to_name))


class DataTeamAlerts(dg.ConfigurableResource):
    """Where data-quality alerts go: an email address and/or a webhook (JSON POST)."""

    email_to: str | None = Field(default=None, description="Data team address (DATA_TEAM_EMAIL).")
    webhook_url: str | None = Field(default=None, description="Webhook URL (DATA_TEAM_WEBHOOK_URL, secret: it carries a token).")
    mailer: Mailer

    @property
    def configured(self) -> bool:
        return bool(self.email_to or self.webhook_url)

    def notify(self, *, subject: str, text: str, payload: dict[str, Any]) -> None:
        """Deliver on every configured channel; raises when one fails so the caller retries."""
        if self.email_to:
            self.mailer.send(to=self.email_to, subject=subject, text=text)
        if self.webhook_url:
            # One TLS context for every alert: building it loads the CA bundle, which a
            # tick alerting hundreds of companies would otherwise pay per alert.
            httpx.post(self.webhook_url, json=payload, timeout=10.0, verify=_tls_context()).raise_for_status()


@functools.lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def _secret(name: str) -> dg.EnvVar | None:
    """A secret setting as `dg.EnvVar` when it is set: Dagster then stores and shows the variable's
    name (UI resource page, run config), and reads the value only where a run or sensor uses it."""
    return dg.EnvVar(name) if settings.is_set(name) else None


def default_mailer() -> Mailer:
    return Mailer(
        smtp_host=settings.smtp_host(),
        smtp_port=settings.smtp_port(),
        smtp_user=_secret(settings.SMTP_USER_ENV),
        smtp_password=_secret(settings.SMTP_PASSWORD_ENV),
        sender=settings.smtp_sender(),
    )


def default_teammeter_database() -> TeammeterDatabase:
    """`TEAMMETER_DATABASE_URL` (it carries the password) through `dg.EnvVar`; without it the
    SQLite file in the data folder, which holds no secret."""
    url = _secret(settings.DATABASE_URL_ENV)
    return TeammeterDatabase(url=url if url is not None else settings.teammeter_database_url())


def default_resources() -> dict[str, Any]:
    """Resources as deployed: every secret (Apideck key, database URL, SMTP user and password,
    webhook URL) through `dg.EnvVar`, plain settings with local defaults."""
    return {
        "apideck": ApideckResource(
            api_key=dg.EnvVar(settings.APIDECK_API_KEY_ENV),
            app_id=dg.EnvVar(settings.APIDECK_APP_ID_ENV),
            base_url=settings.apideck_base_url(DEFAULT_BASE_URL),
        ),
        "teammeter_db": default_teammeter_database(),
        "io_manager": LocalFilesIOManager(base_dir=str(settings.data_dir())),
        "mailer": default_mailer(),
        "data_team_alerts": DataTeamAlerts(
            email_to=settings.data_team_email(),
            webhook_url=_secret(settings.DATA_TEAM_WEBHOOK_URL_ENV),
            mailer=default_mailer(),
        ),
    }


@dg.definitions
def resources() -> dg.Definitions:
    """The code location's resources, read from the environment when the definitions are built."""
    return dg.Definitions(resources=default_resources())
