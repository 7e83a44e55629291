"""Invitations layer: sends a verified company's Teammeter invitations through the outbox
(`personio_pipeline.invitations.outbox`) and reports what is undelivered in an asset check; the
invitation sensor launches its job (`defs/shared/jobs.py`). Retries are paced by the sensor
(backoff per invitation), not by a Dagster retry policy, which would retry at once and use up the
attempts."""

from datetime import timedelta
from typing import Any

import dagster as dg
from pydantic import Field

from personio_pipeline.companies.registry import UnknownCompanyError
from personio_pipeline.defs.shared.keys import INVITATIONS, INVITATIONS_DELIVERED, INVITATIONS_GROUP, TEAMMETER_USERS
from personio_pipeline.defs.shared.partitions import companies
from personio_pipeline.defs.shared.resources import DataTeamAlerts, Mailer, TeammeterDatabase
from personio_pipeline.invitations import claims, eligibility, outbox
from personio_pipeline.invitations.message import build_invitation
from personio_pipeline.invitations.state import STALE_AFTER, InvitationState, invitation_state
from personio_pipeline.notify.invitation_alerts import failed_invitations_alert
from personio_pipeline.notify.mail import RECIPIENT, DeliveryError


class InvitationConfig(dg.Config):
    """Run config for the outbox (defaults suit production)."""

    max_attempts: int = Field(
        default=claims.MAX_ATTEMPTS, ge=1, description="Attempts before an invitation fails for good."
    )
    stale_after_minutes: float = Field(
        default=STALE_AFTER.total_seconds() / 60,
        gt=0,
        description="A claim without a recorded outcome after this long is reported as ambiguous.",
    )


@dg.asset(
    key=INVITATIONS,
    deps=[TEAMMETER_USERS],
    group_name=INVITATIONS_GROUP,
    partitions_def=companies,
    kinds={"email"},
    owners=["team:data"],
)
def teammeter_invitations(
    context: dg.AssetExecutionContext,
    config: InvitationConfig,
    teammeter_db: TeammeterDatabase,
    mailer: Mailer,
    data_team_alerts: DataTeamAlerts,
):
    """Invites the company's active users with access who have not been invited yet, once the
    company is verified: each invitation is claimed, sent and recorded on its own, at most once,
    over one SMTP connection. A recipient's failure never holds back the others; a failed send
    is retried on a later run (after a backoff) or fails for good (after the configured attempts,
    or at once when the relay cannot carry the address), and the data team is told; a send whose
    outcome is unknown is left for an operator. The run fails after recording when a send
    failed, so run alerts see an SMTP outage."""
    company = context.partition_key
    with mailer.transport() as transport:

        def send(claim: claims.Claim) -> None:
            try:
                message = build_invitation(
                    sender=mailer.sender,
                    to=claim.email,
                    display_name=claim.display_name,
                    company_name=claim.company_name,
                    token=claim.token,
                )
            except Exception as error:  # noqa: BLE001 - nothing was sent: certain, and this person's alone
                raise DeliveryError(
                    "message_not_encodable", f"the invitation cannot be built: {type(error).__name__}: {error}",
                    scope=RECIPIENT, permanent=True,
                ) from error
            transport.send(message)

        try:
            report = outbox.deliver(
                teammeter_db.engine(),
                company,
                send,
                max_attempts=config.max_attempts,
                stale_after=timedelta(minutes=config.stale_after_minutes),
                log=context.log.info,
            )
        except (eligibility.NotVerifiedError, UnknownCompanyError) as error:
            raise dg.Failure(description=str(error)) from None
    metadata = delivery_metadata(report)
    metadata["data_team_alerted"] = _alert_data_team(context, data_team_alerts, report)
    yield dg.MaterializeResult(metadata=metadata)
    if report.had_delivery_errors:
        raise dg.Failure(
            description=(
                f"Company '{company}': {len(report.errors)} invitation(s) could not be delivered this run "
                f"({', '.join(sorted(set(report.errors.values())))}). All is recorded: {len(report.retried)} will be "
                f"retried, {len(report.newly_failed)} failed for good, {len(report.newly_ambiguous)} need an "
                f"operator's decision; {report.not_attempted} were not tried and stay pending"
                + (f" (the relay is failing: {report.stopped_by})." if report.stopped_by else ".")
                + f" Reasons: {_reason_counts(report.reasons)}."
            ),
            metadata=metadata,
        )


def delivery_metadata(report: outbox.DeliveryReport) -> dict[str, Any]:
    state = report.state
    assert state is not None
    return {
        "enqueued": report.enqueued,
        "sent": len(report.sent),
        "retried": len(report.retried),  # failed attempts this run that go back to pending
        "failed_attempts": len(report.errors),  # all failed attempts this run (retried, failed, ambiguous)
        "failed_for_good": state["failed"],
        "ambiguous": state["ambiguous"],
        "pending_after": state["pending"],
        "newly_failed": len(report.newly_failed),
        "newly_ambiguous": len(report.newly_ambiguous),
        "not_attempted": report.not_attempted,
        "claimed_elsewhere": report.skipped,
        "errors": dg.MetadataValue.json(report.errors),  # employee id -> error type and SMTP code
        "failure_reasons": dg.MetadataValue.json(report.reasons),  # employee id -> failure_reason (this run)
        "stopped_by": report.stopped_by or "",  # the relay-wide failure that stopped the batch, if any
        "dagster/row_count": sum(state.counts.values()),
        "invitations": dg.MetadataValue.md(_state_markdown(state)),
    }


def _state_markdown(state: InvitationState) -> str:
    lines = ["| status | invitations |", "| --- | ---: |"]
    lines += [f"| {status} | {count} |" for status, count in sorted(state.counts.items())]
    if state.failed:
        lines += ["", "Failed for good (employee ids): " + _with_reasons(state.failed, state.reasons)]
    if state.ambiguous:
        lines += ["", "Awaiting an operator's decision (employee ids): " + ", ".join(state.ambiguous)]
    return "\n".join(lines)


def _with_reasons(employee_ids: list[str], reasons: dict[str, str]) -> str:
    return ", ".join(f"{e} ({reasons[e]})" if e in reasons else e for e in employee_ids)


def _reason_counts(reasons: dict[str, str]) -> str:
    counts: dict[str, int] = {}
    for reason in reasons.values():
        counts[reason] = counts.get(reason, 0) + 1
    return ", ".join(f"{reason} ×{count}" for reason, count in sorted(counts.items())) or "none"


def _alert_data_team(context: dg.AssetExecutionContext, alerts: DataTeamAlerts, report: outbox.DeliveryReport) -> bool:
    """Tell the data team about invitations that failed for good this run (once each: an
    invitation fails for good once). A failing alert channel is logged, not raised: what
    matters is recorded, and the `invitations_delivered` check shows it."""
    alert = failed_invitations_alert(report.consumer_id, report.newly_failed, report.reasons, report.names)
    if alert is None:
        return False
    if not alerts.configured:
        context.log.warning(f"{alert.subject} (no DATA_TEAM_EMAIL or DATA_TEAM_WEBHOOK_URL configured)")
        return False
    try:
        alerts.notify(subject=alert.subject, text=alert.text, payload=alert.as_json())
    except Exception as error:  # noqa: BLE001 - the failures are recorded and shown by the check
        context.log.warning(f"could not alert the data team about failed invitations: {type(error).__name__}")
        return False
    return True


@dg.asset_check(
    asset=teammeter_invitations,
    name=INVITATIONS_DELIVERED,
    description="Every invitation is sent or on its way: lists failed ones and ambiguous ones awaiting an "
    "operator's decision, by employee id (WARN). Runs with the company partition of the run.",
)
def invitations_delivered(
    context: dg.AssetCheckExecutionContext, teammeter_db: TeammeterDatabase
) -> dg.AssetCheckResult:
    # Like the project's other checks the check itself is not partitioned (partitioned checks are
    # a preview feature); the run's partition names the company.
    if not context.has_partition_key:
        raise dg.Failure(description=f"{INVITATIONS_DELIVERED} needs a company: run it with a partition of 'companies'.")
    with teammeter_db.engine().connect() as conn:
        state = invitation_state(conn, context.partition_key)
    problems = []
    if state.failed:
        problems.append(f"failed for good: employees {_with_reasons(state.failed, state.reasons)}")
    if state.ambiguous:
        problems.append(
            f"delivery unknown, awaiting an operator (release or confirm): employees {', '.join(state.ambiguous)}"
        )
    return dg.AssetCheckResult(
        passed=not problems,
        severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(problems) or "no failed or ambiguous invitations",
        metadata={
            "failed": dg.MetadataValue.json(state.failed),
            "ambiguous": dg.MetadataValue.json(state.ambiguous),
            "failure_reasons": dg.MetadataValue.json(state.reasons),  # employee id -> why not (yet) sent
            "sent": state["sent"],
            "pending": state["pending"],
        },
    )

