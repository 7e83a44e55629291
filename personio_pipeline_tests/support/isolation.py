"""Each pytest process keeps its local state to itself. Under pytest-xdist every worker is its
own session: a test that does not point DAGSTER_HOME or PERSONIO_PIPELINE_DATA_DIR elsewhere
(`pipeline_env`, `monkeypatch.setenv`) uses this session's folders, not the checkout's
`.dagster_home` and `data/` (shared with the other worker, `make dev` and `make demo`)."""

from __future__ import annotations

import os

import pytest

PRIVATE = ("DAGSTER_HOME", "PERSONIO_PIPELINE_DATA_DIR")


@pytest.fixture(autouse=True, scope="session")
def private_local_state(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("session_state")
    folders = {"DAGSTER_HOME": root / "dagster_home", "PERSONIO_PIPELINE_DATA_DIR": root / "data"}
    previous = {name: os.environ.get(name) for name in PRIVATE}
    for name, folder in folders.items():
        folder.mkdir()
        os.environ[name] = str(folder)
    yield folders
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
