"""Helpers for the production-profile tests: the production dagster.yaml pointed at a fresh
PostgreSQL database, throwaway databases, the brokers, and long-running child processes that are
always stopped (their whole process group) however a test ends."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Callable, TypeVar

import psycopg
import pytest
import yaml
from psycopg import sql

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
BIN = Path(sys.executable).parent
ADMIN_URLS = ("postgresql://postgres@127.0.0.1:5432/test", "postgresql://root@127.0.0.1:5432/test")

T = TypeVar("T")


def unavailable(message: str) -> None:
    """Skip on a laptop without the service; fail on CI, where every test must run."""
    if os.environ.get("CI"):
        pytest.fail(message + " (CI is set, so this fails instead of skipping)")
    pytest.skip(message)


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


# -- PostgreSQL -------------------------------------------------------------------------------


def _admin_urls() -> tuple[str, ...]:
    configured = os.environ.get("TEAMMETER_TEST_POSTGRES_URL")
    return (configured,) if configured else ADMIN_URLS


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """A URL of the local server that may create databases, or skip/fail."""
    for url in _admin_urls():
        try:
            with psycopg.connect(url, connect_timeout=3):
                return url
        except psycopg.OperationalError:
            continue
    unavailable(f"PostgreSQL is not reachable at {' or '.join(_admin_urls())}")


@pytest.fixture
def new_database(postgres_admin_url):
    """Factory of empty databases (dropped after the test); returns their connection info."""
    created: list[str] = []

    def make(prefix: str) -> dict:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            created.append(name)
            return psycopg.conninfo.conninfo_to_dict(postgres_admin_url) | {"dbname": name}

    yield make
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        for name in created:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def dagster_pg_env(info: dict) -> dict[str, str]:
    """The DAGSTER_PG_* variables deploy/dagster.yaml reads."""
    return {
        "DAGSTER_PG_HOST": info.get("host", "127.0.0.1"),
        "DAGSTER_PG_PORT": str(info.get("port", 5432)),
        "DAGSTER_PG_USER": info["user"],
        "DAGSTER_PG_PASSWORD": info.get("password") or "",
        "DAGSTER_PG_DB": info["dbname"],
    }


def sqlalchemy_url(info: dict) -> str:
    password = f":{info['password']}" if info.get("password") else ""
    return f"postgresql://{info['user']}{password}@{info.get('host', '127.0.0.1')}:{info.get('port', 5432)}/{info['dbname']}"


def production_instance(home: Path, **run_queue) -> dict:
    """deploy/dagster.yaml written to `home`, with `concurrency.runs` and run-coordinator
    settings overridden where a test needs tighter limits than production."""
    config = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    runs = config["concurrency"]["runs"]
    for key in ("max_concurrent_runs", "tag_concurrency_limits"):
        if key in run_queue:
            runs[key] = run_queue.pop(key)
    config["run_coordinator"]["config"].update(run_queue)
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return config


# -- child processes --------------------------------------------------------------------------


class Child:
    """A long-running command in its own session, logging to a file; `stop()` ends its group."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, cwd: Path = REPO):
        self.log = log
        self._out = log.open("wb")
        self.process = subprocess.Popen(
            args, env=env, cwd=cwd, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM to the process group (the command and everything it started), SIGKILL after `grace`."""
        group = self.process.pid  # start_new_session: the child leads its own group
        try:
            os.killpg(group, signal.SIGTERM)
            self.process.wait(timeout=grace)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)
        self._out.close()


def child_env(**extra: str) -> dict[str, str]:
    """This environment plus `extra`, with the venv's scripts first on PATH."""
    env = {**os.environ, **extra}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTEST_CURRENT_TEST", None)
    return env


def wait_for(what: str, probe: Callable[[], T], timeout: float, interval: float = 1.0,
              alive: Callable[[], bool] = lambda: True, diagnose: Callable[[], str] = lambda: "") -> T:
    """Poll `probe` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if not alive():
            pytest.fail(f"{what}: a process it needs ended early\n{diagnose()}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s\n{diagnose()}")
        time.sleep(interval)
