"""``deliver_notifications``: the outbox's delivery side, one activity per event's mail.

``record_event`` writes an event's mails to the outbox in the event's own transaction; the case
then schedules this activity for that event, and Temporal's retry policy waits out a mail server
that is down (the workflow does not wait for it). The schedule workflows deliver their summaries
the same way. Without a mail server (``IDRI_SMTP_HOST`` unset) each mail is written as an ``.eml``
file instead.

Rows are claimed before they are sent: a claim marks a batch ``sending`` with a lease
(``claimed_by``, ``claimed_until``) in one short transaction, using ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL so concurrent deliveries take disjoint batches (SQLite has a single writer, so its claim
transaction is serialised anyway). No database lock is held while talking to the mail server.
A batch's outcome (sent, refused, to retry) is recorded in one transaction after its last mail,
or when it stops early; a row is marked ``sent`` only after the server accepted its mail.

A mail the server refuses for now (4xx), or that was not offered because the connection was lost,
goes back to ``pending`` and the activity raises, so Temporal tries again. A permanent refusal
(5xx) marks it ``failed``, as does a mail that can never be written (``compose`` refuses its
address or a header value): the others of its batch go out all the same. An attempt that dies mid-batch leaves rows that the next attempt of
the same activity takes over (or anyone, once the lease ran out); the only way a mail is sent
twice is a crash between the server's acceptance and the batch's ``sent`` commit, and then the
copy carries the same ``Message-ID``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, or_, select, update
from temporalio import activity

from activities.db import write_transaction
from activities.mailer import (
    EmlTransport,
    Outgoing,
    RecipientRefused,
    SmtpTransport,
    TransportUnavailable,
    compose,
)
from activities.tables import NotificationRow, table_of, utcnow
from models.records import ActivityName, DeliveryRequest

log = logging.getLogger(__name__)

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"


@dataclass(frozen=True)
class SmtpServer:
    """The mail server of ``IDRI_SMTP_*``."""

    host: str
    port: int = 25
    username: str | None = None
    password: str | None = None
    starttls: bool = False

    def connect(self) -> SmtpTransport:
        return SmtpTransport(
            self.host,
            self.port,
            username=self.username,
            password=self.password,
            starttls=self.starttls,
        )


class NotificationActivities:
    """Delivers the outbox by SMTP (a ``server`` given) or as ``.eml`` files in ``outbox_dir``."""

    def __init__(
        self,
        engine: Engine,
        *,
        mail_from: str,
        server: SmtpServer | None,
        outbox_dir: Path,
        batch_size: int = 50,
        lease: timedelta = timedelta(minutes=10),
    ) -> None:
        self.engine = engine
        self.mail_from = mail_from
        self.server = server
        self.outbox_dir = outbox_dir
        self.batch_size = batch_size
        self.lease = lease
        """Longer than a batch can take to send; after it a claim is considered abandoned."""

    @activity.defn(name=ActivityName.DELIVER_NOTIFICATIONS)
    async def deliver_notifications(self, request: DeliveryRequest) -> int:
        """Deliver the pending mails of ``request.event_key`` (or all); returns how many went out.

        Raises when the mail server is unreachable or refuses a mail for now (4xx), leaving those
        rows pending for the retry. A permanent refusal (5xx) marks the row ``failed``.
        """
        token, earlier = claim_owner()
        if self.server is None:
            return await asyncio.to_thread(self.deliver_to_files, request.event_key, token, earlier)
        delivered = 0
        while True:
            batch = await asyncio.to_thread(self.claim, request.event_key, token, earlier)
            if not batch:
                return delivered
            sent, retry_later = await self.send_batch(batch, token)
            delivered += sent
            if retry_later:
                raise TransportUnavailable(
                    f"{len(retry_later)} mail(s) not accepted for now, will retry: "
                    + "; ".join(retry_later[:3])
                )
            if len(batch) < self.batch_size:
                return delivered

    async def send_batch(self, batch: list[Outgoing], token: str) -> tuple[int, list[str]]:
        """Send a claimed batch over one connection; returns (sent, temporary problems).

        The outcome of the whole batch is recorded in one transaction at the end, also when the
        batch stops half way (unsent rows are released then).
        """
        assert self.server is not None
        outcome = _Outcome()
        try:
            async with self.server.connect() as server:
                await self._offer(server, batch, outcome, token)
        except BaseException as error:
            # Unreachable server, cancellation, anything: what was sent is recorded, what was not
            # is pending again.
            outcome.release_unsent(batch, error)
            await asyncio.shield(asyncio.to_thread(self._record, outcome, token))
            raise
        await asyncio.to_thread(self._record, outcome, token)
        return len(outcome.sent), [reason for _, reason in outcome.temporary]

    async def _offer(
        self, server: SmtpTransport, batch: list[Outgoing], outcome: _Outcome, token: str
    ) -> None:
        """Offer each mail of ``batch`` to ``server``, noting in ``outcome`` what it answered;
        raises when the connection fails (the rest of the batch is then unsettled).

        A slow server (one that makes each sender wait, as some do) can take longer than the
        claim's lease over a batch: every half lease the claim is extended, so nobody else takes
        the rest of the batch and sends it too.
        """
        extended = time.monotonic()
        for mail in batch:
            if time.monotonic() - extended > self.lease.total_seconds() / 2:
                await asyncio.to_thread(self._extend_lease, token)
                extended = time.monotonic()
            message = composed(mail, mail_from=self.mail_from, outcome=outcome)
            if message is None:
                continue
            try:
                how = await server.send(mail, message, sender=self.mail_from)
            except RecipientRefused as refusal:
                settled = outcome.failed if refusal.permanent else outcome.temporary
                settled.append((mail.key, str(refusal)))
                continue
            outcome.sent.append((mail.key, how))
            if activity.in_activity():
                activity.heartbeat(len(outcome.sent))

    def deliver_to_files(
        self, event_key: str | None, token: str, earlier: str | None = None
    ) -> int:
        """``deliver_notifications`` without a mail server: each mail an ``.eml`` file (blocking).

        The outcome is recorded as by :meth:`send_batch`: a batch stopped by an error (a full
        disk) records what was written, leaves the rest pending for the retry, and raises.
        """
        outbox = EmlTransport(self.outbox_dir)
        outbox.directory.mkdir(parents=True, exist_ok=True)
        delivered = 0
        while batch := self.claim(event_key, token, earlier):
            outcome = _Outcome()
            try:
                for mail in batch:
                    message = composed(
                        mail, mail_from=self.mail_from, outcome=outcome, readable=True
                    )
                    if message is not None:
                        outcome.sent.append((mail.key, outbox.write(mail, message)))
            except BaseException as error:
                outcome.release_unsent(batch, error)
                raise
            finally:
                self._record(outcome, token)
            delivered += len(outcome.sent)
            if len(batch) < self.batch_size:
                break
        return delivered

    # --- Database steps (blocking) ----------------------------------------------------------

    def claim(
        self, event_key: str | None, token: str, earlier: str | None = None
    ) -> list[Outgoing]:
        """Take up to ``batch_size`` deliverable rows for ``token`` (pending, or claimed by an
        attempt whose lease ran out, or by an earlier attempt of this activity: tokens starting
        with ``earlier``) and return them as mails to send, oldest first."""
        now = utcnow()
        outbox = table_of(NotificationRow)
        taken_over = [outbox.c.claimed_until < now]
        if earlier is not None:
            taken_over.append(
                and_(outbox.c.claimed_by.like(_like_prefix(earlier), escape="/"),
                     outbox.c.claimed_by != token)
            )  # fmt: skip
        claimable = or_(
            outbox.c.status == PENDING, and_(outbox.c.status == SENDING, or_(*taken_over))
        )
        chosen = select(outbox.c.key).where(claimable)
        if event_key is not None:
            chosen = chosen.where(outbox.c.event_key == event_key)
        chosen = (
            chosen.order_by(outbox.c.created_at, outbox.c.key)
            .limit(self.batch_size)
            .with_for_update(skip_locked=True)
        )
        claim = (
            update(outbox)
            .where(outbox.c.key.in_(chosen.scalar_subquery()))
            .values(
                status=SENDING,
                claimed_by=token,
                claimed_until=now + self.lease,
                attempts=outbox.c.attempts + 1,
            )
            .returning(*(outbox.c[name] for name in _OUTGOING))
        )
        with write_transaction(self.engine) as conn:
            batch = [_outgoing(row) for row in conn.execute(claim)]
        # RETURNING does not keep the subquery's order.
        return sorted(batch, key=lambda mail: (mail.created_at, mail.key))

    def _extend_lease(self, token: str) -> None:
        """Push back the lease of every row ``token`` holds by a whole lease."""
        outbox = table_of(NotificationRow)
        with write_transaction(self.engine) as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.claimed_by == token, outbox.c.status == SENDING)
                .values(claimed_until=utcnow() + self.lease)
            )

    def _record(self, outcome: _Outcome, token: str) -> None:
        """Record a batch's outcome in one transaction, for the rows this attempt still holds."""
        if not (outcome.sent or outcome.failed or outcome.temporary):
            return
        with write_transaction(self.engine) as conn:
            _record_in(conn, outcome, token)


def _record_in(conn: Connection, outcome: _Outcome, token: str) -> None:
    outbox = table_of(NotificationRow)
    # Each row is touched only while this attempt's claim (``claimed_by``) is still on it.
    mine = update(outbox).where(outbox.c.key == bindparam("k"), outbox.c.claimed_by == token)
    unclaimed = {"claimed_by": None, "claimed_until": None, "retry_at": None}
    now = utcnow()
    changed = 0
    for rows, statement in (
        (
            [{"k": key, "how": how} for key, how in outcome.sent],
            mine.values(
                status=SENT, sent_at=now, transport=bindparam("how"), last_error=None, **unclaimed
            ),
        ),
        (
            [{"k": key, "why": why} for key, why in outcome.failed],
            mine.values(status=FAILED, last_error=bindparam("why"), **unclaimed),
        ),
        (
            [{"k": key, "why": why} for key, why in outcome.temporary],
            mine.values(status=PENDING, last_error=bindparam("why"), **unclaimed),
        ),
    ):
        if rows:
            changed += max(conn.execute(statement, rows).rowcount, 0)
    expected = len(outcome.sent) + len(outcome.failed) + len(outcome.temporary)
    if changed < expected:
        log.warning(
            "%d of %d notifications were re-claimed while being sent (lease too short?)",
            expected - changed,
            expected,
        )


def _outgoing(row: Any) -> Outgoing:
    """The mail of a claimed row (RETURNING gives the columns of ``Outgoing``'s fields, in
    their order); a row without an address has none to write ("")."""
    mail = dict(zip(_OUTGOING, row, strict=True))
    return Outgoing(**(mail | {"address": mail["address"] or ""}))


def _like_prefix(prefix: str) -> str:
    """A LIKE pattern matching what starts with ``prefix`` (escape character ``/``)."""
    return re.sub(r"([/%_])", r"/\1", prefix) + "%"


_OUTGOING = tuple(f.name for f in dataclasses.fields(Outgoing))
"""The outbox columns a mail is sent from (``Outgoing``'s fields have the columns' names)."""


@dataclass
class _Outcome:
    """What happened to each mail of a batch: (key, how it went out or why not)."""

    sent: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    """Refused for good (5xx), or a mail that can never be written."""
    temporary: list[tuple[str, str]] = field(default_factory=list)
    """Not sent: pending again."""

    def release_unsent(self, batch: list[Outgoing], error: BaseException) -> None:
        """Every mail of ``batch`` not settled yet goes back to pending, with ``error`` as why."""
        settled = {key for key, _ in (*self.sent, *self.failed, *self.temporary)}
        self.temporary += [(m.key, _describe(error)) for m in batch if m.key not in settled]


def composed(
    mail: Outgoing, *, mail_from: str, outcome: _Outcome, readable: bool = False
) -> bytes | None:
    """The message of ``mail``, or None when it can never be written (a line break in its
    address or name, say: ``compose`` refuses it), noted ``failed`` with the reason in
    ``outcome``. Retrying would fail the same way, and raising would stop the other mails of
    the batch, which are fine."""
    try:
        return compose(mail, mail_from=mail_from, readable=readable)
    except ValueError as error:
        outcome.failed.append((mail.key, f"cannot be sent as written: {error}"))
        log.warning("notification %r cannot be sent: %s", mail.key, error)
        return None


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
