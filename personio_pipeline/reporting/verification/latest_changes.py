"""The report's "Latest changes": what the latest sync that changed something did, read from the
change log and told per person (hires and returns, leavers, moves, new managers, the rest counted).
`names`, `team_names` and `unit_names` are the store's current names by HR id and key."""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa

from personio_pipeline.common.tables import natural_order
from personio_pipeline.companies.sync_runs import SUCCEEDED
from personio_pipeline.reporting.verification.content import SEPARATOR, Changes
from personio_pipeline.store.db import as_utc
from personio_pipeline.store.schema import change_log, sync_runs
from personio_pipeline.store.sync import IMPORT_ACTION


def latest_changes(conn: sa.Connection, organisation_id: int, *, names: dict[str, str], team_names: dict[str, str],
                   unit_names: dict[str, str]) -> Changes | None:
    """The changes of the latest successful sync that changed something, when an earlier sync
    came before it (a sync where nothing changed leaves this section, and so the page, as it was)
    and it was not a first import (one after `tenants remove --purge-people` and `tenants add`:
    its creations are 'import' entries, store/sync.py, and the page speaks of the first sync)."""
    done = sa.and_(sync_runs.c.organisation_id == organisation_id, sync_runs.c.status == SUCCEEDED)
    latest = conn.execute(
        sa.select(sync_runs.c.id, sync_runs.c.run_id, sync_runs.c.finished_at)
        .where(done, sync_runs.c.rows_written > 0)
        .order_by(sync_runs.c.finished_at.desc(), sync_runs.c.id.desc()).limit(1)
    ).first()
    if latest is None:
        return None
    previous = conn.execute(
        sa.select(sync_runs.c.finished_at).where(done, sync_runs.c.id != latest.id,
                                                 sync_runs.c.finished_at <= latest.finished_at)
        .order_by(sync_runs.c.finished_at.desc(), sync_runs.c.id.desc()).limit(1)
    ).first()
    if previous is None:
        return None
    run_id, synced_at, previous_at = latest.run_id, latest.finished_at, previous.finished_at
    logged = conn.execute(
        sa.select(change_log.c.entity, change_log.c.entity_key, change_log.c.action, change_log.c.after)
        .where(change_log.c.organisation_id == organisation_id, change_log.c.run_id == run_id)
        .order_by(change_log.c.id)
    ).all()
    if any(action == IMPORT_ACTION for _, _, action, _ in logged):
        return None

    def who(employee_id: str) -> str:
        return names.get(employee_id, f"HR id {employee_id}")

    hires, leavers, rest = [], [], []
    joined: dict[str, list[str]] = defaultdict(list)
    left: dict[str, list[str]] = defaultdict(list)
    unit_moves: dict[str, str] = {}
    managers: list[tuple[str, str]] = []
    for entity, key, action, after in logged:
        if entity == "user" and action in ("create", "reactivate"):
            hires.append(key)
        elif entity == "user" and action == "deactivate":
            leavers.append(key)
        elif entity == "team_membership" and action in ("create", "end"):
            employee_id, _, team_key = key.partition("|")
            (joined if action == "create" else left)[employee_id].append(team_names.get(team_key, team_key))
        elif entity == "user" and action == "update" and after and "unit_key" in after:
            unit_key = after["unit_key"]
            unit_moves[key] = unit_names.get(unit_key, "no unit") if unit_key else "no unit"
        elif entity == "reporting_line" and action == "create":
            managers.append(tuple(key.split("|", 1)))
        elif entity == "reporting_line" and action == "end":
            continue  # the other half of a new manager, or of a leaver
        else:
            rest.append((entity, key))
    arriving, going = set(hires), set(leavers)
    # Changes not listed by name (titles, names, addresses, structures), hires' and leavers' own aside.
    other = sum(1 for entity, key in rest if _person_of(entity, key) not in arriving | going)
    moves = []
    for employee_id in sorted(set(joined) | set(left) | set(unit_moves), key=natural_order):
        if employee_id in arriving or employee_id in going:
            continue
        parts = []
        if left[employee_id]:
            parts.append("left " + SEPARATOR.join(sorted(left[employee_id])))
        if joined[employee_id]:
            parts.append("joined " + SEPARATOR.join(sorted(joined[employee_id])))
        if employee_id in unit_moves:
            parts.append("now in unit " + unit_moves[employee_id])
        moves.append((who(employee_id), "; ".join(parts)))
    hires_teams = {e: SEPARATOR.join(sorted(joined.get(e, []))) for e in arriving}
    return Changes(
        synced_at=as_utc(synced_at),
        previous_at=as_utc(previous_at),
        hires=tuple((who(e), hires_teams[e]) for e in sorted(arriving, key=natural_order)),
        leavers=tuple(who(e) for e in sorted(going, key=natural_order)),
        moves=tuple(moves),
        new_managers=tuple((who(e), who(m)) for e, m in sorted(managers, key=lambda p: natural_order(p[0]))
                           if e not in arriving),
        other=other,
    )


def _person_of(entity: str, key: str) -> str | None:
    """The employee id a change-log entry is about, None for a unit, team or role."""
    if entity == "user":
        return key
    if entity in ("team_membership", "user_role", "reporting_line"):
        return key.partition("|")[0]
    return None

