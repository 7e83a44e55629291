"""The columnar reading of an extract gives exactly what the record-by-record path gives: on the
sandbox's companies (both profiles), on generated records full of hostile text and awkward
addresses, and — by falling back — on extracts whose types Arrow refuses."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from personio_pipeline.apideck.extract import RawExtract, RawExtractSpool
from personio_pipeline.org.employees import normalise_employees
from personio_pipeline.org.employees_columnar import normalise_extract
from personio_pipeline.sandbox.generator import generate_company

TODAY = date(2026, 1, 5)


def write_extract(folder: Path, records: list) -> RawExtract:
    with RawExtractSpool(folder) as spool:
        for start in range(0, len(records), 200):
            spool.write(records[start:start + 200])
        return spool.finish()


def assert_same_as_record_by_record(extract: RawExtract, reader: str) -> None:
    expected = normalise_employees(RawExtract(extract.path).iter_records(), TODAY)
    actual = normalise_extract(RawExtract(extract.path), TODAY)
    assert actual.reader == reader
    pd.testing.assert_frame_equal(actual.table, expected.table)
    pd.testing.assert_frame_equal(actual.duplicates, expected.duplicates)
    assert actual.without_id == expected.without_id


@pytest.mark.parametrize("profile", ["diverse", "standard"])
def test_a_sandbox_company_is_read_columnar_with_the_same_result(tmp_path, profile):
    records = generate_company(f"columnar-{profile}", 3_000, profile=profile)
    extract = write_extract(tmp_path, records)
    assert_same_as_record_by_record(extract, "columnar")
    table = normalise_extract(RawExtract(extract.path), TODAY).table
    if profile == "diverse":  # the cases the bulk path must hand on: non-ASCII, noise, invalid
        assert table["email"].str.contains(r"[^\x00-\x7f]", na=False).any()
        assert table["email_problem"].str.startswith("invalid", na=False).any()


# Text of every kind a JSON string can carry (no lone surrogates: the spool cannot write them).
HOSTILE_PARTS = [
    "\x00", "\x01\x1b[31m", "\x7f\x85", "\t", "\r\n", "\u2028", "👩\u200d👩\u200d👧", "مرحبا", "\u202eevil",
    "e\u0301", "Zoë", "\u00a0", "  ", " ", "ß", "İ", "\ufeff", "李雷", "'", "x", "Ab",
]
text = st.one_of(
    st.none(),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=12),
    st.lists(st.sampled_from(HOSTILE_PARTS), max_size=5).map("".join),
    st.tuples(st.sampled_from(["x", "é", " "]), st.integers(250, 300)).map(lambda t: t[0] * t[1]),
)
ids = st.one_of(st.sampled_from(["1", "2", "3", " 4 ", "0042"]), text)
LOCALS = ["ada", "Ada.Lovelace", "zoë.rossi", "ZOË", "o'neil", "a..b", ".a", "x" * 70, "postmaster", "a b", "é" * 40]
DOMAINS = ["acme.example", "ACME.Example", "bücher.example", "xn--bcher-kva.example", "host.local", "a", "x.123",
           ("d" * 60 + ".") * 3 + "example", "[127.0.0.1]"]
address = st.one_of(
    st.builds(lambda local, domain, pad: f"{pad}{local}@{domain}{pad}", st.sampled_from(LOCALS),
              st.sampled_from(DOMAINS), st.sampled_from(["", " ", "\t"])),
    st.emails(),
    text,
)
email_entry = st.one_of(
    st.none(),
    st.fixed_dictionaries({}, optional={"email": address, "type": st.sampled_from(
        [None, "work", "WORK", "primary", "personal", "secondary", "other", " work ", "ünknown"])}),
)
job = st.one_of(st.none(), st.fixed_dictionaries({}, optional={"title": text, "is_primary": st.booleans()}))
record = st.fixed_dictionaries(
    {},
    optional={
        "id": ids,
        "employee_number": ids,
        "first_name": text,
        "last_name": text,
        "display_name": text,
        "preferred_name": text,
        "emails": st.one_of(st.none(), st.lists(email_entry, max_size=4)),
        "employment_status": st.one_of(st.sampled_from(["active", "inactive", "terminated", "other", " Active "]), text),
        "deleted": st.one_of(st.none(), st.booleans()),
        "team": st.one_of(st.none(), st.fixed_dictionaries({}, optional={"id": ids, "name": text})),
        "department_id": ids,
        "department_name": text,
        "department": text,
        "title": text,
        "jobs": st.one_of(st.none(), st.lists(job, max_size=3)),
        "manager": st.one_of(st.none(), st.fixed_dictionaries({}, optional={"id": ids})),
        "employment_start_date": st.one_of(st.sampled_from(["2020-02-01", " 2021-03-04T00:00:00+02:00", "9999-12-31"]), text),
        "employment_end_date": st.one_of(st.sampled_from(["2025-12-31", "2026-01-05", "2027-01-01"]), text),
        "updated_at": st.one_of(st.sampled_from(["2024-01-01T00:00:00Z", "2024-01-01T00:00:00.000Z", "2023-06-01"]), text),
        "custom_fields": st.just([{"id": "x", "value": 1}, {"id": "y", "value": "z"}]),  # ignored, any types
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(record, min_size=1, max_size=12))
def test_generated_records_give_the_same_result_either_way(tmp_path_factory, records):
    extract = write_extract(tmp_path_factory.mktemp("extract"), records)
    assert_same_as_record_by_record(extract, "columnar")


@pytest.mark.parametrize(
    "odd_record",
    [
        {"id": 7, "first_name": "Integer id"},  # a connector sending numbers for ids
        {"id": "8", "team": "Sales"},  # a team as a plain string
        {"id": "9", "deleted": "yes"},
        {"id": "10", "emails": {"email": "ada@acme.example"}},
        [1, 2, 3],  # not an object at all
        "just text",
    ],
)
def test_an_extract_arrow_refuses_is_read_record_by_record(tmp_path, odd_record):
    records = [*generate_company("columnar-odd", 50, profile="diverse"), odd_record]
    extract = write_extract(tmp_path, records)
    assert_same_as_record_by_record(extract, "records")


def test_an_empty_extract_gives_an_empty_table(tmp_path):
    extract = write_extract(tmp_path, [])
    result = normalise_extract(RawExtract(extract.path), TODAY)
    assert result.reader == "records" and result.table.empty


def test_a_record_longer_than_arrows_block_is_read_whole(tmp_path):
    records = generate_company("columnar-long", 20, profile="diverse")
    records[10]["first_name"] = "x" * 9_000_000  # more than one block of Arrow's reader
    extract = write_extract(tmp_path, records)
    expected = normalise_employees(RawExtract(extract.path).iter_records(), TODAY)
    pd.testing.assert_frame_equal(normalise_extract(RawExtract(extract.path), TODAY).table, expected.table)
