"""The Apideck sandbox as the tests meet it: a real server on 127.0.0.1 (any port) per test,
requiring the suite's key and app id, and the pipeline pointed at it.

- `sandbox`: a fresh strict sandbox (every response checked against Apideck's specs before it is
  sent). A test or module changes its configuration with the `sandbox` marker, whose keywords are
  `SandboxConfig` fields, e.g. `pytestmark = pytest.mark.sandbox(strict=False, company_sizes={"big-co": 1234})`.
- `sandbox_http`: an httpx client on it with the headers Apideck requires (`api_headers`), for
  the company the marker's `consumer=` names (default "acme").
- `pipeline_env`: the pipeline's environment pointed at the sandbox and at a private data folder,
  SQLite Teammeter and DAGSTER_HOME (the test's tmp_path, returned).
"""

from __future__ import annotations

from typing import Iterator

import httpx
import pytest

from personio_pipeline.sandbox.config import SandboxConfig
from personio_pipeline.sandbox.server import SandboxServer
from personio_pipeline_tests.support.settings import TEST_API_KEY, TEST_APP_ID

MARKER = "sandbox"
DEFAULT_CONSUMER = "acme"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(consumer='acme', **SandboxConfig fields): how the `sandbox` fixture configures its "
        "server, and the company `sandbox_http` asks for (personio_pipeline_tests/support/sandbox.py)",
    )


def api_headers(consumer: str = DEFAULT_CONSUMER, api_key: str = TEST_API_KEY, app_id: str = TEST_APP_ID) -> dict[str, str]:
    """The headers Apideck requires of a call about `consumer`'s HR data."""
    return {"Authorization": f"Bearer {api_key}", "x-apideck-app-id": app_id, "x-apideck-consumer-id": consumer}


def api_headers_without(header: str, consumer: str = DEFAULT_CONSUMER) -> dict[str, str]:
    """`api_headers(consumer)` with one of them left out."""
    return {name: value for name, value in api_headers(consumer).items() if name != header}


def header_problems(consumer: str) -> list[tuple[dict[str, str], int, str]]:
    """(headers, status, type_name): calls about `consumer` that Apideck refuses for their headers
    alone, whichever API they go to (HRIS, Vault)."""
    headers = api_headers(consumer)
    return [
        (api_headers_without("Authorization", consumer), 401, "UnauthorizedError"),
        ({**headers, "Authorization": f"Basic {TEST_API_KEY}"}, 401, "UnauthorizedError"),
        ({**headers, "Authorization": "Bearer wrong-key"}, 401, "UnauthorizedError"),
        (api_headers_without("x-apideck-app-id", consumer), 401, "UnauthorizedError"),
        ({**headers, "x-apideck-app-id": "another-app"}, 401, "UnauthorizedError"),
        (api_headers_without("x-apideck-consumer-id", consumer), 400, "RequestHeadersValidationError"),
    ]


def _marked(request: pytest.FixtureRequest) -> dict:
    marker = request.node.get_closest_marker(MARKER)
    return dict(marker.kwargs) if marker else {}


@pytest.fixture
def sandbox(request: pytest.FixtureRequest) -> Iterator[SandboxServer]:
    """A fresh Apideck-compatible sandbox on 127.0.0.1 (any port) requiring the test key; strict
    unless the `sandbox` marker says otherwise."""
    options = {"api_key": TEST_API_KEY, "app_id": TEST_APP_ID, "strict": True, **_marked(request)}
    options.pop("consumer", None)
    with SandboxServer(SandboxConfig(**options)) as server:
        yield server


@pytest.fixture
def sandbox_http(request: pytest.FixtureRequest, sandbox: SandboxServer) -> Iterator[httpx.Client]:
    """A client on `sandbox` sending Apideck's headers for the marker's `consumer` (default "acme")."""
    headers = api_headers(_marked(request).get("consumer", DEFAULT_CONSUMER))
    with httpx.Client(base_url=sandbox.url, headers=headers, timeout=10) as client:
        yield client


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
