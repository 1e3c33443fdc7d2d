"""A case's documents for a signed-in account: upload, list, get (issue 20, item 11).

Who may see a case's documents is who may see the case (``access.case_refusal``, through
``CaseService.status``). An upload is checked before its first byte is read (the case visible,
the kind allowed to this account at this stage, the name, the declared size), streamed into the
store (``idri.documents``), then recorded on the case by one update: ``submit_plan`` for the
creation plan, ``attach_document`` for every other kind; the workflow records name, size and
SHA-256, and the registry lists them (``documents`` table). Content that is kept but whose update
was refused stays in the store unreferenced (it is content-addressed: harmless, and kept once).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from pydantic import Field
from sqlalchemy import Engine
from sqlmodel import col, select

from activities.db import read_session
from activities.tables import DocumentRow
from idri.auth.accounts import Account
from idri.documents.store import CHUNK, DocumentStore, TooLarge, receive, too_large
from idri.service.access import actions_for, actor_of, status_refusal
from idri.service.actions import CaseAction
from idri.service.cases import CaseService, CaseView
from idri.service.errors import Forbidden, Invalid, NotFound, Refused
from idri.service.temporal import normalise_case_id
from models import documents
from models.case import Actor, CaseStatus, DocumentAttachment, PlanSubmission
from workflows.institute import InstituteWorkflow


@dataclass(frozen=True)
class DocumentInfo:
    """A document recorded on a case, as the API lists it."""

    case_id: str
    name: str
    kind: str
    sha256: str
    size: int | None
    media_type: str | None
    recorded_by: str
    recorded_at: datetime
    kept: bool
    """Whether its content is in the store (a plan recorded by its hash alone is not)."""


@dataclass(frozen=True)
class Uploaded:
    document: DocumentInfo
    case: CaseView


@dataclass(frozen=True)
class Download:
    """A document to send: what it is, and its content to read in chunks (then close)."""

    document: DocumentInfo
    stream: IO[bytes]

    def chunks(self) -> Iterator[bytes]:
        """The content, ``CHUNK`` bytes at a time; closes the stream at the end."""
        try:
            while chunk := self.stream.read(CHUNK):
                yield chunk
        finally:
            self.stream.close()


class RecordPlan(CaseAction):
    """The creation plan, kept in the store: ``submit_plan`` with its size and type."""

    path = "documents"
    file_name: str
    sha256: str
    size: int = Field(ge=0)
    media_type: str

    def payload(self, actor: Actor) -> tuple[Any, Any]:
        plan = PlanSubmission(actor, self.file_name, self.sha256, self.size, self.media_type)
        return InstituteWorkflow.submit_plan, plan


class AttachDocument(CaseAction):
    """Any other kind of document, kept in the store: ``attach_document``."""

    path = "documents"
    kind: str
    name: str
    sha256: str
    size: int = Field(ge=0)
    media_type: str

    def payload(self, actor: Actor) -> tuple[Any, Any]:
        attachment = DocumentAttachment(
            actor, self.kind, self.name, self.sha256, self.size, self.media_type
        )
        return InstituteWorkflow.attach_document, attachment


@dataclass
class DocumentService:
    cases: CaseService
    store: DocumentStore
    registry: Engine
    max_bytes: int

    async def upload(
        self,
        account: Account,
        case_id: str,
        *,
        kind: str,
        name: str,
        chunks: AsyncIterable[bytes],
        declared_size: int | None = None,
    ) -> Uploaded:
        """Keep the document arriving in ``chunks`` and record it on the case.

        Raises:
            Invalid: the kind or name is wrong (nothing read); TooLarge, WrongType,
                DocumentRefused (``idri.documents``): too large, not the type its name says,
                empty; Forbidden: the case is not the
                account's, or this kind is not its to attach at this stage (nothing read).
        """
        case_id = normalise_case_id(case_id)
        try:
            wanted = documents.kind_of(kind)
        except ValueError as error:
            raise Invalid(str(error)) from None
        problem = documents.name_refusal(name)
        if problem is not None:
            raise Invalid(problem)
        if declared_size is not None and declared_size > self.max_bytes:
            raise TooLarge(too_large(name, self.max_bytes))
        status = (await self.cases.status(account, case_id)).status
        self._check_attachable(case_id, status, wanted, actor_of(account))
        received = await receive(
            chunks, name, staging=self.store.staging_dir(), max_bytes=self.max_bytes
        )
        await asyncio.to_thread(self.store.put, received)
        action: CaseAction
        if wanted is documents.DocumentKind.PLAN:
            action = RecordPlan(
                file_name=name,
                sha256=received.sha256,
                size=received.size,
                media_type=received.media_type,
            )
        else:
            action = AttachDocument(
                kind=wanted.value,
                name=name,
                sha256=received.sha256,
                size=received.size,
                media_type=received.media_type,
            )
        after = await self.cases.act(account, case_id, action)
        recorded = await asyncio.to_thread(self._rows, case_id, name)
        info = recorded[-1] if recorded else None
        if info is None or info.sha256 != received.sha256:
            # The registry is written by the case's activity, which the update awaited; a
            # registry behind it (a retry in progress) still lets the caller see what was kept.
            info = DocumentInfo(
                case_id, name, wanted.value, received.sha256, received.size,
                received.media_type, account.name, datetime.now().astimezone(), True,
            )  # fmt: skip
        return Uploaded(info, after)

    @staticmethod
    def _check_attachable(
        case_id: str, status: CaseStatus, kind: documents.DocumentKind, actor: Actor
    ) -> None:
        """Refuse, before a byte is read, what the case would refuse: a closed case, a role or
        stage the kind does not allow (the plan: whatever ``submit_plan`` allows now)."""
        if status.stage.terminal:
            raise Refused(
                f"case {case_id} is closed (stage '{status.stage.value}') and takes no more actions"
            )
        denied = documents.attach_refusal(kind, actor, status.stage, status.district)
        plan_allowed = "submit_plan" in status.allowed_actions
        if denied and kind is documents.DocumentKind.PLAN and plan_allowed:
            denied = None  # the workflow decides when a plan may come (its lifecycle)
        if denied:
            raise Forbidden(f"permission denied: {denied}; nothing was kept")

    def attachable(self, account: Account, status: CaseStatus) -> list[documents.DocumentKind]:
        """The kinds ``account`` may upload to the case now (by the checks ``upload`` makes
        before reading a byte): what the workbench offers on its upload form."""
        actor = actor_of(account)
        kinds = []
        for kind in documents.DocumentKind:
            # The plan is submit_plan: offered when the role may take it now (the workflow
            # would refuse it from anyone else, once the file had been read).
            plan = kind is documents.DocumentKind.PLAN
            if plan and "submit_plan" not in actions_for(account, status.allowed_actions):
                continue
            try:
                self._check_attachable(status.case_id, status, kind, actor)
            except (Refused, Forbidden):
                continue
            kinds.append(kind)
        return kinds

    async def list_documents(self, account: Account, case_id: str) -> list[DocumentInfo]:
        """Every document recorded on the case, oldest first (a name given twice: both)."""
        case_id = normalise_case_id(case_id)
        status = (await self.cases.status(account, case_id)).status
        return await self.documents_of(account, status)

    async def documents_of(self, account: Account, status: CaseStatus) -> list[DocumentInfo]:
        """``list_documents`` for a caller holding the case's status already (the case page):
        the same visibility rule, checked on that status, without asking the case again."""
        denied = status_refusal(account, status)
        if denied:
            raise Forbidden(f"permission denied: {denied}")
        return await asyncio.to_thread(self._rows, status.case_id, None)

    async def get(self, account: Account, case_id: str, name: str) -> Download:
        """The newest document of that name on the case, to stream.

        Raises:
            NotFound: no such document, or its content was never uploaded.
        """
        case_id = normalise_case_id(case_id)
        await self.cases.status(account, case_id)
        rows = await asyncio.to_thread(self._rows, case_id, None)
        matching = [row for row in rows if row.name == name]
        if not matching:
            names = ", ".join(sorted({row.name for row in rows})) or "none"
            raise NotFound(f"case {case_id} has no document {name!r} (its documents: {names})")
        info = matching[-1]
        try:
            stream = await asyncio.to_thread(self.store.open, info.sha256)
        except FileNotFoundError:
            raise NotFound(
                f"case {case_id} records {name!r} by its SHA-256 only ({info.sha256[:12]}…): "
                "its content was never uploaded; upload it again with `idri plan submit --file`"
            ) from None
        return Download(info, stream)

    def _rows(self, case_id: str, name: str | None) -> list[DocumentInfo]:
        query = select(DocumentRow).where(DocumentRow.case_id == case_id)
        if name is not None:
            query = query.where(DocumentRow.name == name)
        with read_session(self.registry) as session:
            rows = session.exec(query.order_by(col(DocumentRow.recorded_at))).all()
        return [
            DocumentInfo(
                row.case_id,
                row.name,
                row.kind,
                row.sha256,
                row.size,
                row.media_type,
                row.recorded_by,
                row.recorded_at,
                kept=row.size is not None and self.store.size_of(row.sha256) is not None,
            )
            for row in rows
        ]
