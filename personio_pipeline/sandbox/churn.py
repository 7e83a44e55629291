"""Churn: what one day changes in a sandbox company (hires, leavers, a team move, a manager
change, a renamed position, sometimes a rehire), applied day after day on top of day 0. A mixin of
the generator's company (`generator.py`).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from personio_pipeline.sandbox.catalogue import (
    BASE_DATE,
    DEPARTMENTS,
    LEAVING_REASONS,
    RENAMES,
    between,
    during_work,
    iso_date,
    pick_one,
    stable_seed,
)

if TYPE_CHECKING:
    from personio_pipeline.sandbox.generator import Team


class Churn:
    """`churn(day)`: one day of HR changes; everyone changed gets that day's `updated_at`."""

    def churn(self, day: int) -> None:
        """One day of HR changes; everyone changed gets that day's `updated_at`."""
        if not self.teams:
            return
        rng = random.Random(stable_seed("churn", self.seed, day))
        today = BASE_DATE.toordinal() + day

        def touch(index: int) -> dict[str, Any]:
            self.records[index]["updated_at"] = during_work(rng, today, after_noon=True)
            return self.records[index]

        for _ in range(between(rng, 1, 3)):
            self._hire(rng, today)
        for _ in range(between(rng, 1, 2)):
            if (leaver := self._pick(rng, "active")) is not None:
                touch(leaver).update(
                    employment_status="terminated",
                    employment_end_date=iso_date(today - 1),
                    leaving_reason=pick_one(rng, LEAVING_REASONS),
                )
        if (mover := self._pick(rng, "active")) is not None:
            self._join(rng, touch(mover), mover, pick_one(rng, self.teams))
        if (reassigned := self._pick(rng, "active")) is not None:
            self._change_manager(rng, touch(reassigned))
        if rng.random() < 0.3 and (returning := self._pick(rng, "terminated")) is not None:
            record = touch(returning)
            record.update(employment_status="active", employment_start_date=iso_date(today), employment_end_date=None)
            record.pop("leaving_reason", None)
            self._join(rng, record, returning, pick_one(rng, self.teams))
        self._rename_position(rng, touch)

    def _pick(self, rng: random.Random, status: str) -> int | None:
        """A random individual contributor with `status`; only they leave, so managers stay active."""
        for _ in range(1_000):
            index = int(rng.random() * len(self.records))
            if (self.kinds[index] == "ic" and self.records[index]["employment_status"] == status
                    and index not in self.no_rehire):
                return index
        return None

    def _hire(self, rng: random.Random, today: int) -> None:
        team = pick_one(rng, self.teams)
        title = self._catalogue_title(rng, team.catalogue)
        created = today - between(rng, 3, 30)
        record = self._person(rng, title, team.department, (team.id, team.name), "active", today, None, created, today)
        record["manager"] = {"id": self.records[team.lead]["id"]}
        self._add(record, "ic", title)

    def _join(self, rng: random.Random, record: dict[str, Any], index: int, team: Team) -> None:
        """Move someone into `team`: team, department and manager change; a new department brings a new title."""
        if record.get("department_id") != team.department[0]:
            title = self.canonical_titles[index] = self._catalogue_title(rng, team.catalogue)
            record.update(title=title, jobs=[{"title": title, "is_primary": True}])
        record.update(
            department=team.department[1],
            department_id=team.department[0],
            department_name=team.department[1],
            team={"id": team.id, "name": team.name},
            manager={"id": self.records[team.lead]["id"]},
        )

    def _change_manager(self, rng: random.Random, record: dict[str, Any]) -> None:
        """Report to another team lead, of the same department when it has one, staying in the same team."""
        leads = [self.records[team.lead]["id"] for team in self.teams]
        local = [self.records[team.lead]["id"] for team in self.teams if team.department[0] == record.get("department_id")]
        candidates = [lead for lead in local if lead != record["manager"]["id"]] or [
            lead for lead in leads if lead != record["manager"]["id"]
        ]
        if candidates:
            record["manager"] = {"id": pick_one(rng, candidates)}

    def _catalogue_title(self, rng: random.Random, catalogue: str) -> str:
        title = pick_one(rng, DEPARTMENTS[catalogue][0])
        return self.renamed.get(title, title)

    def _rename_position(self, rng: random.Random, touch) -> None:
        """Rename one position for everyone holding it (any spelling); new hires get the new name."""
        held = sorted({title for title in self.canonical_titles if title in RENAMES})
        if not held:
            return
        old = pick_one(rng, held)
        new = self.renamed[old] = RENAMES[old]
        for index, title in enumerate(self.canonical_titles):
            if title == old:
                record = touch(index)
                record["title"] = self.canonical_titles[index] = new
                for job in record["jobs"]:
                    if job["is_primary"]:
                        job["title"] = new
