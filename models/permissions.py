"""Who may take which action (DOMAIN.md, "Who takes part"). Data, checked by every update.

This is the programme's own rule of roles. Who a person *is* is decided by the API
(``idri/service``), which builds the actor from the signed-in account; Temporal is reached only by
the API, the workers and administrators. The workflow checks that the actor's role may act, on
this case, now, whoever the client is.
"""

from __future__ import annotations

from collections.abc import Mapping

from models.case import Actor, CaseState, Role, SurveyRecord

R = Role
PERSON_ROLES = (R.DISTRICT_OFFICER, R.BUREAU_OFFICER, R.EXPERT, R.APPLICANT)
"""The roles a person acts in; ``system`` is the workflow's own (its timers)."""

ROLE_ACTIONS: Mapping[str, frozenset[Role]] = {
    # Districts survey their own district (DOMAIN.md, step 1); the bureau may record too.
    "survey": frozenset({R.DISTRICT_OFFICER, R.BUREAU_OFFICER}),
    "submit_plan": frozenset({R.APPLICANT, R.DISTRICT_OFFICER}),
    "recommend": frozenset({R.DISTRICT_OFFICER}),
    "assign_expert": frozenset({R.BUREAU_OFFICER}),
    "submit_review": frozenset({R.EXPERT, R.BUREAU_OFFICER}),
    "record_inspection": frozenset({R.BUREAU_OFFICER}),
    "approve": frozenset({R.BUREAU_OFFICER}),
    "defer": frozenset({R.BUREAU_OFFICER}),
    "reject": frozenset({R.BUREAU_OFFICER}),
    # The bureau receives objections from the public (by letter, mail or its website) and
    # records them; the objector's own name travels in the objection.
    "lodge_objection": frozenset({R.BUREAU_OFFICER}),
    "uphold_objection": frozenset({R.BUREAU_OFFICER}),
    "dismiss_objection": frozenset({R.BUREAU_OFFICER}),
    # ``system``: before issue 18 the evaluation sweep opened evaluations as the system, and
    # the handlers' re-check replays those updates; no validator accepts ``system`` now.
    "open_evaluation": frozenset({R.BUREAU_OFFICER, R.SYSTEM}),
    "rate_good": frozenset({R.BUREAU_OFFICER}),
    "order_rectification": frozenset({R.BUREAU_OFFICER}),
    "complete_rectification": frozenset({R.DISTRICT_OFFICER}),
    "delist": frozenset({R.BUREAU_OFFICER}),
    "recommend_national": frozenset({R.BUREAU_OFFICER}),
    "open_evaluation_out_of_cycle": frozenset({R.BUREAU_OFFICER}),
    "nominate_national": frozenset({R.BUREAU_OFFICER}),
    "record_national_outcome": frozenset({R.BUREAU_OFFICER}),
    "withdraw": frozenset({R.APPLICANT, R.DISTRICT_OFFICER, R.BUREAU_OFFICER}),
    # A years-long case's data (models/changes.py): the organisation speaks for itself, the
    # district for its candidates; the bureau alone moves a deadline.
    "record_willingness": frozenset({R.APPLICANT, R.DISTRICT_OFFICER}),
    "change_contact": frozenset({R.APPLICANT, R.DISTRICT_OFFICER}),
    "extend_deadline": frozenset({R.BUREAU_OFFICER}),
}


def operator_refusal(actor: Actor) -> str | None:
    """Why ``actor`` may not send an operator's action at all, or ``None``.

    Least privilege: an actor that names no role has no rights (it is never read as a bureau
    officer's), and ``system`` belongs to the workflow's own timer events, never to a caller.
    """
    roles = ", ".join(r.value for r in PERSON_ROLES)
    if actor.role is None:
        return (
            f"the action names no role: {actor.name} must act as one of {roles} "
            "(the API gives the signed-in account's); an actor without a role has no rights"
        )
    if Role(actor.role) is R.SYSTEM:
        return (
            f"the role system is the workflow's own (its timers); {actor.name} may not claim it "
            f"and must act as one of {roles}"
        )
    return None


def permission_refusal(actor: Actor, action: str, case: CaseState) -> str | None:
    """Why ``actor`` may not take ``action`` on ``case``, or ``None`` if they may."""
    return _refusal(actor, action, case.case_id, case.survey.district) or (
        _expert_refusal(actor, case)
    )


def survey_refusal(survey: SurveyRecord) -> str | None:
    """Why ``survey.actor`` may not record this candidate (start its case), or ``None``."""
    return operator_refusal(survey.actor) or _refusal(
        survey.actor, "survey", survey.case_id, survey.district
    )


def _refusal(actor: Actor, action: str, case_id: str, district: str) -> str | None:
    if actor.role is None:
        return operator_refusal(actor)
    allowed = ROLE_ACTIONS.get(action, frozenset())
    role = Role(actor.role)
    if role not in allowed:
        who = " or ".join(sorted(r.value for r in allowed)) or "nobody"
        return f"'{action}' needs the role {who}; {actor.name} acts as {role.value}"
    if role is R.DISTRICT_OFFICER and actor.district != district:
        return (
            f"{actor.name} is a district officer of {actor.district or '(no district given)'}; "
            f"case {case_id} belongs to {district}"
        )
    return None


def _expert_refusal(actor: Actor, case: CaseState) -> str | None:
    if actor.role == R.EXPERT and actor.name not in {r.expert for r in case.reviews}:
        return f"{actor.name} is not an expert assigned to case {case.case_id}"
    return None
