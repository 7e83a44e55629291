"""The `teammeter/review_report` asset: part of the company sync (not of invitations), rebuilt on
every sync as one file per company in the data folder, its metadata a path and counts with no
name or address; `review --format html -o FILE` writes the same page from the same store."""

from __future__ import annotations

import re

import dagster as dg
import pytest
from click.testing import CliRunner

from personio_pipeline.cli import main
from personio_pipeline.companies import registry
from personio_pipeline.definitions import defs
from personio_pipeline.store.db import create_engine
from personio_pipeline.defs.ingest.assets import raw_employees
from personio_pipeline.defs.org.assets import org_assets
from personio_pipeline.defs.shared.io import LocalFilesIOManager
from personio_pipeline.defs.shared.keys import REVIEW_REPORT, SYNC_JOB
from personio_pipeline.defs.shared.partitions import companies
from personio_pipeline.defs.shared.resources import ApideckResource, TeammeterDatabase
from personio_pipeline.defs.store.assets import teammeter_sync
from personio_pipeline.defs.store.review_report import review_report
from personio_pipeline_tests.support.records import crafted_company, person
from personio_pipeline_tests.support.report_page import ReportPage
from personio_pipeline_tests.support.settings import TEST_API_KEY, TEST_APP_ID

COMPANY = "report-co"
HOSTILE = "<img src=x onerror=alert(1)>"


pytestmark = pytest.mark.slow  # whole-graph syncs over two days


def test_the_report_runs_in_the_sync_job_and_not_with_invitations():
    key = REVIEW_REPORT
    assert key in defs.resolve_job_def(SYNC_JOB).asset_layer.selected_asset_keys
    assert key not in defs.resolve_job_def("invite_company").asset_layer.selected_asset_keys


@pytest.fixture
def world(pipeline_env, sandbox):
    db = TeammeterDatabase(url=f"sqlite:///{pipeline_env / 'teammeter.sqlite'}")
    with db.engine().begin() as conn:
        registry.register(conn, COMPANY, "Report & Söhne <GmbH>")
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions(companies.name, [COMPANY])
    resources = {
        "apideck": ApideckResource(api_key=TEST_API_KEY, app_id=TEST_APP_ID, base_url=sandbox.url),
        "teammeter_db": db,
        "io_manager": LocalFilesIOManager(base_dir=str(pipeline_env / "data")),
    }

    def sync(records):
        sandbox.set_company(COMPANY, records)
        result = dg.materialize([raw_employees, *org_assets, teammeter_sync, review_report], resources=resources,
                                instance=instance, partition_key=COMPANY)
        assert result.success
        (materialization,) = result.asset_materializations_for_node("teammeter__review_report")
        return materialization.metadata

    return pipeline_env, sync


def records(day: int):
    company = crafted_company() + [
        person("10", HOSTILE, "Ødegård", email="hostile@acme.example", manager="1"),
        person("11", "Sam", "Shared", email="team@acme.example", manager="1"),
        person("12", "Sue", "Shared", email="team@acme.example", manager="1"),
    ]
    if day == 2:
        company.append(person("13", "Nia", "New", email="nia@acme.example", manager="10", team=("t2", "Data")))
    return company


def test_written_after_each_sync_with_counts_only_in_its_metadata(world):
    home, sync = world
    metadata = sync(records(1))
    path = home / "data" / "teammeter" / "review_report" / f"{COMPANY}.html"
    assert metadata["path"].value == str(path) and path.exists()
    # Otto's status is `other` (a leave, probably): kept under the default policy, without access.
    assert (metadata["people"].value, metadata["with_access"].value, metadata["without_access"].value) == (10, 5, 5)
    assert metadata["bytes"].value == path.stat().st_size
    for name, value in metadata.items():
        text = str(value.value)
        assert "@" not in text and "Ødegård" not in text and "onerror" not in text, name
        assert isinstance(value.value, int) or name == "path", f"{name}: counts and the path only"
    page = ReportPage(path.read_text(encoding="utf-8"))
    assert "Nothing has changed since the first sync" in page.all_text
    blocked = {row[1]: row[2] for row in page.table("people", "Name", "Reason").rows}
    assert blocked == {"3": "no email", "5": "invalid email", "7": "status not active", "11": "shared email",
                       "12": "shared email"}
    roles = {row[0]: row[2] for row in page.table("roles", "Role", "People").rows}
    assert "Software Engineer (1)" in roles["Software Engineer"] and "software engineer (1)" in roles["Software Engineer"]
    outside = {row[1]: row[2] for row in page.table("managers", "Name", "Why").rows}
    assert outside["5"] == "manager not in Personio's export (HR id 99)"
    assert outside["9"] == "manager Greta Gone has left"
    assert HOSTILE + " Ødegård" in page.all_text and not any(tag == "img" for tag, _ in page.tags)

    sync(records(2))
    page = ReportPage(path.read_text(encoding="utf-8"))
    assert "Nia New" in page.all_text and "Hires and returns: 1" in page.all_text
    assert not list(path.parent.glob("*.tmp"))


def test_review_format_html_writes_the_page_the_asset_wrote(world):
    home, sync = world
    sync(records(1))
    out = home / "review.html"
    result = CliRunner().invoke(main, ["review", COMPANY, "--format", "html", "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    asset_page = (home / "data" / "teammeter" / "review_report" / f"{COMPANY}.html").read_text(encoding="utf-8")
    made = re.compile(r"Report made [^<]*")
    assert made.sub("", out.read_text(encoding="utf-8")) == made.sub("", asset_page)
    printed = CliRunner().invoke(main, ["review", COMPANY, "--format", "html"], catch_exceptions=False)
    assert printed.output.startswith("<!doctype html>") and "Report &amp; Söhne &lt;GmbH&gt;" in printed.output


def test_a_sync_that_changed_nothing_updates_the_last_sync_time_without_a_rebuild(world):
    home, sync = world
    path = home / "data" / "teammeter" / "review_report" / f"{COMPANY}.html"
    first = sync(records(1))
    built = path.read_text(encoding="utf-8")
    again = sync(records(1))  # nothing changed: the diff is skipped, and so is the page
    assert (first["rebuilt"].value, again["rebuilt"].value) == (True, False)
    assert {k: v.value for k, v in again.items() if k != "rebuilt"} == {
        k: v.value for k, v in first.items() if k != "rebuilt"}
    last_sync = re.compile(r"Last sync: [^.]*\.")
    patched = path.read_text(encoding="utf-8")
    assert last_sync.sub("", patched) == last_sync.sub("", built)  # only the time of the last sync moved
    engine = create_engine(f"sqlite:///{home / 'teammeter.sqlite'}")
    with engine.connect() as conn:
        synced = registry.get(conn, COMPANY).last_synced_at
    engine.dispose()
    assert f"Last sync: {synced:%Y-%m-%d %H:%M} UTC." in patched
    changed = sync(records(2))  # a hire: rebuilt
    assert changed["rebuilt"].value is True and "Nia New" in path.read_text(encoding="utf-8")


def test_a_large_company_gets_its_csv_files_with_the_page_and_a_no_op_sync_rewrites_neither(world, monkeypatch):
    from personio_pipeline.reporting.verification import lists

    monkeypatch.setattr(lists, "SUMMARY_FROM", 3)  # the threshold, low: ten people make a large company here
    home, sync = world
    folder = home / "data" / "teammeter" / "review_report"
    first = sync(records(1))
    csvs = sorted(folder.glob(f"{COMPANY}.*.csv"))
    assert [p.name for p in csvs] == sorted(f"{COMPANY}.{which}.csv" for which in lists.LISTS)
    assert first["csv_files"].value == len(lists.LISTS) and first["rebuilt"].value is True
    page = (folder / f"{COMPANY}.html").read_text(encoding="utf-8")
    assert "The full lists" in page and f'href="{COMPANY}.people.csv" download' in page
    for name, value in first.items():
        assert "@" not in str(value.value) and "Ødegård" not in str(value.value), name
    stamps = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in csvs}

    again = sync(records(1))  # nothing changed: neither the page is rebuilt nor a CSV file rewritten
    assert again["rebuilt"].value is False and again["csv_files"].value == len(lists.LISTS)
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.glob("*.csv")} == stamps

    (folder / f"{COMPANY}.people.csv").unlink()  # a file gone: rebuilt, not skipped
    assert sync(records(1))["rebuilt"].value is True and (folder / f"{COMPANY}.people.csv").exists()
    assert not list(folder.glob("*.tmp"))

    out = home / "out" / "check.html"
    out.parent.mkdir()
    result = CliRunner().invoke(main, ["review", COMPANY, "--format", "html", "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.parent.iterdir()) == sorted(
        ["check.html", *(f"check.{which}.csv" for which in lists.LISTS)])
    assert 'href="check.people.csv" download' in out.read_text(encoding="utf-8")
    assert (out.parent / "check.people.csv").read_bytes() == (folder / f"{COMPANY}.people.csv").read_bytes()
