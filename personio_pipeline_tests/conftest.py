"""Fixtures shared by the whole suite: a real sandbox server on loopback and an isolated
pipeline environment (data folder, SQLite Teammeter, Apideck settings) per test."""

from __future__ import annotations

import logging
import os

import pytest

from personio_pipeline.sandbox.config import SandboxConfig
from personio_pipeline.sandbox.server import SandboxServer

TEST_API_KEY = "sk_test_TOPSECRET_4f9a1c"
TEST_APP_ID = "test-app"

# Shared fixtures live in the support package, registered here as plugins (only the root conftest may).
pytest_plugins = [
    "personio_pipeline_tests.support.dagster_instance",
    "personio_pipeline_tests.support.isolation",
    "personio_pipeline_tests.support.ordering",
]


# The model's "today", pinned so runs on different days compare (the sandbox's day 0 is 2026-01-05).
PINNED_TODAY = "2026-01-20"


@pytest.fixture(autouse=True, scope="session")
def pinned_settings():
    """For every test and the processes it starts: the model's "today" is PINNED_TODAY, and steps
    are not retried after transient failures unless a test asks for it (the production default
    is 3, see personio_pipeline/defs/shared/retries.py), so a fault a test provokes fails at once."""
    pinned = {"PERSONIO_PIPELINE_TODAY": PINNED_TODAY, "PERSONIO_STEP_RETRIES": "0"}
    previous = {name: os.environ.get(name) for name in pinned}
    os.environ.update(pinned)
    yield
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


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


# -- a real SMTP server and a webhook receiver on loopback -----------------------------------------

import json
import socket
import threading
from email import message_from_bytes, message_from_string, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmtpInbox:
    """aiosmtpd handler that keeps every delivered message (parsed) in memory. The server offers
    SMTPUTF8, as relays do today (the invitation tests also run without it)."""

    def __init__(self):
        self.messages = []
        self.fail_with: str | None = None  # e.g. "451 try later" to simulate an outage

    async def handle_DATA(self, server, session, envelope):
        if self.fail_with:
            return self.fail_with
        if envelope.smtp_utf8:  # UTF-8 headers (RFC 6532): addresses with non-ASCII local parts
            message = message_from_string(envelope.content.decode("utf-8"), policy=policy.default)
        else:
            message = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    inbox = SmtpInbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), enable_SMTPUTF8=True)
    controller.start()
    inbox.host, inbox.port = controller.hostname, controller.port
    try:
        yield inbox
    finally:
        controller.stop()


class WebhookReceiver:
    def __init__(self):
        self.payloads: list[dict] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if receiver.status == 200:
                    receiver.payloads.append(json.loads(body))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook_receiver():
    receiver = WebhookReceiver()
    try:
        yield receiver
    finally:
        receiver.close()
