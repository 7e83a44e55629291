"""A company's first import (store/sync.py), on SQLite and PostgreSQL: its plain creations are one
change-log entry per table with their counts, the rows carry `created_at`; what is not a plain
creation (links to existing accounts, holds, updates) keeps its own entry; every later sync logs row
by row; `explain` and the verification report read the summary entries. And the bulk insert
(`bulk_write.insert_many`: COPY on PostgreSQL, executemany on SQLite) stores hostile text, JSON
and timestamps exactly, inside the caller's transaction."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
import sqlalchemy as sa

from personio_pipeline.reporting.explain import explain, format_explanation
from personio_pipeline.store import hand_edits
from personio_pipeline.store.bulk_write import insert_many
from personio_pipeline.store.db import as_utc, company_transaction
from personio_pipeline.store.schema import change_log, users
from personio_pipeline.store.diff import Change
from personio_pipeline.store.sync import IMPORT_ACTION, IMPORT_KEY, import_entries
from personio_pipeline_tests.support.people import day_one, day_one_evening, day_two, logged, person, sync
from personio_pipeline_tests.support.stores import register, table_rows

NOW = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=timezone.utc)
HOSTILE = "Zoë '); DROP TABLE users;-- <b>Łukasz</b>\ttab\\back"
# What COPY's text format must escape: its separators, its NULL marker and end-of-data line, quotes.
COPY_HOSTILE = [HOSTILE, "line\nbreak\r\n", "\\N", "\\.", "\\", '"quoted", \'single\'', "a,b;c|d", "", " ",
                "\u202eevil\u202c 👩\u200d👩\u200d👧", "ß İ 李雷 مرحبا", "x" * 600]


def entries(engine, run_id: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(
            sa.select(change_log.c.entity, change_log.c.entity_key, change_log.c.action, change_log.c.before,
                      change_log.c.after, change_log.c.at)
            .where(change_log.c.run_id == run_id).order_by(change_log.c.id))]


def test_a_first_import_logs_one_entry_per_table_and_later_syncs_one_per_row(engine):
    register(engine)
    result = sync(engine, day_one(), "day-1", now=NOW)

    assert [row[:5] for row in entries(engine, "day-1")] == [
        (entity, IMPORT_KEY, IMPORT_ACTION, None, {"created": n})
        for entity, n in (("unit", 2), ("team", 3), ("role", 4), ("user", 8), ("team_membership", 8),
                          ("user_role", 8), ("reporting_line", 6))
    ]
    assert {as_utc(row[5]) for row in entries(engine, "day-1")} == {NOW}
    assert {as_utc(at) for (at,) in table_rows(engine, users, "acme", "created_at")} == {NOW}, "rows carry the time"
    assert result.first_import and result.counts["user"] == {"create": 8}  # the run's counts stay per row
    assert len(result.changes) == 39 and result.rows_written == 39 + 7

    evening = sync(engine, day_one_evening(), "evening", now=NOW + timedelta(hours=9))
    assert not evening.first_import
    assert ("user", "9", "deactivate") in logged(engine, "evening")
    assert all(action != IMPORT_ACTION for _, _, action in logged(engine, "evening"))
    sync(engine, day_two(), "day-2", now=NOW + timedelta(days=1))
    assert ("user", "10", "create") in logged(engine, "day-2"), "a later hire has its own entry"


def test_what_is_not_a_plain_creation_keeps_its_own_entry(engine):
    register(engine)
    with company_transaction(engine) as conn:
        existing = hand_edits.create_user(conn, "acme", "Anna (Teammeter)", "anna@acme-gmbh.de", registered=True)
        hand_edits.create_user(conn, "acme", "Coach", "coach@partner.de")
    people = [person("1", name="Anna Schmidt", email="anna@acme-gmbh.de", team="Platform"),
              person("2", name=HOSTILE, email="same@acme-gmbh.de", team="Platform", manager="1"),
              person("3", email="same@acme-gmbh.de", team="Platform", manager="1"),  # both held back
              person("4", team="Platform", manager="1")]
    sync(engine, people, "day-1", now=NOW)

    rows = [row[:3] for row in entries(engine, "day-1")]
    assert ("user", "1", "link") in rows and ("user", "1", "update") in rows  # the linked account
    assert {("user", "2", "hold_back"), ("user", "3", "hold_back")} <= set(rows)
    assert not any(action == "create" for _, _, action in rows), "creations are counted, not listed"
    (user_summary,) = [row[4] for row in entries(engine, "day-1") if row[:3] == ("user", "*", "import")]
    assert user_summary == {"created": 3, "update": 1, "link": 1, "hold_back": 2}
    assert dict(table_rows(engine, users, "acme", "id", "linked_by"))[existing] == "address"


def test_explain_tells_who_the_first_import_created(engine, tmp_path):
    register(engine)
    with company_transaction(engine) as conn:
        hand_edits.create_user(conn, "acme", "Ada (Teammeter)", "ada@acme-gmbh.de", registered=True)
    ada = person("1", name="Ada Admin", email="ada@acme-gmbh.de", team="Platform", role="Engineering Manager",
                 unit="Engineering")
    sync(engine, [ada, *day_one()[1:6], person("11", name=HOSTILE, team="Mobile", unit="Engineering")], "day-1",
         now=NOW)
    sync(engine, day_two(), "day-2", now=NOW + timedelta(days=1), approve_deactivations=True)
    with engine.connect() as conn:
        ben, hostile, ada, hire = (explain(conn, "acme", person_id, tmp_path) for person_id in ("2", "11", "1", "10"))

    assert ben.changes[-1]["action"] == "create" and ben.changes[-1]["run_id"] == "day-1"
    assert ben.changes[-1]["note"] == "created by the first import on 2026-03-02"
    assert "created by the first import on 2026-03-02" in format_explanation(ben)
    assert "created by the first import" in format_explanation(ben, "json")
    assert hostile.changes[-1]["note"].startswith("created by the first import")
    assert hostile.changes[0]["action"] == "deactivate"  # newest first
    assert "link" in {c["action"] for c in ada.changes}, "a linked account was not created by the import"
    assert all("note" not in c for c in ada.changes)
    assert [(c["action"], c["run_id"]) for c in hire.changes] == [("create", "day-2")]  # a later hire: its entry


def test_import_entries_keep_order_and_count_other_actions():
    changes = [Change("unit", "u1", "create", None, {"name": "U"}),
               Change("user", "1", "create", None, {}), Change("user", "2", "create", None, {}),
               Change("user", "3", "conflict_kept_teammeter", {}, {}),
               Change("user_role", "1|r", "create", None, None),
               Change("user", "4", "hold_back", None, {"problem": "duplicate_email"})]
    assert import_entries(changes) == [
        Change("unit", "*", "import", None, {"created": 1}),
        Change("user", "*", "import", None, {"created": 2, "conflict_kept_teammeter": 1, "hold_back": 1}),
        Change("user", "3", "conflict_kept_teammeter", {}, {}),
        Change("user_role", "*", "import", None, {"created": 1}),
        Change("user", "4", "hold_back", None, {"problem": "duplicate_email"}),
    ]
    assert import_entries([]) == []


# ---------------------------------------------------------------- the bulk insert


def test_insert_many_stores_hostile_text_json_and_timestamps_exactly_in_the_callers_transaction(engine):
    at = [NOW + timedelta(microseconds=n) for n in range(len(COPY_HOSTILE))]
    frame = pd.DataFrame({
        "run_id": ["copy"] * len(COPY_HOSTILE),
        "entity": ["user"] * len(COPY_HOSTILE),
        "entity_key": COPY_HOSTILE,
        "action": ["create"] * len(COPY_HOSTILE),
        "before": [None if n % 2 else {"name": text, "n": n, "ok": True} for n, text in enumerate(COPY_HOSTILE)],
        "after": [{"name": text, "nested": {"list": [text, None, 1.5]}} for text in COPY_HOSTILE],
        "at": at,
    })
    with engine.begin() as conn:
        insert_many(conn, change_log, frame, {"organisation_id": 1})
        seen = conn.execute(sa.select(sa.func.count()).select_from(change_log)).scalar_one()
        assert seen == len(COPY_HOSTILE), "the rows are in the caller's transaction"
    stored = entries(engine, "copy")
    assert [row[1] for row in stored] == COPY_HOSTILE
    assert [row[3] for row in stored] == list(frame["before"]), "None stays SQL NULL, dicts come back equal"
    assert [row[4] for row in stored] == list(frame["after"])
    assert [as_utc(row[5]) for row in stored] == at, "timestamps to the microsecond, in UTC"
    with engine.connect() as conn:
        nulls = conn.execute(sa.select(sa.func.count()).where(change_log.c.before.is_(None))).scalar_one()
    assert nulls == len(COPY_HOSTILE) // 2

    with pytest.raises(RuntimeError), engine.begin() as conn:  # the caller's rollback takes them back
        insert_many(conn, change_log, frame.assign(run_id="rolled-back"), {"organisation_id": 1})
        raise RuntimeError("failure after the insert")
    assert entries(engine, "rolled-back") == []


def test_nul_in_text_is_refused_by_postgresql_and_kept_by_sqlite(engine):
    frame = pd.DataFrame({"run_id": ["nul"], "entity": ["user"], "entity_key": ["a\x00b"], "action": ["create"],
                          "before": [None], "after": [{"name": "a\x00b"}]})
    constants = {"organisation_id": 1, "at": NOW}
    if engine.dialect.name == "postgresql":
        import psycopg

        with pytest.raises(psycopg.DataError, match="NUL"), engine.begin() as conn:
            insert_many(conn, change_log, frame, constants)
        assert entries(engine, "nul") == []
    else:
        with engine.begin() as conn:
            insert_many(conn, change_log, frame, constants)
        assert [row[1] for row in entries(engine, "nul")] == ["a\x00b"]
    with engine.begin() as conn:  # inside JSON, NUL is the escape \u0000: both keep it
        insert_many(conn, change_log, frame.assign(entity_key="ab", run_id="nul-json"), constants)
    assert [row[4] for row in entries(engine, "nul-json")] == [{"name": "a\x00b"}]


def test_hostile_names_reach_the_store_through_the_first_import(engine):
    register(engine)
    names = [HOSTILE, "O'Brien \\N", "Back\\slash \\. end", 'Quote " double']
    people = [person(str(n), name=name, team=name, unit="Ünit \\ ' \"", role=name) for n, name in enumerate(names, 1)]
    sync(engine, people, "day-1", now=NOW)
    stored = dict(table_rows(engine, users, "acme", "employee_id", "display_name"))
    assert stored == {p.employee_id: p.name for p in people}, "tabs, quotes and backslashes arrive as they were"
    assert sync(engine, people, "again", now=NOW + timedelta(days=1), full_sync=True).rows_written == 0


def test_a_company_purged_and_registered_again_is_imported_again(engine):
    from personio_pipeline.companies import offboarding
    from personio_pipeline.reporting.verification import build_report

    register(engine)
    sync(engine, day_one(), "day-1", now=NOW)
    sync(engine, day_two(), "day-2", now=NOW + timedelta(days=1))
    with engine.begin() as conn:
        offboarding.begin(conn, "acme", requested_by="test", purge_people=True, now=NOW + timedelta(days=2))
        offboarding.purge_people(conn, "acme")
    register(engine)
    again = sync(engine, day_two(), "again", now=NOW + timedelta(days=3))
    assert again.first_import and all(action == IMPORT_ACTION for _, _, action in logged(engine, "again"))
    with engine.connect() as conn:
        content, page = build_report(conn, "acme")
    assert content.changes is None, "two successful runs, but a new import: no changes to list"
    assert "Nothing has changed since the first sync" in page
