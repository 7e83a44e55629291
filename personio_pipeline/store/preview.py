"""A sync run's changes as markdown for Dagster metadata: totals per entity and action, then the
changes themselves per section (creates, updates, deactivations …), addresses shown as set/unset.

The review export (`reporting/review.py`) is the look at the whole store; this is the look at
one run, built from its `SyncResult` (any object with the same fields)."""

from __future__ import annotations

from typing import Protocol

from personio_pipeline.common.tables import markdown_cell
from personio_pipeline.store import held_back
from personio_pipeline.store.diff import ENTITIES, Change
from personio_pipeline.store.ownership import CONFLICT_KEPT_TEAMMETER

PREVIEW_SECTIONS = (
    ("Creates", ("create",)),
    ("Updates", ("update",)),
    ("Deactivations", ("deactivate", "end")),
    ("Reactivations", ("reactivate",)),
    ("Conflicts (Teammeter value kept)", (CONFLICT_KEPT_TEAMMETER,)),
    ("Held back (HR record to fix) and released", (held_back.HOLD_BACK, held_back.RELEASE)),
)
PREVIEW_ACTIONS = tuple(action for _, actions in PREVIEW_SECTIONS for action in actions)


class SyncOutcome(Protocol):
    """What the preview reads of a `store.sync.SyncResult`."""

    consumer_id: str
    run_id: str
    counts: dict[str, dict[str, int]]
    rows_written: int
    changes: list[Change]
    diff_skipped: bool
    first_import: bool  # creations are logged as one 'import' entry per entity (store/sync.py)


def sync_preview(result: SyncOutcome, limit: int = 50) -> str:
    """A sync's changes as markdown for Dagster metadata: totals per entity and action, then up to
    `limit` changes per section."""
    lines = [
        f"Sync of company `{result.consumer_id}` (run `{result.run_id}`): {result.rows_written} rows written."
        + (" The organisation model and the store were as the last sync left them: no diff needed."
           if result.diff_skipped else ""),
        "",
        "| entity | " + " | ".join(PREVIEW_ACTIONS) + " |",
        "| --- |" + " ---: |" * len(PREVIEW_ACTIONS),
    ]
    for entity in ENTITIES:
        tally = result.counts.get(entity, {})
        lines.append(f"| {entity} | " + " | ".join(str(tally.get(a, 0)) for a in PREVIEW_ACTIONS) + " |")
    totals = [sum(t.get(a, 0) for t in result.counts.values()) for a in PREVIEW_ACTIONS]
    lines.append("| **total** | " + " | ".join(str(n) for n in totals) + " |")
    for title, actions in PREVIEW_SECTIONS:
        section = [c for c in result.changes if c.action in actions]
        lines += ["", f"### {title}: {len(section)}"]
        if section:
            lines += ["", "| entity | key | action | before | after |", "| --- | --- | --- | --- | --- |"]
            lines += [_preview_row(c) for c in section[:limit]]
        if len(section) > limit:
            logged = ("counted in change_log's one 'import' entry per entity; the rows carry created_at"
                      if getattr(result, "first_import", False) and actions == ("create",)
                      else "all of them are in change_log")
            lines += ["", f"… and {len(section) - limit} more ({logged})."]
    return "\n".join(lines)


def _preview_row(change: Change) -> str:
    cells = [change.entity, change.key, change.action, _describe(change.before), _describe(change.after)]
    return "| " + " | ".join(markdown_cell(text) for text in cells) + " |"


# Previews end up in Dagster metadata: addresses are shown as set/unset only (change_log has them).
PERSONAL_FIELDS = frozenset({"email", "hr_email"})


def _describe(values: dict | None) -> str:
    if not values:
        return ""
    return ", ".join(
        f"{k}: {('(set)' if v else '(none)') if k in PERSONAL_FIELDS else v}" for k, v in values.items()
    )
