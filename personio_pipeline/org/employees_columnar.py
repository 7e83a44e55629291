"""The `org/employees` step's first stage on a columnar reading of the raw extract.

`employees._flat_row` takes every record apart in Python: at 100,000 people that per-record work
was most of the step. Here Arrow's JSON reader parses only the attributes the sync uses, straight
into columns, and each cleaning rule runs once per *distinct* value (names, titles, teams,
statuses and dates repeat a lot); addresses take a vectorised exact check (below) and only the
rest go through the address policy one by one.

The result must be exactly what `_flat_row` gives record by record, and it is only used when the
extract has the types the Apideck spec gives these attributes: a connector that sends an id as a
number, a team as a string or a line that is not an object makes Arrow refuse the file, and the
step then takes the record-by-record path (`normalise_extract`). `personio_pipeline_tests/org/
test_employees_columnar.py` proves both paths equal on generated and hostile records.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from email_validator.rfc_constants import EMAIL_MAX_LENGTH

from personio_pipeline.apideck.extract import RawExtract
from personio_pipeline.org import addresses, employees
from personio_pipeline.org.sanitise import KEY_LIMIT, clean_text

_TEXT = pa.string()
# The attributes `_flat_row` reads, with the types the Apideck `Employee` schema gives them.
RECORD_SCHEMA = pa.schema(
    [
        ("id", _TEXT),
        ("employee_number", _TEXT),
        ("first_name", _TEXT),
        ("last_name", _TEXT),
        ("display_name", _TEXT),
        ("preferred_name", _TEXT),
        ("emails", pa.list_(pa.struct([("email", _TEXT), ("type", _TEXT)]))),
        ("employment_status", _TEXT),
        ("deleted", pa.bool_()),
        ("team", pa.struct([("id", _TEXT), ("name", _TEXT)])),
        ("department_id", _TEXT),
        ("department_name", _TEXT),
        ("department", _TEXT),
        ("title", _TEXT),
        ("jobs", pa.list_(pa.struct([("title", _TEXT), ("is_primary", pa.bool_())]))),
        ("manager", pa.struct([("id", _TEXT)])),
        ("employment_start_date", _TEXT),
        ("employment_end_date", _TEXT),
        ("updated_at", _TEXT),
    ]
)

# An address the vectorised check may decide: printable ASCII without spaces (so trimming changes
# nothing and lowercasing is ASCII's), one @, and a local part that is email-validator's ASCII
# dot-atom (its DOT_ATOM_TEXT, written for RE2).
_ATEXT = r"a-zA-Z0-9_!#\$%&'\*\+\-/=\?\^`\{\|\}~"
_PLAIN_ADDRESS = rf"^[{_ATEXT}]+(?:\.[{_ATEXT}]+)*@[\x21-\x3f\x41-\x7e]+$"


def normalise_extract(extract: RawExtract, today: date) -> employees.NormalisedEmployees:
    """`employees.normalise_employees` of the extract's records: columnar when Arrow reads the
    file with the spec's types, else record by record (same result either way)."""
    table = extract.read_table(RECORD_SCHEMA)
    if table is None:
        return employees.normalise_employees(extract.iter_records(), today)
    return employees.normalise_columns(flat_columns(table), today, reader="columnar")


def flat_columns(table: pa.Table) -> dict[str, list]:
    """`employees._FLAT_COLUMNS` as lists, equal to what `_flat_row` gives record by record."""
    column = table.column
    team, manager = column("team"), column("manager")
    email, email_type, email_problem = _choose_emails(column("emails"), table.num_rows)
    titles = _cleaned(column("title"))
    untitled = [row for row, title in enumerate(titles) if title is None]
    if untitled:
        jobs = column("jobs").take(pa.array(untitled, pa.int64())).to_pylist()
        for row, person_jobs in zip(untitled, jobs):
            titles[row] = employees._job_title(person_jobs)
    return {
        "employee_id": _identifiers(column("id")),
        "employee_number": _identifiers(column("employee_number")),
        "first_name": _cleaned(column("first_name")),
        "last_name": _cleaned(column("last_name")),
        "display_name": _cleaned(column("display_name")),
        "preferred_name": _cleaned(column("preferred_name")),
        "email": email,
        "email_type": email_type,
        "email_problem": email_problem,
        "raw_status": _cleaned(column("employment_status")),
        "deleted": pc.fill_null(column("deleted"), False).to_pylist(),
        "team_id": _identifiers(pc.struct_field(team, "id")),
        "team_name": _cleaned(pc.struct_field(team, "name")),
        "department_id": _identifiers(column("department_id")),
        "unit_name": _coalesce(_cleaned(column("department_name")), _cleaned(column("department"))),
        "role_name": titles,
        "manager_id": _identifiers(pc.struct_field(manager, "id")),
        "start_date": _per_distinct(column("employment_start_date"), employees._date_text),
        "end_date": _per_distinct(column("employment_end_date"), employees._date_text),
        "updated_at": _trimmed(column("updated_at")),
    }


# Values whose cleaning is only a trim (`clean_text`'s and `_identifier`'s common case): printable
# ASCII without double spaces, where Python's `strip()` removes exactly the outer spaces.
_PRINTABLE_ASCII = r"^[\x20-\x7e]*$"
_SHORT_PRINTABLE_ASCII = rf"^[\x20-\x7e]{{0,{KEY_LIMIT}}}$"


def _cleaned(values: pa.ChunkedArray | pa.Array) -> list:
    """`[clean_text(v) for v in values]`."""
    return _trimmed_where(values, _PRINTABLE_ASCII, clean_text, single_spaced=True)


def _identifiers(values: pa.ChunkedArray | pa.Array) -> list:
    """`[employees._identifier(v) for v in values]`."""
    return _trimmed_where(values, _SHORT_PRINTABLE_ASCII, employees._identifier, single_spaced=True)


def _trimmed(values: pa.ChunkedArray | pa.Array) -> list:
    """`[employees._text(v) for v in values]` (a trim, for any text)."""
    return _trimmed_where(values, _PRINTABLE_ASCII, employees._text, single_spaced=False)


def _trimmed_where(values, pattern: str, function: Callable[[Any], Any], *, single_spaced: bool) -> list:
    """`[function(v) for v in values]`, where `function` of a value matching `pattern` (and, if
    `single_spaced`, without two spaces in a row) is its trim, or None when that is empty: those
    are trimmed in bulk, the rest (and nulls) get `function` once per distinct value."""
    values = _one_array(values)
    plain = pc.match_substring_regex(values, pattern)
    if single_spaced:
        plain = pc.and_(plain, pc.invert(pc.match_substring(values, "  ")))
    plain = pc.fill_null(plain, False)
    trimmed = pc.utf8_trim(values, " ")
    result = pc.if_else(pc.and_(plain, pc.not_equal(trimmed, "")), trimmed, _NULL_TEXT).to_pylist()
    other = np.flatnonzero(~plain.to_numpy(zero_copy_only=False) & values.is_valid().to_numpy(zero_copy_only=False))
    if len(other):
        for row, value in zip(other.tolist(), _per_distinct(values.take(pa.array(other)), function)):
            result[row] = value
    return result


_NULL_TEXT = pa.scalar(None, pa.string())


def _per_distinct(values: pa.ChunkedArray | pa.Array, function: Callable[[Any], Any]) -> list:
    """`[function(v) for v in values]`, calling `function` once per distinct value (null too)."""
    encoded = pc.dictionary_encode(_one_array(values), null_encoding="encode")
    mapped = np.empty(len(encoded.dictionary), dtype=object)
    mapped[:] = [function(value) for value in encoded.dictionary.to_pylist()]
    return mapped[encoded.indices.to_numpy(zero_copy_only=False)].tolist()


def _one_array(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _coalesce(first: list, second: list) -> list:
    return [a if a is not None else b for a, b in zip(first, second)]


def _choose_emails(emails: pa.ChunkedArray, rows: int) -> tuple[list, list, list]:
    """`employees._choose_email` for every person at once: each served address is checked once
    (vectorised where it is plain ASCII, by the address policy otherwise), then per person the
    best-ranked valid address wins, else the best-ranked one's problem, else 'missing'."""
    emails = _one_array(emails)
    person = pc.list_parent_indices(emails).to_numpy(zero_copy_only=False)
    entries = pc.list_flatten(emails)
    is_object = entries.is_valid()  # a null entry is no address at all
    person, entries = person[is_object.to_numpy(zero_copy_only=False)], entries.filter(is_object)
    served = pc.struct_field(entries, "email")
    typed = _per_distinct(pc.struct_field(entries, "type"), _type_and_rank)
    entry_type = np.array([served_type for served_type, _ in typed], dtype=object)
    rank = np.fromiter((entry_rank for _, entry_rank in typed), dtype=np.int64, count=len(typed))
    normalised, reason = _checked_addresses(served)
    is_valid = pc.is_valid(normalised).to_numpy(zero_copy_only=False)

    # Candidates (entries with an address: valid, or invalid with a reason) per person by rank,
    # served order breaking ties, as `_choose_email`'s stable sort orders them; the first valid
    # one wins, else the first's problem.
    candidates = np.flatnonzero(is_valid | (reason != None))  # noqa: E711
    candidates = candidates[np.lexsort((candidates, rank[candidates], person[candidates]))]
    valid = candidates[is_valid[candidates]]
    winners = valid[np.unique(person[valid], return_index=True)[1]]
    firsts = candidates[np.unique(person[candidates], return_index=True)[1]]

    email = np.full(rows, None, dtype=object)
    chosen_type = np.full(rows, None, dtype=object)
    problem = np.full(rows, "missing", dtype=object)
    problem[person[firsts]] = [f"invalid: {text}" for text in reason[firsts].tolist()]
    email[person[winners]] = normalised.take(pa.array(winners)).to_pylist()
    chosen_type[person[winners]] = entry_type[winners]
    problem[person[winners]] = None
    return email.tolist(), chosen_type.tolist(), problem.tolist()


def _type_and_rank(served_type: Any) -> tuple[str | None, int]:
    """An address entry's type as `_choose_email` reads it, and its rank."""
    text = employees._text(served_type)
    return text, employees._email_rank(text)


def _checked_addresses(served: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Per served entry: the normalised address (null where none or invalid) and, for an invalid
    one, the reason, as `_text` then `employees.check_email` say. Plain ASCII addresses are decided
    in bulk, exactly as the address policy's fast path decides them (its per-domain verdict,
    email-validator's length rule); the rest one by one."""
    plain = pc.fill_null(pc.match_substring_regex(served, _PLAIN_ADDRESS), False)
    parts = pc.split_pattern(pc.ascii_lower(pc.if_else(plain, served, _NULL_TEXT)), "@", max_splits=1)
    local, domain = pc.list_element(parts, 0), pc.list_element(parts, 1)
    verdicts = _per_distinct(domain, lambda text: addresses._domain(text) if text is not None else None)
    normalised_domain = pa.array([v[0] if v else None for v in verdicts], pa.string())
    ascii_domain_bytes = np.array([len(v[1]) if v else 0 for v in verdicts], dtype=np.int64)
    longest_domain = np.maximum.reduce(
        [
            pc.fill_null(pc.binary_length(domain), 0).to_numpy(zero_copy_only=False),
            pc.fill_null(pc.binary_length(normalised_domain), 0).to_numpy(zero_copy_only=False),
            ascii_domain_bytes,
        ]
    )
    length_ok = pc.fill_null(pc.binary_length(local), 0).to_numpy(zero_copy_only=False) + 1 + longest_domain
    decided = pc.and_(pc.is_valid(normalised_domain), pa.array(length_ok <= EMAIL_MAX_LENGTH))
    normalised = pc.if_else(decided, pc.binary_join_element_wise(local, normalised_domain, "@"), _NULL_TEXT)
    reason = np.full(len(served), None, dtype=object)
    undecided = np.flatnonzero(~pc.fill_null(decided, False).to_numpy(zero_copy_only=False) & served.is_valid().to_numpy(zero_copy_only=False))
    if len(undecided):
        texts = _trimmed(served.take(pa.array(undecided)))
        checked = [employees.check_email(text) if text is not None else (None, None) for text in texts]
        values = normalised.to_pylist()
        for row, (address, problem) in zip(undecided.tolist(), checked):
            values[row], reason[row] = address, problem
        normalised = pa.array(values, pa.string())
    return normalised, reason
