"""``deliver_notifications``: the outbox's delivery side.

Rows are claimed before they are sent: a claim marks a batch ``sending`` with a lease
(``claimed_by``, ``claimed_until``) in one short transaction, using ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL so concurrent deliverers take disjoint batches (SQLite has a single writer, so its claim
transaction is serialised anyway). No database lock is held while talking to the mail server.
Each mail is marked ``sent`` right after the server accepts it.

If the server is unreachable the unsent rows of the batch go back to ``pending`` and the activity
raises, so Temporal retries it with backoff; mails go out when the server returns, each once.
A deliverer that dies mid-batch leaves rows whose lease expires and are claimed again; the only
way a mail is sent twice is a crash between the server's acceptance and the ``sent`` commit, and
then the copy carries the same ``Message-ID``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta

from sqlalchemy import Engine, and_, or_, update
from sqlmodel import col, select
from temporalio import activity

from activities.db import write_session
from activities.mailer import (
    EmlTransport,
    Outgoing,
    RecipientRefused,
    SmtpTransport,
    Transport,
    TransportUnavailable,
    compose,
)
from activities.tables import NotificationRow, utcnow
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

    def transport(self) -> Transport:
        s = self.settings
        if s.smtp_host:
            return SmtpTransport(
                s.smtp_host,
                s.smtp_port,
                username=s.smtp_username,
                password=s.smtp_password,
                starttls=s.smtp_starttls,
            )
        return EmlTransport(s.data_dir / "outbox")

    @activity.defn(name=ActivityName.DELIVER_NOTIFICATIONS)
    async def deliver_notifications(self, request: DeliveryRequest) -> int:
        """Deliver the pending mails of ``request.event_key`` (or all); returns how many went out.

        Raises when the mail server is unreachable or refuses a mail for now (4xx), leaving those
        rows pending for the retry. A permanent refusal (5xx) marks the row ``failed``.
        """
        token, earlier = claim_owner()
        delivered = 0
        while True:
            batch = await asyncio.to_thread(
                self.claim, request.event_key, token, earlier_attempts=earlier
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
        """Send a claimed batch; returns (sent, temporary problems). Unsent rows are released."""
        open_keys = {mail.key for mail in batch}
        sent, temporary = 0, []
        try:
            async with self.transport() as transport:
                for mail in batch:
                    message = compose(
                        mail,
                        mail_from=self.settings.mail_from,
                        readable=transport.name == "eml",
                    )
                    try:
                        how = await transport.send(mail, message)
                    except RecipientRefused as refusal:
                        open_keys.discard(mail.key)
                        if refusal.permanent:
                            await asyncio.to_thread(
                                self._finish, mail.key, token, FAILED, str(refusal)
                            )
                        else:
                            temporary.append(str(refusal))
                            await asyncio.to_thread(self._release, [mail.key], token, str(refusal))
                        continue
                    await asyncio.to_thread(self._finish, mail.key, token, SENT, how)
                    open_keys.discard(mail.key)
                    sent += 1
                    if activity.in_activity():
                        activity.heartbeat(sent)
        except BaseException as error:
            # Unreachable server, cancellation, anything: what was not sent is pending again.
            if open_keys:
                await asyncio.shield(
                    asyncio.to_thread(self._release, sorted(open_keys), token, _describe(error))
                )
            raise
        return sent, temporary

    # --- Database steps (blocking; run in a thread) -----------------------------------------

    def claim(
        self, event_key: str | None, token: str, *, earlier_attempts: str | None = None
    ) -> list[Outgoing]:
        """Take up to ``batch_size`` deliverable rows for ``token`` (pending, or claimed by a
        deliverer whose lease ran out, or by an earlier attempt of this activity: tokens starting
        with ``earlier_attempts``) and return them as mails to send."""
        now = utcnow()
        taken_over = [col(NotificationRow.claimed_until) < now]
        if earlier_attempts:
            taken_over.append(
                and_(
                    col(NotificationRow.claimed_by).startswith(earlier_attempts, autoescape=True),
                    col(NotificationRow.claimed_by) != token,
                )
            )
        claimable = or_(
            col(NotificationRow.status) == PENDING,
            and_(col(NotificationRow.status) == SENDING, or_(*taken_over)),
        )
        query = select(NotificationRow).where(claimable)
        if event_key is not None:
            query = query.where(NotificationRow.event_key == event_key)
        query = (
            query.order_by(col(NotificationRow.created_at), col(NotificationRow.key))
            .limit(self.batch_size)
            .with_for_update(skip_locked=True)
        )
        with write_session(self.engine) as session:
            rows = list(session.exec(query).all())
            batch = []
            for row in rows:
                row.status = SENDING
                row.claimed_by = token
                row.claimed_until = now + self.lease
                row.attempts += 1
                session.add(row)
                batch.append(
                    Outgoing(
                        key=row.key,
                        case_id=row.case_id,
                        role=row.role,
                        name=row.name,
                        address=row.address or "",
                        subject=row.subject,
                        body=row.body,
                        created_at=row.created_at,
                        message_id=row.message_id,
                    )
                )
            return batch

    def _finish(self, key: str, token: str, status: str, outcome: str) -> None:
        values: dict[str, object] = {"status": status, "claimed_by": None, "claimed_until": None}
        if status == SENT:
            values.update(sent_at=utcnow(), transport=outcome, last_error=None)
        else:
            values.update(last_error=outcome)
        with write_session(self.engine) as session:
            result = session.exec(
                update(NotificationRow)
                .where(col(NotificationRow.key) == key, col(NotificationRow.claimed_by) == token)
                .values(**values)
            )
            if not result.rowcount:
                log.warning(
                    "notification %s was re-claimed while being sent (lease too short?)", key
                )

    def _release(self, keys: list[str], token: str, error: str) -> None:
        with write_session(self.engine) as session:
            session.exec(
                update(NotificationRow)
                .where(col(NotificationRow.key).in_(keys), col(NotificationRow.claimed_by) == token)
                .values(status=PENDING, claimed_by=None, claimed_until=None, last_error=error)
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
