"""Case views and the expert accounts through the API: who sees which case, experts picked by
account, a paper review entered by the bureau, and the answers for malformed and refused input."""

from __future__ import annotations

import asyncio

import pytest

from tests.api.conftest import PLAN_SHA, Api


async def test_an_expert_sees_and_reviews_only_the_cases_assigned_to_it(api: Api) -> None:
    mine, other = await api.new_case(), await api.new_case()
    for case_id in (mine, other):
        await api.to_stage(case_id, "recommended")
    await api.ok("李处长", "POST", f"/api/cases/{mine}/experts", {"experts": ["陈工"]})
    assert (await api.call("陈工", "GET", f"/api/cases/{mine}")).status_code == 200
    refused = await api.call("陈工", "GET", f"/api/cases/{other}")
    assert refused.status_code == 403
    assert "not an expert assigned" in refused.json()["detail"]
    assert (await api.call("陈工", "GET", f"/api/cases/{other}/history")).status_code == 403

    async def listed() -> set[str]:
        return {row["case_id"] for row in await api.ok("陈工", "GET", "/api/cases")}

    for _ in range(50):  # visibility and the registry's audit trail catch up
        if mine in await listed():
            break
        await asyncio.sleep(0.2)
    assert mine in await listed()
    assert other not in await listed()


async def test_the_experts_organisation_comes_from_its_account(api: Api) -> None:
    """陈工's account says 天津大学: a case of 天津大学 itself may not have 陈工 review it."""
    case_id = await api.new_case("天津大学")
    await api.to_stage(case_id, "recommended")
    answer = await api.call(
        "李处长", "POST", f"/api/cases/{case_id}/experts", {"experts": ["陈工"]}
    )
    assert answer.status_code == 409
    assert "天津大学" in answer.json()["detail"]
    unknown = await api.call(
        "李处长", "POST", f"/api/cases/{case_id}/experts", {"experts": ["无名"]}
    )
    assert unknown.status_code == 404
    not_expert = await api.call(
        "李处长", "POST", f"/api/cases/{case_id}/experts", {"experts": ["王科长"]}
    )
    assert not_expert.status_code == 422
    assert await api.stage(case_id) == "recommended"


async def test_a_paper_review_names_the_officer_who_entered_it(api: Api) -> None:
    case_id = await api.new_case()
    await api.to_stage(case_id, "recommended")
    await api.ok("李处长", "POST", f"/api/cases/{case_id}/experts", {"experts": ["赵工"]})
    without = await api.call(
        "李处长", "POST", f"/api/cases/{case_id}/reviews", {"score": 80, "opinion": "纸质"}
    )
    assert without.status_code == 422
    status = await api.ok(
        "李处长",
        "POST",
        f"/api/cases/{case_id}/reviews",
        {"score": 80, "opinion": "纸质", "expert": "赵工"},
    )
    assert [(r["expert"], r["score"]) for r in status["reviews"]] == [("赵工", 80.0)]
    last = (await api.ok("李处长", "GET", f"/api/cases/{case_id}/history"))[-1]
    assert (last["actor"], last["role"]) == ("李处长", "bureau_officer")
    assert "赵工" in last["reason"] and "received on paper, entered by 李处长" in last["reason"]
    # An expert cannot enter another's review.
    await api.ok("李处长", "POST", f"/api/cases/{case_id}/experts", {"experts": ["陈工"]})
    other = await api.call(
        "陈工",
        "POST",
        f"/api/cases/{case_id}/reviews",
        {"score": 1, "opinion": "x", "expert": "赵工"},
    )
    assert other.status_code == 403


async def test_a_district_sees_only_its_own_cases(api: Api) -> None:
    heping = await api.new_case(district="heping")
    answer = await api.call("王科长", "GET", f"/api/cases/{heping}")
    assert answer.status_code == 403
    assert "heping" in answer.json()["detail"]
    listing = await api.call("王科长", "GET", "/api/cases", district="heping")
    assert listing.status_code == 403
    assert (await api.call("刘科长", "GET", f"/api/cases/{heping}")).status_code == 200


async def test_an_applicant_sees_its_organisations_cases_only(api: Api) -> None:
    from tests.api.conftest import APPLICANT_ORG

    own = await api.new_case(APPLICANT_ORG)
    other = await api.new_case()
    assert (await api.call("申请人", "GET", f"/api/cases/{own}")).status_code == 200
    assert (await api.call("申请人", "GET", f"/api/cases/{other}")).status_code == 403
    assert (await api.call("别家", "GET", f"/api/cases/{own}")).status_code == 403


async def test_malformed_input_is_422_and_nothing_is_coerced(api: Api) -> None:
    case_id = await api.new_case()
    path = f"/api/cases/{case_id}/plan"
    for body in (
        {"file_name": "plan.pdf"},
        {"file_name": "plan.pdf", "sha256": "xyz"},
        {"file_name": 7, "sha256": PLAN_SHA},
    ):
        answer = await api.call("王科长", "POST", path, body)
        assert answer.status_code == 422, body
    await api.to_stage(case_id, "plan_submitted")
    national = await api.call(
        "王科长", "POST", f"/api/cases/{case_id}/recommend", {"opinion": "x", "national": "yes"}
    )
    assert national.status_code == 422
    assert await api.stage(case_id) == "plan_submitted"


async def test_a_validators_message_is_answered_as_written(api: Api) -> None:
    case_id = await api.new_case()
    body = {"file_name": "plan.pdf", "sha256": "xyz"}
    answer = await api.call("王科长", "POST", f"/api/cases/{case_id}/plan", body)
    assert answer.status_code == 422
    [problem] = answer.json()["detail"]
    assert problem["msg"] == "the plan's SHA-256 must be 64 hexadecimal characters"


async def test_a_refused_action_is_409_with_the_stage_and_the_case_unchanged(api: Api) -> None:
    case_id = await api.new_case()
    answer = await api.call(
        "李处长", "POST", f"/api/cases/{case_id}/decision", {"outcome": "approve", "reason": "x"}
    )
    assert answer.status_code == 409
    assert "surveyed" in answer.json()["detail"]
    assert await api.stage(case_id) == "surveyed"


async def test_a_missing_case_is_404_and_a_duplicate_candidate_409(api: Api) -> None:
    answer = await api.call("李处长", "GET", "/api/cases/binhai-00000000")
    assert answer.status_code == 404
    body = {"organisation": "天津重复登记有限公司", "district": "binhai", "direction": "ai"}
    first = await api.call("王科长", "POST", "/api/cases", body)
    assert first.status_code == 201
    again = await api.call("王科长", "POST", "/api/cases", body)
    assert again.status_code == 409
    assert first.json()["case_id"] in again.json()["detail"]
    unknown = await api.call("王科长", "POST", "/api/cases", {**body, "district": "atlantis"})
    assert unknown.status_code == 422


async def test_the_registry_is_readable_and_the_mail_is_the_bureaus(api: Api) -> None:
    assert isinstance(await api.ok("陈工", "GET", "/api/registry"), list)
    assert (await api.call("王科长", "GET", "/api/mail")).status_code == 403
    bag = await api.ok("李处长", "GET", "/api/mail")
    assert set(bag) == {"mails", "total"}


async def test_an_action_accepted_while_the_registry_is_locked_is_answered_202(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The case takes the action, but recording it waits for the registry: the answer says it
    was accepted and is being recorded, and the case gets there once the registry is free."""
    import sqlite3

    from idri.service import temporal

    case_id = await api.new_case()
    monkeypatch.setattr(temporal, "ANSWER_TIMEOUT_SECONDS", 1.0)
    database = api.services.cases.registry.url.database
    assert database is not None
    lock = sqlite3.connect(database, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # writers wait; readers (sign-in) still read
    try:
        body = {"file_name": "plan.pdf", "sha256": PLAN_SHA}
        answer = await api.call("王科长", "POST", f"/api/cases/{case_id}/plan", body)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert answer.status_code == 202, answer.text
    assert answer.json()["accepted"] is True
    assert "accepted the action" in answer.json()["detail"]
    await api.wait_stage(case_id, "plan_submitted")
