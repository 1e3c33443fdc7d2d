"""Every case action × every kind of account, through the API (docs/api.md, "Who acts").

Each action is tried first by every account that may not take it (403, the case unchanged),
then by each account that may, on a case of its own at the right stage (200, the case moved).
Who acts is the signed-in account: nothing in a body can name another.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from idri.auth.accounts import AccountRole
from tests.api.conftest import CRITERIA_SCORES, PLAN_SHA, Api

EVERYONE = ("admin", "李处长", "王科长", "刘科长", "陈工", "赵工", "applicant", "别家")
"""``applicant`` is the applicant of the case under test (created per case)."""


@dataclass(frozen=True)
class Action:
    path: str
    stage: str
    """The stage the case must be in for the action."""
    body: dict[str, Any]
    allowed: tuple[str, ...]
    moves_to: str | None = None
    """The stage after the action, when it changes; else the history grows by one."""
    bodies: dict[str, dict[str, Any]] | None = None
    """A body for one account in particular (a bureau officer's paper review names the expert)."""


ACTIONS = [
    Action(
        "plan",
        "surveyed",
        {"file_name": "plan.pdf", "sha256": PLAN_SHA},
        ("王科长", "applicant"),
        "plan_submitted",
    ),
    Action("recommend", "plan_submitted", {"opinion": "推荐"}, ("王科长",), "recommended"),
    Action("experts", "recommended", {"experts": ["赵工"]}, ("李处长", "admin"), "under_review"),
    Action(
        "reviews",
        "under_review",
        {"scores": CRITERIA_SCORES, "opinion": "很好"},
        ("陈工", "李处长"),
        bodies={"李处长": {"scores": CRITERIA_SCORES, "opinion": "纸质评审", "expert": "陈工"}},
    ),
    Action("inspection", "under_review", {"passed": True, "note": "属实"}, ("李处长",)),
    Action(
        "decision",
        "under_review",
        {"outcome": "reject", "reason": "不符合条件"},
        ("李处长", "admin"),
        "rejected",
    ),
    Action("evaluation/open", "designated", {"note": ""}, ("李处长",), "under_evaluation"),
    Action(
        "evaluation",
        "under_evaluation",
        {"result": "excellent", "note": "推荐国家级"},
        ("李处长",),
        "national_review",
    ),
    Action("rectification", "rectifying", {"report": "已整改"}, ("王科长",), "under_evaluation"),
    Action(
        "national", "national_review", {"designated": True, "note": ""}, ("李处长",), "designated"
    ),
    Action(
        "withdrawal", "surveyed", {"reason": "放弃"}, ("王科长", "applicant", "李处长"), "withdrawn"
    ),
]


async def _case_for(api: Api, action: Action) -> tuple[str, str]:
    """A fresh case at the action's stage, and the token name of its own applicant."""
    organisation = f"天津角色测试{uuid.uuid4().hex[:8]}有限公司"
    applicant = f"申请人{uuid.uuid4().hex[:6]}"
    _, token = api.services.accounts.add(
        "admin", applicant, AccountRole.APPLICANT, organisation=organisation
    )
    api.tokens[applicant] = token
    case_id = await api.new_case(organisation)
    stage = action.stage
    if action.path == "reviews":  # assigned, not yet reviewed
        await api.to_stage(case_id, "recommended")
        await api.ok("李处长", "POST", f"/api/cases/{case_id}/experts", {"experts": ["陈工"]})
    elif stage == "national_review":
        await api.to_stage(case_id, "under_evaluation")
        await api.ok(
            "李处长",
            "POST",
            f"/api/cases/{case_id}/evaluation",
            {"result": "excellent", "note": "优秀"},
        )
    else:
        await api.to_stage(case_id, stage)
    assert await api.stage(case_id) == stage
    return case_id, applicant


@pytest.mark.parametrize("action", ACTIONS, ids=[a.path for a in ACTIONS])
async def test_only_the_roles_of_the_plan_may_act(api: Api, action: Action) -> None:
    case_id, applicant = await _case_for(api, action)
    before = await api.ok("李处长", "GET", f"/api/cases/{case_id}/history")
    path = f"/api/cases/{case_id}/{action.path}"
    # An admin acts as a bureau officer (docs/api.md): refused exactly where the bureau is.
    refused = [
        w
        for w in EVERYONE
        if w not in action.allowed and not (w == "admin" and "李处长" in action.allowed)
    ]
    for who in refused:
        name = applicant if who == "applicant" else who
        answer = await api.call(name, "POST", path, action.body)
        assert answer.status_code == 403, (name, answer.status_code, answer.text)
        assert "permission denied" in answer.json()["detail"]
    assert await api.ok("李处长", "GET", f"/api/cases/{case_id}/history") == before
    assert await api.stage(case_id) == action.stage

    for who in action.allowed:
        if who != action.allowed[0]:
            case_id, applicant = await _case_for(api, action)
        name = applicant if who == "applicant" else who
        body = (action.bodies or {}).get(who, action.body)
        history = await api.ok("李处长", "GET", f"/api/cases/{case_id}/history")
        answer = await api.call(name, "POST", f"/api/cases/{case_id}/{action.path}", body)
        assert answer.status_code == 200, (name, answer.text)
        assert answer.json()["case_id"] == case_id
        if action.moves_to:
            assert answer.json()["stage"] == action.moves_to
        after = await api.ok("李处长", "GET", f"/api/cases/{case_id}/history")
        assert len(after) > len(history)
        # The history names the account that acted, in the role the account holds.
        assert after[-1]["actor"] == name


async def test_only_a_district_and_the_bureau_record_a_candidate(api: Api) -> None:
    body = {"organisation": "", "district": "binhai", "direction": "ai"}
    for who, status in (("陈工", 403), ("申请人", 403), ("刘科长", 403)):
        body["organisation"] = f"天津登记测试{uuid.uuid4().hex[:8]}有限公司"
        answer = await api.call(who, "POST", "/api/cases", body)
        assert answer.status_code == status, (who, answer.text)
        assert "not started" in answer.json()["detail"]
    for who in ("王科长", "李处长", "admin"):
        body["organisation"] = f"天津登记测试{uuid.uuid4().hex[:8]}有限公司"
        answer = await api.call(who, "POST", "/api/cases", body)
        assert answer.status_code == 201, (who, answer.text)
        path = f"/api/cases/{answer.json()['case_id']}/history"
        for _ in range(50):  # the case records its first event once its periods are loaded
            if history := await api.ok(who, "GET", path):
                break
            await asyncio.sleep(0.1)
        assert history[0]["actor"] == who


async def test_a_body_cannot_name_who_acts(api: Api) -> None:
    case_id = await api.new_case()
    body = {
        "file_name": "plan.pdf",
        "sha256": PLAN_SHA,
        "actor": {"name": "李处长", "role": "bureau_officer"},
    }
    answer = await api.call("王科长", "POST", f"/api/cases/{case_id}/plan", body)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"][-1] == "actor"
    assert await api.stage(case_id) == "surveyed"
