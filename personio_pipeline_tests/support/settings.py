"""The suite's credentials and pinned settings: the Apideck key and app id every sandbox requires,
and the model's "today", pinned for every test and the processes it starts."""

from __future__ import annotations

import os

import pytest

TEST_API_KEY = "sk_test_TOPSECRET_4f9a1c"
TEST_APP_ID = "test-app"

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
