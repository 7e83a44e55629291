"""The verification report: one self-contained HTML page per company that the customer's HR admin
checks before anyone is invited. `gather` reads the store (and, when at hand, the org
model's employees) into the plain `content` types; `render` turns those into HTML and reads
nothing. `build_report` does both.

A company with more than `SUMMARY_FROM` active people gets a summary page instead, and its long
lists as CSV files next to it (`summary.py`, `lists.py`): `make_report` returns both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from personio_pipeline.common.memory import cyclic_gc_paused
from personio_pipeline.reporting.verification import lists
from personio_pipeline.reporting.verification.content import ReportContent
from personio_pipeline.reporting.verification.from_store import gather
from personio_pipeline.reporting.verification.lists import LISTS, SUMMARY_FROM, list_name, write_lists
from personio_pipeline.reporting.verification.page import render
from personio_pipeline.reporting.verification.summary import render_summary

__all__ = ["SUMMARY_FROM", "Report", "ReportContent", "build_report", "gather", "make_report", "render",
           "render_summary", "report_from", "write_report"]


@dataclass(frozen=True)
class Report:
    """A company's report: its page and, for a large company, the CSV files next to it."""

    content: ReportContent
    page: str
    stem: str  # the page is `stem.html`, its lists `stem.<list>.csv`
    lists: dict[str, bytes] = field(default_factory=dict)  # a key of lists.LISTS -> the CSV file

    @property
    def summary(self) -> bool:
        return bool(self.lists)

    def files(self, page_path: Path) -> dict[Path, bytes]:
        """Every file to write, the page last (it links to the others)."""
        found = {page_path.with_name(list_name(self.stem, which)): data for which, data in self.lists.items()}
        found[page_path] = self.page.encode("utf-8")
        return found


def page_stem(page_path: Path) -> str:
    """`acme.html` -> `acme`: the lists of a summary page are named after it."""
    return page_path.stem if page_path.suffix.lower() in (".html", ".htm") else page_path.name


def make_report(
    conn: sa.Connection,
    consumer_id: str,
    model_employees: pd.DataFrame | None = None,
    *,
    stem: str | None = None,
    generated_at: datetime | None = None,
    summary_from: int | None = None,
) -> Report:
    """The company's report: the single page up to `summary_from` active people (default
    `SUMMARY_FROM`), above it the summary page and its CSV files, named after `stem` (default: the
    company id, as the asset names the page). Few objects per person, none cyclic: the garbage
    collector is paused while they are made."""
    with cyclic_gc_paused():
        content = gather(conn, consumer_id, model_employees, generated_at=generated_at)
        return report_from(content, consumer_id if stem is None else stem, summary_from)


def report_from(content: ReportContent, stem: str, summary_from: int | None = None) -> Report:
    """The page (and CSV files) for gathered content (pure)."""
    limit = lists.SUMMARY_FROM if summary_from is None else summary_from
    if content.header.people <= limit:
        return Report(content, render(content), stem)
    files = write_lists(content)
    sizes = {which: len(data) for which, data in files.items()}
    return Report(content, render_summary(content, stem, sizes), stem, files)


def build_report(
    conn: sa.Connection,
    consumer_id: str,
    model_employees: pd.DataFrame | None = None,
    *,
    generated_at: datetime | None = None,
    summary_from: int | None = None,
) -> tuple[ReportContent, str]:
    """The company's report content and its page (for a large company the summary page, whose
    CSV files `make_report` returns as well)."""
    report = make_report(conn, consumer_id, model_employees, generated_at=generated_at, summary_from=summary_from)
    return report.content, report.page


def write_report(path: Path, report: Report | str) -> Path:
    """Write the page and its CSV files, each atomically (temp file, then rename: a reader never
    sees half a file), the CSV files first and the page last; CSV files of an earlier summary that
    this report no longer has are removed (the company shrank below the threshold)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    files = {path: report.encode("utf-8")} if isinstance(report, str) else report.files(path)
    stem = report.stem if isinstance(report, Report) else page_stem(path)
    tmps = []
    try:
        for target, data in files.items():
            tmp = target.with_name(target.name + ".tmp")
            tmps.append((tmp, target))
            tmp.write_bytes(data)
        for tmp, target in tmps:
            os.replace(tmp, target)
    finally:
        for tmp, _ in tmps:
            tmp.unlink(missing_ok=True)
    for which in LISTS:
        stale = path.with_name(list_name(stem, which))
        if stale not in files:
            stale.unlink(missing_ok=True)
    return path
