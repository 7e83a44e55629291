"""Syncs in child processes (forked, so they start at once and share the models) that can be
held at a stage of the Teammeter write, killed there, or timed."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from personio_pipeline.store.db import create_engine
from personio_pipeline.store.diff import OrgModel
from personio_pipeline.store.sync import sync_company

FORK = multiprocessing.get_context("fork")
HOLD_SECONDS = 60


def _child(url: str, consumer_id: str, model: OrgModel, run_id: str, hold_at: str | None, full_sync: bool,
           held: Any, release: Any, writing: Any, locking: Any, results: Any) -> None:
    engine = create_engine(url)
    timing = {"started": time.time()}

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _asking_for_the_lock(conn, cursor, statement, *args) -> None:
        if statement.lstrip().upper().startswith("BEGIN IMMEDIATE"):  # SQLite's write lock; waits in busy_timeout
            timing.setdefault("lock_requested", time.time())
            locking.set()

    def after_stage(stage: str) -> None:
        if "first_stage" not in timing:
            timing["first_stage"] = time.time()  # the company lock is held from here on
            writing.set()
        if stage == hold_at:
            held.set()
            release.wait(HOLD_SECONDS)

    result = sync_company(engine, consumer_id, model, run_id=run_id, after_stage=after_stage, full_sync=full_sync)
    results.put({**timing, "committed": time.time(), "rows_written": result.rows_written, "run_id": run_id})
    engine.dispose()


@dataclass
class SyncChild:
    """A sync of `consumer_id` in its own process, optionally stopping after stage `hold_at`
    (its writes done, the transaction open) until released or killed."""

    url: str
    consumer_id: str
    model: OrgModel
    run_id: str
    hold_at: str | None = None
    full_sync: bool = False  # diff even if the store is as the last sync left it

    def start(self) -> "SyncChild":
        self.held, self.release, self.writing, self.locking = FORK.Event(), FORK.Event(), FORK.Event(), FORK.Event()
        self.results = FORK.Queue()
        self.process = FORK.Process(
            target=_child,
            args=(self.url, self.consumer_id, self.model, self.run_id, self.hold_at, self.full_sync, self.held, self.release,
                  self.writing, self.locking, self.results),
            daemon=True,
        )
        self.process.start()
        return self

    def wait_held(self, timeout: float = 30) -> None:
        if not self.held.wait(timeout):
            raise AssertionError(f"sync of {self.consumer_id} did not reach stage {self.hold_at!r} "
                                 f"(exit code {self.process.exitcode})")

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.join(10)
        assert self.process.exitcode == -signal.SIGKILL

    def result(self, timeout: float = 60) -> dict[str, Any]:
        outcome = self.results.get(timeout=timeout)
        self.process.join(10)
        assert self.process.exitcode == 0
        return outcome

    def finished(self) -> bool:
        return not self.results.empty() or not self.process.is_alive()

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.kill()
            self.process.join(10)
