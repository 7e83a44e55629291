"""The organisation model's "today" comes from one place (`settings.today`, pinned by
PERSONIO_PIPELINE_TODAY): an employment ending between two pinned dates is active on the first
and over on the second, in the Dagster asset as in the pure model."""

from __future__ import annotations

import pytest

from personio_pipeline_tests.defs.crafted import person
from personio_pipeline_tests.defs.test_org_assets import COMPANY, resources, run_org_graph  # noqa: F401 (fixture)


@pytest.mark.parametrize(("today", "status"), [("2026-06-30", "active"), ("2026-07-01", "terminated")])
def test_org_employees_use_the_pinned_today(resources, sandbox, monkeypatch, today, status):  # noqa: F811
    monkeypatch.setenv("PERSONIO_PIPELINE_TODAY", today)
    sandbox.set_company(COMPANY, [
        person("1", "Ada", "Lovelace", email="ada@example.com"),
        person("2", "Ömer", "Çelik", email="oemer@example.com", end_date="2026-06-30", manager="1"),
    ])
    result = run_org_graph(resources)
    assert result.success
    table = result.output_for_node("org__employees")
    assert dict(zip(table["employee_id"], table["status"]))["2"] == status
