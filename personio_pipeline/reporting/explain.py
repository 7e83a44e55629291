"""One person, explained: the operator's answer to "why does X look like this in Teammeter?".

For an HR employee id (or `account:N` for an account outside HR): the raw attributes the sync
read (the last listing kept in the data folder, only the fields it asks Apideck for), the org
model's row, the account (origin, how it was linked, access and why), whether the sync holds the
person back, the invitation decision, and the last change-log entries about them. Read-only.

A company's first import logs its creations as one 'import' entry per entity (store/sync.py), not
one per person: an account it created gets the entry "created by the first import on <date>",
read from that entry and the account's `created_at` (the same time).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from personio_pipeline.apideck.extract import RawExtract
from personio_pipeline.companies import clock, registry
from personio_pipeline.companies.files import model_file
from personio_pipeline.invitations.eligibility import eligible_users
from personio_pipeline.store import held_back
from personio_pipeline.store.db import as_utc
from personio_pipeline.store.schema import change_log, invitations, users
from personio_pipeline.store.sync import IMPORT_ACTION

RAW_PATH = ("apideck", "employees")
MODEL_PATH = ("org", "employees")
CHANGES_SHOWN = 10


@dataclass
class Explanation:
    """Everything known about one person, as plain values (JSON-ready)."""

    company: str
    person: str
    raw: dict[str, Any] | None = None
    model: dict[str, Any] | None = None
    account: dict[str, Any] | None = None
    access: str = ""
    held_back: str = ""
    invitation: str = ""
    changes: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def explain(conn: sa.Connection, consumer_id: str, person: str, data_dir: Path) -> Explanation:
    """What the store, the last listing and the last model say about `person` (an HR employee id,
    or `account:N` for an account outside HR). Raises LookupError when nothing knows them."""
    company = registry.get(conn, consumer_id)
    found = Explanation(consumer_id, person)
    account_id = int(person.partition(":")[2]) if person.startswith("account:") and person[8:].isdigit() else None
    condition = users.c.id == account_id if account_id is not None else users.c.employee_id == person
    row = conn.execute(sa.select(users).where(users.c.organisation_id == company.id, condition)).first()
    if account_id is None:
        found.raw = _raw_record(data_dir, consumer_id, person)
        found.model = _model_row(data_dir, consumer_id, person)
    found.held_back = held_back.open_by_employee(conn, company.id).get(person, "")
    if row is not None:
        found.account = _account(row)
        found.access = _access(row, found, company)
        found.invitation = _invitation(conn, company, row)
        found.changes = _changes(conn, company.id, row)
    elif found.model is not None or found.raw is not None:
        found.access = ("no account: " + found.held_back) if found.held_back else _why_no_account(found.model)
    if row is None and found.raw is None and found.model is None:
        raise LookupError(f"Company '{consumer_id}' has no person '{person}' in Teammeter, in its last listing or "
                          "in its org model. Remedy: check the HR employee id (`personio-pipeline review "
                          f"{consumer_id}` lists them) or use account:N for an account outside Personio.")
    return found


def format_explanation(found: Explanation, fmt: str = "text") -> str:
    if fmt == "json":
        return json.dumps(found.as_dict(), ensure_ascii=False, indent=2, default=str)
    lines = [f"company {found.company}, person {found.person}"]
    for title, values in (("raw attributes (last listing)", found.raw), ("org model", found.model),
                          ("account", found.account)):
        lines.append(f"\n{title}:")
        lines += [f"  {key}: {value}" for key, value in values.items()] if values else ["  (none)"]
    lines += ["", f"access: {found.access or '-'}", f"held back: {found.held_back or 'no'}",
              f"invitation: {found.invitation or '-'}", "", "last changes:"]
    lines += [f"  {c['at']}  {c['action']}  {c['run_id'] or ''}  {c.get('note') or c['after'] or ''}"
              for c in found.changes] or ["  (none)"]
    return "\n".join(lines)


def _raw_record(data_dir: Path, consumer_id: str, employee_id: str) -> dict[str, Any] | None:
    path = data_dir.joinpath(*RAW_PATH) / f"{consumer_id}.jsonl"
    if not path.exists():
        return None
    for record in RawExtract(path).iter_records():
        if isinstance(record, dict) and str(record.get("id")) == employee_id:
            return record
    return None


def _model_row(data_dir: Path, consumer_id: str, employee_id: str) -> dict[str, Any] | None:
    path = model_file(data_dir, MODEL_PATH, consumer_id)
    if not path.exists():
        return None
    employees = pd.read_parquet(path)
    match = employees[employees["employee_id"].astype(str) == employee_id]
    if match.empty:
        return None
    return {key: (None if _missing(value) else value) for key, value in match.iloc[0].to_dict().items()}


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _account(row: sa.Row) -> dict[str, Any]:
    keys = ("id", "employee_id", "display_name", "email", "email_source", "active", "has_access", "origin",
            "registered", "linked_by", "linked_at", "starts_on", "hr_status", "created_at", "deactivated_at")
    return {key: row._mapping[key] for key in keys}


def _access(row: sa.Row, found: Explanation, company: registry.Company) -> str:
    if row.employee_id is None:
        return "yes: an account outside Personio; Teammeter manages it" if row.has_access else \
            "no: an account outside Personio without access"
    if row.has_access:
        if row.hr_status == "unknown":
            return f"yes: kept on an unknown HR status such as a leave (company policy: {company.unknown_status})"
        return "yes: active with a login address"
    if not row.active:
        if row.hr_status == "out_of_scope":
            return "no: deactivated when the company's scope left them out"
        status = (found.model or {}).get("status")
        return f"no: deactivated ({'HR status ' + status if status else 'no longer listed by HR'})"
    if found.held_back:
        return "no: held back (" + found.held_back + ")"
    access_day = row.starts_on and row.starts_on - timedelta(days=company.pre_start_days)
    if access_day and access_day > clock.company_today(company.timezone):
        return f"no: a pre-hire, access from {access_day.isoformat()} (starts {row.starts_on.isoformat()})"
    if row.hr_status == "unknown":
        return "no: an unknown HR status (e.g. a leave) and no access before it; access comes when HR says active"
    problem = (found.model or {}).get("email_problem")
    return f"no: no usable address ({problem})" if problem else "no: no login address"


def _why_no_account(model: dict[str, Any] | None) -> str:
    status = (model or {}).get("status")
    return f"no account: HR status {status}" if status and status != "active" else "no account yet: the next sync makes it"


def _invitation(conn: sa.Connection, company: registry.Company, row: sa.Row) -> str:
    latest = conn.execute(
        sa.select(invitations.c.status, invitations.c.failure_reason, invitations.c.sent_at)
        .where(invitations.c.user_id == row.id).order_by(invitations.c.id.desc()).limit(1)
    ).first()
    if latest is not None:
        reason = f", {latest.failure_reason}" if latest.failure_reason else ""
        return f"{latest.status}{reason}" + (f" at {latest.sent_at}" if latest.sent_at else "")
    if row.employee_id is None:
        return "never by the sync: an account outside Personio"
    if row.registered:
        return "never: signed in already"
    if company.verified_at is None:
        return "after verification (the company is not verified yet)"
    due = conn.execute(sa.select(users.c.id).where(users.c.id == row.id, eligible_users())).first()
    return "due on the next invitation run" if due else "not invited: no access"


def _changes(conn: sa.Connection, organisation_id: int, row: sa.Row) -> list[dict[str, Any]]:
    keys = [key for key in (row.employee_id, f"account {row.id}") if key is not None]
    entries = conn.execute(
        sa.select(change_log.c.at, change_log.c.run_id, change_log.c.action, change_log.c.before, change_log.c.after)
        .where(change_log.c.organisation_id == organisation_id, change_log.c.entity == "user",
               change_log.c.entity_key.in_(keys), change_log.c.action != IMPORT_ACTION)
        .order_by(change_log.c.id.desc()).limit(CHANGES_SHOWN)
    ).all()
    changes = [dict(entry._mapping) for entry in entries]
    if len(changes) < CHANGES_SHOWN and (imported := _first_import(conn, organisation_id, row)) is not None:
        changes.append(imported)  # the oldest: the account's creation
    return changes


def _first_import(conn: sa.Connection, organisation_id: int, row: sa.Row) -> dict[str, Any] | None:
    """The account's creation, when the company's first import made it: that run's 'import' entry
    for users has the account's `created_at` as its time (accounts linked by it are older)."""
    if row.employee_id is None or row.origin != "hr" or row.created_at is None:
        return None
    entry = conn.execute(
        sa.select(change_log.c.at, change_log.c.run_id)
        .where(change_log.c.organisation_id == organisation_id, change_log.c.entity == "user",
               change_log.c.action == IMPORT_ACTION)
        .order_by(change_log.c.id.desc()).limit(1)
    ).first()
    if entry is None or as_utc(entry.at) != as_utc(row.created_at):
        return None
    note = f"created by the first import on {as_utc(entry.at).date().isoformat()}"
    return {"at": entry.at, "run_id": entry.run_id, "action": "create", "before": None, "after": None, "note": note}
