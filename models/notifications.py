"""Who is told about which event (DOMAIN.md: every party is told what concerns them).

Data, not code: the registry activity renders one template per event for each role listed here.
``expert`` means the expert the event is about (the one assigned).
"""

from __future__ import annotations

from collections.abc import Mapping

from models.case import CaseState, ReviewEntry
from models.records import Recipient

APPLICANT, DISTRICT, BUREAU, EXPERT = "applicant", "district", "bureau", "expert"

ROUTES: Mapping[str, tuple[str, ...]] = {
    "created": (DISTRICT,),
    "submit_plan": (DISTRICT,),
    "recommend": (APPLICANT, DISTRICT, BUREAU),
    "assign_expert": (EXPERT,),
    "approve": (APPLICANT, DISTRICT),
    "defer": (APPLICANT, DISTRICT),
    "reject": (APPLICANT, DISTRICT),
    "lodge_objection": (BUREAU,),
    "close_notice": (APPLICANT, DISTRICT, BUREAU),
    "uphold_objection": (APPLICANT, DISTRICT, BUREAU),
    "dismiss_objection": (APPLICANT, DISTRICT, BUREAU),
    "open_evaluation": (APPLICANT, DISTRICT),
    "rate_good": (APPLICANT, DISTRICT),
    "order_rectification": (APPLICANT, DISTRICT, BUREAU),
    "complete_rectification": (DISTRICT, BUREAU),
    "delist": (APPLICANT, DISTRICT, BUREAU),
    "recommend_national": (APPLICANT, DISTRICT, BUREAU),
    "open_evaluation_out_of_cycle": (APPLICANT, DISTRICT),
    "nominate_national": (APPLICANT, DISTRICT, BUREAU),
    "record_national_outcome": (APPLICANT, DISTRICT, BUREAU),
    "withdraw": (DISTRICT, BUREAU),
    "miss_round": (APPLICANT, DISTRICT),
    "round_reminder": (APPLICANT, DISTRICT),
    "overdue": (BUREAU, DISTRICT),
    "evaluation_due": (BUREAU, DISTRICT),
    "record_willingness": (DISTRICT, BUREAU),
    "change_contact": (DISTRICT,),
    "extend_deadline": (APPLICANT, DISTRICT),
    "review_reminder": (EXPERT,),
    "review_overdue": (BUREAU,),
    "rectification_reminder": (APPLICANT, DISTRICT),
    "evaluation_reminder": (APPLICANT, DISTRICT),
}

PUBLICATIONS: Mapping[str, str] = {
    "approve": "notice",
    "delist": "delisting",
}
"""Events that publish a page on the bureau's website; a designation publishes the registry."""


NOTICE_STAGES = frozenset({"public_notice", "investigating"})
"""Stages of a case listed on its batch's public notice page, before its designation."""
LEFT_NOTICE = frozenset({"rejected", "withdrawn"})
"""Stages that take a case off its batch's notice page (an upheld objection, a withdrawal)."""


def leaves_notice(from_stage: object, to_stage: object) -> bool:
    """Whether an event takes a case out of its batch's public notice, whose page then changes."""
    return _name(from_stage) in NOTICE_STAGES and _name(to_stage) in LEFT_NOTICE


def _name(stage: object) -> str:
    """A stage's name, from a ``Stage`` (the workflow's) or its value (the registry's)."""
    value = getattr(stage, "value", stage)
    return value if isinstance(value, str) else ""


_IN_REGISTRY = frozenset({"designated", "under_evaluation", "rectifying", "national_review"})


def publication_for(event: str, from_stage: object, to_stage: object) -> str | None:
    """The page an event publishes: its own; the notice of its batch when a case leaves it; or
    the registry when an institute enters it or comes back to it (designation, an evaluation,
    a national outcome)."""
    if event in PUBLICATIONS:
        return PUBLICATIONS[event]
    if leaves_notice(from_stage, to_stage):
        return "notice"
    if event == "change_contact" and _name(to_stage) in _IN_REGISTRY:
        return "registry"  # a renamed institute is listed under its new name
    if to_stage == "designated" and from_stage != "designated":
        return "registry"
    return None


def recipients_for(event: str, case: CaseState, expert: ReviewEntry | None) -> list[Recipient]:
    """Who is told about ``event``: the applicant's contact and the expert with their address;
    the district and the bureau by role (the activity looks their addresses up in settings)."""
    recipients = []
    for role in ROUTES.get(event, ()):
        if role == APPLICANT:
            contact = case.survey.contact
            recipients.append(
                Recipient(role, contact.name if contact else "", contact.email if contact else None)
            )
        elif role == EXPERT:
            if expert is not None:
                recipients.append(Recipient(role, expert.expert, expert.email))
        else:
            recipients.append(Recipient(role))
    return recipients
