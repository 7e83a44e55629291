"""The verification report: one self-contained HTML page per company that the customer's HR admin
checks before anyone is invited. `gather` reads the store (and, when at hand, the org
model's employees) into the plain `content` types; `render` turns those into HTML and reads
nothing. `build_report` does both."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import sqlalchemy as sa

from personio_pipeline.common.memory import cyclic_gc_paused
from personio_pipeline.reporting.verification.content import ReportContent
from personio_pipeline.reporting.verification.from_store import gather
from personio_pipeline.reporting.verification.page import render

__all__ = ["ReportContent", "build_report", "gather", "render"]


def build_report(
    conn: sa.Connection,
    consumer_id: str,
    model_employees: pd.DataFrame | None = None,
    *,
    generated_at: datetime | None = None,
) -> tuple[ReportContent, str]:
    """The company's report content and its HTML page (a few objects per person, none cyclic: the
    garbage collector is paused while they are made)."""
    with cyclic_gc_paused():
        content = gather(conn, consumer_id, model_employees, generated_at=generated_at)
        return content, render(content)
