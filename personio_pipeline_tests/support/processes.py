"""Long-running child processes (daemons, workers, servers, the CLI as an operator runs it) that
are always stopped, their whole process group, however a test ends; and waiting for them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, TypeVar

import pytest

REPO = Path(__file__).resolve().parents[2]  # the checkout
BIN = Path(sys.executable).parent  # the venv's scripts: personio-pipeline, dagster-daemon, ...

T = TypeVar("T")


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
