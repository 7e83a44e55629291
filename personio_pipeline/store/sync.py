"""Brings one company's Teammeter store in step with its org model, in one transaction.

load (one SELECT per table) -> `diff.plan_sync` (pure) -> safeguard -> apply (`bulk_write`, per
table and action) -> change log -> organisation sync times. Any failure rolls everything
back, and two syncs of one company never interleave: the transaction holds the company lock
from the start (PostgreSQL: the organisation row FOR UPDATE; SQLite: BEGIN IMMEDIATE).

Records that cannot be applied safely (`org/held_back.py`) are held back one by one and
remembered in `held_back_records`; the rest of the company is written.

The change log has one entry per changed row, with one exception: a company's **first import**.
That is a sync of a company that has never been synced successfully (`organisations.first_synced_at`
is NULL: never, or again after `tenants remove --purge-people`) and whose store holds no HR rows
yet (no user with an HR id, no unit/team/role with source 'hr', before any existing account is
linked). Its plain creations collapse into one entry per entity (`import_entries`): entity_key
'*', action 'import', after {"created": n, plus the number of each other action logged for that
entity in the same run}; each created row carries the run's time in `created_at`. Everything in a
first import that is not a plain creation keeps its own entry: links to existing accounts,
recycled addresses, holds and releases, email conflicts, updates and reactivations of linked
accounts. Every later sync logs row by row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

import pandas as pd
import sqlalchemy as sa

from personio_pipeline.common.memory import cyclic_gc_paused
from personio_pipeline.common.tables import natural_order
from personio_pipeline.companies import clock, registry
from personio_pipeline.companies import scope as company_scope
from personio_pipeline.companies.sync_runs import record_success
from personio_pipeline.org.columns import MODEL_KEY_ATTR
from personio_pipeline.org.held_back import HELD_BACK_COLUMNS, held_back_ids, held_back_records
from personio_pipeline.store import held_back as held_back_store
from personio_pipeline.store import linking, preview, safeguard, statuses, unchanged
from personio_pipeline.store.bulk_write import insert_many, update_many
from personio_pipeline.store.db import company_transaction
from personio_pipeline.store.diff import ENTITIES, Change, EntityPlan, OrgModel, Snapshot, SyncPlan, plan_sync
from personio_pipeline.store.ownership import HR
from personio_pipeline.store.schema import (
    change_log,
    organisations,
    reporting_lines,
    roles,
    team_memberships,
    teams,
    units,
    user_roles,
    users,
)

__all__ = ["IMPORT_ACTION", "IMPORT_KEY", "OrgModel", "SyncResult", "import_entries", "load_snapshot", "sync_company"]

STAGES = (*ENTITIES, "change_log", "organisation")
# What the diff needs of each table; links are loaded open only.
SNAPSHOT_COLUMNS: dict[str, tuple[sa.Table, tuple[str, ...]]] = {
    "users": (
        users,
        (
            "id",
            "employee_id",
            "display_name",
            "first_name",
            "last_name",
            "unit_id",
            "email",
            "email_source",
            "hr_email",
            "active",
            "has_access",
            "starts_on",
            "hr_status",
        ),
    ),
    "units": (units, ("id", "unit_key", "name", "source", "active")),
    "teams": (teams, ("id", "team_key", "name", "unit_id", "source", "active")),
    "roles": (roles, ("id", "role_key", "name", "source", "active")),
    "team_memberships": (team_memberships, ("id", "team_id", "user_id", "source")),
    "user_roles": (user_roles, ("id", "user_id", "role_id", "source")),
    "reporting_lines": (reporting_lines, ("id", "user_id", "manager_user_id", "source")),
}

# The change-log entry that stands for a first import's creations of one entity (module docstring).
IMPORT_ACTION = "import"
IMPORT_KEY = "*"
CREATE = "create"

OUT_OF_SCOPE = "out_of_scope"  # users.hr_status of an account deactivated because its person left the scope

# Rows: (table, key column, {plan column: (table column, entity whose ids it needs)}).
ROW_TABLES: dict[str, tuple[sa.Table, str, dict[str, tuple[str, str]]]] = {
    "unit": (units, "unit_key", {}),
    "team": (teams, "team_key", {"unit_key": ("unit_id", "unit")}),
    "role": (roles, "role_key", {}),
    "user": (users, "employee_id", {"unit_key": ("unit_id", "unit")}),
}
# Links: (table, {plan column: (table column, entity whose ids it needs)}).
LINK_TABLES: dict[str, tuple[sa.Table, dict[str, tuple[str, str]]]] = {
    "team_membership": (team_memberships, {"employee_id": ("user_id", "user"), "team_key": ("team_id", "team")}),
    "user_role": (user_roles, {"employee_id": ("user_id", "user"), "role_key": ("role_id", "role")}),
    "reporting_line": (
        reporting_lines,
        {"employee_id": ("user_id", "user"), "manager_id": ("manager_user_id", "user")},
    ),
}


@dataclass(frozen=True)
class SyncResult:
    """What one sync did. `rows_written` counts inserted and updated store rows plus change-log
    rows; it leaves out the organisation's sync timestamps, which every successful run records."""

    consumer_id: str
    run_id: str
    counts: dict[str, dict[str, int]]
    rows_written: int
    changes: list[Change] = field(repr=False)
    diff_skipped: bool = False  # model and store as the last sync left them: nothing to compare
    # People held back in this run (HELD_BACK_COLUMNS), newly or still; empty when none.
    held_back: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(HELD_BACK_COLUMNS)), repr=False)
    # The company's scope left out: {"people": n, "managers": reporting lines to a manager outside it}.
    outside_scope: dict[str, int] = field(default_factory=dict)
    # People whose HR status is unknown and the company's policy for them (store/statuses.py):
    # {"people": n, "without_access": of them, kept without access} under keep, {"deactivated": n} else.
    unknown_status: dict[str, int] = field(default_factory=dict)
    # The company's first import: its creations are one change-log entry per entity (module docstring).
    first_import: bool = False

    def preview_markdown(self, limit: int = 50) -> str:
        """The run's changes as markdown for Dagster metadata (`preview.sync_preview`)."""
        return preview.sync_preview(self, limit)



def sync_company(
    engine: sa.Engine,
    consumer_id: str,
    model: OrgModel,
    *,
    run_id: str,
    now: datetime | None = None,
    max_deactivation_share: float | None = None,
    approve_deactivations: bool = False,
    full_sync: bool = False,
    max_held_back_share: float | None = None,
    after_stage: Callable[[str], None] | None = None,
    today: date | None = None,
) -> SyncResult:
    """Make the company's HR rows in Teammeter match `model`, all or nothing, holding back the
    records that cannot be applied safely (unless so many are new that the run stops, see
    `safeguard.check_held_back`).

    When the model and the store are what the last committed sync left, the diff is skipped
    (see `unchanged.py`); `full_sync` always diffs. `after_stage` is called with each name in
    STAGES once that stage's writes are done; tests use it to fail mid-write or to hold the lock.
    """
    now = now or datetime.now(timezone.utc)
    with cyclic_gc_paused(), company_transaction(engine) as conn:
        company = registry.lock(conn, consumer_id)
        today = today or clock.company_today(company.timezone)  # pre-hires reach their day by the company's calendar
        safeguard.refuse_empty(company, len(model.employees))
        scope = company_scope.load(company.scope)
        model, outside_scope, outside_ids = _in_scope(model, scope)
        safeguard.refuse_empty_scope(company, len(model.employees), scope.text())
        unknown = statuses.apply_policy(model, company.unknown_status)
        model = unknown.model
        prehires = pre_hires(model.employees, today, company.pre_start_days)
        # Who is a pre-hire changes with the date alone, and the scope and the unknown-status policy
        # with a setting: all are part of what the last sync applied.
        extra = ((f"pre-hires:{','.join(prehires)}" if prehires else "") + (f"|scope:{scope.text()}" if scope.lists else "")
                 + f"|unknown:{company.unknown_status}")
        # The org model step's key (its listing, date and code) stands for the tables it built,
        # when it is at hand: hashing 100,000 rows again would cost ~0.5 s of a no-op.
        model_key = model.employees.attrs.get(MODEL_KEY_ATTR)
        fingerprint = (unchanged.key_fingerprint(model_key, extra) if model_key
                       else unchanged.model_fingerprint(model, extra=extra))
        safeguard.limit_for(company, max_deactivation_share)  # a bad setting fails every run
        safeguard.held_back_limit(max_held_back_share)
        if not full_sync and unchanged.unchanged_since_last_sync(conn, company.id, fingerprint, now):
            _mark_synced(conn, company.id, now)
            record_success(conn, company.id, run_id, finished_at=now, employees_read=len(model.employees),
                           rows_written=0, counts={})
            # Nothing changed: who is held back is what the last sync recorded.
            held_back = _held_back_as_recorded(conn, company.id, model.employees)
            return SyncResult(consumer_id, run_id, {}, 0, [], diff_skipped=True, held_back=held_back,
                              outside_scope=outside_scope, unknown_status=unknown.counts())
        held_back = held_back_records(model.employees)
        held_before = held_back_store.open_records(conn, company.id)
        safeguard.check_held_back(
            company,
            active_people=int((model.employees["status"] == "active").sum()),
            newly_held=held_back_store.newly_held(held_back, held_before),
            fields=sorted(set(held_back["field"])),
            run_share=max_held_back_share,
        )
        snapshot = load_snapshot(conn, company.id)
        first_import = company.first_synced_at is None and _no_hr_rows(snapshot)
        snapshot, links, refused = _link_existing_accounts(conn, company.id, snapshot, model, held_back, now)
        if len(refused):  # no link and no account until the doubt is resolved; reported as held back
            held_back = pd.concat([held_back, refused], ignore_index=True)
            model = _without_people(model, set(refused["employee_id"]))
        with_access = snapshot.users.loc[snapshot.users["has_access"].astype(bool), "employee_id"].astype(str)
        no_access = set(prehires) | unknown.without_access(set(with_access))
        plan = plan_sync(snapshot, model, held_back=held_back_ids(held_back), no_access_yet=no_access)
        plan = _note_out_of_scope(plan, outside_ids)
        safeguard.check_deactivations(
            company,
            active_users=snapshot.active_users,
            deactivations=plan.deactivated_users(),
            run_share=max_deactivation_share,
            approved=approve_deactivations,
        )
        holds = links + held_back_store.record(conn, company.id, held_back, held_before, run_id, now)
        rows_written = _apply(conn, company.id, plan, snapshot, run_id, now, after_stage or _no_hook, holds,
                              first_import=first_import)
        counts = _counts(plan, holds)
        unchanged.remember(conn, company.id, fingerprint, now)
        # Observability: the attempt's summary commits with the data, or not at all.
        record_success(conn, company.id, run_id, finished_at=now, employees_read=len(model.employees),
                       rows_written=rows_written, counts=counts)
    return SyncResult(consumer_id, run_id, counts, rows_written, plan.changes() + holds, held_back=held_back,
                      outside_scope=outside_scope, unknown_status=unknown.counts(no_access), first_import=first_import)


def _held_back_as_recorded(conn: sa.Connection, organisation_id: int, employees: pd.DataFrame) -> pd.DataFrame:
    """The company's open held-back records, as `held_back_records` gives them (HELD_BACK_COLUMNS)."""
    recorded = held_back_store.open_records(conn, organisation_id)
    names = dict(zip(employees["employee_id"].astype(str), employees["display_name"]))
    recorded["display_name"] = [names.get(str(e)) for e in recorded["employee_id"]]
    return recorded[list(HELD_BACK_COLUMNS)].astype(object)


def _counts(plan: SyncPlan, holds: list[Change]) -> dict[str, dict[str, int]]:
    """The plan's counts plus holds and releases (under 'user')."""
    counts = plan.counts()
    for change in holds:
        tally = counts.setdefault(change.entity, {})
        tally[change.action] = tally.get(change.action, 0) + 1
    return counts


def _no_hr_rows(snapshot: Snapshot) -> bool:
    """The store holds nothing of the company's HR yet (links need users, so users and the
    structures tell)."""
    return snapshot.users.empty and not any(
        (frame["source"] == HR).any() for frame in (snapshot.units, snapshot.teams, snapshot.roles)
    )


def import_entries(changes: list[Change]) -> list[Change]:
    """A first import's change log: per entity with creations, one 'import' entry counting them
    (and the entity's other actions of the run), followed by the entity's other entries, which stay
    one per row; entities in the order of `changes`."""
    created: dict[str, int] = {}
    others: dict[str, dict[str, int]] = {}
    for change in changes:
        if change.action == CREATE:
            created[change.entity] = created.get(change.entity, 0) + 1
        else:
            tally = others.setdefault(change.entity, {})
            tally[change.action] = tally.get(change.action, 0) + 1
    entries: list[Change] = []
    summarised: set[str] = set()
    for change in changes:
        entity = change.entity
        if entity in created and entity not in summarised:
            summarised.add(entity)
            entries.append(Change(entity, IMPORT_KEY, IMPORT_ACTION, None,
                                  {"created": created[entity], **others.get(entity, {})}))
        if change.action != CREATE:
            entries.append(change)
    return entries


def load_snapshot(conn: sa.Connection, organisation_id: int) -> Snapshot:
    """The company's current rows, one SELECT per table. Accounts outside HR (no employee id) are
    not part of it: the sync never changes them, and they are not in the safeguard's counts."""
    frames = {}
    for name, (table, columns) in SNAPSHOT_COLUMNS.items():
        query = sa.select(*(table.c[c] for c in columns)).where(table.c.organisation_id == organisation_id)
        if "ended_at" in table.c:
            query = query.where(table.c.ended_at.is_(None))
        if table is users:
            query = query.where(users.c.employee_id.is_not(None))
        frames[name] = pd.DataFrame(conn.execute(query).all(), columns=list(columns))
    return Snapshot(**frames)


def pre_hires(employees: pd.DataFrame, today: date, pre_start_days: int) -> list[str]:
    """Active people whose access day (start date minus the company's pre-start days) is after
    `today`, in id order: their account exists (for the review) without access or invitation."""
    start = pd.to_datetime(employees["start_date"], errors="coerce")
    access_day = pd.Timestamp(today) + pd.Timedelta(days=pre_start_days)
    ahead = (employees["status"] == "active").to_numpy() & (start > access_day).to_numpy()
    return sorted(employees.loc[ahead, "employee_id"].astype(str), key=natural_order)


def _in_scope(model: OrgModel, scope: company_scope.Scope) -> tuple[OrgModel, dict[str, int], set[str]]:
    """The model of the people inside the company's scope, what the scope left out (counted, not
    stored: people, and reporting lines whose manager is outside it), and the ids outside it."""
    if scope.everyone:
        return model, {}, set()
    inside = scope.in_scope(model.employees)
    outside_ids = set(model.employees.loc[~inside, "employee_id"].astype(str))
    lines = model.reporting_lines
    managers = int((~lines["employee_id"].astype(str).isin(outside_ids)
                    & lines["manager_id"].astype(str).isin(outside_ids)).sum())
    return _without_people(model, outside_ids), {"people": len(outside_ids), "managers": managers}, outside_ids


def _note_out_of_scope(plan: SyncPlan, outside_ids: set[str]) -> SyncPlan:
    """Accounts deactivated because their person left the scope say so (`hr_status`
    'out_of_scope'), for the review and `explain`."""
    user = plan.plans.get("user")
    if not outside_ids or user is None or user.updates.empty:
        return plan
    updates = user.updates
    leaving = ~updates["active"].astype(bool) & updates["employee_id"].astype(str).isin(outside_ids)
    if not leaving.any():
        return plan
    updates = updates.copy()
    updates.loc[leaving, "hr_status"] = OUT_OF_SCOPE
    return SyncPlan({**plan.plans, "user": EntityPlan(user.entity, user.inserts, updates, user.changes)})


def _without_people(model: OrgModel, employee_ids: set[str]) -> OrgModel:
    """The model without these people and the reporting lines that name them."""
    employees = model.employees[~model.employees["employee_id"].astype(str).isin(employee_ids)]
    lines = model.reporting_lines
    named = lines["employee_id"].astype(str).isin(employee_ids) | lines["manager_id"].astype(str).isin(employee_ids)
    return OrgModel(employees, model.teams, model.units, model.roles, lines[~named])


def _link_existing_accounts(
    conn: sa.Connection, organisation_id: int, snapshot: Snapshot, model: OrgModel, held_back: pd.DataFrame,
    now: datetime,
) -> tuple[Snapshot, list[Change], pd.DataFrame]:
    """Link new HR people to accounts Teammeter already has (`linking.py`): an active account
    outside HR with their address, or a rehire's deactivated account. Returns the snapshot with the
    linked accounts in it, the change-log entries (links, recycled addresses), and the people whose
    link is in doubt as held-back records: they get no account until the doubt is resolved, so a
    later sync can still link them."""
    empty = pd.DataFrame({column: [] for column in HELD_BACK_COLUMNS}, dtype=object)
    employees = model.employees
    active = employees[(employees["status"] == "active") & employees["email"].notna()]
    known = set(snapshot.users["employee_id"].astype(str)) | set(held_back_ids(held_back))
    new_people = active.loc[~active["employee_id"].astype(str).isin(known), ["employee_id", "email", "display_name"]]
    if new_people.empty:
        return snapshot, [], empty
    no_hr_id = conn.execute(
        sa.select(users.c.id, users.c.email).where(
            users.c.organisation_id == organisation_id, users.c.employee_id.is_(None), users.c.active.is_(True)
        ).order_by(users.c.id)
    ).all()
    outside = pd.DataFrame(no_hr_id, columns=["id", "email"])
    linked = snapshot.users[["id", "employee_id", "email", "display_name", "active"]]
    former_ids = set(snapshot.users["employee_id"].astype(str)) - set(employees.loc[
        employees["status"] == "active", "employee_id"].astype(str))
    links, refusals, recycled = linking.plan_links(new_people, outside, linked, former_ids)
    if links:  # one executemany: a company that used Teammeter before links thousands at once
        linked_now = pd.DataFrame({"id": [link.account_id for link in links],
                                   "employee_id": [link.employee_id for link in links],
                                   "linked_by": [link.linked_by for link in links]})
        update_many(conn, users, linked_now, {"linked_at": now, "updated_at": now})
    previous = dict(zip(snapshot.users["id"].astype(int), snapshot.users["employee_id"]))
    changes = [Change("user", link.employee_id, "link",
                      {"account_id": link.account_id, "employee_id": previous.get(link.account_id)},
                      {"account_id": link.account_id, "employee_id": link.employee_id, "linked_by": link.linked_by})
               for link in links]
    changes += [Change("user", r.employee_id, "recycled_address", None, {"former_account_id": r.account_id})
                for r in recycled]
    names = dict(zip(employees["employee_id"].astype(str), employees["display_name"]))
    refused = pd.DataFrame(
        [{"employee_id": r.employee_id, "display_name": names.get(r.employee_id), "problem": r.problem,
          "field": "email", "detail": "Teammeter accounts " + ", ".join(map(str, r.accounts))} for r in refusals],
        columns=list(HELD_BACK_COLUMNS), dtype=object,
    ) if refusals else empty
    return (load_snapshot(conn, organisation_id) if links else snapshot), changes, refused


def _apply(
    conn: sa.Connection,
    organisation_id: int,
    plan: SyncPlan,
    snapshot: Snapshot,
    run_id: str,
    now: datetime,
    after_stage: Callable[[str], None],
    holds: list[Change],
    *,
    first_import: bool = False,
) -> int:
    ids = {
        "unit": _key_to_id(snapshot.units, "unit_key"),
        "team": _key_to_id(snapshot.teams, "team_key"),
        "role": _key_to_id(snapshot.roles, "role_key"),
        "user": _key_to_id(snapshot.users, "employee_id"),
    }
    written = 0
    for entity in ENTITIES:
        if entity in ROW_TABLES:
            table, key, refs = ROW_TABLES[entity]
            written += _apply_rows(conn, table, key, _with_ids(plan[entity], refs, ids), organisation_id, now)
            if len(plan[entity].inserts):
                ids[entity] = _load_ids(conn, table, key, organisation_id)
        else:
            table, refs = LINK_TABLES[entity]
            written += _apply_links(conn, table, _with_ids(plan[entity], refs, ids), organisation_id, now)
        after_stage(entity)
    changes = plan.changes() + holds
    if first_import:  # one entry per entity for the mass of creations (module docstring)
        changes = import_entries(changes)
    log = pd.DataFrame(changes, columns=["entity", "entity_key", "action", "before", "after"])
    constants = {"organisation_id": organisation_id, "run_id": run_id, "at": now}
    insert_many(conn, change_log, log, constants)
    after_stage("change_log")
    _mark_synced(conn, organisation_id, now)
    after_stage("organisation")
    return written + len(changes)


def _mark_synced(conn: sa.Connection, organisation_id: int, now: datetime) -> None:
    org = organisations
    conn.execute(
        sa.update(org)
        .where(org.c.id == organisation_id)
        .values(last_synced_at=now, first_synced_at=sa.func.coalesce(org.c.first_synced_at, now))
    )


def _apply_rows(
    conn: sa.Connection, table: sa.Table, key: str, plan: EntityPlan, organisation_id: int, now: datetime
) -> int:
    """Insert new rows and rewrite changed ones (deactivated rows get deactivated_at)."""
    constants = {"organisation_id": organisation_id, "active": True, "created_at": now}
    if "source" in table.c:
        constants["source"] = HR
    insert_many(conn, table, plan.inserts, constants)
    updates = plan.updates.drop(columns=[key])
    updates["deactivated_at"] = pd.Series(
        [None if a else now for a in updates["active"]], index=updates.index, dtype=object
    )
    update_many(conn, table, updates, {"updated_at": now})
    return len(plan.inserts) + len(updates)


def _apply_links(conn: sa.Connection, table: sa.Table, plan: EntityPlan, organisation_id: int, now: datetime) -> int:
    """Start new links and end old ones; ended links stay as history."""
    constants = {"organisation_id": organisation_id, "source": HR, "started_at": now}
    insert_many(conn, table, plan.inserts, constants)
    update_many(conn, table, plan.updates[["id"]], {"ended_at": now})
    return len(plan.inserts) + len(plan.updates)


def _with_ids(plan: EntityPlan, refs: dict[str, tuple[str, str]], ids: dict[str, pd.Series]) -> EntityPlan:
    """Replace HR keys in the plan's frames with the row ids they refer to."""

    def resolve(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        for column, (id_column, entity) in refs.items():
            if column in frame:
                frame[id_column] = frame[column].map(ids[entity]).astype("Int64")
        return frame.drop(columns=[c for c in refs if c in frame])

    return EntityPlan(plan.entity, resolve(plan.inserts), resolve(plan.updates), plan.changes)


def _key_to_id(rows: pd.DataFrame, key: str) -> pd.Series:
    """HR key -> row id (users are all HR rows)."""
    if "source" in rows:
        rows = rows[rows["source"] == HR]
    return pd.Series(rows["id"].to_numpy(), index=rows[key].to_numpy())


def _load_ids(conn: sa.Connection, table: sa.Table, key: str, organisation_id: int) -> pd.Series:
    query = sa.select(table.c.id, table.c[key]).where(table.c.organisation_id == organisation_id,
                                                       table.c[key].is_not(None))
    if "source" in table.c:
        query = query.where(table.c.source == HR)
    return _key_to_id(pd.DataFrame(conn.execute(query).all(), columns=["id", key]), key)


def _no_hook(_stage: str) -> None:
    return None
