"""The changes a years-long case takes, as the API receives them (``models/changes.py``): the
organisation's willingness (企业自愿), its contact and name, and the bureau's extension of a
deadline. Strict bodies, like every action of ``idri.service.actions``."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from idri.service.actions import CaseAction, Text
from models.case import Actor
from models.changes import ContactChange, DeadlineExtension, WillingnessChange
from models.limits import NAME_MAX, TEXT_MAX
from workflows.institute import InstituteWorkflow


class RecordWillingness(CaseAction):
    """企业自愿: the organisation says it is (or is no longer) willing to build an institute."""

    path = "willingness"
    willing: bool
    note: str = Field(default="", max_length=TEXT_MAX)

    def payload(self, actor: Actor) -> tuple[Any, Any]:
        return InstituteWorkflow.record_willingness, WillingnessChange(
            actor, self.willing, self.note
        )


class ChangeContact(CaseAction):
    """New contact details or a new name; a field left out stays as it is, an empty e-mail or
    phone removes it."""

    path = "contact"
    contact: str | None = Field(default=None, max_length=NAME_MAX)
    email: str | None = Field(default=None, max_length=NAME_MAX)
    phone: str | None = Field(default=None, max_length=NAME_MAX)
    organisation: str | None = Field(default=None, max_length=NAME_MAX)
    note: str = Field(default="", max_length=TEXT_MAX)

    @model_validator(mode="after")
    def _something(self) -> ChangeContact:
        if all(v is None for v in (self.contact, self.email, self.phone, self.organisation)):
            raise ValueError("give at least one of contact, email, phone, organisation")
        return self

    def payload(self, actor: Actor) -> tuple[Any, Any]:
        return InstituteWorkflow.change_contact, ContactChange(
            actor, self.contact, self.email, self.phone, self.organisation, self.note
        )


class ExtendDeadline(CaseAction):
    """The bureau moves the case's rectification, review or round deadline to the end of
    ``until`` (Beijing time), with its reason."""

    path = "deadline"
    deadline: Literal["rectification", "review", "round"]
    until: str
    reason: Text

    @field_validator("until")
    @classmethod
    def _iso_date(cls, value: str) -> str:
        try:
            return date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            raise ValueError(
                f"the new deadline must be an ISO date like 2027-06-30, not {value!r}"
            ) from None

    def payload(self, actor: Actor) -> tuple[Any, Any]:
        return InstituteWorkflow.extend_deadline, DeadlineExtension(
            actor, self.deadline, self.until, self.reason
        )
