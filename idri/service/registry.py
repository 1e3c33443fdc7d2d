"""The registry's views for signed-in accounts: the registry (名录) and the mail outbox."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from activities.registry_read import (
    Institute,
    current_registry,
    institute,
    outbox,
    outbox_size,
)
from idri.auth.accounts import Account
from idri.service.access import SEES_EVERY_CASE
from idri.service.errors import Forbidden, Invalid, NotFound
from idri.service.temporal import normalise_case_id

MAIL_STATUSES = ("pending", "sending", "sent", "undeliverable", "failed")
"""The statuses of an outbox row (``activities.tables.NotificationRow.status``)."""

MAIL_FIELDS = (
    *("key", "event_key", "created_at", "case_id", "role", "name", "address", "subject"),
    *("status", "attempts", "last_error", "retry_at", "sent_at", "transport"),
)
"""What the API gives of each outbox row, in this order."""


@dataclass(frozen=True)
class Mailbag:
    mails: list[dict[str, Any]]
    total: int
    """How many mails match in all; more than ``len(mails)`` when the limit cut the list."""


def registry(account: Account, engine: Engine) -> list[Institute]:
    """The institutes in the registry now: public (the bureau publishes it), so every account
    may read it."""
    del account
    return current_registry(engine)


def mail(
    account: Account, engine: Engine, *, case_id: str | None, status: str | None, limit: int
) -> Mailbag:
    """The newest ``limit`` mails (shown oldest first): who was told what, whether it went out.

    Mails carry people's names and addresses: the bureau's to read.
    """
    if account.role not in SEES_EVERY_CASE:
        raise Forbidden(f"the mail outbox is the bureau's; {account.name} is {account.role.value}")
    if status is not None and status not in MAIL_STATUSES:
        raise Invalid(f"unknown mail status {status!r} (statuses: {', '.join(MAIL_STATUSES)})")
    if not 1 <= limit <= 10_000:
        raise Invalid(f"the limit is a number from 1 to 10000, not {limit}")
    case = normalise_case_id(case_id) if case_id else None
    entries = outbox(engine, case_id=case, status=status, newest=limit)
    if not entries and case is not None and institute(engine, case) is None:
        raise NotFound(f"the registry has no case {case!r}")
    rows = [{name: getattr(e, name) for name in MAIL_FIELDS} for e in entries]
    # Counted only when the list may have been cut: a count reads the whole outbox.
    total = outbox_size(engine, case_id=case, status=status) if len(rows) == limit else len(rows)
    return Mailbag(rows, total)
