"""The Apideck key and employees' e-mail addresses stay out of what Dagster records and prints.

Syncs run through Dagster with a recognisable key read through `dg.EnvVar`, as deployed: a
first sync with retries (so warnings are logged), a day-two sync (hires, leavers, moves) and a
failing one. The key must appear nowhere: not in any event of the runs (serialised whole), not
in the runs' records, not on stdout/stderr, not in Python logging, not in the stored files.
E-mail addresses must appear in no log message and in no metadata.
"""

from __future__ import annotations

import contextlib
import io
import logging
import secrets
from pathlib import Path

import dagster as dg
import pytest
from dagster._serdes import serialize_value

from personio_pipeline.companies import registry
from personio_pipeline.defs.shared.resources import ApideckResource
from personio_pipeline.sandbox.config import SandboxConfig
from personio_pipeline.sandbox.server import SandboxServer
from personio_pipeline_tests.support.logs import ListHandler
from personio_pipeline_tests.support.pipeline_runs import COMPANY, SIZE, expected_raw, resources_for, run_sync
from personio_pipeline_tests.support.settings import TEST_APP_ID

CANARY = f"sk_live_CANARY_{secrets.token_hex(12)}"
DEBUG_CONSOLE = {"loggers": {"console": {"config": {"log_level": "DEBUG"}}}}


pytestmark = pytest.mark.slow  # syncs through the whole graph with retries and a failure


@contextlib.contextmanager
def canary_sandbox(folder: Path):
    """A sandbox requiring the canary key, the key in APIDECK_API_KEY, and resources reading it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("APIDECK_API_KEY", CANARY)
        config = SandboxConfig(api_key=CANARY, app_id=TEST_APP_ID, strict=True, company_sizes={COMPANY: SIZE})
        with SandboxServer(config) as sandbox:
            resources = resources_for(sandbox.url, f"sqlite:///{folder / 'teammeter.sqlite'}", folder / "data")
            resources["apideck"] = ApideckResource(api_key=dg.EnvVar("APIDECK_API_KEY"), app_id=TEST_APP_ID,
                                                   base_url=sandbox.url, max_attempts=3)
            with resources["teammeter_db"].engine().begin() as conn:
                registry.register(conn, COMPANY, "ACME GmbH")
            yield sandbox, resources


def sync_with_retries_then_fail(sandbox, resources, instance) -> list[dg.ExecuteInProcessResult]:
    sandbox.queue_faults([{}, {"status": 429, "retry_after": 0.1}, {"status": 503}])
    first = run_sync(resources, instance=instance, run_config=DEBUG_CONSOLE)
    sandbox.config.day = 1
    day_two = run_sync(resources, instance=instance, run_config=DEBUG_CONSOLE)
    sandbox.queue_faults([{}, *[{"status": 503}] * 3])
    failed = run_sync(resources, instance=instance, run_config=DEBUG_CONSOLE)
    assert first.success and day_two.success and not failed.success
    return [first, day_two, failed]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The three runs on one instance, with what they printed and logged (Python level)."""
    folder = tmp_path_factory.mktemp("canary")
    instance = dg.DagsterInstance.ephemeral()
    out, err, handler = io.StringIO(), io.StringIO(), ListHandler()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with canary_sandbox(folder) as (sandbox, resources), contextlib.redirect_stdout(out), \
                contextlib.redirect_stderr(err):
            results = sync_with_retries_then_fail(sandbox, resources, instance)
    finally:
        root.removeHandler(handler)
    printed = "\n".join([out.getvalue(), err.getvalue(), *handler.lines])
    return instance, [result.run_id for result in results], folder, printed


def entries(instance: dg.DagsterInstance, run_ids: list[str]) -> list[dg.EventLogEntry]:
    return [entry for run_id in run_ids for entry in instance.all_logs(run_id)]


def addresses() -> set[str]:
    """Every address the sandbox serves for the company on days 0 and 1, as served and normalised."""
    found = set()
    for record in [*expected_raw(day=0), *expected_raw(day=1)]:
        for email in record.get("emails") or []:
            if email.get("email"):
                found |= {email["email"], email["email"].strip(), email["email"].strip().lower()}
    return found


def test_the_api_key_appears_nowhere(runs):
    instance, run_ids, folder, printed = runs
    recorded = [serialize_value(entry) for entry in entries(instance, run_ids)]
    recorded += [serialize_value(instance.get_run_by_id(run_id)) for run_id in run_ids]
    assert len(recorded) > 100 and "retry" in printed, "the runs were not recorded or printed as expected"
    places = {"event log and runs": "\n".join(recorded), "stdout, stderr, logging": printed}
    for path in Path(folder).rglob("*"):
        if path.is_file():
            places[str(path)] = path.read_bytes().decode("utf-8", errors="replace")
    leaked = [place for place, text in places.items() if CANARY in text]
    assert not leaked, f"the API key appears in: {leaked}"


def test_no_log_message_holds_an_email_address(runs):
    instance, run_ids, _, printed = runs
    messages = [entry.user_message or "" for entry in entries(instance, run_ids)]
    messages += [entry.dagster_event.message or "" for entry in entries(instance, run_ids) if entry.dagster_event]
    text = "\n".join([*messages, printed]).lower()
    assert "company 'acme'" in text
    leaked = sorted(address for address in addresses() if address.lower() in text)
    assert not leaked, f"{len(leaked)} e-mail addresses in log messages, e.g. {leaked[:3]}"


def test_console_output_at_file_descriptor_level_holds_neither(tmp_path, capfd):
    """What reaches the process's stdout/stderr (fds 1 and 2), for a sync with retries and a failure."""
    with canary_sandbox(tmp_path) as (sandbox, resources):
        sandbox.queue_faults([{}, {"status": 429, "retry_after": 0.1}])
        assert run_sync(resources, run_config=DEBUG_CONSOLE).success
        sandbox.queue_faults([{}, *[{"status": 503}] * 3])
        assert not run_sync(resources, run_config=DEBUG_CONSOLE).success
    printed = capfd.readouterr()
    text = printed.out + printed.err
    assert "rate limited (429)" in text and "after 3 attempts" in text
    assert CANARY not in text
    leaked = sorted(address for address in addresses() if address.lower() in text.lower())
    assert not leaked, f"{len(leaked)} e-mail addresses printed, e.g. {leaked[:3]}"


def scanned_metadata(instance: dg.DagsterInstance, run_ids: list[str]) -> list[tuple[str, str]]:
    """('<asset or check> <metadata key>', the value as recorded, serialised, in lower case) for
    every metadata entry of every materialization and check evaluation of the runs."""
    scanned: list[tuple[str, str]] = []
    for entry in entries(instance, run_ids):
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            owner = event.event_specific_data.materialization.asset_key.to_user_string()
            metadata = event.event_specific_data.materialization.metadata
        elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            owner = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
            metadata = {**evaluation.metadata, "description": dg.MetadataValue.text(evaluation.description or "")}
        else:
            continue
        for key, value in metadata.items():
            scanned.append((f"{owner} {key}", serialize_value(value).lower()))
    return scanned


def planned(instance: dg.DagsterInstance, run_ids: list[str]) -> set[str]:
    """The assets ('<key>') and checks ('<key>:<check>') the runs planned to materialize or evaluate."""
    owners = set()
    for entry in entries(instance, run_ids):
        event = entry.dagster_event
        if event is not None and event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED:
            owners.add(event.asset_key.to_user_string())
        elif event is not None and event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED:
            check = event.event_specific_data
            owners.add(f"{check.asset_key.to_user_string()}:{check.check_name}")
    return owners


def holding_addresses(scanned: list[tuple[str, str]], known: set[str]) -> dict[str, int]:
    """'<asset or check> <metadata key>' -> how many of the known addresses its values hold."""
    found: dict[str, int] = {}
    for place, text in scanned:
        count = sum(1 for address in known if address in text)
        if count:
            found[place] = found.get(place, 0) + count
    return found


def test_no_metadata_holds_an_email_address(runs):
    instance, run_ids, *_ = runs
    known = {address.lower() for address in addresses()}
    assert len(known) >= SIZE, f"only {len(known)} addresses to look for: the sandbox serves too few"
    scanned = scanned_metadata(instance, run_ids)
    # What was scanned: every asset and check the runs planned, raw to Teammeter...
    expected = planned(instance, run_ids)
    assert {"apideck/employees", "org/employees:missing_emails", "teammeter/users"} <= expected, sorted(expected)
    scanned_owners = {place.split(" ")[0] for place, _ in scanned}
    assert expected <= scanned_owners, f"planned but not scanned: {sorted(expected - scanned_owners)}"
    # ...including the lists of people a check names, where an address would sit next to a name.
    names = {record["display_name"].lower() for record in expected_raw(day=0) if record.get("display_name")}
    naming = {place for place, text in scanned if any(name in text for name in names)}
    assert "org/employees:missing_emails people" in naming, sorted(naming)
    # The scan finds an address wherever one is: one planted in a preview like those recorded.
    planted = sorted(known)[0]
    preview = serialize_value(dg.MetadataValue.md(f"| 1 | Person | {planted.upper()} |")).lower()
    assert holding_addresses([("planted preview", preview)], known) == {"planted preview": 1}
    found = holding_addresses(scanned, known)
    assert not found, f"metadata holding e-mail addresses: {found}"
