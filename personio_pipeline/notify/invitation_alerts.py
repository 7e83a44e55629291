"""The data team's alert about invitations that failed for good in a run: who (employee id and
name, never the address), why (`failure_reason`) and what to do. Pure; the invitation asset
sends it through `DataTeamAlerts`. Each invitation fails for good once, so it is reported once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

REMEDIES = {
    "smtputf8_unsupported": "the mail relay does not offer SMTPUTF8, which these addresses need (their part before "
    "the @ is not ASCII): use a relay that offers SMTPUTF8 (or correct the address), then "
    "`personio-pipeline invitations retry-failed`",
    "recipient_refused": "the relay refused the address: correct it in Personio (a new invitation follows)",
    "invalid_address": "the address is not valid: correct it in Personio (a new invitation follows)",
    "message_not_encodable": "the message could not be encoded: report it to the developers",
}
DEFAULT_REMEDY = "see `personio-pipeline invitations list`, then `invitations retry-failed` once the cause is fixed"


@dataclass(frozen=True)
class FailedInvitationsAlert:
    consumer_id: str
    people: list[dict[str, str]]  # employee_id, name, reason

    @property
    def subject(self) -> str:
        count = len(self.people)
        return f"[personio_pipeline] {self.consumer_id}: {count} invitation{'' if count == 1 else 's'} failed"

    @property
    def text(self) -> str:
        lines = [
            f"Company '{self.consumer_id}': {len(self.people)} invitation(s) could not be delivered and will not be "
            "retried on their own. Everyone else was invited.",
            "",
            "employee id | name | reason",
        ]
        lines += [f"{p['employee_id']} | {p['name'] or '-'} | {p['reason']}" for p in self.people]
        lines += ["", "What to do:"]
        lines += [f"- {reason}: {REMEDIES.get(reason, DEFAULT_REMEDY)}" for reason in sorted({p["reason"] for p in self.people})]
        return "\n".join(lines) + "\n"

    def as_json(self) -> dict[str, Any]:
        return {"kind": "failed_invitations", "consumer_id": self.consumer_id, "people": self.people, "text": self.text}


def failed_invitations_alert(
    consumer_id: str, newly_failed: list[str], reasons: dict[str, str], names: dict[str, str]
) -> FailedInvitationsAlert | None:
    if not newly_failed:
        return None
    people = [
        {"employee_id": e, "name": names.get(e, ""), "reason": reasons.get(e, "unknown")} for e in newly_failed
    ]
    return FailedInvitationsAlert(consumer_id, people)
