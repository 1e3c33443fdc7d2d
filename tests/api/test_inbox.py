"""What waits on me (issue 20, item 10): each role's inbox, oldest first with its deadlines,
read from the registry's waits; ``GET /api/cases`` filters by them; ``IdriExpert`` finds an
expert's cases in visibility."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from idri.service.inbox import inbox
from tests.api.conftest import Api

pytestmark = [pytest.mark.devserver, pytest.mark.asyncio(loop_scope="session")]


async def _items(api: Api, who: str, case_id: str) -> list[tuple[str, str]]:
    answer = await api.ok(who, "GET", "/api/inbox")
    return [(i["action"], i["who"]) for i in answer["items"] if i["case_id"] == case_id]


async def _recorded(api: Api, case_id: str) -> None:
    """A case's first event reaches the registry just after it starts (updates wait for it)."""
    for _ in range(100):
        if await _items(api, "李处长", case_id) or await _items(api, "王科长", case_id):
            return
        await asyncio.sleep(0.05)


async def test_each_role_sees_the_work_waiting_on_it(api: Api) -> None:
    """区工业和信息化主管部门 recommend by 30 April; 专家 review; 市工业和信息化局 assigns, inspects,
    decides."""
    case_id = await api.new_case()
    await _recorded(api, case_id)
    assert await _items(api, "王科长", case_id) == [("submit_plan", "")]
    assert await _items(api, "刘科长", case_id) == []  # another district's officer
    assert await _items(api, "李处长", case_id) == []  # nothing of the bureau's, nothing overdue
    first = (await api.ok("王科长", "GET", "/api/inbox"))["items"]
    assert [i["since"] for i in first] == sorted(i["since"] for i in first)  # oldest first
    mine = next(i for i in first if i["case_id"] == case_id)
    assert mine["due_at"].startswith(f"{mine['since'][:2]}")  # the round's deadline, ISO
    assert mine["overdue"] is False and mine["organisation"] and mine["stage"] == "surveyed"

    await api.to_stage(case_id, "plan_submitted")
    assert await _items(api, "王科长", case_id) == [("recommend", "")]
    await api.to_stage(case_id, "recommended")
    assert await _items(api, "王科长", case_id) == []
    assert await _items(api, "李处长", case_id) == [("assign_expert", "")]

    await api.ok("李处长", "POST", f"/api/cases/{case_id}/experts", {"experts": ["陈工"]})
    assert await _items(api, "陈工", case_id) == [("submit_review", "陈工")]
    assert await _items(api, "赵工", case_id) == []
    assert await _items(api, "李处长", case_id) == [("record_inspection", "")]
    await api.ok("陈工", "POST", f"/api/cases/{case_id}/reviews", {"score": 90, "opinion": "好"})
    await api.ok(
        "李处长", "POST", f"/api/cases/{case_id}/inspection", {"passed": True, "note": "好"}
    )
    assert await _items(api, "陈工", case_id) == []
    assert await _items(api, "李处长", case_id) == [("decide", "")]


async def test_the_bureau_sees_anything_overdue_whoever_it_waits_on(api: Api) -> None:
    case_id = await api.new_case()
    await _recorded(api, case_id)
    later = datetime.now(UTC) + timedelta(days=800)  # past any round deadline
    account = api.services.accounts.get("李处长")
    found = await asyncio.to_thread(inbox, account, api.services.registry, now=later, limit=10_000)
    overdue = [i for i in found.items if i.case_id == case_id]
    assert [(i.role, i.action, i.overdue) for i in overdue] == [
        ("district_officer", "submit_plan", True),
        ("applicant", "submit_plan", True),
    ]


async def test_the_list_filters_by_what_waits(api: Api) -> None:
    case_id = await api.new_case()
    await api.to_stage(case_id, "recommended")
    await api.ok("李处长", "POST", f"/api/cases/{case_id}/experts", {"experts": ["赵工"]})

    async def listed(**params: str) -> set[str]:
        answer = await api.call("李处长", "GET", "/api/cases", **params)
        assert answer.status_code == 200, answer.text
        return {row["case_id"] for row in answer.json()}

    for _ in range(50):  # visibility is eventually consistent
        if case_id in await listed(waiting_on="expert"):
            break
        await asyncio.sleep(0.1)
    assert case_id in await listed(waiting_on="expert")
    assert case_id not in await listed(waiting_on="district")
    assert case_id not in await listed(overdue="true")
    assert case_id in await listed(due_before="2999-01-01")
    assert case_id not in await listed(due_before="2000-01-01")
    wrong = await api.call("李处长", "GET", "/api/cases", waiting_on="mayor")
    assert wrong.status_code == 422 and "roles:" in wrong.json()["detail"]


async def test_an_expert_s_cases_are_found_by_idri_expert(api: Api) -> None:
    case_id = await api.new_case()
    await api.to_stage(case_id, "recommended")
    await api.ok("李处长", "POST", f"/api/cases/{case_id}/experts", {"experts": ["赵工"]})
    client = api.services.cases.client
    query = "IdriExpert = '赵工' AND ExecutionStatus = 'Running'"
    for _ in range(50):
        found = [w.id async for w in client.list_workflows(query)]
        if f"institute-{case_id}" in found:
            break
        await asyncio.sleep(0.1)
    assert f"institute-{case_id}" in found
    absent = [w.id async for w in client.list_workflows("IdriExpert = '陈工'")]
    assert f"institute-{case_id}" not in absent
