"""``publish``: the bureau's public pages, regenerated from the registry as static files.

Layout of the publish directory (``IDRI_PUBLISH_DIR``, default ``<data dir>/public``)::

    index.html                 links to everything below
    registry.html / .json      the registry (名录) of designated institutes
    notice/<date>.html / .json the public notice (公示) of the batch whose notice starts that day
    delisting/<case>.html/.json  the announcement of a removal from the registry
    style.css

Every page is a function of the registry alone (no "generated at" stamp), so publishing twice
writes the same bytes; a file is rewritten only when its content changes, and the
``publications`` table remembers since when each page holds its current content.
Every call also refreshes the index and the registry, which any publication may change.

``record_event`` queues an event that changes a page in ``pages_due``, in the event's own
transaction; the case then runs the ``publish`` activity, which publishes what is queued and
takes it off the queue. ``publish_queued`` does the same for the daily evaluation sweep: cases
that ran before the ``outbox-by-activities`` patch leave their pages queued for it.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from markupsafe import Markup
from sqlalchemy import Engine, delete, func
from sqlmodel import Session, col, select
from temporalio import activity

from activities import registry_read
from activities.db import read_session, write_session
from activities.registry_read import Institute, TrailEntry
from activities.tables import PageDueRow, PublicationRow, utcnow
from activities.templates import (
    direction,
    district,
    label,
    last_day,
    page_environment,
    parse_moment,
)
from models.notifications import LEFT_NOTICE
from models.records import ActivityName, PublicationRequest
from models.time import CST, cst_date

KINDS = ("notice", "registry", "delisting")
try:
    import fcntl
except ImportError:  # Windows: publishers of one process still take turns (_IN_PROCESS)
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

_IN_PROCESS = threading.Lock()

PUBLISH_LOCK = 0x1D1_2E62
"""Advisory lock id serialising publishers on PostgreSQL (next to the migration lock)."""


@dataclass(frozen=True)
class Page:
    path: str
    """Relative to the publish directory."""
    kind: str
    content: bytes


class PublicationActivities:
    """Writes the public notice, registry and delisting pages with their JSON twins."""

    def __init__(self, engine: Engine, *, publish_dir: Path, bureau_email: str) -> None:
        self.engine = engine
        self.publish_dir = publish_dir
        self.bureau_email = bureau_email
        """Where objections go: named on the notice pages."""

    @activity.defn(name=ActivityName.PUBLISH)
    async def publish(self, request: PublicationRequest) -> None:
        """Publish the pages of ``request``'s event, queued with it, and of any other event
        queued by then: cases approved together share one pass, and the passes after it find
        nothing left to do."""
        await asyncio.to_thread(self.publish_due)

    @activity.defn(name=ActivityName.PUBLISH_QUEUED)
    async def publish_queued(self) -> int:
        """Publish every event still queued in ``pages_due``; the number published."""
        return await asyncio.to_thread(self.publish_due)

    def publish_sync(self, request: PublicationRequest) -> list[str]:
        """The activity's body; returns the paths whose content changed."""
        with self._turn():
            view = _PassView(self.engine)
            pages = self._pages_of(view, request, {})
            return self._publish(view, pages, done=[request.event_key])

    def publish_due(self) -> int:
        """Publish the pages of every event queued in ``pages_due``; the number published.

        An event whose page cannot be rendered (its records are missing) stays queued and is
        logged; the others are published and leave the queue.
        """
        with read_session(self.engine) as session:
            if session.exec(select(PageDueRow.event_key).limit(1)).first() is None:
                return 0  # the usual case, answered without waiting for a turn
        with self._turn():
            with read_session(self.engine) as session:
                due = session.exec(select(PageDueRow).order_by(col(PageDueRow.queued_at))).all()
            view = _PassView(self.engine)
            rendered: dict[str, list[Page]] = {}
            pages: list[Page] = []
            done: list[str] = []
            for row in due:
                request = PublicationRequest(row.event_key, row.kind, row.case_id)
                try:
                    pages += self._pages_of(view, request, rendered)
                except (LookupError, ValueError) as error:
                    log.error("page of event %s cannot be published yet: %s", row.event_key, error)
                    continue
                done.append(row.event_key)
            if done:
                self._publish(view, pages, done=done)
            return len(done)

    @contextmanager
    def _turn(self) -> Iterator[None]:
        """One publisher at a time, from reading the registry to writing the files: otherwise
        a publisher that read before another event committed could write its older pages last.

        The turn is not the registry's write lock, so cases go on recording events while pages
        render; what they record meanwhile is queued and published by the next turn.
        """
        if self.engine.dialect.name == "postgresql":
            autocommit = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            with autocommit as conn:
                conn.execute(select(func.pg_advisory_lock(PUBLISH_LOCK)))
                try:
                    yield
                finally:
                    conn.execute(select(func.pg_advisory_unlock(PUBLISH_LOCK)))
            return
        # SQLite: a lock file beside the database, for every process that shares the file.
        database = self.engine.url.database
        assert database, "the registry is a SQLite file (activities.db refuses :memory:)"
        with _IN_PROCESS, open(f"{database}.publishing", "a") as handle:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
            yield

    def _publish(self, view: _PassView, pages: list[Page], *, done: list[str]) -> list[str]:
        """Write ``pages`` with the registry and the index, then record them and take ``done``
        off the queue; the paths whose content changed."""
        pages = [*self.registry_pages(view), *self.index_pages(view), self.stylesheet(), *pages]
        changed = self._write(pages)
        with write_session(self.engine) as session:
            self._remember(session, pages)
            if done:
                session.exec(delete(PageDueRow).where(col(PageDueRow.event_key).in_(done)))
        return changed

    def _pages_of(
        self, view: _PassView, request: PublicationRequest, rendered: dict[str, list[Page]]
    ) -> list[Page]:
        """The pages ``request`` publishes besides the registry and the index, unless a page of
        the same batch or case is in ``rendered`` already (then none)."""
        if request.kind not in KINDS:
            raise ValueError(f"unknown publication kind {request.kind!r}; expected one of {KINDS}")
        if request.kind == "notice":
            approval = self._approval_for(view, request)
            page = f"notice/{_batch_of(approval)}"
            if page not in rendered:
                rendered[page] = self.notice_pages(view, approval)
                return rendered[page]
        elif request.kind == "delisting":
            page = f"delisting/{request.case_id}"
            if page not in rendered:
                rendered[page] = self.delisting_pages(view, request.case_id)
                return rendered[page]
        return []

    # --- Pages ------------------------------------------------------------------------------

    def _approval_for(self, view: _PassView, request: PublicationRequest) -> TrailEntry:
        """The approve event whose notice is published: the request's own, else the case's last."""
        recorded = view.approvals_by_key.get(request.event_key)
        if recorded is not None:
            return recorded
        approvals = [
            e
            for e in registry_read.audit_trail(self.engine, request.case_id)
            if e.event == "approve"
        ]
        if not approvals:
            raise LookupError(
                f"no approve event recorded for case {request.case_id} (event {request.event_key}):"
                " record_event must run before publish"
            )
        return approvals[-1]

    def notice_pages(self, view: _PassView, approval: TrailEntry) -> list[Page]:
        """The notice of ``approval``'s batch: the same page whichever member's event asks.

        The period is the batch's, from its first approval (cases approved later that day
        joined a notice already running); a case that has left the notice since (an upheld
        objection, a withdrawal) is no longer listed.
        """
        batch = _batch_of(approval)
        members = [a for a in view.approvals if _batch_of(a) == batch]  # oldest first
        first = members[0] if members else approval
        start = _notice_start(first)
        end = parse_moment(first.details.get("notice_end"))
        differing = sorted(
            m.case_id for m in members if parse_moment(m.details.get("notice_end")) != end
        )
        if differing:
            log.warning(
                "notice of %s: cases %s were given another period than the batch's first",
                batch,
                ", ".join(differing),
            )
        entries = []
        for member in members:
            item = view.institutes.get(member.case_id)
            if item is None or item.stage in LEFT_NOTICE:
                continue
            entries.append(
                {
                    "case_id": item.case_id,
                    "organisation": item.organisation,
                    "district": {"code": item.district, **district(item.district)},
                    "direction": {"code": item.direction, **direction(item.direction)},
                    "approved_at": member.at,
                }
            )
        data = {
            "kind": "notice",
            "batch": batch,
            "notice_start": start,
            "notice_end": end,
            "notice_last_day": last_day(end),
            "objections_to": self.bureau_email,
            "institutes": entries,
        }
        context = {"start": start, "end": end, "institutes": entries}
        return self._html_and_json(f"notice/{batch}", "notice", context, data)

    def registry_pages(self, view: _PassView) -> list[Page]:
        registry = view.registry
        entries = [
            {
                "case_id": i.case_id,
                "organisation": i.organisation,
                "district": {"code": i.district, **district(i.district)},
                "direction": {"code": i.direction, **direction(i.direction)},
                "level": {"code": i.level, **label("levels", i.level)},
                "designated_at": i.designated_at,
                "next_evaluation_due": i.next_evaluation_due,
            }
            for i in registry
        ]
        national = sum(1 for i in registry if i.level == "national")
        data = {"kind": "registry", "count": len(entries), "institutes": entries}
        context = {"rows": [registry_row(entry) for entry in entries], "national_count": national}
        return self._html_and_json("registry", "registry", context, data)

    def delisting_pages(self, view: _PassView, case_id: str) -> list[Page]:
        item = view.institutes.get(case_id)
        if item is None or item.delisted_at is None:
            raise LookupError(f"case {case_id} is not recorded as delisted; nothing to announce")
        delist = [e for e in registry_read.audit_trail(self.engine, case_id) if e.event == "delist"]
        entry = {
            "case_id": item.case_id,
            "organisation": item.organisation,
            "district": {"code": item.district, **district(item.district)},
            "direction": {"code": item.direction, **direction(item.direction)},
            "level": {"code": item.level, **label("levels", item.level)},
            "designated_at": item.designated_at,
            "delisted_at": item.delisted_at,
            "reason": delist[-1].reason if delist else "",
        }
        data = {"kind": "delisting", **entry}
        return self._html_and_json(
            f"delisting/{_file_name(case_id)}", "delisting", {"item": entry}, data
        )

    def index_pages(self, view: _PassView) -> list[Page]:
        batches: dict[str, dict[str, Any]] = {}
        for approval in view.approvals:  # oldest first
            # Counted as the notice page lists them: the first approval's start, no leavers.
            batch = batches.setdefault(
                _batch_of(approval),
                {"batch": _batch_of(approval), "start": _notice_start(approval), "count": 0},
            )
            item = view.institutes.get(approval.case_id)
            if item is not None and item.stage not in LEFT_NOTICE:
                batch["count"] += 1
        delistings = [
            {
                "case_id": i.case_id,
                "file": _file_name(i.case_id),
                "organisation": i.organisation,
                "delisted_at": i.delisted_at,
            }
            for i in view.institutes.values()
            if i.delisted_at is not None
        ]
        delistings.sort(key=lambda d: (d["delisted_at"], d["case_id"]))
        notices = sorted(batches.values(), key=lambda b: b["batch"], reverse=True)
        registry_count = len(view.registry)
        context = {"notices": notices, "delistings": delistings, "registry_count": registry_count}
        data = {"kind": "index", **context}
        return self._html_and_json("index", "index", context, data)

    def stylesheet(self) -> Page:
        css = resources.files("activities.templates").joinpath("pages", "style.css").read_bytes()
        return Page("style.css", "index", css)

    def _html_and_json(
        self, stem: str, kind: str, context: dict[str, Any], data: dict[str, Any]
    ) -> list[Page]:
        """The HTML and JSON pages of ``data``; ``context`` is what the template shows."""
        depth = stem.count("/")
        html = (
            page_environment()
            .get_template(f"pages/{kind}.html.j2")
            .render(
                root="../" * depth,
                json_name=f"{stem.rpartition('/')[2]}.json",
                bureau_email=self.bureau_email,
                **context,
            )
        )
        as_json = json.dumps(data, ensure_ascii=False, sort_keys=True, default=_jsonable)
        return [
            Page(f"{stem}.html", kind, html.encode()),
            Page(f"{stem}.json", kind, (as_json + "\n").encode()),
        ]

    # --- Writing ----------------------------------------------------------------------------

    def _write(self, pages: list[Page]) -> list[str]:
        changed = []
        root = self.publish_dir
        for page in pages:
            target = root / page.path
            if not (target.exists() and target.read_bytes() == page.content):
                _atomic_write(target, page.content)
                changed.append(page.path)
        return changed

    def _remember(self, session: Session, pages: list[Page]) -> None:
        """Record each page's digest; a page's date changes only with its content."""
        now = utcnow()
        for page in pages:
            digest = hashlib.sha256(page.content).hexdigest()
            row = session.get(PublicationRow, page.path, with_for_update=True)
            if row is None:
                row = PublicationRow(
                    path=page.path,
                    kind=page.kind,
                    sha256=digest,
                    first_published_at=now,
                    updated_at=now,
                )
            elif row.sha256 != digest:
                row.sha256, row.updated_at = digest, now
            else:
                continue
            session.add(row)


class _PassView:
    """What one pass reads from the registry, each list read once: a pass renders several pages
    from the same lists."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @functools.cached_property
    def approvals(self) -> list[TrailEntry]:
        return registry_read.events_of_kind(self.engine, "approve")

    @functools.cached_property
    def institutes(self) -> dict[str, Institute]:
        """Every case the registry knows, by case id, in case id order."""
        return {i.case_id: i for i in registry_read.institutes(self.engine)}

    @functools.cached_property
    def approvals_by_key(self) -> dict[str, TrailEntry]:
        return {a.key: a for a in self.approvals}

    @functools.cached_property
    def registry(self) -> list[Institute]:
        """``registry_read.current_registry``, from the institutes already read."""
        return registry_read.in_registry(self.institutes.values())


def registry_row(entry: dict[str, Any]) -> Markup:
    """An institute's row of the registry page, escaped, less its running number (its place)."""
    template = page_environment().get_template("pages/_registry_row.html.j2")
    row: Markup = template.module.row(entry)  # type: ignore[attr-defined]  # the file's macro
    return row


def _notice_start(approval: TrailEntry) -> datetime:
    start = parse_moment(approval.details.get("notice_start"))
    return start if isinstance(start, datetime) else approval.at


def _batch_of(approval: TrailEntry) -> str:
    """A batch is the notices starting the same day (Beijing time); the day names its page."""
    start = _notice_start(approval)
    return (cst_date(start) if start.tzinfo else start.date()).isoformat()


def _file_name(case_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", case_id)


def _jsonable(value: object) -> str:
    """Moments in Beijing time, as the pages show them (the registry holds them in UTC)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(CST).isoformat()
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot publish {type(value).__name__} as JSON")


def _atomic_write(target: Path, content: bytes) -> None:
    """Write then rename, so the web server never serves half a page."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
