"""The suite's one conftest: it registers the support package (personio_pipeline_tests/support/)
as pytest plugins, so every shared fixture is found by name and tests import only plain helpers,
from `personio_pipeline_tests.support.<module>`, never from a conftest."""

import pytest

# Plain asserts in support helpers report their values, as in test modules.
pytest.register_assert_rewrite("personio_pipeline_tests.support")

# Only the root conftest may list plugins. Every support module that defines a fixture or a hook.
pytest_plugins = [
    "personio_pipeline_tests.support.settings",  # pinned_settings (autouse)
    "personio_pipeline_tests.support.isolation",  # private_local_state (autouse)
    "personio_pipeline_tests.support.ordering",  # files with slow tests first
    "personio_pipeline_tests.support.dagster_instance",  # instance, open_instance
    "personio_pipeline_tests.support.sandbox",  # sandbox, sandbox_http, pipeline_env
    "personio_pipeline_tests.support.stores",  # engine, postgres_*, sqlite_template, new_database
    "personio_pipeline_tests.support.smtp",  # smtp_server, start_relay
    "personio_pipeline_tests.support.webhook_sink",  # webhook_receiver
    "personio_pipeline_tests.support.logs",  # captured_logger
    "personio_pipeline_tests.support.invitations",  # acme, verified
    "personio_pipeline_tests.support.pipeline_runs",  # shared_sandbox, sandbox_day0, synced_day0, store_day0, ...
]
