"""Alert bookkeeping on SQLite and PostgreSQL: who was alerted stays remembered per company and
check, people no longer reported are cleared (and alerted again if they come back), and HR ids
PostgreSQL cannot hold (NUL characters, over-long) are kept as stable digests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from personio_pipeline.companies import alert_log
from personio_pipeline.companies.registry import UnknownCompanyError
from personio_pipeline.store.db import as_utc
from personio_pipeline.store.schema import alerted_people
from personio_pipeline_tests.support.stores import register, table_rows

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=timezone.utc)
CHECK = "missing_emails"
NUL_ID = "12\x0034"
LONG_ID = "Ø" * 300


def alerted(engine, company: str = "acme", check: str = CHECK) -> set[str]:
    with engine.connect() as conn:
        return alert_log.alerted(conn, company, check)


def history(engine, *columns: str) -> list[tuple]:
    """The company's rows, timestamps as aware UTC (SQLite hands them back naive)."""
    rows = table_rows(engine, alerted_people, "acme", *columns)
    return [tuple(as_utc(v) if isinstance(v, datetime) else v for v in row) for row in rows]


def remember(engine, alerted_now, still_reported, at=T0, company="acme", check=CHECK) -> None:
    with engine.begin() as conn:
        alert_log.remember(conn, company, check, alerted_now=alerted_now, still_reported=still_reported, at=at)


def test_alerted_people_are_remembered_per_company_and_check(engine):
    register(engine, "acme")
    register(engine, "globex")
    remember(engine, ["1", "2"], ["1", "2"])
    remember(engine, ["1"], ["1"], company="globex")
    remember(engine, ["9"], ["9"], check="other_check")

    assert alerted(engine) == {"1", "2"}
    assert alerted(engine, "globex") == {"1"}
    assert alerted(engine, check="other_check") == {"9"}
    assert history(engine, "check_name", "employee_id", "alerted_at") == [
        (CHECK, "1", T0), (CHECK, "2", T0), ("other_check", "9", T0)]


def test_people_no_longer_reported_are_cleared_and_a_return_is_new(engine):
    register(engine)
    remember(engine, ["1", "2"], ["1", "2"])
    remember(engine, [], ["2"], at=T0 + timedelta(days=1))  # 1 got an address
    assert alerted(engine) == {"2"}

    remember(engine, ["1"], ["1", "2"], at=T0 + timedelta(days=2))  # 1 lost it again: a new alert
    assert alerted(engine) == {"1", "2"}
    assert history(engine, "employee_id", "alerted_at", "cleared_at") == [("1", T0, T0 + timedelta(days=1)), ("1", T0 + timedelta(days=2), None), ("2", T0, None)]


def test_a_cut_list_clears_nobody_and_repeats_are_not_stored_twice(engine):
    register(engine)
    remember(engine, ["1", "2"], ["1", "2"])
    remember(engine, ["1", "3"], None)  # the result listed only some people: 2 may still be affected
    assert alerted(engine) == {"1", "2", "3"}
    assert len(table_rows(engine, alerted_people, "acme", "employee_id")) == 3


def test_ids_the_database_cannot_hold_are_kept_as_stable_digests(engine):
    register(engine)
    remember(engine, [NUL_ID, LONG_ID, "ok"], [NUL_ID, LONG_ID, "ok"])
    keys = alerted(engine)
    assert keys == {alert_log.person_key(NUL_ID), alert_log.person_key(LONG_ID), "ok"}
    assert all(len(key) <= alert_log.KEY_LIMIT and "\x00" not in key for key in keys)
    assert alert_log.person_key(NUL_ID) != alert_log.person_key("1234")

    remember(engine, [], [LONG_ID], at=T0 + timedelta(days=1))  # the same ids match their digests
    assert alerted(engine) == {alert_log.person_key(LONG_ID)}


def test_many_people_at_once(engine):
    """More ids than SQLite binds in one statement: one company with 2,000 people missing."""
    register(engine)
    everyone = [f"e{i:05d}" for i in range(2000)]
    remember(engine, everyone, everyone)
    remember(engine, [], everyone[:10], at=T0 + timedelta(days=1))
    assert alerted(engine) == set(everyone[:10])


def test_an_unregistered_company_is_refused_with_the_remedy(engine):
    with pytest.raises(UnknownCompanyError, match="tenants add nobody"):
        alerted(engine, "nobody")
    with pytest.raises(UnknownCompanyError):
        remember(engine, ["1"], ["1"], company="nobody")
