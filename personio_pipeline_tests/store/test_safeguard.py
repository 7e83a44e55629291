"""The deactivation safeguard: 21% of 100 active users is refused, 20% passes, overrides per
run and per company, explicit approval, and an empty employee list is never applied."""

from __future__ import annotations

import pytest

from personio_pipeline.companies import registry
from personio_pipeline.store.safeguard import SafeguardError
from personio_pipeline.store.schema import users
from personio_pipeline_tests.support.people import person, sync
from personio_pipeline_tests.support.stores import dump, register, table_rows

STAFF = [person(str(i), team="Crew", unit="Ops", role="Operator") for i in range(1, 101)]


def leaving(count: int) -> list:
    """The staff list with `count` people gone: half terminated, half no longer returned."""
    terminated = [
        person(p.employee_id, team="Crew", unit="Ops", role="Operator", status="terminated")
        for p in STAFF[: count // 2]
    ]
    return terminated + STAFF[count:]


@pytest.fixture
def staffed(engine):
    register(engine)
    sync(engine, STAFF, "day-1")
    return engine


def active_users(engine) -> int:
    return len(table_rows(engine, users, "acme", "id", active=True))


def test_twenty_one_percent_is_refused_and_nothing_is_written(staffed):
    before = dump(staffed)
    with pytest.raises(SafeguardError) as refused:
        sync(staffed, leaving(21), "day-2")
    message = str(refused.value)
    assert dump(staffed) == before
    assert "'acme' (ACME GmbH)" in message
    assert "deactivate 21 of 100 active users (21.0%)" in message
    assert "allowed 20.0% (default)" in message
    assert "approve_deactivations: true" in message
    assert "max_deactivation_share: 0.21" in message
    assert "Nothing was written" in message


def test_twenty_percent_passes(staffed):
    result = sync(staffed, leaving(20), "day-2")
    assert result.counts["user"] == {"deactivate": 20}
    assert active_users(staffed) == 80


def test_run_override_allows_more(staffed):
    sync(staffed, leaving(21), "day-2", max_deactivation_share=0.25)
    assert active_users(staffed) == 79


def test_run_override_can_also_be_stricter(staffed):
    with pytest.raises(SafeguardError, match=r"allowed 5.0% \(run config"):
        sync(staffed, leaving(6), "day-2", max_deactivation_share=0.05)


def test_company_setting_allows_more(staffed):
    with staffed.begin() as conn:
        registry.set_max_deactivation_share(conn, "acme", 0.25)
    sync(staffed, leaving(21), "day-2")
    assert active_users(staffed) == 79
    with pytest.raises(SafeguardError, match=r"allowed 25.0% \(company setting"):
        sync(staffed, STAFF[:50], "day-3")


def test_approval_lets_a_mass_leave_through(staffed):
    sync(staffed, leaving(60), "day-2", approve_deactivations=True)
    assert active_users(staffed) == 40


def test_out_of_range_share_is_rejected(staffed):
    with pytest.raises(ValueError, match="between 0 and 1"):
        sync(staffed, STAFF, "day-2", max_deactivation_share=20)


@pytest.mark.parametrize("approve", [False, True])
def test_empty_employee_list_never_wipes_a_company(staffed, approve):
    before = dump(staffed)
    with pytest.raises(SafeguardError) as refused:
        sync(staffed, [], "day-2", approve_deactivations=approve, max_deactivation_share=1.0)
    assert dump(staffed) == before
    assert "'acme'" in str(refused.value)
    assert "broken" in str(refused.value) and "approval does not override" in str(refused.value)


def test_empty_list_is_refused_on_a_first_sync_too(engine):
    register(engine)
    with pytest.raises(SafeguardError, match="no employees"):
        sync(engine, [], "day-1")
