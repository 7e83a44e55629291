"""Raw Apideck employee records -> one normalised row per HR employee id.

The Apideck `Employee` schema lets every attribute be missing or null, enums carry values we do
not know, and dates may be any string. Nothing here may crash on such a record, and anything
unclear must end up *without* access rather than with it.

Speed: one pass over the records turns each into a tuple of the attributes we use (records
can be streamed: none is kept once its row is built); display names and length limits run over
plain column lists, dates, de-duplication and the status rules vectorised in pandas.
`bench/org_employees.py` times it on a sandbox company read back from its extract.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd

from personio_pipeline.common.memory import cyclic_gc_paused
from personio_pipeline.org import addresses
from personio_pipeline.org.columns import DUPLICATE_ID_COLUMNS, EMPLOYEE_COLUMNS
from personio_pipeline.org.sanitise import DISPLAY_LIMIT, KEY_LIMIT, clean_text, fit_display, fit_key

# Lower rank wins. Work addresses are the ones the company issues and controls, so an
# invitation reaches the person in their work context and stops working when they leave.
# `primary` is what the HR system marks as the main address (Personio's only standard email
# field arrives as primary or work). Personal addresses come last: we would rather invite
# someone privately than not at all, but never while a business address exists.
_EMAIL_TYPE_RANK: dict[str, int] = {"work": 0, "primary": 1, "personal": 3}
_OTHER_EMAIL_RANK = 2  # secondary, other, billing, unknown types and no type


@dataclass(frozen=True)
class NormalisedEmployees:
    """Employees (EMPLOYEE_COLUMNS) and what normalisation had to resolve to get there."""

    table: pd.DataFrame
    duplicates: pd.DataFrame  # DUPLICATE_ID_COLUMNS
    without_id: int  # records dropped because they carried no id
    # How the records were read: "columnar" (Arrow, the spec's types) or "records" (one by one).
    reader: str = "records"


def normalise_employees(records: Iterable[Any], today: date) -> NormalisedEmployees:
    """One row per employee id: latest `updated_at` wins (ties: the last served copy);
    `today` decides whether an employment end date lies in the past. `records` may be any
    iterable (a generator reading a file is consumed once); entries that are not JSON objects
    count as records without an id."""
    with cyclic_gc_paused():  # parsing and taking apart 100,000 records: no cycles to collect
        columns = _record_columns(records)
    return normalise_columns(columns, today)


def normalise_columns(columns: dict[str, list], today: date, reader: str = "records") -> NormalisedEmployees:
    """`normalise_employees` from the records' attributes already taken apart: `_FLAT_COLUMNS`,
    one list each, as `_flat_row` gives them (`employees_columnar` builds them from Arrow).
    Takes `columns` over: it is empty afterwards."""
    flat = _flat_table(columns)
    has_id = flat["employee_id"].notna()
    identified = flat if has_id.all() else flat[has_id].reset_index(drop=True)
    table = _latest_per_id(identified)
    table["start_date"] = _parse_dates(table["start_date"])
    table["end_date"] = _parse_dates(table["end_date"])
    table["status"] = _status(table, today)
    return NormalisedEmployees(
        table=table[list(EMPLOYEE_COLUMNS)],
        duplicates=_duplicates(identified, table),
        without_id=len(flat) - len(identified),
        reader=reader,
    )


def check_email(address: str) -> tuple[str | None, str | None]:
    """(normalised address, None) when valid, else (None, reason); the address is trimmed and
    lowercased first. Decided by the address policy (`personio_pipeline.org.addresses`), which the
    invitation sender applies too, so "has access" and "can be invited" agree."""
    verdict = addresses.check(address.strip().lower())
    return verdict.normalized, verdict.reason


def name_key(name: str) -> str:
    """Match names case- and whitespace-insensitively: casefolded, whitespace collapsed."""
    return " ".join(name.split()).casefold()


_FLAT_COLUMNS = (
    "employee_id",
    "employee_number",
    "first_name",
    "last_name",
    "display_name",
    "preferred_name",
    "email",
    "email_type",
    "email_problem",
    "raw_status",
    "deleted",
    "team_id",
    "team_name",
    "department_id",
    "unit_name",
    "role_name",
    "manager_id",
    "start_date",
    "end_date",
    "updated_at",
)
_NOT_A_RECORD = (None,) * 10 + (False,) + (None,) * 9


def _record_columns(records: Iterable[Any]) -> dict[str, list]:
    """The attributes we use, one row tuple per record in a single pass, then columns."""
    rows = [_flat_row(record) if type(record) is dict else _NOT_A_RECORD for record in records]
    return dict(zip(_FLAT_COLUMNS, map(list, zip(*rows)))) if rows else {c: [] for c in _FLAT_COLUMNS}


def _flat_table(columns: dict[str, list]) -> pd.DataFrame:
    """The frame of the attributes, keys, display names and length limits added. Empties
    `columns` (its lists are freed once the frame holds the values)."""
    team_ids, department_ids = columns.pop("team_id"), columns.pop("department_id")
    columns["team_key"] = _keys(team_ids, columns["team_name"])
    columns["unit_key"] = _keys(department_ids, columns["unit_name"])
    columns["display_name"] = _display_names(columns)
    for column in _DISPLAY_COLUMNS:  # keys are made from the full names, then names are fitted
        columns[column] = _fitted(columns[column])
    flat = pd.DataFrame({name: _object_array(values) for name, values in columns.items()}, copy=False)
    columns.clear()
    flat["role_key"] = _map_distinct(flat["role_name"], _role_key)
    flat["role_name"] = _fitted_series(flat["role_name"])
    flat["updated_at"] = pd.to_datetime(flat["updated_at"], format="ISO8601", errors="coerce", utc=True)
    return flat


def _flat_row(record: dict[str, Any]) -> tuple:
    """One record's attributes in `_FLAT_COLUMNS` order. Written out inline (no helper call per
    attribute): this runs once per employee of every company every day."""
    get = record.get
    team = get("team")
    if type(team) is not dict:
        team = _EMPTY
    manager = get("manager")
    if type(manager) is not dict:
        manager = _EMPTY
    email, email_type, email_problem = _choose_email(get("emails"))
    title = clean_text(get("title"))
    unit_name = clean_text(get("department_name")) or clean_text(get("department"))
    return (
        _identifier(get("id")),
        _identifier(get("employee_number")),
        clean_text(get("first_name")),
        clean_text(get("last_name")),
        clean_text(get("display_name")),
        clean_text(get("preferred_name")),
        email,
        email_type,
        email_problem,
        clean_text(get("employment_status")),
        get("deleted") is True,
        _identifier(team.get("id")),
        clean_text(team.get("name")),
        _identifier(get("department_id")),
        unit_name,
        title or _job_title(get("jobs")),
        _identifier(manager.get("id")),
        _date_text(get("employment_start_date")),
        _date_text(get("employment_end_date")),
        _text(get("updated_at")),
    )


_EMPTY: dict[str, Any] = {}


def _mappings(value: Any) -> list[dict[str, Any]]:
    """The objects of an array attribute; a null array or null entries count as none."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    """Trimmed text; null, blank and non-text values become None."""
    return value.strip() or None if isinstance(value, str) else None


def _identifier(value: Any) -> str | None:
    """Ids are strings in the spec; a connector sending integers still means the same id.
    Cleaned like names and kept within the store's key length (see `sanitise.fit_key`)."""
    if type(value) is int:
        return str(value)
    if type(value) is str and value.isascii() and value.isprintable() and len(value) <= KEY_LIMIT and "  " not in value:
        return value.strip() or None  # the common case, without two calls
    return fit_key(clean_text(value))


def _date_text(value: Any) -> str | None:
    """The calendar date part of an ISO date or timestamp: an end date means the HR day,
    whatever offset a connector appends."""
    text = value.strip() if type(value) is str else None
    return text[:10] if text else None


def _keys(identifiers: list[str | None], names: list[str | None]) -> list[str | None]:
    """The HR system's id when it has one, else the normalised name (so renames of id-less
    teams become new teams, but spelling variants do not)."""
    return [
        identifier or (fit_key(f"name:{name_key(name)}") if name else None)
        for identifier, name in zip(identifiers, names)
    ]


def _job_title(jobs: Any) -> str | None:
    """No position title: the primary job's title, else the first titled job's."""
    titled = [(job.get("is_primary") is True, title) for job in _mappings(jobs) if (title := clean_text(job.get("title")))]
    primary = [title for is_primary, title in titled if is_primary]
    return (primary or [title for _, title in titled] or [None])[0]


# Texts shown in Teammeter: cut visibly to the store's length (the raw extract keeps them whole).
_DISPLAY_COLUMNS = ("first_name", "last_name", "display_name", "preferred_name", "team_name", "unit_name")


def _role_key(title: str) -> str:
    return fit_key(name_key(title))


def _object_array(values: list) -> np.ndarray:
    """A column of Python objects as they are (no type inference, no nesting)."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def _fitted(texts: list[str | None]) -> list[str | None]:
    """`sanitise.fit_display` on the (rare) texts longer than the limit; the rest untouched."""
    if max(map(len, filter(None, texts)), default=0) <= DISPLAY_LIMIT:
        return texts
    return [fit_display(text) for text in texts]


def _fitted_series(texts: pd.Series) -> pd.Series:
    """`_fitted` for a column of a frame."""
    long = texts.str.len() > DISPLAY_LIMIT
    if not long.any():
        return texts
    texts = texts.copy()
    texts[long] = texts[long].map(fit_display)
    return texts


def _display_names(columns: dict[str, list]) -> list[str | None]:
    """display_name, else 'first last', else preferred name, else employee number, else id.
    (Names are cleaned: a name is None or non-blank text without outer spaces.)"""
    return [
        display
        if display is not None
        else (f"{first} {last}" if first and last else first or last) or preferred or number or identifier
        for display, first, last, preferred, number, identifier in zip(
            columns["display_name"], columns["first_name"], columns["last_name"], columns["preferred_name"],
            columns["employee_number"], columns["employee_id"],
        )
    ]


def _map_distinct(values: pd.Series, function: Callable[[str], str]) -> pd.Series:
    """Apply `function` once per distinct non-null value (names repeat a lot); None stays None."""
    distinct = values.dropna().unique()
    mapped = values.map(dict(zip(distinct, map(function, distinct))))
    return mapped.astype(object).where(values.notna(), None)


def _choose_email(emails: Any) -> tuple[str | None, str | None, str | None]:
    """(address, type, problem): the best-ranked valid address; if none is valid, the problem
    of the best-ranked one; 'missing' if the record has no address at all."""
    if type(emails) is list and len(emails) == 1 and type(emails[0]) is dict:  # most people have one
        address = _text(emails[0].get("email"))
        if not address:
            return None, None, "missing"
        normalised, reason = check_email(address)
        return (normalised, _text(emails[0].get("type")), None) if normalised else (None, None, f"invalid: {reason}")
    candidates = []
    for entry in _mappings(emails):
        address = _text(entry.get("email"))
        if address:
            entry_type = _text(entry.get("type"))
            candidates.append((_email_rank(entry_type), address, entry_type))
    if not candidates:
        return None, None, "missing"
    candidates.sort(key=itemgetter(0))  # stable: served order breaks ties
    first_reason = None
    for _, address, entry_type in candidates:
        normalised, reason = check_email(address)
        if normalised:
            return normalised, entry_type, None
        first_reason = first_reason or reason
    return None, None, f"invalid: {first_reason}"


def _email_rank(email_type: str | None) -> int:
    return _EMAIL_TYPE_RANK.get(email_type.casefold(), _OTHER_EMAIL_RANK) if email_type else _OTHER_EMAIL_RANK


def _latest_per_id(flat: pd.DataFrame) -> pd.DataFrame:
    """Keep the copy with the latest updated_at (unknown counts as oldest; ties: last served)."""
    if flat["employee_id"].is_unique:  # the usual day: the rows as they are, numbered from 0
        return flat if flat.index.equals(pd.RangeIndex(len(flat))) else flat.reset_index(drop=True)
    ordered = flat.assign(served=np.arange(len(flat))).sort_values(
        ["updated_at", "served"], na_position="first", kind="stable"
    )
    latest = ordered.drop_duplicates("employee_id", keep="last").sort_values("served")
    return latest.drop(columns="served").reset_index(drop=True)


def _parse_dates(texts: pd.Series) -> pd.Series:
    """Unparseable or out-of-range dates (e.g. 9999-12-31 for 'open-ended') become NaT."""
    return pd.to_datetime(texts, format="%Y-%m-%d", errors="coerce")


def _status(table: pd.DataFrame, today: date) -> np.ndarray:
    """active | inactive | terminated | unknown. A clear `active` with no past end date is active;
    `other`, missing and unknown values are `unknown` (Personio's leave and onboarding probably
    arrive so; the company's policy decides, see store/statuses.py) until the contract ended,
    and then terminated; a deleted record is terminated whatever its status says. The end date
    itself is the last working day, so it still counts."""
    served = _map_distinct(table["raw_status"], str.casefold)
    ended = (table["end_date"] < pd.Timestamp(today)).to_numpy()
    rules: list[tuple[np.ndarray, str]] = [
        (table["deleted"].to_numpy(dtype=bool), "terminated"),
        ((served == "terminated").to_numpy(), "terminated"),
        ((served == "inactive").to_numpy(), "inactive"),
        ((served == "active").to_numpy() & ~ended, "active"),
        (ended, "terminated"),
    ]
    conditions, outcomes = zip(*rules)
    return np.select(list(conditions), list(outcomes), default="unknown").astype(object)


def _duplicates(flat: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    if len(flat) == len(table):  # each id served once (the usual day): the empty table, made from no rows
        flat, table = flat.iloc[:0], table.iloc[:0]
    copies = flat["employee_id"].value_counts()
    repeated = copies[copies > 1].rename("copies").rename_axis("employee_id").reset_index()
    kept = table[["employee_id", "updated_at"]].rename(columns={"updated_at": "kept_updated_at"})
    duplicates = repeated.merge(kept, on="employee_id", how="left").sort_values("employee_id")
    return duplicates[list(DUPLICATE_ID_COLUMNS)].reset_index(drop=True)

