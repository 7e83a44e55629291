"""`personio-pipeline tenants remove` after real syncs from the sandbox and real invitations into
the file outbox: the removed company's partition, runs and files are gone, the other company's
stay, Teammeter keeps its people deactivated, and `status` / `tenants list` say it was removed."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from personio_pipeline.cli import main
from personio_pipeline.common import settings
from personio_pipeline.definitions import build_defs
from personio_pipeline.defs.shared.jobs import invite_company_job
from personio_pipeline.defs.shared.keys import SYNC_JOB
from personio_pipeline.defs.shared.partitions import companies
from personio_pipeline.runtime.instance import dagster_instance as _instance
from personio_pipeline.store.db import migrated_engine
from personio_pipeline.store.schema import company_offboardings


pytestmark = pytest.mark.slow  # CLI flows through the whole sync graph


def run(job_name, company):
    job = build_defs().resolve_job_def(job_name)
    return job.execute_in_process(instance=_instance(), partition_key=company, raise_on_error=False)


def files_of(data, company):
    return sorted(p for p in data.rglob("*") if p.is_file() and p.name.startswith(company + "."))


def test_tenants_remove_deletes_the_company_data_and_keeps_the_others(pipeline_env):
    runner = CliRunner()
    data = settings.data_dir()
    for company in ("acme-gmbh", "globex"):
        assert runner.invoke(main, ["tenants", "add", company, "--name", company.upper()]).exit_code == 0
        assert run(SYNC_JOB, company).success
    assert runner.invoke(main, ["verify", "acme-gmbh"]).exit_code == 0
    assert run(invite_company_job.name, "acme-gmbh").success
    mails = sorted((data / "outbox").glob("*.eml"))
    assert len(mails) > 50, "invitations went to the file outbox"
    acme_files = files_of(data, "acme-gmbh")
    globex_files = files_of(data, "globex")
    assert {p.suffix for p in acme_files} == {".jsonl", ".parquet", ".html", ".json"} and len(globex_files) == len(acme_files)

    refused = runner.invoke(main, ["tenants", "remove", "acme-gmbh"], input="n\n")
    assert refused.exit_code != 0 and "not removed" in refused.output
    assert _instance().has_dynamic_partition(companies.name, "acme-gmbh")

    removed = runner.invoke(main, ["tenants", "remove", "acme-gmbh", "--yes", "--by", "alice"])
    assert removed.exit_code == 0, removed.output
    assert "removed company 'acme-gmbh'" in removed.output and "by alice" in removed.output
    assert f"mail files: {len(mails)} files" in removed.output
    assert "reports: 2 files" in removed.output, "the verification report names people: it goes too, with the key it was built for"
    assert not any(p.exists() for p in acme_files + mails)
    assert files_of(data, "globex") == globex_files
    assert _instance().get_dynamic_partitions(companies.name) == ["globex"]
    assert _instance().get_run_records() and all(
        r.dagster_run.tags.get("dagster/partition") == "globex" for r in _instance().get_run_records()
    )

    engine = migrated_engine(settings.teammeter_database_url())
    with engine.connect() as conn:
        acme_users = conn.execute(sa.text(
            "SELECT COUNT(*), SUM(CASE WHEN active OR has_access THEN 1 ELSE 0 END) FROM users u "
            "JOIN organisations o ON o.id = u.organisation_id WHERE o.consumer_id = 'acme-gmbh'")).one()
        (record,) = conn.execute(sa.select(company_offboardings)).mappings().all()
    assert acme_users[0] > 50 and acme_users[1] == 0
    assert record["requested_by"] == "alice" and record["report"]["files"]["mail_files"]["files"] == len(mails)

    listed = runner.invoke(main, ["tenants", "list"]).output
    (acme_line,) = [line for line in listed.splitlines() if line.startswith("acme-gmbh")]
    assert " removed " in acme_line
    assert "daily sync skips it: removed on" in listed
    (acme,) = json.loads(runner.invoke(main, ["status", "--company", "acme-gmbh", "--format", "json"]).output)
    assert acme["offboarded_at"] and acme["daily_sync_skipped"].startswith("removed on")

    again = runner.invoke(main, ["tenants", "remove", "acme-gmbh", "--yes"])
    assert again.exit_code == 0 and "raw extracts: 0 files" in again.output, "safe to repeat"
    assert "not registered" in runner.invoke(main, ["tenants", "remove", "nobody", "--yes"]).output
