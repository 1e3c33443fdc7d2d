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
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, select
from temporalio import activity

from activities import registry_read
from activities.db import write_session
from activities.registry_read import TrailEntry
from activities.tables import PublicationRow, utcnow
from activities.templates import (
    direction,
    district,
    label,
    last_day,
    page_environment,
    parse_moment,
)
from idri.settings import Settings
from models.records import ActivityName, PublicationRequest
from models.time import cst_date

KINDS = ("notice", "registry", "delisting")
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

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    @property
    def publish_dir(self) -> Path:
        return self.settings.publish_dir or self.settings.data_dir / "public"

    @activity.defn(name=ActivityName.PUBLISH)
    async def publish(self, request: PublicationRequest) -> None:
        """Regenerate the pages ``request`` changes (plus the index and the registry)."""
        await asyncio.to_thread(self.publish_sync, request)

    def publish_sync(self, request: PublicationRequest) -> list[str]:
        """The activity's body; returns the paths whose content changed."""
        if request.kind not in KINDS:
            raise ValueError(f"unknown publication kind {request.kind!r}; expected one of {KINDS}")
        with write_session(self.engine) as session:
            # One publisher at a time, from reading the registry to writing the files: otherwise
            # a publisher that read before another event committed could write its older pages
            # last. SQLite's write transaction is that lock already; PostgreSQL takes this one.
            if session.get_bind().dialect.name == "postgresql":
                session.exec(select(func.pg_advisory_xact_lock(PUBLISH_LOCK)))
            pages = [*self.registry_pages(), *self.index_pages(), self.stylesheet()]
            if request.kind == "notice":
                pages += self.notice_pages(self._approval_for(request))
            elif request.kind == "delisting":
                pages += self.delisting_pages(request.case_id)
            changed = self._write(pages)
            self._remember(session, pages)
            return changed

    # --- Pages ------------------------------------------------------------------------------

    def _approval_for(self, request: PublicationRequest) -> TrailEntry:
        """The approve event whose notice is published: the request's own, else the case's last."""
        recorded = registry_read.event(self.engine, request.event_key)
        if recorded is not None and recorded.event == "approve":
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

    def notice_pages(self, approval: TrailEntry) -> list[Page]:
        batch = _batch_of(approval)
        members = [
            a for a in registry_read.events_of_kind(self.engine, "approve") if _batch_of(a) == batch
        ]
        start = _notice_start(approval)
        end = parse_moment(approval.details.get("notice_end"))
        entries = []
        for member in members:
            item = registry_read.institute(self.engine, member.case_id)
            if item is None:
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
            "objections_to": self.settings.bureau_email,
            "institutes": entries,
        }
        context = {"start": start, "end": end, "institutes": entries}
        return self._html_and_json(f"notice/{batch}", "notice", context, data)

    def registry_pages(self) -> list[Page]:
        registry = registry_read.current_registry(self.engine)
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
        context = {"institutes": entries, "national_count": national}
        return self._html_and_json("registry", "registry", context, data)

    def delisting_pages(self, case_id: str) -> list[Page]:
        item = registry_read.institute(self.engine, case_id)
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

    def index_pages(self) -> list[Page]:
        batches: dict[str, dict[str, Any]] = {}
        for approval in registry_read.events_of_kind(self.engine, "approve"):
            batch = batches.setdefault(
                _batch_of(approval),
                {"batch": _batch_of(approval), "start": _notice_start(approval), "count": 0},
            )
            batch["count"] += 1
        delistings = [
            {
                "case_id": i.case_id,
                "file": _file_name(i.case_id),
                "organisation": i.organisation,
                "delisted_at": i.delisted_at,
            }
            for i in registry_read.institutes(self.engine)
            if i.delisted_at is not None
        ]
        delistings.sort(key=lambda d: (d["delisted_at"], d["case_id"]))
        notices = sorted(batches.values(), key=lambda b: b["batch"], reverse=True)
        registry_count = len(registry_read.current_registry(self.engine))
        context = {"notices": notices, "delistings": delistings, "registry_count": registry_count}
        data = {"kind": "index", **context}
        return self._html_and_json("index", "index", context, data)

    def stylesheet(self) -> Page:
        css = resources.files("activities.templates").joinpath("pages", "style.css").read_bytes()
        return Page("style.css", "index", css)

    def _html_and_json(
        self, stem: str, kind: str, context: dict[str, Any], data: dict[str, Any]
    ) -> list[Page]:
        depth = stem.count("/")
        html = (
            page_environment()
            .get_template(f"pages/{kind}.html.j2")
            .render(
                root="../" * depth,
                json_name=f"{stem.rpartition('/')[2]}.json",
                bureau_email=self.settings.bureau_email,
                **context,
            )
        )
        as_json = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True, default=_jsonable)
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
