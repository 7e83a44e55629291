"""Loopback ports and the services a test needs: a free port, whether something listens, and
what to do when a service is missing (skip on a laptop, fail on CI)."""

from __future__ import annotations

import os
import socket

import pytest


def free_port() -> int:
    """A port nothing listens on now (for a server the test starts, or to provoke a refusal)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def unavailable(message: str) -> None:
    """Skip on a laptop without the service; fail on CI, where every test must run."""
    if os.environ.get("CI"):
        pytest.fail(message + " (CI is set, so this fails instead of skipping)")
    pytest.skip(message)
