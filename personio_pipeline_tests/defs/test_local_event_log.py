"""The embedded default's Dagster instance (runtime/dagster_local.yaml) keeps its run event logs
where Dagster keeps them, holding one connection per database: every event is still written and
readable by another instance on the same home (the UI, the daemon), and nothing outlives
`dispose`."""

from __future__ import annotations

import dagster as dg

from personio_pipeline.runtime.instance import ensure_dagster_home
from personio_pipeline.runtime.instance_storage_sqlite import MAX_HELD, HeldSqliteEventLogStorage


@dg.asset
def counted() -> int:
    return 1


def test_the_local_instance_holds_its_event_log_connections_and_loses_no_event(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    home = ensure_dagster_home()
    instance = dg.DagsterInstance.from_config(str(home))
    storage = instance.event_log_storage
    assert isinstance(storage, HeldSqliteEventLogStorage)
    assert storage._base_dir == str(home / "history" / "runs")
    runs = [dg.materialize([counted], instance=instance).run_id for _ in range(MAX_HELD + 2)]
    assert len(storage._held) <= MAX_HELD  # the least recently used are let go
    reader = dg.DagsterInstance.from_config(str(home))  # another process's view: the UI, the daemon
    for run_id in runs:
        events = reader.all_logs(run_id)
        assert any(e.dagster_event and e.dagster_event.event_type == dg.DagsterEventType.RUN_SUCCESS for e in events)
    assert reader.get_latest_materialization_event(dg.AssetKey("counted")).run_id == runs[-1]
    instance.dispose()
    reader.dispose()
    assert storage._held == {}
