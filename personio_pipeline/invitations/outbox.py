"""The invitation outbox: a send protocol that sends each invitation at most once and loses
none. Plain functions over the Teammeter store; no Dagster. Who is invited is `eligibility.py`;
the steps of one invitation are `claims.py`; what a failed send means is `outcomes.py`; this
module runs a company's batch (`deliver`).

Lifecycle of one invitation (at most one open per user: the unique index `uq_invitations_open`)::

    pending ──claim──► claimed ──server accepted──► sent
       ▲                 ├── certainly not accepted ──► pending (attempt < max) │ failed
       │                 └── outcome unknown, or claim stale ──► ambiguous
       └── operator: release_stale (ambiguous) │ retry_failed (failed);  confirm_delivered: ambiguous ──► sent

1. `enqueue_eligible` inserts a pending row per eligible user (no token yet).
2. `claim` moves one row pending → claimed and commits, BEFORE anything is sent. It is a
   conditional `UPDATE … WHERE status = 'pending'`, so of two concurrent senders exactly one
   wins and the other skips the row. The claim counts the attempt, generates a fresh token with
   `secrets.token_urlsafe(32)` and stores only its SHA-256 (`token_hash`); the plain token is
   returned to the caller, goes into the message and is never stored.
3. After the send, the outcome is recorded, only if the row still carries this claim (same
   token hash): an acceptance in the same transaction that claims the next invitation (one
   commit per invitation; the claim still commits before its message is sent), a failure in
   its own:
   - the server accepted the message → `sent` (`sent_at`);
   - the message certainly was not accepted (`classify`: anything before the message and its
     end marker were handed over — building or encoding it, connecting, TLS, login, MAIL, RCPT,
     DATA refused, SMTPUTF8 needed but not offered — or a refusal as the relay's final reply) →
     `pending` again (its hash cleared; `last_error` and `failure_reason` say why), or `failed` after
     `max_attempts`, or `failed` at once when trying the same relay again cannot help (SMTPUTF8
     not offered, an address or message that cannot be encoded);
   - the connection was lost after the message was handed over, before the relay's final reply,
     or an unexpected error → `ambiguous`.
   A recipient's problem never stops the batch; a relay-wide one (connection refused, login
   refused, 421, a timeout, a temporary failure of DATA, 20 recipients in a row refused) stops
   it, so an outage costs one attempt per run. One SMTP connection carries the whole batch.
   A claim whose sender never recorded an outcome (process died between claim and mark, or the
   mark itself failed) is reported as ambiguous once older than `stale_after` and marked so by
   the next run (`mark_stale`).
4. Ambiguous invitations are never resent automatically. An operator decides (`decisions.py`):
   `release_stale` (back to pending; the next run sends a new message with a new token, so only
   the newest link works) or `confirm_delivered` (it did arrive).

Guarantee, precisely:
- At most once per invitation: the mail server is handed the message of an invitation only by
  the sender whose claim committed, and an invitation returns to pending automatically only when
  its message certainly was not accepted. A second message for the same invitation can only
  follow an operator's `release_stale` of an ambiguous one that had in fact been delivered (or
  a sender still running after `stale_after` (15 min) when an operator released it; the SMTP
  timeout is 30 s). "Sent" means accepted by our SMTP server; bounces after that are not seen.
- No invitation is lost: after a run for a verified company, every eligible user's newest
  invitation is sent; or pending, to be retried (the sensor requests a run once its backoff
  has passed; the invitation of someone who lost access meanwhile waits, counted as pending);
  or failed, reported (run metadata, the `invitations_delivered` check, `state.list_invitations`;
  `retry_failed` tries again); or ambiguous, reported the same way until an operator decides.
  A claim is transient (its sender is at work, or it turns ambiguous), and each outcome is
  committed per invitation, so an outage or a crash midway keeps everything recorded before it.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from personio_pipeline.common.clock import utc_now
from personio_pipeline.invitations.claims import (
    MAX_ATTEMPTS,
    Claim,
    claim,
    mark_ambiguous,
    mark_refused,
    mark_sent,
    mark_stale,
    release_claim,
)
from personio_pipeline.invitations.eligibility import enqueue_eligible, pending_ids
from personio_pipeline.invitations.outcomes import classify, delivery_certainly_failed, error_code
from personio_pipeline.invitations.state import NEEDS_DECISION, STALE_AFTER, InvitationState, invitation_state
from personio_pipeline.store.db import company_transaction

REFUSALS_IN_A_ROW = 20  # recipients refused one after the other: the relay refuses everyone

Log = Callable[[str], Any]


@dataclass
class DeliveryReport:
    """What one delivery run did (this run) and the company's invitations afterwards (state)."""

    consumer_id: str
    enqueued: int = 0
    sent: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)
    newly_failed: list[str] = field(default_factory=list)
    newly_ambiguous: list[str] = field(default_factory=list)
    skipped: int = 0  # claimed by another sender meanwhile
    not_attempted: int = 0  # left pending after the mail server failed
    errors: dict[str, str] = field(default_factory=dict)  # employee id -> error type and code
    reasons: dict[str, str] = field(default_factory=dict)  # employee id -> failure_reason
    names: dict[str, str] = field(default_factory=dict)  # employee id -> display name (failed ones)
    stopped_by: str | None = None  # the relay-wide failure that stopped the batch
    released: int = 0  # claimed ahead of a send that stopped the batch: back to pending, not sent
    state: InvitationState | None = None

    @property
    def had_delivery_errors(self) -> bool:
        return bool(self.retried or self.newly_failed or self.newly_ambiguous)


def deliver(
    engine: sa.Engine,
    consumer_id: str,
    send: Callable[[Claim], None],
    *,
    clock: Callable[[], datetime] = utc_now,
    max_attempts: int = MAX_ATTEMPTS,
    stale_after: timedelta = STALE_AFTER,
    log: Log | None = None,
) -> DeliveryReport:
    """Enqueue eligible users, then claim, send and record each pending invitation. Each claim
    commits before its message is sent; the store works one step ahead on its own thread: while
    invitation n is sent, one transaction records the outcome of n-1 and claims n+1, so a commit
    costs no time of its own. `send(claim)` must return only once the server accepted the
    message. If the batch stops, the invitation claimed ahead goes back to pending unsent.

    A recipient's failure is recorded and the batch goes on. After a relay-wide failure (the
    server or the connection is failing, see `classify`), or REFUSALS_IN_A_ROW refusals in a row,
    the remaining invitations stay pending untouched, so an outage costs one attempt per run.
    Raises NotVerifiedError for an unverified company, before anything is written.
    """
    log = log or (lambda _message: None)
    report = DeliveryReport(consumer_id)
    with company_transaction(engine) as conn:
        report.enqueued = enqueue_eligible(conn, consumer_id, clock())
        stale = mark_stale(conn, consumer_id, clock(), stale_after)
        queue = pending_ids(conn, consumer_id)
    if stale:
        log(f"{len(stale)} invitation(s) of '{consumer_id}' were claimed and never recorded: ambiguous {stale}")
    refusals_in_a_row = 0
    records: list[_Record] = []  # outcomes of sends, committed with the next claim
    in_flight: list[_Record] = []  # the outcomes the running step commits
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-store") as store:
        step = store.submit(_commit, engine, [], queue[0], clock, max_attempts) if queue else None
        ahead = 1 if queue else 0  # invitations of `queue` handed to the store to claim
        try:
            while step is not None:
                claimed, results = step.result()
                step = None
                _apply(results, report, log)
                if ahead < len(queue):  # claim the next invitation while this one is sent
                    step = store.submit(_commit, engine, records, queue[ahead], clock, max_attempts)
                    in_flight, records, ahead = records, [], ahead + 1
                if claimed is None:  # another sender has it, or it is no longer pending
                    report.skipped += 1
                    continue
                try:
                    send(claimed)
                except Exception as error:  # noqa: BLE001 - every failure is recorded, none is swallowed
                    outcome = classify(error)
                    records.append(_Record(claimed, error))
                    refusals_in_a_row = refusals_in_a_row + 1 if outcome.refused_by_relay else 0
                    if outcome.stops_batch or refusals_in_a_row >= REFUSALS_IN_A_ROW:
                        report.stopped_by = (
                            outcome.reason if outcome.stops_batch else f"{refusals_in_a_row} refusals in a row"
                        )
                        break
                    continue
                refusals_in_a_row = 0
                records.append(_Record(claimed))
        finally:
            # Settle what is known: the claimed-ahead invitation was not sent (back to pending, its
            # attempt not counted), and the outcomes not yet committed.
            if step is not None:
                try:
                    claimed, results = step.result()
                    _apply(results, report, log)
                    if claimed is not None:
                        records.append(_Record(claimed, release=True))
                except Exception:  # noqa: BLE001 - the claim did not commit: try the outcomes once more
                    ahead -= 1
                    records = in_flight + records
            if records:
                _apply(_commit(engine, records, None, clock, max_attempts)[1], report, log)
    report.not_attempted = len(queue) - ahead + report.released  # never claimed, or claimed ahead and released
    if report.stopped_by and report.not_attempted:
        log(f"the relay is failing ({report.stopped_by}): {report.not_attempted} invitation(s) wait for the next run")
    with engine.connect() as conn:
        report.state = invitation_state(conn, consumer_id, clock(), stale_after)
    return report


@dataclass
class _Record:
    """An outcome to commit: accepted (`error` None), failed with `error`, or `release`: claimed
    ahead and not sent."""

    claimed: Claim
    error: Exception | None = None
    release: bool = False


def _commit(
    engine: sa.Engine, records: list[_Record], invitation_id: int | None, clock: Callable[[], datetime],
    max_attempts: int,
) -> tuple[Claim | None, list[tuple[_Record, str | None]]]:
    """One transaction: record `records`, then claim `invitation_id` (if any)."""
    results = []
    with company_transaction(engine) as conn:
        for record in records:
            if record.release:
                status = "released" if release_claim(conn, record.claimed) else None
            elif record.error is None:
                status = "sent" if mark_sent(conn, record.claimed, clock()) else None
            elif delivery_certainly_failed(record.error):
                status = mark_refused(conn, record.claimed, record.error, max_attempts=max_attempts)
            else:
                status = NEEDS_DECISION if mark_ambiguous(conn, record.claimed, record.error) else None
            results.append((record, status))
        claimed = claim(conn, invitation_id, clock()) if invitation_id is not None else None
    return claimed, results


def _apply(results: list[tuple[_Record, str | None]], report: DeliveryReport, log: Log) -> None:
    """Report committed outcomes (in the caller's thread)."""
    for record, status in results:
        claimed = record.claimed
        if record.release:
            report.released += 1
            continue
        if record.error is None:
            if status == "sent":
                report.sent.append(claimed.employee_id)
            else:
                log(f"invitation {claimed.invitation_id} was sent, but its claim had been superseded "
                    "(released meanwhile?)")
            continue
        report.errors[claimed.employee_id] = error_code(record.error)
        report.reasons[claimed.employee_id] = classify(record.error).reason
        report.names[claimed.employee_id] = claimed.display_name
        {"pending": report.retried, "failed": report.newly_failed, NEEDS_DECISION: report.newly_ambiguous}.get(
            status, []
        ).append(claimed.employee_id)
        log(f"invitation {claimed.invitation_id} (employee {claimed.employee_id}): {error_code(record.error)} → "
            f"{status or 'superseded'}")
