"""What "nothing lost, nothing twice" means, checked against the registry and the mailbox."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence

from sqlalchemy import Engine
from sqlmodel import col, select

from activities.db import create_registry_engine, read_session
from activities.registry_read import audit_trail
from activities.tables import NotificationRow
from models.notifications import ROUTES
from tests.faults.stack import CaseDriver, Mailbox


def expected_recipients(event: str) -> int:
    """Outbox rows one event writes in these tests: every routed role has a mailbox (the
    applicant's contact, the district's, the bureau's, the assigned expert's)."""
    return len(ROUTES.get(event, ()))


MAIL_WITHIN = 80.0
"""Seconds the delivery activities get to send what is still in the outbox when the cases are
done: an attempt a killed worker had started is retried once its start-to-close timeout (a
minute) runs out, and the retry takes over the rows that attempt had claimed."""


async def outbox_settled(engine: Engine, case_ids: Sequence[str], within: float) -> None:
    """Wait until no mail of these cases is waiting (pending) or being sent (claimed)."""
    deadline = time.monotonic() + within
    while True:
        with read_session(engine) as session:
            waiting = session.exec(
                select(NotificationRow.key).where(
                    col(NotificationRow.case_id).in_(case_ids),
                    col(NotificationRow.status).in_(("pending", "sending")),
                )
            ).all()
        if not waiting or time.monotonic() > deadline:
            return  # what is still waiting is reported by the caller's checks
        await asyncio.sleep(0.2)


async def assert_recorded_exactly_once(
    registry_url: str, drivers: Sequence[CaseDriver], mailbox: Mailbox | None = None
) -> None:
    """Each case: its registry trail is its history, one row per event (seq 1..n, no gap, no
    repeat); one outbox row per recipient of each event, all sent (the deliverers get
    ``MAIL_WITHIN`` seconds); each mail received, and a mail received twice (a kill between the
    SMTP server's acceptance and the ``sent`` commit, the one window an outbox cannot close) is
    the same mail, with the same ``Message-ID``."""
    engine = create_registry_engine(registry_url)
    try:
        await outbox_settled(engine, [d.case_id for d in drivers], MAIL_WITHIN)
        for driver in drivers:
            history = await driver.history()
            trail = audit_trail(engine, driver.case_id)
            assert [t.seq for t in trail] == list(range(1, len(trail) + 1)), (
                f"case {driver.case_id}: the registry's events are not one per seq: "
                f"{[t.seq for t in trail]}"
            )
            assert [(t.seq, t.event) for t in trail] == [(h.seq, h.event) for h in history], (
                f"case {driver.case_id}: registry and case history differ"
            )
            with read_session(engine) as session:
                rows = list(
                    session.exec(
                        select(NotificationRow).where(NotificationRow.case_id == driver.case_id)
                    )
                )
            per_event = Counter(r.event_key for r in rows)
            for t in trail:
                assert per_event[t.key] == expected_recipients(t.event), (
                    f"case {driver.case_id} event {t.seq} {t.event}: {per_event[t.key]} outbox "
                    f"rows, expected {expected_recipients(t.event)}"
                )
            unsent = [(r.key, r.status, r.last_error) for r in rows if r.status != "sent"]
            assert not unsent, f"case {driver.case_id}: mails not sent: {unsent}"
            if mailbox is not None:
                received = mailbox.by_notification()
                for row in rows:
                    copies = received.get(row.key, [])
                    assert copies, f"mail {row.key} is marked sent but never arrived"
                    assert {str(m["Message-ID"]).strip() for m in copies} == {row.message_id}
        if mailbox is not None:
            with read_session(engine) as session:
                known = set(session.exec(select(col(NotificationRow.key))))
            strays = set(mailbox.by_notification()) - known
            assert not strays, f"mails for no outbox row: {sorted(strays)}"
    finally:
        engine.dispose()
