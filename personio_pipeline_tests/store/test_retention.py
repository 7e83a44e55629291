"""Change-log retention on SQLite and PostgreSQL: personal values of user entries older than the
retention period become null, everything else stays, and a second run changes nothing."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from personio_pipeline.common import settings
from personio_pipeline.defs.lifecycle.retention import change_log_retention_job, change_log_retention_schedule
from personio_pipeline.defs.shared.resources import TeammeterDatabase
from personio_pipeline.store import retention
from personio_pipeline.store.db import as_utc
from personio_pipeline.store.schema import change_log
from personio_pipeline_tests.support.people import day_one, day_two, person, sync
from personio_pipeline_tests.support.stores import register

T0 = datetime(2026, 1, 1, 5, 0, tzinfo=timezone.utc)
HOSTILE_NAME = "Zoë \u202eO'Brien; DROP TABLE users;-- " + "ł" * 200


def entries(engine, run_id):
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(change_log.c.entity, change_log.c.entity_key, change_log.c.action, change_log.c.before,
                      change_log.c.after, change_log.c.personal_data_removed_at)
            .where(change_log.c.run_id == run_id)
            .order_by(change_log.c.id)
        ).all()
    return [tuple(row) for row in rows]


def test_old_user_entries_lose_names_and_addresses_only(engine):
    register(engine)
    hostile = person("11", name=HOSTILE_NAME, team="Mobile", unit="Engineering")
    # The first import logs its creations as one entry per table (store/sync.py): Ada alone, so
    # that the next run creates the others one entry each.
    sync(engine, day_one()[:1], "import", now=T0 - timedelta(days=1))
    sync(engine, day_one() + [hostile], "old", now=T0)
    sync(engine, day_two() + [hostile], "recent", now=T0 + timedelta(days=100))
    old_before, recent_before = entries(engine, "old"), entries(engine, "recent")
    assert any(HOSTILE_NAME in json.dumps(row[4], ensure_ascii=False) for row in old_before)

    now = T0 + timedelta(days=120)
    with engine.connect() as conn:
        due = retention.count_due(conn, retention.cutoff(now, 90))
    user_entries = sum(row[0] == "user" for row in old_before)
    assert due == user_entries + 1 == 9  # and the import's entry for users (no personal values)

    assert retention.strip_personal_values(engine, retention.cutoff(now, 90), now=now, batch=4) == due
    old_after = entries(engine, "old")
    for before, after in zip(old_before, old_after):
        assert before[:3] == after[:3]
        if before[0] != "user":
            assert after == before, "units, teams, roles and links keep their entries"
            continue
        assert as_utc(after[5]) == now
        assert set(after[4]) == set(before[4]), "the entry still says which fields changed"
        for field, value in after[4].items():
            assert value is None if field in retention.PERSONAL_FIELDS else value == before[4][field]
    text = json.dumps([row[3:5] for row in old_after], ensure_ascii=False)
    assert HOSTILE_NAME not in text and "@acme.test" not in text and "Ada" not in text
    assert entries(engine, "recent") == recent_before, "inside the retention period: untouched"

    with engine.connect() as conn:
        sql_nulls = conn.execute(sa.text(
            "SELECT COUNT(*) FROM change_log WHERE run_id = 'old' AND entity = 'user' AND before IS NULL")).scalar_one()
    assert sql_nulls == sum(row[0] == "user" and row[3] is None for row in old_before) > 0, "SQL NULL stays NULL"

    assert retention.strip_personal_values(engine, retention.cutoff(now, 90), now=now + timedelta(days=1)) == 0
    assert entries(engine, "old") == old_after, "a second run changes nothing"


def test_retention_setting(monkeypatch):
    monkeypatch.delenv(settings.CHANGE_LOG_RETENTION_ENV, raising=False)
    assert settings.change_log_retention_days() == 90
    monkeypatch.setenv(settings.CHANGE_LOG_RETENTION_ENV, "30")
    assert settings.change_log_retention_days() == 30
    monkeypatch.setenv(settings.CHANGE_LOG_RETENTION_ENV, "ninety")
    with pytest.raises(ValueError, match="CHANGE_LOG_RETENTION_DAYS='ninety'"):
        settings.change_log_retention_days()


def test_the_daily_job_strips_what_is_due(engine, monkeypatch):
    register(engine)
    sync(engine, day_one()[:1], "import", now=datetime.now(timezone.utc) - timedelta(days=92))
    sync(engine, day_one(), "long-ago", now=datetime.now(timezone.utc) - timedelta(days=91))
    monkeypatch.delenv(settings.CHANGE_LOG_RETENTION_ENV, raising=False)
    db = TeammeterDatabase(url=engine.url.render_as_string(hide_password=False))
    result = change_log_retention_job.execute_in_process(resources={"teammeter_db": db})
    # 7 creations of the second run and the import's entry for users
    assert result.success and result.output_for_node("strip_old_change_log_values") == 8
    assert change_log_retention_schedule.cron_schedule == "15 4 * * *"
    assert all(row[5] is not None for row in entries(engine, "long-ago") if row[0] == "user")
