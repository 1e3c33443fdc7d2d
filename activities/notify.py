"""The outbox's delivery side: every recorded mail goes out once, by SMTP or as an ``.eml`` file.

Two paths deliver, with the same claims and the same recording:

- :class:`Deliverer`, run by every worker beside it (like the page ``Publisher``): each pass
  delivers every claimable row, of every case, in batches over one SMTP connection. A worker
  that records mails wakes its deliverer, which gathers what the next fraction of a second
  brings into the same pass; otherwise it looks every ``IDRI_DELIVERY_INTERVAL`` seconds, which
  finds mails written elsewhere, mails whose retry time came and claims a dead worker left.
- ``deliver_notifications``, the activity each event's workflow scheduled before the deliverer
  existed. It is kept for the runs started then, whose histories call it: it delivers one event's
  rows (or all) and raises while the server is unreachable, so Temporal retries it. Whatever it
  finds already delivered by a deliverer it leaves alone.

Rows are claimed before they are sent: a claim marks a batch ``sending`` with a lease
(``claimed_by``, ``claimed_until``) in one short transaction, using ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL so concurrent deliverers take disjoint batches (SQLite has a single writer, so its claim
transaction is serialised anyway). No database lock is held while talking to the mail server.
A batch's outcome (sent, refused, to retry) is recorded in one transaction after its last mail,
or when it stops early; a row is marked ``sent`` only after the server accepted its mail.

A mail the server refuses for now (4xx), or that was not offered because the connection was lost,
goes back to ``pending`` with a ``retry_at`` that backs off with its attempts (2 s, 4 s, ... up to
5 minutes): the deliverer does not claim it before then (the activity does: Temporal's retry
policy paces it). A permanent refusal (5xx) marks it ``failed``. A deliverer that dies mid-batch
leaves rows whose lease expires and are claimed again; the only way a mail is sent twice is a
crash between the server's acceptance and the batch's ``sent`` commit, and then the copy carries
the same ``Message-ID``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, bindparam, case, or_, select, update
from sqlalchemy.exc import OperationalError
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
from activities.tables import NotificationRow, UTCDateTime, table_of, utcnow
from idri.settings import Settings
from models.records import ActivityName, DeliveryRequest

log = logging.getLogger(__name__)

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"

_RECORDING_PAUSES = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
"""Seconds between tries to record a sent batch (``_record_sent``): about half a minute in all."""

RETRY_BACKOFF_MAX = timedelta(minutes=5)


def retry_backoff(attempts: int) -> timedelta:
    """How long a mail refused for now waits after its ``attempts``-th claim: 2**attempts
    seconds, at most :data:`RETRY_BACKOFF_MAX` (a server's "try later" usually means minutes)."""
    return min(RETRY_BACKOFF_MAX, timedelta(seconds=2 ** min(attempts, 20)))


_BACKOFF_STEPS = tuple(n for n in range(1, 64) if retry_backoff(n) < RETRY_BACKOFF_MAX)
"""The attempts whose backoff is below the maximum (1 to 8)."""


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
        # Temporal's retry policy paces this activity's attempts, and the workflow waits for
        # them: a row's ``retry_at`` (the deliverer's pacing) does not hold it back.
        if not self.settings.smtp_host:
            # Files only: claiming, writing and recording are all blocking, done in one call of
            # ``blocking`` (on PostgreSQL a trip to a thread, which costs as much CPU as writing
            # a mail).
            return await blocking(
                self.engine,
                self.deliver_to_files,
                request.event_key,
                token,
                earlier_attempts=earlier,
                ignore_retry_at=True,
            )
        delivered = 0
        while True:
            batch = await blocking(
                self.engine,
                self.claim,
                request.event_key,
                token,
                earlier_attempts=earlier,
                ignore_retry_at=True,
            )
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

    async def send_batch(
        self, batch: list[Outgoing], token: str, server: SmtpTransport | None = None
    ) -> tuple[int, list[str]]:
        """Send a claimed batch through the mail server; returns (sent, temporary problems).

        ``server`` is an open connection to send over (the deliverer keeps one for its whole
        pass); without one the batch opens its own, as the activity always did.

        The outcome of the whole batch is recorded in one transaction at the end, also when the
        batch stops half way (unsent rows are released then): a row is marked sent only after
        the server accepted its mail, and a crash before that commit leaves the batch claimed
        by this attempt, which its retry takes over and sends again (same ``Message-ID``).
        """
        outcome = _Outcome()
        try:
            if server is None:
                async with self.smtp() as own:
                    await self._offer(own, batch, outcome, token)
            else:
                await self._offer(server, batch, outcome, token)
        except BaseException as error:
            # Unreachable server, cancellation, anything: what was sent is recorded, what was not
            # is pending again.
            outcome.release_unsent(batch, error)
            await asyncio.shield(blocking(self.engine, self._record, outcome, token))
            raise
        await self._record_sent(outcome, token)
        return len(outcome.sent), [reason for _, reason in outcome.temporary]

    async def _record_sent(self, outcome: _Outcome, token: str) -> None:
        """Record a batch the server has answered, waiting out a registry busy for a while.

        Its mails are out: left unrecorded, they would be claimed and sent again once the claim's
        lease ran out. A SQLite write on the event loop gives up on a lock within a quarter of a
        second (``activities.db.blocking``), so the recording is tried again for about half a
        minute before the batch is given up to its lease.
        """
        for pause in _RECORDING_PAUSES:
            try:
                await blocking(self.engine, self._record, outcome, token)
                return
            except OperationalError as error:
                log.warning(
                    "recording %d sent mail(s) failed, trying again: %s", len(outcome.sent), error
                )
                await asyncio.sleep(pause)
        await blocking(self.engine, self._record, outcome, token)

    async def _offer(
        self, server: SmtpTransport, batch: list[Outgoing], outcome: _Outcome, token: str
    ) -> None:
        """Offer each mail of ``batch`` to ``server``, noting in ``outcome`` what it answered;
        raises when the connection fails (the rest of the batch is then unsettled).

        A slow server (one that makes each sender wait, as some do) can take longer than the
        claim's lease over a batch: every half lease the claim is extended, so no other
        deliverer takes the rest of the batch and sends it too.
        """
        mail_from = self.settings.mail_from
        extended = time.monotonic()
        for mail in batch:
            if time.monotonic() - extended > self.lease.total_seconds() / 2:
                try:
                    await blocking(self.engine, self._extend_lease, token)
                    extended = time.monotonic()
                except OperationalError as error:  # the registry busy: try at the next mail
                    log.warning("extending the claim of a batch failed: %s", error)
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

    def deliver_to_files(
        self,
        event_key: str | None,
        token: str,
        *,
        earlier_attempts: str | None = None,
        ignore_retry_at: bool = False,
    ) -> int:
        """``deliver_notifications`` without a mail server: each mail an ``.eml`` file (blocking).

        Each batch is claimed, written and recorded in one transaction: with no server to wait
        for, a short lock held while writing a few files costs less than a second transaction
        (a commit was the largest CPU cost of a delivery). The outcome is recorded as by
        :meth:`send_batch`: a batch stopped by an error (a full disk) records what was written,
        leaves the rest pending for the retry, and raises. A deliverer dying mid-batch leaves its
        rows pending rather than leased; files it wrote are written again, with the same bytes.
        """
        delivered = 0
        while True:
            written, claimed = self.write_batch(
                event_key,
                token,
                earlier_attempts=earlier_attempts,
                ignore_retry_at=ignore_retry_at,
            )
            delivered += written
            if claimed < self.batch_size:
                return delivered

    def write_batch(
        self,
        event_key: str | None,
        token: str,
        *,
        earlier_attempts: str | None = None,
        ignore_retry_at: bool = False,
    ) -> tuple[int, int]:
        """One batch of :meth:`deliver_to_files` (blocking); (files written, rows claimed).

        The deliverer calls it batch by batch: on SQLite :func:`~activities.db.blocking` runs it
        on the worker's event loop, which then waits for one batch, not for a whole pass.
        """
        outbox = EmlTransport(self.settings.data_dir / "outbox")
        outbox.directory.mkdir(parents=True, exist_ok=True)
        mail_from = self.settings.mail_from
        outcome, stopped_by = _Outcome(), None
        with write_statements(self.engine) as conn:
            batch = self._claim(conn, event_key, token, earlier_attempts, ignore_retry_at)
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
        return len(outcome.sent), len(batch)

    # --- Database steps (blocking: run through activities.db.blocking) ----------------------

    def claim(
        self,
        event_key: str | None,
        token: str,
        *,
        earlier_attempts: str | None = None,
        ignore_retry_at: bool = False,
    ) -> list[Outgoing]:
        """Take up to ``batch_size`` deliverable rows for ``token`` (pending and past their
        ``retry_at`` unless ``ignore_retry_at``, or claimed by a deliverer whose lease ran out, or
        by an earlier attempt of this activity: tokens starting with ``earlier_attempts``) and
        return them as mails to send."""
        with write_statements(self.engine) as conn:
            return self._claim(conn, event_key, token, earlier_attempts, ignore_retry_at)

    def _extend_lease(self, token: str) -> None:
        """Push back the lease of every row ``token`` holds by a whole lease (blocking)."""
        with write_statements(self.engine) as conn:
            conn.execute(_extension_statement(), {"t": token, "until": utcnow() + self.lease})

    def anything_due(self) -> bool:
        """Whether :meth:`claim` would find a row now (blocking; a read, no lock taken).

        Asked before a pass connects to the mail server or takes SQLite's write lock: most of a
        deliverer's looks find nothing."""
        chosen = _due_statement()
        with self.engine.connect() as conn:
            return conn.execute(chosen, {"now": utcnow()}).first() is not None

    def _claim(
        self,
        conn: StatementWriter,
        event_key: str | None,
        token: str,
        earlier_attempts: str | None,
        ignore_retry_at: bool = False,
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
            event_key is not None,
            earlier_attempts is not None,
            self.batch_size,
            not ignore_retry_at,
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
            # Each row's attempts pick its retry time among these (``_recording_statements``).
            retry = _retry_times(now)
            changed.append(
                conn.execute(
                    statements.released,
                    [{"k": key, "t": token, "why": why, **retry} for key, why in outcome.temporary],
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


class Deliverer:
    """Delivers every pending mail of the outbox, in passes, until stopped (run by each worker).

    Cases only write their mails (``record_event``) and wake the deliverer of their worker; a
    pass then delivers what every case wrote, batched, so a busy second's hundred mails cost one
    SMTP connection and a few claims instead of one activity, one connection and one workflow
    task per event. Several workers run one each: their claims take disjoint batches, and a pass
    finds nothing left by another. The outbox is in the registry, so a worker that dies loses
    nothing: its claims expire after :attr:`LEASE` and another deliverer takes them.
    """

    LEASE = timedelta(minutes=1)
    """The lease of this deliverer's claims: a worker killed mid-send leaves its rows to the
    others within a minute (the activity's ten minutes made a dead worker's mails wait that
    long). A batch that takes longer over a slow server extends its claim as it goes."""
    BACKOFF_FIRST = 1.0
    BACKOFF_MAX = 300.0
    """Seconds before the pass after a failed one (doubling from the first, up to the maximum):
    a registry or mail server that is down is asked again soon, then less and less often."""

    def __init__(
        self, notifications: NotificationActivities, *, interval: float, gather: float
    ) -> None:
        """``notifications`` gives the engine, the settings and the batch size; the deliverer
        claims with its own :attr:`LEASE`. ``interval``: seconds between looks when nothing
        wakes it; ``gather``: seconds a woken deliverer waits before its pass."""
        self.outbox = NotificationActivities(
            notifications.engine,
            notifications.settings,
            batch_size=notifications.batch_size,
            lease=self.LEASE,
        )
        self.interval = interval
        self.gather = gather
        self._woken = asyncio.Event()

    def wake(self) -> None:
        """Mails were just written: start a pass in ``gather`` seconds rather than at the next
        look. Call it on the deliverer's event loop (from a thread: ``loop.call_soon_threadsafe``).

        A wake during a pass is kept for after it: that pass may have claimed before the new
        rows were committed. A wake during the backoff after a failed pass does not shorten it.
        """
        self._woken.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Pass after pass until ``stop`` is set; raises nothing but cancellation.

        A pass in progress when ``stop`` is set finishes (its batches are recorded, not left
        claimed); the waits between passes end at once.
        """
        failures = 0
        while not stop.is_set():
            self._woken.clear()  # what is written from now on may be missed by this pass
            try:
                delivered = await self.deliver_due()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                failures += 1
                delay = min(self.BACKOFF_MAX, self.BACKOFF_FIRST * 2 ** (failures - 1))
                if isinstance(error, TransportUnavailable):
                    log.warning("delivering the outbox failed (%s); next pass in %gs", error, delay)
                else:
                    log.exception("delivering the outbox failed; next pass in %gs", delay)
                await _wait_for_any(delay, stop)
                continue
            failures = 0
            if delivered:
                log.debug("delivered %d mail(s)", delivered)
            await _wait_for_any(self.interval, stop, self._woken)
            if self._woken.is_set() and not stop.is_set():
                await _wait_for_any(self.gather, stop)

    async def deliver_due(self) -> int:
        """One pass: deliver every claimable mail of every case; returns how many went out.

        A mail the server refuses for now stays pending until its ``retry_at`` (a later pass
        takes it); a permanent refusal is recorded ``failed``. Raises when the registry or the
        mail server cannot be reached; what was sent by then is recorded, the rest stays due.
        """
        outbox = self.outbox
        token, _ = claim_owner()  # a fresh token per pass: outside an activity, a new id
        if not await asyncio.to_thread(outbox.anything_due):
            return 0  # the usual look: no connection to the server, no write lock taken
        delivered = 0
        if not outbox.settings.smtp_host:
            # Batch by batch (``write_batch``), so the event loop runs between them.
            while True:
                written, claimed = await blocking(outbox.engine, outbox.write_batch, None, token)
                delivered += written
                if claimed < outbox.batch_size:
                    return delivered
        # Connected before anything is claimed: a server that is down fails the pass with
        # every row untouched (no attempt counted, no retry time set), and the pass backs off.
        async with outbox.smtp() as server:
            while True:
                batch = await blocking(outbox.engine, outbox.claim, None, token)
                if not batch:
                    break
                sent, retry_later = await outbox.send_batch(batch, token, server)
                delivered += sent
                if retry_later:
                    log.warning(
                        "%d mail(s) refused for now, retried after their backoff: %s",
                        len(retry_later),
                        "; ".join(retry_later[:3]),
                    )
                # Refused rows are not claimed again in this pass (their retry_at), so a full
                # batch always means there may be more.
                if len(batch) < outbox.batch_size:
                    break
        return delivered


async def _wait_for_any(seconds: float, *events: asyncio.Event) -> None:
    """Sleep ``seconds``, or until one of ``events`` is set."""
    if any(event.is_set() for event in events):
        return
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()


@functools.cache
def _claim_statement(
    one_event: bool, take_over_earlier: bool, batch_size: int, due_only: bool = True
) -> Any:
    """One statement that chooses, claims and returns a batch; built once, run with the
    parameters of ``claim``."""
    outbox = table_of(NotificationRow)
    chosen = select(outbox.c.key).where(_claimable(take_over_earlier, due_only))
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


@functools.cache
def _extension_statement() -> Any:
    outbox = table_of(NotificationRow)
    return (
        update(outbox)
        .where(outbox.c.claimed_by == bindparam("t"), outbox.c.status == SENDING)
        .values(claimed_until=bindparam("until"))
    )


@functools.cache
def _due_statement() -> Any:
    """Whether any row is claimable by a deliverer (``anything_due``)."""
    outbox = table_of(NotificationRow)
    return select(outbox.c.key).where(_claimable(False, True)).limit(1)


def _claimable(take_over_earlier: bool, due_only: bool) -> Any:
    """The rows a claim may take: pending ones (past their ``retry_at`` when ``due_only``), and
    claimed ones whose lease ran out or that an earlier attempt of the same activity holds."""
    outbox = table_of(NotificationRow)
    taken_over = [outbox.c.claimed_until < bindparam("now")]
    if take_over_earlier:
        taken_over.append(
            and_(
                outbox.c.claimed_by.like(bindparam("earlier"), escape="/"),
                outbox.c.claimed_by != bindparam("token"),
            )
        )
    pending = outbox.c.status == PENDING
    if due_only:
        pending = and_(
            pending, or_(outbox.c.retry_at.is_(None), outbox.c.retry_at <= bindparam("now"))
        )
    return or_(pending, and_(outbox.c.status == SENDING, or_(*taken_over)))


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
    # A released row waits ``retry_backoff(attempts)``, its attempts counted by the claims. The
    # statement picks the time by the row's attempts from one parameter per step, computed in
    # Python (``_retry_times``): no date arithmetic in SQL, which the two databases spell
    # differently, and the caller need not know the attempts (an outcome carries keys only).
    retry_at = case(
        *(
            (outbox.c.attempts <= n, bindparam(f"retry_{n}", type_=UTCDateTime))
            for n in _BACKOFF_STEPS
        ),
        else_=bindparam("retry_max", type_=UTCDateTime),
    )
    return _Recording(
        sent=mine.values(
            status=SENT,
            sent_at=bindparam("at"),
            transport=bindparam("how"),
            last_error=None,
            retry_at=None,
            **unclaimed,
        ),
        failed=mine.values(status=FAILED, last_error=bindparam("why"), retry_at=None, **unclaimed),
        released=mine.values(
            status=PENDING, last_error=bindparam("why"), retry_at=retry_at, **unclaimed
        ),
    )


def _retry_times(now: datetime) -> dict[str, datetime]:
    """The parameters of ``_recording_statements().released``: the retry time of each step."""
    times = {f"retry_{n}": now + retry_backoff(n) for n in _BACKOFF_STEPS}
    return times | {"retry_max": now + RETRY_BACKOFF_MAX}


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
