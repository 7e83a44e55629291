"""Fixtures shared by the whole suite: a real sandbox server on loopback and an isolated
pipeline environment (data folder, SQLite Teammeter, Apideck settings) per test."""

from __future__ import annotations

import logging

import pytest

from personio_pipeline.apideck.sandbox.config import SandboxConfig
from personio_pipeline.apideck.sandbox.server import SandboxServer

TEST_API_KEY = "sk_test_TOPSECRET_4f9a1c"
TEST_APP_ID = "test-app"


@pytest.fixture
def sandbox():
    """A fresh Apideck-compatible sandbox on 127.0.0.1 (any port) requiring the test key."""
    with SandboxServer(SandboxConfig(api_key=TEST_API_KEY, app_id=TEST_APP_ID, strict=True)) as server:
        yield server


@pytest.fixture
def pipeline_env(tmp_path, monkeypatch, sandbox):
    """Point the pipeline at the sandbox and at a private data folder and SQLite database."""
    monkeypatch.setenv("APIDECK_BASE_URL", sandbox.url)
    monkeypatch.setenv("APIDECK_API_KEY", TEST_API_KEY)
    monkeypatch.setenv("APIDECK_APP_ID", TEST_APP_ID)
    monkeypatch.setenv("PERSONIO_PIPELINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TEAMMETER_DATABASE_URL", f"sqlite:///{tmp_path / 'teammeter.sqlite'}")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    (tmp_path / "dagster_home").mkdir()
    return tmp_path


class ListHandler(logging.Handler):
    """Collects formatted log lines so tests can assert what was (not) logged."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def captured_logger():
    logger = logging.getLogger(f"personio_pipeline.tests.{id(object())}")
    logger.setLevel(logging.DEBUG)
    handler = ListHandler()
    logger.addHandler(handler)
    logger.propagate = False
    yield logger, handler.lines
    logger.removeHandler(handler)
