"""The invitation asset, its check and job, materialised with Dagster against a real SMTP server
on loopback and the store on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest

from personio_pipeline.defs.invitations.assets import invitations_delivered, teammeter_invitations
from personio_pipeline.defs.invitations.sensor import invitation_sensor
from personio_pipeline.defs.shared.jobs import invite_company_job
from personio_pipeline.defs.shared.keys import INVITATIONS
from personio_pipeline.defs.shared.partitions import companies
from personio_pipeline.invitations import claims, eligibility
from personio_pipeline.invitations.decisions import release_stale
from personio_pipeline.store import hand_edits
from personio_pipeline.store.db import company_transaction
from personio_pipeline_tests.support.invitations import (
    COMPANY,
    INVITED_ON_DAY_ONE,
    email_of,
    invitation_id,
    resources,
    rows,
)
from personio_pipeline_tests.support.net import free_port
from personio_pipeline_tests.support.smtp import received

EVERYONE_ONCE = {email_of(e): 1 for e in INVITED_ON_DAY_ONE}
COUNTS = ("enqueued", "sent", "retried", "failed_for_good", "ambiguous", "pending_after")
ONE_ATTEMPT = {"ops": {"teammeter__invitations": {"config": {"max_attempts": 1}}}}


def materialize(
    engine, inbox, port: int | None = None, run_config: dict | None = None, alerts_to: str | None = None
) -> dg.ExecuteInProcessResult:
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(companies.name, [COMPANY])
    return dg.materialize(
        [teammeter_invitations, invitations_delivered],
        partition_key=COMPANY,
        instance=instance,
        resources=resources(engine, inbox, port, alerts_to),
        run_config=run_config,
        raise_on_error=False,
    )


def metadata(result: dg.ExecuteInProcessResult) -> dict:
    (event,) = result.get_asset_materialization_events()
    assert event.asset_key == INVITATIONS
    return {key: value.value for key, value in event.materialization.metadata.items()}


def failure(result: dg.ExecuteInProcessResult) -> str:
    (event,) = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    return event.step_failure_data.user_failure_data.description


def check(result: dg.ExecuteInProcessResult):
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


def test_an_unverified_company_is_refused_with_the_remedy(acme, smtp_server):
    result = materialize(acme, smtp_server)
    assert not result.success and result.get_asset_materialization_events() == []
    message = failure(result)
    assert "'acme' is not verified" in message
    assert "`personio-pipeline review acme`, then `personio-pipeline verify acme`" in message
    assert smtp_server.messages == [] and rows(acme, "status") == {}


def test_a_verified_company_is_invited_once(verified, smtp_server):
    result = materialize(verified, smtp_server)
    assert result.success
    counts = {k: v for k, v in metadata(result).items() if k in COUNTS}
    assert counts == {"enqueued": 7, "sent": 7, "retried": 0, "failed_for_good": 0, "ambiguous": 0, "pending_after": 0}
    assert check(result).passed and check(result).severity == dg.AssetCheckSeverity.WARN
    assert received(smtp_server) == EVERYONE_ONCE

    again = materialize(verified, smtp_server)
    assert again.success and (metadata(again)["enqueued"], metadata(again)["sent"]) == (0, 0)
    assert len(smtp_server.messages) == 7


@pytest.mark.parametrize("outage", ["451", "stopped"])
def test_an_smtp_outage_fails_the_run_after_recording_and_recovery_delivers_once(verified, smtp_server, outage):
    if outage == "451":
        smtp_server.fail_with = "451 4.3.0 try again later"
        result = materialize(verified, smtp_server)
    else:
        result = materialize(verified, smtp_server, port=free_port())  # nothing listens there
    assert not result.success
    recorded = metadata(result)  # materialised before the step failed
    assert (recorded["sent"], recorded["retried"], recorded["pending_after"], recorded["not_attempted"]) == (0, 1, 7, 6)
    assert recorded["errors"] == {"1": "relay_unavailable " + ("451" if outage == "451" else "ConnectionRefusedError")}
    assert recorded["stopped_by"] == "relay_unavailable" and recorded["failure_reasons"] == {"1": "relay_unavailable"}
    assert "1 invitation(s) could not be delivered" in failure(result) and "1 will be retried" in failure(result)
    assert smtp_server.messages == [] and rows(verified, "status", "attempts")["1"] == ("pending", 1)

    smtp_server.fail_with = None
    recovered = materialize(verified, smtp_server)
    assert recovered.success and metadata(recovered)["sent"] == 7
    assert received(smtp_server) == EVERYONE_ONCE


def test_an_ambiguous_claim_is_reported_by_the_check_and_sent_after_release(verified, smtp_server):
    with verified.begin() as conn:
        eligibility.enqueue_eligible(conn, COMPANY, datetime.now(timezone.utc))
    with verified.begin() as conn:  # a sender claimed 20 minutes ago and died
        claims.claim(conn, invitation_id(verified, "4"), datetime.now(timezone.utc) - timedelta(minutes=20))

    result = materialize(verified, smtp_server)
    assert result.success and (metadata(result)["sent"], metadata(result)["ambiguous"]) == (6, 1)
    evaluation = check(result)
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert "employees 4" in evaluation.description and "@" not in evaluation.description
    assert evaluation.metadata["ambiguous"].value == ["4"]
    assert email_of("4") not in received(smtp_server)

    with company_transaction(verified) as conn:
        release_stale(conn, COMPANY, [invitation_id(verified, "4")])
    released = materialize(verified, smtp_server)
    assert released.success and metadata(released)["sent"] == 1 and check(released).passed
    assert received(smtp_server) == EVERYONE_ONCE


def test_failed_invitations_are_listed_by_the_check_and_reported_to_the_data_team(verified, start_relay):
    relay = start_relay()
    relay.refuse = {email_of("1"): "550 5.1.1 mailbox unavailable"}
    result = materialize(verified, relay, run_config=ONE_ATTEMPT, alerts_to="data-team@teammeter.example")
    assert not result.success  # the run fails after recording, so run alerts see it
    recorded = metadata(result)
    assert (recorded["sent"], recorded["failed_for_good"], recorded["not_attempted"]) == (6, 1, 0)  # no blocking
    assert recorded["failure_reasons"] == {"1": "recipient_refused"} and recorded["data_team_alerted"] is True
    (alert,) = [message for to, message in relay.messages if to == ["data-team@teammeter.example"]]
    assert "1 invitation failed" in alert["Subject"] and "1 | Ada" in alert.get_content()
    assert "recipient_refused" in alert.get_content() and email_of("1") not in alert.get_content()

    relay.refuse = {}
    again = materialize(verified, relay, run_config=ONE_ATTEMPT, alerts_to="data-team@teammeter.example")
    assert again.success and metadata(again)["sent"] == 0 and metadata(again)["data_team_alerted"] is False
    assert not check(again).passed and check(again).metadata["failed"].value == ["1"]
    assert "failed for good: employees 1 (recipient_refused)" in check(again).description
    assert check(again).metadata["failure_reasons"].value == {"1": "recipient_refused"}
    assert received(relay) == {**{email_of(e): 1 for e in INVITED_ON_DAY_ONE[1:]}, "data-team@teammeter.example": 1}


def test_the_job_selects_the_invitation_asset_and_its_check_only(verified, smtp_server):
    defs = dg.Definitions(
        assets=[teammeter_invitations],
        asset_checks=[invitations_delivered],
        jobs=[invite_company_job],
        sensors=[invitation_sensor],
        resources=resources(verified, smtp_server),
    )
    dg.Definitions.validate_loadable(defs)
    job = defs.resolve_job_def("invite_company")
    assert job.partitions_def == companies
    assert job.asset_layer.selected_asset_keys == {INVITATIONS}
    assert {key.name for key in job.asset_layer.asset_graph.asset_check_keys} == {"invitations_delivered"}


def test_a_relay_without_smtputf8_fails_only_the_non_ascii_address_and_says_why_everywhere(verified, start_relay):
    with company_transaction(verified) as conn:
        hand_edits.set_email(conn, COMPANY, "2", "Zoë.Rossi@acme.example")
    relay = start_relay(smtputf8=False)
    result = materialize(verified, relay, alerts_to="data-team@teammeter.example")

    assert not result.success  # recorded first, then the run fails for run alerts
    recorded = metadata(result)
    assert (recorded["sent"], recorded["failed_for_good"], recorded["not_attempted"]) == (6, 1, 0)
    assert recorded["failure_reasons"] == {"2": "smtputf8_unsupported"} and recorded["data_team_alerted"] is True
    assert "smtputf8_unsupported" in failure(result)
    (alert,) = [message for to, message in relay.messages if to == ["data-team@teammeter.example"]]
    assert "smtputf8_unsupported" in alert.get_content() and "SMTPUTF8" in alert.get_content()
    assert "zoë" not in alert.get_content().lower()  # names and ids, never addresses
    assert received(relay) == {**{email_of(e): 1 for e in INVITED_ON_DAY_ONE if e != "2"},
                               "data-team@teammeter.example": 1}

    again = materialize(verified, relay)
    evaluation = check(again)
    assert not evaluation.passed and "failed for good: employees 2 (smtputf8_unsupported)" in evaluation.description
    assert rows(verified, "status", "failure_reason")["2"] == ("failed", "smtputf8_unsupported")
