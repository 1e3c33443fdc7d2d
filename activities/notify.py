"""``deliver_notifications``: the outbox's delivery side.

Rows are claimed before they are sent: a claim marks a batch ``sending`` with a lease
(``claimed_by``, ``claimed_until``) in one short transaction, using ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL so concurrent deliverers take disjoint batches (SQLite has a single writer, so its claim
transaction is serialised anyway). No database lock is held while talking to the mail server.
A batch's outcome (sent, refused, to retry) is recorded in one transaction after its last mail,
or when it stops early; a row is marked ``sent`` only after the server accepted its mail.

If the server is unreachable the unsent rows of the batch go back to ``pending`` and the activity
raises, so Temporal retries it with backoff; mails go out when the server returns, each once.
A deliverer that dies mid-batch leaves rows whose lease expires and are claimed again (at once by
a retry of the same activity); the only way a mail is sent twice is a crash between the server's
acceptance and the batch's ``sent`` commit, and then the copy carries the same ``Message-ID``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import re
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, and_, bindparam, or_, select, update
from temporalio import activity

from activities.db import StatementWriter, Written, blocking, write_statements
from activities.mailer import (
    EmlTransport,
    Outgoing,
    RecipientRefused,
    SmtpTransport,
    TransportUnavailable,
    compose,
)
from activities.tables import NotificationRow, table_of, utcnow
from idri.settings import Settings
from models.records import ActivityName, DeliveryRequest

log = logging.getLogger(__name__)

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"


class NotificationActivities:
    """Delivers the outbox by SMTP (``IDRI_SMTP_HOST`` set) or as ``.eml`` files."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        batch_size: int = 50,
        lease: timedelta = timedelta(minutes=10),
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.batch_size = batch_size
        self.lease = lease
        """Longer than a batch can take to send; after it a claim is considered abandoned."""

    def smtp(self) -> SmtpTransport:
        """A connection to the mail server of ``IDRI_SMTP_*`` (set: see ``deliver_notifications``)."""
        s = self.settings
        assert s.smtp_host, "without a mail server, mails are written as files (deliver_to_files)"
        return SmtpTransport(
            s.smtp_host,
            s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password,
            starttls=s.smtp_starttls,
        )

    @activity.defn(name=ActivityName.DELIVER_NOTIFICATIONS)
    async def deliver_notifications(self, request: DeliveryRequest) -> int:
        """Deliver the pending mails of ``request.event_key`` (or all); returns how many went out.

        Raises when the mail server is unreachable or refuses a mail for now (4xx), leaving those
        rows pending for the retry. A permanent refusal (5xx) marks the row ``failed``.
        """
        token, earlier = claim_owner()
        if not self.settings.smtp_host:
            # Files only: claiming, writing and recording are all blocking, done in one trip to
            # a thread (a trip costs as much CPU as writing a mail).
            return await blocking(
                self.engine,
                self.deliver_to_files,
                request.event_key,
                token,
                earlier_attempts=earlier,
            )
        delivered = 0
        while True:
            batch = await blocking(
                self.engine, self.claim, request.event_key, token, earlier_attempts=earlier
            )
            if not batch:
                return delivered
            sent, retry_later = await self._send_batch(batch, token)
            delivered += sent
            if retry_later:
                raise TransportUnavailable(
                    f"{len(retry_later)} mail(s) not accepted for now, will retry: "
                    + "; ".join(retry_later[:3])
                )
            if len(batch) < self.batch_size:
                return delivered

    async def _send_batch(self, batch: list[Outgoing], token: str) -> tuple[int, list[str]]:
        """Send a claimed batch through the mail server; returns (sent, temporary problems).

        The outcome of the whole batch is recorded in one transaction at the end, also when the
        batch stops half way (unsent rows are released then): a row is marked sent only after
        the server accepted its mail, and a crash before that commit leaves the batch claimed
        by this attempt, which its retry takes over and sends again (same ``Message-ID``).
        """
        outcome = _Outcome()
        mail_from = self.settings.mail_from
        try:
            async with self.smtp() as server:
                for mail in batch:
                    message = compose(mail, mail_from=mail_from)
                    try:
                        how = await server.send(mail, message, sender=mail_from)
                    except RecipientRefused as refusal:
                        if refusal.permanent:
                            outcome.failed.append((mail.key, str(refusal)))
                        else:
                            outcome.temporary.append((mail.key, str(refusal)))
                        continue
                    outcome.sent.append((mail.key, how))
                    if activity.in_activity():
                        activity.heartbeat(len(outcome.sent))
        except BaseException as error:
            # Unreachable server, cancellation, anything: what was sent is recorded, what was not
            # is pending again.
            outcome.release_unsent(batch, error)
            await asyncio.shield(blocking(self.engine, self._record, outcome, token))
            raise
        await blocking(self.engine, self._record, outcome, token)
        return len(outcome.sent), [reason for _, reason in outcome.temporary]

    def deliver_to_files(
        self, event_key: str | None, token: str, *, earlier_attempts: str | None = None
    ) -> int:
        """``deliver_notifications`` without a mail server: each mail an ``.eml`` file (blocking).

        Each batch is claimed, written and recorded in one transaction: with no server to wait
        for, a short lock held while writing a few files costs less than a second transaction
        (a commit was the largest CPU cost of a delivery). The outcome is recorded as by
        :meth:`_send_batch`: a batch stopped by an error (a full disk) records what was written,
        leaves the rest pending for the retry, and raises. A deliverer dying mid-batch leaves its
        rows pending rather than leased; files it wrote are written again, with the same bytes.
        """
        outbox = EmlTransport(self.settings.data_dir / "outbox")
        outbox.directory.mkdir(parents=True, exist_ok=True)
        mail_from = self.settings.mail_from
        delivered = 0
        while True:
            outcome, stopped_by = _Outcome(), None
            with write_statements(self.engine) as conn:
                batch = self._claim(conn, event_key, token, earlier_attempts)
                try:
                    for mail in batch:
                        message = compose(mail, mail_from=mail_from, readable=True)
                        outcome.sent.append((mail.key, outbox.write(mail, message)))
                except BaseException as error:
                    outcome.release_unsent(batch, error)
                    stopped_by = error
                # Committed also when a write failed: what went out is sent, the rest pending.
                self._record_in(conn, outcome, token)
            if stopped_by is not None:
                raise stopped_by
            delivered += len(outcome.sent)
            if len(batch) < self.batch_size:
                return delivered

    # --- Database steps (blocking; run in a thread) -----------------------------------------

    def claim(
        self, event_key: str | None, token: str, *, earlier_attempts: str | None = None
    ) -> list[Outgoing]:
        """Take up to ``batch_size`` deliverable rows for ``token`` (pending, or claimed by a
        deliverer whose lease ran out, or by an earlier attempt of this activity: tokens starting
        with ``earlier_attempts``) and return them as mails to send."""
        with write_statements(self.engine) as conn:
            return self._claim(conn, event_key, token, earlier_attempts)

    def _claim(
        self,
        conn: StatementWriter,
        event_key: str | None,
        token: str,
        earlier_attempts: str | None,
    ) -> list[Outgoing]:
        now = utcnow()
        parameters: dict[str, object] = {
            "now": now,
            "token": token,
            "until": now + self.lease,
            "one_event": event_key,
            "earlier": _like_prefix(earlier_attempts or ""),
        }
        claim = _claim_statement(
            event_key is not None, earlier_attempts is not None, self.batch_size
        )
        batch = [_outgoing(row) for row in conn.execute(claim, parameters).rows]
        # RETURNING does not keep the subquery's order.
        batch.sort(key=lambda mail: (mail.created_at, mail.key))
        return batch

    def _record(self, outcome: _Outcome, token: str) -> None:
        """Record a batch's outcome in one transaction, for the rows this attempt still holds."""
        if outcome.sent or outcome.failed or outcome.temporary:
            with write_statements(self.engine) as conn:
                self._record_in(conn, outcome, token)

    def _record_in(self, conn: StatementWriter, outcome: _Outcome, token: str) -> None:
        statements = _recording_statements()
        now = utcnow()
        changed: list[Written] = []
        if outcome.sent:
            changed.append(
                conn.execute(
                    statements.sent,
                    [{"k": key, "t": token, "how": how, "at": now} for key, how in outcome.sent],
                )
            )
        if outcome.failed:
            changed.append(
                conn.execute(
                    statements.failed,
                    [{"k": key, "t": token, "why": why} for key, why in outcome.failed],
                )
            )
        if outcome.temporary:
            changed.append(
                conn.execute(
                    statements.released,
                    [{"k": key, "t": token, "why": why} for key, why in outcome.temporary],
                )
            )
        expected = len(outcome.sent) + len(outcome.failed) + len(outcome.temporary)
        counts = [written.rowcount for written in changed]
        if all(n >= 0 for n in counts) and sum(counts) < expected:
            log.warning(
                "%d of %d notifications were re-claimed while being sent (lease too short?)",
                expected - sum(counts),
                expected,
            )


@functools.cache
def _claim_statement(one_event: bool, take_over_earlier: bool, batch_size: int) -> Any:
    """One statement that chooses, claims and returns a batch; built once, run with the
    parameters of ``claim``."""
    outbox = table_of(NotificationRow)
    taken_over = [outbox.c.claimed_until < bindparam("now")]
    if take_over_earlier:
        taken_over.append(
            and_(
                outbox.c.claimed_by.like(bindparam("earlier"), escape="/"),
                outbox.c.claimed_by != bindparam("token"),
            )
        )
    claimable = or_(
        outbox.c.status == PENDING,
        and_(outbox.c.status == SENDING, or_(*taken_over)),
    )
    chosen = select(outbox.c.key).where(claimable)
    if one_event:
        chosen = chosen.where(outbox.c.event_key == bindparam("one_event"))
    chosen = (
        chosen.order_by(outbox.c.created_at, outbox.c.key)
        .limit(batch_size)
        .with_for_update(skip_locked=True)
    )
    return (
        update(outbox)
        .where(outbox.c.key.in_(chosen.scalar_subquery()))
        .values(
            status=SENDING,
            claimed_by=bindparam("token"),
            claimed_until=bindparam("until"),
            attempts=outbox.c.attempts + 1,
        )
        .returning(*(outbox.c[name] for name in _OUTGOING))
    )


def _outgoing(row: tuple[Any, ...]) -> Outgoing:
    """The mail of a claimed row (RETURNING gives the columns of ``Outgoing``'s fields, in
    their order); a row without an address has none to write ("")."""
    mail = dict(zip(_OUTGOING, row, strict=True))
    return Outgoing(**(mail | {"address": mail["address"] or ""}))


def _like_prefix(prefix: str) -> str:
    """A LIKE pattern matching what starts with ``prefix`` (escape character ``/``)."""
    return re.sub(r"([/%_])", r"/\1", prefix) + "%"


_OUTGOING = tuple(field.name for field in dataclasses.fields(Outgoing))
"""The outbox columns a mail is sent from (``Outgoing``'s fields have the columns' names)."""


@dataclass
class _Outcome:
    """What happened to each mail of a batch: (key, how it went out or why not)."""

    sent: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    """Refused for good (5xx)."""
    temporary: list[tuple[str, str]] = field(default_factory=list)
    """Not sent: pending again."""

    def release_unsent(self, batch: list[Outgoing], error: BaseException) -> None:
        """Every mail of ``batch`` not settled yet goes back to pending, with ``error`` as why."""
        settled = {key for key, _ in (*self.sent, *self.failed, *self.temporary)}
        self.temporary += [(m.key, _describe(error)) for m in batch if m.key not in settled]


@dataclass(frozen=True)
class _Recording:
    sent: Any
    failed: Any
    released: Any


@functools.cache
def _recording_statements() -> _Recording:
    # Executed with one parameter set per mail (executemany); each touches a row only while this
    # attempt's claim (``claimed_by``) is still on it.
    outbox = table_of(NotificationRow)
    mine = update(outbox).where(
        outbox.c.key == bindparam("k"), outbox.c.claimed_by == bindparam("t")
    )
    unclaimed = {"claimed_by": None, "claimed_until": None}
    return _Recording(
        sent=mine.values(
            status=SENT,
            sent_at=bindparam("at"),
            transport=bindparam("how"),
            last_error=None,
            **unclaimed,
        ),
        failed=mine.values(status=FAILED, last_error=bindparam("why"), **unclaimed),
        released=mine.values(status=PENDING, last_error=bindparam("why"), **unclaimed),
    )


def claim_owner() -> tuple[str, str | None]:
    """(the claim token of this attempt, the prefix of the tokens of this activity's attempts).

    A retry of ``deliver_notifications`` takes over the rows an earlier attempt of the same
    activity claimed and could not finish (its worker was killed, the registry went away before
    they were recorded sent or released), instead of finding them leased for ``lease`` and
    reporting nothing to deliver while they stay unsent. Outside an activity: a fresh id, and
    only expired leases are taken over.
    """
    if not activity.in_activity():
        return f"{uuid.uuid4()}", None
    info = activity.info()
    identity = f"{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}#"
    return f"{identity}{info.attempt}", identity


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
