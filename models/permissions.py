"""Who may take which action (DOMAIN.md, "Who takes part"). Data, checked by every update.

This is the programme's own rule of roles. Who a caller *is* is the Temporal server's business
(mTLS, API keys, namespace permissions); idri trusts the identity the client states and checks
that the stated role may act, on this case, now.
"""

from __future__ import annotations

from collections.abc import Mapping

from models.case import Actor, CaseState, Role

R = Role
ROLE_ACTIONS: Mapping[str, frozenset[Role]] = {
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
    "open_evaluation": frozenset({R.BUREAU_OFFICER, R.SYSTEM}),
    "rate_good": frozenset({R.BUREAU_OFFICER}),
    "order_rectification": frozenset({R.BUREAU_OFFICER}),
    "complete_rectification": frozenset({R.DISTRICT_OFFICER}),
    "delist": frozenset({R.BUREAU_OFFICER}),
    "recommend_national": frozenset({R.BUREAU_OFFICER}),
    "record_national_outcome": frozenset({R.BUREAU_OFFICER}),
    "withdraw": frozenset({R.APPLICANT, R.DISTRICT_OFFICER, R.BUREAU_OFFICER}),
}


def permission_refusal(actor: Actor, action: str, case: CaseState) -> str | None:
    """Why ``actor`` may not take ``action`` on ``case``, or ``None`` if they may."""
    allowed = ROLE_ACTIONS.get(action, frozenset())
    role = Role(actor.role)
    if role not in allowed:
        who = " or ".join(sorted(r.value for r in allowed)) or "nobody"
        return f"'{action}' needs the role {who}; {actor.name} acts as {role.value}"
    if role is R.DISTRICT_OFFICER and actor.district != case.survey.district:
        return (
            f"{actor.name} is a district officer of {actor.district or '(no district given)'}; "
            f"case {case.case_id} belongs to {case.survey.district}"
        )
    if role is R.EXPERT and actor.name not in {r.expert for r in case.reviews}:
        return f"{actor.name} is not an expert assigned to case {case.case_id}"
    return None
