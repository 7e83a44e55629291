"""The invitation outbox: who is invited, and a send protocol that sends each invitation at most
once and loses none. Plain functions over the Teammeter store; no Dagster.

Who: a company's users are invited once the company is verified (`organisations.verified_at`).
A user is eligible while active, with access and an email address, and without an invitation
that is sent or still open (pending, claimed, ambiguous) and without a failed one to the same
address. So a person who gets an email later (from a coach, or a new hire from a later sync) is
invited on the next run, and a person whose invitation failed for good is invited again once
their address is corrected.

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

import hashlib
import secrets
import smtplib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from personio_pipeline.org.addresses import AddressNotValid
from personio_pipeline.invitations.state import (
    NEEDS_DECISION,
    OPEN,
    STALE_AFTER,
    InvitationState,
    invitation_state,
    stale_claim,
    utc,
)
from personio_pipeline.notify.mail import RELAY, DeliveryError, DeliveryUnknown
from personio_pipeline.companies import registry
from personio_pipeline.store.db import company_transaction
from personio_pipeline.store.schema import invitations, organisations, users

MAX_ATTEMPTS = 5
RETRY_DELAY = timedelta(minutes=5)  # after the first failed attempt; doubles with each further one
MAX_RETRY_DELAY = timedelta(hours=2)
ERROR_LIMIT = 1000
REFUSALS_IN_A_ROW = 20  # recipients refused one after the other: the relay refuses everyone

Log = Callable[[str], Any]


class NotVerifiedError(RuntimeError):
    def __init__(self, consumer_id: str):
        super().__init__(
            f"Company '{consumer_id}' is not verified, so no invitations are sent. Remedy: review the imported "
            f"organisation with `personio-pipeline review {consumer_id}`, "
            f"then `personio-pipeline verify {consumer_id}`."
        )


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def retry_delay(attempts: int) -> timedelta:
    """Wait after `attempts` failed attempts before the sensor retries: 5, 10, 20, 40 min, …"""
    return min(RETRY_DELAY * 2 ** max(attempts - 1, 0), MAX_RETRY_DELAY)


def require_verified(conn: sa.Connection, consumer_id: str) -> registry.Company:
    organisation = registry.get(conn, consumer_id)
    if organisation.verified_at is None:
        raise NotVerifiedError(consumer_id)
    return organisation


# -- who is invited ----------------------------------------------------------------------------------


def eligible_users() -> sa.ColumnElement[bool]:
    """Users to invite now (the sensor and `enqueue_eligible` share this condition)."""
    earlier = sa.select(invitations.c.id).where(
        invitations.c.user_id == users.c.id,
        sa.or_(
            invitations.c.status.in_((*OPEN, "sent")),
            sa.and_(invitations.c.status == "failed", invitations.c.email == users.c.email),
        ),
    )
    return sa.and_(users.c.active, users.c.has_access, users.c.email.is_not(None), ~earlier.exists())


def can_receive() -> sa.ColumnElement[bool]:
    """The invitation's user still has access (else a pending invitation waits)."""
    return (
        sa.select(users.c.id)
        .where(users.c.id == invitations.c.user_id, users.c.active, users.c.has_access, users.c.email.is_not(None))
        .exists()
    )


def enqueue_eligible(conn: sa.Connection, consumer_id: str, now: datetime) -> int:
    """One pending invitation per eligible user of a verified company; returns how many.

    Concurrent calls cannot create two open invitations for one user (unique index; on
    PostgreSQL the loser's rows are skipped with ON CONFLICT DO NOTHING, SQLite serialises writes).
    """
    organisation = require_verified(conn, consumer_id)
    rows = sa.select(
        users.c.organisation_id, users.c.id, users.c.email, sa.literal(utc(now), sa.DateTime(timezone=True))
    ).where(users.c.organisation_id == organisation.id, eligible_users())
    columns = ["organisation_id", "user_id", "email", "created_at"]
    if conn.dialect.name == "postgresql":
        statement = postgresql.insert(invitations).from_select(columns, rows).on_conflict_do_nothing()
    else:
        statement = sa.insert(invitations).from_select(columns, rows)
    return len(conn.execute(statement.returning(invitations.c.id)).all())


def pending_ids(conn: sa.Connection, consumer_id: str) -> list[int]:
    """Pending invitations whose user still has access, fewest attempts first."""
    organisation = registry.get(conn, consumer_id)
    query = (
        sa.select(invitations.c.id)
        .where(invitations.c.organisation_id == organisation.id, invitations.c.status == "pending", can_receive())
        .order_by(invitations.c.attempts, invitations.c.id)
    )
    return list(conn.execute(query).scalars())


# -- the send protocol -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """One claimed invitation: everything the message needs. `token` exists only here and in it."""

    invitation_id: int
    consumer_id: str
    company_name: str
    employee_id: str
    display_name: str
    email: str
    attempt: int
    token: str = field(repr=False)

    @property
    def token_hash(self) -> str:
        return hash_token(self.token)


def claim(conn: sa.Connection, invitation_id: int, now: datetime) -> Claim | None:
    """pending → claimed with a fresh token; None when another sender has it (or it is no longer
    pending, or its user lost access). Commit before sending."""
    token = secrets.token_urlsafe(32)
    current_email = sa.select(users.c.email).where(users.c.id == invitations.c.user_id).scalar_subquery()
    claimed = conn.execute(
        sa.update(invitations)
        .where(invitations.c.id == invitation_id, invitations.c.status == "pending", can_receive())
        .values(
            status="claimed",
            claimed_at=utc(now),
            token_hash=hash_token(token),
            attempts=invitations.c.attempts + 1,
            email=current_email,  # a pending invitation follows a corrected address
        )
    )
    if claimed.rowcount != 1:
        return None
    org = organisations
    row = conn.execute(
        sa.select(
            org.c.consumer_id, org.c.name, users.c.employee_id, users.c.display_name, invitations.c.email,
            invitations.c.attempts,
        )
        .select_from(
            invitations.join(users, users.c.id == invitations.c.user_id).join(
                org, org.c.id == invitations.c.organisation_id
            )
        )
        .where(invitations.c.id == invitation_id)
    ).one()
    return Claim(
        invitation_id, row.consumer_id, row.name, row.employee_id, row.display_name, row.email, row.attempts, token
    )


def _this_claim(claimed: Claim) -> sa.ColumnElement[bool]:
    """Outcomes are recorded only on the row as this claim left it."""
    return sa.and_(invitations.c.id == claimed.invitation_id, invitations.c.token_hash == claimed.token_hash)


def mark_sent(conn: sa.Connection, claimed: Claim, now: datetime) -> bool:
    """The server accepted the message. Also resolves an ambiguous mark the claim went stale into."""
    result = conn.execute(
        sa.update(invitations)
        .where(_this_claim(claimed), invitations.c.status.in_(("claimed", NEEDS_DECISION)))
        .values(status="sent", sent_at=utc(now), failure_reason=None)
    )
    return result.rowcount == 1


def mark_refused(
    conn: sa.Connection, claimed: Claim, error: BaseException, *, max_attempts: int = MAX_ATTEMPTS
) -> str | None:
    """The message certainly was not accepted: pending for a retry, or failed after `max_attempts`
    attempts or at once when retrying cannot help. Returns the new status (None if the claim was
    superseded)."""
    outcome = classify(error)
    status = "failed" if outcome.permanent or claimed.attempt >= max_attempts else "pending"
    result = conn.execute(
        sa.update(invitations)
        .where(_this_claim(claimed), invitations.c.status == "claimed")
        .values(status=status, last_error=describe_error(error), failure_reason=outcome.reason, token_hash=None)
    )
    return status if result.rowcount == 1 else None


def mark_ambiguous(conn: sa.Connection, claimed: Claim, error: BaseException) -> bool:
    """The message may or may not have been accepted: left for an operator's decision."""
    result = conn.execute(
        sa.update(invitations)
        .where(_this_claim(claimed), invitations.c.status == "claimed")
        .values(
            status=NEEDS_DECISION,
            last_error="delivery unknown: " + describe_error(error),
            failure_reason=DeliveryUnknown.kind,
        )
    )
    return result.rowcount == 1


def release_claim(conn: sa.Connection, claimed: Claim) -> bool:
    """A claim whose message was never handed to the relay (claimed ahead of a send that stopped
    the batch): back to pending, the attempt not counted (its backoff counts from this run)."""
    result = conn.execute(
        sa.update(invitations)
        .where(_this_claim(claimed), invitations.c.status == "claimed")
        .values(
            status="pending",
            attempts=invitations.c.attempts - 1,
            token_hash=None,
            claimed_at=sa.case((invitations.c.attempts <= 1, sa.null()), else_=invitations.c.claimed_at),
        )
    )
    return result.rowcount == 1


def mark_stale(conn: sa.Connection, consumer_id: str, now: datetime, stale_after: timedelta = STALE_AFTER) -> list[int]:
    """Claims older than `stale_after` whose sender never recorded an outcome become ambiguous."""
    organisation = registry.get(conn, consumer_id)
    stale = (invitations.c.organisation_id == organisation.id, stale_claim(now, stale_after))
    ids = sorted(conn.execute(sa.select(invitations.c.id).where(*stale)).scalars())
    if ids:
        conn.execute(
            sa.update(invitations)
            .where(invitations.c.id.in_(ids), *stale)
            .values(
                status=NEEDS_DECISION,
                last_error=f"delivery unknown: claimed but no outcome recorded within {stale_after} (sender stopped)",
                failure_reason=DeliveryUnknown.kind,
            )
        )
    return ids


@dataclass(frozen=True)
class Outcome:
    """What a failed send means. `certain`: the relay certainly did not accept the message.
    `permanent`: the same relay will refuse it again (fail now). `stops_batch`: the relay or the
    connection is failing, so the rest of the batch waits for the next run. `refused_by_relay`:
    the relay refused this recipient or message (counts towards REFUSALS_IN_A_ROW)."""

    certain: bool
    permanent: bool
    stops_batch: bool
    reason: str
    refused_by_relay: bool = False


_REFUSALS = ("recipient_refused", "recipient_deferred", "message_refused")


def classify(error: BaseException) -> Outcome:
    """The transport (`notify.mail`) says what the relay did (`DeliveryError`: certainly not
    accepted; `DeliveryUnknown`: handed over, no final reply). For a bare smtplib error the phase
    is unknown: `SMTPServerDisconnected` and a bare `SMTPResponseException` (an odd QUIT) may
    follow acceptance; a refused recipient is that recipient's; every other `SMTPException` and
    a plain `OSError` come before the hand-over. Anything else is unknown."""
    if isinstance(error, DeliveryError):
        return Outcome(True, error.permanent, error.scope == RELAY, error.kind, error.kind in _REFUSALS)
    if isinstance(error, DeliveryUnknown):
        return Outcome(False, False, error.relay_wide, error.kind)
    if isinstance(error, AddressNotValid):
        return Outcome(True, True, False, "invalid_address")
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        closing = any(answer[0] == 421 for answer in error.recipients.values())
        return Outcome(True, False, closing, "recipient_refused", not closing)
    if isinstance(error, smtplib.SMTPServerDisconnected) or type(error) is smtplib.SMTPResponseException:
        return Outcome(False, False, True, DeliveryUnknown.kind)
    if isinstance(error, (smtplib.SMTPException, OSError)):
        return Outcome(True, False, True, "relay_unavailable")
    return Outcome(False, False, True, DeliveryUnknown.kind)


def delivery_certainly_failed(error: BaseException) -> bool:
    """True when the send raised before the server could have accepted the message (`classify`)."""
    return classify(error).certain


def describe_error(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:ERROR_LIMIT]


def error_code(error: BaseException) -> str:
    """Error type (or the transport's reason) and SMTP code, without the server's text (which
    may quote addresses)."""
    code = getattr(error, "smtp_code", None)
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = sorted({str(answer[0]) for answer in error.recipients.values()})
        code = "/".join(codes) or None
    if isinstance(error, (DeliveryError, DeliveryUnknown)):
        detail = code or getattr(error, "detail", None)
        return error.kind + (f" {detail}" if detail else "")
    return type(error).__name__ + (f" {code}" if code else "")


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
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
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
